//! The Submit examples' outbound callbacks: a signed `job.created` (Standard Webhooks v1) to
//! the `--callback-url` for every new job, sent in the background so the API call never
//! waits for it, and a record of every delivery. The payload names the job and its
//! workspace, never a key.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vault_core::callbacks::{
    CallbackSecret, CallbackSender, CallbackSigner, DeliveryOutcome, DeliveryReport, RetryPolicy,
};

use crate::{Job, ServerArgs};

/// The event type of a new job.
pub const JOB_CREATED: &str = "job.created";

/// Prefix of the stderr line that records each delivery (one JSON object after it).
pub const DELIVERY_LINE: &str = "callback delivery ";

/// Sends `job.created` callbacks to one URL and keeps the reports.
#[derive(Clone, Debug)]
pub struct JobCallbacks {
    url: Arc<str>,
    sender: CallbackSender,
    deliveries: Arc<Mutex<Vec<DeliveryReport>>>,
}

impl JobCallbacks {
    /// Callbacks to `url`, signed with `secret`, retried by the default policy.
    pub fn new(url: &str, secret: CallbackSecret) -> Result<Self, vault_core::Error> {
        Ok(Self {
            url: url.into(),
            sender: CallbackSender::new(CallbackSigner::new(secret), RetryPolicy::default())?,
            deliveries: Arc::default(),
        })
    }

    /// The callbacks `--callback-url` asks for, if any, signed with `--callback-secret` or a
    /// secret generated now and printed on stderr (the receiver needs it; stdout is kept for
    /// the `listening on` line).
    pub fn from_args(args: &ServerArgs) -> Result<Option<Self>, vault_core::Error> {
        let Some(url) = &args.callback_url else {
            return Ok(None);
        };
        let secret = match &args.callback_secret {
            Some(secret) => secret.clone(),
            None => {
                let secret = CallbackSecret::generate()?;
                eprintln!(
                    "callback secret (generated for this run; give it to the receiver): {}",
                    secret.expose_secret()
                );
                secret
            }
        };
        Self::new(url, secret).map(Some)
    }

    /// The body of `job.created`: the job and workspace ids, when, and nothing else.
    pub fn payload(job: &Job) -> Vec<u8> {
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        json!({
            "type": JOB_CREATED,
            "timestamp": now,
            "data": {
                "job_id": job.id,
                "workspace_id": job.workspace_id,
            },
        })
        .to_string()
        .into_bytes()
    }

    /// Sends `job.created` for `job` on a background task and returns at once. Must be
    /// called within a Tokio runtime (both example servers run on one).
    pub fn job_created(&self, job: &Job) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        let body = Self::payload(job);
        let job_id = job.id;
        tokio::spawn(async move {
            let id = CallbackSigner::new_message_id();
            match this.sender.send(&this.url, &id, &body).await {
                Ok(report) => this.record(job_id, report),
                // Signing refused (a key in the body) or a bad URL: nothing left the process.
                Err(error) => {
                    tracing::error!(%error, job.id = %job_id, "callback not sent");
                    print_line(&json!({
                        "message_id": id,
                        "event": JOB_CREATED,
                        "job_id": job_id,
                        "outcome": "not_sent",
                        "error": error.to_string(),
                    }));
                }
            }
        })
    }

    /// Every finished delivery so far, oldest first.
    pub fn deliveries(&self) -> Vec<DeliveryReport> {
        self.lock().clone()
    }

    fn record(&self, job_id: uuid::Uuid, report: DeliveryReport) {
        let outcome = match report.outcome {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Rejected => "rejected",
            DeliveryOutcome::Exhausted => "exhausted",
        };
        if report.is_delivered() {
            tracing::info!(callback.id = %report.message_id, "callback delivered");
        } else {
            tracing::warn!(callback.id = %report.message_id, outcome, "callback not delivered");
        }
        let attempts: Vec<_> = report
            .attempts
            .iter()
            .map(|attempt| {
                json!({
                    "number": attempt.number,
                    "started_at": attempt.started_at.unix_timestamp(),
                    "elapsed_ms": attempt.elapsed.as_millis(),
                    "status": attempt.status,
                    "failure": attempt.failure.map(|failure| failure.to_string()),
                })
            })
            .collect();
        print_line(&json!({
            "message_id": report.message_id,
            "event": JOB_CREATED,
            "job_id": job_id,
            "outcome": outcome,
            "attempts": attempts,
        }));
        self.lock().push(report);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<DeliveryReport>> {
        self.deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// One delivery record on stderr, whole, so concurrent deliveries never interleave.
fn print_line(record: &serde_json::Value) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{DELIVERY_LINE}{record}");
}

#[cfg(test)]
mod tests {
    use vault_core::testing::TestKeys;
    use vault_core::{Environment, Requirement};

    use super::*;
    use crate::Jobs;

    async fn job() -> (Job, String) {
        let kit = TestKeys::new();
        let token = kit
            .mint("submit", Environment::Production, &["jobs:create"])
            .await;
        let route = Requirement::new("submit".parse().unwrap(), Environment::Production);
        let caller = kit.keys().verify(&token, &route).await.unwrap();
        (Jobs::default().create(&caller, b"{}").unwrap(), token)
    }

    #[tokio::test]
    async fn the_payload_names_the_job_and_workspace_but_no_key() {
        let (job, token) = job().await;
        let payload: serde_json::Value =
            serde_json::from_slice(&JobCallbacks::payload(&job)).unwrap();
        assert_eq!(payload["type"], JOB_CREATED);
        assert_eq!(payload["data"]["job_id"], job.id.to_string());
        assert_eq!(
            payload["data"]["workspace_id"],
            job.workspace_id.to_string()
        );
        assert!(payload["data"].get("key_id").is_none());
        assert!(!payload.to_string().contains(&token));
    }

    #[test]
    fn no_url_means_no_callbacks() {
        let args = ServerArgs::parse(Vec::new()).unwrap();
        assert!(JobCallbacks::from_args(&args).unwrap().is_none());
    }

    #[tokio::test]
    async fn an_unreachable_receiver_is_recorded_not_awaited_by_the_caller() {
        let (job, _) = job().await;
        // Port 9 (discard) on loopback: refused at once, so retries fail fast.
        let mut callbacks = JobCallbacks::new(
            "http://127.0.0.1:9/hooks",
            CallbackSecret::generate().unwrap(),
        )
        .unwrap();
        callbacks.sender = CallbackSender::new(
            CallbackSigner::new(CallbackSecret::generate().unwrap()),
            RetryPolicy {
                max_attempts: 2,
                initial_backoff: std::time::Duration::from_millis(1),
                ..RetryPolicy::default()
            },
        )
        .unwrap();
        callbacks.job_created(&job).await.unwrap();
        let deliveries = callbacks.deliveries();
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].outcome, DeliveryOutcome::Exhausted);
        assert_eq!(deliveries[0].attempts.len(), 2);
    }
}
