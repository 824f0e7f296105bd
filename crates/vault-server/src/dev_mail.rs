//! [`DevMailSink`]: in `--dev` mode every mail, with its links and codes, goes to stdout,
//! apart from the log (which never holds a secret), so a newcomer and process-level tests
//! can read them.

use async_trait::async_trait;
use vault_core::Error;
use vault_core::accounts::{Mailer, Message};

/// Prints each mail to stdout. For development only: mails hold live links and codes.
#[derive(Clone, Copy, Debug, Default)]
pub struct DevMailSink;

#[async_trait]
impl Mailer for DevMailSink {
    async fn send(&self, message: Message) -> Result<(), Error> {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "--- mail {} to {} ({})\nSubject: {}\n\n{}\n---",
            message.message_id,
            message.to,
            message.kind.as_str(),
            message.subject,
            message.text
        );
        let _ = out.flush();
        Ok(())
    }
}
