//! Signed callbacks end to end, as real processes on ephemeral ports: a Submit server (axum,
//! then actix) creates a job and sends `job.created` to `callback-receiver`, which verifies
//! it and prints it; a receiver holding another secret answers 401 and the server records
//! the refusal. No API key ever appears in what the receiver sees.
//!
//! (A test of the `vault-examples` package, so Cargo builds the binaries it starts.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET: &str = "whsec_YW5vdGhlci1zZWNyZXQtZm9yLXRoZS1lMmUtdGVzdCE=";
/// Every wait is bounded by this.
const PATIENCE: Duration = Duration::from_secs(20);

/// A child process, killed when dropped, whose output lines arrive on channels.
struct Process {
    child: Child,
    addr: SocketAddr,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl Process {
    fn start(binary: &str, args: &[&str]) -> Self {
        let mut child = Command::new(binary)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let stdout = lines(child.stdout.take().expect("piped stdout"));
        let stderr = lines(child.stderr.take().expect("piped stderr"));
        let mut process = Self {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            stdout,
            stderr,
        };
        let first = process
            .stdout
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("{binary} printed no first line"));
        process.addr = first
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .expect("HOST:PORT");
        process
    }

    /// The next stdout line, within the patience.
    fn next_stdout(&self) -> Option<String> {
        self.stdout.recv_timeout(PATIENCE).ok()
    }

    /// The first stderr line starting with `prefix`, within the patience.
    fn stderr_line(&self, prefix: &str) -> Option<String> {
        let deadline = Instant::now() + PATIENCE;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Some(line),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (send, receive) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("vault-callbacks-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A Submit server sending callbacks to `receiver`, with its demo keys.
struct Submit {
    process: Process,
    keys: Value,
    _dir: TempDir,
}

impl Submit {
    fn start(binary: &str, receiver: &Process, secret: &str, tag: &str) -> Self {
        let dir = TempDir::new(&format!(
            "{tag}-{}",
            binary.rsplit('/').next().unwrap_or("server")
        ));
        let keys_file = dir.0.join("demo-keys.json");
        let url = format!("http://{}/callbacks", receiver.addr);
        let keys_path = keys_file.to_str().expect("a UTF-8 temp path");
        let database = format!("sqlite://{}", dir.0.join("vault.db").display());
        let process = Process::start(
            binary,
            &[
                "--addr",
                "127.0.0.1:0",
                "--database-url",
                &database,
                "--demo-keys",
                keys_path,
                "--callback-url",
                &url,
                "--callback-secret",
                secret,
            ],
        );
        let keys = serde_json::from_slice(&std::fs::read(&keys_file).expect("demo keys written"))
            .expect("demo keys are JSON");
        Self {
            process,
            keys,
            _dir: dir,
        }
    }

    fn key(&self) -> String {
        self.keys["production_full"]
            .as_str()
            .expect("a production_full demo key")
            .to_owned()
    }

    /// `POST /api/jobs` with the full demo key: (status, JSON body).
    fn create_job(&self) -> (u16, Value) {
        let body = r#"{"kind":"report"}"#;
        let request = format!(
            "POST /api/jobs HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.process.addr,
            self.key(),
            body.len()
        );
        let mut stream = TcpStream::connect(self.process.addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.write_all(request.as_bytes()).expect("send");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        // Both servers answer a job with a Content-Length body: the JSON is the last part.
        let json = text
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body)
            .trim();
        (status, serde_json::from_str(json).unwrap_or(Value::Null))
    }
}

fn run(binary: &str) {
    // The right secret: the receiver prints the verified job.created.
    let receiver = Process::start(
        env!("CARGO_BIN_EXE_callback-receiver"),
        &["--addr", "127.0.0.1:0", "--secret", SECRET],
    );
    let submit = Submit::start(binary, &receiver, SECRET, "good");
    let started = Instant::now();
    let (status, job) = submit.create_job();
    assert_eq!(status, 201, "{binary}: {job}");
    // The 201 does not wait for the callback; a generous bound, well under a retry schedule.
    assert!(started.elapsed() < Duration::from_secs(5));
    let line = receiver
        .next_stdout()
        .unwrap_or_else(|| panic!("{binary}: the receiver printed no callback"));
    let printed: Value = serde_json::from_str(&line).expect("one JSON line per callback");
    assert!(
        printed["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("msg_")),
        "{line}"
    );
    assert!(printed["timestamp"].as_i64().is_some(), "{line}");
    assert_eq!(printed["body"]["type"], "job.created", "{line}");
    assert_eq!(printed["body"]["data"]["job_id"], job["id"], "{line}");
    assert_eq!(
        printed["body"]["data"]["workspace_id"], job["workspace_id"],
        "{line}"
    );
    assert!(
        !line.contains(&submit.key()),
        "the callback carries no API key"
    );
    let delivered = submit
        .process
        .stderr_line("callback delivery ")
        .unwrap_or_else(|| panic!("{binary}: no delivery record"));
    assert!(
        delivered.contains(r#""outcome":"delivered""#),
        "{delivered}"
    );

    // Another secret: the receiver answers 401, the server records the refusal and does not
    // retry it, and nothing is printed as verified.
    let stranger = Process::start(
        env!("CARGO_BIN_EXE_callback-receiver"),
        &["--addr", "127.0.0.1:0", "--secret", OTHER_SECRET],
    );
    let submit = Submit::start(binary, &stranger, SECRET, "bad");
    assert_eq!(submit.create_job().0, 201);
    let refused = submit
        .process
        .stderr_line("callback delivery ")
        .unwrap_or_else(|| panic!("{binary}: no record of the refused delivery"));
    let record: Value =
        serde_json::from_str(refused.trim_start_matches("callback delivery ")).expect("JSON");
    assert_eq!(record["outcome"], "rejected", "{refused}");
    assert_eq!(record["attempts"].as_array().map(Vec::len), Some(1));
    assert_eq!(record["attempts"][0]["status"], 401, "{refused}");
    assert!(
        stranger
            .stdout
            .recv_timeout(Duration::from_millis(200))
            .is_err(),
        "a refused callback is not printed"
    );
}

#[test]
fn axum_server_callbacks_reach_the_receiver_signed() {
    run(env!("CARGO_BIN_EXE_submit-axum"));
}

#[test]
fn actix_server_callbacks_reach_the_receiver_signed() {
    run(env!("CARGO_BIN_EXE_submit-actix"));
}
