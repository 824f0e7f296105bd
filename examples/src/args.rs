//! Command-line flags of the example servers.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Flags every example server takes.
#[derive(Clone, Debug)]
pub struct ServerArgs {
    /// `--addr HOST:PORT` (port 0 picks a free port). Default `127.0.0.1:8080`.
    pub addr: SocketAddr,
    /// `--demo-keys FILE`: write demo tokens there as JSON.
    pub demo_keys: Option<PathBuf>,
}

const USAGE: &str = "usage: [--addr HOST:PORT] [--demo-keys FILE]";

impl ServerArgs {
    /// Parses flags (without the program name). `Err` carries a message for the user.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let mut parsed = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            demo_keys: None,
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value =
                |name: &str| args.next().ok_or(format!("{name} needs a value; {USAGE}"));
            match flag.as_str() {
                "--addr" => {
                    let text = value("--addr")?;
                    parsed.addr = text
                        .parse()
                        .map_err(|_| format!("--addr {text:?} is not HOST:PORT; {USAGE}"))?;
                }
                "--demo-keys" => parsed.demo_keys = Some(PathBuf::from(value("--demo-keys")?)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServerArgs, String> {
        ServerArgs::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_are_read() {
        let args = parse(&["--addr", "127.0.0.1:0", "--demo-keys", "/tmp/k.json"]).unwrap();
        assert_eq!(args.addr.port(), 0);
        assert_eq!(args.demo_keys.unwrap().to_str(), Some("/tmp/k.json"));
        assert_eq!(parse(&[]).unwrap().addr.port(), 8080);
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
