//! Access: workspaces, members, invitations, groups, products, subscriptions, grants, and who
//! may mint which key. (Issue 5; in progress.)

/// Why an access operation was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessDefect {}
