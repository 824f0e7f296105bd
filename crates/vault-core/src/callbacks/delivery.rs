//! Delivery (feature `delivery`): [`CallbackSender`] POSTs a signed callback and retries
//! with exponential backoff and jitter on network errors, 5xx, 429 and 409 (honouring
//! `Retry-After`), never on other 4xx, never following a redirect; it returns a record of
//! every attempt.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use time::OffsetDateTime;

use super::{CallbackDefect, CallbackSigner, SignedHeaders};
use crate::Error;

/// When and how often to retry. Defaults: 5 attempts, backoff from 1 s doubling to at most
/// 60 s, up to half of each delay taken off at random, 10 s per attempt, 5 s to connect.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The delay after the first failed attempt; it doubles after each further one.
    pub initial_backoff: Duration,
    /// The longest delay between attempts. A `Retry-After` longer than this ends the
    /// delivery instead of being shortened.
    pub max_backoff: Duration,
    /// The share of each delay taken off at random, 0.0 to 1.0, so senders that failed
    /// together do not retry together. 0.0 makes delays exact (tests).
    pub jitter: f64,
    /// The time allowed for one attempt, from connecting to the response head.
    pub attempt_timeout: Duration,
    /// The time allowed to connect.
    pub connect_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            jitter: 0.5,
            attempt_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The delay after `failed` failed attempts (1 for the first), before jitter.
    fn base_delay(&self, failed: u32) -> Duration {
        let doubling = 2u32.saturating_pow(failed.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(doubling)
            .min(self.max_backoff)
    }

    /// The delay after `failed` failed attempts, with `unit` (0.0 to 1.0) of the jitter taken.
    fn delay(&self, failed: u32, unit: f64) -> Duration {
        let jitter = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        self.base_delay(failed).mul_f64(1.0 - jitter)
    }
}

/// How one attempt failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum AttemptFailure {
    /// No response within the attempt timeout.
    Timeout,
    /// The connection could not be made (refused, DNS, TLS).
    Connect,
    /// The connection broke or the response was unreadable.
    Network,
    /// The receiver answered with a status other than 2xx (see [`Attempt::status`]).
    Status,
}

impl fmt::Display for AttemptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timed out",
            Self::Connect => "could not connect",
            Self::Network => "network error",
            Self::Status => "unsuccessful status",
        })
    }
}

/// The record of one attempt, for the host application's delivery log.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// When it started (by the signer's clock; also its `webhook-timestamp`).
    pub started_at: OffsetDateTime,
    /// How long it took.
    pub elapsed: Duration,
    /// The response status, if a response came.
    pub status: Option<u16>,
    /// Why it failed, if it did.
    pub failure: Option<AttemptFailure>,
    /// The receiver's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
    /// The wait before the next attempt, if there is one.
    pub next_delay: Option<Duration>,
}

/// How a delivery ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// The receiver answered a status that is not retried (4xx other than 409 and 429, or
    /// 3xx: redirects are never followed).
    Rejected,
    /// Every attempt failed, or the receiver asked to wait longer than the policy allows.
    Exhausted,
}

/// What happened to one callback: the outcome and every attempt in order.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryReport {
    /// The `webhook-id` sent (the same in every attempt).
    pub message_id: String,
    /// How it ended.
    pub outcome: DeliveryOutcome,
    /// Every attempt, first to last.
    pub attempts: Vec<Attempt>,
}

impl DeliveryReport {
    /// Whether the receiver accepted the callback.
    pub fn is_delivered(&self) -> bool {
        self.outcome == DeliveryOutcome::Delivered
    }
}

/// Sends signed callbacks over HTTP(S).
///
/// Each attempt is signed afresh (a new `webhook-timestamp`, the same `webhook-id`), so a
/// retry after a long backoff is still inside the receiver's window. Proxies from the
/// environment are not used and redirects are not followed: a callback goes to the URL the
/// product owner configured, or nowhere.
///
/// ```no_run
/// use vault_core::callbacks::{CallbackSender, CallbackSigner, RetryPolicy};
///
/// # async fn run() -> Result<(), vault_core::Error> {
/// let signer = CallbackSigner::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?);
/// let sender = CallbackSender::new(signer, RetryPolicy::default())?;
/// let id = CallbackSigner::new_message_id();
/// let report = sender
///     .send("https://hooks.example.com/submit", &id, br#"{"type":"job.created"}"#)
///     .await?;
/// for attempt in &report.attempts {
///     println!("attempt {} at {}: {:?} {:?}", attempt.number, attempt.started_at,
///              attempt.status, attempt.failure);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CallbackSender {
    client: reqwest::Client,
    signer: CallbackSigner,
    policy: RetryPolicy,
    content_type: String,
}

impl CallbackSender {
    /// A sender signing with `signer` and retrying by `policy`.
    pub fn new(signer: CallbackSigner, policy: RetryPolicy) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(policy.attempt_timeout)
            .connect_timeout(policy.connect_timeout)
            .user_agent(concat!("vault-callbacks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| CallbackDefect::HttpClient)?;
        Ok(Self {
            client,
            signer,
            policy,
            content_type: "application/json".to_owned(),
        })
    }

    /// The `content-type` of the body (default `application/json`).
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = content_type.into();
        self
    }

    /// The retry policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// POSTs `body` to `url` as message `message_id` until it is delivered, rejected or the
    /// policy's attempts are used up.
    ///
    /// Fails before any attempt if the URL is not absolute `http(s)`, or if signing refuses
    /// the id or the body (for one, a body that holds an API key).
    #[tracing::instrument(skip_all, fields(callback.id = message_id))]
    pub async fn send(
        &self,
        url: &str,
        message_id: &str,
        body: &[u8],
    ) -> Result<DeliveryReport, Error> {
        let url = parse_url(url)?;
        let max_attempts = self.policy.max_attempts.max(1);
        let mut attempts = Vec::new();
        for number in 1..=max_attempts {
            // Signed afresh each time; a refusal (key in the body, bad id) surfaces on the
            // first pass, before anything leaves.
            let signed = self.signer.sign(message_id, body)?;
            let mut attempt = self.attempt(&url, number, &signed, body).await;
            let done = match (attempt.status, attempt.failure) {
                (Some(_), None) => Some(DeliveryOutcome::Delivered),
                (Some(status), Some(_)) if !is_retried(status) => Some(DeliveryOutcome::Rejected),
                _ if number == max_attempts => Some(DeliveryOutcome::Exhausted),
                // Waiting longer than the policy allows is the host's call (a queue), not
                // this task's.
                _ if attempt.retry_after > Some(self.policy.max_backoff) => {
                    Some(DeliveryOutcome::Exhausted)
                }
                _ => None,
            };
            if let Some(outcome) = done {
                tracing::debug!(
                    number,
                    ?outcome,
                    status = attempt.status,
                    "callback delivery ended"
                );
                attempts.push(attempt);
                return Ok(DeliveryReport {
                    message_id: message_id.to_owned(),
                    outcome,
                    attempts,
                });
            }
            let backoff = self.policy.delay(number, rand::random_range(0.0..1.0));
            let delay = attempt
                .retry_after
                .map_or(backoff, |asked| asked.max(backoff));
            tracing::warn!(
                number,
                status = attempt.status,
                failure = ?attempt.failure,
                delay_ms = delay.as_millis(),
                "callback attempt failed; retrying"
            );
            attempt.next_delay = Some(delay);
            attempts.push(attempt);
            tokio::time::sleep(delay).await;
        }
        unreachable!("the last attempt always ends the delivery")
    }

    /// One POST, recorded.
    async fn attempt(
        &self,
        url: &Url,
        number: u32,
        signed: &SignedHeaders,
        body: &[u8],
    ) -> Attempt {
        let started_at = signed
            .timestamp()
            .parse()
            .ok()
            .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let start = Instant::now();
        let mut request = self
            .client
            .post(url.clone())
            .header(CONTENT_TYPE, &self.content_type)
            .body(body.to_vec());
        for (name, value) in signed.iter() {
            request = request.header(name, value);
        }
        let result = request.send().await;
        let mut attempt = Attempt {
            number,
            started_at,
            elapsed: start.elapsed(),
            status: None,
            failure: None,
            retry_after: None,
            next_delay: None,
        };
        match result {
            Ok(response) => {
                let status = response.status();
                attempt.status = Some(status.as_u16());
                if !status.is_success() {
                    attempt.failure = Some(AttemptFailure::Status);
                }
                attempt.retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| parse_retry_after(value, SystemTime::now()));
            }
            Err(error) => {
                attempt.failure = Some(if error.is_timeout() {
                    AttemptFailure::Timeout
                } else if error.is_connect() {
                    AttemptFailure::Connect
                } else {
                    AttemptFailure::Network
                });
            }
        }
        attempt
    }
}

impl fmt::Debug for CallbackSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackSender")
            .field("signer", &self.signer)
            .field("policy", &self.policy)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

/// Whether a response status is worth another attempt: 5xx, 429, and 409, which a receiver
/// answers while it is still handling an earlier attempt of the same message (ours do, with
/// `Retry-After`; so does the IETF idempotency-key draft): once that attempt ends, the retry
/// is acknowledged or handled. Other 4xx cannot get better by repeating the request; 1xx and
/// 3xx (redirects are never followed) neither.
fn is_retried(status: u16) -> bool {
    (500..=599).contains(&status) || status == 429 || status == 409
}

fn parse_url(url: &str) -> Result<Url, CallbackDefect> {
    let url = Url::parse(url).map_err(|_| CallbackDefect::InvalidUrl)?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(CallbackDefect::InvalidUrl);
    }
    Ok(url)
}

/// `Retry-After` as delay-seconds or an HTTP date (relative to `now`; a past date is 0).
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            jitter: 0.5,
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy();
        let delays: Vec<_> = (1..=6).map(|n| p.delay(n, 0.0).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.delay(u32::MAX, 0.0), p.max_backoff);
    }

    #[test]
    fn jitter_takes_off_at_most_its_share() {
        let p = policy();
        assert_eq!(p.delay(3, 1.0), Duration::from_millis(200));
        assert_eq!(p.delay(3, 0.5), Duration::from_millis(300));
        let exact = RetryPolicy { jitter: 0.0, ..p };
        assert_eq!(exact.delay(3, 1.0), Duration::from_millis(400));
        let wild = RetryPolicy { jitter: 7.0, ..p };
        assert_eq!(wild.delay(3, 1.0), Duration::ZERO);
    }

    #[test]
    fn only_server_errors_429_and_409_are_retried() {
        for retried in [500, 502, 503, 504, 599, 429, 409] {
            assert!(is_retried(retried), "{retried}");
        }
        for not in [
            200, 204, 400, 401, 403, 404, 408, 410, 413, 301, 302, 307, 308, 600,
        ] {
            assert!(!is_retried(not), "{not}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["", "-1", "soon", "1.5"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn only_absolute_http_urls_are_accepted() {
        assert!(parse_url("https://hooks.example.com/x").is_ok());
        assert!(parse_url("http://127.0.0.1:8080/").is_ok());
        for bad in [
            "/relative",
            "ftp://example.com/",
            "file:///etc/passwd",
            "nonsense",
        ] {
            assert_eq!(parse_url(bad), Err(CallbackDefect::InvalidUrl), "{bad}");
        }
    }
}
