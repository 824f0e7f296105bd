//! Copies vault-core's access flow tests into `OUT_DIR` without their module header (inner
//! doc comments and `mod access_support;`), so `tests/access_flows_sql.rs` can include them
//! unchanged against SQL stores, with a kit of its own.

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let core_tests = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("manifest"))
        .join("../crates/vault-core/tests");
    for name in ["access.rs", "access_keys.rs"] {
        let source = core_tests.join(name);
        println!("cargo:rerun-if-changed={}", source.display());
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|err| panic!("read {}: {err}", source.display()));
        let body: String = text
            .lines()
            .filter(|line| !line.starts_with("//!") && line.trim() != "mod access_support;")
            .map(|line| format!("{line}\n"))
            .collect();
        std::fs::write(out.join(name), body).expect("write the flow tests");
    }
}
