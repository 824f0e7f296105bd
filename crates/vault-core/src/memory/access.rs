//! Access rows in memory: workspaces, members, invitations, groups, grants, subscriptions.

use async_trait::async_trait;

use super::transaction::MemoryTransaction;
use crate::Error;
use crate::access::{
    Grant, Grantee, Group, GroupId, Invitation, InvitationId, Member, RoleName, Subscription,
    Workspace,
};
use crate::ids::{ProductId, UserId, WorkspaceId};
use crate::store::{
    GrantRows, GroupRows, InvitationRows, MemberRows, SubscriptionRows, WorkspaceRows,
};

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[async_trait]
impl WorkspaceRows for MemoryTransaction<'_> {
    async fn workspace(&mut self, id: WorkspaceId) -> Result<Option<Workspace>, Error> {
        Ok(self.tables().workspaces.get(&id).cloned())
    }

    async fn put_workspace(&mut self, workspace: &Workspace) -> Result<(), Error> {
        self.tables_mut()?
            .workspaces
            .insert(workspace.id, workspace.clone());
        Ok(())
    }
}

#[async_trait]
impl MemberRows for MemoryTransaction<'_> {
    async fn member(
        &mut self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Option<Member>, Error> {
        Ok(self
            .tables()
            .members
            .get(&workspace)
            .and_then(|ms| ms.iter().find(|m| m.user_id == user))
            .cloned())
    }

    async fn members(&mut self, workspace: WorkspaceId) -> Result<Vec<Member>, Error> {
        Ok(self
            .tables()
            .members
            .get(&workspace)
            .cloned()
            .unwrap_or_default())
    }

    async fn memberships(&mut self, user: UserId) -> Result<Vec<Member>, Error> {
        Ok(self
            .tables()
            .members
            .values()
            .flatten()
            .filter(|m| m.user_id == user)
            .cloned()
            .collect())
    }

    async fn put_member(&mut self, member: &Member) -> Result<(), Error> {
        let members = self
            .tables_mut()?
            .members
            .entry(member.workspace_id)
            .or_default();
        match members.iter_mut().find(|m| m.user_id == member.user_id) {
            Some(slot) => *slot = member.clone(),
            None => members.push(member.clone()),
        }
        Ok(())
    }

    async fn delete_member(&mut self, workspace: WorkspaceId, user: UserId) -> Result<bool, Error> {
        let Some(members) = self.tables_mut()?.members.get_mut(&workspace) else {
            return Ok(false);
        };
        let before = members.len();
        members.retain(|m| m.user_id != user);
        Ok(members.len() < before)
    }
}

#[async_trait]
impl InvitationRows for MemoryTransaction<'_> {
    async fn invitation(&mut self, id: InvitationId) -> Result<Option<Invitation>, Error> {
        Ok(self.tables().invitations.get(&id).cloned())
    }

    async fn invitations(&mut self, workspace: WorkspaceId) -> Result<Vec<Invitation>, Error> {
        Ok(self
            .tables()
            .invitations
            .values()
            .filter(|i| i.workspace_id == workspace)
            .cloned()
            .collect())
    }

    async fn put_invitation(&mut self, invitation: &Invitation) -> Result<(), Error> {
        self.tables_mut()?
            .invitations
            .insert(invitation.id, invitation.clone());
        Ok(())
    }
}

#[async_trait]
impl GroupRows for MemoryTransaction<'_> {
    async fn group(&mut self, id: GroupId) -> Result<Option<Group>, Error> {
        Ok(self.tables().groups.get(&id).cloned())
    }

    async fn groups(&mut self, workspace: WorkspaceId) -> Result<Vec<Group>, Error> {
        Ok(self
            .tables()
            .groups
            .values()
            .filter(|g| g.workspace_id == workspace)
            .cloned()
            .collect())
    }

    async fn put_group(&mut self, group: &Group) -> Result<(), Error> {
        let t = self.tables_mut()?;
        t.group_members.entry(group.id).or_default();
        t.groups.insert(group.id, group.clone());
        Ok(())
    }

    async fn delete_group(&mut self, id: GroupId) -> Result<bool, Error> {
        let t = self.tables_mut()?;
        t.group_members.remove(&id);
        Ok(t.groups.remove(&id).is_some())
    }

    async fn group_members(&mut self, group: GroupId) -> Result<Vec<UserId>, Error> {
        Ok(self
            .tables()
            .group_members
            .get(&group)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default())
    }

    async fn groups_of(
        &mut self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Vec<GroupId>, Error> {
        let t = self.tables();
        Ok(t.groups
            .values()
            .filter(|g| g.workspace_id == workspace)
            .filter(|g| {
                t.group_members
                    .get(&g.id)
                    .is_some_and(|m| m.contains(&user))
            })
            .map(|g| g.id)
            .collect())
    }

    async fn put_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool, Error> {
        Ok(self
            .tables_mut()?
            .group_members
            .entry(group)
            .or_default()
            .insert(user))
    }

    async fn delete_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool, Error> {
        Ok(self
            .tables_mut()?
            .group_members
            .get_mut(&group)
            .is_some_and(|m| m.remove(&user)))
    }
}

fn same_grant(g: &Grant, grantee: &Grantee, product: &ProductId, role: &RoleName) -> bool {
    g.grantee == *grantee && g.product == *product && g.role == *role
}

#[async_trait]
impl GrantRows for MemoryTransaction<'_> {
    async fn grants(&mut self, workspace: WorkspaceId) -> Result<Vec<Grant>, Error> {
        Ok(self
            .tables()
            .grants
            .get(&workspace)
            .cloned()
            .unwrap_or_default())
    }

    async fn insert_grant(&mut self, grant: &Grant) -> Result<(), Error> {
        let grants = self
            .tables_mut()?
            .grants
            .entry(grant.workspace_id)
            .or_default();
        if grants
            .iter()
            .any(|g| same_grant(g, &grant.grantee, &grant.product, &grant.role))
        {
            return Err(Error::Conflict("grant exists".into()));
        }
        grants.push(grant.clone());
        Ok(())
    }

    async fn delete_grant(
        &mut self,
        workspace: WorkspaceId,
        grantee: &Grantee,
        product: &ProductId,
        role: &RoleName,
    ) -> Result<bool, Error> {
        let Some(grants) = self.tables_mut()?.grants.get_mut(&workspace) else {
            return Ok(false);
        };
        let before = grants.len();
        grants.retain(|g| !same_grant(g, grantee, product, role));
        Ok(grants.len() < before)
    }

    async fn delete_grants_of(
        &mut self,
        workspace: WorkspaceId,
        grantee: &Grantee,
    ) -> Result<u32, Error> {
        let Some(grants) = self.tables_mut()?.grants.get_mut(&workspace) else {
            return Ok(0);
        };
        let before = grants.len();
        grants.retain(|g| g.grantee != *grantee);
        Ok(count(before - grants.len()))
    }
}

#[async_trait]
impl SubscriptionRows for MemoryTransaction<'_> {
    async fn subscription(
        &mut self,
        workspace: WorkspaceId,
        product: &ProductId,
    ) -> Result<Option<Subscription>, Error> {
        Ok(self
            .tables()
            .subscriptions
            .get(&(workspace, product.clone()))
            .cloned())
    }

    async fn subscriptions(&mut self, workspace: WorkspaceId) -> Result<Vec<Subscription>, Error> {
        Ok(self
            .tables()
            .subscriptions
            .values()
            .filter(|s| s.workspace_id == workspace)
            .cloned()
            .collect())
    }

    async fn put_subscription(&mut self, subscription: &Subscription) -> Result<(), Error> {
        let key = (subscription.workspace_id, subscription.product.clone());
        self.tables_mut()?
            .subscriptions
            .insert(key, subscription.clone());
        Ok(())
    }
}
