//! [`Arg`]: a value bound to a statement of the row traits, in the column types both schemas
//! share (UUID/BLOB ids, BYTEA/BLOB hashes, TEXT, BIGINT/INTEGER numbers and nanosecond
//! timestamps, booleans). Built with `From`, so a statement's values read as one list.

use time::OffsetDateTime;
use uuid::Uuid;
use vault_core::access::{GroupId, InvitationId};
use vault_core::accounts::SecretHash;
use vault_core::{UserId, WorkspaceId};

/// One bound value; `None` binds `NULL`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg<'a> {
    /// A UUID column (BLOB on SQLite).
    Id(Option<Uuid>),
    /// A BYTEA column (BLOB on SQLite).
    Bytes(Option<&'a [u8]>),
    /// A TEXT column.
    Text(Option<&'a str>),
    /// A BIGINT column.
    Int(Option<i64>),
    /// An INTEGER counter or index.
    Count(u32),
    /// A BOOLEAN column (INTEGER on SQLite).
    Bool(bool),
    /// A timestamp, stored as Unix nanoseconds in a BIGINT column.
    Time(Option<OffsetDateTime>),
}

macro_rules! from_id {
    ($($id:ty),*) => {$(
        impl From<$id> for Arg<'_> {
            fn from(id: $id) -> Self {
                Arg::Id(Some(*id.as_uuid()))
            }
        }

        impl From<Option<$id>> for Arg<'_> {
            fn from(id: Option<$id>) -> Self {
                Arg::Id(id.map(|id| *id.as_uuid()))
            }
        }
    )*};
}

from_id!(UserId, WorkspaceId, GroupId, InvitationId);

impl From<Uuid> for Arg<'_> {
    fn from(id: Uuid) -> Self {
        Arg::Id(Some(id))
    }
}

impl<'a> From<&'a SecretHash> for Arg<'a> {
    fn from(hash: &'a SecretHash) -> Self {
        Arg::Bytes(Some(hash.as_bytes()))
    }
}

impl<'a> From<Option<&'a SecretHash>> for Arg<'a> {
    fn from(hash: Option<&'a SecretHash>) -> Self {
        Arg::Bytes(hash.map(|h| h.as_bytes().as_slice()))
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Arg::Bytes(Some(bytes))
    }
}

impl<'a> From<Option<&'a [u8]>> for Arg<'a> {
    fn from(bytes: Option<&'a [u8]>) -> Self {
        Arg::Bytes(bytes)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(text: &'a str) -> Self {
        Arg::Text(Some(text))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(text: Option<&'a str>) -> Self {
        Arg::Text(text)
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(n: Option<i64>) -> Self {
        Arg::Int(n)
    }
}

impl From<u32> for Arg<'_> {
    fn from(n: u32) -> Self {
        Arg::Count(n)
    }
}

impl From<bool> for Arg<'_> {
    fn from(b: bool) -> Self {
        Arg::Bool(b)
    }
}

impl From<OffsetDateTime> for Arg<'_> {
    fn from(at: OffsetDateTime) -> Self {
        Arg::Time(Some(at))
    }
}

impl From<Option<OffsetDateTime>> for Arg<'_> {
    fn from(at: Option<OffsetDateTime>) -> Self {
        Arg::Time(at)
    }
}

/// The values of a statement, each converted into an [`Arg`]: `args![user.id, &user.name]`.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        &[$($crate::arg::Arg::from($value)),*]
    };
}

pub(crate) use args;
