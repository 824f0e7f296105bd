//! What a route demands of a key: a product, the environments it serves, maybe a permission.

use crate::environment::{Environment, EnvironmentSet};
use crate::ids::ProductId;
use crate::permission::Permission;

/// The requirement a protected route places on the presented key.
///
/// ```
/// use vault_core::{Environment, Requirement};
///
/// let create_jobs = Requirement::new("submit".parse()?, Environment::Production)
///     .with_permission("jobs:create".parse()?);
/// assert_eq!(create_jobs.permission().map(|p| p.as_str()), Some("jobs:create"));
/// # Ok::<(), vault_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    product: ProductId,
    environments: EnvironmentSet,
    permission: Option<Permission>,
}

impl Requirement {
    /// Keys of `product` in one of `environments`, with no particular permission.
    pub fn new(product: ProductId, environments: impl Into<EnvironmentSet>) -> Self {
        Self {
            product,
            environments: environments.into(),
            permission: None,
        }
    }

    /// The same requirement, also demanding `permission`.
    pub fn with_permission(mut self, permission: Permission) -> Self {
        self.permission = Some(permission);
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

    /// The permission demanded, if any.
    pub fn permission(&self) -> Option<&Permission> {
        self.permission.as_ref()
    }
}
