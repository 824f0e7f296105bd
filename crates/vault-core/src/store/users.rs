//! Rows of users (with their two-factor state and recovery codes).

use async_trait::async_trait;

use crate::Error;
use crate::accounts::{Email, User};
use crate::ids::UserId;

/// Users, one row each.
#[async_trait]
pub trait UserRows: Send {
    /// The user with this id.
    async fn user(&mut self, id: UserId) -> Result<Option<User>, Error>;

    /// The user with this normalized email.
    async fn user_by_email(&mut self, email: &Email) -> Result<Option<User>, Error>;

    /// Stores the user, replacing the one with its id. [`Error::Conflict`] if another user has
    /// its normalized email (the store's unique constraint: two sign-ups, one account); the
    /// transaction is then unusable and must be dropped.
    async fn put_user(&mut self, user: &User) -> Result<(), Error>;
}
