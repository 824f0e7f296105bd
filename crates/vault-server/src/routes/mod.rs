//! The routes, one module per area; each handler only translates.

pub(crate) mod health;
pub(crate) mod keys;
pub(crate) mod members;
pub(crate) mod people;
pub(crate) mod sessions;
pub(crate) mod workspaces;
