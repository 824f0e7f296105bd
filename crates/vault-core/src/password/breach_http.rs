//! [`HibpRange`]: the range query over HTTPS (reqwest with rustls). Asks with padding on, so
//! the response size does not hint at the prefix either.

use std::time::Duration;

use super::breach::{BreachCheck, BreachCheckFailed, PasswordDigest, times_seen_in_range};

/// A range response larger than this is refused (real ones are about 30 KiB, 800 padded).
const MAX_RESPONSE: usize = 1024 * 1024;

/// The breached-password check against a Have I Been Pwned compatible range API
/// (`GET {base}/range/{first 5 hex of SHA-1}` answered by `SUFFIX:COUNT` lines).
#[derive(Clone, Debug)]
pub struct HibpRange {
    client: reqwest::Client,
    base_url: String,
}

impl HibpRange {
    /// The public Pwned Passwords API.
    pub const PUBLIC_BASE_URL: &'static str = "https://api.pwnedpasswords.com";

    /// Against the public API with a 2-second timeout. Fails only if the TLS backend cannot
    /// be set up.
    pub fn new() -> Result<Self, BreachCheckFailed> {
        Self::with_base_url(Self::PUBLIC_BASE_URL, Duration::from_secs(2))
    }

    /// Against another server speaking the same format (a mirror, a test server), with a
    /// timeout for the whole request.
    pub fn with_base_url(
        base_url: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, BreachCheckFailed> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("vault/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BreachCheckFailed(Box::new(e)))?;
        Ok(Self {
            client,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
        })
    }
}

#[async_trait::async_trait]
impl BreachCheck for HibpRange {
    async fn times_seen(&self, digest: &PasswordDigest) -> Result<u64, BreachCheckFailed> {
        let failed = |e: reqwest::Error| BreachCheckFailed(Box::new(e));
        let url = format!("{}/range/{}", self.base_url, digest.prefix());
        let mut response = self
            .client
            .get(url)
            .header("Add-Padding", "true")
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(failed)?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_RESPONSE {
                return Err(BreachCheckFailed("the range response is too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        let body = String::from_utf8(body).map_err(|e| BreachCheckFailed(Box::new(e)))?;
        Ok(times_seen_in_range(&body, digest))
    }
}
