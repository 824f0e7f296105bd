//! Everything that can refuse a two-factor step, one named variant per failure. Every
//! variant is wrapped in [`crate::Error::Totp`]; none carries a code, a secret or a key.

/// Why a two-factor operation was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TotpDefect {
    /// The code is well formed but matches no time step in the accepted window.
    #[error("the code is wrong")]
    WrongCode,
    /// The code is right but belongs to a time step already used (or an earlier one).
    #[error("the code was already used")]
    ReplayedCode,
    /// The input is not a code of the configured length (spaces aside).
    #[error("the code is not a code of the expected number of digits")]
    MalformedCode,
    /// A code length other than 6 or 8 digits was asked for.
    #[error("TOTP codes have 6 or 8 digits")]
    UnsupportedDigits,
    /// The recovery code is unknown or already used (deliberately not told apart).
    #[error("the recovery code is unknown or already used")]
    RecoveryCodeRefused,
    /// The sealed secret does not open: another sealing key, another user, or tampered.
    #[error("the sealed secret cannot be opened (wrong sealing key, wrong user or tampered)")]
    SealedSecretUnreadable,
    /// The stored text or bytes are not a sealed secret of a known version.
    #[error("the sealed secret is malformed or of an unknown version")]
    MalformedSealedSecret,
    /// The sealing key is not exactly 32 bytes.
    #[error("the TOTP sealing key must be exactly 32 bytes, got {got}")]
    InvalidKeyLength {
        /// The length that was given.
        got: usize,
    },
    /// The sealing key is not valid base64.
    #[error("the TOTP sealing key is not valid base64")]
    KeyEncoding,
    /// No sealing key was configured.
    #[error("the TOTP sealing key is missing: set it to 32 random bytes (base64)")]
    MissingKey,
    /// A TOTP secret to seal is shorter than 128 or longer than 512 bits.
    #[error("a TOTP secret must be 16 to 64 bytes, got {got}")]
    InvalidSecretLength {
        /// The length that was given.
        got: usize,
    },
    /// The issuer or account label is empty, too long, or holds `:` or control characters
    /// (authenticator apps split the label at `:`).
    #[error(
        "the issuer or account label is empty, longer than 128 characters, or holds ':' or control characters"
    )]
    InvalidLabel,
    /// The `otpauth://` URI is too long to draw as a QR code.
    #[error("the otpauth URI is too long for a QR code")]
    QrCode,
}
