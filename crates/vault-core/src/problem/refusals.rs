//! The table from [`Error`] and its detail enums to a [`Problem`] (documented in the parent
//! module). Every `match` is exhaustive on purpose: a new variant does not compile until it
//! has a row.

use super::Problem;
use crate::Error;
use crate::access::AccessDefect;
use crate::accounts::AccountDefect;
use crate::callbacks::CallbackRejection;
use crate::password::PasswordDefect;
use crate::rejection::RETRY_AFTER_SECS;
use crate::request::RequestDefect;
use crate::totp::TotpDefect;

impl From<&Error> for Problem {
    fn from(error: &Error) -> Self {
        let invalid = |code, title, detail| Problem::new(422, code, title, detail);
        match error {
            Error::Account(defect) => Self::from(*defect),
            Error::Access(defect) => Self::from(*defect),
            Error::Password(defect) => Self::from(*defect),
            Error::Totp(defect) => Self::from(*defect),
            Error::Callback(defect) => CallbackRejection::new(*defect).into(),
            Error::Request(defect) => Self::from(defect),
            Error::StoreUnavailable(_) => Problem::new(
                503,
                "service_unavailable",
                "Service unavailable",
                "the service is temporarily unavailable: try again later",
            )
            .with_retry_after(RETRY_AFTER_SECS),
            Error::Conflict(_) => Problem::new(
                409,
                "conflict",
                "Conflict",
                "the request conflicts with the current state (it may exist already)",
            ),
            Error::KeyNotFound(_) => Problem::new(
                404,
                "key_not_found",
                "API key not found",
                "no API key with this id",
            ),
            Error::KeyRevoked(_) => Problem::new(
                409,
                "key_revoked",
                "API key revoked",
                "the API key is revoked",
            ),
            Error::KeyExpired(_) => Problem::new(
                409,
                "key_expired",
                "API key expired",
                "the API key has expired",
            ),
            // Input the caller sent: said what is wrong, never echoed (it might be a pasted
            // key or password).
            Error::InvalidPermission(_) => invalid(
                "invalid_permission",
                "Invalid permission",
                "use `resource:action`, `resource:*` or `*` (a-z, 0-9, '_', '-')",
            ),
            Error::InvalidProductId(_) => invalid(
                "invalid_product_id",
                "Invalid product id",
                "use 1 to 32 characters a-z, 0-9 and '-', starting with a letter",
            ),
            Error::UnknownEnvironment(_) => invalid(
                "unknown_environment",
                "Unknown environment",
                "use development, staging or production",
            ),
            Error::InvalidKeyName(reason) => invalid(
                "invalid_key_name",
                "Invalid key name",
                &format!("invalid key name: {reason}"),
            ),
            Error::InvalidId { .. } => invalid("invalid_id", "Invalid id", "an id is not a UUID"),
            Error::InvalidKeyId => invalid(
                "invalid_key_id",
                "Invalid key id",
                "a key id is 12 base62 characters",
            ),
            Error::MalformedToken(_) => invalid(
                "malformed_api_key",
                "Malformed API key",
                "the text is not an API key",
            ),
            Error::NegativeOverlap => invalid(
                "negative_overlap",
                "Negative rotation overlap",
                "the rotation overlap must not be negative",
            ),
            Error::ExpiryNotInFuture => invalid(
                "expiry_not_in_future",
                "Expiry not in the future",
                "the expiry must be in the future",
            ),
            Error::MissingPepper { .. }
            | Error::PepperTooShort { .. }
            | Error::PepperEncoding
            | Error::InvalidKeyPrefix(_)
            | Error::Randomness
            | Error::Store(_) => Problem::internal(),
        }
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Self {
        Self::from(&error)
    }
}

impl From<AccountDefect> for Problem {
    fn from(defect: AccountDefect) -> Self {
        let detail = defect.to_string();
        let (status, code, title) = match defect {
            AccountDefect::InvalidEmail => (422, "invalid_email", "Invalid email address"),
            AccountDefect::InvalidName => (422, "invalid_name", "Invalid name"),
            AccountDefect::InvalidCredentials => {
                (401, "invalid_credentials", "Invalid email or password")
            }
            AccountDefect::Throttled { retry_after_secs } => {
                return Problem::new(429, "too_many_attempts", "Too many attempts", &detail)
                    .with_retry_after(retry_after_secs);
            }
            AccountDefect::InvalidToken => (400, "invalid_token", "Invalid link or code"),
            AccountDefect::InvalidSession => (401, "invalid_session", "Invalid session"),
            AccountDefect::WrongCurrentPassword => {
                (403, "wrong_current_password", "Wrong current password")
            }
            AccountDefect::EmailUnavailable => {
                (409, "email_unavailable", "Email address unavailable")
            }
            AccountDefect::InvalidSecondFactor => return invalid_second_factor(),
            AccountDefect::TwoFactorState => {
                (409, "two_factor_state", "Two-factor authentication state")
            }
            AccountDefect::MailNotSent => (503, "mail_not_sent", "Mail not sent"),
            AccountDefect::NotAMember => (404, "not_a_member", "Not a member"),
        };
        Problem::new(status, code, title, &detail)
    }
}

impl From<AccessDefect> for Problem {
    fn from(defect: AccessDefect) -> Self {
        let (status, code, title) = match defect {
            AccessDefect::NotAMember => (404, "not_a_member", "Not a member"),
            AccessDefect::UserNotAMember => (404, "user_not_a_member", "User not a member"),
            AccessDefect::AlreadyMember => (409, "already_member", "Already a member"),
            AccessDefect::NotAllowed => (403, "not_allowed", "Not allowed"),
            AccessDefect::LastOwner => (409, "last_owner", "Last owner"),
            AccessDefect::InvitationUnknown => (404, "invitation_unknown", "Invitation not valid"),
            AccessDefect::InvitationExpired => (410, "invitation_expired", "Invitation expired"),
            AccessDefect::InvitationRevoked => (410, "invitation_revoked", "Invitation revoked"),
            AccessDefect::InvitationUsed => (409, "invitation_used", "Invitation already used"),
            AccessDefect::InvitationForAnotherAccount => (
                403,
                "invitation_for_another_account",
                "Invitation for another account",
            ),
            AccessDefect::ProductNotSubscribed => {
                (403, "product_not_subscribed", "Product not subscribed")
            }
            AccessDefect::ProductUnknown => (404, "product_unknown", "Unknown product"),
            AccessDefect::RoleUnknown => (422, "role_unknown", "Unknown role"),
            AccessDefect::GroupUnknown => (404, "group_unknown", "Unknown group"),
            AccessDefect::TwoFactorRequired => (
                403,
                "two_factor_required",
                "Two-factor authentication required",
            ),
            AccessDefect::PermissionNotHeld => (403, "permission_not_held", "Permission not held"),
            AccessDefect::KeyUnknown => (404, "key_unknown", "Unknown API key"),
            AccessDefect::InvalidName => (422, "invalid_name", "Invalid name"),
            AccessDefect::NameTaken => (409, "name_taken", "Name taken"),
            AccessDefect::InvalidEmail => (422, "invalid_email", "Invalid email address"),
        };
        Problem::new(status, code, title, &defect.to_string())
    }
}

impl From<PasswordDefect> for Problem {
    fn from(defect: PasswordDefect) -> Self {
        let reason = match defect {
            PasswordDefect::TooShort { min } => {
                return weak_password(defect, "too_short", Some(("min", min)));
            }
            PasswordDefect::TooLong { max } => {
                return weak_password(defect, "too_long", Some(("max", max)));
            }
            PasswordDefect::Common => "common",
            PasswordDefect::Breached => "breached",
            PasswordDefect::Repetitive => "repetitive",
            PasswordDefect::Sequential => "sequential",
            PasswordDefect::ContainsEmail => "contains_email",
            PasswordDefect::ContainsName => "contains_name",
            PasswordDefect::BreachCheckUnavailable => {
                return Problem::new(
                    503,
                    "breach_check_unavailable",
                    "Password check unavailable",
                    &defect.to_string(),
                )
                .with_retry_after(RETRY_AFTER_SECS);
            }
            PasswordDefect::MalformedHash
            | PasswordDefect::UnsupportedHash
            | PasswordDefect::InvalidPolicy
            | PasswordDefect::InvalidParameters
            | PasswordDefect::HashingFailed => return Problem::internal(),
        };
        weak_password(defect, reason, None)
    }
}

impl From<TotpDefect> for Problem {
    fn from(defect: TotpDefect) -> Self {
        match defect {
            TotpDefect::WrongCode
            | TotpDefect::ReplayedCode
            | TotpDefect::MalformedCode
            | TotpDefect::RecoveryCodeRefused => invalid_second_factor(),
            // Sealing keys, stored secrets and labels are the server's, not the caller's.
            TotpDefect::SealedSecretUnreadable
            | TotpDefect::MalformedSealedSecret
            | TotpDefect::InvalidKeyLength { .. }
            | TotpDefect::KeyEncoding
            | TotpDefect::MissingKey
            | TotpDefect::InvalidSecretLength { .. }
            | TotpDefect::InvalidLabel
            | TotpDefect::QrCode
            | TotpDefect::UnsupportedDigits => Problem::internal(),
        }
    }
}

/// One answer for every wrong second factor: telling "replayed" from "wrong" would confirm
/// that a guessed code was right.
fn invalid_second_factor() -> Problem {
    Problem::new(
        401,
        "invalid_second_factor",
        "Invalid two-factor code",
        &AccountDefect::InvalidSecondFactor.to_string(),
    )
}

fn weak_password(
    defect: PasswordDefect,
    reason: &'static str,
    limit: Option<(&'static str, usize)>,
) -> Problem {
    let limit = limit.map(|(name, value)| (name, serde_json::Value::from(value)));
    Problem::with_extensions(
        422,
        "weak_password",
        "Password refused",
        &defect.to_string(),
        std::iter::once(("reason", serde_json::Value::from(reason))).chain(limit),
    )
}

impl From<&RequestDefect> for Problem {
    fn from(defect: &RequestDefect) -> Self {
        match defect {
            RequestDefect::NotSignedIn => Problem::new(
                401,
                "not_signed_in",
                "Not signed in",
                "sign in first: no session, or the session has ended",
            ),
            RequestDefect::CsrfFailed => Problem::new(
                403,
                "csrf_failed",
                "CSRF check failed",
                "the request's origin or CSRF token did not check out: reload the page and try again",
            ),
            RequestDefect::ReauthenticationRequired => Problem::new(
                403,
                "reauthentication_required",
                "Sign in again",
                "this change needs a recent sign-in: confirm your password (or second factor) first",
            ),
            RequestDefect::UnsupportedMediaType => Problem::new(
                415,
                "unsupported_media_type",
                "Unsupported media type",
                "send the body as application/json",
            ),
            RequestDefect::BodyTooLarge { limit } => Problem::with_extensions(
                413,
                "body_too_large",
                "Body too large",
                &format!("the body is larger than {limit} bytes"),
                [("limit", serde_json::Value::from(*limit))],
            ),
            RequestDefect::MalformedBody { pointer, reason } => {
                let extensions = pointer
                    .as_ref()
                    .map(|p| ("pointer", serde_json::Value::from(p.as_str())));
                Problem::with_extensions(
                    400,
                    "malformed_body",
                    "Malformed body",
                    reason,
                    extensions,
                )
            }
            RequestDefect::NotFound => {
                Problem::new(404, "not_found", "Not found", "no such resource")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyId;
    use crate::callbacks::CallbackDefect;
    use crate::keys::TokenDefect;

    /// A text no row may contain, for the rows whose error carries no input.
    const NO_SECRET: &str = "vlt_prod_never-in-an-answer";

    /// The status, code and `Retry-After` of `error`'s answer, after checking the body says
    /// the same and leaks nothing of `secret`.
    fn row(error: Error, secret: &str) -> (u16, &'static str, Option<u32>) {
        let problem = Problem::from(&error);
        let body: serde_json::Value = serde_json::from_str(problem.body()).unwrap();
        assert_eq!(body["status"], problem.status(), "{error:?}");
        assert_eq!(body["code"], problem.code(), "{error:?}");
        assert_eq!(body["title"], problem.title(), "{error:?}");
        assert_eq!(
            body["type"],
            format!("urn:vault:problem:{}", problem.code())
        );
        assert!(body["detail"].is_string(), "{error:?}");
        assert_eq!(problem.content_type(), "application/problem+json");
        assert_eq!(problem.www_authenticate(), None, "{error:?}");
        assert!(!problem.body().contains(secret), "{error:?} leaks {secret}");
        (problem.status(), problem.code(), problem.retry_after())
    }

    #[test]
    fn every_account_defect_has_a_row() {
        use AccountDefect as D;
        let rows = [
            (D::InvalidEmail, 422, "invalid_email"),
            (D::InvalidName, 422, "invalid_name"),
            (D::InvalidCredentials, 401, "invalid_credentials"),
            (D::InvalidToken, 400, "invalid_token"),
            (D::InvalidSession, 401, "invalid_session"),
            (D::WrongCurrentPassword, 403, "wrong_current_password"),
            (D::EmailUnavailable, 409, "email_unavailable"),
            (D::InvalidSecondFactor, 401, "invalid_second_factor"),
            (D::TwoFactorState, 409, "two_factor_state"),
            (D::MailNotSent, 503, "mail_not_sent"),
            (D::NotAMember, 404, "not_a_member"),
        ];
        for (defect, status, code) in rows {
            assert_eq!(row(Error::Account(defect), NO_SECRET), (status, code, None));
            let body: serde_json::Value =
                serde_json::from_str(Problem::from(defect).body()).unwrap();
            assert_eq!(body["detail"], defect.to_string());
        }
    }

    #[test]
    fn throttling_says_when_to_retry() {
        let throttled = Error::Account(AccountDefect::Throttled {
            retry_after_secs: 42,
        });
        assert_eq!(
            row(throttled, NO_SECRET),
            (429, "too_many_attempts", Some(42))
        );
    }

    #[test]
    fn every_access_defect_has_a_row() {
        use AccessDefect as D;
        let rows = [
            (D::NotAMember, 404, "not_a_member"),
            (D::UserNotAMember, 404, "user_not_a_member"),
            (D::AlreadyMember, 409, "already_member"),
            (D::NotAllowed, 403, "not_allowed"),
            (D::LastOwner, 409, "last_owner"),
            (D::InvitationUnknown, 404, "invitation_unknown"),
            (D::InvitationExpired, 410, "invitation_expired"),
            (D::InvitationRevoked, 410, "invitation_revoked"),
            (D::InvitationUsed, 409, "invitation_used"),
            (
                D::InvitationForAnotherAccount,
                403,
                "invitation_for_another_account",
            ),
            (D::ProductNotSubscribed, 403, "product_not_subscribed"),
            (D::ProductUnknown, 404, "product_unknown"),
            (D::RoleUnknown, 422, "role_unknown"),
            (D::GroupUnknown, 404, "group_unknown"),
            (D::TwoFactorRequired, 403, "two_factor_required"),
            (D::PermissionNotHeld, 403, "permission_not_held"),
            (D::KeyUnknown, 404, "key_unknown"),
            (D::InvalidName, 422, "invalid_name"),
            (D::NameTaken, 409, "name_taken"),
            (D::InvalidEmail, 422, "invalid_email"),
        ];
        for (defect, status, code) in rows {
            assert_eq!(row(Error::Access(defect), NO_SECRET), (status, code, None));
        }
    }

    #[test]
    fn weak_passwords_say_why_and_internal_failures_say_nothing() {
        use PasswordDefect as D;
        for (defect, reason) in [
            (D::TooShort { min: 15 }, "too_short"),
            (D::TooLong { max: 64 }, "too_long"),
            (D::Common, "common"),
            (D::Breached, "breached"),
            (D::Repetitive, "repetitive"),
            (D::Sequential, "sequential"),
            (D::ContainsEmail, "contains_email"),
            (D::ContainsName, "contains_name"),
        ] {
            assert_eq!(
                row(Error::Password(defect), NO_SECRET),
                (422, "weak_password", None)
            );
            let body: serde_json::Value =
                serde_json::from_str(Problem::from(defect).body()).unwrap();
            assert_eq!(body["reason"], reason);
        }
        let short: serde_json::Value =
            serde_json::from_str(Problem::from(D::TooShort { min: 15 }).body()).unwrap();
        assert_eq!(short["min"], 15);
        assert_eq!(
            row(Error::Password(D::BreachCheckUnavailable), NO_SECRET),
            (503, "breach_check_unavailable", Some(RETRY_AFTER_SECS))
        );
        for defect in [
            D::MalformedHash,
            D::UnsupportedHash,
            D::InvalidPolicy,
            D::InvalidParameters,
            D::HashingFailed,
        ] {
            assert_eq!(Problem::from(defect), Problem::internal());
        }
    }

    #[test]
    fn wrong_replayed_and_malformed_codes_answer_alike() {
        use TotpDefect as D;
        let expected = Problem::from(AccountDefect::InvalidSecondFactor);
        for defect in [
            D::WrongCode,
            D::ReplayedCode,
            D::MalformedCode,
            D::RecoveryCodeRefused,
        ] {
            assert_eq!(Problem::from(&Error::Totp(defect)), expected, "{defect:?}");
        }
        for defect in [
            D::SealedSecretUnreadable,
            D::MalformedSealedSecret,
            D::InvalidKeyLength { got: 3 },
            D::KeyEncoding,
            D::MissingKey,
            D::InvalidSecretLength { got: 3 },
            D::InvalidLabel,
            D::QrCode,
        ] {
            assert_eq!(Problem::from(defect), Problem::internal(), "{defect:?}");
        }
    }

    #[test]
    fn every_other_error_has_a_row_and_echoes_no_input() {
        let secret = "vlt_prod_pasted-secret";
        let key: KeyId = "AbCdEf012345".parse().unwrap();
        let rows: Vec<(Error, u16, &str, Option<u32>)> = vec![
            (
                Error::StoreUnavailable(secret.into()),
                503,
                "service_unavailable",
                Some(RETRY_AFTER_SECS),
            ),
            (Error::Conflict(secret.into()), 409, "conflict", None),
            (Error::KeyNotFound(key), 404, "key_not_found", None),
            (Error::KeyRevoked(key), 409, "key_revoked", None),
            (Error::KeyExpired(key), 409, "key_expired", None),
            (
                Error::InvalidPermission(secret.into()),
                422,
                "invalid_permission",
                None,
            ),
            (
                Error::InvalidProductId(secret.into()),
                422,
                "invalid_product_id",
                None,
            ),
            (
                Error::UnknownEnvironment(secret.into()),
                422,
                "unknown_environment",
                None,
            ),
            (
                Error::InvalidKeyName("too long"),
                422,
                "invalid_key_name",
                None,
            ),
            (
                Error::InvalidId {
                    kind: "user",
                    value: secret.into(),
                },
                422,
                "invalid_id",
                None,
            ),
            (Error::InvalidKeyId, 422, "invalid_key_id", None),
            (
                Error::MalformedToken(TokenDefect::BadChecksum),
                422,
                "malformed_api_key",
                None,
            ),
            (Error::NegativeOverlap, 422, "negative_overlap", None),
            (Error::ExpiryNotInFuture, 422, "expiry_not_in_future", None),
        ];
        for (error, status, code, retry_after) in rows {
            assert_eq!(row(error, secret), (status, code, retry_after));
        }
        for error in [
            Error::MissingPepper { min: 32 },
            Error::PepperTooShort { min: 32, got: 3 },
            Error::PepperEncoding,
            Error::InvalidKeyPrefix(secret.into()),
            Error::Randomness,
            Error::Store(secret.into()),
        ] {
            assert_eq!(row(error, secret), (500, "internal_error", None));
        }
        assert_eq!(Problem::from(Error::Randomness), Problem::internal());
    }

    #[test]
    fn callback_errors_answer_as_the_callback_table_says() {
        let defect = CallbackDefect::BodyTooLarge { limit: 8 };
        assert_eq!(
            Problem::from(&Error::Callback(defect)),
            Problem::from(CallbackRejection::new(defect))
        );
    }
}
