//! The outcome of checking a presented key: a [`Principal`] (who is calling, with what
//! rights) or an [`AuthError`] (why not). Adapters map the latter with [`crate::rejection`].

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::environment::Environment;
use crate::ids::{KeyId, ProductId, UserId, WorkspaceId};
use crate::keys::{KeyRecord, TokenDefect};
use crate::permission::{Permission, PermissionSet};

/// An authenticated caller: the key that was presented and what it may do.
/// Cheap to clone (it shares the verified record).
#[derive(Clone)]
pub struct Principal {
    record: Arc<KeyRecord>,
}

impl Principal {
    pub(crate) fn new(record: Arc<KeyRecord>) -> Self {
        Self { record }
    }

    /// The key's public id.
    pub fn key_id(&self) -> KeyId {
        self.record.metadata.id
    }

    /// The key's name.
    pub fn key_name(&self) -> &str {
        &self.record.metadata.name
    }

    /// The workspace the call acts for.
    pub fn workspace_id(&self) -> WorkspaceId {
        self.record.metadata.workspace_id
    }

    /// The product the key belongs to.
    pub fn product(&self) -> &ProductId {
        &self.record.metadata.product
    }

    /// The key's environment.
    pub fn environment(&self) -> Environment {
        self.record.metadata.environment
    }

    /// Every permission the key holds.
    pub fn permissions(&self) -> &PermissionSet {
        &self.record.metadata.permissions
    }

    /// Whether the key holds `permission` (directly or through a wildcard).
    pub fn has_permission(&self, permission: &Permission) -> bool {
        self.record.metadata.permissions.allows(permission)
    }

    /// The user who issued the key.
    pub fn created_by(&self) -> UserId {
        self.record.metadata.created_by
    }

    /// When the key stops working, if ever.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.record.metadata.expires_at
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.record.metadata;
        f.debug_struct("Principal")
            .field("key_id", &m.id)
            .field("workspace_id", &m.workspace_id)
            .field("product", &m.product)
            .field("environment", &m.environment)
            .field("permissions", &m.permissions)
            .field("created_by", &m.created_by)
            .finish()
    }
}

/// Why an `Authorization` header was refused before any key was looked at.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderDefect {
    /// The scheme is not `Bearer` (e.g. `Basic`).
    #[error("the scheme is not Bearer")]
    NotBearer,
    /// Nothing follows the scheme.
    #[error("no token follows the scheme")]
    EmptyToken,
    /// Characters outside the token68 set, or a tab where a space belongs.
    #[error("the header holds characters a bearer token cannot")]
    BadCharacters,
    /// More than one `Authorization` header.
    #[error("more than one Authorization header")]
    SeveralHeaders,
    /// Longer than the limit.
    #[error("the header is too long")]
    TooLong,
}

/// Why a presented key is invalid. Callers see one answer (`invalid_api_key`); the reason
/// is for logs and the audit trail.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum InvalidKeyReason {
    /// Not a key of this library (format, checksum).
    Malformed(TokenDefect),
    /// No key with this id.
    UnknownKey,
    /// The id exists but the secret does not match.
    WrongSecret,
    /// The key was revoked.
    Revoked,
}

/// The verdict against a request, in the order it is decided. Every variant maps to one row of
/// the rejection table (see [`crate::rejection`]).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("no API key was presented")]
    MissingKey,
    /// The header is not a well-formed bearer credential.
    #[error("malformed Authorization header: {0}")]
    MalformedHeader(HeaderDefect),
    /// Unknown key, bad checksum, wrong secret or revoked.
    #[error("the API key is not valid")]
    InvalidKey(InvalidKeyReason),
    /// The key's expiry (or rotation overlap) has passed.
    #[error("the API key has expired")]
    ExpiredKey,
    /// The key belongs to an environment this route does not serve.
    #[error("the API key belongs to another environment")]
    WrongEnvironment,
    /// The key belongs to another product.
    #[error("the API key belongs to another product")]
    WrongProduct,
    /// A valid key without some permission the route needs. It carries every permission the
    /// route needs (the challenge's `scope`), not only those the key lacks.
    #[error("{}", lacks(.0))]
    InsufficientPermission(PermissionSet),
    /// The key store could not be reached: try again later.
    #[error("authentication is temporarily unavailable")]
    Unavailable,
}

fn lacks(required: &PermissionSet) -> String {
    if required.len() == 1 {
        format!("the API key lacks the permission {required}")
    } else {
        format!("the API key lacks some of the permissions {required}")
    }
}

impl AuthError {
    /// The stable machine-readable code of the verdict (the problem body's `code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingKey => "missing_api_key",
            Self::MalformedHeader(_) => "malformed_authorization",
            Self::InvalidKey(_) => "invalid_api_key",
            Self::ExpiredKey => "expired_api_key",
            Self::WrongEnvironment => "wrong_environment",
            Self::WrongProduct => "wrong_product",
            Self::InsufficientPermission(_) => "insufficient_permission",
            Self::Unavailable => "auth_unavailable",
        }
    }
}
