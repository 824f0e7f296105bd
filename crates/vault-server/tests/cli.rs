//! The `vault` binary as a process: a bare `vault` prints help and exits 2, `serve` outside
//! dev mode names the missing secret and exits 1, and `serve --dev` announces its address.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn vault() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vault"));
    command
        .env_remove("VAULT_PEPPER")
        .env_remove("VAULT_TOTP_KEY")
        .env_remove("VAULT_DEV");
    command
}

#[test]
fn a_bare_vault_prints_help_and_exits_2() {
    let out = vault().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("serve") && text.contains("Usage"), "{text}");
}

#[test]
fn serving_without_a_pepper_outside_dev_names_it_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("v.db").display());
    let out = vault()
        .args(["serve", "--addr", "127.0.0.1:0", "--database-url", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("VAULT_PEPPER"), "{text}");
    assert_eq!(text.trim().lines().count(), 1, "one clear line: {text}");
}

#[test]
fn serve_in_dev_mode_says_where_it_listens_first() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("v.db").display());
    let mut child = vault()
        .args([
            "serve",
            "--dev",
            "--addr",
            "127.0.0.1:0",
            "--database-url",
            &url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    child.kill().ok();
    child.wait().ok();
    let addr = first.trim().strip_prefix("listening on http://127.0.0.1:");
    assert!(
        addr.is_some_and(|port| port.parse::<u16>().is_ok_and(|p| p > 0)),
        "{first:?}"
    );
}
