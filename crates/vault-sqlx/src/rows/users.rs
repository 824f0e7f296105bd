//! Users: a `users` row each, with the two-factor state in its `totp_*` columns (no secret:
//! no state), and a `recovery_codes` row per code (its hash, `NULL` once used). The email is
//! unique by its normalized form: the one constraint a store keeps for accounts.

use async_trait::async_trait;
use vault_core::accounts::{Email, TwoFactorState, User};
use vault_core::store::UserRows;
use vault_core::{Error, UserId};

use crate::arg::args;
use crate::error::{SqlError, Unique};
use crate::store::from_nanos;
use crate::transaction::SqlTransaction;

const TABLE: &str = "users";

table! {
    users (id) [name, email, email_normalized, email_verified, password_hash, totp_secret,
        totp_enabled, totp_last_step, created_at] put "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
}

/// A user joined with its recovery codes in one statement (one snapshot, even in a read
/// view): a row per code, or one row without codes.
macro_rules! select_user {
    ($where:literal) => {
        concat!(
            "SELECT u.id, u.name, u.email, u.email_verified, u.password_hash, u.totp_secret, \
             u.totp_enabled, u.totp_last_step, u.created_at, r.idx AS rc_idx, \
             r.hash AS rc_hash FROM users u LEFT JOIN recovery_codes r ON r.user_id = u.id \
             WHERE ",
            $where,
            " ORDER BY r.idx"
        )
    };
}

static EMAIL: Unique = Unique {
    what: "email taken",
    postgres: "users_email_normalized_key",
    sqlite: "users.email_normalized",
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
    let mut codes: Vec<Option<Vec<u8>>> = Vec::new();
    let mut first = None;
    for mut row in rows {
        if let Some(idx) = row.rc_idx {
            let i = usize::try_from(idx).map_err(|_| SqlError::corrupt(TABLE, "code index"))?;
            if codes.len() <= i {
                codes.resize(i + 1, None);
            }
            codes[i] = row.rc_hash.take();
        }
        first.get_or_insert(row);
    }
    let Some(first) = first else {
        return Ok(None);
    };
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

#[async_trait]
impl UserRows for SqlTransaction {
    async fn user(&mut self, id: UserId) -> Result<Option<User>, Error> {
        let rows = self.fetch_all(select_user!("u.id = $1"), args![id]).await?;
        Ok(user_from_rows(rows)?)
    }

    async fn user_by_email(&mut self, email: &Email) -> Result<Option<User>, Error> {
        let sql = select_user!("u.email_normalized = $1");
        let rows = self.fetch_all(sql, args![email.normalized()]).await?;
        Ok(user_from_rows(rows)?)
    }

    async fn put_user(&mut self, user: &User) -> Result<(), Error> {
        let two_factor = user.two_factor.as_ref();
        let last_step = two_factor
            .and_then(|t| t.last_step)
            .map(i64::try_from)
            .transpose()
            .map_err(|_| SqlError::corrupt(TABLE, "totp step too large"))?;
        let values = args![
            user.id,
            user.name.as_str(),
            user.email.as_str(),
            user.email.normalized(),
            user.email_verified,
            user.password_hash.as_deref(),
            two_factor.map(|t| t.sealed_secret.as_slice()),
            two_factor.is_some_and(|t| t.enabled),
            last_step,
            user.created_at,
        ];
        self.execute(PUT, values)
            .await
            .map_err(EMAIL.or_conflict())?;
        // The codes are replaced as a whole: a used one keeps its index, with no hash.
        self.execute(
            "DELETE FROM recovery_codes WHERE user_id = $1",
            args![user.id],
        )
        .await?;
        let codes = two_factor.map_or(&[][..], |t| &t.recovery_codes);
        for (idx, hash) in (0u32..).zip(codes) {
            let sql = "INSERT INTO recovery_codes (user_id, idx, hash) VALUES ($1, $2, $3)";
            self.execute(sql, args![user.id, idx, hash.as_deref()])
                .await?;
        }
        Ok(())
    }
}
