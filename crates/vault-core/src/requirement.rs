//! What a route demands of a key: a product, the environments it serves, and the permissions
//! it needs (all of them; none by default).

use crate::environment::{Environment, EnvironmentSet};
use crate::ids::ProductId;
use crate::permission::{Permission, PermissionSet};

/// The requirement a protected route places on the presented key. A key must hold every
/// permission of it (directly or through a wildcard).
///
/// ```
/// use vault_core::{Environment, Requirement};
///
/// let create_jobs = Requirement::new("submit".parse()?, Environment::Production)
///     .with_permission("jobs:create".parse()?);
/// let names: Vec<&str> = create_jobs.permissions().iter().map(|p| p.as_str()).collect();
/// assert_eq!(names, ["jobs:create"]);
///
/// // Each call adds one: this route needs both.
/// let move_jobs = create_jobs.with_permission("jobs:delete".parse()?);
/// assert_eq!(move_jobs.permissions().to_string(), "jobs:create jobs:delete");
/// # Ok::<(), vault_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    product: ProductId,
    environments: EnvironmentSet,
    // Sorted and deduplicated; built once at configuration, only read per request.
    permissions: PermissionSet,
}

impl Requirement {
    /// Keys of `product` in one of `environments`, with no particular permission.
    pub fn new(product: ProductId, environments: impl Into<EnvironmentSet>) -> Self {
        Self {
            product,
            environments: environments.into(),
            permissions: PermissionSet::new(),
        }
    }

    /// The same requirement, also demanding `permission` (beside those it already demands).
    pub fn with_permission(mut self, permission: Permission) -> Self {
        self.permissions.insert(permission);
        self
    }

    /// The same requirement, in other environments.
    pub fn with_environments(mut self, environments: impl Into<EnvironmentSet>) -> Self {
        self.environments = environments.into();
        self
    }

    /// The product.
    pub fn product(&self) -> &ProductId {
        &self.product
    }

    /// The accepted environments.
    pub fn environments(&self) -> EnvironmentSet {
        self.environments
    }

    /// Whether keys of `env` are accepted.
    pub fn accepts(&self, env: Environment) -> bool {
        self.environments.contains(env)
    }

    /// The permissions demanded (every one of them); empty when the route needs none.
    pub fn permissions(&self) -> &PermissionSet {
        &self.permissions
    }
}
