//! The Submit example API without a web framework: its state (keys and jobs) and every answer
//! it gives after authentication, as status, content type and body. Each framework's server
//! only routes requests here and writes the [`Reply`] out, so both answer byte for byte alike.

use vault_core::{ApiKeys, Principal};

use crate::{DemoKeys, JobCallbacks, JobError, Jobs, ServerArgs};

/// The `realm` of the Submit servers' `WWW-Authenticate` challenges.
pub const REALM: &str = "submit";

/// Media type of successful answers.
pub const JSON: &str = "application/json";

/// Media type of error answers.
pub const PROBLEM_JSON: &str = vault_core::rejection::PROBLEM_CONTENT_TYPE;

/// An answer to write out: status, `Content-Type` and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type` value.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Reply {
    fn json(status: u16, value: &impl serde::Serialize) -> Self {
        match serde_json::to_string(value) {
            Ok(body) => Self {
                status,
                content_type: JSON,
                body,
            },
            // Jobs hold only JSON values, ids and strings: serialising them cannot fail.
            Err(_) => unreachable!("a job serialises to JSON"),
        }
    }

    fn problem(error: &JobError) -> Self {
        Self {
            status: error.status(),
            content_type: PROBLEM_JSON,
            body: error.body(),
        }
    }
}

/// A Submit server's state: the key service (keys in memory for now), the jobs, and the
/// `job.created` callbacks if `--callback-url` asked for them.
#[derive(Debug)]
pub struct Submit {
    keys: ApiKeys,
    jobs: Jobs,
    callbacks: Option<JobCallbacks>,
    /// Keeps the `last_used_at` writer running as long as the server.
    _usage: Option<vault_sqlx::UsageFlusher>,
}

impl Submit {
    /// Starts the state: the key store of `--database-url` (SQLite by default, see
    /// [`crate::database::open`]), and the demo keys written to `--demo-keys` if asked, before the server
    /// announces itself (tests read the file once they see the `listening on` line).
    pub async fn start(
        args: &ServerArgs,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let database = crate::database::open(&args.database_url).await?;
        let mut keys = ApiKeys::builder(database.store, &database.pepper);
        if let Some(usage) = database.usage {
            keys = keys.usage(usage);
        }
        let keys = keys.build();
        if let Some(path) = &args.demo_keys {
            DemoKeys::issue(&keys).await?.write(path)?;
        }
        Ok(Self {
            keys,
            jobs: Jobs::default(),
            callbacks: JobCallbacks::from_args(args)?,
            _usage: database.flusher,
        })
    }

    /// The state over a key service of the caller's (the demo's: the Vault's own keys, so keys
    /// minted in the Vault call Submit), without callbacks.
    pub fn with_keys(keys: ApiKeys) -> Self {
        Self {
            keys,
            jobs: Jobs::default(),
            callbacks: None,
            _usage: None,
        }
    }

    /// The `job.created` callbacks, if configured (their delivery record).
    pub fn callbacks(&self) -> Option<&JobCallbacks> {
        self.callbacks.as_ref()
    }

    /// The key service, for the framework's auth middleware.
    pub fn keys(&self) -> &ApiKeys {
        &self.keys
    }

    /// `GET /health`: 200, no auth.
    pub fn health(&self) -> Reply {
        Reply::json(200, &serde_json::json!({ "status": "ok" }))
    }

    /// `POST /api/jobs` for a verified `caller`: 201 with the job, or 400 for a body that is
    /// not JSON. Takes the raw body so no framework's JSON extractor answers instead.
    ///
    /// With callbacks configured, `job.created` goes out on a background task: the 201 never
    /// waits for the receiver (call within a Tokio runtime).
    pub fn create_job(&self, caller: &Principal, body: &[u8]) -> Reply {
        match self.jobs.create(caller, body) {
            Ok(job) => {
                if let Some(callbacks) = &self.callbacks {
                    // Detached: the task records its own outcome.
                    drop(callbacks.job_created(&job));
                }
                Reply::json(201, &job)
            }
            Err(error) => Reply::problem(&error),
        }
    }

    /// `GET /api/jobs/{id}` for a verified `caller`: 200 with the job, or 404.
    pub fn get_job(&self, caller: &Principal, id: &str) -> Reply {
        match self.jobs.get(caller, id) {
            Ok(job) => Reply::json(200, &job),
            Err(error) => Reply::problem(&error),
        }
    }
}

#[cfg(test)]
mod tests {
    use vault_core::testing::TestKeys;
    use vault_core::{Environment, Requirement};

    use super::*;

    async fn caller(kit: &TestKeys) -> Principal {
        let token = kit
            .mint("submit", Environment::Production, &["jobs:create"])
            .await;
        let route = Requirement::new("submit".parse().unwrap(), Environment::Production);
        kit.keys().verify(&token, &route).await.unwrap()
    }

    #[tokio::test]
    async fn a_created_job_is_answered_201_and_readable_by_its_workspace() {
        let kit = TestKeys::new();
        let submit = Submit::start(
            &ServerArgs::parse(["--database-url".to_owned(), "memory:".to_owned()]).unwrap(),
        )
        .await
        .unwrap();
        let caller = caller(&kit).await;
        let created = submit.create_job(&caller, br#"{"file":"a.pdf"}"#);
        assert_eq!((created.status, created.content_type), (201, JSON));
        let job: serde_json::Value = serde_json::from_str(&created.body).unwrap();
        assert_eq!(job["key_id"], caller.key_id().to_string());
        assert_eq!(job["workspace_id"], caller.workspace_id().to_string());
        let read = submit.get_job(&caller, job["id"].as_str().unwrap());
        assert_eq!(read.status, 200);
        assert_eq!(read.body, created.body);
    }

    #[tokio::test]
    async fn bad_json_and_unknown_jobs_are_problems() {
        let kit = TestKeys::new();
        let submit = Submit::start(
            &ServerArgs::parse(["--database-url".to_owned(), "memory:".to_owned()]).unwrap(),
        )
        .await
        .unwrap();
        let caller = caller(&kit).await;
        let bad = submit.create_job(&caller, b"{nope");
        assert_eq!((bad.status, bad.content_type), (400, PROBLEM_JSON));
        assert_eq!(bad.body, JobError::InvalidJson.body());
        let missing = submit.get_job(&caller, "not-a-job");
        assert_eq!((missing.status, missing.content_type), (404, PROBLEM_JSON));
    }
}
