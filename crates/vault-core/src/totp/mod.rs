//! TOTP two-factor authentication: enrolment, codes with ±1 step and replay refusal, recovery
//! codes, secrets sealed at rest. (Issue 4; in progress.)

/// Why a two-factor operation was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TotpDefect {}
