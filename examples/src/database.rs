//! Where the example servers keep their keys: SQLite by default (one file, kept across
//! restarts), PostgreSQL for many instances, or memory (`memory:`) for throwaway runs; and
//! the pepper that goes with the data.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vault_core::keys::UsageRecorder;
use vault_core::{KeyStore, MemoryStore, Pepper};
use vault_sqlx::{CachedKeyStore, KeyCacheConfig, SqlStore, UsageFlusher};

/// The database when `--database-url` is not given: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://vault.db";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An opened key database: the store, the pepper its hashes were made with, and (for SQL) the
/// recorder that batches `last_used_at` off the request path, with the task that writes it.
pub struct KeyDatabase {
    /// The key store (behind a verification cache for SQL).
    pub store: Arc<dyn KeyStore>,
    /// The pepper.
    pub pepper: Pepper,
    /// Hand this to `ApiKeysBuilder::usage`.
    pub usage: Option<UsageRecorder>,
    /// Writes the recorded uses every second while it lives.
    pub flusher: Option<UsageFlusher>,
}

/// Opens the key store named by `url` (migrated, with a verification cache) and the pepper
/// its hashes were made with.
///
/// The pepper comes from `VAULT_PEPPER` (base64, 32+ bytes). Without it, a SQLite database
/// keeps one in a file beside it (`vault.db.pepper`, owner-only), created on first start, so
/// keys survive restarts; PostgreSQL needs `VAULT_PEPPER` (every instance must share it);
/// `memory:` generates one per run.
pub async fn open(url: &str) -> Result<KeyDatabase, BoxError> {
    if url == "memory:" {
        return Ok(KeyDatabase {
            store: Arc::new(MemoryStore::new()),
            pepper: pepper_or(|| Ok(Pepper::generate()?))?,
            usage: None,
            flusher: None,
        });
    }
    let store = SqlStore::connect(url).await?;
    let pepper = match sqlite_path(url) {
        Some(path) => pepper_or(|| pepper_file(&pepper_path(&path)))?,
        None => Pepper::from_env("VAULT_PEPPER").map_err(|e| {
            format!("{e} (PostgreSQL needs VAULT_PEPPER, shared by every instance)")
        })?,
    };
    let usage = UsageRecorder::new(10_000);
    let flusher = store.spawn_usage_flusher(usage.clone(), std::time::Duration::from_secs(1));
    let cached = CachedKeyStore::listening(store, KeyCacheConfig::default());
    Ok(KeyDatabase {
        store: Arc::new(cached),
        pepper,
        usage: Some(usage),
        flusher: Some(flusher),
    })
}

impl std::fmt::Debug for KeyDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyDatabase")
            .field("pepper", &self.pepper)
            .field("usage", &self.usage)
            .finish_non_exhaustive()
    }
}

fn pepper_or(fallback: impl FnOnce() -> Result<Pepper, BoxError>) -> Result<Pepper, BoxError> {
    match std::env::var("VAULT_PEPPER") {
        Ok(text) => Ok(Pepper::from_base64(&text)?),
        Err(_) => fallback(),
    }
}

fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

fn pepper_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".pepper");
    PathBuf::from(name)
}

/// Reads the pepper file, or creates it (owner-only) with a new random pepper.
fn pepper_file(path: &Path) -> Result<Pepper, BoxError> {
    secret_file(
        path,
        "keys verify only with it",
        || Ok(Pepper::generate()?),
        |p| p.to_base64(),
        |text| Ok(Pepper::from_base64(text)?),
    )
}

/// Reads a secret kept beside the database, or creates the file (owner-only, mode 0600)
/// with a new one and says so on stderr.
fn secret_file<T>(
    path: &Path,
    why: &str,
    generate: impl FnOnce() -> Result<T, BoxError>,
    encode: impl FnOnce(&T) -> String,
    decode: impl FnOnce(&str) -> Result<T, BoxError>,
) -> Result<T, BoxError> {
    match std::fs::read_to_string(path) {
        Ok(text) => decode(text.trim()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = generate()?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            std::io::Write::write_all(&mut options.open(path)?, encode(&secret).as_bytes())?;
            eprintln!(
                "created {} (keep it with the database: {why})",
                path.display()
            );
            Ok(secret)
        }
        Err(e) => Err(e.into()),
    }
}

/// The secrets of the Vault on the database named by `url`: the pepper (as [`open`] finds
/// it) and the TOTP sealing key, which also seals queued mail: `VAULT_TOTP_KEY` (base64), or
/// for SQLite a file beside the database (`vault.db.totp-key`, owner-only) created on first
/// start. PostgreSQL needs both variables.
pub fn vault_secrets(url: &str) -> Result<(Pepper, vault_core::totp::SealingKey), BoxError> {
    use vault_core::totp::SealingKey;
    let path = sqlite_path(url);
    let pepper = match &path {
        Some(path) => pepper_or(|| pepper_file(&pepper_path(path)))?,
        None => Pepper::from_env("VAULT_PEPPER")
            .map_err(|e| format!("{e} (PostgreSQL needs VAULT_PEPPER)"))?,
    };
    let sealing = match (std::env::var("VAULT_TOTP_KEY"), &path) {
        (Ok(text), _) => SealingKey::from_base64(&text)?,
        (Err(_), Some(path)) => {
            let mut name = path.as_os_str().to_owned();
            name.push(".totp-key");
            secret_file(
                Path::new(&name),
                "two-factor secrets and queued mail open only with it",
                || Ok(SealingKey::generate()?),
                |k| secrecy::ExposeSecret::expose_secret(&k.to_base64()).to_owned(),
                |text| Ok(SealingKey::from_base64(text)?),
            )?
        }
        (Err(_), None) => {
            return Err("PostgreSQL needs VAULT_TOTP_KEY (base64 of 32 random bytes)".into());
        }
    };
    Ok((pepper, sealing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://vault.db"),
            Some(PathBuf::from("vault.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
        assert_eq!(
            pepper_path(Path::new("/tmp/x.db")),
            PathBuf::from("/tmp/x.db.pepper")
        );
    }

    #[tokio::test]
    async fn a_sqlite_database_keeps_its_pepper_across_opens() {
        let dir = std::env::temp_dir().join(format!("vault-db-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("v.db").display());
        let first = open(&url).await.unwrap().pepper;
        let second = open(&url).await.unwrap().pepper;
        assert_eq!(first.to_base64(), second.to_base64());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
