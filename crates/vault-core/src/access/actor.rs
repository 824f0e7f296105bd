//! [`Actor`]: who is calling, as the sessions code knows it.

use crate::ids::UserId;

/// The signed-in user on whose behalf an access call is made, and whether their session
/// passed two-factor authentication. The sessions code builds it; this module only reads it,
/// so access never depends on how sessions are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Actor {
    /// The acting user.
    pub user_id: UserId,
    /// Whether the session passed 2FA (workspace policies may require it).
    pub two_factor_passed: bool,
}

impl Actor {
    /// An actor for `user_id`.
    pub fn new(user_id: UserId, two_factor_passed: bool) -> Self {
        Self {
            user_id,
            two_factor_passed,
        }
    }
}
