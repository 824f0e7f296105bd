//! [`Problem`]: every HTTP refusal of the Vault, framework-free. Status, `WWW-Authenticate`,
//! `Retry-After`, content type and an RFC 9457 `application/problem+json` body (`type`,
//! `title`, `status`, `detail`, and a stable `code`). Each framework has one writer that
//! turns a `Problem` into its response; the tables that make one live in vault-core:
//!
//! - key verdicts: [`Rejection`](crate::Rejection) (see [`crate::rejection`]), `AuthError` →
//!   401 / 403 / 503;
//! - received callbacks: [`CallbackRejection`](crate::callbacks::CallbackRejection), 401 / 413
//!   / 409 / 400;
//! - everything else a service refuses: `From<&`[`Error`](crate::Error)`>` and `From` each
//!   detail enum ([`AccountDefect`](crate::accounts::AccountDefect),
//!   [`AccessDefect`](crate::access::AccessDefect),
//!   [`PasswordDefect`](crate::password::PasswordDefect),
//!   [`TotpDefect`](crate::totp::TotpDefect)): the table below, so a server can answer
//!   every refusal of a service from it.
//!
//! ```
//! use vault_core::Problem;
//! use vault_core::accounts::AccountDefect;
//!
//! let throttled = Problem::from(AccountDefect::Throttled { retry_after_secs: 30 });
//! assert_eq!((throttled.status(), throttled.code()), (429, "too_many_attempts"));
//! assert_eq!(throttled.retry_after(), Some(30));
//! assert_eq!(throttled.content_type(), "application/problem+json");
//!
//! // Anything internal answers a body that says nothing about why.
//! let error = vault_core::Error::Store("connection reset by db-3".into());
//! let internal = Problem::from(&error);
//! assert_eq!(internal.status(), 500);
//! assert!(!internal.body().contains("db-3"));
//! ```
//!
//! # The table of [`Error`](crate::Error)
//!
//! | refusal | status | `code` | headers |
//! |---|---|---|---|
//! | `Account(InvalidEmail)`, `Access(InvalidEmail)` | 422 | `invalid_email` | |
//! | `Account(InvalidName)`, `Access(InvalidName)` | 422 | `invalid_name` | |
//! | `Account(InvalidCredentials)` | 401 | `invalid_credentials` | no challenge: a sign-in form's answer, not an HTTP authentication scheme |
//! | `Account(Throttled { retry_after_secs })` | 429 | `too_many_attempts` | `Retry-After: retry_after_secs` |
//! | `Account(InvalidToken)` | 400 | `invalid_token` | (unknown, expired and used links are not told apart) |
//! | `Account(InvalidSession)` | 401 | `invalid_session` | no challenge (a session, not a bearer key) |
//! | `Account(WrongCurrentPassword)` | 403 | `wrong_current_password` | (the session stays valid: not a 401) |
//! | `Account(EmailUnavailable)` | 409 | `email_unavailable` | |
//! | `Account(InvalidSecondFactor)`, `Totp(WrongCode \| ReplayedCode \| MalformedCode \| RecoveryCodeRefused)` | 401 | `invalid_second_factor` | no challenge; wrong, replayed and malformed codes answer alike |
//! | `Account(TwoFactorState)` | 409 | `two_factor_state` | |
//! | `Account(MailNotSent)` | 503 | `mail_not_sent` | |
//! | `Account(NotAMember)`, `Access(NotAMember)` | 404 | `not_a_member` | (a workspace one is not in and one that does not exist look alike) |
//! | `Access(UserNotAMember)` | 404 | `user_not_a_member` | |
//! | `Access(AlreadyMember)` | 409 | `already_member` | |
//! | `Access(NotAllowed)` | 403 | `not_allowed` | |
//! | `Access(LastOwner)` | 409 | `last_owner` | |
//! | `Access(InvitationUnknown)` | 404 | `invitation_unknown` | |
//! | `Access(InvitationExpired)`, `Access(InvitationRevoked)` | 410 | `invitation_expired`, `invitation_revoked` | |
//! | `Access(InvitationUsed)` | 409 | `invitation_used` | |
//! | `Access(InvitationForAnotherAccount)` | 403 | `invitation_for_another_account` | |
//! | `Access(ProductNotSubscribed)` | 403 | `product_not_subscribed` | |
//! | `Access(ProductUnknown)`, `Access(GroupUnknown)`, `Access(KeyUnknown)` | 404 | `product_unknown`, `group_unknown`, `key_unknown` | |
//! | `Access(RoleUnknown)` | 422 | `role_unknown` | (a role is named in the request body) |
//! | `Access(TwoFactorRequired)` | 403 | `two_factor_required` | |
//! | `Access(PermissionNotHeld)` | 403 | `permission_not_held` | |
//! | `Access(NameTaken)` | 409 | `name_taken` | |
//! | `Password(TooShort \| TooLong \| Common \| Breached \| Repetitive \| Sequential \| ContainsEmail \| ContainsName)` | 422 | `weak_password` | body member `reason` (`too_short`, `breached`, ...), `min` / `max` where they apply |
//! | `Password(BreachCheckUnavailable)` | 503 | `breach_check_unavailable` | `Retry-After` |
//! | `InvalidPermission`, `InvalidProductId`, `UnknownEnvironment`, `InvalidKeyName`, `InvalidId`, `InvalidKeyId`, `MalformedToken`, `NegativeOverlap`, `ExpiryNotInFuture` | 422 | `invalid_permission`, `invalid_product_id`, `unknown_environment`, `invalid_key_name`, `invalid_id`, `invalid_key_id`, `malformed_api_key`, `negative_overlap`, `expiry_not_in_future` | (the input is never echoed) |
//! | `KeyNotFound` | 404 | `key_not_found` | |
//! | `KeyRevoked`, `KeyExpired` | 409 | `key_revoked`, `key_expired` | |
//! | `Conflict` | 409 | `conflict` | (the store's reason is not echoed) |
//! | `StoreUnavailable` | 503 | `service_unavailable` | `Retry-After` |
//! | `Callback(defect)` | as [`CallbackRejection`](crate::callbacks::CallbackRejection) | | |
//! | everything internal: the pepper, `InvalidKeyPrefix`, `Randomness`, `Store`, `Password(MalformedHash \| UnsupportedHash \| InvalidPolicy \| InvalidParameters \| HashingFailed)`, every other `Totp` defect | 500 | `internal_error` | a generic body that names nothing |
//!
//! Titles and details are fixed texts or the detail enums' messages, which hold no secret and
//! no input: a pasted key or password can never come back in an answer.

mod refusals;

use std::fmt;

use crate::rejection::{PROBLEM_CONTENT_TYPE, RejectionBody};

/// An HTTP answer to a refused request, framework-free: what every writer (vault-tower's
/// `problem_response`, vault-actix's `problem_response`) turns into a response. Its header
/// values are checked when set, so a writer can always send them.
///
/// ```
/// use vault_core::Problem;
///
/// let gone = Problem::new(410, "export_expired", "Export expired", "the export was deleted");
/// assert_eq!(gone.status(), 410);
/// let body: serde_json::Value = serde_json::from_str(gone.body())?;
/// assert_eq!(body["type"], "urn:vault:problem:export_expired");
/// assert_eq!(body["detail"], "the export was deleted");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Problem {
    status: u16,
    code: &'static str,
    title: &'static str,
    // Boxed strings keep `Result<_, Problem>` (and the rejections holding one) small.
    www_authenticate: Option<Box<str>>,
    retry_after: Option<u32>,
    content_type: Box<str>,
    body: Box<str>,
}

impl Problem {
    /// A problem+json answer: `type` is `urn:vault:problem:{code}`, then `title`, `status`,
    /// `code` and `detail`. `detail` is sent to the client: never put a secret or raw input
    /// in it.
    pub fn new(status: u16, code: &'static str, title: &'static str, detail: &str) -> Self {
        Self::with_extensions(status, code, title, detail, [])
    }

    /// [`Problem::new`] with extension members (RFC 9457 §3.2) after the standard ones, e.g.
    /// the `limit` of an oversized body. A member named like a standard one is ignored.
    pub fn with_extensions<I>(
        status: u16,
        code: &'static str,
        title: &'static str,
        detail: &str,
        extensions: I,
    ) -> Self
    where
        I: IntoIterator<Item = (&'static str, serde_json::Value)>,
    {
        let mut body = serde_json::json!({
            "type": format!("urn:vault:problem:{code}"),
            "title": title,
            "status": status,
            "code": code,
            "detail": detail,
        });
        for (name, value) in extensions {
            if body.get(name).is_none() {
                body[name] = value;
            }
        }
        Self {
            status,
            code,
            title,
            www_authenticate: None,
            retry_after: None,
            content_type: PROBLEM_CONTENT_TYPE.into(),
            body: body.to_string().into_boxed_str(),
        }
    }

    /// The answer to anything internal (a store failure, a configuration error, a bug): 500
    /// `internal_error` with a body that says nothing about the cause. Log the cause.
    pub fn internal() -> Self {
        Self::new(
            500,
            "internal_error",
            "Internal server error",
            "the request could not be completed",
        )
    }

    /// The answer to a programming error of the server that its developer must see: an
    /// extractor on a route its layer does not cover, an invalid permission name. 500
    /// `server_misconfigured` with `detail` (a message for the developer, naming no secret).
    /// Failures at run time answer [`Problem::internal`] instead.
    pub fn misconfigured(detail: &str) -> Self {
        Self::new(500, "server_misconfigured", "Server misconfigured", detail)
    }

    /// The same answer with a `WWW-Authenticate` challenge. A value that cannot be a header
    /// (a control character, a line break) is dropped and logged: the answer stays sendable.
    pub fn with_challenge(mut self, challenge: String) -> Self {
        if is_header_value(&challenge) {
            self.www_authenticate = Some(challenge.into_boxed_str());
        } else {
            tracing::warn!(
                code = self.code,
                "a WWW-Authenticate challenge that is not a valid header value was dropped"
            );
        }
        self
    }

    /// The same answer with `Retry-After: seconds`.
    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Replaces the body (a product's own error shape, from a body hook); status and headers
    /// stay. A content type that cannot be a header value (empty, a control character, a line
    /// break) is a bug of the hook: the problem+json body is kept, and a warning logged, so
    /// every framework answers the same well-typed body rather than one without a type.
    pub fn with_body(mut self, body: RejectionBody) -> Self {
        if is_header_value(&body.content_type) && !body.content_type.trim().is_empty() {
            self.content_type = body.content_type.into_boxed_str();
            self.body = body.body.into_boxed_str();
        } else {
            tracing::warn!(
                code = self.code,
                "a rejection body hook returned a content type that is not a valid header \
                 value; the problem+json body is sent instead"
            );
        }
        self
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The stable problem `code` (e.g. `invalid_api_key`, `too_many_attempts`).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The problem `title`.
    pub fn title(&self) -> &'static str {
        self.title
    }

    /// The `WWW-Authenticate` value, if the answer carries one.
    pub fn www_authenticate(&self) -> Option<&str> {
        self.www_authenticate.as_deref()
    }

    /// The `Retry-After` seconds, if the answer carries one.
    pub fn retry_after(&self) -> Option<u32> {
        self.retry_after
    }

    /// The content type of [`Problem::body`]: `application/problem+json`, or a body hook's.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The body.
    pub fn body(&self) -> &str {
        &self.body
    }
}

// The body is left out: a product's hook may have put anything in it.
impl fmt::Debug for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Problem")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("www_authenticate", &self.www_authenticate)
            .field("retry_after", &self.retry_after)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

/// What `http`'s `HeaderValue::from_str` (0.2 and 1.x) accepts: visible ASCII, space and tab.
fn is_header_value(text: &str) -> bool {
    text.bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(content_type: &str) -> RejectionBody {
        RejectionBody {
            content_type: content_type.into(),
            body: r#"{"error":"nope"}"#.into(),
        }
    }

    #[test]
    fn the_body_holds_the_standard_members_then_the_extensions() {
        let problem = Problem::with_extensions(
            413,
            "body_too_large",
            "Too large",
            "the body is larger than 64 bytes",
            [
                ("limit", serde_json::Value::from(64)),
                ("status", serde_json::Value::from(200)),
            ],
        );
        let body: serde_json::Value = serde_json::from_str(problem.body()).unwrap();
        assert_eq!(body["type"], "urn:vault:problem:body_too_large");
        assert_eq!(body["title"], "Too large");
        assert_eq!(body["status"], 413);
        assert_eq!(body["code"], "body_too_large");
        assert_eq!(body["detail"], "the body is larger than 64 bytes");
        assert_eq!(body["limit"], 64);
        assert_eq!(problem.content_type(), "application/problem+json");
        assert_eq!(
            (problem.www_authenticate(), problem.retry_after()),
            (None, None)
        );
    }

    #[test]
    fn a_hooks_body_replaces_the_body_only() {
        let problem = Problem::new(401, "x", "X", "x")
            .with_challenge("Bearer realm=\"api\"".into())
            .with_retry_after(3)
            .with_body(hook("application/json"));
        assert_eq!(problem.content_type(), "application/json");
        assert_eq!(problem.body(), r#"{"error":"nope"}"#);
        assert_eq!(problem.www_authenticate(), Some("Bearer realm=\"api\""));
        assert_eq!(problem.retry_after(), Some(3));
        assert_eq!(problem.status(), 401);
    }

    #[test]
    fn a_hook_content_type_that_cannot_be_a_header_keeps_the_problem_body() {
        let original = Problem::new(401, "missing_api_key", "API key required", "none");
        for bad in [
            "application/json\r\nx-injected: 1",
            "",
            "  ",
            "text/plain\u{7f}",
            "é/é",
        ] {
            let problem = original.clone().with_body(hook(bad));
            assert_eq!(problem, original, "{bad:?}");
        }
    }

    #[test]
    fn a_challenge_that_cannot_be_a_header_is_dropped() {
        let problem = Problem::new(401, "x", "X", "x").with_challenge("Bearer\r\nx: 1".into());
        assert_eq!(problem.www_authenticate(), None);
    }

    #[test]
    fn debug_leaves_the_body_out() {
        let problem = Problem::new(400, "x", "X", "x").with_body(hook("application/json"));
        let shown = format!("{problem:?}");
        assert!(!shown.contains("nope"), "{shown}");
        assert!(shown.contains("400"), "{shown}");
    }
}
