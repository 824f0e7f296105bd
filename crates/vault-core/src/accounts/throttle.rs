//! Brute-force protection: attempts are reserved before a check and cleared by a success, so
//! parallel guesses cannot exceed the limit; a key over its limit is locked for a while that
//! doubles with each lock, up to a cap.
//!
//! Sign-in counts three keys: the account from one address (strict: a few tries, short
//! progressive locks), the account from anywhere (loose: only a distributed attack reaches it),
//! and the address (password spraying). An attacker can thus lock an account only briefly and
//! only from their own address, not the owner's (account-lockout DoS), and nothing differs
//! between existing and unknown accounts. Addresses count by [`AddressBlock`]: an IPv6
//! address by its /64.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use time::{Duration, OffsetDateTime};

use crate::accounts::records::ThrottleState;
use crate::ids::UserId;

/// What throttling counts as one client: an IPv4 address, or the /64 an IPv6 address lies in.
/// One host usually holds a whole /64, so counting single IPv6 addresses would hand it 2^64
/// budgets. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as a dual-stack socket reports
/// an IPv4 peer) is its IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressBlock(IpAddr);

impl AddressBlock {
    /// The block `address` belongs to.
    pub fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(_) => Self(address),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => Self(IpAddr::V6(Ipv6Addr::from_bits(
                    v6.to_bits() & (u128::MAX << 64),
                ))),
            },
        }
    }

    /// The block's first address: the IPv4 address, or the /64's network address.
    pub fn network(self) -> IpAddr {
        self.0
    }
}

impl From<IpAddr> for AddressBlock {
    fn from(address: IpAddr) -> Self {
        Self::of(address)
    }
}

impl fmt::Display for AddressBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// What a throttle counter counts. Typed, so two flows cannot share a counter by a typo in a
/// string; [`ThrottleKey::storage_key`] is the stable text a store keeps it under.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ThrottleKey {
    /// Password checks of one account (by normalized email) from one address.
    SignInFromAddress {
        /// The normalized email.
        email: String,
        /// The client's address block.
        address: AddressBlock,
    },
    /// Password checks of one account from anywhere.
    SignIn {
        /// The normalized email.
        email: String,
    },
    /// Password checks from one address over all accounts.
    SignInAddress(AddressBlock),
    /// Second-factor codes (TOTP or recovery) of one user.
    SecondFactor(UserId),
    /// Notice mails of one kind to one user.
    Mail {
        /// The kind of notice.
        kind: &'static str,
        /// The recipient.
        user: UserId,
    },
}

impl ThrottleKey {
    /// The text a store keeps the counter under: stable across versions.
    pub fn storage_key(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ThrottleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SignInFromAddress { email, address } => {
                write!(f, "sign_in:account_address:{email}|{address}")
            }
            Self::SignIn { email } => write!(f, "sign_in:account:{email}"),
            Self::SignInAddress(address) => write!(f, "sign_in:address:{address}"),
            Self::SecondFactor(user) => write!(f, "second_factor:{user}"),
            Self::Mail { kind, user } => write!(f, "mail:{kind}:{user}"),
        }
    }
}

/// Limits of one kind of key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleRule {
    /// Attempts allowed in a window before a lock.
    pub attempts: u32,
    /// The window over which attempts add up.
    pub window: Duration,
    /// The first lock; each further lock doubles it.
    pub first_lock: Duration,
    /// The longest lock.
    pub max_lock: Duration,
}

/// The rules of every throttled step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// An account from one client address.
    pub account_from_address: ThrottleRule,
    /// An account from any address.
    pub account: ThrottleRule,
    /// One client address over all accounts.
    pub address: ThrottleRule,
    /// Two-factor codes (TOTP or recovery) of one account.
    pub second_factor: ThrottleRule,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            account_from_address: ThrottleRule {
                attempts: 5,
                window: Duration::minutes(15),
                first_lock: Duration::seconds(30),
                max_lock: Duration::minutes(15),
            },
            account: ThrottleRule {
                attempts: 50,
                window: Duration::minutes(15),
                first_lock: Duration::minutes(5),
                max_lock: Duration::minutes(15),
            },
            address: ThrottleRule {
                attempts: 100,
                window: Duration::minutes(15),
                first_lock: Duration::minutes(15),
                max_lock: Duration::hours(1),
            },
            second_factor: ThrottleRule {
                attempts: 5,
                window: Duration::minutes(15),
                first_lock: Duration::minutes(1),
                max_lock: Duration::minutes(15),
            },
        }
    }
}

/// Reserves one attempt on `state` at `now`: `Err(until)` while locked (or when this attempt
/// would pass the limit, which starts a lock). Pure, so every store applies it atomically
/// under its own lock or transaction.
pub fn reserve(
    state: &mut ThrottleState,
    rule: &ThrottleRule,
    now: OffsetDateTime,
) -> Result<(), OffsetDateTime> {
    if let Some(until) = state.locked_until {
        if now < until {
            return Err(until);
        }
        state.locked_until = None;
        state.attempts = 0;
        state.window_start = None;
    }
    if state
        .window_start
        .is_none_or(|start| now - start >= rule.window)
    {
        state.window_start = Some(now);
        state.attempts = 0;
    }
    if state.attempts >= rule.attempts {
        let factor = 1i32 << state.locks.min(16);
        let lock = (rule.first_lock * factor).min(rule.max_lock);
        let until = now + lock;
        state.locked_until = Some(until);
        state.locks = state.locks.saturating_add(1);
        return Err(until);
    }
    state.attempts += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> ThrottleRule {
        ThrottleRule {
            attempts: 3,
            window: Duration::minutes(10),
            first_lock: Duration::seconds(30),
            max_lock: Duration::minutes(2),
        }
    }

    #[test]
    fn locks_after_the_limit_and_doubles_up_to_the_cap() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let mut s = ThrottleState::default();
        for _ in 0..3 {
            assert!(reserve(&mut s, &rule(), t0).is_ok());
        }
        assert_eq!(
            reserve(&mut s, &rule(), t0),
            Err(t0 + Duration::seconds(30))
        );
        assert_eq!(
            reserve(&mut s, &rule(), t0 + Duration::seconds(29)),
            Err(t0 + Duration::seconds(30))
        );
        let t1 = t0 + Duration::seconds(30);
        for _ in 0..3 {
            assert!(reserve(&mut s, &rule(), t1).is_ok());
        }
        assert_eq!(
            reserve(&mut s, &rule(), t1),
            Err(t1 + Duration::seconds(60))
        );
        let t2 = t1 + Duration::seconds(60);
        for _ in 0..3 {
            reserve(&mut s, &rule(), t2).unwrap();
        }
        assert_eq!(
            reserve(&mut s, &rule(), t2),
            Err(t2 + Duration::seconds(120))
        );
        let t3 = t2 + Duration::seconds(120);
        for _ in 0..3 {
            reserve(&mut s, &rule(), t3).unwrap();
        }
        assert_eq!(
            reserve(&mut s, &rule(), t3),
            Err(t3 + Duration::minutes(2)),
            "capped"
        );
    }

    #[test]
    fn attempts_expire_with_their_window() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let mut s = ThrottleState::default();
        for _ in 0..3 {
            reserve(&mut s, &rule(), t0).unwrap();
        }
        assert!(reserve(&mut s, &rule(), t0 + Duration::minutes(10)).is_ok());
    }

    fn block(text: &str) -> AddressBlock {
        AddressBlock::of(text.parse().unwrap())
    }

    #[test]
    fn ipv4_counts_as_itself_and_ipv6_by_its_64() {
        assert_eq!(block("192.0.2.1").to_string(), "192.0.2.1");
        assert_ne!(block("192.0.2.1"), block("192.0.2.2"));
        assert_eq!(block("2001:db8:1:2:3:4:5:6"), block("2001:db8:1:2::ffff"));
        assert_eq!(
            block("2001:db8:1:2:3:4:5:6").to_string(),
            "2001:db8:1:2::/64"
        );
        assert_ne!(block("2001:db8:1:2::1"), block("2001:db8:1:3::1"));
        assert_eq!(block("::ffff:192.0.2.1"), block("192.0.2.1"), "IPv4-mapped");
        assert_eq!(block("::1").to_string(), "::/64");
        let key = ThrottleKey::SignInAddress(block("2001:db8::7"));
        assert_eq!(key.storage_key(), "sign_in:address:2001:db8::/64");
    }
}
