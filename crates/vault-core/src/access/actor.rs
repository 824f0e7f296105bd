//! [`Actor`]: who is calling, as vault-core verified it.

use crate::ids::UserId;

/// The signed-in user on whose behalf an access call is made, and whether their session
/// passed two-factor authentication.
///
/// Only vault-core builds one, from a handle it verified: a session token checked by
/// [`crate::accounts::Accounts::actor`]. Its fields are private, so no caller can claim the
/// 2FA bit that workspace policies trust. Tests build one with `vault_core::testing::actor`
/// (feature `test-util`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Actor {
    user_id: UserId,
    two_factor_passed: bool,
}

impl Actor {
    /// An actor for `user_id`: for vault-core's verified paths only.
    pub(crate) fn new(user_id: UserId, two_factor_passed: bool) -> Self {
        Self {
            user_id,
            two_factor_passed,
        }
    }

    /// The acting user.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// Whether the session passed 2FA (workspace policies may require it).
    pub fn two_factor_passed(&self) -> bool {
        self.two_factor_passed
    }
}
