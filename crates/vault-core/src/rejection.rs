//! From a verdict to an HTTP answer: status, `WWW-Authenticate` and an RFC 9457
//! `application/problem+json` body. One table, used by every adapter, so they answer alike.
//! The answer is a [`Problem`], written out by each framework's one writer. The body never
//! echoes the presented key.

use std::sync::Arc;

use crate::problem::Problem;
use crate::verdict::AuthError;

/// The media type of rejection bodies.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Seconds a client should wait after `auth_unavailable`.
pub const RETRY_AFTER_SECS: u32 = 1;

/// An HTTP answer to a refused key, framework-free: the verdict and its [`Problem`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    error: AuthError,
    problem: Problem,
}

/// A product's own rejection body, set by a hook; status and headers stay as the table says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectionBody {
    /// The media type of `body` (e.g. `application/json`).
    pub content_type: String,
    /// The body.
    pub body: String,
}

/// The `realm` of the `WWW-Authenticate` challenge, validated once at configuration.
/// Shared, so cloning a guard or its answers on every request allocates nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Realm(Arc<str>);

impl Realm {
    /// A realm of printable ASCII without `"` and `\` (it is written inside quotes).
    /// Anything else is replaced by `_`, so a realm can never break the header.
    pub fn new(realm: &str) -> Self {
        let cleaned: String = realm
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Self(cleaned.into())
    }

    /// The realm text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Realm {
    fn default() -> Self {
        Self("api".into())
    }
}

impl Rejection {
    /// The answer to `error` under `realm`.
    pub fn new(error: &AuthError, realm: &Realm) -> Self {
        let realm = realm.as_str();
        let (status, title, challenge) = match error {
            AuthError::MissingKey => (
                401,
                "API key required",
                Some(format!("Bearer realm=\"{realm}\"")),
            ),
            AuthError::MalformedHeader(_) => (
                401,
                "Malformed Authorization header",
                Some(format!(
                    "Bearer realm=\"{realm}\", error=\"invalid_request\""
                )),
            ),
            AuthError::InvalidKey(_) => (401, "Invalid API key", Some(invalid_token(realm))),
            AuthError::ExpiredKey => (401, "Expired API key", Some(invalid_token(realm))),
            AuthError::WrongEnvironment => (
                401,
                "API key of another environment",
                Some(invalid_token(realm)),
            ),
            AuthError::WrongProduct => (
                401,
                "API key of another product",
                Some(invalid_token(realm)),
            ),
            // The scope lists every permission the route needs, space-separated (RFC 6750
            // §3); permission names hold no quote or backslash.
            AuthError::InsufficientPermission(required) if !required.is_empty() => (
                403,
                "Insufficient permission",
                Some(format!(
                    "Bearer realm=\"{realm}\", error=\"insufficient_scope\", scope=\"{required}\""
                )),
            ),
            AuthError::InsufficientPermission(_) => (
                403,
                "Insufficient permission",
                Some(format!(
                    "Bearer realm=\"{realm}\", error=\"insufficient_scope\""
                )),
            ),
            AuthError::Unavailable => (503, "Authentication unavailable", None),
        };
        let code = error.code();
        let detail = error.to_string();
        let problem = match error {
            AuthError::InsufficientPermission(required) => Problem::with_extensions(
                status,
                code,
                title,
                &detail,
                [
                    // The scope string, as in the challenge, and the same as a list.
                    ("required_permission", required.to_string().into()),
                    (
                        "required_permissions",
                        required.iter().map(|p| p.as_str()).collect(),
                    ),
                ],
            ),
            _ => Problem::new(status, code, title, &detail),
        };
        let problem = match challenge {
            Some(challenge) => problem.with_challenge(challenge),
            None => problem,
        };
        let problem = if matches!(error, AuthError::Unavailable) {
            problem.with_retry_after(RETRY_AFTER_SECS)
        } else {
            problem
        };
        Self {
            error: error.clone(),
            problem,
        }
    }

    /// The verdict this answers.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// The gRPC status for servers that answer in gRPC: 16 (unauthenticated) for 401,
    /// 7 (permission denied) for 403, 14 (unavailable) for 503.
    pub fn grpc_status(&self) -> u8 {
        match self.status() {
            403 => 7,
            503 => 14,
            _ => 16,
        }
    }

    /// The answer, for a framework's writer.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// The answer, without the verdict.
    pub fn into_problem(self) -> Problem {
        self.problem
    }

    /// The HTTP status code (401, 403 or 503).
    pub fn status(&self) -> u16 {
        self.problem.status()
    }

    /// The problem `code` (e.g. `invalid_api_key`).
    pub fn code(&self) -> &'static str {
        self.problem.code()
    }

    /// The problem `title`.
    pub fn title(&self) -> &'static str {
        self.problem.title()
    }

    /// The `WWW-Authenticate` value, if the answer carries one.
    pub fn www_authenticate(&self) -> Option<&str> {
        self.problem.www_authenticate()
    }

    /// The `Retry-After` seconds, if the answer carries one.
    pub fn retry_after(&self) -> Option<u32> {
        self.problem.retry_after()
    }

    /// The `application/problem+json` body.
    pub fn body(&self) -> &str {
        self.problem.body()
    }

    /// The content type of [`Rejection::body`].
    pub fn content_type(&self) -> &str {
        self.problem.content_type()
    }

    /// Replaces the body (a product's own error shape); status and headers stay. A content
    /// type that cannot be a header value keeps the problem+json body (see
    /// [`Problem::with_body`]).
    pub fn with_body(mut self, body: RejectionBody) -> Self {
        self.problem = self.problem.with_body(body);
        self
    }
}

impl From<Rejection> for Problem {
    fn from(rejection: Rejection) -> Self {
        rejection.problem
    }
}

fn invalid_token(realm: &str) -> String {
    format!("Bearer realm=\"{realm}\", error=\"invalid_token\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::TokenDefect;
    use crate::verdict::{HeaderDefect, InvalidKeyReason};

    fn reject(error: AuthError) -> Rejection {
        Rejection::new(&error, &Realm::new("submit"))
    }

    #[test]
    fn every_row_of_the_table() {
        let rows: Vec<(AuthError, u16, Option<&str>, &str)> = vec![
            (
                AuthError::MissingKey,
                401,
                Some(r#"Bearer realm="submit""#),
                "missing_api_key",
            ),
            (
                AuthError::MalformedHeader(HeaderDefect::NotBearer),
                401,
                Some(r#"Bearer realm="submit", error="invalid_request""#),
                "malformed_authorization",
            ),
            (
                AuthError::InvalidKey(InvalidKeyReason::Malformed(TokenDefect::BadChecksum)),
                401,
                Some(r#"Bearer realm="submit", error="invalid_token""#),
                "invalid_api_key",
            ),
            (
                AuthError::InvalidKey(InvalidKeyReason::Revoked),
                401,
                Some(r#"Bearer realm="submit", error="invalid_token""#),
                "invalid_api_key",
            ),
            (
                AuthError::ExpiredKey,
                401,
                Some(r#"Bearer realm="submit", error="invalid_token""#),
                "expired_api_key",
            ),
            (
                AuthError::WrongEnvironment,
                401,
                Some(r#"Bearer realm="submit", error="invalid_token""#),
                "wrong_environment",
            ),
            (
                AuthError::WrongProduct,
                401,
                Some(r#"Bearer realm="submit", error="invalid_token""#),
                "wrong_product",
            ),
            (
                AuthError::InsufficientPermission("jobs:create".parse().unwrap()),
                403,
                Some(r#"Bearer realm="submit", error="insufficient_scope", scope="jobs:create""#),
                "insufficient_permission",
            ),
            (AuthError::Unavailable, 503, None, "auth_unavailable"),
        ];
        for (error, status, challenge, code) in rows {
            let r = reject(error);
            assert_eq!(r.status(), status, "{code}");
            assert_eq!(r.www_authenticate(), challenge, "{code}");
            assert_eq!(r.code(), code);
            let body: serde_json::Value = serde_json::from_str(r.body()).unwrap();
            assert_eq!(body["code"], code);
            assert_eq!(body["status"], status);
            assert_eq!(body["title"], r.title());
            assert_eq!(body["type"], format!("urn:vault:problem:{code}"));
            assert_eq!(r.retry_after().is_some(), status == 503);
            assert_eq!(r.content_type(), "application/problem+json");
            let grpc = match status {
                403 => 7,
                503 => 14,
                _ => 16,
            };
            assert_eq!(r.grpc_status(), grpc);
        }
    }

    #[test]
    fn the_scope_of_a_403_lists_every_required_permission() {
        let required: crate::PermissionSet = "jobs:read jobs:create".parse().unwrap();
        let r = reject(AuthError::InsufficientPermission(required));
        assert_eq!(r.status(), 403);
        assert_eq!(
            r.www_authenticate(),
            Some(
                r#"Bearer realm="submit", error="insufficient_scope", scope="jobs:create jobs:read""#
            )
        );
        let body: serde_json::Value = serde_json::from_str(r.body()).unwrap();
        assert_eq!(body["required_permission"], "jobs:create jobs:read");
        assert_eq!(
            body["required_permissions"],
            serde_json::json!(["jobs:create", "jobs:read"])
        );
        assert_eq!(
            body["detail"],
            "the API key lacks some of the permissions jobs:create jobs:read"
        );
    }

    #[test]
    fn revoked_and_unknown_keys_answer_identically() {
        let revoked = reject(AuthError::InvalidKey(InvalidKeyReason::Revoked));
        let unknown = reject(AuthError::InvalidKey(InvalidKeyReason::UnknownKey));
        assert_eq!(revoked.status(), unknown.status());
        assert_eq!(revoked.www_authenticate(), unknown.www_authenticate());
        assert_eq!(revoked.body(), unknown.body());
    }

    #[test]
    fn realm_cannot_break_the_header() {
        let realm = Realm::new("a\"b\\c\r\nd");
        assert_eq!(realm.as_str(), "a_b_c__d");
    }
}
