//! What is stored about a key (never its secret), and what is handed out once at issue.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use time::OffsetDateTime;

use crate::environment::Environment;
use crate::ids::{KeyId, ProductId, UserId, WorkspaceId};
use crate::keys::hash::KeyHash;
use crate::permission::PermissionSet;

/// The public description of a key: safe to list, log and serialize.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyMetadata {
    /// The public key id (part of the token).
    pub id: KeyId,
    /// A human name ("CI deploys").
    pub name: String,
    /// The workspace that owns the key.
    pub workspace_id: WorkspaceId,
    /// The product the key may call.
    pub product: ProductId,
    /// The environment the key belongs to.
    pub environment: Environment,
    /// What the key may do.
    pub permissions: PermissionSet,
    /// The user who issued it.
    pub created_by: UserId,
    /// When it was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working, if ever. Rotation moves this to the end of the overlap.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// When it was last used to authenticate, if it was (updated off the request path).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// The key this one replaced by rotation.
    pub rotated_from: Option<KeyId>,
}

/// The state of a key at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// It authenticates.
    Active,
    /// Its expiry has passed.
    Expired,
    /// It was revoked.
    Revoked,
}

impl KeyMetadata {
    /// The state of the key at `now`.
    pub fn status(&self, now: OffsetDateTime) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }
}

/// A stored key: its metadata and the hash of its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The public description.
    pub metadata: KeyMetadata,
    /// HMAC-SHA256(pepper, secret).
    pub secret_hash: KeyHash,
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("metadata", &self.metadata)
            .field("secret_hash", &self.secret_hash)
            .finish()
    }
}

/// What to issue: the scope of a new key.
#[derive(Clone, Debug)]
pub struct NewKey {
    /// The owning workspace.
    pub workspace_id: WorkspaceId,
    /// The product it may call.
    pub product: ProductId,
    /// Its environment.
    pub environment: Environment,
    /// What it may do.
    pub permissions: PermissionSet,
    /// A human name: 1 to 100 characters, no control characters.
    pub name: String,
    /// The issuing user.
    pub created_by: UserId,
    /// When it stops working, if ever (must be in the future).
    pub expires_at: Option<OffsetDateTime>,
}

/// A key just issued: its metadata and the full token, shown exactly once.
///
/// `Debug` prints the metadata and `[redacted]`; the token is reachable only through
/// [`IssuedKey::expose_token`].
pub struct IssuedKey {
    /// The key's public description.
    pub metadata: KeyMetadata,
    pub(crate) token: SecretString,
}

impl IssuedKey {
    /// The full key, to hand to the user once. Do not log it.
    pub fn expose_token(&self) -> &str {
        self.token.expose_secret()
    }
}

impl fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedKey")
            .field("metadata", &self.metadata)
            .field("token", &"[redacted]")
            .finish()
    }
}
