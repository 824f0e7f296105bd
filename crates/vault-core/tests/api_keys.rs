//! The key lifecycle as the product docs describe it: issue, verify, rotate, revoke, list.

use std::sync::Arc;

use time::Duration;
use vault_core::Clock as _;
use vault_core::{
    ApiKeys, AuthError, Environment, Error, InvalidKeyReason, IssuedKey, KeyStatus, ManualClock,
    MemoryStore, NewKey, Pepper, PermissionSet, Requirement, UserId, WorkspaceId,
    keys::TokenDefect,
};

struct Kit {
    keys: ApiKeys,
    clock: ManualClock,
    workspace: WorkspaceId,
}

fn kit() -> Kit {
    let clock = ManualClock::default();
    let keys = ApiKeys::builder(Arc::new(MemoryStore::new()), &Pepper::generate().unwrap())
        .clock(clock.clone())
        .build();
    Kit {
        keys,
        clock,
        workspace: WorkspaceId::random(),
    }
}

impl Kit {
    fn new_key(&self, env: Environment, permissions: &[&str]) -> NewKey {
        NewKey {
            workspace_id: self.workspace,
            product: "submit".parse().unwrap(),
            environment: env,
            permissions: PermissionSet::parse(permissions).unwrap(),
            name: "integration".into(),
            created_by: UserId::random(),
            expires_at: None,
        }
    }

    async fn issue(&self, env: Environment, permissions: &[&str]) -> IssuedKey {
        self.keys
            .issue(self.new_key(env, permissions))
            .await
            .unwrap()
    }
}

fn route(env: Environment, permission: Option<&str>) -> Requirement {
    let r = Requirement::new("submit".parse().unwrap(), env);
    match permission {
        Some(p) => r.with_permission(p.parse().unwrap()),
        None => r,
    }
}

fn create_jobs() -> Requirement {
    route(Environment::Production, Some("jobs:create"))
}

#[tokio::test]
async fn an_issued_key_verifies_with_its_scope() {
    let kit = kit();
    let issued = kit
        .issue(Environment::Production, &["jobs:create", "jobs:read"])
        .await;
    let caller = kit
        .keys
        .verify(issued.expose_token(), &create_jobs())
        .await
        .unwrap();
    assert_eq!(caller.key_id(), issued.metadata.id);
    assert_eq!(caller.workspace_id(), kit.workspace);
    assert_eq!(caller.product().as_str(), "submit");
    assert_eq!(caller.environment(), Environment::Production);
    assert!(caller.has_permission(&"jobs:read".parse().unwrap()));
    assert_eq!(caller.created_by(), issued.metadata.created_by);
}

#[tokio::test]
async fn a_wrong_checksum_is_invalid() {
    let kit = kit();
    let issued = kit.issue(Environment::Production, &["jobs:create"]).await;
    let mut token = issued.expose_token().to_owned();
    let last = token.pop().unwrap();
    token.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        kit.keys.verify(&token, &create_jobs()).await.unwrap_err(),
        AuthError::InvalidKey(InvalidKeyReason::Malformed(TokenDefect::BadChecksum))
    );
}

#[tokio::test]
async fn a_changed_secret_with_a_fixed_checksum_is_invalid() {
    // An attacker who knows the format can recompute the CRC; the HMAC still refuses.
    let kit = kit();
    let issued = kit.issue(Environment::Production, &["jobs:create"]).await;
    let token = issued.expose_token();
    let body_end = token.len() - 6;
    let mut forged = token[..body_end].to_owned();
    let flipped = if forged.ends_with('x') { 'y' } else { 'x' };
    forged.pop();
    forged.push(flipped);
    let crc = crc32(forged.as_bytes());
    forged.push_str(&base62_6(crc));
    assert_eq!(
        kit.keys.verify(&forged, &create_jobs()).await.unwrap_err(),
        AuthError::InvalidKey(InvalidKeyReason::WrongSecret)
    );
}

#[tokio::test]
async fn an_unknown_key_is_invalid() {
    let kit = kit();
    let other = self::kit();
    let issued = other.issue(Environment::Production, &["jobs:create"]).await;
    assert_eq!(
        kit.keys
            .verify(issued.expose_token(), &create_jobs())
            .await
            .unwrap_err(),
        AuthError::InvalidKey(InvalidKeyReason::UnknownKey)
    );
}

#[tokio::test]
async fn a_key_of_another_environment_is_refused() {
    let kit = kit();
    let staging = kit.issue(Environment::Staging, &["jobs:create"]).await;
    assert_eq!(
        kit.keys
            .verify(staging.expose_token(), &create_jobs())
            .await
            .unwrap_err(),
        AuthError::WrongEnvironment
    );
    // A route serving staging and production takes it.
    let both = create_jobs().with_environments(
        [Environment::Staging, Environment::Production]
            .into_iter()
            .collect::<vault_core::EnvironmentSet>(),
    );
    assert!(kit.keys.verify(staging.expose_token(), &both).await.is_ok());
}

#[tokio::test]
async fn a_forged_environment_tag_does_not_pass_the_stored_environment() {
    // Re-tagging a development key as production (with a recomputed checksum) is still refused:
    // the stored record decides.
    let kit = kit();
    let dev = kit.issue(Environment::Development, &["jobs:create"]).await;
    let token = dev.expose_token();
    let body = &token["vlt_dev_".len()..token.len() - 6];
    let mut forged = format!("vlt_prod_{body}");
    forged.push_str(&base62_6(crc32(forged.as_bytes())));
    assert_eq!(
        kit.keys.verify(&forged, &create_jobs()).await.unwrap_err(),
        AuthError::WrongEnvironment
    );
}

#[tokio::test]
async fn a_key_of_another_product_is_refused() {
    let kit = kit();
    let mut new = kit.new_key(Environment::Production, &["jobs:create"]);
    new.product = "prepare".parse().unwrap();
    let prepare = kit.keys.issue(new).await.unwrap();
    assert_eq!(
        kit.keys
            .verify(prepare.expose_token(), &create_jobs())
            .await
            .unwrap_err(),
        AuthError::WrongProduct
    );
}

#[tokio::test]
async fn a_key_without_the_permission_is_forbidden() {
    let kit = kit();
    let read_only = kit.issue(Environment::Production, &["jobs:read"]).await;
    assert_eq!(
        kit.keys
            .verify(read_only.expose_token(), &create_jobs())
            .await
            .unwrap_err(),
        AuthError::InsufficientPermission("jobs:create".parse().unwrap())
    );
    let read = route(Environment::Production, Some("jobs:read"));
    assert!(
        kit.keys
            .verify(read_only.expose_token(), &read)
            .await
            .is_ok()
    );
    let wildcard = kit.issue(Environment::Production, &["jobs:*"]).await;
    assert!(
        kit.keys
            .verify(wildcard.expose_token(), &create_jobs())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_route_needing_two_permissions_needs_both() {
    let kit = kit();
    let both = create_jobs().with_permission("jobs:read".parse().unwrap());
    let required: PermissionSet = "jobs:create jobs:read".parse().unwrap();
    assert_eq!(both.permissions(), &required);
    for held in [&["jobs:create"][..], &["jobs:read"][..]] {
        let key = kit.issue(Environment::Production, held).await;
        assert_eq!(
            kit.keys
                .verify(key.expose_token(), &both)
                .await
                .unwrap_err(),
            AuthError::InsufficientPermission(required.clone()),
            "{held:?}"
        );
    }
    let key = kit
        .issue(Environment::Production, &["jobs:create", "jobs:read"])
        .await;
    assert!(kit.keys.verify(key.expose_token(), &both).await.is_ok());
    let wildcard = kit.issue(Environment::Production, &["jobs:*"]).await;
    assert!(
        kit.keys
            .verify(wildcard.expose_token(), &both)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_expired_key_is_refused_as_expired() {
    let kit = kit();
    let mut new = kit.new_key(Environment::Production, &["jobs:create"]);
    new.expires_at = Some(kit.clock.now() + Duration::hours(1));
    let issued = kit.keys.issue(new).await.unwrap();
    kit.clock.advance(Duration::minutes(59));
    assert!(
        kit.keys
            .verify(issued.expose_token(), &create_jobs())
            .await
            .is_ok()
    );
    kit.clock.advance(Duration::minutes(1));
    assert_eq!(
        kit.keys
            .verify(issued.expose_token(), &create_jobs())
            .await
            .unwrap_err(),
        AuthError::ExpiredKey
    );
}

#[tokio::test]
async fn a_revoked_key_is_rejected_at_once() {
    let kit = kit();
    let issued = kit.issue(Environment::Production, &["jobs:create"]).await;
    assert!(
        kit.keys
            .verify(issued.expose_token(), &create_jobs())
            .await
            .is_ok()
    );
    let revoked = kit.keys.revoke(&issued.metadata.id).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(kit.clock.now()));
    assert_eq!(
        kit.keys
            .verify(issued.expose_token(), &create_jobs())
            .await
            .unwrap_err(),
        AuthError::InvalidKey(InvalidKeyReason::Revoked)
    );
    // Revoking again keeps the first time.
    kit.clock.advance(Duration::minutes(1));
    let again = kit.keys.revoke(&issued.metadata.id).await.unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at);
}

#[tokio::test]
async fn rotation_keeps_both_valid_inside_the_overlap_then_expires_the_old() {
    let kit = kit();
    let old = kit.issue(Environment::Production, &["jobs:create"]).await;
    let new = kit
        .keys
        .rotate(&old.metadata.id, Duration::hours(24))
        .await
        .unwrap();
    assert_ne!(new.metadata.id, old.metadata.id);
    assert_ne!(new.expose_token(), old.expose_token());
    assert_eq!(new.metadata.rotated_from, Some(old.metadata.id));
    assert_eq!(new.metadata.permissions, old.metadata.permissions);
    assert_eq!(new.metadata.expires_at, None);

    kit.clock.advance(Duration::hours(23));
    assert!(
        kit.keys
            .verify(old.expose_token(), &create_jobs())
            .await
            .is_ok()
    );
    assert!(
        kit.keys
            .verify(new.expose_token(), &create_jobs())
            .await
            .is_ok()
    );

    kit.clock.advance(Duration::hours(1));
    assert_eq!(
        kit.keys
            .verify(old.expose_token(), &create_jobs())
            .await
            .unwrap_err(),
        AuthError::ExpiredKey
    );
    assert!(
        kit.keys
            .verify(new.expose_token(), &create_jobs())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn rotation_never_extends_the_old_key_past_its_own_expiry() {
    let kit = kit();
    let mut request = kit.new_key(Environment::Production, &["jobs:create"]);
    let own_expiry = kit.clock.now() + Duration::hours(2);
    request.expires_at = Some(own_expiry);
    let old = kit.keys.issue(request).await.unwrap();
    let new = kit
        .keys
        .rotate(&old.metadata.id, Duration::days(7))
        .await
        .unwrap();
    assert_eq!(
        new.metadata.expires_at,
        Some(own_expiry),
        "the successor keeps the expiry"
    );
    assert_eq!(
        kit.keys.get(&old.metadata.id).await.unwrap().expires_at,
        Some(own_expiry)
    );
    kit.clock.advance(Duration::hours(2));
    assert_eq!(
        kit.keys
            .verify(old.expose_token(), &create_jobs())
            .await
            .unwrap_err(),
        AuthError::ExpiredKey
    );
}

#[tokio::test]
async fn revoked_expired_and_unknown_keys_cannot_be_rotated() {
    let kit = kit();
    let revoked = kit.issue(Environment::Production, &["jobs:create"]).await;
    kit.keys.revoke(&revoked.metadata.id).await.unwrap();
    assert!(matches!(
        kit.keys
            .rotate(&revoked.metadata.id, Duration::hours(1))
            .await,
        Err(Error::KeyRevoked(_))
    ));
    let rotated = kit.issue(Environment::Production, &["jobs:create"]).await;
    kit.keys
        .rotate(&rotated.metadata.id, Duration::ZERO)
        .await
        .unwrap();
    assert!(matches!(
        kit.keys
            .rotate(&rotated.metadata.id, Duration::hours(1))
            .await,
        Err(Error::KeyExpired(_))
    ));
    let unknown = vault_core::KeyId::random().unwrap();
    assert!(matches!(
        kit.keys.rotate(&unknown, Duration::hours(1)).await,
        Err(Error::KeyNotFound(_))
    ));
    assert!(matches!(
        kit.keys
            .rotate(&revoked.metadata.id, Duration::hours(-1))
            .await,
        Err(Error::NegativeOverlap)
    ));
    assert!(matches!(
        kit.keys.revoke(&unknown).await,
        Err(Error::KeyNotFound(_))
    ));
}

#[tokio::test]
async fn issue_refuses_bad_names_and_past_expiry() {
    let kit = kit();
    for name in ["", "   ", "tab\there", &"x".repeat(101)] {
        let mut new = kit.new_key(Environment::Production, &[]);
        new.name = name.to_owned();
        assert!(
            matches!(kit.keys.issue(new).await, Err(Error::InvalidKeyName(_))),
            "{name:?}"
        );
    }
    let mut new = kit.new_key(Environment::Production, &[]);
    new.expires_at = Some(kit.clock.now());
    assert!(matches!(
        kit.keys.issue(new).await,
        Err(Error::ExpiryNotInFuture)
    ));
    let mut new = kit.new_key(Environment::Production, &[]);
    new.name = "  trimmed  ".into();
    assert_eq!(kit.keys.issue(new).await.unwrap().metadata.name, "trimmed");
}

#[tokio::test]
async fn listing_shows_metadata_of_the_workspace_only() {
    let kit = kit();
    let a = kit.issue(Environment::Production, &["jobs:read"]).await;
    kit.clock.advance(Duration::seconds(1));
    let b = kit.issue(Environment::Staging, &["jobs:read"]).await;
    kit.keys.revoke(&b.metadata.id).await.unwrap();
    let mut other = kit.new_key(Environment::Production, &[]);
    other.workspace_id = WorkspaceId::random();
    kit.keys.issue(other).await.unwrap();

    let listed = kit.keys.list(kit.workspace).await.unwrap();
    let ids: Vec<_> = listed.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![a.metadata.id, b.metadata.id]);
    assert_eq!(listed[1].status(kit.clock.now()), KeyStatus::Revoked);
    let json = serde_json::to_string(&listed).unwrap();
    assert!(!json.contains(a.expose_token()) && !json.contains("hash"));
}

#[tokio::test]
async fn debug_output_of_issued_keys_and_principals_holds_no_secret() {
    let kit = kit();
    let issued = kit.issue(Environment::Production, &["jobs:create"]).await;
    let token = issued.expose_token();
    let secret = &token[token.len() - 6 - vault_core::keys::SECRET_LEN..token.len() - 6];
    let principal = kit.keys.verify(token, &create_jobs()).await.unwrap();
    for shown in [
        format!("{issued:?}"),
        format!("{issued:#?}"),
        format!("{principal:?}"),
        format!("{:?}", kit.keys),
    ] {
        assert!(!shown.contains(secret), "secret leaked in {shown}");
        assert!(!shown.contains(token));
    }
    assert!(format!("{issued:?}").contains("[redacted]"));
}

#[tokio::test]
async fn a_store_failure_is_unavailable_not_invalid() {
    use async_trait::async_trait;
    use vault_core::{KeyId, KeyStore, keys::KeyRecord};

    struct Down;
    #[async_trait]
    impl KeyStore for Down {
        async fn insert_key(&self, _: KeyRecord) -> Result<(), Error> {
            Err(Error::StoreUnavailable("down".into()))
        }
        async fn find_key(&self, _: &KeyId) -> Result<Option<Arc<KeyRecord>>, Error> {
            Err(Error::StoreUnavailable("down".into()))
        }
        async fn list_keys(&self, _: WorkspaceId) -> Result<Vec<Arc<KeyRecord>>, Error> {
            Err(Error::StoreUnavailable("down".into()))
        }
        async fn revoke_key(
            &self,
            _: &KeyId,
            _: time::OffsetDateTime,
        ) -> Result<Option<Arc<KeyRecord>>, Error> {
            Err(Error::StoreUnavailable("down".into()))
        }
        async fn rotate_key(
            &self,
            _: &KeyId,
            _: time::OffsetDateTime,
            _: KeyRecord,
        ) -> Result<(), Error> {
            Err(Error::StoreUnavailable("down".into()))
        }
    }

    let pepper = Pepper::generate().unwrap();
    let healthy = kit();
    let issued = healthy
        .issue(Environment::Production, &["jobs:create"])
        .await;
    let down = ApiKeys::builder(Arc::new(Down), &pepper).build();
    assert_eq!(
        down.verify(issued.expose_token(), &create_jobs())
            .await
            .unwrap_err(),
        AuthError::Unavailable
    );
    // Malformed input is still refused without asking the store.
    assert!(matches!(
        down.verify("garbage", &create_jobs()).await.unwrap_err(),
        AuthError::InvalidKey(InvalidKeyReason::Malformed(_))
    ));
}

#[tokio::test]
async fn concurrent_issues_never_collide() {
    let kit = kit();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let keys = kit.keys.clone();
        let new = kit.new_key(Environment::Production, &["jobs:read"]);
        tasks.push(tokio::spawn(async move {
            keys.issue(new).await.unwrap().metadata.id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 64);
    assert_eq!(kit.keys.list(kit.workspace).await.unwrap().len(), 64);
}

fn crc32(bytes: &[u8]) -> u32 {
    // Bitwise CRC-32 (IEEE), written out so the test does not trust the crate under test.
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn base62_6(mut n: u32) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}
