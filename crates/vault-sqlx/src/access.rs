//! Access in SQL: workspaces, members, invitations, groups, subscriptions and grants, with
//! the memory store's semantics. Each compound step (accepting an invitation, a role change
//! guarded by "last owner", removing a member, deleting a group, the group and grant inserts
//! that check membership) is one write transaction: PostgreSQL locks the workspace row first
//! (`FOR UPDATE`), so a workspace's membership changes queue; SQLite takes the write lock up
//! front (`BEGIN IMMEDIATE`).

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;
use vault_core::access::{
    AccessDefect, Grant, GrantSource, Grantee, Group, GroupId, HeldGrant, Invitation, InvitationId,
    Member, Membership, RoleName, Subscription, TwoFactorPolicy, Workspace, WorkspaceRole,
};
use vault_core::store::AccessStore;
use vault_core::{Error, ProductId, UserId, WorkspaceId};

use crate::error::{SqlError, conflict_on_unique};
use crate::store::{
    SqlStore, begin_write, from_nanos, from_opt_nanos, opt_nanos, to_nanos, with_pool,
};

/// Why a step failed: the database, or a refusal decided on the stored state.
enum Failure {
    Sql(SqlError),
    Refused(Error),
}

impl From<SqlError> for Failure {
    fn from(err: SqlError) -> Self {
        Self::Sql(err)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(err: sqlx::Error) -> Self {
        Self::Sql(SqlError::Database(err))
    }
}

impl From<AccessDefect> for Failure {
    fn from(defect: AccessDefect) -> Self {
        Self::Refused(defect.into())
    }
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Sql(err) => err.into(),
            Failure::Refused(err) => err,
        }
    }
}

type Outcome<T> = Result<T, Failure>;

/// Maps a unique violation to a refusal, leaving other errors as they are.
fn refused_on_unique(defect: AccessDefect) -> impl FnOnce(sqlx::Error) -> Failure {
    move |err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => defect.into(),
        _ => err.into(),
    }
}

fn role_from(table: &'static str, text: &str) -> Result<WorkspaceRole, SqlError> {
    text.parse()
        .map_err(|_| SqlError::corrupt(table, "workspace role"))
}

/// Group names are unique per workspace ignoring ASCII case, as in the memory store.
fn folded(name: &str) -> String {
    name.to_ascii_lowercase()
}

const USER: &str = "user";
const GROUP: &str = "group";

fn grantee_columns(grantee: &Grantee) -> (&'static str, Uuid) {
    match grantee {
        Grantee::User(id) => (USER, *id.as_uuid()),
        Grantee::Group(id) => (GROUP, *id.as_uuid()),
    }
}

macro_rules! workspace_columns {
    () => {
        "id, name, created_by, created_at, two_factor_admins, two_factor_sensitive_roles"
    };
}

macro_rules! member_columns {
    () => {
        "workspace_id, user_id, role, joined_at"
    };
}

macro_rules! invitation_columns {
    () => {
        "id, workspace_id, email, role, invited_by, created_at, expires_at, token_hash, \
         accepted_at, accepted_by, revoked_at"
    };
}

macro_rules! group_columns {
    () => {
        "id, workspace_id, name, created_by, created_at"
    };
}

macro_rules! grant_columns {
    () => {
        "g.workspace_id, g.grantee_kind, g.grantee_id, g.product, g.role, g.granted_by, \
         g.granted_at"
    };
}

/// Runs `$body` (an `Outcome`) in a write transaction on `tx`: committed when it answers
/// `Ok`, rolled back before returning when it answers a refusal or fails, so no lock outlives
/// the call (a dropped transaction would only be rolled back later, by the pool).
macro_rules! in_write_tx {
    ($pool:expr, $pg:expr, |$tx:ident| $body:block) => {{
        let mut $tx = begin_write!($pool, $pg)?;
        let outcome: Outcome<_> = async { $body }.await;
        match outcome {
            Ok(value) => {
                $tx.commit().await?;
                Ok(value)
            }
            Err(err) => {
                // The refusal or first error is the answer; a failed rollback ends the
                // connection, which rolls back too.
                $tx.rollback().await.ok();
                Err(err)
            }
        }
    }};
}

/// On PostgreSQL, locks the workspace row for the rest of the transaction: every step that
/// reads membership and then writes takes it first, so they queue per workspace (SQLite's
/// `BEGIN IMMEDIATE` already serialises writers).
macro_rules! lock_workspace {
    ($tx:expr, $pg:expr, $workspace:expr) => {
        if $pg {
            sqlx::query("SELECT id FROM workspaces WHERE id = $1 FOR UPDATE")
                .bind(*$workspace.as_uuid())
                .fetch_optional(&mut *$tx)
                .await?;
        }
    };
}

#[derive(sqlx::FromRow)]
struct WorkspaceRow {
    id: Uuid,
    name: String,
    created_by: Uuid,
    created_at: i64,
    two_factor_admins: bool,
    two_factor_sensitive_roles: bool,
}

impl WorkspaceRow {
    fn into_workspace(self) -> Result<Workspace, SqlError> {
        Ok(Workspace {
            id: WorkspaceId::from_uuid(self.id),
            name: self.name,
            created_by: UserId::from_uuid(self.created_by),
            created_at: from_nanos("workspaces", self.created_at)?,
            two_factor: TwoFactorPolicy {
                owners_and_admins: self.two_factor_admins,
                sensitive_roles: self.two_factor_sensitive_roles,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    #[sqlx(flatten)]
    workspace: WorkspaceRow,
    role: String,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    workspace_id: Uuid,
    user_id: Uuid,
    role: String,
    joined_at: i64,
}

impl MemberRow {
    fn into_member(self) -> Result<Member, SqlError> {
        const TABLE: &str = "workspace_members";
        Ok(Member {
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            user_id: UserId::from_uuid(self.user_id),
            role: role_from(TABLE, &self.role)?,
            joined_at: from_nanos(TABLE, self.joined_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: Uuid,
    workspace_id: Uuid,
    email: String,
    role: String,
    invited_by: Uuid,
    created_at: i64,
    expires_at: i64,
    token_hash: Vec<u8>,
    accepted_at: Option<i64>,
    accepted_by: Option<Uuid>,
    revoked_at: Option<i64>,
}

impl InvitationRow {
    fn into_invitation(self) -> Result<Invitation, SqlError> {
        const TABLE: &str = "invitations";
        Ok(Invitation {
            id: InvitationId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            email: self.email,
            role: role_from(TABLE, &self.role)?,
            invited_by: UserId::from_uuid(self.invited_by),
            created_at: from_nanos(TABLE, self.created_at)?,
            expires_at: from_nanos(TABLE, self.expires_at)?,
            token_hash: self
                .token_hash
                .try_into()
                .map_err(|_| SqlError::corrupt(TABLE, "token_hash"))?,
            accepted_at: from_opt_nanos(TABLE, self.accepted_at)?,
            accepted_by: self.accepted_by.map(UserId::from_uuid),
            revoked_at: from_opt_nanos(TABLE, self.revoked_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: Uuid,
    workspace_id: Uuid,
    name: String,
    created_by: Uuid,
    created_at: i64,
}

impl GroupRow {
    fn into_group(self) -> Result<Group, SqlError> {
        Ok(Group {
            id: GroupId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            name: self.name,
            created_by: UserId::from_uuid(self.created_by),
            created_at: from_nanos("workspace_groups", self.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    workspace_id: Uuid,
    product: String,
    active: bool,
    changed_by: Uuid,
    changed_at: i64,
}

impl SubscriptionRow {
    fn into_subscription(self) -> Result<Subscription, SqlError> {
        const TABLE: &str = "subscriptions";
        Ok(Subscription {
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            product: ProductId::new(&self.product)
                .map_err(|_| SqlError::corrupt(TABLE, "product"))?,
            active: self.active,
            changed_by: UserId::from_uuid(self.changed_by),
            changed_at: from_nanos(TABLE, self.changed_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    workspace_id: Uuid,
    grantee_kind: String,
    grantee_id: Uuid,
    product: String,
    role: String,
    granted_by: Uuid,
    granted_at: i64,
}

impl GrantRow {
    fn into_grant(self) -> Result<Grant, SqlError> {
        const TABLE: &str = "grants";
        let grantee = match self.grantee_kind.as_str() {
            USER => Grantee::User(UserId::from_uuid(self.grantee_id)),
            GROUP => Grantee::Group(GroupId::from_uuid(self.grantee_id)),
            _ => return Err(SqlError::corrupt(TABLE, "grantee_kind")),
        };
        Ok(Grant {
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            grantee,
            product: ProductId::new(&self.product)
                .map_err(|_| SqlError::corrupt(TABLE, "product"))?,
            role: RoleName::new(&self.role).map_err(|_| SqlError::corrupt(TABLE, "role"))?,
            granted_by: UserId::from_uuid(self.granted_by),
            granted_at: from_nanos(TABLE, self.granted_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct HeldGrantRow {
    #[sqlx(flatten)]
    grant: GrantRow,
    group_name: Option<String>,
}

impl SqlStore {
    async fn create_workspace_rows(&self, workspace: &Workspace, owner: &Member) -> Outcome<()> {
        let created_at = to_nanos(workspace.created_at)?;
        let joined_at = to_nanos(owner.joined_at)?;
        with_pool!(self, |pool, pg| {
            in_write_tx!(pool, pg, |tx| {
                sqlx::query(
                    "INSERT INTO workspaces (id, name, created_by, created_at, two_factor_admins, \
                 two_factor_sensitive_roles) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(*workspace.id.as_uuid())
                .bind(&workspace.name)
                .bind(*workspace.created_by.as_uuid())
                .bind(created_at)
                .bind(workspace.two_factor.owners_and_admins)
                .bind(workspace.two_factor.sensitive_roles)
                .execute(&mut *tx)
                .await
                .map_err(conflict_on_unique("workspace exists"))?;
                sqlx::query(
                    "INSERT INTO workspace_members (workspace_id, user_id, role, joined_at) \
                 VALUES ($1, $2, $3, $4)",
                )
                .bind(*owner.workspace_id.as_uuid())
                .bind(*owner.user_id.as_uuid())
                .bind(owner.role.as_str())
                .bind(joined_at)
                .execute(&mut *tx)
                .await?;
                Ok(())
            })
        })?;
        Ok(())
    }

    async fn find_workspace_row(&self, id: WorkspaceId) -> Outcome<Option<Workspace>> {
        const SQL: &str = concat!(
            "SELECT ",
            workspace_columns!(),
            " FROM workspaces WHERE id = $1"
        );
        let row: Option<WorkspaceRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(SQL)
                .bind(*id.as_uuid())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(WorkspaceRow::into_workspace).transpose()?)
    }

    /// Runs one `UPDATE workspaces ... WHERE id = $1 RETURNING` with `$2` (and `$3`) bound.
    async fn update_workspace_row(
        &self,
        sql: &'static str,
        id: WorkspaceId,
        set: (Option<&str>, Option<TwoFactorPolicy>),
    ) -> Outcome<Workspace> {
        let row: Option<WorkspaceRow> = with_pool!(self, |pool, pg| {
            let query = sqlx::query_as(sql).bind(*id.as_uuid());
            let query = match set {
                (Some(name), _) => query.bind(name),
                (None, Some(policy)) => query
                    .bind(policy.owners_and_admins)
                    .bind(policy.sensitive_roles),
                (None, None) => query,
            };
            query.fetch_optional(pool).await?
        });
        let row = row.ok_or(AccessDefect::NotAMember)?;
        Ok(row.into_workspace()?)
    }

    async fn workspaces_of_rows(&self, user: UserId) -> Outcome<Vec<Membership>> {
        const SQL: &str = "SELECT w.id, w.name, w.created_by, w.created_at, \
             w.two_factor_admins, w.two_factor_sensitive_roles, m.role \
             FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id \
             WHERE m.user_id = $1";
        let rows: Vec<MembershipRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(SQL)
                .bind(*user.as_uuid())
                .fetch_all(pool)
                .await?
        });
        let mut found = rows
            .into_iter()
            .map(|row| {
                Ok(Membership {
                    role: role_from("workspace_members", &row.role)?,
                    workspace: row.workspace.into_workspace()?,
                })
            })
            .collect::<Result<Vec<_>, SqlError>>()?;
        // Sorted here, not by the database: its collation may not order like Rust strings.
        found.sort_by(|a, b| {
            (&a.workspace.name, a.workspace.id).cmp(&(&b.workspace.name, b.workspace.id))
        });
        Ok(found)
    }

    async fn find_member_row(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Outcome<Option<Member>> {
        const SQL: &str = concat!(
            "SELECT ",
            member_columns!(),
            " FROM workspace_members WHERE workspace_id = $1 AND user_id = $2"
        );
        let row: Option<MemberRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(SQL)
                .bind(*workspace.as_uuid())
                .bind(*user.as_uuid())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(MemberRow::into_member).transpose()?)
    }

    async fn list_member_rows(&self, workspace: WorkspaceId) -> Outcome<Vec<Member>> {
        const SQL: &str = concat!(
            "SELECT ",
            member_columns!(),
            " FROM workspace_members WHERE workspace_id = $1 ORDER BY seq"
        );
        let rows: Vec<MemberRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(SQL)
                .bind(*workspace.as_uuid())
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(MemberRow::into_member)
            .collect::<Result<_, _>>()?)
    }

    /// Changes a role (`Some`) or removes the member (`None`), refusing to leave the
    /// workspace without an owner; answers the membership as it was.
    async fn change_membership_rows(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        role: Option<WorkspaceRole>,
    ) -> Outcome<Member> {
        const OWNERS: &str = "SELECT user_id FROM workspace_members \
             WHERE workspace_id = $1 AND role = 'owner' LIMIT 2";
        const MEMBER: &str = concat!(
            "SELECT ",
            member_columns!(),
            " FROM workspace_members WHERE workspace_id = $1 AND user_id = $2"
        );
        let (ws, uid) = (*workspace.as_uuid(), *user.as_uuid());
        with_pool!(self, |pool, pg| {
            in_write_tx!(pool, pg, |tx| {
                lock_workspace!(tx, pg, workspace);
                let owners: Vec<Uuid> = sqlx::query_scalar(OWNERS)
                    .bind(ws)
                    .fetch_all(&mut *tx)
                    .await?;
                let last_owner = owners.len() == 1 && owners[0] == uid;
                if role != Some(WorkspaceRole::Owner) && last_owner {
                    return Err(AccessDefect::LastOwner.into());
                }
                let before: Option<MemberRow> = sqlx::query_as(MEMBER)
                    .bind(ws)
                    .bind(uid)
                    .fetch_optional(&mut *tx)
                    .await?;
                let before = before.ok_or(AccessDefect::UserNotAMember)?.into_member()?;
                match role {
                    Some(role) => {
                        sqlx::query(
                            "UPDATE workspace_members SET role = $3 \
                         WHERE workspace_id = $1 AND user_id = $2",
                        )
                        .bind(ws)
                        .bind(uid)
                        .bind(role.as_str())
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        sqlx::query(
                        "DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2",
                    )
                    .bind(ws)
                    .bind(uid)
                    .execute(&mut *tx)
                    .await?;
                        sqlx::query(
                            "DELETE FROM group_members WHERE user_id = $2 AND group_id IN \
                         (SELECT id FROM workspace_groups WHERE workspace_id = $1)",
                        )
                        .bind(ws)
                        .bind(uid)
                        .execute(&mut *tx)
                        .await?;
                        sqlx::query(
                            "DELETE FROM grants WHERE workspace_id = $1 AND grantee_kind = 'user' \
                         AND grantee_id = $2",
                        )
                        .bind(ws)
                        .bind(uid)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                Ok(before)
            })
        })
    }

    async fn insert_invitation_row(&self, i: &Invitation) -> Outcome<()> {
        let (created_at, expires_at) = (to_nanos(i.created_at)?, to_nanos(i.expires_at)?);
        let (accepted_at, revoked_at) = (opt_nanos(i.accepted_at)?, opt_nanos(i.revoked_at)?);
        with_pool!(self, |pool, pg| {
            sqlx::query(concat!(
                "INSERT INTO invitations (",
                invitation_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ))
            .bind(*i.id.as_uuid())
            .bind(*i.workspace_id.as_uuid())
            .bind(&i.email)
            .bind(i.role.as_str())
            .bind(*i.invited_by.as_uuid())
            .bind(created_at)
            .bind(expires_at)
            .bind(i.token_hash.as_slice())
            .bind(accepted_at)
            .bind(i.accepted_by.map(|u| *u.as_uuid()))
            .bind(revoked_at)
            .execute(pool)
            .await
            .map_err(conflict_on_unique("invitation exists"))?;
        });
        Ok(())
    }

    async fn find_invitation_row(&self, id: InvitationId) -> Outcome<Option<Invitation>> {
        const SQL: &str = concat!(
            "SELECT ",
            invitation_columns!(),
            " FROM invitations WHERE id = $1"
        );
        let row: Option<InvitationRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(SQL)
                .bind(*id.as_uuid())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(InvitationRow::into_invitation).transpose()?)
    }

    async fn list_invitation_rows(&self, workspace: WorkspaceId) -> Outcome<Vec<Invitation>> {
        const SQL: &str = concat!(
            "SELECT ",
            invitation_columns!(),
            " FROM invitations WHERE workspace_id = $1"
        );
        let rows: Vec<InvitationRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(SQL)
                .bind(*workspace.as_uuid())
                .fetch_all(pool)
                .await?
        });
        let mut found = rows
            .into_iter()
            .map(InvitationRow::into_invitation)
            .collect::<Result<Vec<_>, _>>()?;
        found.sort_by_key(|i| (i.created_at, i.id));
        Ok(found)
    }

    /// Revokes (`user` is `None`) or accepts a pending invitation in one transaction, the
    /// invitation row locked from the check to the write.
    async fn settle_invitation_rows(
        &self,
        id: InvitationId,
        user: Option<UserId>,
        at: OffsetDateTime,
    ) -> Outcome<(Invitation, Option<Member>)> {
        const FIND: &str = concat!(
            "SELECT ",
            invitation_columns!(),
            " FROM invitations WHERE id = $1"
        );
        const FIND_LOCKED: &str = concat!(
            "SELECT ",
            invitation_columns!(),
            " FROM invitations WHERE id = $1 FOR UPDATE"
        );
        let at_nanos = to_nanos(at)?;
        with_pool!(self, |pool, pg| {
            in_write_tx!(pool, pg, |tx| {
                let row: Option<InvitationRow> =
                    sqlx::query_as(if pg { FIND_LOCKED } else { FIND })
                        .bind(*id.as_uuid())
                        .fetch_optional(&mut *tx)
                        .await?;
                let mut invitation = row
                    .ok_or(AccessDefect::InvitationUnknown)?
                    .into_invitation()?;
                invitation.ensure_pending(at)?;
                let Some(user) = user else {
                    sqlx::query("UPDATE invitations SET revoked_at = $2 WHERE id = $1")
                        .bind(*id.as_uuid())
                        .bind(at_nanos)
                        .execute(&mut *tx)
                        .await?;
                    invitation.revoked_at = Some(at);
                    return Ok((invitation, None));
                };
                let workspace = invitation.workspace_id;
                lock_workspace!(tx, pg, workspace);
                let exists: Option<Uuid> =
                    sqlx::query_scalar("SELECT id FROM workspaces WHERE id = $1")
                        .bind(*workspace.as_uuid())
                        .fetch_optional(&mut *tx)
                        .await?;
                if exists.is_none() {
                    return Err(AccessDefect::InvitationUnknown.into());
                }
                let member = Member {
                    workspace_id: workspace,
                    user_id: user,
                    role: invitation.role,
                    joined_at: at,
                };
                // The unique (workspace, user) pair settles "already a member".
                sqlx::query(
                    "INSERT INTO workspace_members (workspace_id, user_id, role, joined_at) \
                 VALUES ($1, $2, $3, $4)",
                )
                .bind(*workspace.as_uuid())
                .bind(*user.as_uuid())
                .bind(member.role.as_str())
                .bind(at_nanos)
                .execute(&mut *tx)
                .await
                .map_err(refused_on_unique(AccessDefect::AlreadyMember))?;
                sqlx::query(
                    "UPDATE invitations SET accepted_at = $2, accepted_by = $3 WHERE id = $1",
                )
                .bind(*id.as_uuid())
                .bind(at_nanos)
                .bind(*user.as_uuid())
                .execute(&mut *tx)
                .await?;
                invitation.accepted_at = Some(at);
                invitation.accepted_by = Some(user);
                Ok((invitation, Some(member)))
            })
        })
    }

    async fn insert_group_row(&self, group: &Group) -> Outcome<()> {
        let created_at = to_nanos(group.created_at)?;
        with_pool!(self, |pool, pg| {
            in_write_tx!(pool, pg, |tx| {
                let taken: Option<Uuid> =
                    sqlx::query_scalar("SELECT id FROM workspace_groups WHERE id = $1")
                        .bind(*group.id.as_uuid())
                        .fetch_optional(&mut *tx)
                        .await?;
                if taken.is_some() {
                    return Err(SqlError::Conflict("group exists").into());
                }
                // The unique (workspace, folded name) pair settles a taken name, races included.
                sqlx::query(
                "INSERT INTO workspace_groups (id, workspace_id, name, name_folded, created_by, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(*group.id.as_uuid())
            .bind(*group.workspace_id.as_uuid())
            .bind(&group.name)
            .bind(folded(&group.name))
            .bind(*group.created_by.as_uuid())
            .bind(created_at)
            .execute(&mut *tx)
            .await
            .map_err(refused_on_unique(AccessDefect::NameTaken))?;
                Ok(())
            })
        })?;
        Ok(())
    }

    async fn find_group_row(&self, workspace: WorkspaceId, id: GroupId) -> Outcome<Option<Group>> {
        const SQL: &str = concat!(
            "SELECT ",
            group_columns!(),
            " FROM workspace_groups WHERE id = $1 AND workspace_id = $2"
        );
        let row: Option<GroupRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(SQL)
                .bind(*id.as_uuid())
                .bind(*workspace.as_uuid())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(GroupRow::into_group).transpose()?)
    }

    async fn list_group_rows(&self, workspace: WorkspaceId) -> Outcome<Vec<Group>> {
        const SQL: &str = concat!(
            "SELECT ",
            group_columns!(),
            " FROM workspace_groups WHERE workspace_id = $1"
        );
        let rows: Vec<GroupRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(SQL)
                .bind(*workspace.as_uuid())
                .fetch_all(pool)
                .await?
        });
        let mut found = rows
            .into_iter()
            .map(GroupRow::into_group)
            .collect::<Result<Vec<_>, _>>()?;
        found.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        Ok(found)
    }

    async fn rename_group_row(
        &self,
        workspace: WorkspaceId,
        id: GroupId,
        name: &str,
    ) -> Outcome<Group> {
        const SQL: &str = concat!(
            "UPDATE workspace_groups SET name = $3, name_folded = $4 \
             WHERE id = $1 AND workspace_id = $2 RETURNING ",
            group_columns!()
        );
        let row: Option<GroupRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(SQL)
                .bind(*id.as_uuid())
                .bind(*workspace.as_uuid())
                .bind(name)
                .bind(folded(name))
                .fetch_optional(pool)
                .await
                .map_err(refused_on_unique(AccessDefect::NameTaken))?
        });
        Ok(row.ok_or(AccessDefect::GroupUnknown)?.into_group()?)
    }

    async fn delete_group_rows(&self, workspace: WorkspaceId, id: GroupId) -> Outcome<Group> {
        const SQL: &str = concat!(
            "DELETE FROM workspace_groups WHERE id = $1 AND workspace_id = $2 RETURNING ",
            group_columns!()
        );
        let (ws, gid) = (*workspace.as_uuid(), *id.as_uuid());
        with_pool!(self, |pool, pg| {
            in_write_tx!(pool, pg, |tx| {
                lock_workspace!(tx, pg, workspace);
                let row: Option<GroupRow> = sqlx::query_as(SQL)
                    .bind(gid)
                    .bind(ws)
                    .fetch_optional(&mut *tx)
                    .await?;
                let group = row.ok_or(AccessDefect::GroupUnknown)?.into_group()?;
                // Its memberships go with it (ON DELETE CASCADE); its grants are not keyed to it.
                sqlx::query(
                    "DELETE FROM grants WHERE workspace_id = $1 AND grantee_kind = 'group' \
                 AND grantee_id = $2",
                )
                .bind(ws)
                .bind(gid)
                .execute(&mut *tx)
                .await?;
                Ok(group)
            })
        })
    }

    async fn add_group_member_rows(
        &self,
        workspace: WorkspaceId,
        group: GroupId,
        user: UserId,
    ) -> Outcome<bool> {
        let (ws, gid, uid) = (*workspace.as_uuid(), *group.as_uuid(), *user.as_uuid());
        with_pool!(self, |pool, pg| {
            in_write_tx!(pool, pg, |tx| {
                lock_workspace!(tx, pg, workspace);
                let found: Option<Uuid> = sqlx::query_scalar(
                    "SELECT id FROM workspace_groups WHERE id = $1 AND workspace_id = $2",
                )
                .bind(gid)
                .bind(ws)
                .fetch_optional(&mut *tx)
                .await?;
                found.ok_or(AccessDefect::GroupUnknown)?;
                let member: Option<Uuid> = sqlx::query_scalar(
                "SELECT user_id FROM workspace_members WHERE workspace_id = $1 AND user_id = $2",
            )
            .bind(ws)
            .bind(uid)
            .fetch_optional(&mut *tx)
            .await?;
                member.ok_or(AccessDefect::UserNotAMember)?;
                let added = sqlx::query(
                    "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
                )
                .bind(gid)
                .bind(uid)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                Ok(added > 0)
            })
        })
    }

    /// `GroupUnknown` unless the group exists in this workspace.
    async fn ensure_group(&self, workspace: WorkspaceId, group: GroupId) -> Outcome<()> {
        self.find_group_row(workspace, group)
            .await?
            .ok_or(AccessDefect::GroupUnknown)?;
        Ok(())
    }

    async fn remove_group_member_row(
        &self,
        workspace: WorkspaceId,
        group: GroupId,
        user: UserId,
    ) -> Outcome<bool> {
        self.ensure_group(workspace, group).await?;
        let removed = with_pool!(self, |pool, pg| {
            sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(*group.as_uuid())
                .bind(*user.as_uuid())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(removed > 0)
    }

    async fn group_member_rows(
        &self,
        workspace: WorkspaceId,
        group: GroupId,
    ) -> Outcome<Vec<UserId>> {
        self.ensure_group(workspace, group).await?;
        let ids: Vec<Uuid> = with_pool!(self, |pool, pg| {
            sqlx::query_scalar("SELECT user_id FROM group_members WHERE group_id = $1")
                .bind(*group.as_uuid())
                .fetch_all(pool)
                .await?
        });
        let mut users: Vec<UserId> = ids.into_iter().map(UserId::from_uuid).collect();
        users.sort();
        Ok(users)
    }

    async fn set_subscription_row(&self, s: &Subscription) -> Outcome<()> {
        let changed_at = to_nanos(s.changed_at)?;
        with_pool!(self, |pool, pg| {
            sqlx::query(
                "INSERT INTO subscriptions (workspace_id, product, active, changed_by, \
                 changed_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id, product) \
                 DO UPDATE SET active = excluded.active, changed_by = excluded.changed_by, \
                 changed_at = excluded.changed_at",
            )
            .bind(*s.workspace_id.as_uuid())
            .bind(s.product.as_str())
            .bind(s.active)
            .bind(*s.changed_by.as_uuid())
            .bind(changed_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    async fn subscription_rows(
        &self,
        workspace: WorkspaceId,
        product: Option<&ProductId>,
    ) -> Outcome<Vec<Subscription>> {
        const ONE: &str = "SELECT workspace_id, product, active, changed_by, changed_at \
             FROM subscriptions WHERE workspace_id = $1 AND product = $2";
        const ALL: &str = "SELECT workspace_id, product, active, changed_by, changed_at \
             FROM subscriptions WHERE workspace_id = $1";
        let rows: Vec<SubscriptionRow> = with_pool!(self, |pool, pg| {
            match product {
                Some(product) => {
                    sqlx::query_as(ONE)
                        .bind(*workspace.as_uuid())
                        .bind(product.as_str())
                        .fetch_all(pool)
                        .await?
                }
                None => {
                    sqlx::query_as(ALL)
                        .bind(*workspace.as_uuid())
                        .fetch_all(pool)
                        .await?
                }
            }
        });
        let mut found = rows
            .into_iter()
            .map(SubscriptionRow::into_subscription)
            .collect::<Result<Vec<_>, _>>()?;
        found.sort_by(|a, b| a.product.cmp(&b.product));
        Ok(found)
    }

    async fn insert_grant_rows(&self, grant: &Grant) -> Outcome<bool> {
        let workspace = grant.workspace_id;
        let ws = *workspace.as_uuid();
        let (kind, grantee) = grantee_columns(&grant.grantee);
        let granted_at = to_nanos(grant.granted_at)?;
        with_pool!(self, |pool, pg| {
            in_write_tx!(pool, pg, |tx| {
                lock_workspace!(tx, pg, workspace);
                let found: Option<Uuid> = sqlx::query_scalar(match grant.grantee {
                Grantee::User(_) => {
                    "SELECT user_id FROM workspace_members WHERE workspace_id = $1 AND user_id = $2"
                }
                Grantee::Group(_) => {
                    "SELECT id FROM workspace_groups WHERE workspace_id = $1 AND id = $2"
                }
            })
            .bind(ws)
            .bind(grantee)
            .fetch_optional(&mut *tx)
            .await?;
                if found.is_none() {
                    return Err(match grant.grantee {
                        Grantee::User(_) => AccessDefect::UserNotAMember,
                        Grantee::Group(_) => AccessDefect::GroupUnknown,
                    }
                    .into());
                }
                let added = sqlx::query(
                    "INSERT INTO grants (workspace_id, grantee_kind, grantee_id, product, role, \
                 granted_by, granted_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT DO NOTHING",
                )
                .bind(ws)
                .bind(kind)
                .bind(grantee)
                .bind(grant.product.as_str())
                .bind(grant.role.as_str())
                .bind(*grant.granted_by.as_uuid())
                .bind(granted_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                Ok(added > 0)
            })
        })
    }

    async fn delete_grant_row(
        &self,
        workspace: WorkspaceId,
        grantee: &Grantee,
        product: &ProductId,
        role: &RoleName,
    ) -> Outcome<bool> {
        let (kind, id) = grantee_columns(grantee);
        let deleted = with_pool!(self, |pool, pg| {
            sqlx::query(
                "DELETE FROM grants WHERE workspace_id = $1 AND grantee_kind = $2 \
                 AND grantee_id = $3 AND product = $4 AND role = $5",
            )
            .bind(*workspace.as_uuid())
            .bind(kind)
            .bind(id)
            .bind(product.as_str())
            .bind(role.as_str())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(deleted > 0)
    }

    async fn list_grant_rows(&self, workspace: WorkspaceId) -> Outcome<Vec<Grant>> {
        const SQL: &str = concat!(
            "SELECT ",
            grant_columns!(),
            " FROM grants g WHERE g.workspace_id = $1 ORDER BY g.seq"
        );
        let rows: Vec<GrantRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(SQL)
                .bind(*workspace.as_uuid())
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(GrantRow::into_grant)
            .collect::<Result<_, _>>()?)
    }

    async fn grants_held_rows(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Outcome<Vec<HeldGrant>> {
        // One statement, so membership, groups and grants are read from one snapshot.
        const SQL: &str = concat!(
            "SELECT ",
            grant_columns!(),
            ", wg.name AS group_name FROM grants g \
             LEFT JOIN workspace_groups wg ON g.grantee_kind = 'group' AND wg.id = g.grantee_id \
             WHERE g.workspace_id = $1 \
             AND EXISTS (SELECT 1 FROM workspace_members m \
                         WHERE m.workspace_id = $1 AND m.user_id = $2) \
             AND ((g.grantee_kind = 'user' AND g.grantee_id = $2) \
                  OR (g.grantee_kind = 'group' AND EXISTS (SELECT 1 FROM group_members gm \
                      WHERE gm.group_id = g.grantee_id AND gm.user_id = $2))) \
             ORDER BY g.seq"
        );
        let rows: Vec<HeldGrantRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(SQL)
                .bind(*workspace.as_uuid())
                .bind(*user.as_uuid())
                .fetch_all(pool)
                .await?
        });
        let mut held = Vec::with_capacity(rows.len());
        for row in rows {
            let grant = row.grant.into_grant()?;
            let source = match (grant.grantee, row.group_name) {
                (Grantee::User(_), _) => GrantSource::Direct,
                (Grantee::Group(id), Some(name)) => GrantSource::Group { id, name },
                (Grantee::Group(_), None) => continue,
            };
            held.push(HeldGrant { grant, source });
        }
        Ok(held)
    }
}

#[async_trait]
impl AccessStore for SqlStore {
    async fn create_workspace(&self, workspace: Workspace, owner: Member) -> Result<(), Error> {
        Ok(self.create_workspace_rows(&workspace, &owner).await?)
    }

    async fn find_workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>, Error> {
        Ok(self.find_workspace_row(id).await?)
    }

    async fn rename_workspace(&self, id: WorkspaceId, name: &str) -> Result<Workspace, Error> {
        const SQL: &str = concat!(
            "UPDATE workspaces SET name = $2 WHERE id = $1 RETURNING ",
            workspace_columns!()
        );
        Ok(self
            .update_workspace_row(SQL, id, (Some(name), None))
            .await?)
    }

    async fn set_two_factor_policy(
        &self,
        id: WorkspaceId,
        policy: TwoFactorPolicy,
    ) -> Result<Workspace, Error> {
        const SQL: &str = concat!(
            "UPDATE workspaces SET two_factor_admins = $2, two_factor_sensitive_roles = $3 \
             WHERE id = $1 RETURNING ",
            workspace_columns!()
        );
        Ok(self
            .update_workspace_row(SQL, id, (None, Some(policy)))
            .await?)
    }

    async fn workspaces_of(&self, user: UserId) -> Result<Vec<Membership>, Error> {
        Ok(self.workspaces_of_rows(user).await?)
    }

    async fn find_member(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Option<Member>, Error> {
        Ok(self.find_member_row(workspace, user).await?)
    }

    async fn list_members(&self, workspace: WorkspaceId) -> Result<Vec<Member>, Error> {
        Ok(self.list_member_rows(workspace).await?)
    }

    async fn change_member_role(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        role: WorkspaceRole,
    ) -> Result<Member, Error> {
        Ok(self
            .change_membership_rows(workspace, user, Some(role))
            .await?)
    }

    async fn remove_member(&self, workspace: WorkspaceId, user: UserId) -> Result<Member, Error> {
        Ok(self.change_membership_rows(workspace, user, None).await?)
    }

    async fn insert_invitation(&self, invitation: Invitation) -> Result<(), Error> {
        Ok(self.insert_invitation_row(&invitation).await?)
    }

    async fn find_invitation(&self, id: InvitationId) -> Result<Option<Invitation>, Error> {
        Ok(self.find_invitation_row(id).await?)
    }

    async fn list_invitations(&self, workspace: WorkspaceId) -> Result<Vec<Invitation>, Error> {
        Ok(self.list_invitation_rows(workspace).await?)
    }

    async fn revoke_invitation(
        &self,
        id: InvitationId,
        at: OffsetDateTime,
    ) -> Result<Invitation, Error> {
        Ok(self.settle_invitation_rows(id, None, at).await?.0)
    }

    async fn accept_invitation(
        &self,
        id: InvitationId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<Member, Error> {
        let (_, member) = self.settle_invitation_rows(id, Some(user), at).await?;
        member.ok_or_else(|| Error::Store("acceptance answered no member".into()))
    }

    async fn insert_group(&self, group: Group) -> Result<(), Error> {
        Ok(self.insert_group_row(&group).await?)
    }

    async fn find_group(
        &self,
        workspace: WorkspaceId,
        id: GroupId,
    ) -> Result<Option<Group>, Error> {
        Ok(self.find_group_row(workspace, id).await?)
    }

    async fn list_groups(&self, workspace: WorkspaceId) -> Result<Vec<Group>, Error> {
        Ok(self.list_group_rows(workspace).await?)
    }

    async fn rename_group(
        &self,
        workspace: WorkspaceId,
        id: GroupId,
        name: &str,
    ) -> Result<Group, Error> {
        Ok(self.rename_group_row(workspace, id, name).await?)
    }

    async fn delete_group(&self, workspace: WorkspaceId, id: GroupId) -> Result<Group, Error> {
        Ok(self.delete_group_rows(workspace, id).await?)
    }

    async fn add_group_member(
        &self,
        workspace: WorkspaceId,
        group: GroupId,
        user: UserId,
    ) -> Result<bool, Error> {
        Ok(self.add_group_member_rows(workspace, group, user).await?)
    }

    async fn remove_group_member(
        &self,
        workspace: WorkspaceId,
        group: GroupId,
        user: UserId,
    ) -> Result<bool, Error> {
        Ok(self.remove_group_member_row(workspace, group, user).await?)
    }

    async fn group_members(
        &self,
        workspace: WorkspaceId,
        group: GroupId,
    ) -> Result<Vec<UserId>, Error> {
        Ok(self.group_member_rows(workspace, group).await?)
    }

    async fn set_subscription(&self, subscription: Subscription) -> Result<(), Error> {
        Ok(self.set_subscription_row(&subscription).await?)
    }

    async fn find_subscription(
        &self,
        workspace: WorkspaceId,
        product: &ProductId,
    ) -> Result<Option<Subscription>, Error> {
        Ok(self
            .subscription_rows(workspace, Some(product))
            .await?
            .pop())
    }

    async fn list_subscriptions(&self, workspace: WorkspaceId) -> Result<Vec<Subscription>, Error> {
        Ok(self.subscription_rows(workspace, None).await?)
    }

    async fn insert_grant(&self, grant: Grant) -> Result<bool, Error> {
        Ok(self.insert_grant_rows(&grant).await?)
    }

    async fn delete_grant(
        &self,
        workspace: WorkspaceId,
        grantee: &Grantee,
        product: &ProductId,
        role: &RoleName,
    ) -> Result<bool, Error> {
        Ok(self
            .delete_grant_row(workspace, grantee, product, role)
            .await?)
    }

    async fn list_grants(&self, workspace: WorkspaceId) -> Result<Vec<Grant>, Error> {
        Ok(self.list_grant_rows(workspace).await?)
    }

    async fn grants_held_by(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Vec<HeldGrant>, Error> {
        Ok(self.grants_held_rows(workspace, user).await?)
    }
}
