//! The Submit example's jobs: created with a key of a workspace, readable only from it.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use serde::Serialize;
use uuid::Uuid;
use vault_core::{KeyId, Principal, WorkspaceId};

/// A submitted job.
#[derive(Clone, Debug, Serialize)]
pub struct Job {
    /// The job id.
    pub id: Uuid,
    /// The workspace of the key that created it.
    pub workspace_id: WorkspaceId,
    /// The key that created it.
    pub key_id: KeyId,
    /// The JSON the caller sent.
    pub payload: serde_json::Value,
}

/// Why a job request failed (after authentication).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The body is not JSON.
    #[error("the request body is not valid JSON")]
    InvalidJson,
    /// The id is not a job id.
    #[error("no such job")]
    NotFound,
}

impl JobError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidJson => 400,
            Self::NotFound => 404,
        }
    }

    /// An `application/problem+json` body.
    pub fn body(&self) -> String {
        let code = match self {
            Self::InvalidJson => "invalid_json",
            Self::NotFound => "not_found",
        };
        serde_json::json!({
            "type": format!("urn:vault:problem:{code}"),
            "title": self.to_string(),
            "status": self.status(),
            "code": code,
        })
        .to_string()
    }
}

/// An in-memory job table.
#[derive(Debug, Default)]
pub struct Jobs {
    jobs: RwLock<HashMap<Uuid, Job>>,
}

impl Jobs {
    /// Creates a job from a JSON body for the calling key.
    pub fn create(&self, caller: &Principal, body: &[u8]) -> Result<Job, JobError> {
        let payload: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| JobError::InvalidJson)?;
        let job = Job {
            id: Uuid::new_v4(),
            workspace_id: caller.workspace_id(),
            key_id: caller.key_id(),
            payload,
        };
        let mut jobs = self.jobs.write().unwrap_or_else(PoisonError::into_inner);
        jobs.insert(job.id, job.clone());
        Ok(job)
    }

    /// A job of the caller's workspace (another workspace's job is "not found").
    pub fn get(&self, caller: &Principal, id: &str) -> Result<Job, JobError> {
        let id = Uuid::parse_str(id).map_err(|_| JobError::NotFound)?;
        let jobs = self.jobs.read().unwrap_or_else(PoisonError::into_inner);
        jobs.get(&id)
            .filter(|job| job.workspace_id == caller.workspace_id())
            .cloned()
            .ok_or(JobError::NotFound)
    }
}
