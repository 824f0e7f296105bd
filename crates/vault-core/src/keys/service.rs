//! [`ApiKeys`]: issue, verify, rotate, revoke and list keys over a [`KeyStore`].

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use crate::Error;
use crate::access::SubscriptionCheck;
use crate::clock::{Clock, SystemClock};
use crate::ids::{KeyId, WorkspaceId};
use crate::keys::hash::{KeyHasher, Pepper};
use crate::keys::record::{IssuedKey, KeyMetadata, KeyRecord, KeyStatus, NewKey};
use crate::keys::token::{self, KeyPrefix, KeyToken};
use crate::keys::usage::UsageRecorder;
use crate::requirement::Requirement;
use crate::store::KeyStore;
use crate::verdict::{AuthError, InvalidKeyReason, Principal};

/// Turns a presented token into a verdict for a route. [`ApiKeys`] is the implementation;
/// adapters (`vault-tower`, `vault-actix`) are generic over this trait.
#[async_trait]
pub trait VerifyKey: Send + Sync + 'static {
    /// Checks `token` against `requirement`.
    async fn verify(&self, token: &str, requirement: &Requirement) -> Result<Principal, AuthError>;
}

/// The API key service. Cheap to clone: clones share one store, clock and hasher.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), vault_core::Error> {
/// use std::sync::Arc;
/// use vault_core::{ApiKeys, Environment, MemoryStore, NewKey, Pepper, PermissionSet, Requirement, UserId, WorkspaceId};
///
/// let keys = ApiKeys::builder(Arc::new(MemoryStore::new()), &Pepper::generate()?).build();
/// let issued = keys
///     .issue(NewKey {
///         workspace_id: WorkspaceId::random(),
///         product: "submit".parse()?,
///         environment: Environment::Production,
///         permissions: PermissionSet::parse(["jobs:create"])?,
///         name: "CI".into(),
///         created_by: UserId::random(),
///         expires_at: None,
///     })
///     .await?;
/// let route = Requirement::new("submit".parse()?, Environment::Production)
///     .with_permission("jobs:create".parse()?);
/// let caller = keys.verify(issued.expose_token(), &route).await.expect("valid key");
/// assert_eq!(caller.key_id(), issued.metadata.id);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ApiKeys {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    hasher: KeyHasher,
    prefix: KeyPrefix,
    subscriptions: Option<Arc<dyn SubscriptionCheck>>,
    usage: Option<UsageRecorder>,
}

/// Configures an [`ApiKeys`] service.
pub struct ApiKeysBuilder {
    store: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    hasher: KeyHasher,
    prefix: KeyPrefix,
    subscriptions: Option<Arc<dyn SubscriptionCheck>>,
    usage: Option<UsageRecorder>,
}

impl ApiKeysBuilder {
    /// Uses `clock` instead of the system clock (tests move time with [`crate::ManualClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Uses another vendor prefix for new keys and for parsing (default `vlt`).
    pub fn prefix(mut self, prefix: KeyPrefix) -> Self {
        self.prefix = prefix;
        self
    }

    /// Makes verification ask `check` whether the key's workspace has the key's product
    /// active (after the product check): keys of a deactivated product answer
    /// [`AuthError::WrongProduct`] until it is active again. One extra lookup per
    /// verification; none without this hook. See [`crate::access::StoreSubscriptions`].
    pub fn subscriptions(mut self, check: Arc<dyn SubscriptionCheck>) -> Self {
        self.subscriptions = Some(check);
        self
    }

    /// Hands every accepted verification's key id and time to `recorder`, for a writer that
    /// stores `last_used_at` in batches off the request path (for SQL,
    /// `vault_sqlx::SqlStore::spawn_usage_flusher`). Recording is a map insert: no store
    /// write, no `.await`. Without a recorder, verification records nothing.
    pub fn usage(mut self, recorder: UsageRecorder) -> Self {
        self.usage = Some(recorder);
        self
    }

    /// Builds the service.
    pub fn build(self) -> ApiKeys {
        ApiKeys {
            inner: Arc::new(Inner {
                store: self.store,
                clock: self.clock,
                hasher: self.hasher,
                prefix: self.prefix,
                subscriptions: self.subscriptions,
                usage: self.usage,
            }),
        }
    }
}

const MAX_NAME_CHARS: usize = 100;
/// Attempts at a fresh key id before giving up (a collision of 71 random bits is already
/// astronomically unlikely; this only guards against a broken store).
const ISSUE_ATTEMPTS: usize = 3;

fn validate_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::InvalidKeyName("it is empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::InvalidKeyName("it is longer than 100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidKeyName("it holds control characters"));
    }
    Ok(name.to_owned())
}

impl ApiKeys {
    /// Starts configuring a service over `store`, hashing under `pepper`.
    pub fn builder(store: Arc<dyn KeyStore>, pepper: &Pepper) -> ApiKeysBuilder {
        ApiKeysBuilder {
            store,
            clock: Arc::new(SystemClock),
            hasher: KeyHasher::new(pepper),
            prefix: KeyPrefix::default(),
            subscriptions: None,
            usage: None,
        }
    }

    /// The vendor prefix of this service's keys.
    pub fn prefix(&self) -> &KeyPrefix {
        &self.inner.prefix
    }

    /// The clock the service decides expiry by.
    pub fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// Issues a key. The returned token is shown exactly once; only its hash is stored.
    pub async fn issue(&self, new: NewKey) -> Result<IssuedKey, Error> {
        let name = validate_name(&new.name)?;
        let now = self.now();
        if new.expires_at.is_some_and(|at| at <= now) {
            return Err(Error::ExpiryNotInFuture);
        }
        let metadata = KeyMetadata {
            id: KeyId::random()?,
            name,
            workspace_id: new.workspace_id,
            product: new.product,
            environment: new.environment,
            permissions: new.permissions,
            created_by: new.created_by,
            created_at: now,
            expires_at: new.expires_at,
            revoked_at: None,
            last_used_at: None,
            rotated_from: None,
        };
        let issued = self.insert_fresh(metadata, |store, record| {
            Box::pin(async move { store.insert_key(record).await })
        });
        let issued = issued.await?;
        let m = &issued.metadata;
        tracing::info!(
            key_id = %m.id, workspace_id = %m.workspace_id, product = %m.product,
            environment = %m.environment, "api key issued"
        );
        Ok(issued)
    }

    /// Generates a token for `metadata` (under a fresh id) and stores it with `insert`,
    /// retrying with another id on the (practically impossible) id conflict.
    async fn insert_fresh<F>(
        &self,
        mut metadata: KeyMetadata,
        insert: F,
    ) -> Result<IssuedKey, Error>
    where
        F: Fn(
            Arc<dyn KeyStore>,
            KeyRecord,
        ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>,
    {
        let mut last = None;
        for _ in 0..ISSUE_ATTEMPTS {
            let generated = token::generate(&self.inner.prefix, metadata.environment)?;
            metadata.id = generated.key_id;
            let record = KeyRecord {
                metadata: metadata.clone(),
                secret_hash: self.inner.hasher.hash(generated.secret()),
            };
            match insert(Arc::clone(&self.inner.store), record).await {
                Ok(()) => {
                    return Ok(IssuedKey {
                        metadata,
                        token: generated.token,
                    });
                }
                Err(Error::Conflict(reason)) => last = Some(Error::Conflict(reason)),
                Err(other) => return Err(other),
            }
        }
        Err(last.unwrap_or(Error::Randomness))
    }

    /// Checks a presented token against a route's requirement.
    ///
    /// Verdicts come in the order of the rejection table: malformed or wrong checksum and a
    /// wrong environment tag are refused before any store lookup; then unknown key, wrong
    /// secret (constant-time), revoked, expired, the stored environment, product, permission.
    pub async fn verify(
        &self,
        token: &str,
        requirement: &Requirement,
    ) -> Result<Principal, AuthError> {
        let parsed = match KeyToken::parse(token, &self.inner.prefix) {
            Ok(parsed) => parsed,
            Err(defect) => {
                tracing::debug!(verdict = "invalid_api_key", reason = %defect, "api key refused");
                return Err(AuthError::InvalidKey(InvalidKeyReason::Malformed(defect)));
            }
        };
        let verdict = self.decide(&parsed, requirement).await;
        let key_id = parsed.key_id();
        match &verdict {
            Ok(_) => {
                tracing::debug!(key_id = %key_id, verdict = "accepted", "api key verified");
                if let Some(usage) = &self.inner.usage {
                    usage.record(key_id, self.inner.clock.now());
                }
            }
            Err(AuthError::InvalidKey(InvalidKeyReason::Revoked)) => {
                // The caller hears "invalid"; the audit trail hears the truth.
                tracing::warn!(key_id = %key_id, verdict = "invalid_api_key", reason = "revoked", "revoked api key used");
            }
            Err(err) => tracing::debug!(key_id = %key_id, verdict = err.code(), "api key refused"),
        }
        verdict
    }

    async fn decide(
        &self,
        parsed: &KeyToken<'_>,
        requirement: &Requirement,
    ) -> Result<Principal, AuthError> {
        let inner = &*self.inner;
        if !requirement.accepts(parsed.environment()) {
            return Err(AuthError::WrongEnvironment);
        }
        let record = match inner.store.find_key_now(&parsed.key_id()) {
            Some(record) => record,
            None => inner
                .store
                .find_key(&parsed.key_id())
                .await
                .map_err(|err| {
                    tracing::error!(error = %err, "key store failed during verification");
                    AuthError::Unavailable
                })?
                .ok_or(AuthError::InvalidKey(InvalidKeyReason::UnknownKey))?,
        };
        self.judge(parsed, &record, requirement)?;
        if let Some(subscriptions) = &inner.subscriptions {
            let m = &record.metadata;
            let active = subscriptions
                .is_active(m.workspace_id, &m.product)
                .await
                .map_err(|err| {
                    tracing::error!(error = %err, "subscription check failed during verification");
                    AuthError::Unavailable
                })?;
            if !active {
                // The product is switched off in this workspace: the key is for a product
                // the caller may not use here.
                return Err(AuthError::WrongProduct);
            }
        }
        // No allocation unless refused: the answer names every permission the route needs.
        let needed = requirement.permissions();
        if !record.metadata.permissions.allows_all(needed) {
            return Err(AuthError::InsufficientPermission(needed.clone()));
        }
        Ok(Principal::new(record))
    }

    /// The synchronous part of the verdict, in the table's order: secret, revoked, expired,
    /// environment, product.
    fn judge(
        &self,
        parsed: &KeyToken<'_>,
        record: &KeyRecord,
        requirement: &Requirement,
    ) -> Result<(), AuthError> {
        let inner = &*self.inner;
        if !inner.hasher.matches(parsed.secret(), &record.secret_hash) {
            return Err(AuthError::InvalidKey(InvalidKeyReason::WrongSecret));
        }
        let m = &record.metadata;
        if m.revoked_at.is_some() {
            return Err(AuthError::InvalidKey(InvalidKeyReason::Revoked));
        }
        // The clock is read only for keys that can expire: most keys never do.
        if let Some(expires_at) = m.expires_at
            && expires_at <= inner.clock.now()
        {
            return Err(AuthError::ExpiredKey);
        }
        if !requirement.accepts(m.environment) {
            return Err(AuthError::WrongEnvironment);
        }
        if m.product != *requirement.product() {
            return Err(AuthError::WrongProduct);
        }
        Ok(())
    }

    /// Rotates a key: issues its successor (same scope, same expiry) and lets the old key work
    /// until `overlap` has passed (never past its own expiry); after that it is expired.
    pub async fn rotate(&self, id: &KeyId, overlap: Duration) -> Result<IssuedKey, Error> {
        if overlap.is_negative() {
            return Err(Error::NegativeOverlap);
        }
        let old = self
            .inner
            .store
            .find_key(id)
            .await?
            .ok_or(Error::KeyNotFound(*id))?;
        let now = self.now();
        match old.metadata.status(now) {
            KeyStatus::Revoked => return Err(Error::KeyRevoked(*id)),
            KeyStatus::Expired => return Err(Error::KeyExpired(*id)),
            KeyStatus::Active => {}
        }
        let overlap_end = now + overlap;
        let old_expires_at = old
            .metadata
            .expires_at
            .map_or(overlap_end, |own| own.min(overlap_end));
        let metadata = KeyMetadata {
            created_at: now,
            revoked_at: None,
            last_used_at: None,
            rotated_from: Some(*id),
            ..old.metadata.clone()
        };
        let old_id = *id;
        let issued = self
            .insert_fresh(metadata, move |store, record| {
                Box::pin(async move { store.rotate_key(&old_id, old_expires_at, record).await })
            })
            .await?;
        tracing::info!(
            key_id = %issued.metadata.id, rotated_from = %id,
            old_valid_until = %old_expires_at, "api key rotated"
        );
        Ok(issued)
    }

    /// Revokes a key at once. Revoking twice keeps the first time.
    pub async fn revoke(&self, id: &KeyId) -> Result<KeyMetadata, Error> {
        let record = self
            .inner
            .store
            .revoke_key(id, self.now())
            .await?
            .ok_or(Error::KeyNotFound(*id))?;
        tracing::info!(key_id = %id, "api key revoked");
        Ok(record.metadata.clone())
    }

    /// The metadata of one key.
    pub async fn get(&self, id: &KeyId) -> Result<KeyMetadata, Error> {
        let record = self.inner.store.find_key(id).await?;
        record
            .map(|r| r.metadata.clone())
            .ok_or(Error::KeyNotFound(*id))
    }

    /// Every key of a workspace, oldest first: metadata only, never hashes.
    pub async fn list(&self, workspace: WorkspaceId) -> Result<Vec<KeyMetadata>, Error> {
        let records = self.inner.store.list_keys(workspace).await?;
        Ok(records.iter().map(|r| r.metadata.clone()).collect())
    }
}

#[async_trait]
impl VerifyKey for ApiKeys {
    async fn verify(&self, token: &str, requirement: &Requirement) -> Result<Principal, AuthError> {
        ApiKeys::verify(self, token, requirement).await
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}
