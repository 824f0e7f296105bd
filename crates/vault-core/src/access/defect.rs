//! [`AccessDefect`]: why an access operation was refused, one variant per refusal.

/// Why an access operation was refused. Carried by [`crate::Error::Access`].
///
/// The variants name the rule that refused, so an adapter can map them to answers (403 for
/// [`Self::NotAllowed`], 404 for [`Self::NotAMember`], ...) without parsing messages.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessDefect {
    /// The acting user is not a member of the workspace (or the workspace does not exist:
    /// the two are not told apart, so ids cannot be probed).
    #[error("you are not a member of this workspace")]
    NotAMember,
    /// The user acted on is not a member of the workspace.
    #[error("that user is not a member of this workspace")]
    UserNotAMember,
    /// The user is already a member of the workspace.
    #[error("that user is already a member of this workspace")]
    AlreadyMember,
    /// The acting user's workspace role is too low for this (or the target's role is higher
    /// than theirs).
    #[error("your workspace role does not allow this")]
    NotAllowed,
    /// The workspace would be left without an owner.
    #[error("the last owner of a workspace can neither leave nor be demoted")]
    LastOwner,
    /// The invitation token is malformed or matches no invitation.
    #[error("the invitation is not valid")]
    InvitationUnknown,
    /// The invitation's expiry has passed.
    #[error("the invitation has expired")]
    InvitationExpired,
    /// The invitation was revoked.
    #[error("the invitation was revoked")]
    InvitationRevoked,
    /// The invitation was already accepted (invitations are single use).
    #[error("the invitation was already used")]
    InvitationUsed,
    /// The invitation was sent to another email address than the accepting account's.
    #[error("the invitation is for another account")]
    InvitationForAnotherAccount,
    /// The workspace does not subscribe to the product, or the product is deactivated.
    #[error("the workspace does not subscribe to this product")]
    ProductNotSubscribed,
    /// The product is not in the catalogue.
    #[error("unknown product")]
    ProductUnknown,
    /// The role is not a role of the product (or not a workspace role).
    #[error("unknown role")]
    RoleUnknown,
    /// The group does not exist in this workspace.
    #[error("unknown group")]
    GroupUnknown,
    /// The workspace's policy requires two-factor authentication for this, and the session
    /// did not pass it.
    #[error("two-factor authentication is required for this")]
    TwoFactorRequired,
    /// No grant gives the user a role holding the permission (for a check, or a key asking
    /// for more than its issuer holds).
    #[error("you do not hold this permission")]
    PermissionNotHeld,
    /// The API key belongs to another workspace than the one named.
    #[error("unknown API key")]
    KeyUnknown,
    /// A workspace or group name is empty, longer than 100 characters or holds control
    /// characters.
    #[error("invalid name: use 1 to 100 characters without control characters")]
    InvalidName,
    /// Another group of the workspace has this name.
    #[error("the name is taken")]
    NameTaken,
    /// Not an email address.
    #[error("invalid email address")]
    InvalidEmail,
}

impl From<AccessDefect> for crate::Error {
    fn from(defect: AccessDefect) -> Self {
        crate::Error::Access(defect)
    }
}
