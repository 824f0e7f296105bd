//! Access in memory: every table behind one lock, so the compound steps (accept an
//! invitation, remove a member, a guarded role change, delete a group) are atomic. The lock
//! is never held across an `.await`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::MemoryStore;
use crate::Error;
use crate::access::{
    AccessDefect, Grant, GrantSource, Grantee, Group, GroupId, HeldGrant, Invitation, InvitationId,
    Member, Membership, RoleName, Subscription, TwoFactorPolicy, Workspace, WorkspaceRole,
};
use crate::ids::{ProductId, UserId, WorkspaceId};
use crate::store::AccessStore;

/// The access tables.
#[derive(Debug, Default)]
pub(super) struct AccessTables {
    tables: RwLock<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    workspaces: HashMap<WorkspaceId, Workspace>,
    /// Per workspace, in joining order.
    members: HashMap<WorkspaceId, Vec<Member>>,
    invitations: HashMap<InvitationId, Invitation>,
    groups: HashMap<GroupId, Group>,
    group_members: HashMap<GroupId, BTreeSet<UserId>>,
    subscriptions: HashMap<(WorkspaceId, ProductId), Subscription>,
    /// Per workspace, oldest first.
    grants: HashMap<WorkspaceId, Vec<Grant>>,
}

impl AccessTables {
    fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Tables {
    fn member(&self, workspace: WorkspaceId, user: UserId) -> Option<&Member> {
        self.members
            .get(&workspace)?
            .iter()
            .find(|m| m.user_id == user)
    }

    fn workspace_mut(&mut self, id: WorkspaceId) -> Result<&mut Workspace, Error> {
        self.workspaces
            .get_mut(&id)
            .ok_or(Error::Access(AccessDefect::NotAMember))
    }

    fn group(&self, workspace: WorkspaceId, id: GroupId) -> Result<&Group, Error> {
        self.groups
            .get(&id)
            .filter(|g| g.workspace_id == workspace)
            .ok_or(Error::Access(AccessDefect::GroupUnknown))
    }

    fn name_taken(&self, workspace: WorkspaceId, name: &str, except: Option<GroupId>) -> bool {
        self.groups.values().any(|g| {
            g.workspace_id == workspace && Some(g.id) != except && g.name.eq_ignore_ascii_case(name)
        })
    }

    /// Whether `user` is the only owner of `workspace`.
    fn is_last_owner(&self, workspace: WorkspaceId, user: UserId) -> bool {
        let Some(members) = self.members.get(&workspace) else {
            return false;
        };
        let mut owners = members.iter().filter(|m| m.role == WorkspaceRole::Owner);
        matches!((owners.next(), owners.next()), (Some(only), None) if only.user_id == user)
    }

    fn invitation_mut(&mut self, id: InvitationId) -> Result<&mut Invitation, Error> {
        self.invitations
            .get_mut(&id)
            .ok_or(Error::Access(AccessDefect::InvitationUnknown))
    }
}

#[async_trait]
impl AccessStore for MemoryStore {
    async fn create_workspace(&self, workspace: Workspace, owner: Member) -> Result<(), Error> {
        let mut t = self.access.write();
        if t.workspaces.contains_key(&workspace.id) {
            return Err(Error::Conflict(format!(
                "workspace {} exists",
                workspace.id
            )));
        }
        t.members.insert(workspace.id, vec![owner]);
        t.workspaces.insert(workspace.id, workspace);
        Ok(())
    }

    async fn find_workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>, Error> {
        Ok(self.access.read().workspaces.get(&id).cloned())
    }

    async fn rename_workspace(&self, id: WorkspaceId, name: &str) -> Result<Workspace, Error> {
        let mut t = self.access.write();
        let workspace = t.workspace_mut(id)?;
        workspace.name = name.to_owned();
        Ok(workspace.clone())
    }

    async fn set_two_factor_policy(
        &self,
        id: WorkspaceId,
        policy: TwoFactorPolicy,
    ) -> Result<Workspace, Error> {
        let mut t = self.access.write();
        let workspace = t.workspace_mut(id)?;
        workspace.two_factor = policy;
        Ok(workspace.clone())
    }

    async fn workspaces_of(&self, user: UserId) -> Result<Vec<Membership>, Error> {
        let t = self.access.read();
        let mut found: Vec<Membership> = t
            .members
            .values()
            .flatten()
            .filter(|m| m.user_id == user)
            .filter_map(|m| {
                let workspace = t.workspaces.get(&m.workspace_id)?.clone();
                Some(Membership {
                    workspace,
                    role: m.role,
                })
            })
            .collect();
        found.sort_by(|a, b| {
            (&a.workspace.name, a.workspace.id).cmp(&(&b.workspace.name, b.workspace.id))
        });
        Ok(found)
    }

    async fn find_member(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Option<Member>, Error> {
        Ok(self.access.read().member(workspace, user).cloned())
    }

    async fn list_members(&self, workspace: WorkspaceId) -> Result<Vec<Member>, Error> {
        Ok(self
            .access
            .read()
            .members
            .get(&workspace)
            .cloned()
            .unwrap_or_default())
    }

    async fn change_member_role(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        role: WorkspaceRole,
    ) -> Result<Member, Error> {
        let mut t = self.access.write();
        if role != WorkspaceRole::Owner && t.is_last_owner(workspace, user) {
            return Err(AccessDefect::LastOwner.into());
        }
        let member = t
            .members
            .get_mut(&workspace)
            .and_then(|ms| ms.iter_mut().find(|m| m.user_id == user))
            .ok_or(AccessDefect::UserNotAMember)?;
        let before = member.clone();
        member.role = role;
        Ok(before)
    }

    async fn remove_member(&self, workspace: WorkspaceId, user: UserId) -> Result<Member, Error> {
        let mut t = self.access.write();
        if t.is_last_owner(workspace, user) {
            return Err(AccessDefect::LastOwner.into());
        }
        let members = t
            .members
            .get_mut(&workspace)
            .ok_or(AccessDefect::UserNotAMember)?;
        let at = members
            .iter()
            .position(|m| m.user_id == user)
            .ok_or(AccessDefect::UserNotAMember)?;
        let removed = members.remove(at);
        let groups: Vec<GroupId> = t
            .groups
            .values()
            .filter(|g| g.workspace_id == workspace)
            .map(|g| g.id)
            .collect();
        for group in groups {
            if let Some(members) = t.group_members.get_mut(&group) {
                members.remove(&user);
            }
        }
        if let Some(grants) = t.grants.get_mut(&workspace) {
            grants.retain(|g| g.grantee != Grantee::User(user));
        }
        Ok(removed)
    }

    async fn insert_invitation(&self, invitation: Invitation) -> Result<(), Error> {
        let mut t = self.access.write();
        if t.invitations.contains_key(&invitation.id) {
            return Err(Error::Conflict(format!(
                "invitation {} exists",
                invitation.id
            )));
        }
        t.invitations.insert(invitation.id, invitation);
        Ok(())
    }

    async fn find_invitation(&self, id: InvitationId) -> Result<Option<Invitation>, Error> {
        Ok(self.access.read().invitations.get(&id).cloned())
    }

    async fn list_invitations(&self, workspace: WorkspaceId) -> Result<Vec<Invitation>, Error> {
        let t = self.access.read();
        let mut found: Vec<Invitation> = t
            .invitations
            .values()
            .filter(|i| i.workspace_id == workspace)
            .cloned()
            .collect();
        found.sort_by_key(|i| (i.created_at, i.id));
        Ok(found)
    }

    async fn revoke_invitation(
        &self,
        id: InvitationId,
        at: OffsetDateTime,
    ) -> Result<Invitation, Error> {
        let mut t = self.access.write();
        let invitation = t.invitation_mut(id)?;
        invitation.ensure_pending(at)?;
        invitation.revoked_at = Some(at);
        Ok(invitation.clone())
    }

    async fn accept_invitation(
        &self,
        id: InvitationId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<Member, Error> {
        let mut t = self.access.write();
        let invitation = t.invitation_mut(id)?;
        invitation.ensure_pending(at)?;
        let (workspace, role) = (invitation.workspace_id, invitation.role);
        if !t.workspaces.contains_key(&workspace) {
            return Err(AccessDefect::InvitationUnknown.into());
        }
        if t.member(workspace, user).is_some() {
            return Err(AccessDefect::AlreadyMember.into());
        }
        let member = Member {
            workspace_id: workspace,
            user_id: user,
            role,
            joined_at: at,
        };
        t.members.entry(workspace).or_default().push(member.clone());
        let invitation = t.invitation_mut(id)?;
        invitation.accepted_at = Some(at);
        invitation.accepted_by = Some(user);
        Ok(member)
    }

    async fn insert_group(&self, group: Group) -> Result<(), Error> {
        let mut t = self.access.write();
        if t.groups.contains_key(&group.id) {
            return Err(Error::Conflict(format!("group {} exists", group.id)));
        }
        if t.name_taken(group.workspace_id, &group.name, None) {
            return Err(AccessDefect::NameTaken.into());
        }
        t.group_members.insert(group.id, BTreeSet::new());
        t.groups.insert(group.id, group);
        Ok(())
    }

    async fn find_group(
        &self,
        workspace: WorkspaceId,
        id: GroupId,
    ) -> Result<Option<Group>, Error> {
        Ok(self.access.read().group(workspace, id).ok().cloned())
    }

    async fn list_groups(&self, workspace: WorkspaceId) -> Result<Vec<Group>, Error> {
        let t = self.access.read();
        let mut found: Vec<Group> = t
            .groups
            .values()
            .filter(|g| g.workspace_id == workspace)
            .cloned()
            .collect();
        found.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        Ok(found)
    }

    async fn rename_group(
        &self,
        workspace: WorkspaceId,
        id: GroupId,
        name: &str,
    ) -> Result<Group, Error> {
        let mut t = self.access.write();
        t.group(workspace, id)?;
        if t.name_taken(workspace, name, Some(id)) {
            return Err(AccessDefect::NameTaken.into());
        }
        let group = t.groups.get_mut(&id).ok_or(AccessDefect::GroupUnknown)?;
        group.name = name.to_owned();
        Ok(group.clone())
    }

    async fn delete_group(&self, workspace: WorkspaceId, id: GroupId) -> Result<Group, Error> {
        let mut t = self.access.write();
        t.group(workspace, id)?;
        let group = t.groups.remove(&id).ok_or(AccessDefect::GroupUnknown)?;
        t.group_members.remove(&id);
        if let Some(grants) = t.grants.get_mut(&workspace) {
            grants.retain(|g| g.grantee != Grantee::Group(id));
        }
        Ok(group)
    }

    async fn add_group_member(
        &self,
        workspace: WorkspaceId,
        group: GroupId,
        user: UserId,
    ) -> Result<bool, Error> {
        let mut t = self.access.write();
        t.group(workspace, group)?;
        if t.member(workspace, user).is_none() {
            return Err(AccessDefect::UserNotAMember.into());
        }
        Ok(t.group_members.entry(group).or_default().insert(user))
    }

    async fn remove_group_member(
        &self,
        workspace: WorkspaceId,
        group: GroupId,
        user: UserId,
    ) -> Result<bool, Error> {
        let mut t = self.access.write();
        t.group(workspace, group)?;
        Ok(t.group_members
            .get_mut(&group)
            .is_some_and(|members| members.remove(&user)))
    }

    async fn group_members(
        &self,
        workspace: WorkspaceId,
        group: GroupId,
    ) -> Result<Vec<UserId>, Error> {
        let t = self.access.read();
        t.group(workspace, group)?;
        Ok(t.group_members
            .get(&group)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default())
    }

    async fn set_subscription(&self, subscription: Subscription) -> Result<(), Error> {
        let mut t = self.access.write();
        let key = (subscription.workspace_id, subscription.product.clone());
        t.subscriptions.insert(key, subscription);
        Ok(())
    }

    async fn find_subscription(
        &self,
        workspace: WorkspaceId,
        product: &ProductId,
    ) -> Result<Option<Subscription>, Error> {
        let key = (workspace, product.clone());
        Ok(self.access.read().subscriptions.get(&key).cloned())
    }

    async fn list_subscriptions(&self, workspace: WorkspaceId) -> Result<Vec<Subscription>, Error> {
        let t = self.access.read();
        let mut found: Vec<Subscription> = t
            .subscriptions
            .values()
            .filter(|s| s.workspace_id == workspace)
            .cloned()
            .collect();
        found.sort_by(|a, b| a.product.cmp(&b.product));
        Ok(found)
    }

    async fn insert_grant(&self, grant: Grant) -> Result<bool, Error> {
        let mut t = self.access.write();
        let workspace = grant.workspace_id;
        match grant.grantee {
            Grantee::User(user) => {
                if t.member(workspace, user).is_none() {
                    return Err(AccessDefect::UserNotAMember.into());
                }
            }
            Grantee::Group(group) => {
                t.group(workspace, group)?;
            }
        }
        let grants = t.grants.entry(workspace).or_default();
        let exists = grants.iter().any(|g| {
            g.grantee == grant.grantee && g.product == grant.product && g.role == grant.role
        });
        if !exists {
            grants.push(grant);
        }
        Ok(!exists)
    }

    async fn delete_grant(
        &self,
        workspace: WorkspaceId,
        grantee: &Grantee,
        product: &ProductId,
        role: &RoleName,
    ) -> Result<bool, Error> {
        let mut t = self.access.write();
        let Some(grants) = t.grants.get_mut(&workspace) else {
            return Ok(false);
        };
        let before = grants.len();
        grants.retain(|g| !(g.grantee == *grantee && g.product == *product && g.role == *role));
        Ok(grants.len() != before)
    }

    async fn list_grants(&self, workspace: WorkspaceId) -> Result<Vec<Grant>, Error> {
        Ok(self
            .access
            .read()
            .grants
            .get(&workspace)
            .cloned()
            .unwrap_or_default())
    }

    async fn grants_held_by(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Vec<HeldGrant>, Error> {
        let t = self.access.read();
        if t.member(workspace, user).is_none() {
            return Ok(Vec::new());
        }
        let Some(grants) = t.grants.get(&workspace) else {
            return Ok(Vec::new());
        };
        let held = grants
            .iter()
            .filter_map(|g| {
                let source = match g.grantee {
                    Grantee::User(id) if id == user => GrantSource::Direct,
                    Grantee::Group(id)
                        if t.group_members.get(&id).is_some_and(|m| m.contains(&user)) =>
                    {
                        let name = t.groups.get(&id)?.name.clone();
                        GrantSource::Group { id, name }
                    }
                    _ => return None,
                };
                Some(HeldGrant {
                    grant: g.clone(),
                    source,
                })
            })
            .collect();
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;

    fn at() -> OffsetDateTime {
        time::macros::datetime!(2026-01-01 0:00 UTC)
    }

    async fn workspace_with_owner(store: &MemoryStore) -> (WorkspaceId, UserId) {
        let (id, owner) = (WorkspaceId::random(), UserId::random());
        let workspace = Workspace {
            id,
            name: "Acme".into(),
            created_by: owner,
            created_at: at(),
            two_factor: TwoFactorPolicy::default(),
        };
        let member = Member {
            workspace_id: id,
            user_id: owner,
            role: WorkspaceRole::Owner,
            joined_at: at(),
        };
        store.create_workspace(workspace, member).await.unwrap();
        (id, owner)
    }

    fn invitation(workspace: WorkspaceId) -> Invitation {
        Invitation {
            id: InvitationId::random(),
            workspace_id: workspace,
            email: "ada@example.com".into(),
            role: WorkspaceRole::Member,
            invited_by: UserId::random(),
            created_at: at(),
            expires_at: at() + Duration::days(1),
            token_hash: [0; 32],
            accepted_at: None,
            accepted_by: None,
            revoked_at: None,
        }
    }

    fn defect<T: std::fmt::Debug>(result: Result<T, Error>) -> AccessDefect {
        match result {
            Err(Error::Access(defect)) => defect,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn accepting_rechecks_the_invitation_atomically() {
        let store = MemoryStore::new();
        let (ws, owner) = workspace_with_owner(&store).await;
        let used = invitation(ws);
        store.insert_invitation(used.clone()).await.unwrap();
        let ada = UserId::random();
        store.accept_invitation(used.id, ada, at()).await.unwrap();
        let again = store
            .accept_invitation(used.id, UserId::random(), at())
            .await;
        assert_eq!(defect(again), AccessDefect::InvitationUsed);

        let late = invitation(ws);
        store.insert_invitation(late.clone()).await.unwrap();
        let after_expiry = at() + Duration::days(1);
        let refused = store.accept_invitation(late.id, UserId::random(), after_expiry);
        assert_eq!(defect(refused.await), AccessDefect::InvitationExpired);

        let revoked = invitation(ws);
        store.insert_invitation(revoked.clone()).await.unwrap();
        store.revoke_invitation(revoked.id, at()).await.unwrap();
        let refused = store.accept_invitation(revoked.id, UserId::random(), at());
        assert_eq!(defect(refused.await), AccessDefect::InvitationRevoked);

        let for_owner = invitation(ws);
        store.insert_invitation(for_owner.clone()).await.unwrap();
        let refused = store.accept_invitation(for_owner.id, owner, at());
        assert_eq!(defect(refused.await), AccessDefect::AlreadyMember);
        assert_eq!(
            store
                .find_invitation(for_owner.id)
                .await
                .unwrap()
                .unwrap()
                .status(at()),
            crate::access::InvitationStatus::Pending
        );
    }

    #[tokio::test]
    async fn removing_a_member_takes_their_groups_and_grants_but_never_the_last_owner() {
        let store = MemoryStore::new();
        let (ws, owner) = workspace_with_owner(&store).await;
        assert_eq!(
            defect(store.remove_member(ws, owner).await),
            AccessDefect::LastOwner
        );
        assert_eq!(
            defect(
                store
                    .change_member_role(ws, owner, WorkspaceRole::Admin)
                    .await
            ),
            AccessDefect::LastOwner
        );
        let invited = invitation(ws);
        store.insert_invitation(invited.clone()).await.unwrap();
        let ada = UserId::random();
        store
            .accept_invitation(invited.id, ada, at())
            .await
            .unwrap();
        let group = Group {
            id: GroupId::random(),
            workspace_id: ws,
            name: "Team".into(),
            created_by: owner,
            created_at: at(),
        };
        store.insert_group(group.clone()).await.unwrap();
        assert!(store.add_group_member(ws, group.id, ada).await.unwrap());
        let grant = |grantee| Grant {
            workspace_id: ws,
            grantee,
            product: "submit".parse().unwrap(),
            role: "viewer".parse().unwrap(),
            granted_by: owner,
            granted_at: at(),
        };
        assert!(store.insert_grant(grant(Grantee::User(ada))).await.unwrap());
        assert!(!store.insert_grant(grant(Grantee::User(ada))).await.unwrap());
        assert!(
            store
                .insert_grant(grant(Grantee::Group(group.id)))
                .await
                .unwrap()
        );
        assert_eq!(store.grants_held_by(ws, ada).await.unwrap().len(), 2);

        store.remove_member(ws, ada).await.unwrap();
        assert!(store.grants_held_by(ws, ada).await.unwrap().is_empty());
        assert!(store.group_members(ws, group.id).await.unwrap().is_empty());
        assert_eq!(store.list_grants(ws).await.unwrap().len(), 1);
        assert_eq!(
            defect(store.insert_grant(grant(Grantee::User(ada))).await),
            AccessDefect::UserNotAMember
        );
        assert_eq!(
            defect(store.add_group_member(ws, group.id, ada).await),
            AccessDefect::UserNotAMember
        );
    }
}
