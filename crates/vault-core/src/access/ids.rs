//! Identifiers owned by access: groups and invitations.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;

use crate::ids::uuid_id;

uuid_id!(
    /// A group inside a workspace.
    GroupId,
    "group"
);
uuid_id!(
    /// An invitation into a workspace (public: the secret part of the token is separate).
    InvitationId,
    "invitation"
);
