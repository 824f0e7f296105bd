//! [`Vault`]: the state every handler shares: the services of vault-core over one store, the
//! server's configuration and its CSRF key.

use std::sync::Arc;

use vault_core::Services;
use vault_core::csrf::CsrfKey;
use vault_core::store::Store;

use crate::config::ServerConfig;

/// The Vault behind the router. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    services: Services,
    config: ServerConfig,
    csrf: CsrfKey,
}

impl Vault {
    /// The Vault over `services` (built over `store`), served as `config` says, signing CSRF
    /// tokens with `csrf`.
    pub fn new(
        store: Arc<dyn Store>,
        services: Services,
        config: ServerConfig,
        csrf: CsrfKey,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                services,
                config,
                csrf,
            }),
        }
    }

    /// The services.
    pub fn services(&self) -> &Services {
        &self.inner.services
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The store, for readiness.
    pub(crate) fn store(&self) -> &dyn Store {
        &*self.inner.store
    }

    pub(crate) fn csrf(&self) -> &CsrfKey {
        &self.inner.csrf
    }
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
