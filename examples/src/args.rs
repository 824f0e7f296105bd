//! Command-line flags of the example programs: the Submit servers ([`ServerArgs`]) and the
//! callback receiver ([`ReceiverArgs`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use vault_core::callbacks::CallbackSecret;

use crate::ServeOptions;

/// Flags every example server takes.
#[derive(Clone, Debug)]
pub struct ServerArgs {
    /// `--addr HOST:PORT` (port 0 picks a free port). Default `127.0.0.1:8080`.
    pub addr: SocketAddr,
    /// `--demo-keys FILE`: write demo tokens there as JSON.
    pub demo_keys: Option<PathBuf>,
    /// `--database-url URL`: `sqlite://FILE` (default `sqlite://vault.db`), `postgres://…`,
    /// or `memory:`.
    pub database_url: String,
    /// `--callback-url URL`: POST a signed `job.created` callback there for each new job.
    pub callback_url: Option<String>,
    /// `--callback-secret whsec_...`: the secret callbacks are signed with (without it, one is
    /// generated at start and printed on stderr). `Debug` shows it redacted.
    pub callback_secret: Option<CallbackSecret>,
    /// `--header-read-timeout SECS`, `--idle-timeout SECS`: see [`ServeOptions`].
    pub serve: ServeOptions,
}

const USAGE: &str = "usage: [--addr HOST:PORT] [--database-url URL] [--demo-keys FILE] [--callback-url URL] \
                     [--callback-secret whsec_...] [--header-read-timeout SECS] [--idle-timeout SECS]";

impl ServerArgs {
    /// Parses flags (without the program name). `Err` carries a message for the user.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let mut parsed = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            demo_keys: None,
            database_url: crate::database::DEFAULT_DATABASE_URL.to_owned(),
            callback_url: None,
            callback_secret: None,
            serve: ServeOptions::default(),
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value =
                |name: &str| args.next().ok_or(format!("{name} needs a value; {USAGE}"));
            if let Some(read) = parsed.serve.parse_flag(&flag, || value(&flag)) {
                read.map_err(|message| format!("{message}; {USAGE}"))?;
                continue;
            }
            match flag.as_str() {
                "--addr" => {
                    let text = value("--addr")?;
                    parsed.addr = text
                        .parse()
                        .map_err(|_| format!("--addr {text:?} is not HOST:PORT; {USAGE}"))?;
                }
                "--database-url" => parsed.database_url = value("--database-url")?,
                "--demo-keys" => parsed.demo_keys = Some(PathBuf::from(value("--demo-keys")?)),
                "--callback-url" => {
                    let url = value("--callback-url")?;
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(format!(
                            "--callback-url {url:?} is not an http(s) URL; {USAGE}"
                        ));
                    }
                    parsed.callback_url = Some(url);
                }
                "--callback-secret" => {
                    parsed.callback_secret = Some(secret("--callback-secret", value)?);
                }
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown flag {other:?}; {USAGE}")),
            }
        }
        Ok(parsed)
    }

    /// Parses the process's own flags, or prints the problem and exits with status 2.
    pub fn from_env() -> Self {
        Self::parse(std::env::args().skip(1)).unwrap_or_else(|message| {
            eprintln!("{message}");
            std::process::exit(2)
        })
    }
}

/// Reads a `whsec_...` value; the message never repeats it (it is a secret).
fn secret(
    flag: &str,
    mut value: impl FnMut(&str) -> Result<String, String>,
) -> Result<CallbackSecret, String> {
    value(flag)?
        .parse()
        .map_err(|error| format!("{flag}: {error} (expected whsec_ followed by base64)"))
}

/// Flags of the `callback-receiver` example.
#[derive(Clone, Debug)]
pub struct ReceiverArgs {
    /// `--addr HOST:PORT` (port 0 picks a free port). Default `127.0.0.1:8090`.
    pub addr: SocketAddr,
    /// `--secret whsec_...` (required): the secret senders sign with.
    pub secret: CallbackSecret,
    /// `--header-read-timeout SECS`, `--idle-timeout SECS`: see [`ServeOptions`].
    pub serve: ServeOptions,
}

const RECEIVER_USAGE: &str = "usage: --secret whsec_... [--addr HOST:PORT] [--header-read-timeout SECS] [--idle-timeout SECS]";

impl ReceiverArgs {
    /// Parses flags (without the program name). `Err` carries a message for the user.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let mut addr = SocketAddr::from(([127, 0, 0, 1], 8090));
        let mut secret_flag = None;
        let mut serve = ServeOptions::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or(format!("{name} needs a value; {RECEIVER_USAGE}"))
            };
            if let Some(read) = serve.parse_flag(&flag, || value(&flag)) {
                read.map_err(|message| format!("{message}; {RECEIVER_USAGE}"))?;
                continue;
            }
            match flag.as_str() {
                "--addr" => {
                    let text = value("--addr")?;
                    addr = text.parse().map_err(|_| {
                        format!("--addr {text:?} is not HOST:PORT; {RECEIVER_USAGE}")
                    })?;
                }
                "--secret" => secret_flag = Some(secret("--secret", value)?),
                "-h" | "--help" => return Err(RECEIVER_USAGE.to_owned()),
                other => return Err(format!("unknown flag {other:?}; {RECEIVER_USAGE}")),
            }
        }
        let secret = secret_flag.ok_or(format!("--secret is required; {RECEIVER_USAGE}"))?;
        Ok(Self {
            addr,
            secret,
            serve,
        })
    }

    /// Parses the process's own flags, or prints the problem and exits with status 2.
    pub fn from_env() -> Self {
        Self::parse(std::env::args().skip(1)).unwrap_or_else(|message| {
            eprintln!("{message}");
            std::process::exit(2)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn parse(args: &[&str]) -> Result<ServerArgs, String> {
        ServerArgs::parse(args.iter().map(|s| s.to_string()))
    }

    fn parse_receiver(args: &[&str]) -> Result<ReceiverArgs, String> {
        ReceiverArgs::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn callback_flags_are_read_and_the_secret_stays_hidden() {
        let args = parse(&[
            "--callback-url",
            "http://127.0.0.1:9/hooks",
            "--callback-secret",
            SECRET,
        ])
        .unwrap();
        assert_eq!(
            args.callback_url.as_deref(),
            Some("http://127.0.0.1:9/hooks")
        );
        assert_eq!(args.callback_secret.unwrap().expose_secret(), SECRET);
        let shown = format!("{:?}", parse(&["--callback-secret", SECRET]).unwrap());
        assert!(!shown.contains("MfKQ"), "{shown}");
        let defaults = parse(&[]).unwrap();
        assert!(defaults.callback_url.is_none() && defaults.callback_secret.is_none());
    }

    #[test]
    fn bad_callback_flags_are_explained_without_echoing_the_secret() {
        assert!(
            parse(&["--callback-url", "ftp://x"])
                .unwrap_err()
                .contains("http(s)")
        );
        let error = parse(&["--callback-secret", "whsec_!!notbase64secret"]).unwrap_err();
        assert!(
            error.contains("whsec_") && !error.contains("notbase64"),
            "{error}"
        );
    }

    #[test]
    fn the_receiver_needs_a_secret() {
        let args = parse_receiver(&["--addr", "127.0.0.1:0", "--secret", SECRET]).unwrap();
        assert_eq!(args.addr.port(), 0);
        assert!(
            parse_receiver(&["--addr", "127.0.0.1:0"])
                .unwrap_err()
                .contains("--secret is required")
        );
        assert!(
            parse_receiver(&["--wat"])
                .unwrap_err()
                .contains("unknown flag")
        );
    }

    #[test]
    fn flags_are_read() {
        let args = parse(&["--addr", "127.0.0.1:0", "--demo-keys", "/tmp/k.json"]).unwrap();
        assert_eq!(args.addr.port(), 0);
        assert_eq!(args.demo_keys.unwrap().to_str(), Some("/tmp/k.json"));
        assert_eq!(parse(&[]).unwrap().addr.port(), 8080);
    }

    #[test]
    fn timeout_flags_are_read_by_both() {
        let args = parse(&["--header-read-timeout", "0.5", "--idle-timeout", "3"]).unwrap();
        assert_eq!(
            args.serve,
            ServeOptions {
                header_read_timeout: std::time::Duration::from_millis(500),
                idle_timeout: std::time::Duration::from_secs(3),
            }
        );
        assert_eq!(parse(&[]).unwrap().serve, ServeOptions::default());
        let receiver = parse_receiver(&["--secret", SECRET, "--idle-timeout", "1.5"]).unwrap();
        assert_eq!(
            receiver.serve.idle_timeout,
            std::time::Duration::from_millis(1500)
        );
        assert!(
            parse(&["--idle-timeout", "0"])
                .unwrap_err()
                .contains("seconds")
        );
        assert!(
            parse(&["--idle-timeout"])
                .unwrap_err()
                .contains("needs a value")
        );
    }

    #[test]
    fn bad_flags_are_explained() {
        assert!(parse(&["--addr"]).unwrap_err().contains("needs a value"));
        assert!(
            parse(&["--addr", "nope"])
                .unwrap_err()
                .contains("HOST:PORT")
        );
        assert!(parse(&["--wat"]).unwrap_err().contains("unknown flag"));
    }
}
