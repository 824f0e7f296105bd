//! API keys: the token format, secret hashing, stored records and the [`ApiKeys`] service.

pub(crate) mod base62;
mod hash;
mod record;
mod service;
mod token;
mod usage;

pub use hash::{KeyHash, KeyHasher, Pepper};
pub use record::{IssuedKey, KeyMetadata, KeyRecord, KeyStatus, NewKey};
pub use service::{ApiKeys, ApiKeysBuilder, VerifyKey};
pub use token::{KeyPrefix, KeyToken, SECRET_LEN, TokenDefect, contains_token};
pub use usage::UsageRecorder;
