//! Demo keys for the Submit examples: one token per row of the contract, written to a file so
//! tests and people can try the API.

use std::path::Path;

use serde::Serialize;
use time::Duration;
use vault_core::{
    ApiKeys, Environment, Error, IssuedKey, NewKey, PermissionSet, UserId, WorkspaceId,
};

/// Tokens of every kind the contract exercises. Shown once: keep the file private.
#[derive(Serialize)]
pub struct DemoKeys {
    /// Submit, production, `jobs:create` and `jobs:read`.
    pub production_full: String,
    /// Submit, production, `jobs:read` only.
    pub production_read_only: String,
    /// Submit, staging, full permissions.
    pub staging: String,
    /// Submit, development, full permissions.
    pub development: String,
    /// Submit, production, already expired.
    pub expired: String,
    /// Submit, production, revoked.
    pub revoked: String,
    /// Another product (`prepare`), production.
    pub other_product: String,
}

impl std::fmt::Debug for DemoKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoKeys([redacted])")
    }
}

impl DemoKeys {
    /// Issues the demo keys into `keys`, all in one new workspace.
    pub async fn issue(keys: &ApiKeys) -> Result<Self, Error> {
        let owner = (WorkspaceId::random(), UserId::random());
        let full = ["jobs:create", "jobs:read"];
        let prod = Environment::Production;
        let production_full = mint(keys, owner, "submit", prod, &full, None).await?;
        let production_read_only = mint(keys, owner, "submit", prod, &["jobs:read"], None).await?;
        let staging = mint(keys, owner, "submit", Environment::Staging, &full, None).await?;
        let development =
            mint(keys, owner, "submit", Environment::Development, &full, None).await?;
        let expired = mint(
            keys,
            owner,
            "submit",
            prod,
            &full,
            Some(Duration::milliseconds(1)),
        )
        .await?;
        let revoked = mint(keys, owner, "submit", prod, &full, None).await?;
        keys.revoke(&revoked.metadata.id).await?;
        let other_product = mint(keys, owner, "prepare", prod, &full, None).await?;
        // Let the short-lived key pass its expiry before anyone uses it.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let token = |issued: &IssuedKey| issued.expose_token().to_owned();
        Ok(Self {
            production_full: token(&production_full),
            production_read_only: token(&production_read_only),
            staging: token(&staging),
            development: token(&development),
            expired: token(&expired),
            revoked: token(&revoked),
            other_product: token(&other_product),
        })
    }

    /// Writes the tokens to `path` as a JSON object (owner-only permissions on Unix).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::io::Write::write_all(&mut options.open(path)?, &json)
    }
}

async fn mint(
    keys: &ApiKeys,
    (workspace_id, created_by): (WorkspaceId, UserId),
    product: &str,
    environment: Environment,
    permissions: &[&str],
    ttl: Option<Duration>,
) -> Result<IssuedKey, Error> {
    keys.issue(NewKey {
        workspace_id,
        product: product.parse()?,
        environment,
        permissions: PermissionSet::parse(permissions)?,
        name: format!("demo {product} {environment}"),
        created_by,
        expires_at: ttl.map(|ttl| keys.now() + ttl),
    })
    .await
}
