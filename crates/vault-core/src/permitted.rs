//! Permissions named at compile time: the [`PermissionName`] trait, the
//! [`permission!`](crate::permission!) macro that declares one, and [`Permitted`], a principal
//! checked to hold one. Adapters wrap `Permitted` in their extractor types (the orphan rule
//! keeps those impls with them); the check and its answers live here, once.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::OnceLock;

use crate::Error;
use crate::permission::Permission;
use crate::rejection::Rejection;
use crate::verdict::Principal;

/// A permission known at compile time, for [`Permitted`] and the adapters'
/// `RequirePermission`. Declare one with [`permission!`](crate::permission!), which checks the
/// name as it compiles; a hand-written impl is checked only when used.
pub trait PermissionName {
    /// The permission, e.g. `jobs:create`.
    const PERMISSION: &'static str;

    /// [`Self::PERMISSION`] parsed. Types declared with [`permission!`](crate::permission!)
    /// parse it once and reuse it; an invalid name (possible only in a hand-written impl) is
    /// an error on every call, never a panic.
    fn permission() -> Result<Permission, Error> {
        Permission::new(Self::PERMISSION)
    }
}

/// Declares a [`PermissionName`] marker type. The name is checked at compile time (with
/// [`Permission::is_valid`]), so a typo is a build error rather than a 500 at run time.
///
/// ```
/// vault_core::permission! {
///     /// May create jobs.
///     pub JobsCreate = "jobs:create"
/// }
/// use vault_core::PermissionName;
/// assert_eq!(JobsCreate::PERMISSION, "jobs:create");
/// assert_eq!(JobsCreate::permission()?.as_str(), "jobs:create");
/// # Ok::<(), vault_core::Error>(())
/// ```
///
/// The same declaration with a name that is not a permission (upper case) does not compile:
///
/// ```compile_fail,E0080
/// vault_core::permission! {
///     /// May create jobs.
///     pub JobsCreate = "Jobs:Create"
/// }
/// ```
#[macro_export]
macro_rules! permission {
    ($(#[$meta:meta])* $vis:vis $name:ident = $permission:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default)]
        $vis struct $name;

        // Evaluated at compile time: an invalid name fails the build here.
        const _: () = ::core::assert!(
            $crate::Permission::is_valid($permission),
            ::core::concat!(
                "permission!: ",
                ::core::stringify!($permission),
                " is not `resource:action`, `resource:*` or `*` (a-z, 0-9, '_', '-')"
            ),
        );

        impl $crate::PermissionName for $name {
            const PERMISSION: &'static str = $permission;

            fn permission() -> ::core::result::Result<$crate::Permission, $crate::Error> {
                static PARSED: ::std::sync::OnceLock<$crate::Permission> =
                    ::std::sync::OnceLock::new();
                $crate::permitted::parse_once(&PARSED, $permission)
            }
        }
    };
}

/// What [`permission!`](crate::permission!) expands to: `text` parsed, from `cell` after the
/// first success. Not public API.
#[doc(hidden)]
pub fn parse_once(cell: &OnceLock<Permission>, text: &str) -> Result<Permission, Error> {
    if let Some(parsed) = cell.get() {
        return Ok(parsed.clone());
    }
    let parsed = Permission::new(text)?;
    Ok(cell.get_or_init(|| parsed).clone())
}

/// A [`Principal`] known to hold permission `P`: what
/// [`Answers::permit`](crate::guard::Answers::permit) returns. It derefs to the principal.
///
/// ```
/// use vault_core::guard::Answers;
/// use vault_core::{Permitted, Principal};
///
/// vault_core::permission!(JobsCreate = "jobs:create");
///
/// fn create_job(caller: Permitted<JobsCreate>) -> String {
///     format!("created by key {}", caller.key_id())
/// }
///
/// fn handle(answers: &Answers, caller: Principal) -> Result<String, vault_core::NotPermitted> {
///     Ok(create_job(answers.permit(caller)?))
/// }
/// ```
pub struct Permitted<P> {
    principal: Principal,
    permission: PhantomData<fn() -> P>,
}

impl<P> Permitted<P> {
    /// Only the check makes one.
    pub(crate) fn new(principal: Principal) -> Self {
        Self {
            principal,
            permission: PhantomData,
        }
    }

    /// The principal.
    pub fn into_principal(self) -> Principal {
        self.principal
    }
}

impl<P> Deref for Permitted<P> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<P> Clone for Permitted<P> {
    fn clone(&self) -> Self {
        Self::new(self.principal.clone())
    }
}

impl<P: PermissionName> fmt::Debug for Permitted<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permitted")
            .field("permission", &P::PERMISSION)
            .field("principal", &self.principal)
            .finish()
    }
}

/// Why [`Answers::permit`](crate::guard::Answers::permit) refused. Exhaustive on purpose: an
/// adapter that maps it to its own rejection must learn of any new reason at compile time.
#[derive(Debug, thiserror::Error)]
pub enum NotPermitted {
    /// The key lacks the permission: the 403 `insufficient_permission` row of the rejection
    /// table, shaped like the guard's other answers.
    #[error("{}", .0.error())]
    Refused(Rejection),
    /// The [`PermissionName`] is not a valid permission: a programming error (500), not the
    /// caller's fault.
    #[error("{0:?} is not a valid permission name")]
    InvalidPermission(&'static str),
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::guard::Answers;
    use crate::{
        ApiKeys, Environment, MemoryStore, NewKey, Pepper, PermissionSet, Requirement, UserId,
        WorkspaceId,
    };

    crate::permission!(JobsCreate = "jobs:create");

    /// An invalid name cannot get past `permission!`; a hand-written impl can.
    struct NotAPermission;

    impl PermissionName for NotAPermission {
        const PERMISSION: &'static str = "NOT A PERMISSION";
    }

    /// The principal of a freshly issued key holding `permissions`.
    async fn holding(permissions: &[&str]) -> Principal {
        let keys =
            ApiKeys::builder(Arc::new(MemoryStore::new()), &Pepper::generate().unwrap()).build();
        let issued = keys
            .issue(NewKey {
                workspace_id: WorkspaceId::random(),
                product: "submit".parse().unwrap(),
                environment: Environment::Production,
                permissions: PermissionSet::parse(permissions).unwrap(),
                name: "test".into(),
                created_by: UserId::random(),
                expires_at: None,
            })
            .await
            .unwrap();
        let submit = Requirement::new("submit".parse().unwrap(), Environment::Production);
        keys.verify(issued.expose_token(), &submit).await.unwrap()
    }

    #[tokio::test]
    async fn a_key_holding_the_permission_is_permitted() {
        let caller = holding(&["jobs:create"]).await;
        let permitted = Answers::default()
            .permit::<JobsCreate>(caller.clone())
            .unwrap();
        assert_eq!(permitted.key_id(), caller.key_id());
        assert_eq!(permitted.clone().into_principal().key_id(), caller.key_id());
        let debug = format!("{permitted:?}");
        assert!(debug.contains("jobs:create"), "{debug}");
    }

    #[tokio::test]
    async fn a_key_without_the_permission_gets_the_guards_403() {
        let caller = holding(&["jobs:read"]).await;
        let answers = Answers::default();
        let refusal = answers.permit::<JobsCreate>(caller.clone()).unwrap_err();
        let expected = answers
            .require_permission(&caller, &JobsCreate::permission().unwrap())
            .unwrap_err();
        match refusal {
            NotPermitted::Refused(rejection) => {
                assert_eq!(rejection.status(), 403);
                assert_eq!(rejection.www_authenticate(), expected.www_authenticate());
                assert_eq!(rejection.body(), expected.body());
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn wildcards_permit_what_they_cover() {
        for held in ["*", "jobs:*"] {
            let caller = holding(&[held]).await;
            assert!(
                Answers::default().permit::<JobsCreate>(caller).is_ok(),
                "{held}"
            );
        }
        let caller = holding(&["files:*"]).await;
        assert!(Answers::default().permit::<JobsCreate>(caller).is_err());
    }

    #[tokio::test]
    async fn an_invalid_permission_name_is_an_error_not_a_panic_nor_a_403() {
        let caller = holding(&["*"]).await;
        for _ in 0..2 {
            match Answers::default().permit::<NotAPermission>(caller.clone()) {
                Err(NotPermitted::InvalidPermission(name)) => {
                    assert_eq!(name, "NOT A PERMISSION")
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(NotAPermission::permission().is_err());
    }

    #[test]
    fn a_declared_permission_is_parsed_once_and_reused() {
        let first = JobsCreate::permission().unwrap();
        let again = JobsCreate::permission().unwrap();
        assert_eq!(first, again);
        assert!(std::ptr::eq(first.as_str(), again.as_str()));
    }
}
