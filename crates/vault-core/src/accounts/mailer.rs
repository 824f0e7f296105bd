//! Outgoing mail: the [`Mailer`] trait, an in-memory [`Outbox`] for tests and demos, and the
//! messages of the account flows with links built from a configured base URL.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::Error;
use crate::accounts::email::Email;

/// One message. Bodies carry single-use links and codes: `Debug` redacts them.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// The recipient.
    pub to: Email,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("text", &"[redacted]")
            .finish()
    }
}

/// Sends mail.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Sends one message.
    async fn send(&self, message: Message) -> Result<(), Error>;
}

/// Keeps messages in memory instead of sending them. Clones share the same outbox.
#[derive(Clone, Debug, Default)]
pub struct Outbox(Arc<Mutex<Vec<Message>>>);

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message so far, oldest first.
    pub fn messages(&self) -> Vec<Message> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The newest message to `to`, if any.
    pub fn last_to(&self, to: &str) -> Option<Message> {
        let to = to.trim().to_ascii_lowercase();
        self.messages()
            .into_iter()
            .rev()
            .find(|m| m.to.normalized() == to)
    }

    /// How many messages went to `to`.
    pub fn count_to(&self, to: &str) -> usize {
        let to = to.trim().to_ascii_lowercase();
        self.messages()
            .iter()
            .filter(|m| m.to.normalized() == to)
            .count()
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, message: Message) -> Result<(), Error> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(message);
        Ok(())
    }
}

/// Builds the links of account mails from the application's base URL, e.g.
/// `https://vault.example.com` → `https://vault.example.com/verify-email#token=…`.
///
/// The token travels in the fragment, which browsers never send to servers or in `Referer`
/// headers; the page posts it back in an explicit confirm step.
#[derive(Clone, Debug)]
pub struct Links {
    base: Box<str>,
}

impl Links {
    /// Links under `base` (trailing `/` ignored).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').into(),
        }
    }

    pub(crate) fn page(&self, page: &str) -> String {
        format!("{}/{page}", self.base)
    }

    pub(crate) fn link(&self, page: &str, token: &str) -> String {
        format!("{}/{page}#token={token}", self.base)
    }
}

impl Default for Links {
    fn default() -> Self {
        Self::new("http://localhost:8080")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outbox_keeps_messages_and_debug_hides_bodies() {
        let outbox = Outbox::new();
        let to = Email::parse("Ada@Example.com").unwrap();
        outbox
            .send(Message {
                to,
                subject: "Verify".into(),
                text: "code 123456".into(),
            })
            .await
            .unwrap();
        assert_eq!(outbox.count_to("ada@example.com"), 1);
        let message = outbox.last_to("ADA@example.com").unwrap();
        assert!(!format!("{message:?}").contains("123456"));
        assert_eq!(
            Links::new("https://v.example/").link("verify-email", "t"),
            "https://v.example/verify-email#token=t"
        );
    }
}
