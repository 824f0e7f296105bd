//! Single-use account tokens (mailed links and codes), keyed by the hash of the token.

use async_trait::async_trait;
use time::OffsetDateTime;
use vault_core::accounts::{Email, SecretHash, TokenPurpose, TokenRecord};
use vault_core::store::TokenRows;
use vault_core::{Error, UserId};

use super::{count, counter};
use crate::arg::args;
use crate::error::SqlError;
use crate::store::from_nanos;
use crate::transaction::SqlTransaction;

const TABLE: &str = "account_tokens";

table! {
    account_tokens (token_hash) [code_hash, purpose, user_id, email, created_at, expires_at,
        failed_attempts] put "($1, $2, $3, $4, $5, $6, $7, $8)";
    BY_HASH = "WHERE token_hash = $1";
    OF_USER = "WHERE user_id = $1 AND purpose = $2";
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
    TokenPurpose::ALL.into_iter().find(|p| p.as_str() == text)
}

impl TokenRow {
    fn into_record(self) -> Result<TokenRecord, SqlError> {
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
            failed_attempts: counter(TABLE, self.failed_attempts)?,
        })
    }
}

#[async_trait]
impl TokenRows for SqlTransaction {
    async fn token(&mut self, hash: &SecretHash) -> Result<Option<TokenRecord>, Error> {
        self.one(BY_HASH, args![hash], TokenRow::into_record).await
    }

    async fn tokens_of(
        &mut self,
        user: UserId,
        purpose: TokenPurpose,
    ) -> Result<Vec<TokenRecord>, Error> {
        let values = args![user, purpose.as_str()];
        self.all(OF_USER, values, TokenRow::into_record).await
    }

    async fn put_token(&mut self, token: &TokenRecord) -> Result<(), Error> {
        let values = args![
            &token.token_hash,
            token.code_hash.as_ref(),
            token.purpose.as_str(),
            token.user_id,
            token.email.as_str(),
            token.created_at,
            token.expires_at,
            token.failed_attempts,
        ];
        self.put(PUT, values).await
    }

    async fn delete_token(&mut self, hash: &SecretHash) -> Result<bool, Error> {
        let sql = "DELETE FROM account_tokens WHERE token_hash = $1";
        Ok(self.execute(sql, args![hash]).await? > 0)
    }

    async fn delete_expired_tokens(&mut self, now: OffsetDateTime) -> Result<u32, Error> {
        let sql = "DELETE FROM account_tokens WHERE expires_at < $1";
        Ok(count(self.execute(sql, args![now]).await?))
    }

    async fn delete_tokens_of(
        &mut self,
        user: UserId,
        purpose: TokenPurpose,
    ) -> Result<u32, Error> {
        let sql = "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2";
        Ok(count(
            self.execute(sql, args![user, purpose.as_str()]).await?,
        ))
    }
}
