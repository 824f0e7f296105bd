//! Accounts in SQL: users (email normalized and unique), recovery codes (one row each, so
//! using one is a compare-and-set), single-use tokens, sessions and throttle counters.
//! Each trait method that decides a race is one statement or one write transaction.

use async_trait::async_trait;
use time::OffsetDateTime;
use vault_core::accounts::throttle::reserve;
use vault_core::accounts::{
    CodeAttempt, Email, SecretHash, SessionRecord, ThrottleRule, ThrottleState, TokenPurpose,
    TokenRecord, TwoFactorState, User,
};
use vault_core::store::AccountStore;
use vault_core::{Error, UserId, WorkspaceId};

use crate::error::{SqlError, conflict_on_unique};
use crate::store::{
    SqlStore, begin_write, from_nanos, from_opt_nanos, opt_nanos, to_nanos, with_pool,
};

#[derive(sqlx::FromRow)]
struct UserRow {
    id: uuid::Uuid,
    name: String,
    email: String,
    email_verified: bool,
    password_hash: Option<String>,
    totp_secret: Option<Vec<u8>>,
    totp_enabled: bool,
    totp_last_step: Option<i64>,
    created_at: i64,
    rc_idx: Option<i32>,
    rc_hash: Option<Vec<u8>>,
}

/// Folds the rows of a user joined with its recovery codes into the user.
fn user_from_rows(rows: Vec<UserRow>) -> Result<Option<User>, SqlError> {
    const TABLE: &str = "users";
    let mut rows = rows.into_iter();
    let Some(first) = rows.next() else {
        return Ok(None);
    };
    let mut codes: Vec<Option<Vec<u8>>> = Vec::new();
    let mut place = |idx: Option<i32>, hash: Option<Vec<u8>>| -> Result<(), SqlError> {
        if let Some(idx) = idx {
            let i = usize::try_from(idx).map_err(|_| SqlError::corrupt(TABLE, "code index"))?;
            if codes.len() <= i {
                codes.resize(i + 1, None);
            }
            codes[i] = hash;
        }
        Ok(())
    };
    place(first.rc_idx, first.rc_hash)?;
    for row in rows {
        place(row.rc_idx, row.rc_hash)?;
    }
    let two_factor = match first.totp_secret {
        None => None,
        Some(sealed_secret) => Some(TwoFactorState {
            sealed_secret,
            enabled: first.totp_enabled,
            last_step: first
                .totp_last_step
                .map(u64::try_from)
                .transpose()
                .map_err(|_| SqlError::corrupt(TABLE, "totp step"))?,
            recovery_codes: codes,
        }),
    };
    Ok(Some(User {
        id: UserId::from_uuid(first.id),
        name: first.name,
        email: Email::parse(&first.email).map_err(|_| SqlError::corrupt(TABLE, "email"))?,
        email_verified: first.email_verified,
        password_hash: first.password_hash,
        two_factor,
        created_at: from_nanos(TABLE, first.created_at)?,
    }))
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    token_hash: Vec<u8>,
    code_hash: Option<Vec<u8>>,
    purpose: String,
    user_id: uuid::Uuid,
    email: String,
    created_at: i64,
    expires_at: i64,
    failed_attempts: i32,
}

fn purpose_from_str(text: &str) -> Option<TokenPurpose> {
    [
        TokenPurpose::VerifyEmail,
        TokenPurpose::ResetPassword,
        TokenPurpose::ChangeEmail,
        TokenPurpose::TwoFactorChallenge,
    ]
    .into_iter()
    .find(|p| p.as_str() == text)
}

impl TokenRow {
    fn into_record(self) -> Result<TokenRecord, SqlError> {
        const TABLE: &str = "account_tokens";
        let bad = |what: &str| SqlError::corrupt(TABLE, what.to_owned());
        Ok(TokenRecord {
            token_hash: SecretHash::from_slice(&self.token_hash)
                .ok_or_else(|| bad("token_hash"))?,
            code_hash: self
                .code_hash
                .map(|h| SecretHash::from_slice(&h).ok_or_else(|| bad("code_hash")))
                .transpose()?,
            purpose: purpose_from_str(&self.purpose).ok_or_else(|| bad("purpose"))?,
            user_id: UserId::from_uuid(self.user_id),
            email: Email::parse(&self.email).map_err(|_| bad("email"))?,
            created_at: from_nanos(TABLE, self.created_at)?,
            expires_at: from_nanos(TABLE, self.expires_at)?,
            failed_attempts: u32::try_from(self.failed_attempts)
                .map_err(|_| bad("failed_attempts"))?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    token_hash: Vec<u8>,
    id: uuid::Uuid,
    user_id: uuid::Uuid,
    created_at: i64,
    last_seen_at: i64,
    absolute_expires_at: i64,
    active_workspace: Option<uuid::Uuid>,
    two_factor_passed: bool,
}

impl SessionRow {
    fn into_record(self) -> Result<SessionRecord, SqlError> {
        const TABLE: &str = "sessions";
        Ok(SessionRecord {
            token_hash: SecretHash::from_slice(&self.token_hash)
                .ok_or_else(|| SqlError::corrupt(TABLE, "token_hash"))?,
            id: self.id,
            user_id: UserId::from_uuid(self.user_id),
            created_at: from_nanos(TABLE, self.created_at)?,
            last_seen_at: from_nanos(TABLE, self.last_seen_at)?,
            absolute_expires_at: from_nanos(TABLE, self.absolute_expires_at)?,
            active_workspace: self.active_workspace.map(WorkspaceId::from_uuid),
            two_factor_passed: self.two_factor_passed,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ThrottleRow {
    attempts: i32,
    window_start: Option<i64>,
    locked_until: Option<i64>,
    locks: i32,
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn to_u32(table: &'static str, n: i32) -> Result<u32, SqlError> {
    u32::try_from(n).map_err(|_| SqlError::corrupt(table, "negative counter"))
}

fn step_to_i64(step: u64) -> Result<i64, SqlError> {
    i64::try_from(step).map_err(|_| SqlError::corrupt("users", "totp step too large"))
}

const SESSION_INSERT: &str = "INSERT INTO sessions (token_hash, id, user_id, created_at, \
     last_seen_at, absolute_expires_at, active_workspace, two_factor_passed) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// The bound values of one session row, in column order.
struct SessionValues {
    token_hash: Vec<u8>,
    id: uuid::Uuid,
    user_id: uuid::Uuid,
    created_at: i64,
    last_seen_at: i64,
    absolute_expires_at: i64,
    active_workspace: Option<uuid::Uuid>,
    two_factor_passed: bool,
}

impl SessionValues {
    fn of(s: &SessionRecord) -> Result<Self, SqlError> {
        Ok(Self {
            token_hash: s.token_hash.as_bytes().to_vec(),
            id: s.id,
            user_id: *s.user_id.as_uuid(),
            created_at: to_nanos(s.created_at)?,
            last_seen_at: to_nanos(s.last_seen_at)?,
            absolute_expires_at: to_nanos(s.absolute_expires_at)?,
            active_workspace: s.active_workspace.map(|w| *w.as_uuid()),
            two_factor_passed: s.two_factor_passed,
        })
    }
}

macro_rules! bind_session {
    ($query:expr, $v:expr) => {
        $query
            .bind($v.token_hash)
            .bind($v.id)
            .bind($v.user_id)
            .bind($v.created_at)
            .bind($v.last_seen_at)
            .bind($v.absolute_expires_at)
            .bind($v.active_workspace)
            .bind($v.two_factor_passed)
    };
}

impl SqlStore {
    async fn insert_user_rows(&self, user: &User) -> Result<(), SqlError> {
        let created_at = to_nanos(user.created_at)?;
        let two_factor = user.two_factor.as_ref();
        let last_step = two_factor
            .and_then(|t| t.last_step)
            .map(step_to_i64)
            .transpose()?;
        with_pool!(self, |pool, pg| {
            let mut tx = begin_write!(pool, pg)?;
            sqlx::query(
                "INSERT INTO users (id, name, email, email_normalized, email_verified, \
                 password_hash, totp_secret, totp_enabled, totp_last_step, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(*user.id.as_uuid())
            .bind(&user.name)
            .bind(user.email.as_str())
            .bind(user.email.normalized())
            .bind(user.email_verified)
            .bind(user.password_hash.as_deref())
            .bind(two_factor.map(|t| t.sealed_secret.as_slice()))
            .bind(two_factor.is_some_and(|t| t.enabled))
            .bind(last_step)
            .bind(created_at)
            .execute(&mut *tx)
            .await
            .map_err(conflict_on_unique("email taken"))?;
            if let Some(state) = two_factor {
                for (idx, hash) in state.recovery_codes.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO recovery_codes (user_id, idx, hash) VALUES ($1, $2, $3)",
                    )
                    .bind(*user.id.as_uuid())
                    .bind(i32::try_from(idx).unwrap_or(i32::MAX))
                    .bind(hash.as_deref())
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn find_user_where_id(&self, id: UserId) -> Result<Option<User>, SqlError> {
        const SQL: &str = "SELECT u.id, u.name, u.email, u.email_verified, u.password_hash, \
             u.totp_secret, u.totp_enabled, u.totp_last_step, u.created_at, r.idx AS rc_idx, \
             r.hash AS rc_hash FROM users u LEFT JOIN recovery_codes r ON r.user_id = u.id \
             WHERE u.id = $1 ORDER BY r.idx";
        let rows: Vec<UserRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(SQL)
                .bind(*id.as_uuid())
                .fetch_all(pool)
                .await?
        });
        user_from_rows(rows)
    }

    async fn find_user_where_email(&self, email: &Email) -> Result<Option<User>, SqlError> {
        const SQL: &str = "SELECT u.id, u.name, u.email, u.email_verified, u.password_hash, \
             u.totp_secret, u.totp_enabled, u.totp_last_step, u.created_at, r.idx AS rc_idx, \
             r.hash AS rc_hash FROM users u LEFT JOIN recovery_codes r ON r.user_id = u.id \
             WHERE u.email_normalized = $1 ORDER BY r.idx";
        let rows: Vec<UserRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(SQL)
                .bind(email.normalized())
                .fetch_all(pool)
                .await?
        });
        user_from_rows(rows)
    }

    /// Runs one `UPDATE users` statement binding the user id as `$1` and `value` as `$2`;
    /// whether a row matched.
    async fn update_user<T>(
        &self,
        sql: &'static str,
        id: UserId,
        value: T,
    ) -> Result<bool, SqlError>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + Send
            + Sync
            + 'static,
    {
        let done = with_pool!(self, |pool, pg| {
            sqlx::query(sql)
                .bind(*id.as_uuid())
                .bind(value)
                .execute(pool)
                .await
                .map_err(conflict_on_unique("email taken"))?
                .rows_affected()
        });
        Ok(done > 0)
    }

    async fn set_email_row(&self, id: UserId, email: &Email) -> Result<bool, SqlError> {
        let done = with_pool!(self, |pool, pg| {
            sqlx::query(
                "UPDATE users SET email = $2, email_normalized = $3, email_verified = TRUE \
                 WHERE id = $1",
            )
            .bind(*id.as_uuid())
            .bind(email.as_str())
            .bind(email.normalized())
            .execute(pool)
            .await
            .map_err(conflict_on_unique("email taken"))?
            .rows_affected()
        });
        Ok(done > 0)
    }

    async fn set_two_factor_rows(
        &self,
        id: UserId,
        state: Option<&TwoFactorState>,
    ) -> Result<bool, SqlError> {
        let last_step = state
            .and_then(|t| t.last_step)
            .map(step_to_i64)
            .transpose()?;
        with_pool!(self, |pool, pg| {
            let mut tx = begin_write!(pool, pg)?;
            let done = sqlx::query(
                "UPDATE users SET totp_secret = $2, totp_enabled = $3, totp_last_step = $4 \
                 WHERE id = $1",
            )
            .bind(*id.as_uuid())
            .bind(state.map(|t| t.sealed_secret.as_slice()))
            .bind(state.is_some_and(|t| t.enabled))
            .bind(last_step)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(*id.as_uuid())
                .execute(&mut *tx)
                .await?;
            for (idx, hash) in state
                .iter()
                .flat_map(|t| t.recovery_codes.iter().enumerate())
            {
                sqlx::query("INSERT INTO recovery_codes (user_id, idx, hash) VALUES ($1, $2, $3)")
                    .bind(*id.as_uuid())
                    .bind(i32::try_from(idx).unwrap_or(i32::MAX))
                    .bind(hash.as_deref())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    async fn advance_totp_step_row(&self, id: UserId, step: u64) -> Result<bool, SqlError> {
        // Compare-and-set in one statement: of two requests with one code, one advances.
        let Ok(step) = i64::try_from(step) else {
            return Ok(false);
        };
        self.update_user(
            "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_secret IS NOT NULL \
             AND (totp_last_step IS NULL OR totp_last_step < $2)",
            id,
            step,
        )
        .await
    }

    async fn use_recovery_code_row(&self, id: UserId, index: usize) -> Result<bool, SqlError> {
        let Ok(index) = i32::try_from(index) else {
            return Ok(false);
        };
        let done = with_pool!(self, |pool, pg| {
            sqlx::query(
                "UPDATE recovery_codes SET hash = NULL \
                 WHERE user_id = $1 AND idx = $2 AND hash IS NOT NULL",
            )
            .bind(*id.as_uuid())
            .bind(index)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done > 0)
    }

    async fn insert_token_row(&self, token: &TokenRecord) -> Result<(), SqlError> {
        let created_at = to_nanos(token.created_at)?;
        let expires_at = to_nanos(token.expires_at)?;
        with_pool!(self, |pool, pg| {
            sqlx::query(
                "INSERT INTO account_tokens (token_hash, code_hash, purpose, user_id, email, \
                 created_at, expires_at, failed_attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(token.token_hash.as_bytes().as_slice())
            .bind(token.code_hash.as_ref().map(|h| h.as_bytes().as_slice()))
            .bind(token.purpose.as_str())
            .bind(*token.user_id.as_uuid())
            .bind(token.email.as_str())
            .bind(created_at)
            .bind(expires_at)
            .bind(to_i32(token.failed_attempts))
            .execute(pool)
            .await
            .map_err(conflict_on_unique("token exists"))?;
        });
        Ok(())
    }

    async fn find_token_row(
        &self,
        hash: &SecretHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<TokenRecord>, SqlError> {
        let now = to_nanos(now)?;
        let row: Option<TokenRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(
                "SELECT token_hash, code_hash, purpose, user_id, email, created_at, expires_at, \
                 failed_attempts FROM account_tokens \
                 WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3",
            )
            .bind(hash.as_bytes().as_slice())
            .bind(purpose.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        row.map(TokenRow::into_record).transpose()
    }

    async fn take_token_row(
        &self,
        hash: &SecretHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<TokenRecord>, SqlError> {
        // One DELETE ... RETURNING: the database hands the row to exactly one caller.
        let now = to_nanos(now)?;
        let row: Option<TokenRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(
                "DELETE FROM account_tokens \
                 WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3 \
                 RETURNING token_hash, code_hash, purpose, user_id, email, created_at, \
                 expires_at, failed_attempts",
            )
            .bind(hash.as_bytes().as_slice())
            .bind(purpose.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        row.map(TokenRow::into_record).transpose()
    }

    async fn take_token_by_code_rows(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        code_hash: &SecretHash,
        now: OffsetDateTime,
        max_attempts: u32,
    ) -> Result<CodeAttempt, SqlError> {
        let now = to_nanos(now)?;
        with_pool!(self, |pool, pg| {
            let mut tx = begin_write!(pool, pg)?;
            let row: Option<TokenRow> = sqlx::query_as(if pg {
                "SELECT token_hash, code_hash, purpose, user_id, email, created_at, expires_at, \
                 failed_attempts FROM account_tokens \
                 WHERE user_id = $1 AND purpose = $2 AND expires_at > $3 AND code_hash IS NOT NULL \
                 ORDER BY created_at DESC LIMIT 1 FOR UPDATE"
            } else {
                "SELECT token_hash, code_hash, purpose, user_id, email, created_at, expires_at, \
                 failed_attempts FROM account_tokens \
                 WHERE user_id = $1 AND purpose = $2 AND expires_at > $3 AND code_hash IS NOT NULL \
                 ORDER BY created_at DESC LIMIT 1"
            })
            .bind(*user.as_uuid())
            .bind(purpose.as_str())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(CodeAttempt::NoToken);
            };
            let token = row.into_record()?;
            let key = token.token_hash.as_bytes().as_slice();
            if token.code_hash.is_some_and(|h| h.ct_eq(code_hash)) {
                sqlx::query("DELETE FROM account_tokens WHERE token_hash = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(CodeAttempt::Taken(token));
            }
            if token.failed_attempts.saturating_add(1) >= max_attempts {
                sqlx::query("DELETE FROM account_tokens WHERE token_hash = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query(
                    "UPDATE account_tokens SET failed_attempts = failed_attempts + 1 \
                     WHERE token_hash = $1",
                )
                .bind(key)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(CodeAttempt::Wrong)
        })
    }

    async fn count_tokens_since_rows(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        since: OffsetDateTime,
    ) -> Result<u32, SqlError> {
        let since = to_nanos(since)?;
        let n: i64 = with_pool!(self, |pool, pg| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM account_tokens \
                 WHERE user_id = $1 AND purpose = $2 AND created_at >= $3",
            )
            .bind(*user.as_uuid())
            .bind(purpose.as_str())
            .bind(since)
            .fetch_one(pool)
            .await?
        });
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn delete_tokens_rows(
        &self,
        user: UserId,
        purpose: TokenPurpose,
    ) -> Result<(), SqlError> {
        with_pool!(self, |pool, pg| {
            sqlx::query("DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2")
                .bind(*user.as_uuid())
                .bind(purpose.as_str())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn insert_session_row(&self, session: &SessionRecord) -> Result<(), SqlError> {
        let values = SessionValues::of(session)?;
        with_pool!(self, |pool, pg| {
            bind_session!(sqlx::query(SESSION_INSERT), values)
                .execute(pool)
                .await
                .map_err(conflict_on_unique("session exists"))?;
        });
        Ok(())
    }

    async fn find_session_row(&self, hash: &SecretHash) -> Result<Option<SessionRecord>, SqlError> {
        let row: Option<SessionRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(
                "SELECT token_hash, id, user_id, created_at, last_seen_at, absolute_expires_at, \
                 active_workspace, two_factor_passed FROM sessions WHERE token_hash = $1",
            )
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(pool)
            .await?
        });
        row.map(SessionRow::into_record).transpose()
    }

    async fn replace_session_rows(
        &self,
        old: &SecretHash,
        new: &SessionRecord,
    ) -> Result<bool, SqlError> {
        let values = SessionValues::of(new)?;
        with_pool!(self, |pool, pg| {
            let mut tx = begin_write!(pool, pg)?;
            let gone = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(old.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if gone == 0 {
                return Ok(false);
            }
            bind_session!(sqlx::query(SESSION_INSERT), values)
                .execute(&mut *tx)
                .await
                .map_err(conflict_on_unique("session exists"))?;
            tx.commit().await?;
        });
        Ok(true)
    }

    async fn touch_session_row(
        &self,
        hash: &SecretHash,
        at: OffsetDateTime,
    ) -> Result<(), SqlError> {
        let at = to_nanos(at)?;
        with_pool!(self, |pool, pg| {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1")
                .bind(hash.as_bytes().as_slice())
                .bind(at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn set_active_workspace_row(
        &self,
        hash: &SecretHash,
        workspace: Option<WorkspaceId>,
    ) -> Result<bool, SqlError> {
        let done = with_pool!(self, |pool, pg| {
            sqlx::query("UPDATE sessions SET active_workspace = $2 WHERE token_hash = $1")
                .bind(hash.as_bytes().as_slice())
                .bind(workspace.map(|w| *w.as_uuid()))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    async fn delete_session_row(&self, hash: &SecretHash) -> Result<bool, SqlError> {
        let done = with_pool!(self, |pool, pg| {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(hash.as_bytes().as_slice())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    async fn delete_session_by_id_row(
        &self,
        user: UserId,
        id: uuid::Uuid,
    ) -> Result<bool, SqlError> {
        let done = with_pool!(self, |pool, pg| {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id = $2")
                .bind(*user.as_uuid())
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    async fn delete_user_sessions_rows(
        &self,
        user: UserId,
        keep: Option<&SecretHash>,
    ) -> Result<u32, SqlError> {
        let done = with_pool!(self, |pool, pg| {
            match keep {
                Some(keep) => {
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
                        .bind(*user.as_uuid())
                        .bind(keep.as_bytes().as_slice())
                        .execute(pool)
                        .await?
                }
                None => {
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                        .bind(*user.as_uuid())
                        .execute(pool)
                        .await?
                }
            }
            .rows_affected()
        });
        Ok(u32::try_from(done).unwrap_or(u32::MAX))
    }

    async fn list_sessions_rows(&self, user: UserId) -> Result<Vec<SessionRecord>, SqlError> {
        let rows: Vec<SessionRow> = with_pool!(self, |pool, pg| {
            sqlx::query_as(
                "SELECT token_hash, id, user_id, created_at, last_seen_at, absolute_expires_at, \
                 active_workspace, two_factor_passed FROM sessions WHERE user_id = $1 \
                 ORDER BY created_at, id",
            )
            .bind(*user.as_uuid())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(SessionRow::into_record).collect()
    }

    async fn forget_workspace_rows(
        &self,
        user: UserId,
        workspace: WorkspaceId,
    ) -> Result<(), SqlError> {
        with_pool!(self, |pool, pg| {
            sqlx::query(
                "UPDATE sessions SET active_workspace = NULL \
                 WHERE user_id = $1 AND active_workspace = $2",
            )
            .bind(*user.as_uuid())
            .bind(*workspace.as_uuid())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    async fn reserve_attempt_row(
        &self,
        key: &str,
        rule: &ThrottleRule,
        now: OffsetDateTime,
    ) -> Result<Result<(), OffsetDateTime>, SqlError> {
        const TABLE: &str = "throttle";
        with_pool!(self, |pool, pg| {
            // The row is locked (FOR UPDATE; on SQLite the write lock of BEGIN IMMEDIATE)
            // from read to write, so parallel reservations queue and never pass the limit.
            let mut tx = begin_write!(pool, pg)?;
            sqlx::query("INSERT INTO throttle (key) VALUES ($1) ON CONFLICT (key) DO NOTHING")
                .bind(key)
                .execute(&mut *tx)
                .await?;
            let row: ThrottleRow = sqlx::query_as(if pg {
                "SELECT attempts, window_start, locked_until, locks FROM throttle \
                 WHERE key = $1 FOR UPDATE"
            } else {
                "SELECT attempts, window_start, locked_until, locks FROM throttle WHERE key = $1"
            })
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
            let mut state = ThrottleState {
                attempts: to_u32(TABLE, row.attempts)?,
                window_start: from_opt_nanos(TABLE, row.window_start)?,
                locked_until: from_opt_nanos(TABLE, row.locked_until)?,
                locks: to_u32(TABLE, row.locks)?,
            };
            let verdict = reserve(&mut state, rule, now);
            sqlx::query(
                "UPDATE throttle SET attempts = $2, window_start = $3, locked_until = $4, \
                 locks = $5 WHERE key = $1",
            )
            .bind(key)
            .bind(to_i32(state.attempts))
            .bind(opt_nanos(state.window_start)?)
            .bind(opt_nanos(state.locked_until)?)
            .bind(to_i32(state.locks))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(verdict)
        })
    }

    async fn clear_attempts_row(&self, key: &str) -> Result<(), SqlError> {
        with_pool!(self, |pool, pg| {
            sqlx::query("DELETE FROM throttle WHERE key = $1")
                .bind(key)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn insert_user(&self, user: User) -> Result<(), Error> {
        Ok(self.insert_user_rows(&user).await?)
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, Error> {
        Ok(self.find_user_where_id(id).await?)
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, Error> {
        Ok(self.find_user_where_email(email).await?)
    }

    async fn set_password(&self, id: UserId, password_hash: &str) -> Result<bool, Error> {
        let sql = "UPDATE users SET password_hash = $2 WHERE id = $1";
        Ok(self.update_user(sql, id, password_hash.to_owned()).await?)
    }

    async fn complete_sign_up(&self, id: UserId, password_hash: &str) -> Result<bool, Error> {
        let sql = "UPDATE users SET password_hash = $2, email_verified = TRUE WHERE id = $1";
        Ok(self.update_user(sql, id, password_hash.to_owned()).await?)
    }

    async fn set_name(&self, id: UserId, name: &str) -> Result<bool, Error> {
        let sql = "UPDATE users SET name = $2 WHERE id = $1";
        Ok(self.update_user(sql, id, name.to_owned()).await?)
    }

    async fn set_email(&self, id: UserId, email: &Email) -> Result<bool, Error> {
        Ok(self.set_email_row(id, email).await?)
    }

    async fn set_two_factor(
        &self,
        id: UserId,
        state: Option<TwoFactorState>,
    ) -> Result<bool, Error> {
        Ok(self.set_two_factor_rows(id, state.as_ref()).await?)
    }

    async fn advance_totp_step(&self, id: UserId, step: u64) -> Result<bool, Error> {
        Ok(self.advance_totp_step_row(id, step).await?)
    }

    async fn use_recovery_code(&self, id: UserId, index: usize) -> Result<bool, Error> {
        Ok(self.use_recovery_code_row(id, index).await?)
    }

    async fn insert_token(&self, token: TokenRecord) -> Result<(), Error> {
        Ok(self.insert_token_row(&token).await?)
    }

    async fn find_token(
        &self,
        hash: &SecretHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<TokenRecord>, Error> {
        Ok(self.find_token_row(hash, purpose, now).await?)
    }

    async fn take_token(
        &self,
        hash: &SecretHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<TokenRecord>, Error> {
        Ok(self.take_token_row(hash, purpose, now).await?)
    }

    async fn take_token_by_code(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        code_hash: &SecretHash,
        now: OffsetDateTime,
        max_attempts: u32,
    ) -> Result<CodeAttempt, Error> {
        Ok(self
            .take_token_by_code_rows(user, purpose, code_hash, now, max_attempts)
            .await?)
    }

    async fn count_tokens_since(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        since: OffsetDateTime,
    ) -> Result<u32, Error> {
        Ok(self.count_tokens_since_rows(user, purpose, since).await?)
    }

    async fn delete_tokens(&self, user: UserId, purpose: TokenPurpose) -> Result<(), Error> {
        Ok(self.delete_tokens_rows(user, purpose).await?)
    }

    async fn insert_session(&self, session: SessionRecord) -> Result<(), Error> {
        Ok(self.insert_session_row(&session).await?)
    }

    async fn find_session(&self, hash: &SecretHash) -> Result<Option<SessionRecord>, Error> {
        Ok(self.find_session_row(hash).await?)
    }

    async fn replace_session(&self, old: &SecretHash, new: SessionRecord) -> Result<bool, Error> {
        Ok(self.replace_session_rows(old, &new).await?)
    }

    async fn touch_session(&self, hash: &SecretHash, at: OffsetDateTime) -> Result<(), Error> {
        Ok(self.touch_session_row(hash, at).await?)
    }

    async fn set_active_workspace(
        &self,
        hash: &SecretHash,
        workspace: Option<WorkspaceId>,
    ) -> Result<bool, Error> {
        Ok(self.set_active_workspace_row(hash, workspace).await?)
    }

    async fn delete_session(&self, hash: &SecretHash) -> Result<bool, Error> {
        Ok(self.delete_session_row(hash).await?)
    }

    async fn delete_session_by_id(&self, user: UserId, id: uuid::Uuid) -> Result<bool, Error> {
        Ok(self.delete_session_by_id_row(user, id).await?)
    }

    async fn delete_user_sessions(
        &self,
        user: UserId,
        keep: Option<&SecretHash>,
    ) -> Result<u32, Error> {
        Ok(self.delete_user_sessions_rows(user, keep).await?)
    }

    async fn list_sessions(&self, user: UserId) -> Result<Vec<SessionRecord>, Error> {
        Ok(self.list_sessions_rows(user).await?)
    }

    async fn forget_workspace(&self, user: UserId, workspace: WorkspaceId) -> Result<(), Error> {
        Ok(self.forget_workspace_rows(user, workspace).await?)
    }

    async fn reserve_attempt(
        &self,
        key: &str,
        rule: &ThrottleRule,
        now: OffsetDateTime,
    ) -> Result<Result<(), OffsetDateTime>, Error> {
        Ok(self.reserve_attempt_row(key, rule, now).await?)
    }

    async fn clear_attempts(&self, key: &str) -> Result<(), Error> {
        Ok(self.clear_attempts_row(key).await?)
    }
}
