//! The one error type of `vault-sqlx`, and its mapping into [`vault_core::Error`] at the store
//! trait boundary: an unreachable or overloaded database is `StoreUnavailable` (a 503 with
//! `Retry-After` on the verification path), a taken identity is `Conflict`, the rest `Store`.

use vault_core::Error;

/// An error of a SQL store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The URL names no supported backend (`sqlite:` or `postgres:`/`postgresql:`).
    #[error("unsupported database URL scheme {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// The URL could not be parsed by the driver.
    #[error("invalid database URL")]
    InvalidUrl(#[source] sqlx::Error),
    /// [`crate::StoreOptions::postgres_schema`] is not a lowercase identifier.
    #[error("invalid PostgreSQL schema name {0:?}: use [a-z_][a-z0-9_]*, at most 63 characters")]
    InvalidSchema(String),
    /// The embedded migrations failed.
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A record with the same identity exists (a key id, an email, a token, a session).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A stored value cannot be read back into the domain (a corrupt or foreign row).
    #[error("corrupt row in {table}: {reason}")]
    Corrupt {
        /// The table read.
        table: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A timestamp outside what the store keeps (Unix nanoseconds in 64 bits: 1678 to 2262).
    #[error("timestamp out of the storable range")]
    TimestampOutOfRange,
    /// A write was asked of a read view ([`vault_core::store::Store::read`]).
    #[error("a read view cannot write")]
    ReadView,
    /// The driver failed (connection, timeout, query).
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// No answer within the store call's deadline ([`crate::StoreOptions::deadline`]): the
    /// database is stalled, or the link to it stopped forwarding.
    #[error("no answer from the database within {0:?}")]
    DeadlinePassed(std::time::Duration),
}

impl SqlError {
    /// Whether the failure means "the database is not reachable or too busy now; retry later"
    /// rather than a fault of the request or the data.
    pub fn is_unavailable(&self) -> bool {
        let err = match self {
            SqlError::Database(err) => err,
            SqlError::DeadlinePassed(_) => return true,
            _ => return false,
        };
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| unavailable_code(&code)),
            _ => false,
        }
    }

    pub(crate) fn corrupt(table: &'static str, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            table,
            reason: reason.into(),
        }
    }
}

/// Database error codes that mean "not now" rather than "never".
fn unavailable_code(code: &str) -> bool {
    // PostgreSQL SQLSTATE: 08 connection exceptions, 53 insufficient resources, 57014 query
    // cancelled (statement_timeout), 57P0x shutdown, 40001/40P01 serialization and deadlock.
    if code.len() == 5 && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57")
            || code == "40001"
            || code == "40P01";
    }
    // SQLite (extended) result codes: SQLITE_BUSY (5) and SQLITE_LOCKED (6).
    code.parse::<i32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
}

impl From<SqlError> for Error {
    fn from(err: SqlError) -> Self {
        match err {
            SqlError::Conflict(what) => Error::Conflict(what.to_owned()),
            err if err.is_unavailable() => Error::StoreUnavailable(Box::new(err)),
            err => Error::Store(Box::new(err)),
        }
    }
}

/// A unique constraint of the schema, as each backend names it in a violation.
pub(crate) struct Unique {
    /// What is taken, for the error.
    pub(crate) what: &'static str,
    /// PostgreSQL's name of the constraint.
    pub(crate) postgres: &'static str,
    /// SQLite's `table.column, …` after "UNIQUE constraint failed: ".
    pub(crate) sqlite: &'static str,
}

impl Unique {
    /// Maps a violation of this constraint (and of no other) to [`SqlError::Conflict`].
    pub(crate) fn or_conflict(&'static self) -> impl FnOnce(SqlError) -> SqlError {
        move |err| match &err {
            SqlError::Database(sqlx::Error::Database(db))
                if db.is_unique_violation() && self.names(&**db) =>
            {
                SqlError::Conflict(self.what)
            }
            _ => err,
        }
    }

    fn names(&self, db: &dyn sqlx::error::DatabaseError) -> bool {
        match db.constraint() {
            Some(name) => name == self.postgres,
            // SQLite reports no constraint name, only the columns in its message.
            None => db.message().strip_prefix("UNIQUE constraint failed: ") == Some(self.sqlite),
        }
    }
}

/// Maps a unique violation to [`SqlError::Conflict`], leaving other errors as they are.
pub(crate) fn conflict_on_unique(what: &'static str) -> impl FnOnce(sqlx::Error) -> SqlError {
    move |err| conflict_if_unique(what)(SqlError::Database(err))
}

/// [`conflict_on_unique`] for an error already in this crate's type.
pub(crate) fn conflict_if_unique(what: &'static str) -> impl FnOnce(SqlError) -> SqlError {
    move |err| match &err {
        SqlError::Database(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            SqlError::Conflict(what)
        }
        _ => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_lost_connections_are_unavailable() {
        assert!(SqlError::Database(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(SqlError::Database(sqlx::Error::PoolClosed).is_unavailable());
        assert!(SqlError::DeadlinePassed(std::time::Duration::from_secs(2)).is_unavailable());
        assert!(unavailable_code("57014"), "statement_timeout");
        assert!(unavailable_code("08006"));
        assert!(unavailable_code("5"), "SQLITE_BUSY");
        assert!(unavailable_code("517"), "SQLITE_BUSY_SNAPSHOT");
        assert!(!unavailable_code("23505"), "unique violation");
        assert!(!unavailable_code("19"), "SQLITE_CONSTRAINT");
        assert!(!SqlError::Conflict("email").is_unavailable());
    }

    #[test]
    fn conflicts_map_to_the_core_conflict() {
        assert!(matches!(
            Error::from(SqlError::Conflict("key id")),
            Error::Conflict(_)
        ));
        assert!(matches!(
            Error::from(SqlError::Database(sqlx::Error::PoolTimedOut)),
            Error::StoreUnavailable(_)
        ));
        assert!(matches!(
            Error::from(SqlError::TimestampOutOfRange),
            Error::Store(_)
        ));
    }
}
