//! Every tracing event of the key lifecycle, captured at TRACE level, holds key ids and
//! verdicts but never a token or its secret.

use std::io::Write;
use std::sync::{Arc, Mutex};

use time::Duration;
use vault_core::{
    ApiKeys, Environment, MemoryStore, NewKey, Pepper, PermissionSet, Requirement, UserId,
    WorkspaceId,
};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn lifecycle_events_carry_ids_and_verdicts_but_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let keys = ApiKeys::builder(Arc::new(MemoryStore::new()), &Pepper::generate().unwrap()).build();
    let issued = keys
        .issue(NewKey {
            workspace_id: WorkspaceId::random(),
            product: "submit".parse().unwrap(),
            environment: Environment::Production,
            permissions: PermissionSet::parse(["jobs:read"]).unwrap(),
            name: "logged".into(),
            created_by: UserId::random(),
            expires_at: None,
        })
        .await
        .unwrap();
    let token = issued.expose_token().to_owned();
    let read = Requirement::new("submit".parse().unwrap(), Environment::Production)
        .with_permission("jobs:read".parse().unwrap());
    let create = read.clone().with_permission("jobs:create".parse().unwrap());
    keys.verify(&token, &read).await.unwrap();
    keys.verify(&token, &create).await.unwrap_err();
    keys.verify(&format!("{token}x"), &read).await.unwrap_err();
    let rotated = keys
        .rotate(&issued.metadata.id, Duration::hours(1))
        .await
        .unwrap();
    keys.revoke(&rotated.metadata.id).await.unwrap();
    keys.verify(rotated.expose_token(), &read)
        .await
        .unwrap_err();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for needle in [
        "api key issued",
        "api key verified",
        "insufficient_permission",
        "api key rotated",
        "api key revoked",
        "revoked api key used",
    ] {
        assert!(logs.contains(needle), "no {needle:?} event in:\n{logs}");
    }
    // Every verification event names the key it judged (the revoked one included).
    for line in logs.lines().filter(|l| {
        l.contains("api key verified")
            || l.contains("revoked api key used")
            || l.contains("insufficient_permission")
    }) {
        assert!(line.contains("key_id="), "no key id in {line}");
    }
    assert!(logs.contains(issued.metadata.id.as_str()));
    for t in [&token, rotated.expose_token()] {
        let secret = &t[t.len() - 6 - vault_core::keys::SECRET_LEN..t.len() - 6];
        assert!(!logs.contains(secret), "a secret was logged:\n{logs}");
    }
}
