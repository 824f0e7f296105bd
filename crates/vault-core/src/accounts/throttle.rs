//! Brute-force protection. Attempts are reserved before a check, so parallel guesses cannot
//! pass a limit; a counter over its limit locks for a while that doubles with each lock, up to
//! a cap. Counters are rows under a typed [`ThrottleKey`]; the arithmetic here is pure, and a
//! flow applies it inside one store transaction scoped to every key it names.
//!
//! A sign-in names five counters, and [`admit_sign_in`] decides on all of them at once:
//! checked strictest first and counted on every one only if none refuses, so a guess refused
//! by a stricter rule costs no looser budget. Addresses count by [`AddressBlock`] (an IPv6
//! address by its /64). With the defaults:
//!
//! - the account from this address (strict): 5 checks, then locks of 30 s doubling to 15 min;
//! - the address over all accounts: 100 checks per 15 min (password spraying);
//! - the address's share of the account: each of the first 10 addresses to try an account in
//!   its 15-minute window gets 10 checks of its own, and never touches the pool;
//! - the account's pool: 50 checks per window for every other address, then spent for 15 min
//!   (doubling to an hour).
//!
//! So one address, or up to 10, can never spend the pool: the owner, from an address that has
//! not failed, signs in however long they keep guessing. Anyone without the password gets at
//! most 10 × 10 + 50 = 150 checks of an account per window that could open it (300 in any 15
//! minutes, which can straddle two windows). A spent pool is no lock: from an address without
//! a share a right password then earns only a code mailed to the account
//! ([`crate::accounts::SignIn::MailedCodeRequired`]), and each further address still meets its
//! own two rules. Only a caller that gives no address ([`crate::accounts::Client::unknown_address`])
//! meets the pool alone, and is refused while it is spent. A success clears its address's
//! strict counter and gives its share back, so the owner's own sign-ins never hold a share.
//! Nothing differs between existing and unknown accounts.

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
    /// Password checks of one account (by normalized email) from one address: the strict rule.
    SignInFromAddress {
        /// The normalized email.
        email: String,
        /// The client's address block.
        address: AddressBlock,
    },
    /// One address's share of an account's checks in the account's window.
    SignInShare {
        /// The normalized email.
        email: String,
        /// The client's address block.
        address: AddressBlock,
    },
    /// The shares of one account handed out in its window.
    SignInShares {
        /// The normalized email.
        email: String,
    },
    /// The account's pool: checks from addresses without a share (or without an address).
    SignIn {
        /// The normalized email.
        email: String,
    },
    /// Password checks from one address over all accounts.
    SignInAddress(AddressBlock),
    /// Checks of a signed-in user's current password (a password change).
    CurrentPassword(UserId),
    /// Second-factor codes (TOTP or recovery) of one user.
    SecondFactor(UserId),
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
            Self::SignInShare { email, address } => write!(f, "sign_in:share:{email}|{address}"),
            Self::SignInShares { email } => write!(f, "sign_in:shares:{email}"),
            Self::SignIn { email } => write!(f, "sign_in:account:{email}"),
            Self::SignInAddress(address) => write!(f, "sign_in:address:{address}"),
            Self::CurrentPassword(user) => write!(f, "current_password:{user}"),
            Self::SecondFactor(user) => write!(f, "second_factor:{user}"),
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
    /// An account from one client address: the strict rule.
    pub account_from_address: ThrottleRule,
    /// Addresses per account and window (the window of [`ThrottlePolicy::account`]) that get
    /// a share of checks of their own: up to this many failing addresses never touch the pool.
    pub shares_per_account: u32,
    /// Checks in one share (at least [`ThrottlePolicy::account_from_address`]'s attempts, or
    /// the strict rule's short locks never end before the share does).
    pub checks_per_share: u32,
    /// The account's pool, for addresses without a share. Keep its first lock at least its
    /// window, so no two windows of checks fall within one window of time.
    pub account: ThrottleRule,
    /// One client address over all accounts.
    pub address: ThrottleRule,
    /// Two-factor codes (TOTP or recovery) of one account; also the current password of a
    /// signed-in user.
    pub second_factor: ThrottleRule,
}

impl ThrottlePolicy {
    /// The most password checks anyone without the password gets of one account in one
    /// window that could open it: every share in full, and the pool.
    pub fn checks_per_window(&self) -> u64 {
        u64::from(self.shares_per_account) * u64::from(self.checks_per_share)
            + u64::from(self.account.attempts)
    }
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
            shares_per_account: 10,
            checks_per_share: 10,
            account: ThrottleRule {
                attempts: 50,
                window: Duration::minutes(15),
                first_lock: Duration::minutes(15),
                max_lock: Duration::hours(1),
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

/// The counters one sign-in decides on, as its transaction read them (a missing counter is
/// [`ThrottleState::default`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignInCounters {
    /// [`ThrottleKey::SignIn`]: the account's pool.
    pub pool: ThrottleState,
    /// [`ThrottleKey::SignInShares`]: the shares handed out in the account's window.
    pub shares: ThrottleState,
    /// The counters of the client's address; `None` when it is unknown.
    pub address: Option<AddressCounters>,
}

/// The counters of one client address in a sign-in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressCounters {
    /// [`ThrottleKey::SignInFromAddress`]: the strict rule.
    pub account_from_address: ThrottleState,
    /// [`ThrottleKey::SignInShare`]: this address's share of the account.
    pub share: ThrottleState,
    /// [`ThrottleKey::SignInAddress`]: the address over all accounts.
    pub address: ThrottleState,
}

/// What [`admit_sign_in`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Check the password: a right one opens the account.
    Check,
    /// The account's pool is spent and this address has no share: check the password, but a
    /// right one earns only a mailed code.
    CheckForMailedCode,
    /// Refused before any check, until then; no other counter counted it.
    Refused(OffsetDateTime),
}

/// Decides on one sign-in attempt and updates `counters` to what must be written back. The
/// rules are tried strictest first: the account from this address, the address over all
/// accounts, the address's share, the account's pool. A refusal changes only the refusing
/// counter (its lock) and counts on no other; an admission counts on every rule it passed.
pub fn admit_sign_in(
    counters: &mut SignInCounters,
    policy: &ThrottlePolicy,
    now: OffsetDateTime,
) -> Admission {
    if let Some(mine) = counters.address.as_mut() {
        let mut strict = mine.account_from_address;
        if let Err(until) = reserve(&mut strict, &policy.account_from_address, now) {
            mine.account_from_address = strict;
            return Admission::Refused(until);
        }
        let mut spraying = mine.address;
        if let Err(until) = reserve(&mut spraying, &policy.address, now) {
            mine.address = spraying;
            return Admission::Refused(until);
        }
        let (mut share, mut shares) = (mine.share, counters.shares);
        let drawn = draw_share(&mut share, &mut shares, policy, now);
        if let Share::Spent(until) = drawn {
            return Admission::Refused(until);
        }
        mine.account_from_address = strict;
        mine.address = spraying;
        if drawn == Share::Drawn {
            mine.share = share;
            counters.shares = shares;
            return Admission::Check;
        }
    }
    match reserve(&mut counters.pool, &policy.account, now) {
        Ok(()) => Admission::Check,
        Err(_) if counters.address.is_some() => Admission::CheckForMailedCode,
        Err(until) => Admission::Refused(until),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Share {
    /// A check from the address's share (drawn now, or earlier in this window).
    Drawn,
    /// The address's share of this window is used up, until then.
    Spent(OffsetDateTime),
    /// Every share of this window is handed out: the pool decides.
    NoneLeft,
}

/// One check from the address's share of the account's current window. A share belongs to the
/// window it was drawn in (its start is the window's), so each address draws at most one a
/// window, and at most [`ThrottlePolicy::shares_per_account`] are drawn.
fn draw_share(
    share: &mut ThrottleState,
    shares: &mut ThrottleState,
    policy: &ThrottlePolicy,
    now: OffsetDateTime,
) -> Share {
    let window = policy.account.window;
    let start = match shares.window_start {
        Some(start) if now - start < window => start,
        _ => {
            *shares = ThrottleState {
                window_start: Some(now),
                ..ThrottleState::default()
            };
            now
        }
    };
    if share.window_start == Some(start) {
        if share.attempts >= policy.checks_per_share {
            return Share::Spent(start + window);
        }
        share.attempts += 1;
        return Share::Drawn;
    }
    if shares.attempts >= policy.shares_per_account || policy.checks_per_share == 0 {
        return Share::NoneLeft;
    }
    shares.attempts += 1;
    *share = ThrottleState {
        attempts: 1,
        window_start: Some(start),
        ..ThrottleState::default()
    };
    Share::Drawn
}

/// After a right password: the address's share goes back to the account's window it was drawn
/// in (so the owner's own sign-ins never hold a share); the caller deletes the share's row.
pub fn give_back_share(share: &ThrottleState, shares: &mut ThrottleState) {
    if share.window_start.is_some() && share.window_start == shares.window_start {
        shares.attempts = shares.attempts.saturating_sub(1);
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

    fn t0() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(1)
    }

    /// One account's counters, and those of each address that tried it.
    #[derive(Default)]
    struct Account {
        pool: ThrottleState,
        shares: ThrottleState,
        addresses: std::collections::HashMap<u32, AddressCounters>,
    }

    impl Account {
        fn attempt(&mut self, address: Option<u32>, now: OffsetDateTime) -> Admission {
            let mut counters = SignInCounters {
                pool: self.pool,
                shares: self.shares,
                address: address.map(|a| self.addresses.get(&a).copied().unwrap_or_default()),
            };
            let admission = admit_sign_in(&mut counters, &ThrottlePolicy::default(), now);
            self.pool = counters.pool;
            self.shares = counters.shares;
            if let (Some(a), Some(mine)) = (address, counters.address) {
                self.addresses.insert(a, mine);
            }
            admission
        }

        /// A right password from `address`: its strict counter and share go, as in sign-in.
        fn succeed(&mut self, address: u32) {
            if let Some(mine) = self.addresses.remove(&address) {
                give_back_share(&mine.share, &mut self.shares);
            }
        }
    }

    #[test]
    fn a_refusal_by_a_stricter_rule_counts_on_no_looser_one() {
        let mut account = Account::default();
        let answers: Vec<Admission> = (0..50).map(|_| account.attempt(Some(1), t0())).collect();
        assert!(answers[..5].iter().all(|a| *a == Admission::Check));
        let lock = t0() + Duration::seconds(30);
        assert!(answers[5..].iter().all(|a| *a == Admission::Refused(lock)));
        let mine = account.addresses[&1];
        assert_eq!(mine.share.attempts, 5);
        assert_eq!(mine.address.attempts, 5);
        assert_eq!(account.shares.attempts, 1);
        assert_eq!(
            account.pool,
            ThrottleState::default(),
            "the pool is untouched"
        );
    }

    #[test]
    fn ten_failing_addresses_never_touch_the_pool_however_long_they_guess() {
        let mut account = Account::default();
        for minute in 0..120 {
            let now = t0() + Duration::minutes(minute);
            for address in 0..10 {
                for _ in 0..50 {
                    assert_ne!(
                        account.attempt(Some(address), now),
                        Admission::CheckForMailedCode
                    );
                }
            }
            assert_eq!(account.pool, ThrottleState::default(), "minute {minute}");
            assert!(account.addresses.values().all(|a| a.share.attempts <= 10));
            // An eleventh address that has not failed, the owner's, is checked (from a share
            // the ten left, or from the pool).
            let owner = 1000 + u32::try_from(minute).unwrap();
            assert_eq!(account.attempt(Some(owner), now), Admission::Check);
            account.succeed(owner);
            account.pool = ThrottleState::default();
        }
    }

    #[test]
    fn a_spent_pool_refuses_only_callers_without_an_address() {
        let mut account = Account::default();
        for _ in 0..50 {
            assert_eq!(account.attempt(None, t0()), Admission::Check);
        }
        let until = t0() + Duration::minutes(15);
        assert_eq!(account.attempt(None, t0()), Admission::Refused(until));
        // Addresses with a share never meet the pool; the rest check for a mailed code.
        for address in 0..10 {
            assert_eq!(account.attempt(Some(address), t0()), Admission::Check);
        }
        assert_eq!(
            account.attempt(Some(10), t0()),
            Admission::CheckForMailedCode
        );
        assert_eq!(
            account.attempt(None, until),
            Admission::Check,
            "no hard lock"
        );
    }

    #[test]
    fn a_share_given_back_can_be_drawn_again() {
        let mut account = Account::default();
        for address in 0..10 {
            account.attempt(Some(address), t0());
        }
        assert_eq!(account.attempt(Some(10), t0()), Admission::Check);
        assert_eq!(account.pool.attempts, 1, "no share left for the eleventh");
        let mine = account.addresses.remove(&0).unwrap();
        give_back_share(&mine.share, &mut account.shares);
        assert_eq!(account.shares.attempts, 9);
        assert_eq!(account.attempt(Some(11), t0()), Admission::Check);
        assert_eq!(
            account.pool.attempts, 1,
            "the eleventh drew the share given back"
        );
    }

    /// The stated bound: however many addresses guess, and however often, the checks that could
    /// open the account (admissions of [`Admission::Check`]) stay within
    /// [`ThrottlePolicy::checks_per_window`] in the first window and twice that in any 15
    /// minutes.
    #[test]
    fn no_more_than_the_stated_checks_per_window_can_open_an_account() {
        let policy = ThrottlePolicy::default();
        let bound = policy.checks_per_window();
        assert_eq!(bound, 150);
        let mut account = Account::default();
        let mut per_second = Vec::new();
        for second in 0..2 * 3600u32 {
            let now = t0() + Duration::seconds(i64::from(second));
            let mut checks = 0u64;
            // 200 addresses, each trying once every 10 seconds, a few at a time.
            for address in (0..200).filter(|a| (a + second).is_multiple_of(10)) {
                for _ in 0..3 {
                    checks += u64::from(account.attempt(Some(address), now) == Admission::Check);
                }
            }
            checks += u64::from(account.attempt(None, now) == Admission::Check);
            per_second.push(checks);
        }
        let window = 15 * 60;
        let first: u64 = per_second[..window].iter().sum();
        assert!(first <= bound, "{first} checks in the first window");
        assert!(first >= 100, "the attack used what it could: {first}");
        for (start, span) in per_second.windows(window).enumerate() {
            let sum: u64 = span.iter().sum();
            assert!(
                sum <= 2 * bound,
                "{sum} checks in the 15 minutes from {start} s"
            );
        }
    }
}
