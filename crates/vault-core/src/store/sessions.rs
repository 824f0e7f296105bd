//! Rows of sessions, keyed by the hash of the session token.

use async_trait::async_trait;

use crate::Error;
use crate::accounts::{SecretHash, SessionRecord};
use crate::ids::UserId;

/// Sessions.
#[async_trait]
pub trait SessionRows: Send {
    /// The session with this token hash.
    async fn session(&mut self, hash: &SecretHash) -> Result<Option<SessionRecord>, Error>;

    /// Every session of the user, in no particular order.
    async fn sessions_of(&mut self, user: UserId) -> Result<Vec<SessionRecord>, Error>;

    /// Stores the session, replacing the one with its token hash.
    async fn put_session(&mut self, session: &SessionRecord) -> Result<(), Error>;

    /// Deletes the session with this token hash; whether it was there (exactly one of two
    /// concurrent deletes sees `true`).
    async fn delete_session(&mut self, hash: &SecretHash) -> Result<bool, Error>;

    /// Deletes every session of the user but the one with token hash `keep`; how many ended.
    async fn delete_sessions_of(
        &mut self,
        user: UserId,
        keep: Option<&SecretHash>,
    ) -> Result<u32, Error>;
}
