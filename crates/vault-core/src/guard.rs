//! The check every adapter runs on a request, framework-free: CORS preflight pass-through,
//! bearer parsing, key verification against the route's requirement, and the rejection
//! (with the product's body hook). Adapters only translate requests and responses.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::bearer;
use crate::keys::VerifyKey;
use crate::permission::Permission;
use crate::permitted::{NotPermitted, PermissionName, Permitted};
use crate::rejection::{Realm, Rejection, RejectionBody};
use crate::requirement::Requirement;
use crate::verdict::{AuthError, Principal};

/// A product's hook that reshapes rejection bodies.
pub type BodyHook = Arc<dyn Fn(&Rejection) -> RejectionBody + Send + Sync>;

/// The first, synchronous step of a check.
#[derive(Debug)]
pub enum Inspection<'a> {
    /// Let it through without a key: a CORS preflight, or a request without an
    /// `Authorization` header on a guard that allows anonymous callers.
    Pass,
    /// A well-formed bearer token to verify.
    Token(&'a str),
    /// Refused before any key was looked at.
    Reject(Rejection),
}

/// A route's key check: a verifier, a requirement and the answer's options. Cheap to clone.
///
/// ```
/// use std::sync::Arc;
/// use vault_core::guard::{Guard, Inspection};
/// use vault_core::{ApiKeys, Environment, MemoryStore, Pepper, Requirement};
///
/// let keys = ApiKeys::builder(Arc::new(MemoryStore::new()), &Pepper::generate()?).build();
/// let guard = Guard::new(keys, Requirement::new("submit".parse()?, Environment::Production));
/// match guard.inspect(b"GET", false, [b"Basic abc".as_slice()]) {
///     Inspection::Reject(r) => assert_eq!(r.code(), "malformed_authorization"),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), vault_core::Error>(())
/// ```
pub struct Guard<V: ?Sized> {
    verifier: Arc<V>,
    requirement: Arc<Requirement>,
    answers: Answers,
    allow_preflight: bool,
    allow_anonymous: bool,
}

impl<V: ?Sized> Clone for Guard<V> {
    fn clone(&self) -> Self {
        Self {
            verifier: Arc::clone(&self.verifier),
            requirement: Arc::clone(&self.requirement),
            answers: self.answers.clone(),
            allow_preflight: self.allow_preflight,
            allow_anonymous: self.allow_anonymous,
        }
    }
}

impl<V: VerifyKey> Guard<V> {
    /// A guard for `requirement`, checking keys with `verifier`.
    pub fn new(verifier: V, requirement: Requirement) -> Self {
        Self::from_arc(Arc::new(verifier), requirement)
    }
}

impl<V: VerifyKey + ?Sized> Guard<V> {
    /// A guard over a shared verifier.
    pub fn from_arc(verifier: Arc<V>, requirement: Requirement) -> Self {
        Self {
            verifier,
            requirement: Arc::new(requirement),
            answers: Answers::default(),
            allow_preflight: true,
            allow_anonymous: false,
        }
    }

    /// The same guard for another requirement (per-route rules over one verifier).
    pub fn for_requirement(&self, requirement: Requirement) -> Self {
        Self {
            requirement: Arc::new(requirement),
            ..self.clone()
        }
    }

    /// The `realm` of `WWW-Authenticate` challenges (default `api`).
    pub fn realm(mut self, realm: &str) -> Self {
        self.answers.realm = Realm::new(realm);
        self
    }

    /// Whether CORS preflight requests (`OPTIONS` with `Access-Control-Request-Method`) pass
    /// without a key (default: yes, so browsers can ask before sending the header).
    pub fn allow_preflight(mut self, allow: bool) -> Self {
        self.allow_preflight = allow;
        self
    }

    /// Whether requests without any `Authorization` header pass without a key (default: no),
    /// for routes open to anonymous callers that serve more to authenticated ones. A header
    /// that is present is still checked: a bad key is refused, never treated as anonymous.
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.allow_anonymous = allow;
        self
    }

    /// Reshapes rejection bodies (a product's own JSON error shape). Status, `WWW-Authenticate`
    /// and `Retry-After` stay as the rejection table says.
    pub fn rejection_body<F>(mut self, hook: F) -> Self
    where
        F: Fn(&Rejection) -> RejectionBody + Send + Sync + 'static,
    {
        self.answers.body_hook = Some(Arc::new(hook));
        self
    }

    /// The requirement this guard enforces.
    pub fn requirement(&self) -> &Requirement {
        &self.requirement
    }

    /// Step one, synchronous: `method` is the request method, `cors_preflight` whether it has
    /// an `Access-Control-Request-Method` header, `authorization` every `Authorization` value.
    pub fn inspect<'a, I>(
        &self,
        method: &[u8],
        cors_preflight: bool,
        authorization: I,
    ) -> Inspection<'a>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        if self.allow_preflight && cors_preflight && method == b"OPTIONS" {
            return Inspection::Pass;
        }
        match bearer::token_from_headers(authorization) {
            Ok(token) => Inspection::Token(token),
            Err(AuthError::MissingKey) if self.allow_anonymous => Inspection::Pass,
            Err(err) => Inspection::Reject(self.reject(&err)),
        }
    }

    /// Step two: verifies `token`. The future owns what it needs, so adapters can store it.
    pub fn verify(
        &self,
        token: String,
    ) -> impl Future<Output = Result<Principal, Rejection>> + Send + 'static {
        let guard = self.clone();
        async move {
            guard
                .verifier
                .verify(&token, &guard.requirement)
                .await
                .map_err(|err| guard.reject(&err))
        }
    }

    /// A per-handler permission check on an already verified caller (see
    /// [`Answers::require_permission`]).
    // See `Answers::require_permission` on the size of a rejection.
    #[allow(clippy::result_large_err)]
    pub fn require_permission(
        &self,
        principal: &Principal,
        permission: &Permission,
    ) -> Result<(), Rejection> {
        self.answers.require_permission(principal, permission)
    }

    /// The answer to `error` under this guard's realm and body hook.
    pub fn reject(&self, error: &AuthError) -> Rejection {
        self.answers.reject(error)
    }

    /// The options that shape answers, detached from the verifier (for extractors).
    pub fn answers(&self) -> Answers {
        self.answers.clone()
    }
}

/// The guard's options, written once for every adapter that wraps a [`Guard`] (vault-tower's
/// `RequireApiKeyLayer`, vault-actix's `RequireApiKey`), so they are named and behave alike.
/// An adapter implements [`guard`](Self::guard) and [`with_guard`](Self::with_guard); the
/// setters are provided. They run at configuration, never per request.
///
/// ```
/// use vault_core::guard::{Guard, GuardOptions};
/// use vault_core::{ApiKeys, Environment, MemoryStore, Pepper, Requirement};
///
/// /// An adapter's configuration: the guard, plus what the adapter adds.
/// #[derive(Clone)]
/// struct Protect {
///     guard: Guard<ApiKeys>,
///     log_refusals: bool,
/// }
///
/// impl GuardOptions for Protect {
///     type Verifier = ApiKeys;
///
///     fn guard(&self) -> &Guard<ApiKeys> {
///         &self.guard
///     }
///
///     fn with_guard(&self, guard: Guard<ApiKeys>) -> Self {
///         Self { guard, ..self.clone() }
///     }
/// }
///
/// let keys = ApiKeys::builder(std::sync::Arc::new(MemoryStore::new()), &Pepper::generate()?).build();
/// let submit = Requirement::new("submit".parse()?, Environment::Production);
/// let api = Protect { guard: Guard::new(keys, submit), log_refusals: true }.realm("submit");
/// let create = api.for_permission("jobs:create".parse()?);
/// assert_eq!(create.guard().requirement().permissions().to_string(), "jobs:create");
/// assert!(create.log_refusals);
/// # Ok::<(), vault_core::Error>(())
/// ```
pub trait GuardOptions: Sized {
    /// The verifier of the wrapped guard.
    type Verifier: VerifyKey + ?Sized;

    /// The guard this adapter runs.
    fn guard(&self) -> &Guard<Self::Verifier>;

    /// The same adapter, its own configuration kept, running `guard` instead.
    fn with_guard(&self, guard: Guard<Self::Verifier>) -> Self;

    /// The same adapter (verifier and options) for another requirement: per-route or
    /// per-scope rules over one verifier (e.g. axum's `route_layer`, actix's `Scope::wrap`).
    fn for_requirement(&self, requirement: Requirement) -> Self {
        self.with_guard(self.guard().for_requirement(requirement))
    }

    /// The same adapter, also demanding `permission` of the key, beside every permission its
    /// requirement already demands (over the same product and environments). The key must
    /// hold all of them.
    fn for_permission(&self, permission: Permission) -> Self {
        let requirement = self
            .guard()
            .requirement()
            .clone()
            .with_permission(permission);
        self.for_requirement(requirement)
    }

    /// The `realm` of `WWW-Authenticate` challenges (default `api`).
    fn realm(self, realm: &str) -> Self {
        self.with_guard(self.guard().clone().realm(realm))
    }

    /// Whether CORS preflight requests (`OPTIONS` with `Access-Control-Request-Method`) pass
    /// without a key (default: yes, so browsers can ask before sending the header).
    fn allow_preflight(self, allow: bool) -> Self {
        self.with_guard(self.guard().clone().allow_preflight(allow))
    }

    /// Whether requests without any `Authorization` header pass without a key (default: no),
    /// for routes open to anonymous callers (handlers take `Option<Caller>`). A header that
    /// is present is still checked: a bad key is refused, never treated as anonymous.
    fn allow_anonymous(self, allow: bool) -> Self {
        self.with_guard(self.guard().clone().allow_anonymous(allow))
    }

    /// Reshapes rejection bodies (a product's own error shape); status, `WWW-Authenticate`
    /// and `Retry-After` stay as the rejection table says.
    fn rejection_body<F>(self, hook: F) -> Self
    where
        F: Fn(&Rejection) -> RejectionBody + Send + Sync + 'static,
    {
        self.with_guard(self.guard().clone().rejection_body(hook))
    }
}

/// How rejections are shaped (realm and body hook), without the verifier: what extractors
/// need to answer exactly like the guard that ran before them.
#[derive(Clone, Default)]
pub struct Answers {
    realm: Realm,
    body_hook: Option<BodyHook>,
}

impl Answers {
    /// The answer to `error`.
    pub fn reject(&self, error: &AuthError) -> Rejection {
        let rejection = Rejection::new(error, &self.realm);
        match &self.body_hook {
            Some(hook) => {
                let body = hook(&rejection);
                rejection.with_body(body)
            }
            None => rejection,
        }
    }

    /// A per-handler permission check on an already verified caller, answered like the guard
    /// that ran before: what an extractor needs when the guard itself is not at hand.
    // A rejection is the whole answer (headers and body), built only on the refusal path;
    // boxing it would add an allocation there and change nothing on the success path.
    #[allow(clippy::result_large_err)]
    pub fn require_permission(
        &self,
        principal: &Principal,
        permission: &Permission,
    ) -> Result<(), Rejection> {
        if principal.has_permission(permission) {
            Ok(())
        } else {
            Err(self.reject(&AuthError::InsufficientPermission(
                permission.clone().into(),
            )))
        }
    }

    /// The check behind the adapters' `RequirePermission<P>`: `principal` as a
    /// [`Permitted<P>`], or the refusal [`Answers::require_permission`] gives.
    /// [`P::permission`](PermissionName::permission) is parsed once per marker type declared
    /// with [`permission!`](crate::permission!).
    // See `require_permission` on the size of a rejection.
    #[allow(clippy::result_large_err)]
    pub fn permit<P: PermissionName>(
        &self,
        principal: Principal,
    ) -> Result<Permitted<P>, NotPermitted> {
        let permission =
            P::permission().map_err(|_| NotPermitted::InvalidPermission(P::PERMISSION))?;
        self.require_permission(&principal, &permission)
            .map_err(NotPermitted::Refused)?;
        Ok(Permitted::new(principal))
    }
}

impl fmt::Debug for Answers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answers")
            .field("realm", &self.realm)
            .field("body_hook", &self.body_hook.is_some())
            .finish()
    }
}

impl<V: ?Sized> fmt::Debug for Guard<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("requirement", &self.requirement)
            .field("realm", &self.answers.realm)
            .field("allow_preflight", &self.allow_preflight)
            .field("allow_anonymous", &self.allow_anonymous)
            .field("body_hook", &self.answers.body_hook.is_some())
            .finish_non_exhaustive()
    }
}
