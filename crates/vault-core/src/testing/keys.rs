//! [`TestKeys`]: a key service over a memory store and a manual clock, minting keys of any
//! scope in one line, so product teams can test their protected handlers without a database.

use std::sync::Arc;

use time::Duration;

use crate::clock::ManualClock;
use crate::environment::Environment;
use crate::ids::{UserId, WorkspaceId};
use crate::keys::{ApiKeys, IssuedKey, NewKey, Pepper};
use crate::memory::MemoryStore;
use crate::permission::PermissionSet;

/// A key service for tests: memory store, random pepper, a clock that moves only when told.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use vault_core::testing::TestKeys;
/// use vault_core::{Environment, Requirement};
///
/// let kit = TestKeys::new();
/// let token = kit.mint("submit", Environment::Production, &["jobs:create"]).await;
/// let route = Requirement::new("submit".parse().unwrap(), Environment::Production);
/// assert!(kit.keys().verify(&token, &route).await.is_ok());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TestKeys {
    keys: ApiKeys,
    clock: ManualClock,
    workspace_id: WorkspaceId,
    user_id: UserId,
}

impl Default for TestKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl TestKeys {
    /// A fresh kit: one workspace, one user, an empty store.
    ///
    /// # Panics
    /// If the operating system has no randomness to give (test code only).
    pub fn new() -> Self {
        let clock = ManualClock::default();
        let pepper = Pepper::generate().expect("the OS random number generator works");
        let keys = ApiKeys::builder(Arc::new(MemoryStore::new()), &pepper)
            .clock(clock.clone())
            .build();
        Self {
            keys,
            clock,
            workspace_id: WorkspaceId::random(),
            user_id: UserId::random(),
        }
    }

    /// The key service (hand it to the layer or middleware under test).
    pub fn keys(&self) -> &ApiKeys {
        &self.keys
    }

    /// The clock the service decides expiry by.
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// The workspace every minted key belongs to.
    pub fn workspace_id(&self) -> WorkspaceId {
        self.workspace_id
    }

    /// Issues a key and returns its token.
    ///
    /// # Panics
    /// On an invalid product or permission (test code only).
    pub async fn mint(
        &self,
        product: &str,
        environment: Environment,
        permissions: &[&str],
    ) -> String {
        self.issue(product, environment, permissions, None)
            .await
            .expose_token()
            .to_owned()
    }

    /// Issues a key that expires after `ttl` and returns the issued key.
    ///
    /// # Panics
    /// On an invalid product or permission (test code only).
    pub async fn issue(
        &self,
        product: &str,
        environment: Environment,
        permissions: &[&str],
        ttl: Option<Duration>,
    ) -> IssuedKey {
        let now = self.keys.now();
        self.keys
            .issue(NewKey {
                workspace_id: self.workspace_id,
                product: product.parse().expect("a valid product slug"),
                environment,
                permissions: PermissionSet::parse(permissions).expect("valid permissions"),
                name: format!("test key for {product}"),
                created_by: self.user_id,
                expires_at: ttl.map(|ttl| now + ttl),
            })
            .await
            .expect("issuing into a memory store succeeds")
    }

    /// Issues a key and revokes it at once; returns its token.
    ///
    /// # Panics
    /// On an invalid product or permission (test code only).
    pub async fn mint_revoked(
        &self,
        product: &str,
        environment: Environment,
        permissions: &[&str],
    ) -> String {
        let issued = self.issue(product, environment, permissions, None).await;
        self.keys
            .revoke(&issued.metadata.id)
            .await
            .expect("revoking in a memory store succeeds");
        issued.expose_token().to_owned()
    }
}
