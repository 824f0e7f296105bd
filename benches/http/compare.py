"""Drives benches/http/run.sh: starts each http-targets variant pinned to one core, loads it
with wrk pinned to the other, checks the answers are the expected 200s (a benchmark of 401s
would flatter the auth layers), and prints a markdown table of medians and ratios."""
import os, re, statistics, subprocess, sys, tempfile, urllib.request

BINARY = sys.argv[1]
DURATION = int(os.environ.get("DURATION", "5"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "32"))
ROUNDS = int(os.environ.get("ROUNDS", "7"))
VARIANTS = ["axum-none", "axum-static", "axum-vault", "actix-none", "actix-vault"]
PIN = os.cpu_count() and os.cpu_count() >= 2 and subprocess.run(["which", "taskset"], capture_output=True).returncode == 0


def pinned(core, cmd):
    return ["taskset", "-c", str(core)] + cmd if PIN else cmd


def status(url, key=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        return urllib.request.urlopen(request, timeout=5).status
    except urllib.error.HTTPError as e:
        return e.code


def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run(variant):
    with tempfile.TemporaryDirectory() as tmp:
        key_file = os.path.join(tmp, "key")
        server = subprocess.Popen(pinned(0, [BINARY, variant, "--addr", "127.0.0.1:0", "--key-file", key_file]),
                                  stdout=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline().strip()
            url = line.removeprefix("listening on ") + "/"
            key = open(key_file).read().strip()
            if status(url, key) != 200:
                sys.exit(f"{variant}: a request with the key did not answer 200")
            if variant.endswith(("static", "vault")) and status(url) != 401:
                sys.exit(f"{variant}: a request without a key was not refused")
            out = subprocess.run(
                pinned(1, ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION}s", "--latency",
                           "-H", f"Authorization: Bearer {key}", url]),
                capture_output=True, text=True, check=True).stdout
        finally:
            server.kill()
            server.wait()
    if "Non-2xx" in out:
        sys.exit(f"{variant}: wrk saw non-2xx answers:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = to_ms(*re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups())
    return rps, p99


LOAD_BEFORE = " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else "n/a"
results = {v: [] for v in VARIANTS}
for round_ in range(ROUNDS):
    for variant in VARIANTS:
        rps, p99 = run(variant)
        results[variant].append((rps, p99))
        print(f"round {round_ + 1} {variant:12} {rps:10.0f} req/s  p99 {p99:.3f} ms", file=sys.stderr)

med = {v: (statistics.median(r for r, _ in xs), statistics.median(p for _, p in xs)) for v, xs in results.items()}
print(f"\n{ROUNDS} interleaved rounds of {DURATION} s, {CONNECTIONS} connections, wrk -t1; "
      f"server and wrk pinned to separate cores: {'yes' if PIN else 'no'}; "
      f"load average before: {LOAD_BEFORE}\n")
print("| variant | req/s (median) | p99 ms (median) |")
print("|---|---:|---:|")
for v in VARIANTS:
    print(f"| {v} | {med[v][0]:.0f} | {med[v][1]:.3f} |")
print("\nRatios are the median of per-round ratios (each vault run against the baseline run next to")
print("it in the same round), which cancels most of the drift of a shared machine.\n")
print("| ratio (throughput) | median | min | max | target |")
print("|---|---:|---:|---:|---:|")
for name, a, b, target in [
    ("axum vault / axum static token", "axum-vault", "axum-static", 0.95),
    ("axum vault / axum no auth", "axum-vault", "axum-none", 0.90),
    ("actix vault / actix no auth", "actix-vault", "actix-none", 0.90),
]:
    ratios = [x[0] / y[0] for x, y in zip(results[a], results[b])]
    ratio = statistics.median(ratios)
    print(f"| {name} | {ratio:.3f} | {min(ratios):.3f} | {max(ratios):.3f} | >= {target} {'(met)' if ratio >= target else '(missed)'} |")
