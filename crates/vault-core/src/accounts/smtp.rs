//! [`SmtpMailer`]: account mails over SMTP with lettre (feature `smtp`). TLS by rustls:
//! `smtps://` (implicit TLS, port 465) or `smtp://…?tls=required` (STARTTLS), as lettre's
//! connection URLs read.

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::Error;
use crate::accounts::AccountDefect;
use crate::accounts::mailer::{Mailer, Message};

/// Sends account mails through an SMTP server.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds credentials: show only the sender.
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

fn from_mailbox(from: &str) -> Result<Mailbox, Error> {
    from.parse::<Mailbox>()
        .map_err(|_| Error::Account(AccountDefect::InvalidEmail))
}

impl SmtpMailer {
    /// A mailer for a connection URL such as `smtps://user:pass@smtp.example.com` (see
    /// lettre's `AsyncSmtpTransport::from_url`), sending as `from` (`Vault <no-reply@example.com>`).
    pub fn from_url(url: &str, from: &str) -> Result<Self, Error> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| Error::Account(AccountDefect::MailNotSent))?
            .build();
        Ok(Self {
            transport,
            from: from_mailbox(from)?,
        })
    }

    /// A mailer for a local relay without TLS or authentication (a development mail catcher
    /// on this machine). Never use it across a network.
    pub fn unencrypted_localhost(port: u16, from: &str) -> Result<Self, Error> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(port)
            .build();
        Ok(Self {
            transport,
            from: from_mailbox(from)?,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: Message) -> Result<(), Error> {
        let to = message
            .to
            .as_str()
            .parse::<Mailbox>()
            .map_err(|_| Error::Account(AccountDefect::InvalidEmail))?;
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject)
            .message_id(Some(message.message_id))
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(message.text)
            .map_err(|_| Error::Account(AccountDefect::MailNotSent))?;
        self.transport.send(email).await.map_err(|err| {
            tracing::warn!(error = %err, "SMTP delivery failed");
            Error::Account(AccountDefect::MailNotSent)
        })?;
        Ok(())
    }
}
