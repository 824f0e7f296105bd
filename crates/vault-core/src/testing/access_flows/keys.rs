//! API keys through the access layer: a user mints only what they hold, in a workspace and
//! product they can use; they manage their own keys, admins and `keys:manage` holders manage
//! everyone's; a deactivated product's keys stop verifying until it is active again.

use crate::testing::conformance::StoreUnderTest;

use std::sync::Arc;

use super::{Kit, kit, product, refusal, user, without_2fa};
use crate::access::{
    AccessDefect, Actor, KeyMinting, KeyRequest, StoreSubscriptions, SubscriptionCheck,
    TwoFactorPolicy, WorkspaceRole,
};
use crate::{
    ApiKeys, AuthError, Environment, Error, IssuedKey, NewKey, Pepper, PermissionSet, ProductId,
    Requirement, UserId, WorkspaceId,
};
use time::Duration;

struct Keys {
    k: Kit,
    minting: KeyMinting,
}

async fn keys(store: Arc<dyn StoreUnderTest>) -> Keys {
    let k = kit(store.clone()).await;
    let api_keys = ApiKeys::builder(store.clone(), &Pepper::generate().unwrap())
        .clock(k.clock.clone())
        .subscriptions(Arc::new(StoreSubscriptions::new(store)))
        .build();
    let minting = KeyMinting::new(k.access.clone(), api_keys);
    Keys { k, minting }
}

fn request(k: &Kit, permissions: &[&str]) -> KeyRequest {
    KeyRequest {
        workspace_id: k.workspace,
        product: k.submit.clone(),
        environment: Environment::Production,
        permissions: PermissionSet::parse(permissions).unwrap(),
        name: "ci".into(),
        expires_at: None,
    }
}

fn route(permission: &str) -> Requirement {
    Requirement::new(product("submit"), Environment::Production)
        .with_permission(permission.parse().unwrap())
}

impl Keys {
    async fn mint(&self, actor: &Actor, permissions: &[&str]) -> Result<IssuedKey, Error> {
        self.minting
            .issue(actor, request(&self.k, permissions))
            .await
    }

    async fn verify(&self, key: &IssuedKey, permission: &str) -> Result<(), AuthError> {
        self.minting
            .keys()
            .verify(key.expose_token(), &route(permission))
            .await
            .map(|_| ())
    }
}

/// A member mints only the permissions it holds.
pub async fn a_member_mints_only_the_permissions_it_holds(store: Arc<dyn StoreUnderTest>) {
    let t = keys(store).await;
    let member = t.k.join(WorkspaceRole::Member).await;
    t.k.grant(&member, "viewer").await;

    assert_eq!(
        refusal(t.mint(&member, &["jobs:read", "jobs:create"]).await),
        AccessDefect::PermissionNotHeld
    );
    // A wildcard is wider than what a viewer holds.
    assert_eq!(
        refusal(t.mint(&member, &["jobs:*"]).await),
        AccessDefect::PermissionNotHeld
    );
    assert_eq!(
        refusal(t.mint(&member, &[]).await),
        AccessDefect::PermissionNotHeld
    );
    let issued = t.mint(&member, &["jobs:read"]).await.unwrap();
    assert_eq!(issued.metadata.created_by, member.user_id());
    assert_eq!(t.verify(&issued, "jobs:read").await, Ok(()));
    assert!(matches!(
        t.verify(&issued, "jobs:create").await,
        Err(AuthError::InsufficientPermission(_))
    ));
}

/// No key without access to the workspace and product.
pub async fn no_key_without_access_to_the_workspace_and_product(store: Arc<dyn StoreUnderTest>) {
    let t = keys(store).await;
    let member = t.k.join(WorkspaceRole::Member).await;
    // Membership alone: nothing to mint.
    assert_eq!(
        refusal(t.mint(&member, &["jobs:read"]).await),
        AccessDefect::PermissionNotHeld
    );
    // Not even the owner mints without a grant.
    assert_eq!(
        refusal(t.mint(&t.k.owner, &["jobs:read"]).await),
        AccessDefect::PermissionNotHeld
    );
    // A stranger, whatever they ask for.
    assert_eq!(
        refusal(t.mint(&user(), &["jobs:read"]).await),
        AccessDefect::NotAMember
    );
    // A product the workspace does not subscribe to.
    let manage = KeyRequest {
        product: product("manage"),
        permissions: PermissionSet::parse(["projects:read"]).unwrap(),
        ..request(&t.k, &[])
    };
    assert_eq!(
        refusal(t.minting.issue(&t.k.owner, manage).await),
        AccessDefect::ProductNotSubscribed
    );
}

/// A sensitive permission is minted only after 2fa when the policy says so.
pub async fn a_sensitive_permission_is_minted_only_after_2fa_when_the_policy_says_so(
    store: Arc<dyn StoreUnderTest>,
) {
    let t = keys(store).await;
    let member = t.k.join(WorkspaceRole::Member).await;
    t.k.grant(&member, "operator").await;
    t.k.access
        .set_two_factor_policy(
            &t.k.owner,
            t.k.workspace,
            TwoFactorPolicy {
                owners_and_admins: false,
                sensitive_roles: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        refusal(t.mint(&without_2fa(member), &["jobs:delete"]).await),
        AccessDefect::TwoFactorRequired
    );
    t.mint(&member, &["jobs:delete"]).await.unwrap();
}

/// A deactivated products keys answer wrong product until reactivated.
pub async fn a_deactivated_products_keys_answer_wrong_product_until_reactivated(
    store: Arc<dyn StoreUnderTest>,
) {
    let t = keys(store).await;
    let member = t.k.join(WorkspaceRole::Member).await;
    t.k.grant(&member, "submitter").await;
    let issued = t.mint(&member, &["jobs:create"]).await.unwrap();
    assert_eq!(t.verify(&issued, "jobs:create").await, Ok(()));

    t.k.access
        .deactivate_product(&t.k.owner, t.k.workspace, &t.k.submit)
        .await
        .unwrap();
    assert_eq!(
        t.verify(&issued, "jobs:create").await,
        Err(AuthError::WrongProduct)
    );
    // Nor can new keys be minted meanwhile.
    assert_eq!(
        refusal(t.mint(&member, &["jobs:create"]).await),
        AccessDefect::ProductNotSubscribed
    );

    t.k.access
        .activate_product(&t.k.owner, t.k.workspace, &t.k.submit)
        .await
        .unwrap();
    assert_eq!(t.verify(&issued, "jobs:create").await, Ok(()));
}

/// A subscription hook that always fails, as a store outage would.
struct Outage;

#[async_trait::async_trait]
impl SubscriptionCheck for Outage {
    async fn is_active(&self, _: WorkspaceId, _: &ProductId) -> Result<bool, Error> {
        Err(Error::StoreUnavailable("down".into()))
    }
}

/// Key verification asks the subscription hook only when configured.
pub async fn key_verification_asks_the_subscription_hook_only_when_configured(
    store: Arc<dyn StoreUnderTest>,
) {
    let pepper = Pepper::generate().unwrap();
    let plain = ApiKeys::builder(store.clone(), &pepper).build();
    let hooked = ApiKeys::builder(store.clone(), &pepper)
        .subscriptions(Arc::new(Outage))
        .build();
    let issued = plain
        .issue(NewKey {
            workspace_id: WorkspaceId::random(),
            product: product("submit"),
            environment: Environment::Production,
            permissions: PermissionSet::parse(["jobs:read"]).unwrap(),
            name: "legacy".into(),
            created_by: UserId::random(),
            expires_at: None,
        })
        .await
        .unwrap();
    // Without the hook, subscriptions are not this service's concern (as before).
    plain
        .verify(issued.expose_token(), &route("jobs:read"))
        .await
        .unwrap();
    // With it, a failing answer is "unavailable", never "valid".
    assert_eq!(
        hooked
            .verify(issued.expose_token(), &route("jobs:read"))
            .await
            .unwrap_err(),
        AuthError::Unavailable
    );
    // A key of another product is refused before the hook is asked.
    let manage = Requirement::new(product("manage"), Environment::Production);
    assert_eq!(
        hooked
            .verify(issued.expose_token(), &manage)
            .await
            .unwrap_err(),
        AuthError::WrongProduct
    );
}

/// Members manage their own keys and not other peoples.
pub async fn members_manage_their_own_keys_and_not_other_peoples(store: Arc<dyn StoreUnderTest>) {
    let t = keys(store).await;
    let ada = t.k.join(WorkspaceRole::Member).await;
    let bob = t.k.join(WorkspaceRole::Member).await;
    t.k.grant(&ada, "submitter").await;
    t.k.grant(&bob, "submitter").await;
    let adas = t.mint(&ada, &["jobs:read"]).await.unwrap();
    let bobs = t.mint(&bob, &["jobs:read"]).await.unwrap();
    let ws = t.k.workspace;

    let seen: Vec<_> = t
        .minting
        .list(&bob, ws)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(seen, [bobs.metadata.id]);
    assert_eq!(
        refusal(t.minting.revoke(&bob, &adas.metadata.id).await),
        AccessDefect::NotAllowed
    );
    assert_eq!(
        refusal(
            t.minting
                .rotate(&bob, &adas.metadata.id, Duration::minutes(5))
                .await
        ),
        AccessDefect::NotAllowed
    );
    assert_eq!(t.verify(&adas, "jobs:read").await, Ok(()));

    // Their own: rotate and revoke.
    let successor = t
        .minting
        .rotate(&bob, &bobs.metadata.id, Duration::ZERO)
        .await
        .unwrap();
    t.minting
        .revoke(&bob, &successor.metadata.id)
        .await
        .unwrap();
    assert!(matches!(
        t.verify(&successor, "jobs:read").await,
        Err(AuthError::InvalidKey(_))
    ));

    // An outsider does not even learn the key exists.
    assert!(matches!(
        t.minting.revoke(&user(), &adas.metadata.id).await,
        Err(Error::KeyNotFound(_))
    ));
}

/// Admins and key managers manage everyones keys.
pub async fn admins_and_key_managers_manage_everyones_keys(store: Arc<dyn StoreUnderTest>) {
    let t = keys(store).await;
    let ada = t.k.join(WorkspaceRole::Member).await;
    let admin = t.k.join(WorkspaceRole::Admin).await;
    let keeper = t.k.join(WorkspaceRole::Member).await;
    t.k.grant(&ada, "submitter").await;
    t.k.grant(&keeper, "key-manager").await;
    let first = t.mint(&ada, &["jobs:read"]).await.unwrap();
    let second = t.mint(&ada, &["jobs:create"]).await.unwrap();
    let ws = t.k.workspace;

    assert_eq!(t.minting.list(&admin, ws).await.unwrap().len(), 2);
    assert_eq!(t.minting.list(&keeper, ws).await.unwrap().len(), 2);
    t.minting.revoke(&admin, &first.metadata.id).await.unwrap();
    t.minting
        .revoke(&keeper, &second.metadata.id)
        .await
        .unwrap();
    for key in [&first, &second] {
        assert!(matches!(
            t.verify(key, "jobs:read").await,
            Err(AuthError::InvalidKey(_))
        ));
    }
    // keys:manage is a product permission: granted nowhere else, it manages nothing else.
    t.k.access
        .revoke_grant(
            &t.k.owner,
            ws,
            crate::access::Grantee::User(keeper.user_id()),
            &t.k.submit,
            &super::role("key-manager"),
        )
        .await
        .unwrap();
    assert!(t.minting.list(&keeper, ws).await.unwrap().is_empty());
}

/// A key is not rotated past its issuers rights.
pub async fn a_key_is_not_rotated_past_its_issuers_rights(store: Arc<dyn StoreUnderTest>) {
    let t = keys(store).await;
    let member = t.k.join(WorkspaceRole::Member).await;
    t.k.grant(&member, "submitter").await;
    let issued = t.mint(&member, &["jobs:create"]).await.unwrap();
    t.k.access
        .revoke_grant(
            &t.k.owner,
            t.k.workspace,
            crate::access::Grantee::User(member.user_id()),
            &t.k.submit,
            &super::role("submitter"),
        )
        .await
        .unwrap();
    assert_eq!(
        refusal(
            t.minting
                .rotate(&member, &issued.metadata.id, Duration::hours(1))
                .await
        ),
        AccessDefect::PermissionNotHeld
    );
    // Revoking one's own key is always allowed.
    t.minting
        .revoke(&member, &issued.metadata.id)
        .await
        .unwrap();
}

/// Key changes are audited.
pub async fn key_changes_are_audited(store: Arc<dyn StoreUnderTest>) {
    let t = keys(store).await;
    let member = t.k.join(WorkspaceRole::Member).await;
    t.k.grant(&member, "submitter").await;
    let issued = t
        .mint(&member, &["jobs:read", "jobs:create"])
        .await
        .unwrap();
    let successor = t
        .minting
        .rotate(&member, &issued.metadata.id, Duration::minutes(10))
        .await
        .unwrap();
    t.minting
        .revoke(&t.k.owner, &successor.metadata.id)
        .await
        .unwrap();
    let events = t.k.audit.events();
    let key_events: Vec<_> = events
        .iter()
        .filter(|e| e.action.starts_with("access.key."))
        .collect();
    let actions: Vec<_> = key_events.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            "access.key.issued",
            "access.key.rotated",
            "access.key.revoked"
        ]
    );
    let issued_event = key_events[0];
    assert_eq!(issued_event.actor, Some(member.user_id()));
    assert_eq!(issued_event.workspace_id, Some(t.k.workspace));
    assert_eq!(issued_event.subject, Some(issued.metadata.id.to_string()));
    assert_eq!(issued_event.details["permissions"], "jobs:create jobs:read");
    assert_eq!(key_events[2].actor, Some(t.k.owner.user_id()));
    let trail = serde_json::to_string(&events).unwrap();
    assert!(!trail.contains(issued.expose_token()));
    assert!(!trail.contains(successor.expose_token()));
}
