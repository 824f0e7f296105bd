//! [`RequireApiKeyLayer`]: the configuration (a [`Guard`] and a [`RejectionFormat`]), cheap to
//! clone, that wraps services in [`RequireApiKey`]. Its options are vault-core's
//! [`GuardOptions`].

use std::fmt;

use tower_layer::Layer;
use vault_core::guard::{Guard, GuardOptions};
use vault_core::{Requirement, VerifyKey};

use crate::format::{Grpc, Http};
use crate::service::RequireApiKey;

/// Wraps services so every request must present an API key that meets a [`Requirement`].
///
/// On success the request reaches the inner service with the [`vault_core::Principal`] (and
/// the [`vault_core::guard::Answers`] extractors use) in its extensions; otherwise the
/// rejection is answered without calling it. Per-route rules share one verifier through
/// [`for_requirement`](GuardOptions::for_requirement); the options ([`GuardOptions`]: realm,
/// preflight, anonymous callers, body hook) are named as in vault-actix.
///
/// ```
/// use vault_core::testing::TestKeys;
/// use vault_core::{Environment, Requirement};
/// use vault_tower::{GuardOptions, RequireApiKeyLayer};
///
/// let kit = TestKeys::new();
/// let submit = Requirement::new("submit".parse()?, Environment::Production);
/// let api = RequireApiKeyLayer::new(kit.keys().clone(), submit.clone()).realm("submit");
/// let create = api.for_permission("jobs:create".parse()?);
/// let admin = api.for_requirement(submit.with_permission("keys:admin".parse()?));
/// let grpc = api.clone().grpc();
/// # let _ = (create, admin, grpc);
/// # Ok::<(), vault_core::Error>(())
/// ```
pub struct RequireApiKeyLayer<V: ?Sized, F = Http> {
    guard: Guard<V>,
    format: F,
}

impl<V: VerifyKey> RequireApiKeyLayer<V> {
    /// Keys checked by `verifier` against `requirement`, answered in plain HTTP.
    pub fn new(verifier: V, requirement: Requirement) -> Self {
        Self::from_guard(Guard::new(verifier, requirement))
    }
}

impl<V: VerifyKey + ?Sized> RequireApiKeyLayer<V> {
    /// A layer running `guard`, answered in plain HTTP.
    pub fn from_guard(guard: Guard<V>) -> Self {
        Self {
            guard,
            format: Http,
        }
    }
}

impl<V: VerifyKey + ?Sized, F> RequireApiKeyLayer<V, F> {
    /// Answers in gRPC (`grpc-status` 16 / 7 / 14) instead of HTTP 401 / 403 / 503.
    pub fn grpc(self) -> RequireApiKeyLayer<V, Grpc> {
        self.format(Grpc)
    }

    /// Answers with another [`crate::RejectionFormat`].
    pub fn format<G>(self, format: G) -> RequireApiKeyLayer<V, G> {
        RequireApiKeyLayer {
            guard: self.guard,
            format,
        }
    }
}

impl<V: VerifyKey + ?Sized, F: Clone> GuardOptions for RequireApiKeyLayer<V, F> {
    type Verifier = V;

    fn guard(&self) -> &Guard<V> {
        &self.guard
    }

    fn with_guard(&self, guard: Guard<V>) -> Self {
        Self {
            guard,
            format: self.format.clone(),
        }
    }
}

impl<S, V: VerifyKey + ?Sized, F: Clone> Layer<S> for RequireApiKeyLayer<V, F> {
    type Service = RequireApiKey<S, V, F>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireApiKey::new(inner, self.guard.clone(), self.format.clone())
    }
}

impl<V: ?Sized, F: Clone> Clone for RequireApiKeyLayer<V, F> {
    fn clone(&self) -> Self {
        Self {
            guard: self.guard.clone(),
            format: self.format.clone(),
        }
    }
}

impl<V: ?Sized, F: fmt::Debug> fmt::Debug for RequireApiKeyLayer<V, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireApiKeyLayer")
            .field("guard", &self.guard)
            .field("format", &self.format)
            .finish()
    }
}
