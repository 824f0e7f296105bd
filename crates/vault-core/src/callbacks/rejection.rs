//! Every answer a callback receiver gives without running its handler. A refusal: status, a
//! stable problem `code` and an RFC 9457 `application/problem+json` body, for every
//! [`CallbackDefect`] ([`CallbackRejection`]); and the 2xx acknowledgement of a duplicate
//! ([`DuplicateAcknowledgement`]). One table, used by every receiver adapter (tower, axum,
//! actix), so they answer alike, refusals through each one's [`Problem`] writer. Nothing
//! secret is echoed.

use std::fmt;

use super::{CallbackDefect, CallbackHeader};
use crate::problem::Problem;
use crate::rejection::PROBLEM_CONTENT_TYPE;

/// The `WWW-Authenticate` challenge of a 401 (RFC 9110 asks every 401 for one). Standard
/// Webhooks registers no scheme; `Webhook` tells a client that a signature, not a token, is
/// expected.
pub const CALLBACK_CHALLENGE: &str = "Webhook realm=\"callbacks\"";

/// An HTTP answer to a callback that was not accepted, framework-free.
///
/// ```
/// use vault_core::callbacks::{CallbackDefect, CallbackRejection};
///
/// let refused = CallbackRejection::from(CallbackDefect::NoMatchingSignature);
/// assert_eq!(refused.status(), 401);
/// assert_eq!(refused.code(), "invalid_signature");
/// assert_eq!(refused.content_type(), "application/problem+json");
/// assert!(refused.body().contains(r#""code":"invalid_signature""#));
///
/// let oversized = CallbackRejection::from(CallbackDefect::BodyTooLarge { limit: 1024 });
/// assert_eq!((oversized.status(), oversized.code()), (413, "body_too_large"));
/// assert_eq!(oversized.www_authenticate(), None);
///
/// let busy = CallbackRejection::from(CallbackDefect::InProgress { retry_after_secs: 42 });
/// assert_eq!((busy.status(), busy.code()), (409, "delivery_in_progress"));
/// assert_eq!(busy.retry_after(), Some(42));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackRejection {
    reason: Reason,
    problem: Problem,
}

/// What the answer is about: a verdict of the verifier, or a body that could not be read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Reason {
    Defect(CallbackDefect),
    UnreadableBody,
}

impl CallbackRejection {
    /// The answer to `defect`.
    pub fn new(defect: CallbackDefect) -> Self {
        let (status, code, title) = row(defect);
        let extension = match defect {
            CallbackDefect::MissingHeader(header) => Some(("header", header.name().into())),
            CallbackDefect::BodyTooLarge { limit } => Some(("limit", limit.into())),
            _ => None,
        };
        let problem = Problem::with_extensions(status, code, title, &defect.to_string(), extension);
        let problem = match defect {
            CallbackDefect::InProgress { retry_after_secs } => {
                problem.with_retry_after(retry_after_secs)
            }
            _ => problem,
        };
        Self::answer(Reason::Defect(defect), problem)
    }

    /// The answer when the request body broke off before its end (400 `unreadable_body`):
    /// nothing was verified, and the sender may retry.
    pub fn unreadable_body() -> Self {
        let problem = Problem::new(
            400,
            "unreadable_body",
            "Unreadable callback body",
            "the request body could not be read",
        );
        Self::answer(Reason::UnreadableBody, problem)
    }

    fn answer(reason: Reason, problem: Problem) -> Self {
        // RFC 9110 asks every 401 for a challenge.
        let problem = if problem.status() == 401 {
            problem.with_challenge(CALLBACK_CHALLENGE.to_owned())
        } else {
            problem
        };
        Self { reason, problem }
    }

    /// Refuses a body whose declared `Content-Length` is over `limit`, before reading it.
    /// A missing or unparsable value passes: the reader still stops at the limit.
    ///
    /// ```
    /// use vault_core::callbacks::CallbackRejection;
    ///
    /// assert!(CallbackRejection::check_content_length(Some("10"), 10).is_ok());
    /// assert!(CallbackRejection::check_content_length(None, 10).is_ok());
    /// let refused = CallbackRejection::check_content_length(Some("11"), 10).unwrap_err();
    /// assert_eq!(refused.status(), 413);
    /// ```
    pub fn check_content_length(declared: Option<&str>, limit: usize) -> Result<(), Self> {
        match declared.and_then(|value| value.trim().parse::<u64>().ok()) {
            Some(length) if length > limit as u64 => {
                Err(CallbackDefect::BodyTooLarge { limit }.into())
            }
            _ => Ok(()),
        }
    }

    /// The verifier's verdict this answers; `None` for an unreadable body.
    pub fn defect(&self) -> Option<CallbackDefect> {
        match self.reason {
            Reason::Defect(defect) => Some(defect),
            Reason::UnreadableBody => None,
        }
    }

    /// The answer, for a framework's writer.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// The HTTP status code: 401, 413 for an oversized body, 400 for an unreadable one, 409
    /// while another delivery of the id is handled, 500 for a sender-side defect (a
    /// programming error on a receiver).
    pub fn status(&self) -> u16 {
        self.problem.status()
    }

    /// The stable problem `code` (e.g. `invalid_signature`, `stale_timestamp`,
    /// `delivery_in_progress`).
    pub fn code(&self) -> &'static str {
        self.problem.code()
    }

    /// The problem `title`.
    pub fn title(&self) -> &'static str {
        self.problem.title()
    }

    /// The `WWW-Authenticate` value: [`CALLBACK_CHALLENGE`] on a 401, otherwise none.
    pub fn www_authenticate(&self) -> Option<&'static str> {
        (self.status() == 401).then_some(CALLBACK_CHALLENGE)
    }

    /// The `Retry-After` seconds: on a 409 `delivery_in_progress`, otherwise none.
    pub fn retry_after(&self) -> Option<u32> {
        self.problem.retry_after()
    }

    /// The media type of [`CallbackRejection::body`]: `application/problem+json`.
    pub fn content_type(&self) -> &'static str {
        PROBLEM_CONTENT_TYPE
    }

    /// The problem+json body: `type`, `title`, `status`, `code`, `detail` (and `header` or
    /// `limit` where they apply).
    pub fn body(&self) -> &str {
        self.problem.body()
    }
}

impl From<CallbackRejection> for Problem {
    fn from(rejection: CallbackRejection) -> Self {
        rejection.problem
    }
}

impl From<CallbackDefect> for CallbackRejection {
    fn from(defect: CallbackDefect) -> Self {
        Self::new(defect)
    }
}

impl fmt::Debug for CallbackRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackRejection")
            .field("reason", &self.reason)
            .field("status", &self.status())
            .field("code", &self.code())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for CallbackRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            Reason::Defect(defect) => write!(f, "callback refused: {defect}"),
            Reason::UnreadableBody => f.write_str("callback refused: the body could not be read"),
        }
    }
}

impl std::error::Error for CallbackRejection {}

/// The answer to a redelivery of an id a handler already processed: 200 with a small JSON
/// body (`{"code":"duplicate",...}`), written by the receiver without running the handler
/// again. A sender needs only the 2xx; the body tells whoever reads its delivery log why the
/// answer was quick.
///
/// ```
/// use vault_core::callbacks::DuplicateAcknowledgement;
///
/// let ack = DuplicateAcknowledgement;
/// assert_eq!(ack.status(), 200);
/// assert_eq!(ack.content_type(), "application/json");
/// assert!(ack.body().contains(r#""code":"duplicate""#));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DuplicateAcknowledgement;

impl DuplicateAcknowledgement {
    /// The HTTP status code: 200.
    pub fn status(&self) -> u16 {
        200
    }

    /// The media type of [`DuplicateAcknowledgement::body`]: `application/json`.
    pub fn content_type(&self) -> &'static str {
        "application/json"
    }

    /// The body: `code` `duplicate` and a `detail` for people.
    pub fn body(&self) -> &'static str {
        r#"{"code":"duplicate","detail":"this webhook-id was already processed; it was not handled again"}"#
    }
}

/// The table: status, code and title of every defect. Exhaustive on purpose: a new variant
/// does not compile until it has a row.
fn row(defect: CallbackDefect) -> (u16, &'static str, &'static str) {
    match defect {
        CallbackDefect::MissingHeader(CallbackHeader::Id) => {
            (401, "missing_webhook_id", "Callback header missing")
        }
        CallbackDefect::MissingHeader(CallbackHeader::Timestamp) => {
            (401, "missing_webhook_timestamp", "Callback header missing")
        }
        CallbackDefect::MissingHeader(CallbackHeader::Signature) => {
            (401, "missing_webhook_signature", "Callback header missing")
        }
        CallbackDefect::MalformedId => (401, "malformed_id", "Malformed callback id"),
        CallbackDefect::BadTimestamp => {
            (401, "malformed_timestamp", "Malformed callback timestamp")
        }
        CallbackDefect::TooOld => (401, "stale_timestamp", "Callback timestamp too old"),
        CallbackDefect::TooNew => (401, "future_timestamp", "Callback timestamp in the future"),
        CallbackDefect::MalformedSignature => {
            (401, "malformed_signature", "Malformed callback signature")
        }
        CallbackDefect::NoMatchingSignature => {
            (401, "invalid_signature", "Invalid callback signature")
        }
        // RFC 9110 §15.5.10: the request conflicts with the state of the message (being
        // handled); as the idempotency-key draft answers a retry that overlaps its original.
        CallbackDefect::InProgress { .. } => {
            (409, "delivery_in_progress", "Callback being processed")
        }
        CallbackDefect::BodyTooLarge { .. } => (413, "body_too_large", "Callback body too large"),
        // Sender-side defects: a verifier never returns them, so a receiver answering one
        // has a bug; say so rather than blame the sender.
        CallbackDefect::BodyContainsApiKey
        | CallbackDefect::MalformedSecret
        | CallbackDefect::SecretLength
        | CallbackDefect::InvalidUrl
        | CallbackDefect::HttpClient => (500, "callback_misconfigured", "Callback misconfigured"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_receiver_defect_has_a_stable_code() {
        let rows = [
            (
                CallbackDefect::MissingHeader(CallbackHeader::Id),
                401,
                "missing_webhook_id",
            ),
            (
                CallbackDefect::MissingHeader(CallbackHeader::Timestamp),
                401,
                "missing_webhook_timestamp",
            ),
            (
                CallbackDefect::MissingHeader(CallbackHeader::Signature),
                401,
                "missing_webhook_signature",
            ),
            (CallbackDefect::MalformedId, 401, "malformed_id"),
            (CallbackDefect::BadTimestamp, 401, "malformed_timestamp"),
            (CallbackDefect::TooOld, 401, "stale_timestamp"),
            (CallbackDefect::TooNew, 401, "future_timestamp"),
            (
                CallbackDefect::MalformedSignature,
                401,
                "malformed_signature",
            ),
            (
                CallbackDefect::NoMatchingSignature,
                401,
                "invalid_signature",
            ),
            (
                CallbackDefect::InProgress {
                    retry_after_secs: 5,
                },
                409,
                "delivery_in_progress",
            ),
            (
                CallbackDefect::BodyTooLarge { limit: 64 },
                413,
                "body_too_large",
            ),
            (
                CallbackDefect::BodyContainsApiKey,
                500,
                "callback_misconfigured",
            ),
        ];
        for (defect, status, code) in rows {
            let answer = CallbackRejection::from(defect);
            assert_eq!((answer.status(), answer.code()), (status, code), "{defect}");
            assert_eq!(answer.defect(), Some(defect));
            let body: serde_json::Value = serde_json::from_str(answer.body()).unwrap();
            assert_eq!(body["type"], format!("urn:vault:problem:{code}"));
            assert_eq!(body["title"], answer.title());
            assert_eq!(body["status"], status);
            assert_eq!(body["code"], code);
            assert_eq!(body["detail"], defect.to_string());
            assert_eq!(
                answer.www_authenticate(),
                (status == 401).then_some(CALLBACK_CHALLENGE)
            );
            assert_eq!(answer.retry_after(), (status == 409).then_some(5));
        }
    }

    #[test]
    fn a_duplicate_is_acknowledged_with_a_json_success() {
        let ack = DuplicateAcknowledgement;
        assert!((200..300).contains(&ack.status()));
        assert_eq!(ack.content_type(), "application/json");
        let body: serde_json::Value = serde_json::from_str(ack.body()).unwrap();
        assert_eq!(body["code"], "duplicate");
    }

    #[test]
    fn a_missing_header_and_an_oversized_body_say_which_and_how_much() {
        let missing =
            CallbackRejection::new(CallbackDefect::MissingHeader(CallbackHeader::Signature));
        let body: serde_json::Value = serde_json::from_str(missing.body()).unwrap();
        assert_eq!(body["header"], "webhook-signature");
        let large = CallbackRejection::new(CallbackDefect::BodyTooLarge { limit: 64 });
        let body: serde_json::Value = serde_json::from_str(large.body()).unwrap();
        assert_eq!(body["limit"], 64);
    }

    #[test]
    fn an_unreadable_body_is_a_bad_request_without_a_verdict() {
        let answer = CallbackRejection::unreadable_body();
        assert_eq!((answer.status(), answer.code()), (400, "unreadable_body"));
        assert_eq!(answer.defect(), None);
        assert_eq!(answer.www_authenticate(), None);
    }

    #[test]
    fn declared_lengths_over_the_limit_are_refused_early() {
        assert!(CallbackRejection::check_content_length(Some("100"), 100).is_ok());
        assert!(CallbackRejection::check_content_length(Some("nope"), 100).is_ok());
        let refused = CallbackRejection::check_content_length(Some(" 101 "), 100).unwrap_err();
        assert_eq!(
            refused.defect(),
            Some(CallbackDefect::BodyTooLarge { limit: 100 })
        );
    }
}
