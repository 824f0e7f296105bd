//! The access model as the product docs describe it: an account is invited into workspaces
//! and granted products within them; membership alone grants no product; owners and admins
//! manage, members do not; escalation attempts are refused; every change is audited.

use std::sync::Arc;

use crate::testing::conformance::StoreUnderTest;

use super::{Kit, kit, perm, product, refusal, role, user, without_2fa};
use crate::access::{AccessDefect, GrantSource, Grantee, TwoFactorPolicy, WorkspaceRole};
use time::Duration;

/// Membership alone grants no product.
pub async fn membership_alone_grants_no_product(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let member = k.join(WorkspaceRole::Member).await;
    assert_eq!(
        k.may(&member, "jobs:read").await,
        Err(AccessDefect::PermissionNotHeld)
    );
    // Not even the owner: a workspace role is not a product role.
    assert_eq!(
        k.may(&k.owner, "jobs:read").await,
        Err(AccessDefect::PermissionNotHeld)
    );
    let effective = k
        .access
        .effective_permissions(&member, k.workspace, member.user_id())
        .await
        .unwrap();
    assert!(effective.roles.is_empty());

    k.grant(&member, "viewer").await;
    assert_eq!(k.may(&member, "jobs:read").await, Ok(()));
    assert_eq!(
        k.may(&member, "jobs:create").await,
        Err(AccessDefect::PermissionNotHeld)
    );
}

/// A grant gives nothing until the workspace subscribes.
pub async fn a_grant_gives_nothing_until_the_workspace_subscribes(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let member = k.join(WorkspaceRole::Member).await;
    let manage = product("manage");
    k.access
        .grant(
            &k.owner,
            k.workspace,
            Grantee::User(member.user_id()),
            &manage,
            &role("reader"),
        )
        .await
        .unwrap();
    let read = perm("projects:read");
    let check = || k.access.check(&member, k.workspace, &manage, &read);
    assert_eq!(refusal(check().await), AccessDefect::ProductNotSubscribed);
    k.access
        .activate_product(&k.owner, k.workspace, &manage)
        .await
        .unwrap();
    check().await.unwrap();
    k.access
        .deactivate_product(&k.owner, k.workspace, &manage)
        .await
        .unwrap();
    assert_eq!(refusal(check().await), AccessDefect::ProductNotSubscribed);
}

/// A grant in one workspace gives nothing in another.
pub async fn a_grant_in_one_workspace_gives_nothing_in_another(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let member = k.join(WorkspaceRole::Member).await;
    k.grant(&member, "submitter").await;
    let elsewhere = k.access.create_workspace(&k.owner, "Other").await.unwrap();
    let check = k
        .access
        .check(&member, elsewhere.id, &k.submit, &perm("jobs:read"))
        .await;
    assert_eq!(refusal(check), AccessDefect::NotAMember);
    assert_eq!(
        refusal(k.access.may_switch_to(&member, elsewhere.id).await),
        AccessDefect::NotAMember
    );
}

/// Grants through groups reach every member of the group.
pub async fn grants_through_groups_reach_every_member_of_the_group(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let ada = k.join(WorkspaceRole::Member).await;
    let bob = k.join(WorkspaceRole::Member).await;
    let ops = k
        .access
        .create_group(&k.owner, k.workspace, "Operations")
        .await
        .unwrap();
    k.access
        .grant(
            &k.owner,
            k.workspace,
            Grantee::Group(ops.id),
            &k.submit,
            &role("submitter"),
        )
        .await
        .unwrap();
    assert!(
        k.access
            .add_to_group(&k.owner, k.workspace, ops.id, ada.user_id())
            .await
            .unwrap()
    );
    assert_eq!(k.may(&ada, "jobs:create").await, Ok(()));
    assert_eq!(
        k.may(&bob, "jobs:create").await,
        Err(AccessDefect::PermissionNotHeld)
    );

    let allowed_by = k
        .access
        .check(&ada, k.workspace, &k.submit, &perm("jobs:create"))
        .await
        .unwrap();
    assert_eq!(allowed_by.role, role("submitter"));
    assert_eq!(
        allowed_by.source,
        GrantSource::Group {
            id: ops.id,
            name: "Operations".into()
        }
    );

    // Leaving the group, or the group going away, ends it at once.
    k.access
        .remove_from_group(&k.owner, k.workspace, ops.id, ada.user_id())
        .await
        .unwrap();
    assert_eq!(
        k.may(&ada, "jobs:create").await,
        Err(AccessDefect::PermissionNotHeld)
    );
    k.access
        .add_to_group(&k.owner, k.workspace, ops.id, bob.user_id())
        .await
        .unwrap();
    assert_eq!(k.may(&bob, "jobs:read").await, Ok(()));
    k.access
        .delete_group(&k.owner, k.workspace, ops.id)
        .await
        .unwrap();
    assert_eq!(
        k.may(&bob, "jobs:read").await,
        Err(AccessDefect::PermissionNotHeld)
    );
}

/// Revoking a grant takes effect at once.
pub async fn revoking_a_grant_takes_effect_at_once(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let member = k.join(WorkspaceRole::Member).await;
    k.grant(&member, "submitter").await;
    assert_eq!(k.may(&member, "jobs:create").await, Ok(()));
    let revoked = k
        .access
        .revoke_grant(
            &k.owner,
            k.workspace,
            Grantee::User(member.user_id()),
            &k.submit,
            &role("submitter"),
        )
        .await
        .unwrap();
    assert!(revoked);
    assert_eq!(
        k.may(&member, "jobs:create").await,
        Err(AccessDefect::PermissionNotHeld)
    );
}

/// Effective permissions say where each comes from.
pub async fn effective_permissions_say_where_each_comes_from(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let admin = k.join(WorkspaceRole::Admin).await;
    let member = k.join(WorkspaceRole::Member).await;
    let other = k.join(WorkspaceRole::Member).await;
    k.grant(&member, "viewer").await;
    let readers = k
        .access
        .create_group(&admin, k.workspace, "Readers")
        .await
        .unwrap();
    k.access
        .add_to_group(&admin, k.workspace, readers.id, member.user_id())
        .await
        .unwrap();
    k.access
        .grant(
            &admin,
            k.workspace,
            Grantee::Group(readers.id),
            &k.submit,
            &role("submitter"),
        )
        .await
        .unwrap();

    let effective = k
        .access
        .effective_permissions(&admin, k.workspace, member.user_id())
        .await
        .unwrap();
    let read = perm("jobs:read");
    let sources: Vec<_> = effective
        .sources(&k.submit, &read)
        .map(|r| (r.role.as_str().to_owned(), r.source.clone()))
        .collect();
    assert_eq!(
        sources,
        vec![
            ("viewer".to_owned(), GrantSource::Direct),
            (
                "submitter".to_owned(),
                GrantSource::Group {
                    id: readers.id,
                    name: "Readers".into()
                }
            ),
        ]
    );
    assert_eq!(
        effective
            .permissions(&k.submit)
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>(),
        ["jobs:create", "jobs:read"]
    );
    assert!(!effective.allows(&k.submit, &perm("jobs:delete")));

    // A plain member sees their own, not somebody else's.
    k.access
        .effective_permissions(&other, k.workspace, other.user_id())
        .await
        .unwrap();
    assert_eq!(
        refusal(
            k.access
                .effective_permissions(&other, k.workspace, member.user_id())
                .await
        ),
        AccessDefect::NotAllowed
    );
}

/// A member cannot grant itself admin or a product.
pub async fn a_member_cannot_grant_itself_admin_or_a_product(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let member = k.join(WorkspaceRole::Member).await;
    let me = member.user_id();
    assert_eq!(
        refusal(
            k.access
                .change_role(&member, k.workspace, me, WorkspaceRole::Admin)
                .await
        ),
        AccessDefect::NotAllowed
    );
    assert_eq!(
        refusal(
            k.access
                .grant(
                    &member,
                    k.workspace,
                    Grantee::User(me),
                    &k.submit,
                    &role("operator")
                )
                .await
        ),
        AccessDefect::NotAllowed
    );
    assert_eq!(
        refusal(
            k.access
                .invite(
                    &member,
                    k.workspace,
                    "friend@example.com",
                    WorkspaceRole::Admin
                )
                .await
        ),
        AccessDefect::NotAllowed
    );
    assert_eq!(
        refusal(k.access.create_group(&member, k.workspace, "Cabal").await),
        AccessDefect::NotAllowed
    );
    let members = k.access.members(&member, k.workspace).await.unwrap();
    let mine = members.iter().find(|m| m.user_id == me).unwrap();
    assert_eq!(mine.role, WorkspaceRole::Member);
    assert_eq!(
        k.may(&member, "jobs:read").await,
        Err(AccessDefect::PermissionNotHeld)
    );
}

/// An admin can neither make nor touch owners.
pub async fn an_admin_can_neither_make_nor_touch_owners(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let admin = k.join(WorkspaceRole::Admin).await;
    let member = k.join(WorkspaceRole::Member).await;
    let ws = k.workspace;
    assert_eq!(
        refusal(
            k.access
                .change_role(&admin, ws, admin.user_id(), WorkspaceRole::Owner)
                .await
        ),
        AccessDefect::NotAllowed
    );
    assert_eq!(
        refusal(
            k.access
                .change_role(&admin, ws, member.user_id(), WorkspaceRole::Owner)
                .await
        ),
        AccessDefect::NotAllowed
    );
    assert_eq!(
        refusal(
            k.access
                .change_role(&admin, ws, k.owner.user_id(), WorkspaceRole::Member)
                .await
        ),
        AccessDefect::NotAllowed
    );
    assert_eq!(
        refusal(k.access.remove_member(&admin, ws, k.owner.user_id()).await),
        AccessDefect::NotAllowed
    );
    assert_eq!(
        refusal(
            k.access
                .invite(&admin, ws, "boss@example.com", WorkspaceRole::Owner)
                .await
        ),
        AccessDefect::NotAllowed
    );
    assert_eq!(
        refusal(
            k.access
                .activate_product(&admin, ws, &product("manage"))
                .await
        ),
        AccessDefect::NotAllowed
    );
    // What an admin may do: promote a member up to admin, and manage grants.
    let promoted = k
        .access
        .change_role(&admin, ws, member.user_id(), WorkspaceRole::Admin)
        .await
        .unwrap();
    assert_eq!(promoted.role, WorkspaceRole::Admin);
}

/// The last owner can neither leave nor be demoted.
pub async fn the_last_owner_can_neither_leave_nor_be_demoted(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let ws = k.workspace;
    let me = k.owner.user_id();
    assert_eq!(
        refusal(k.access.leave(&k.owner, ws).await),
        AccessDefect::LastOwner
    );
    assert_eq!(
        refusal(
            k.access
                .change_role(&k.owner, ws, me, WorkspaceRole::Admin)
                .await
        ),
        AccessDefect::LastOwner
    );
    assert_eq!(
        refusal(k.access.remove_member(&k.owner, ws, me).await),
        AccessDefect::LastOwner
    );

    // With a second owner, the first may step down.
    let second = k.join(WorkspaceRole::Owner).await;
    k.access
        .change_role(&k.owner, ws, me, WorkspaceRole::Admin)
        .await
        .unwrap();
    assert_eq!(
        refusal(k.access.leave(&second, ws).await),
        AccessDefect::LastOwner
    );
}

/// A removed member loses the workspace and its grants.
pub async fn a_removed_member_loses_the_workspace_and_its_grants(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let member = k.join(WorkspaceRole::Member).await;
    k.grant(&member, "submitter").await;
    let team = k
        .access
        .create_group(&k.owner, k.workspace, "Team")
        .await
        .unwrap();
    k.access
        .add_to_group(&k.owner, k.workspace, team.id, member.user_id())
        .await
        .unwrap();
    k.access.may_switch_to(&member, k.workspace).await.unwrap();

    let removed = k
        .access
        .remove_member(&k.owner, k.workspace, member.user_id())
        .await
        .unwrap();
    assert_eq!(removed.user_id, member.user_id());
    assert_eq!(
        refusal(k.access.may_switch_to(&member, k.workspace).await),
        AccessDefect::NotAMember
    );
    assert_eq!(
        k.may(&member, "jobs:read").await,
        Err(AccessDefect::NotAMember)
    );
    assert!(
        k.access
            .group_members(&k.owner, k.workspace, team.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        k.access
            .grants(&k.owner, k.workspace)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(k.access.workspaces(&member).await.unwrap().is_empty());
    let event = k.audit.events().pop().unwrap();
    assert_eq!(event.action, "access.member.removed");
    assert_eq!(event.subject, Some(member.user_id().to_string()));
}

/// An invitation is accepted only by the invited account.
pub async fn an_invitation_is_accepted_only_by_the_invited_account(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let invited = k
        .access
        .invite(
            &k.owner,
            k.workspace,
            "Ada@Example.com",
            WorkspaceRole::Member,
        )
        .await
        .unwrap();
    let token = invited.token.expose_secret();
    let mallory = user();
    assert_eq!(
        refusal(
            k.access
                .accept_invitation(&mallory, token, "mallory@example.com")
                .await
        ),
        AccessDefect::InvitationForAnotherAccount
    );
    assert_eq!(
        refusal(k.access.may_switch_to(&mallory, k.workspace).await),
        AccessDefect::NotAMember
    );
    let ada = user();
    let member = k
        .access
        .accept_invitation(&ada, token, " ada@example.COM ")
        .await
        .unwrap();
    assert_eq!(member.role, WorkspaceRole::Member);
    k.access.may_switch_to(&ada, k.workspace).await.unwrap();
}

/// An invitation is single use.
pub async fn an_invitation_is_single_use(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let invited = k
        .access
        .invite(
            &k.owner,
            k.workspace,
            "ada@example.com",
            WorkspaceRole::Admin,
        )
        .await
        .unwrap();
    let token = invited.token.expose_secret();
    let ada = user();
    k.access
        .accept_invitation(&ada, token, "ada@example.com")
        .await
        .unwrap();
    // A second account holding the same address (or a replay) gets nothing.
    let twin = user();
    assert_eq!(
        refusal(
            k.access
                .accept_invitation(&twin, token, "ada@example.com")
                .await
        ),
        AccessDefect::InvitationUsed
    );
    assert_eq!(
        refusal(k.access.may_switch_to(&twin, k.workspace).await),
        AccessDefect::NotAMember
    );
    let listed = k.access.invitations(&k.owner, k.workspace).await.unwrap();
    assert_eq!(listed[0].accepted_by, Some(ada.user_id()));
}

/// An expired invitation is refused.
pub async fn an_expired_invitation_is_refused(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let invited = k
        .access
        .invite(
            &k.owner,
            k.workspace,
            "ada@example.com",
            WorkspaceRole::Member,
        )
        .await
        .unwrap();
    k.clock.advance(Duration::days(7));
    let ada = user();
    assert_eq!(
        refusal(
            k.access
                .accept_invitation(&ada, invited.token.expose_secret(), "ada@example.com")
                .await
        ),
        AccessDefect::InvitationExpired
    );
    assert_eq!(
        refusal(k.access.may_switch_to(&ada, k.workspace).await),
        AccessDefect::NotAMember
    );
}

/// A revoked invitation is refused.
pub async fn a_revoked_invitation_is_refused(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let member = k.join(WorkspaceRole::Member).await;
    let invited = k
        .access
        .invite(
            &k.owner,
            k.workspace,
            "ada@example.com",
            WorkspaceRole::Member,
        )
        .await
        .unwrap();
    let id = invited.invitation.id;
    assert_eq!(
        refusal(k.access.revoke_invitation(&member, k.workspace, id).await),
        AccessDefect::NotAllowed
    );
    k.access
        .revoke_invitation(&k.owner, k.workspace, id)
        .await
        .unwrap();
    let ada = user();
    assert_eq!(
        refusal(
            k.access
                .accept_invitation(&ada, invited.token.expose_secret(), "ada@example.com")
                .await
        ),
        AccessDefect::InvitationRevoked
    );
}

/// A forged invitation token is refused.
pub async fn a_forged_invitation_token_is_refused(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let invited = k
        .access
        .invite(
            &k.owner,
            k.workspace,
            "ada@example.com",
            WorkspaceRole::Member,
        )
        .await
        .unwrap();
    let token = invited.token.expose_secret();
    // Same invitation id, another secret.
    let last = token.chars().last().unwrap();
    let forged = format!(
        "{}{}",
        &token[..token.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    let ada = user();
    for bad in [forged.as_str(), "vinv_nonsense", ""] {
        assert_eq!(
            refusal(
                k.access
                    .accept_invitation(&ada, bad, "ada@example.com")
                    .await
            ),
            AccessDefect::InvitationUnknown
        );
    }
    assert!(!format!("{invited:?}").contains(token));
}

/// Only owners manage subscriptions.
pub async fn only_owners_manage_subscriptions(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let admin = k.join(WorkspaceRole::Admin).await;
    let manage = product("manage");
    assert_eq!(
        refusal(
            k.access
                .activate_product(&admin, k.workspace, &manage)
                .await
        ),
        AccessDefect::NotAllowed
    );
    assert_eq!(
        refusal(
            k.access
                .deactivate_product(&admin, k.workspace, &k.submit)
                .await
        ),
        AccessDefect::NotAllowed
    );
    assert_eq!(
        refusal(
            k.access
                .activate_product(&k.owner, k.workspace, &product("prepare"))
                .await
        ),
        AccessDefect::ProductUnknown
    );
    let sub = k
        .access
        .activate_product(&k.owner, k.workspace, &manage)
        .await
        .unwrap();
    assert!(sub.active);
    let listed = k.access.subscriptions(&admin, k.workspace).await.unwrap();
    assert_eq!(listed.len(), 2);
}

/// Grants name catalogue products and roles.
pub async fn grants_name_catalogue_products_and_roles(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let member = k.join(WorkspaceRole::Member).await;
    let to = Grantee::User(member.user_id());
    assert_eq!(
        refusal(
            k.access
                .grant(
                    &k.owner,
                    k.workspace,
                    to,
                    &product("prepare"),
                    &role("viewer")
                )
                .await
        ),
        AccessDefect::ProductUnknown
    );
    assert_eq!(
        refusal(
            k.access
                .grant(&k.owner, k.workspace, to, &k.submit, &role("superuser"))
                .await
        ),
        AccessDefect::RoleUnknown
    );
    let stranger = Grantee::User(user().user_id());
    assert_eq!(
        refusal(
            k.access
                .grant(&k.owner, k.workspace, stranger, &k.submit, &role("viewer"))
                .await
        ),
        AccessDefect::UserNotAMember
    );
    let ghost = Grantee::Group(crate::access::GroupId::random());
    assert_eq!(
        refusal(
            k.access
                .grant(&k.owner, k.workspace, ghost, &k.submit, &role("viewer"))
                .await
        ),
        AccessDefect::GroupUnknown
    );
}

/// Groups hold only members and unique names.
pub async fn groups_hold_only_members_and_unique_names(store: Arc<dyn StoreUnderTest>) {
    let k = kit(store).await;
    let member = k.join(WorkspaceRole::Member).await;
    let ws = k.workspace;
    let team = k.access.create_group(&k.owner, ws, "Team").await.unwrap();
    assert_eq!(
        refusal(k.access.create_group(&k.owner, ws, "team").await),
        AccessDefect::NameTaken
    );
    assert_eq!(
        refusal(
            k.access
                .add_to_group(&k.owner, ws, team.id, user().user_id())
                .await
        ),
        AccessDefect::UserNotAMember
    );
    assert_eq!(
        refusal(
            k.access
                .add_to_group(&member, ws, team.id, member.user_id())
                .await
        ),
        AccessDefect::NotAllowed
    );
    let renamed = k
        .access
        .rename_group(&k.owner, ws, team.id, "Core team")
        .await
        .unwrap();
    assert_eq!(renamed.name, "Core team");
    let groups = k.access.groups(&member, ws).await.unwrap();
    assert_eq!(groups, vec![renamed]);
    // A group of another workspace is unknown here.
    let other = k.access.create_workspace(&k.owner, "Other").await.unwrap();
    assert_eq!(
        refusal(
            k.access
                .add_to_group(&k.owner, other.id, team.id, k.owner.user_id())
                .await
        ),
        AccessDefect::GroupUnknown
    );
}

/// A two factor policy for admins refuses their actions without 2fa.
pub async fn a_two_factor_policy_for_admins_refuses_their_actions_without_2fa(
    store: Arc<dyn StoreUnderTest>,
) {
    let k = kit(store).await;
    let admin = k.join(WorkspaceRole::Admin).await;
    let member = k.join(WorkspaceRole::Member).await;
    k.grant(&member, "viewer").await;
    k.grant(&admin, "viewer").await;
    k.access
        .set_two_factor_policy(
            &k.owner,
            k.workspace,
            TwoFactorPolicy {
                owners_and_admins: true,
                sensitive_roles: false,
            },
        )
        .await
        .unwrap();

    let weak_admin = without_2fa(admin);
    assert_eq!(
        refusal(
            k.access
                .invite(
                    &weak_admin,
                    k.workspace,
                    "x@example.com",
                    WorkspaceRole::Member
                )
                .await
        ),
        AccessDefect::TwoFactorRequired
    );
    assert_eq!(
        k.may(&weak_admin, "jobs:read").await,
        Err(AccessDefect::TwoFactorRequired)
    );
    assert_eq!(
        refusal(
            k.access
                .set_two_factor_policy(
                    &without_2fa(k.owner),
                    k.workspace,
                    TwoFactorPolicy::default()
                )
                .await
        ),
        AccessDefect::TwoFactorRequired
    );
    // They may still switch to the workspace, to be asked for 2FA there.
    k.access
        .may_switch_to(&weak_admin, k.workspace)
        .await
        .unwrap();
    // With 2FA they act; plain members are not concerned.
    k.access
        .invite(&admin, k.workspace, "x@example.com", WorkspaceRole::Member)
        .await
        .unwrap();
    assert_eq!(k.may(&without_2fa(member), "jobs:read").await, Ok(()));
}

/// A two factor policy for sensitive roles guards their permissions.
pub async fn a_two_factor_policy_for_sensitive_roles_guards_their_permissions(
    store: Arc<dyn StoreUnderTest>,
) {
    let k = kit(store).await;
    let member = k.join(WorkspaceRole::Member).await;
    k.grant(&member, "viewer").await;
    k.grant(&member, "operator").await;
    let weak = without_2fa(member);
    // Without the policy a sensitive role works from any session.
    assert_eq!(k.may(&weak, "jobs:delete").await, Ok(()));

    k.access
        .set_two_factor_policy(
            &k.owner,
            k.workspace,
            TwoFactorPolicy {
                owners_and_admins: false,
                sensitive_roles: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        k.may(&weak, "jobs:delete").await,
        Err(AccessDefect::TwoFactorRequired)
    );
    // What a non-sensitive role gives still works; what nobody gives is simply not held.
    assert_eq!(k.may(&weak, "jobs:read").await, Ok(()));
    assert_eq!(k.may(&member, "jobs:delete").await, Ok(()));
}

/// A user lists their workspaces and switches only to those.
pub async fn a_user_lists_their_workspaces_and_switches_only_to_those(
    store: Arc<dyn StoreUnderTest>,
) {
    let k = kit(store).await;
    let member = k.join(WorkspaceRole::Member).await;
    let own = k.access.create_workspace(&member, "Zeta").await.unwrap();
    let listed = k.access.workspaces(&member).await.unwrap();
    let names: Vec<_> = listed
        .iter()
        .map(|m| (m.workspace.name.as_str(), m.role))
        .collect();
    assert_eq!(
        names,
        [
            ("Acme", WorkspaceRole::Member),
            ("Zeta", WorkspaceRole::Owner)
        ]
    );
    k.access.may_switch_to(&member, own.id).await.unwrap();
    assert_eq!(
        refusal(k.access.may_switch_to(&user(), k.workspace).await),
        AccessDefect::NotAMember
    );
    assert_eq!(
        refusal(
            k.access
                .rename_workspace(&member, k.workspace, "Mine")
                .await
        ),
        AccessDefect::NotAllowed
    );
    let renamed = k
        .access
        .rename_workspace(&k.owner, k.workspace, "Acme Ltd")
        .await
        .unwrap();
    assert_eq!(renamed.name, "Acme Ltd");
}

/// Every change is audited with who what and where.
pub async fn every_change_is_audited_with_who_what_and_where(store: Arc<dyn StoreUnderTest>) {
    let Kit {
        access,
        audit,
        owner,
        workspace,
        submit,
        clock,
        ..
    } = kit(store).await;
    let invited = access
        .invite(&owner, workspace, "ada@example.com", WorkspaceRole::Member)
        .await
        .unwrap();
    let ada = user();
    access
        .accept_invitation(&ada, invited.token.expose_secret(), "ada@example.com")
        .await
        .unwrap();
    access
        .change_role(&owner, workspace, ada.user_id(), WorkspaceRole::Admin)
        .await
        .unwrap();
    let team = access
        .create_group(&owner, workspace, "Team")
        .await
        .unwrap();
    access
        .add_to_group(&owner, workspace, team.id, ada.user_id())
        .await
        .unwrap();
    let to = Grantee::Group(team.id);
    access
        .grant(&owner, workspace, to, &submit, &role("viewer"))
        .await
        .unwrap();
    access
        .revoke_grant(&owner, workspace, to, &submit, &role("viewer"))
        .await
        .unwrap();
    access
        .deactivate_product(&owner, workspace, &submit)
        .await
        .unwrap();
    access.leave(&ada, workspace).await.unwrap();

    assert_eq!(
        audit.actions(),
        [
            "access.workspace.created",
            "access.subscription.activated",
            "access.member.invited",
            "access.member.joined",
            "access.member.role_changed",
            "access.group.created",
            "access.group.member_added",
            "access.grant.created",
            "access.grant.revoked",
            "access.subscription.deactivated",
            "access.member.left",
        ]
    );
    let events = audit.events();
    assert!(events.iter().all(|e| e.workspace_id == Some(workspace)));
    assert!(events.iter().all(|e| e.at == clock_now(&clock)));
    let role_changed = &events[4];
    assert_eq!(role_changed.actor, Some(owner.user_id()));
    assert_eq!(role_changed.subject, Some(ada.user_id().to_string()));
    assert_eq!(role_changed.details["from"], "member");
    assert_eq!(role_changed.details["to"], "admin");
    assert_eq!(events[3].actor, Some(ada.user_id()));
    // The invitation token never reaches the trail.
    let trail = serde_json::to_string(&events).unwrap();
    assert!(!trail.contains(invited.token.expose_secret()));
}

/// Sessions ask the access service who belongs to a workspace.
pub async fn sessions_ask_the_access_service_who_belongs_to_a_workspace(
    store: Arc<dyn StoreUnderTest>,
) {
    use crate::accounts::WorkspaceMembership;
    let k = kit(store).await;
    let member = k.join(WorkspaceRole::Member).await;
    assert!(
        k.access
            .is_member(member.user_id(), k.workspace)
            .await
            .unwrap()
    );
    assert!(
        !k.access
            .is_member(user().user_id(), k.workspace)
            .await
            .unwrap()
    );
    k.access.leave(&member, k.workspace).await.unwrap();
    assert!(
        !k.access
            .is_member(member.user_id(), k.workspace)
            .await
            .unwrap()
    );
}

fn clock_now(clock: &crate::ManualClock) -> time::OffsetDateTime {
    use crate::Clock as _;
    clock.now()
}
