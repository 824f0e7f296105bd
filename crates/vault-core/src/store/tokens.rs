//! Rows of single-use account tokens (mailed links and codes).

use async_trait::async_trait;

use crate::Error;
use crate::accounts::{SecretHash, TokenPurpose, TokenRecord};
use crate::ids::UserId;

/// Single-use tokens, keyed by the hash of the token.
#[async_trait]
pub trait TokenRows: Send {
    /// The token with this hash, live or not.
    async fn token(&mut self, hash: &SecretHash) -> Result<Option<TokenRecord>, Error>;

    /// The user's tokens of `purpose`, live or not, in no particular order.
    async fn tokens_of(
        &mut self,
        user: UserId,
        purpose: TokenPurpose,
    ) -> Result<Vec<TokenRecord>, Error>;

    /// Stores the token, replacing the one with its hash.
    async fn put_token(&mut self, token: &TokenRecord) -> Result<(), Error>;

    /// Deletes the token with this hash; whether it was there. Of two transactions deleting
    /// one token, exactly one sees `true` (the single use of a link rests on it).
    async fn delete_token(&mut self, hash: &SecretHash) -> Result<bool, Error>;

    /// Deletes every token that expired before `now`, whoever's; how many there were.
    async fn delete_expired_tokens(&mut self, now: time::OffsetDateTime) -> Result<u32, Error>;

    /// Deletes every token of `purpose` of the user; how many there were.
    async fn delete_tokens_of(&mut self, user: UserId, purpose: TokenPurpose)
    -> Result<u32, Error>;
}
