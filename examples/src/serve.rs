//! How every server of this project serves HTTP/1.1: the timeouts that close slow and idle
//! clients ([`ServeOptions`]) and the `Host` rule (RFC 9112 §3.2), on hyper for axum
//! ([`serve_router`]) and on actix-http for actix-web ([`actix_server`]). The Submit servers,
//! the callback receiver, the quickstart and the bench targets all serve through here.
//!
//! What each option closes, on both:
//!
//! - **`header_read_timeout`** (default 10 s): a request head must be complete this long after
//!   the server starts waiting for it: from the connection's opening, and from the end of
//!   each answer on a kept-alive connection. A header line that never ends is cut; a
//!   kept-alive connection with no next request is closed after as long. (hyper's
//!   `header_read_timeout`; actix-http's `client_request_timeout` and keep-alive.)
//! - **`idle_timeout`** (default 60 s): a connection on which no byte moves either way for
//!   this long is closed whatever it is doing: a body that stops arriving, a client that stops
//!   reading its answer, a later request's head that stalls (actix has no head deadline after
//!   the first request). A handler that works longer than this without a byte moving is cut
//!   too: raise it for long polls.
//!
//! A client that trickles one byte at a time defeats the idle timeout; the head deadline still
//! holds for every head on hyper and for the first one on actix.

mod activity;
mod on_actix;
mod on_hyper;

use std::time::Duration;

pub use on_actix::actix_server;
pub use on_hyper::serve_router;
use vault_core::Problem;

/// The connection timeouts of a server (see the [module docs](self) for what each closes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeOptions {
    /// How long a request head may take, from when the server waits for it. Default 10 s.
    pub header_read_timeout: Duration,
    /// How long a connection may move no byte in either direction. Default 60 s.
    pub idle_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

impl ServeOptions {
    /// Reads `--header-read-timeout SECS` or `--idle-timeout SECS` (decimal seconds, more than
    /// zero, at most a day): `None` if `flag` is neither, else whether `value` was good.
    pub fn parse_flag(
        &mut self,
        flag: &str,
        value: impl FnOnce() -> Result<String, String>,
    ) -> Option<Result<(), String>> {
        let slot = match flag {
            "--header-read-timeout" => &mut self.header_read_timeout,
            "--idle-timeout" => &mut self.idle_timeout,
            _ => return None,
        };
        Some(value().and_then(|text| {
            *slot = seconds(&text).ok_or(format!(
                "{flag} {text:?} is not a number of seconds between 0 and 86400"
            ))?;
            Ok(())
        }))
    }
}

fn seconds(text: &str) -> Option<Duration> {
    let value: f64 = text.parse().ok()?;
    (value > 0.0 && value <= 86_400.0)
        .then(|| Duration::try_from_secs_f64(value).ok())
        .flatten()
}

/// RFC 9112 §3.2: an HTTP/1.1 request carries exactly one `Host`, an HTTP/1.0 one at most one,
/// and its value is `uri-host [ ":" port ]` (empty when the target has no authority).
pub fn host_is_valid<'a>(http_1_1: bool, mut values: impl Iterator<Item = &'a [u8]>) -> bool {
    match (values.next(), values.next()) {
        (None, _) => !http_1_1,
        (Some(value), None) => value.is_empty() || is_host_and_port(value),
        (Some(_), Some(_)) => false,
    }
}

/// `uri-host [ ":" port ]`: an authority without userinfo whose port, if any, is digits.
fn is_host_and_port(value: &[u8]) -> bool {
    let Ok(authority) = axum::http::uri::Authority::try_from(value) else {
        return false;
    };
    let text = authority.as_str();
    let after_host = match text.strip_prefix('[') {
        Some(ip_literal) => ip_literal.split_once(']').map(|(_, after)| after),
        None => Some(text.rfind(':').map_or("", |colon| &text[colon..])),
    };
    !text.contains('@')
        && after_host.is_some_and(|after| {
            after.is_empty()
                || after
                    .strip_prefix(':')
                    .is_some_and(|port| port.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// The answer to a request that breaks [`host_is_valid`]: 400 `invalid_host`.
pub fn host_problem() -> Problem {
    Problem::new(
        400,
        "invalid_host",
        "Invalid Host header",
        "an HTTP/1.1 request needs exactly one Host header holding host[:port]",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(http_1_1: bool, values: &[&str]) -> bool {
        host_is_valid(http_1_1, values.iter().map(|v| v.as_bytes()))
    }

    #[test]
    fn an_http_1_1_request_needs_exactly_one_host() {
        assert!(valid(true, &["api.example.test"]));
        assert!(valid(true, &["127.0.0.1:8080"]));
        assert!(valid(true, &["[::1]:8080"]));
        assert!(valid(true, &["[::1]"]));
        assert!(valid(true, &["a.test:"]), "port = *DIGIT");
        assert!(
            valid(true, &[""]),
            "an empty Host is allowed (no authority)"
        );
        assert!(!valid(true, &[]));
        assert!(!valid(true, &["a.test", "a.test"]));
        assert!(!valid(false, &["a.test", "b.test"]));
        assert!(valid(false, &[]), "HTTP/1.0 may omit it");
    }

    #[test]
    fn a_host_that_is_not_host_and_port_is_invalid() {
        for value in [
            "a b",
            "user@a.test",
            "a.test/path",
            "a.test:port",
            "a.test?x",
        ] {
            assert!(!valid(true, &[value]), "{value:?}");
        }
    }

    #[test]
    fn timeouts_are_read_in_seconds() {
        let mut options = ServeOptions::default();
        let flag = |options: &mut ServeOptions, flag: &str, value: &str| {
            let value = value.to_owned();
            options.parse_flag(flag, || Ok(value))
        };
        assert_eq!(
            flag(&mut options, "--header-read-timeout", "0.5"),
            Some(Ok(()))
        );
        assert_eq!(flag(&mut options, "--idle-timeout", "2"), Some(Ok(())));
        assert_eq!(options.header_read_timeout, Duration::from_millis(500));
        assert_eq!(options.idle_timeout, Duration::from_secs(2));
        for bad in ["0", "-1", "x", "NaN", "1e9"] {
            assert!(
                matches!(flag(&mut options, "--idle-timeout", bad), Some(Err(_))),
                "{bad}"
            );
        }
        assert_eq!(flag(&mut options, "--addr", "x"), None);
        assert_eq!(
            ServeOptions::default().header_read_timeout,
            Duration::from_secs(10)
        );
    }
}
