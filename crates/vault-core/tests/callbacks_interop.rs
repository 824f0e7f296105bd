//! Interoperability with an independent implementation: the `standardwebhooks` package from
//! PyPI (`pip install standardwebhooks`). Their signature verifies here and ours verifies
//! there. When the package is not installed, the test installs it with pip into Cargo's
//! temporary directory for tests, so `cargo test` works on a fresh machine; a missing
//! `python3` (or pip, or the registry) fails this test: it never skips.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use time::OffsetDateTime;
use vault_core::callbacks::{
    CallbackDefect, CallbackHeaders, CallbackSecret, CallbackSigner, CallbackVerifier,
};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/interop/standard_webhooks.py"
);

fn python_bin() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// A `PYTHONPATH` under which `standardwebhooks` imports: the system's if it has the package,
/// otherwise a directory in Cargo's test temp dir where it is installed once.
fn python_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let dir = concat!(env!("CARGO_TARGET_TMPDIR"), "/pydeps");
        let imports = |path: &str| {
            Command::new(python_bin())
                .args(["-c", "import standardwebhooks"])
                .env("PYTHONPATH", path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if imports(dir) {
            return dir.to_owned();
        }
        let status = Command::new(python_bin())
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                dir,
                "standardwebhooks",
            ])
            .status()
            .unwrap_or_else(|e| panic!("cannot run pip (needed for the interop check): {e}"));
        assert!(
            status.success() && imports(dir),
            "could not install the standardwebhooks package"
        );
        dir.to_owned()
    })
}

/// Runs the Python side on `request`; panics with its stderr if it fails.
fn python(request: &Value) -> Value {
    let python = python_bin();
    let mut child = Command::new(&python)
        .arg(SCRIPT)
        .env("PYTHONPATH", python_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python} (needed for the interop check): {e}"));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(request.to_string().as_bytes())
        .expect("write the request");
    let output = child.wait_with_output().expect("python runs to the end");
    assert!(
        output.status.success(),
        "the interop script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints one JSON object")
}

fn check_both_ways(secret_text: &str, python_secret_text: &str) {
    let secret: CallbackSecret = secret_text.parse().unwrap();
    let now = OffsetDateTime::now_utc();
    let body = r#"{"type":"job.created","data":{"job_id":"job_42","name":"Zoë"}}"#;

    let ours = CallbackSigner::new(secret.clone())
        .sign("msg_ours_1", body.as_bytes())
        .unwrap();
    let answer = python(&json!({
        "secret": python_secret_text,
        "theirs": {"id": "msg_theirs_1", "timestamp": now.unix_timestamp(), "body": body},
        "ours": {
            "id": ours.id(),
            "timestamp": ours.timestamp(),
            "signature": ours.signature(),
            "body": body,
        },
    }));

    assert_eq!(
        answer["ours_verified"], true,
        "our signature verifies there"
    );
    assert_eq!(answer["tampered_rejected"], true, "their check can fail");

    let their_signature = answer["their_signature"].as_str().unwrap();
    let timestamp = now.unix_timestamp().to_string();
    let theirs = CallbackHeaders {
        id: Some("msg_theirs_1"),
        timestamp: Some(&timestamp),
        signature: Some(their_signature),
    };
    let verifier = CallbackVerifier::new(secret);
    let verified = verifier.verify(&theirs, body.as_bytes()).unwrap();
    assert_eq!(verified.id(), "msg_theirs_1");
    assert_eq!(
        verifier
            .verify(&theirs, format!("{body} ").as_bytes())
            .err(),
        Some(CallbackDefect::NoMatchingSignature)
    );
}

#[test]
fn their_signatures_verify_here_and_ours_there() {
    // The spec suite's secret: 24 bytes, no padding in its text.
    let spec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    check_both_ways(spec, spec);
}

#[test]
fn a_generated_secret_works_there_padded_and_here_unpadded() {
    let generated = CallbackSecret::generate().unwrap();
    let padded = generated.expose_secret();
    assert!(padded.ends_with('='));
    check_both_ways(padded.trim_end_matches('='), padded);
}
