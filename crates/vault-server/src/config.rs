//! [`ServerConfig`]: what the router needs to know about where it is served.

use time::Duration;

/// How the Vault's API is served.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The public origin people reach the Vault at (`https://vault.example.com`): unsafe
    /// requests from any other origin are refused, and mail links point under it.
    pub public_origin: String,
    /// Development mode: cookies without `Secure` and without the `__Host-` prefix, for plain
    /// `http://localhost:PORT`. Never in production.
    pub dev: bool,
    /// The largest request body accepted (default 64 KiB).
    pub body_limit: usize,
    /// How recent a sign-in sensitive changes need (default 10 minutes).
    pub reauthentication_age: Duration,
}

impl ServerConfig {
    /// A configuration for `public_origin` with the defaults.
    pub fn new(public_origin: &str) -> Self {
        Self {
            public_origin: public_origin.trim_end_matches('/').to_owned(),
            dev: false,
            body_limit: 64 * 1024,
            reauthentication_age: Duration::minutes(10),
        }
    }

    /// The name of the session cookie: `__Host-vault_session` (`vault_session` in dev mode,
    /// where plain HTTP cannot carry a `__Host-` cookie).
    pub fn session_cookie(&self) -> &'static str {
        if self.dev {
            "vault_session"
        } else {
            "__Host-vault_session"
        }
    }

    /// The name of the pre-session CSRF cookie.
    pub fn csrf_cookie(&self) -> &'static str {
        if self.dev {
            "vault_csrf"
        } else {
            "__Host-vault_csrf"
        }
    }
}
