//! CSRF protection for cookie-authenticated requests, written once for the Vault's API and
//! the product-side session extractors: the origin rule, and tokens that a cross-site page
//! cannot read or make.
//!
//! - **Origin**: an unsafe request's `Origin` must be the configured origin; without `Origin`,
//!   `Sec-Fetch-Site` must say `same-origin` (or `none`: typed by the user). A request with
//!   neither comes from no browser (curl, a script): it has no ambient cookies to abuse, and
//!   the token below still decides.
//! - **Token**: bound to the session once there is one (an HMAC of the session token's hash:
//!   a new session token, at sign-in or on a privilege change, means a new CSRF token); before
//!   sign-in a signed double-submit token (a random nonce in a cookie, the nonce and its HMAC
//!   in the header or form field), so sign-up, sign-in and the other flows without a session
//!   are covered too (login CSRF).
//!
//! ```
//! use vault_core::csrf::{CsrfKey, origin_allowed};
//!
//! let key = CsrfKey::generate()?;
//! let pre = key.pre_session()?;
//! // The nonce goes in a cookie, the token in `X-CSRF-Token` of the next unsafe request.
//! assert!(key.check_pre_session(pre.token(), pre.nonce()));
//! assert!(!key.check_pre_session(pre.token(), "another-nonce"));
//! assert!(origin_allowed("https://vault.example", Some("https://vault.example"), None));
//! assert!(!origin_allowed("https://vault.example", Some("https://evil.example"), None));
//! # Ok::<(), vault_core::Error>(())
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::Error;
use crate::accounts::SessionToken;

const NONCE_LEN: usize = 18;

/// The server key of CSRF tokens: 32 random bytes, from configuration or generated at start
/// (tokens then last as long as the process). `Debug` prints `[redacted]`.
pub struct CsrfKey(SecretBox<[u8; 32]>);

impl CsrfKey {
    /// A new random key.
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = Box::new([0u8; 32]);
        fill(&mut bytes[..])?;
        Ok(Self(SecretBox::new(bytes)))
    }

    /// A key from 32 bytes (shared by every instance behind one origin).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    fn mac(&self, domain: &[u8], data: &[u8]) -> [u8; 32] {
        // A 32-byte key is a valid HMAC key: this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.expose_secret())
            .unwrap_or_else(|_| unreachable_key());
        mac.update(domain);
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// The CSRF token of a session: the same for every request of the session, another one
    /// once the session token changes.
    pub fn session_token(&self, session: &SessionToken) -> String {
        let hash = crate::accounts::SecretHash::of(session.expose_secret());
        URL_SAFE_NO_PAD.encode(self.mac(b"vault/csrf/session", hash.as_bytes()))
    }

    /// Whether `presented` is the CSRF token of `session` (constant time).
    pub fn check_session(&self, presented: &str, session: &SessionToken) -> bool {
        let expected = self.session_token(session);
        expected.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// A fresh pre-session pair: the nonce for a cookie and the signed token for requests.
    pub fn pre_session(&self) -> Result<PreSession, Error> {
        let mut raw = [0u8; NONCE_LEN];
        fill(&mut raw)?;
        let nonce = URL_SAFE_NO_PAD.encode(raw);
        let token = self.pre_session_token(&nonce);
        Ok(PreSession { nonce, token })
    }

    fn pre_session_token(&self, nonce: &str) -> String {
        let mac = self.mac(b"vault/csrf/pre-session", nonce.as_bytes());
        format!("{nonce}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    /// Whether `presented` is the signed token of the nonce in the request's cookie (constant
    /// time): a page on another site can neither read the cookie nor sign a nonce.
    pub fn check_pre_session(&self, presented: &str, cookie_nonce: &str) -> bool {
        if cookie_nonce.is_empty() || cookie_nonce.len() > 64 {
            return false;
        }
        let expected = self.pre_session_token(cookie_nonce);
        expected.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfKey([redacted])")
    }
}

/// A pre-session CSRF pair from [`CsrfKey::pre_session`].
#[derive(Clone)]
pub struct PreSession {
    nonce: String,
    token: String,
}

impl PreSession {
    /// The nonce, for the pre-session cookie.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// The token, for the `X-CSRF-Token` header or the form field.
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl fmt::Debug for PreSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PreSession([redacted])")
    }
}

/// The origin rule of an unsafe request (see the module documentation): `origin` and
/// `sec_fetch_site` are the request's headers, `allowed` the configured origin
/// (`https://vault.example.com`, no trailing `/`).
pub fn origin_allowed(allowed: &str, origin: Option<&str>, sec_fetch_site: Option<&str>) -> bool {
    match (origin, sec_fetch_site) {
        (Some(origin), _) => origin.trim_end_matches('/').eq_ignore_ascii_case(allowed),
        (None, Some(site)) => matches!(site, "same-origin" | "none"),
        (None, None) => true,
    }
}

fn fill(buf: &mut [u8]) -> Result<(), Error> {
    use rand::TryRng;
    rand::rngs::SysRng
        .try_fill_bytes(buf)
        .map_err(|_| Error::Randomness)
}

#[allow(clippy::panic)] // HMAC takes keys of any length; a 32-byte key never fails.
fn unreachable_key() -> Hmac<Sha256> {
    panic!("HMAC-SHA256 refused a 32-byte key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_token_changes_with_the_session_and_the_key() {
        let key = CsrfKey::from_bytes([1; 32]);
        let a = SessionToken::from("session-a".to_owned());
        let b = SessionToken::from("session-b".to_owned());
        let token = key.session_token(&a);
        assert!(key.check_session(&token, &a));
        assert!(!key.check_session(&token, &b));
        assert!(!CsrfKey::from_bytes([2; 32]).check_session(&token, &a));
        assert!(!key.check_session("", &a));
    }

    #[test]
    fn a_pre_session_token_checks_only_with_its_nonce() {
        let key = CsrfKey::from_bytes([1; 32]);
        let pre = key.pre_session().unwrap();
        assert!(key.check_pre_session(pre.token(), pre.nonce()));
        let other = key.pre_session().unwrap();
        assert!(!key.check_pre_session(pre.token(), other.nonce()));
        assert!(
            !key.check_pre_session(pre.nonce(), pre.nonce()),
            "the nonce alone"
        );
        assert!(!key.check_pre_session(pre.token(), ""));
        assert!(!format!("{pre:?}{key:?}").contains(pre.nonce()));
    }

    #[test]
    fn the_origin_rule() {
        let me = "https://vault.example";
        assert!(origin_allowed(
            me,
            Some("https://vault.example"),
            Some("cross-site")
        ));
        assert!(!origin_allowed(
            me,
            Some("https://vault.example.evil"),
            None
        ));
        assert!(!origin_allowed(me, Some("null"), None));
        assert!(origin_allowed(me, None, Some("same-origin")));
        assert!(
            !origin_allowed(me, None, Some("same-site")),
            "a sibling subdomain"
        );
        assert!(!origin_allowed(me, None, Some("cross-site")));
        assert!(
            origin_allowed(me, None, None),
            "no browser: the token decides"
        );
    }
}
