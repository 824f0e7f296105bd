//! [`Services`]: every service of the Vault over one store, wired once. One clock and one
//! audit sink for all of them (a test moves one [`crate::ManualClock`] and sessions,
//! invitations and keys all see it), the access service as the accounts' membership check,
//! key minting through access, and (optionally) key verification asking the workspace's
//! subscriptions.
//!
//! ```
//! use std::sync::Arc;
//! use time::Duration;
//! use vault_core::access::Catalog;
//! use vault_core::accounts::Outbox;
//! use vault_core::password::{HashParams, Passwords};
//! use vault_core::totp::{SealingKey, Totp};
//! use vault_core::{ManualClock, MemoryStore, Pepper, Services};
//!
//! # fn main() -> Result<(), vault_core::Error> {
//! let clock = ManualClock::default();
//! let services = Services::builder(
//!     Arc::new(MemoryStore::new()),
//!     &Pepper::generate()?,
//!     Catalog::new([])?,
//!     Passwords::builder().params(HashParams::INSECURE_FAST).build()?,
//!     Totp::new("Vault", SealingKey::generate()?)?,
//!     Arc::new(Outbox::new()),
//! )
//! .clock(clock.clone())
//! .build();
//! clock.advance(Duration::hours(1));
//! assert_eq!(services.keys.now(), clock.now());
//! assert_eq!(services.access.now(), clock.now());
//! # use vault_core::Clock;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

use crate::access::{AccessControl, Catalog, KeyMinting, StoreSubscriptions};
use crate::accounts::{Accounts, AccountsConfig, Mailer};
use crate::audit::{AuditSink, TracingAuditSink};
use crate::clock::{Clock, SystemClock};
use crate::keys::{ApiKeys, ApiKeysBuilder, KeyPrefix, Pepper};
use crate::password::Passwords;
use crate::store::{KeyStore, Store};
use crate::totp::Totp;

/// The Vault's services over one store. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    /// People: sign-up, sign-in, sessions, recovery, 2FA, the mail queue.
    pub accounts: Accounts,
    /// Workspaces, members, invitations, groups, subscriptions, grants.
    pub access: AccessControl,
    /// API keys: verification, and the key operations minting and access build on.
    pub keys: ApiKeys,
    /// Key minting under the access rules.
    pub minting: KeyMinting,
}

impl fmt::Debug for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Services")
            .field("accounts", &self.accounts)
            .finish_non_exhaustive()
    }
}

/// A store holding both the rows of accounts and access and the API keys.
pub trait VaultStore: Store + KeyStore {}

impl<T: Store + KeyStore> VaultStore for T {}

/// Configures [`Services`].
pub struct ServicesBuilder {
    rows: Arc<dyn Store>,
    keys: ApiKeysBuilder,
    catalog: Catalog,
    passwords: Passwords,
    totp: Totp,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    audit: Arc<dyn AuditSink>,
    config: AccountsConfig,
    check_subscriptions: bool,
}

impl Services {
    /// Starts configuring the services over `store`: API keys hashed under `pepper`, the host
    /// application's `catalog` of products and roles, `passwords`, `totp` (whose sealing key
    /// also seals queued mail) and the `mailer` the mail worker sends through.
    pub fn builder<S: VaultStore>(
        store: Arc<S>,
        pepper: &Pepper,
        catalog: Catalog,
        passwords: Passwords,
        totp: Totp,
        mailer: Arc<dyn Mailer>,
    ) -> ServicesBuilder {
        ServicesBuilder {
            keys: ApiKeys::builder(store.clone(), pepper),
            rows: store,
            catalog,
            passwords,
            totp,
            mailer,
            clock: Arc::new(SystemClock),
            audit: Arc::new(TracingAuditSink),
            config: AccountsConfig::default(),
            check_subscriptions: false,
        }
    }
}

impl ServicesBuilder {
    /// The one clock of every service (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The one audit sink of every service (default: `tracing`).
    pub fn audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = sink;
        self
    }

    /// Durations and limits of the account flows.
    pub fn accounts_config(mut self, config: AccountsConfig) -> Self {
        self.config = config;
        self
    }

    /// The vendor prefix of API keys (default `vlt`).
    pub fn key_prefix(mut self, prefix: KeyPrefix) -> Self {
        self.keys = self.keys.prefix(prefix);
        self
    }

    /// Makes key verification refuse keys whose product the workspace no longer subscribes
    /// to (one extra read per verification; see [`ApiKeys`]'s `subscriptions`).
    pub fn check_subscriptions(mut self) -> Self {
        self.check_subscriptions = true;
        self
    }

    /// Wires the services.
    pub fn build(self) -> Services {
        let access = AccessControl::builder(self.rows.clone(), self.catalog)
            .clock(Arc::clone(&self.clock))
            .audit(Arc::clone(&self.audit))
            .build();
        let mut keys = self.keys.clock(Arc::clone(&self.clock));
        if self.check_subscriptions {
            keys = keys.subscriptions(Arc::new(StoreSubscriptions::new(self.rows.clone())));
        }
        let keys = keys.build();
        let accounts = Accounts::builder(self.rows, self.passwords, self.totp, self.mailer)
            .clock(Arc::clone(&self.clock))
            .audit(Arc::clone(&self.audit))
            .membership(Arc::new(access.clone()))
            .config(self.config)
            .build();
        let minting = KeyMinting::new(access.clone(), keys.clone());
        Services {
            accounts,
            access,
            keys,
            minting,
        }
    }
}
