//! The product catalogue the host application registers: products, their roles, and the
//! permissions each role holds. It lives in code (configuration), not in the store.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::access::AccessDefect;
use crate::ids::ProductId;
use crate::permission::PermissionSet;

/// The name of a product role, as a slug: `viewer`, `submitter`, `billing-admin`.
///
/// 1 to 32 characters of `a-z`, `0-9`, `-` and `_`, starting with a letter. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoleName(Arc<str>);

impl RoleName {
    /// Validates a role name.
    pub fn new(name: &str) -> Result<Self, Error> {
        let bytes = name.as_bytes();
        let valid = (1..=32).contains(&bytes.len())
            && bytes[0].is_ascii_lowercase()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_');
        if valid {
            Ok(Self(Arc::from(name)))
        } else {
            Err(AccessDefect::RoleUnknown.into())
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoleName({})", self.0)
    }
}

impl FromStr for RoleName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for RoleName {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        Self::new(&s)
    }
}

impl From<RoleName> for String {
    fn from(name: RoleName) -> String {
        name.0.to_string()
    }
}

/// A role of a product: a name and the permissions it holds. A sensitive role may, by
/// workspace policy, be usable only from a session that passed 2FA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductRole {
    name: RoleName,
    permissions: PermissionSet,
    sensitive: bool,
}

impl ProductRole {
    /// A role named `name` holding `permissions` (`resource:action`, `resource:*` or `*`).
    pub fn new<I, S>(name: &str, permissions: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self {
            name: RoleName::new(name)?,
            permissions: PermissionSet::parse(permissions)?,
            sensitive: false,
        })
    }

    /// Marks the role sensitive (see [`crate::access::TwoFactorPolicy::sensitive_roles`]).
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// The role's name.
    pub fn name(&self) -> &RoleName {
        &self.name
    }

    /// The permissions the role holds.
    pub fn permissions(&self) -> &PermissionSet {
        &self.permissions
    }

    /// Whether the role is sensitive.
    pub fn is_sensitive(&self) -> bool {
        self.sensitive
    }
}

/// A product of the catalogue and its roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    id: ProductId,
    roles: Vec<ProductRole>,
}

impl Product {
    /// A product with no roles yet.
    pub fn new(id: &str) -> Result<Self, Error> {
        Ok(Self {
            id: ProductId::new(id)?,
            roles: Vec::new(),
        })
    }

    /// Adds a role (a second role of the same name is refused by [`Catalog::new`]).
    pub fn role(mut self, role: ProductRole) -> Self {
        self.roles.push(role);
        self
    }

    /// The product's id.
    pub fn id(&self) -> &ProductId {
        &self.id
    }

    /// The product's roles, in the order they were added.
    pub fn roles(&self) -> &[ProductRole] {
        &self.roles
    }

    /// The role named `name`, if the product has it.
    pub fn find_role(&self, name: &RoleName) -> Option<&ProductRole> {
        self.roles.iter().find(|r| r.name == *name)
    }
}

/// Every product the host application offers, with their roles. Cheap to clone.
///
/// ```
/// use vault_core::access::{Catalog, Product, ProductRole};
///
/// let catalog = Catalog::new([Product::new("submit")?
///     .role(ProductRole::new("viewer", ["jobs:read"])?)
///     .role(ProductRole::new("submitter", ["jobs:read", "jobs:create"])?)
///     .role(ProductRole::new("operator", ["*"])?.sensitive())])?;
/// let submit = "submit".parse()?;
/// let viewer = catalog.role(&submit, &"viewer".parse()?).expect("registered");
/// assert!(viewer.permissions().allows(&"jobs:read".parse()?));
/// # Ok::<(), vault_core::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    products: Arc<BTreeMap<ProductId, Product>>,
}

impl Catalog {
    /// A catalogue of `products`. [`Error::Conflict`] when a product or a role of one product
    /// is registered twice.
    pub fn new(products: impl IntoIterator<Item = Product>) -> Result<Self, Error> {
        let mut map = BTreeMap::new();
        for product in products {
            for (i, role) in product.roles.iter().enumerate() {
                if product.roles[..i].iter().any(|r| r.name == role.name) {
                    return Err(Error::Conflict(format!(
                        "role {} of product {} is registered twice",
                        role.name, product.id
                    )));
                }
            }
            let id = product.id.clone();
            if map.insert(id.clone(), product).is_some() {
                return Err(Error::Conflict(format!("product {id} is registered twice")));
            }
        }
        Ok(Self {
            products: Arc::new(map),
        })
    }

    /// The product with this id, if registered.
    pub fn product(&self, id: &ProductId) -> Option<&Product> {
        self.products.get(id)
    }

    /// The role `role` of `product`, if both are registered.
    pub fn role(&self, product: &ProductId, role: &RoleName) -> Option<&ProductRole> {
        self.product(product)?.find_role(role)
    }

    /// Every product, ordered by id.
    pub fn products(&self) -> impl Iterator<Item = &Product> {
        self.products.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_refuses_duplicates_and_bad_names() {
        let viewer = || ProductRole::new("viewer", ["jobs:read"]).unwrap();
        let twice = Product::new("submit")
            .unwrap()
            .role(viewer())
            .role(viewer());
        assert!(matches!(Catalog::new([twice]), Err(Error::Conflict(_))));
        let once = || Product::new("submit").unwrap().role(viewer());
        assert!(matches!(
            Catalog::new([once(), once()]),
            Err(Error::Conflict(_))
        ));
        assert!(ProductRole::new("Viewer", ["jobs:read"]).is_err());
        assert!(ProductRole::new("viewer", ["jobs"]).is_err());
        assert!(RoleName::new("").is_err());
    }

    #[test]
    fn roles_are_found_by_product_and_name() {
        let catalog = Catalog::new([Product::new("submit")
            .unwrap()
            .role(ProductRole::new("operator", ["*"]).unwrap().sensitive())])
        .unwrap();
        let submit: ProductId = "submit".parse().unwrap();
        let operator = catalog.role(&submit, &"operator".parse().unwrap()).unwrap();
        assert!(operator.is_sensitive());
        assert!(
            catalog
                .role(&"manage".parse().unwrap(), &"operator".parse().unwrap())
                .is_none()
        );
        assert!(catalog.role(&submit, &"viewer".parse().unwrap()).is_none());
    }
}
