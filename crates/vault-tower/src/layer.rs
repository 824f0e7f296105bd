//! [`RequireApiKeyLayer`]: the configuration (a [`Guard`] and a [`RejectionFormat`]), cheap to
//! clone, that wraps services in [`RequireApiKey`].

use std::fmt;

use tower_layer::Layer;
use vault_core::guard::Guard;
use vault_core::{Permission, Rejection, RejectionBody, Requirement, VerifyKey};

use crate::format::{Grpc, Http};
use crate::service::RequireApiKey;

/// Wraps services so every request must present an API key that meets a [`Requirement`].
///
/// On success the request reaches the inner service with the [`vault_core::Principal`] (and
/// the [`vault_core::guard::Answers`] extractors use) in its extensions; otherwise the
/// rejection is answered without calling it. Per-route rules share one verifier through
/// [`RequireApiKeyLayer::for_requirement`].
///
/// ```
/// use vault_core::testing::TestKeys;
/// use vault_core::{Environment, Requirement};
/// use vault_tower::RequireApiKeyLayer;
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
    /// The same layer for another requirement, over the same verifier and options (for
    /// per-route rules, e.g. axum's `route_layer`).
    pub fn for_requirement(&self, requirement: Requirement) -> Self
    where
        F: Clone,
    {
        Self {
            guard: self.guard.for_requirement(requirement),
            format: self.format.clone(),
        }
    }

    /// The same layer, also demanding `permission` of the key, beside every permission this
    /// layer's requirement already demands (a route's own permission over the product and
    /// environments of this layer's requirement). The key must hold all of them.
    pub fn for_permission(&self, permission: Permission) -> Self
    where
        F: Clone,
    {
        self.for_requirement(self.guard.requirement().clone().with_permission(permission))
    }

    /// The `realm` of `WWW-Authenticate` challenges (default `api`).
    pub fn realm(self, realm: &str) -> Self {
        self.map_guard(|guard| guard.realm(realm))
    }

    /// Whether CORS preflight requests (`OPTIONS` with `Access-Control-Request-Method`) pass
    /// without a key (default: yes).
    pub fn allow_preflight(self, allow: bool) -> Self {
        self.map_guard(|guard| guard.allow_preflight(allow))
    }

    /// Whether requests without an `Authorization` header reach the inner service without a
    /// `Principal` (default: no). A presented key is still checked.
    pub fn allow_anonymous(self, allow: bool) -> Self {
        self.map_guard(|guard| guard.allow_anonymous(allow))
    }

    /// Reshapes rejection bodies (a product's own JSON error shape); status,
    /// `WWW-Authenticate` and `Retry-After` stay as the rejection table says.
    pub fn rejection_body<H>(self, hook: H) -> Self
    where
        H: Fn(&Rejection) -> RejectionBody + Send + Sync + 'static,
    {
        self.map_guard(|guard| guard.rejection_body(hook))
    }

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

    /// The guard this layer runs.
    pub fn guard(&self) -> &Guard<V> {
        &self.guard
    }

    fn map_guard(self, f: impl FnOnce(Guard<V>) -> Guard<V>) -> Self {
        Self {
            guard: f(self.guard),
            format: self.format,
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
