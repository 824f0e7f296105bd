//! Outgoing mail: the [`Mailer`] trait, an in-memory [`Outbox`] for tests and demos, and the
//! messages of the account flows with links built from a configured base URL.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use secrecy::SecretString;

use crate::Error;
use crate::accounts::email::Email;

/// What an account mail is for: tests and mail templates tell messages apart by it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MailKind {
    /// Sign-up: confirm the address and choose a password (link and code).
    VerifyEmail,
    /// Someone tried to sign up with an address that already has an account.
    SignUpNotice,
    /// "Forgot password?": the reset link and code.
    ResetPassword,
    /// The password was changed.
    PasswordChanged,
    /// The password was reset.
    PasswordReset,
    /// Confirm a new address (link and code), sent to the new address.
    ChangeEmail,
    /// The account is being moved to another address, sent to the current one.
    EmailChangeNotice,
    /// The code of a sign-in past a spent pool of password checks.
    SignInCode,
}

impl MailKind {
    /// A stable name, for logs and templates.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::SignUpNotice => "sign_up_notice",
            Self::ResetPassword => "reset_password",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::ChangeEmail => "change_email",
            Self::EmailChangeNotice => "email_change_notice",
            Self::SignInCode => "sign_in_code",
        }
    }
}

/// One account mail, typed: its kind, recipient, text, and the link token and code it
/// carries, so a test (or a template) reads them without parsing the text. `Debug` redacts
/// the text, the token and the code.
#[derive(Clone)]
pub struct Message {
    /// The `Message-ID` header, `<id@host>`: the same on every delivery attempt, so a
    /// receiver can drop a duplicate of an at-least-once delivery.
    pub message_id: String,
    /// What the mail is for.
    pub kind: MailKind,
    /// The recipient.
    pub to: Email,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The single-use token of the mail's link, if it has one.
    pub token: Option<SecretString>,
    /// The code to type instead of following the link, if it has one.
    pub code: Option<SecretString>,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("message_id", &self.message_id)
            .field("kind", &self.kind)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("text", &"[redacted]")
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Sends mail.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Sends one message.
    async fn send(&self, message: Message) -> Result<(), Error>;
}

/// Keeps messages in memory instead of sending them, for tests and demos: what the mail
/// worker delivered ([`crate::accounts::Accounts::deliver_mail`]). Clones share the same outbox.
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

    /// The newest message of `kind` to `to`, if any.
    pub fn last_of(&self, kind: MailKind, to: &str) -> Option<Message> {
        let to = to.trim().to_ascii_lowercase();
        self.messages()
            .into_iter()
            .rev()
            .find(|m| m.kind == kind && m.to.normalized() == to)
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

    /// The host of the base URL (`vault.example.com`), the right-hand side of `Message-ID`s.
    pub(crate) fn host(&self) -> &str {
        let rest = self.base.split_once("://").map_or(&*self.base, |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        match (host_port.starts_with('['), host_port.find(']')) {
            (true, Some(end)) => &host_port[..=end],
            _ => host_port.split(':').next().unwrap_or(host_port),
        }
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
                message_id: "<1@v.example>".into(),
                kind: MailKind::VerifyEmail,
                to,
                subject: "Verify".into(),
                text: "code 123456".into(),
                token: Some("tok-secret".to_owned().into()),
                code: Some("123456".to_owned().into()),
            })
            .await
            .unwrap();
        assert_eq!(outbox.count_to("ada@example.com"), 1);
        let message = outbox.last_to("ADA@example.com").unwrap();
        let debug = format!("{message:?}");
        assert!(
            !debug.contains("123456") && !debug.contains("tok-secret"),
            "{debug}"
        );
        assert!(
            outbox
                .last_of(MailKind::VerifyEmail, "ada@example.com")
                .is_some()
        );
        assert!(
            outbox
                .last_of(MailKind::ResetPassword, "ada@example.com")
                .is_none()
        );
        for (base, host) in [
            ("https://v.example/", "v.example"),
            ("http://localhost:8080", "localhost"),
            ("https://[::1]:8443/app", "[::1]"),
            ("https://u@v.example:1/x", "v.example"),
        ] {
            assert_eq!(Links::new(base).host(), host, "{base}");
        }
        assert_eq!(
            Links::new("https://v.example/").link("verify-email", "t"),
            "https://v.example/verify-email#token=t"
        );
    }
}
