//! The SMTP mailer against a small SMTP server on 127.0.0.1 started by the test: the message
//! arrives with its sender, recipient, subject and body.
#![cfg(feature = "smtp")]

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use vault_core::accounts::{Email, MailKind, Mailer, Message, SmtpMailer};

/// Accepts one SMTP session and returns what was sent in DATA, with the envelope.
async fn one_session(listener: TcpListener) -> (Vec<String>, String) {
    let (stream, _) = listener.accept().await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write
        .write_all(b"220 localhost test SMTP\r\n")
        .await
        .unwrap();
    let mut envelope = Vec::new();
    let mut data = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            write
                .write_all(b"250-localhost\r\n250 8BITMIME\r\n")
                .await
                .unwrap();
        } else if upper.starts_with("MAIL FROM") || upper.starts_with("RCPT TO") {
            envelope.push(line.clone());
            write.write_all(b"250 OK\r\n").await.unwrap();
        } else if upper == "DATA" {
            write.write_all(b"354 go ahead\r\n").await.unwrap();
            while let Some(body) = lines.next_line().await.unwrap() {
                if body == "." {
                    break;
                }
                data.push_str(&body);
                data.push('\n');
            }
            write.write_all(b"250 queued\r\n").await.unwrap();
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await.unwrap();
            break;
        } else {
            write.write_all(b"250 OK\r\n").await.unwrap();
        }
    }
    (envelope, data)
}

#[tokio::test]
async fn a_mail_reaches_the_smtp_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(one_session(listener));
    let mailer = SmtpMailer::unencrypted_localhost(port, "Vault <no-reply@vault.example>").unwrap();
    mailer
        .send(Message {
            message_id: "<5f0c-queued@vault.example>".into(),
            kind: MailKind::VerifyEmail,
            to: Email::parse("ada@example.com").unwrap(),
            subject: "Confirm your email address".into(),
            text: "Your code: 123456".into(),
            token: None,
            code: Some("123456".to_owned().into()),
        })
        .await
        .unwrap();
    let (envelope, data) = tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
    assert!(
        envelope
            .iter()
            .any(|l| l.contains("<no-reply@vault.example>")),
        "{envelope:?}"
    );
    assert!(
        envelope.iter().any(|l| l.contains("<ada@example.com>")),
        "{envelope:?}"
    );
    assert!(
        data.contains("Subject: Confirm your email address"),
        "{data}"
    );
    assert!(data.contains("Your code: 123456"), "{data}");
    // The queue's id, the same on every attempt, so a duplicate delivery can be dropped.
    assert!(
        data.contains("Message-ID: <5f0c-queued@vault.example>"),
        "{data}"
    );
    assert!(!format!("{mailer:?}").contains("127.0.0.1:"));
}

#[tokio::test]
async fn an_unreachable_server_is_a_typed_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mailer = SmtpMailer::unencrypted_localhost(port, "no-reply@vault.example").unwrap();
    let result = mailer
        .send(Message {
            message_id: "<1@vault.example>".into(),
            kind: MailKind::PasswordChanged,
            to: Email::parse("ada@example.com").unwrap(),
            subject: "x".into(),
            text: "y".into(),
            token: None,
            code: None,
        })
        .await;
    assert!(matches!(
        result,
        Err(vault_core::Error::Account(
            vault_core::accounts::AccountDefect::MailNotSent
        ))
    ));
}
