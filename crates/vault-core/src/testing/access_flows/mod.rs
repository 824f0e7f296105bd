//! The access flows of the product docs as store conformance cases: the same cases run on
//! the memory store (vault-core's tests) and on SQLite and PostgreSQL (vault-tests), so a
//! store's transactions are checked against every rule of access, key minting included.

mod keys;
mod model;

pub use keys::*;
pub use model::*;

use std::fmt::Debug;
use std::sync::Arc;

use crate::access::{
    AccessControl, AccessDefect, Actor, Catalog, Product, ProductRole, RoleName, WorkspaceRole,
};
use crate::audit::MemoryAuditSink;
use crate::store::Store;
use crate::{Error, ManualClock, Permission, ProductId, UserId, WorkspaceId};

/// A workspace with its owner and Submit active, over the store under test.
struct Kit {
    pub access: AccessControl,
    pub audit: MemoryAuditSink,
    pub clock: ManualClock,
    pub owner: Actor,
    pub workspace: WorkspaceId,
    pub submit: ProductId,
}

fn catalog() -> Catalog {
    Catalog::new([
        Product::new("submit")
            .unwrap()
            .role(ProductRole::new("viewer", ["jobs:read"]).unwrap())
            .role(ProductRole::new("submitter", ["jobs:read", "jobs:create"]).unwrap())
            .role(ProductRole::new("key-manager", ["jobs:read", "keys:manage"]).unwrap())
            .role(ProductRole::new("operator", ["*"]).unwrap().sensitive()),
        Product::new("manage")
            .unwrap()
            .role(ProductRole::new("reader", ["projects:read"]).unwrap()),
    ])
    .unwrap()
}

fn role(name: &str) -> RoleName {
    name.parse().unwrap()
}

fn perm(text: &str) -> Permission {
    text.parse().unwrap()
}

fn product(id: &str) -> ProductId {
    id.parse().unwrap()
}

/// The refusal inside an access error; panics on success or any other error.
fn refusal<T: Debug>(result: Result<T, Error>) -> AccessDefect {
    match result {
        Err(Error::Access(defect)) => defect,
        other => panic!("expected an access refusal, got {other:?}"),
    }
}

/// A signed-in user whose session passed 2FA.
fn user() -> Actor {
    crate::testing::actor(UserId::random(), true)
}

/// The same user from a session without 2FA.
fn without_2fa(actor: Actor) -> Actor {
    crate::testing::actor(actor.user_id(), false)
}

async fn kit(store: Arc<dyn Store>) -> Kit {
    let audit = MemoryAuditSink::new();
    let clock = ManualClock::default();
    let access = AccessControl::builder(store.clone(), catalog())
        .clock(clock.clone())
        .audit(Arc::new(audit.clone()))
        .build();
    let owner = user();
    let workspace = access.create_workspace(&owner, "Acme").await.unwrap().id;
    let submit = product("submit");
    access
        .activate_product(&owner, workspace, &submit)
        .await
        .unwrap();
    Kit {
        access,
        audit,
        clock,
        owner,
        workspace,
        submit,
    }
}

impl Kit {
    /// A new user invited by the owner with `role`, accepted with the invited address.
    pub async fn join(&self, role: WorkspaceRole) -> Actor {
        let actor = user();
        let email = format!("{}@example.com", actor.user_id());
        let invited = self
            .access
            .invite(&self.owner, self.workspace, &email, role)
            .await
            .unwrap();
        self.access
            .accept_invitation(&actor, invited.token.expose_secret(), &email)
            .await
            .unwrap();
        actor
    }

    /// The owner grants `role` of Submit to `actor` directly.
    pub async fn grant(&self, actor: &Actor, role_name: &str) {
        self.access
            .grant(
                &self.owner,
                self.workspace,
                crate::access::Grantee::User(actor.user_id()),
                &self.submit,
                &role(role_name),
            )
            .await
            .unwrap();
    }

    /// The actor's check of a Submit permission.
    pub async fn may(&self, actor: &Actor, permission: &str) -> Result<(), AccessDefect> {
        match self
            .access
            .check(actor, self.workspace, &self.submit, &perm(permission))
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => Err(refusal::<()>(Err(err))),
        }
    }
}
