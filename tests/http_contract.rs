//! The HTTP contract of the Submit example servers, run against every framework's server as a
//! real process on an ephemeral port: every row of the rejection table, both success paths,
//! and bad input. Requests are written byte for byte on a raw TCP socket, so duplicate
//! headers, tabs and non-ASCII bytes reach the server exactly as a hostile client sends them.
//!
//! (A test of the `vault-examples` package, so Cargo builds the server binaries for it.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

static NEXT_DIR: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A server process, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    keys: Value,
    dir: Option<TempDir>,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Server {
    fn start(binary: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "vault-contract-{}-{}-{}",
            std::process::id(),
            binary.rsplit('/').next().unwrap_or("server"),
            NEXT_DIR.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        Self::start_in(binary, TempDir(dir), true)
    }

    /// Starts `binary` on the SQLite database in `dir`; with `demo_keys`, writes new demo keys
    /// there, otherwise reads the ones a previous run wrote.
    fn start_in(binary: &str, dir: TempDir, demo_keys: bool) -> Self {
        let database = format!("sqlite://{}", dir.0.join("vault.db").display());
        Self::start_with(binary, dir, demo_keys, &database, &[], &[])
    }

    /// Starts `binary` in a fresh directory with extra flags.
    fn start_with_flags(binary: &str, flags: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "vault-contract-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let database = format!("sqlite://{}", dir.join("vault.db").display());
        Self::start_with(binary, TempDir(dir), true, &database, &[], flags)
    }

    /// Starts `binary` on `database` with extra environment variables and flags.
    fn start_with(
        binary: &str,
        dir: TempDir,
        demo_keys: bool,
        database: &str,
        env: &[(&str, &str)],
        flags: &[&str],
    ) -> Self {
        let keys_file = dir.0.join("demo-keys.json");
        let mut command = Command::new(binary);
        command.envs(env.iter().copied());
        command.args(["--addr", "127.0.0.1:0", "--database-url", database]);
        if demo_keys {
            command.arg("--demo-keys").arg(&keys_file);
        }
        command.args(flags);
        let (child, addr) = spawn_listening(binary, command);
        let keys = serde_json::from_slice(
            &std::fs::read(&keys_file).expect("demo keys written before listening"),
        )
        .expect("demo keys are JSON");
        Self {
            child,
            addr,
            keys,
            dir: Some(dir),
        }
    }

    fn key(&self, name: &str) -> String {
        self.keys[name]
            .as_str()
            .unwrap_or_else(|| panic!("no demo key {name}"))
            .to_owned()
    }

    /// Sends raw request bytes and reads the whole answer (the request asks to close).
    fn raw(&self, request: &[u8]) -> Answer {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request).expect("send");
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        Answer::parse(&bytes)
    }

    /// A request with the given header lines (each without CRLF) and body.
    fn send(&self, method: &str, path: &str, headers: &[&[u8]], body: &str) -> Answer {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        )
        .into_bytes();
        for header in headers {
            request.extend_from_slice(header);
            request.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() || method == "POST" {
            request.extend_from_slice(
                format!(
                    "Content-Type: application/json\r\nContent-Length: {}\r\n",
                    body.len()
                )
                .as_bytes(),
            );
        }
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(body.as_bytes());
        self.raw(&request)
    }

    fn create_job(&self, authorization: &[u8]) -> Answer {
        let mut header = b"Authorization: ".to_vec();
        header.extend_from_slice(authorization);
        self.send("POST", "/api/jobs", &[&header], r#"{"kind":"report"}"#)
    }

    fn bearer(&self, key: &str) -> Vec<u8> {
        format!("Bearer {}", self.key(key)).into_bytes()
    }
}

/// Spawns `command` and waits for its `listening on http://HOST:PORT` line.
fn spawn_listening(binary: &str, mut command: Command) -> (Child, SocketAddr) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut first)
        .expect("the server prints a first line");
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .parse()
        .expect("HOST:PORT");
    (child, addr)
}

impl Server {
    /// Stops the process and hands back its directory (database, demo keys).
    fn stop(mut self) -> TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dir.take().expect("the directory is taken once")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn parse(bytes: &[u8]) -> Self {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect::<Vec<_>>();
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Self {
            status,
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_owned()
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Collects failed expectations so one run reports every broken row at once.
#[derive(Default)]
struct Report(Vec<String>);

impl Report {
    fn check(&mut self, case: &str, ok: bool, answer: &Answer) {
        if !ok {
            self.0.push(format!(
                "{case}: got {} {:?} {}",
                answer.status, answer.headers, answer.body
            ));
        }
    }

    /// A refusal: status, problem code, content type, challenge, and no echo of any key.
    fn refused(
        &mut self,
        server: &Server,
        case: &str,
        answer: &Answer,
        status: u16,
        code: &str,
        challenge: Option<&str>,
    ) {
        let mut ok = answer.status == status && answer.code() == code;
        ok &= answer.header("content-type") == Some("application/problem+json");
        ok &= answer.json()["status"] == status;
        match challenge {
            Some(expected) => ok &= answer.header("www-authenticate") == Some(expected),
            None => ok &= answer.header("www-authenticate").is_none(),
        }
        self.check(case, ok, answer);
        self.no_echo(server, case, answer);
    }

    fn no_echo(&mut self, server: &Server, case: &str, answer: &Answer) {
        for (name, key) in server.keys.as_object().into_iter().flatten() {
            let key = key.as_str().unwrap_or("");
            let secret = &key[key.len().saturating_sub(49)..key.len().saturating_sub(6)];
            if answer.body.contains(secret)
                || answer.headers.iter().any(|(_, v)| v.contains(secret))
            {
                self.0
                    .push(format!("{case}: the answer echoes the {name} key"));
            }
        }
    }
}

const INVALID_TOKEN: &str = r#"Bearer realm="submit", error="invalid_token""#;
const INVALID_REQUEST: &str = r#"Bearer realm="submit", error="invalid_request""#;

fn run_contract(binary: &str) {
    let server = Server::start(binary);
    let mut r = Report::default();

    // Open and successful paths.
    let health = server.send("GET", "/health", &[], "");
    r.check("GET /health needs no key", health.status == 200, &health);

    let created = server.create_job(&server.bearer("production_full"));
    let job = created.json();
    r.check(
        "POST /api/jobs with a full production key is 201",
        created.status == 201
            && job["id"].is_string()
            && job["workspace_id"].is_string()
            && job["key_id"].is_string(),
        &created,
    );
    let job_path = format!("/api/jobs/{}", job["id"].as_str().unwrap_or("none"));
    let read_only = format!(
        "Authorization: Bearer {}",
        server.key("production_read_only")
    );
    let fetched = server.send("GET", &job_path, &[read_only.as_bytes()], "");
    r.check(
        "GET /api/jobs/{id} with a read-only key is 200 with the job",
        fetched.status == 200 && fetched.json()["id"] == job["id"],
        &fetched,
    );
    let unknown = server.send(
        "GET",
        "/api/jobs/00000000-0000-4000-8000-000000000000",
        &[read_only.as_bytes()],
        "",
    );
    r.check(
        "an unknown job is 404 with a problem body",
        unknown.status == 404 && unknown.code() == "not_found",
        &unknown,
    );
    let full = format!("Authorization: Bearer {}", server.key("production_full"));
    let bad_json = server.send("POST", "/api/jobs", &[full.as_bytes()], "{not json");
    r.check(
        "a body that is not JSON is 400",
        bad_json.status == 400 && bad_json.code() == "invalid_json",
        &bad_json,
    );

    // Every row of the rejection table.
    let missing = server.send("POST", "/api/jobs", &[], "{}");
    r.refused(
        &server,
        "no Authorization header",
        &missing,
        401,
        "missing_api_key",
        Some(r#"Bearer realm="submit""#),
    );
    let basic = server.create_job(b"Basic dXNlcjpwYXNz");
    r.refused(
        &server,
        "Basic scheme",
        &basic,
        401,
        "malformed_authorization",
        Some(INVALID_REQUEST),
    );
    let garbage = server.create_job(b"Bearer not-a-key");
    r.refused(
        &server,
        "a token that is not a key",
        &garbage,
        401,
        "invalid_api_key",
        Some(INVALID_TOKEN),
    );
    let expired = server.create_job(&server.bearer("expired"));
    r.refused(
        &server,
        "expired key",
        &expired,
        401,
        "expired_api_key",
        Some(INVALID_TOKEN),
    );
    let revoked = server.create_job(&server.bearer("revoked"));
    r.refused(
        &server,
        "revoked key",
        &revoked,
        401,
        "invalid_api_key",
        Some(INVALID_TOKEN),
    );
    for env in ["staging", "development"] {
        let answer = server.create_job(&server.bearer(env));
        r.refused(
            &server,
            &format!("{env} key on production"),
            &answer,
            401,
            "wrong_environment",
            Some(INVALID_TOKEN),
        );
    }
    let other = server.create_job(&server.bearer("other_product"));
    r.refused(
        &server,
        "key of another product",
        &other,
        401,
        "wrong_product",
        Some(INVALID_TOKEN),
    );
    let forbidden = server.create_job(&server.bearer("production_read_only"));
    r.refused(
        &server,
        "valid key without jobs:create",
        &forbidden,
        403,
        "insufficient_permission",
        Some(r#"Bearer realm="submit", error="insufficient_scope", scope="jobs:create""#),
    );

    // Bad input.
    let key = server.key("production_full");
    let lowercase = server.create_job(format!("bearer {key}").as_bytes());
    r.check(
        "lowercase `bearer` is accepted",
        lowercase.status == 201,
        &lowercase,
    );
    let spaces = server.create_job(format!("Bearer    {key}").as_bytes());
    r.check(
        "several spaces after the scheme are accepted (1*SP)",
        spaces.status == 201,
        &spaces,
    );
    let tab = server.create_job(format!("Bearer\t{key}").as_bytes());
    r.refused(
        &server,
        "a tab after the scheme",
        &tab,
        401,
        "malformed_authorization",
        Some(INVALID_REQUEST),
    );
    let twice = server.send(
        "POST",
        "/api/jobs",
        &[
            format!("Authorization: Bearer {key}").as_bytes(),
            format!("Authorization: Bearer {key}").as_bytes(),
        ],
        "{}",
    );
    r.refused(
        &server,
        "two Authorization headers",
        &twice,
        401,
        "malformed_authorization",
        Some(INVALID_REQUEST),
    );
    let huge = server.create_job(format!("Bearer {}", "a".repeat(8 * 1024)).as_bytes());
    r.refused(
        &server,
        "an 8 KiB Authorization header",
        &huge,
        401,
        "malformed_authorization",
        Some(INVALID_REQUEST),
    );
    let mut non_ascii = b"Bearer ".to_vec();
    non_ascii.extend_from_slice(&key.as_bytes()[..20]);
    non_ascii.extend_from_slice("ключ\u{ff}".as_bytes());
    let non_ascii = server.create_job(&non_ascii);
    r.refused(
        &server,
        "non-ASCII bytes in the token",
        &non_ascii,
        401,
        "malformed_authorization",
        Some(INVALID_REQUEST),
    );
    let empty = server.create_job(b"Bearer ");
    r.refused(
        &server,
        "an empty token",
        &empty,
        401,
        "malformed_authorization",
        Some(INVALID_REQUEST),
    );
    let trailing = server.create_job(format!("Bearer {key}xyz").as_bytes());
    r.refused(
        &server,
        "a valid key with trailing garbage",
        &trailing,
        401,
        "invalid_api_key",
        Some(INVALID_TOKEN),
    );
    let trailing_word = server.create_job(format!("Bearer {key} xyz").as_bytes());
    r.refused(
        &server,
        "a valid key then a second word",
        &trailing_word,
        401,
        "malformed_authorization",
        Some(INVALID_REQUEST),
    );
    let query = server.send(
        "POST",
        &format!("/api/jobs?api_key={key}&access_token={key}"),
        &[],
        "{}",
    );
    r.refused(
        &server,
        "a valid key in the query string only",
        &query,
        401,
        "missing_api_key",
        Some(r#"Bearer realm="submit""#),
    );
    let read_route = server.send("GET", &job_path, &[b"Authorization: Basic abc"], "");
    r.refused(
        &server,
        "GET /api/jobs/{id} is protected too",
        &read_route,
        401,
        "malformed_authorization",
        Some(INVALID_REQUEST),
    );

    // A CORS preflight is not asked for a key.
    let preflight = server.send(
        "OPTIONS",
        "/api/jobs",
        &[
            b"Origin: https://example.test",
            b"Access-Control-Request-Method: POST",
        ],
        "",
    );
    r.check(
        "a CORS preflight is not refused for want of a key",
        preflight.status != 401 && preflight.status != 403,
        &preflight,
    );

    assert!(
        r.0.is_empty(),
        "{binary} broke the contract:\n{}",
        r.0.join("\n")
    );
}

/// Keys and their pepper live in the SQLite file: a key issued before a restart works after.
fn keys_survive_a_restart(binary: &str) {
    let first = Server::start(binary);
    let key = first.bearer("production_full");
    assert_eq!(first.create_job(&key).status, 201);
    let again = Server::start_in(binary, first.stop(), false);
    let after = again.create_job(&key);
    assert_eq!(
        after.status, 201,
        "{binary}: a key from before the restart: {after:?}"
    );
}

#[test]
fn submit_axum_keeps_keys_across_restarts() {
    keys_survive_a_restart(env!("CARGO_BIN_EXE_submit-axum"));
}

#[test]
fn submit_actix_keeps_keys_across_restarts() {
    keys_survive_a_restart(env!("CARGO_BIN_EXE_submit-actix"));
}

/// A TCP relay to PostgreSQL that the test can cut, to take the database away from a running
/// server.
struct Relay {
    addr: SocketAddr,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    streams: std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn to_postgres() -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let streams = std::sync::Arc::new(std::sync::Mutex::new(Vec::<TcpStream>::new()));
        let (flag, kept) = (open.clone(), streams.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !flag.load(Ordering::SeqCst) {
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect("127.0.0.1:5432") else {
                    continue;
                };
                let pairs = [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server.try_clone().unwrap(), client.try_clone().unwrap()),
                ];
                kept.lock().unwrap().extend([client, server]);
                for (mut from, mut to) in pairs {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Self {
            addr,
            open,
            streams,
        }
    }

    /// Drops every relayed connection and refuses new ones.
    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn psql(sql: &str) {
    let status = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-q",
            "-c",
            sql,
        ])
        .status()
        .expect("psql runs (PostgreSQL client)");
    assert!(status.success(), "psql failed: {sql}");
}

/// The last row of the rejection table: the key store unreachable answers 503 with
/// `Retry-After`, no challenge, and the `auth_unavailable` problem — never a 401.
fn store_down_is_unavailable(binary: &str) {
    let name = binary
        .rsplit('/')
        .next()
        .unwrap_or("server")
        .replace('-', "_");
    let database = format!("vault_contract_{}_{name}", std::process::id());
    psql(&format!("DROP DATABASE IF EXISTS {database}"));
    psql(&format!("CREATE DATABASE {database}"));
    let relay = Relay::to_postgres();
    let dir = std::env::temp_dir().join(format!(
        "vault-contract-{}-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let url = format!("postgres://postgres@{}/{database}", relay.addr);
    let pepper = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let server = Server::start_with(
        binary,
        TempDir(dir),
        true,
        &url,
        &[("VAULT_PEPPER", pepper)],
        &[],
    );
    relay.cut();
    let answer = server.create_job(&server.bearer("production_full"));
    drop(server);
    psql(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    assert_eq!(answer.status, 503, "{binary}: {answer:?}");
    assert_eq!(body["code"], "auth_unavailable", "{binary}: {answer:?}");
    assert!(
        answer.header("retry-after").is_some(),
        "{binary}: {answer:?}"
    );
    assert!(
        answer.header("www-authenticate").is_none(),
        "{binary}: {answer:?}"
    );
}

#[test]
fn submit_axum_answers_503_when_the_store_is_down() {
    store_down_is_unavailable(env!("CARGO_BIN_EXE_submit-axum"));
}

#[test]
fn submit_actix_answers_503_when_the_store_is_down() {
    store_down_is_unavailable(env!("CARGO_BIN_EXE_submit-actix"));
}

#[test]
fn submit_axum_passes_the_contract() {
    run_contract(env!("CARGO_BIN_EXE_submit-axum"));
}

#[test]
fn submit_actix_passes_the_contract() {
    run_contract(env!("CARGO_BIN_EXE_submit-actix"));
}

// Slow, idle and malformed clients: the connection-level half of the contract. The servers
// run with short timeouts (a head must be complete 1 s after the server waits for it; 2 s
// without a byte moving closes any connection), and each bound is checked loosely (3×).

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);

fn short_timeouts() -> [&'static str; 4] {
    ["--header-read-timeout", "1", "--idle-timeout", "2"]
}

/// A kept-alive connection, read one message at a time.
struct Connection {
    stream: TcpStream,
}

impl Connection {
    fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Self { stream }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// The next message from the server (a `100 Continue` is one), or `None` if it closed
    /// the connection first. Bodies are read by `Content-Length`.
    fn next(&mut self) -> Option<Answer> {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0];
            match self.stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return None,
            }
        }
        let answer = Answer::parse(&head);
        let length = answer
            .header("content-length")
            .map_or(0, |n| n.parse().expect("a length"));
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).ok()?;
        head.extend_from_slice(&body);
        Some(Answer::parse(&head))
    }

    /// Reads until the server closes the connection; how long after `since` that was.
    fn closed_after(&mut self, since: std::time::Instant) -> Duration {
        let mut sink = [0; 1024];
        loop {
            match self.stream.read(&mut sink) {
                Ok(0) => return since.elapsed(),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return since.elapsed();
                }
                Err(e) => panic!("the server kept the connection open ({e})"),
            }
        }
    }
}

fn health(addr: SocketAddr) -> Vec<u8> {
    format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes()
}

/// A header line that never ends and an idle kept-alive connection are closed within the
/// header-read timeout; a body that stops arriving within the idle timeout, and not before.
fn slow_clients_are_cut_off(binary: &str) {
    let server = Server::start_with_flags(binary, &short_timeouts());

    let mut endless = Connection::open(server.addr);
    let started = std::time::Instant::now();
    endless.send(
        format!(
            "GET /health HTTP/1.1\r\nHost: {}\r\nX-Pad: aaaa",
            server.addr
        )
        .as_bytes(),
    );
    let closed = endless.closed_after(started);
    assert!(
        closed < HEADER_READ_TIMEOUT * 3,
        "{binary}: a header line that never ends was closed after {closed:?}"
    );

    let mut idle = Connection::open(server.addr);
    idle.send(&health(server.addr));
    let answer = idle.next().expect("an answer");
    assert_eq!(answer.status, 200, "{binary}: {answer:?}");
    let answered = std::time::Instant::now();
    let closed = idle.closed_after(answered);
    assert!(
        closed < HEADER_READ_TIMEOUT * 3,
        "{binary}: an idle kept-alive connection was closed after {closed:?}"
    );

    let mut stalled = Connection::open(server.addr);
    let started = std::time::Instant::now();
    stalled.send(
        format!(
            "POST /api/jobs HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
            server.addr,
            server.key("production_full")
        )
        .as_bytes(),
    );
    let closed = stalled.closed_after(started);
    assert!(
        closed < IDLE_TIMEOUT * 3 && closed > IDLE_TIMEOUT / 2,
        "{binary}: a body that stopped arriving was closed after {closed:?}"
    );
}

#[test]
fn submit_axum_cuts_off_slow_clients() {
    slow_clients_are_cut_off(env!("CARGO_BIN_EXE_submit-axum"));
}

#[test]
fn submit_actix_cuts_off_slow_clients() {
    slow_clients_are_cut_off(env!("CARGO_BIN_EXE_submit-actix"));
}

/// RFC 9112 §3.2: an HTTP/1.1 request without `Host`, with two, or with one that is not
/// `host[:port]` is answered 400. actix-http refuses the first two itself, without a body;
/// everything else answers the `invalid_host` problem.
fn host_is_required_once(binary: &str, problem_for_missing_and_repeated: bool) {
    let server = Server::start(binary);
    let mut r = Report::default();
    let cases: [(&str, String, bool); 3] = [
        ("no Host", String::new(), problem_for_missing_and_repeated),
        (
            "two Hosts",
            format!("Host: {0}\r\nHost: {0}\r\n", server.addr),
            problem_for_missing_and_repeated,
        ),
        (
            "a Host that is not host:port",
            "Host: a b\r\n".to_owned(),
            true,
        ),
    ];
    for (case, hosts, problem) in cases {
        let answer = server
            .raw(format!("GET /health HTTP/1.1\r\n{hosts}Connection: close\r\n\r\n").as_bytes());
        if problem {
            r.refused(&server, case, &answer, 400, "invalid_host", None);
        } else {
            r.check(case, answer.status == 400, &answer);
        }
    }
    let old = server.raw(b"GET /health HTTP/1.0\r\n\r\n");
    r.check("HTTP/1.0 may omit Host", old.status == 200, &old);
    assert!(r.0.is_empty(), "{binary}:\n{}", r.0.join("\n"));
}

#[test]
fn submit_axum_requires_one_host() {
    host_is_required_once(env!("CARGO_BIN_EXE_submit-axum"), true);
}

#[test]
fn submit_actix_requires_one_host() {
    host_is_required_once(env!("CARGO_BIN_EXE_submit-actix"), false);
}

/// A request refused for its key is answered without `100 Continue` first (the body is not
/// invited); an accepted one gets `100 Continue`, then its answer. A refused POST with a small
/// body leaves the connection open for the next request.
fn refusals_neither_invite_bodies_nor_close_connections(binary: &str) {
    let server = Server::start(binary);
    let post = |headers: &str| {
        format!(
            "POST /api/jobs HTTP/1.1\r\nHost: {}\r\n{headers}Content-Type: application/json\r\n\
             Content-Length: 17\r\n\r\n",
            server.addr
        )
    };
    let body = br#"{"kind":"report"}"#;

    let mut refused = Connection::open(server.addr);
    refused.send(post("Expect: 100-continue\r\n").as_bytes());
    let first = refused.next().expect("an answer");
    assert_eq!(
        first.status, 401,
        "{binary}: the first answer was {first:?}"
    );
    assert_eq!(first.code(), "missing_api_key", "{binary}: {first:?}");

    let mut accepted = Connection::open(server.addr);
    let key = format!(
        "Authorization: {}\r\n",
        String::from_utf8_lossy(&server.bearer("production_full"))
    );
    accepted.send(post(&format!("{key}Expect: 100-continue\r\n")).as_bytes());
    let invited = accepted.next().expect("100 Continue");
    assert_eq!(invited.status, 100, "{binary}: {invited:?}");
    accepted.send(body);
    let created = accepted.next().expect("the answer");
    assert_eq!(created.status, 201, "{binary}: {created:?}");

    let mut again = Connection::open(server.addr);
    let mut request = post("").into_bytes();
    request.extend_from_slice(body);
    again.send(&request);
    let refusal = again.next().expect("the refusal");
    assert_eq!(refusal.status, 401, "{binary}: {refusal:?}");
    assert_ne!(
        refusal.header("connection"),
        Some("close"),
        "{binary}: {refusal:?}"
    );
    again.send(&health(server.addr));
    let next = again.next();
    assert_eq!(
        next.as_ref().map(|a| a.status),
        Some(200),
        "{binary}: the request after a refusal got {next:?}"
    );
}

#[test]
fn submit_axum_refuses_without_inviting_or_closing() {
    refusals_neither_invite_bodies_nor_close_connections(env!("CARGO_BIN_EXE_submit-axum"));
}

#[test]
fn submit_actix_refuses_without_inviting_or_closing() {
    refusals_neither_invite_bodies_nor_close_connections(env!("CARGO_BIN_EXE_submit-actix"));
}

/// The callback receiver serves through the same code: the same timeouts and `Host` rule.
#[test]
fn callback_receiver_cuts_off_slow_clients_and_requires_a_host() {
    struct Receiver(Child);
    impl Drop for Receiver {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let binary = env!("CARGO_BIN_EXE_callback-receiver");
    let mut command = Command::new(binary);
    command.args([
        "--addr",
        "127.0.0.1:0",
        "--secret",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ]);
    command.args(short_timeouts());
    let (child, addr) = spawn_listening(binary, command);
    let _receiver = Receiver(child);

    let mut endless = Connection::open(addr);
    let started = std::time::Instant::now();
    endless.send(b"POST /callbacks HTTP/1.1\r\nHost: x\r\nX-Pad: aaaa");
    let closed = endless.closed_after(started);
    assert!(closed < HEADER_READ_TIMEOUT * 3, "closed after {closed:?}");

    let mut hostless = Connection::open(addr);
    hostless.send(b"POST /callbacks HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    let answer = hostless.next().expect("an answer");
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (400, "invalid_host"),
        "{answer:?}"
    );
}
