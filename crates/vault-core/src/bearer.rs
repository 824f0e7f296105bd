//! `Authorization: Bearer <token>` parsing on raw header bytes, shared by every adapter.
//!
//! RFC 6750 §2.1: `Bearer 1*SP token68`. The scheme is case-insensitive; surrounding
//! whitespace (RFC 9110 OWS: SP and HTAB only) is ignored; anything else, form feed, CR and
//! LF included, is malformed.

use crate::verdict::{AuthError, HeaderDefect};

/// The longest `Authorization` header considered (bytes).
pub const MAX_HEADER_LEN: usize = 4096;

/// Extracts the token from every `Authorization` header value of a request: none is
/// [`AuthError::MissingKey`], more than one is malformed.
///
/// ```
/// use vault_core::bearer;
///
/// let token = bearer::token_from_headers([b"bearer abc.DEF-123".as_slice()]).unwrap();
/// assert_eq!(token, "abc.DEF-123");
/// assert!(bearer::token_from_headers(Vec::<&[u8]>::new()).is_err());
/// ```
pub fn token_from_headers<'a, I>(values: I) -> Result<&'a str, AuthError>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut values = values.into_iter();
    let first = values.next().ok_or(AuthError::MissingKey)?;
    if values.next().is_some() {
        return Err(AuthError::MalformedHeader(HeaderDefect::SeveralHeaders));
    }
    parse(first)
}

/// Extracts the token from one `Authorization` header value. Spaces and tabs around the
/// value are ignored; a form feed, CR or LF anywhere is [`HeaderDefect::BadCharacters`] (or
/// [`HeaderDefect::NotBearer`] in front of the scheme), never trimmed.
///
/// ```
/// use vault_core::{AuthError, HeaderDefect, bearer};
///
/// assert_eq!(bearer::parse(b" Bearer abc\t"), Ok("abc"));
/// let refused = Err(AuthError::MalformedHeader(HeaderDefect::BadCharacters));
/// assert_eq!(bearer::parse(b"Bearer abc\r\n"), refused);
/// assert_eq!(bearer::parse(b"Bearer \x0cabc"), refused);
/// ```
pub fn parse(value: &[u8]) -> Result<&str, AuthError> {
    let malformed = |defect| Err(AuthError::MalformedHeader(defect));
    if value.len() > MAX_HEADER_LEN {
        return malformed(HeaderDefect::TooLong);
    }
    // OWS only: `trim_ascii` would also drop form feed, CR and LF, which no header may hold.
    let value = trim_ows(value);
    const SCHEME: &[u8] = b"bearer";
    let Some((scheme, rest)) = value.split_at_checked(SCHEME.len()) else {
        return malformed(HeaderDefect::NotBearer);
    };
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return malformed(HeaderDefect::NotBearer);
    }
    match rest.first() {
        None => return malformed(HeaderDefect::EmptyToken),
        Some(b' ') => {}
        // A tab, form feed, CR or LF where the space belongs: the scheme is right, the
        // separator is not.
        Some(b) if b.is_ascii_whitespace() || b.is_ascii_control() => {
            return malformed(HeaderDefect::BadCharacters);
        }
        // `Bearerx...`: another scheme that merely starts with "bearer".
        Some(_) => return malformed(HeaderDefect::NotBearer),
    }
    // `1*SP`: the spaces go; a tab or any other byte left in front fails token68 below.
    let token = &rest[rest.iter().take_while(|b| **b == b' ').count()..];
    if token.is_empty() {
        return malformed(HeaderDefect::EmptyToken);
    }
    if !is_token68(token) {
        return malformed(HeaderDefect::BadCharacters);
    }
    // token68 is ASCII, so this cannot fail.
    std::str::from_utf8(token).or(malformed(HeaderDefect::BadCharacters))
}

/// `value` without leading and trailing `OWS = *( SP / HTAB )`.
fn trim_ows(value: &[u8]) -> &[u8] {
    let ows = |b: &u8| matches!(b, b' ' | b'\t');
    let start = value.iter().take_while(|b| ows(b)).count();
    let end = value.len() - value[start..].iter().rev().take_while(|b| ows(b)).count();
    &value[start..end]
}

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_token68(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|b| **b == b'=').count();
    body_len > 0
        && token[..body_len]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defect(value: &[u8]) -> Option<HeaderDefect> {
        match parse(value) {
            Err(AuthError::MalformedHeader(d)) => Some(d),
            Err(other) => panic!("unexpected {other:?}"),
            Ok(_) => None,
        }
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR abc"] {
            assert_eq!(parse(value.as_bytes()).unwrap(), "abc");
        }
    }

    #[test]
    fn spaces_around_and_between_are_tolerated() {
        assert_eq!(parse(b"Bearer    abc").unwrap(), "abc");
        assert_eq!(parse(b"  Bearer abc  ").unwrap(), "abc");
        assert_eq!(parse(b"Bearer abc\t").unwrap(), "abc");
        assert_eq!(parse(b"\t Bearer abc \t").unwrap(), "abc");
    }

    #[test]
    fn form_feed_cr_and_lf_around_the_token_are_malformed() {
        // Only SP and HTAB are OWS (RFC 9110 §5.6.3); other whitespace is not trimmed.
        for value in [
            b"Bearer abc\x0c".as_slice(),
            b"Bearer abc\r",
            b"Bearer abc\n",
            b"Bearer abc\r\n",
            b"Bearer \x0cabc",
            b"Bearer \rabc",
            b"Bearer \nabc",
            b"Bearer\x0cabc",
            b"Bearer\nabc",
        ] {
            assert_eq!(
                defect(value),
                Some(HeaderDefect::BadCharacters),
                "{value:?}"
            );
        }
        for value in [
            b"\x0cBearer abc".as_slice(),
            b"\rBearer abc",
            b"\nBearer abc",
            b"\r\n Bearer abc",
        ] {
            assert!(defect(value).is_some(), "{value:?}");
        }
    }

    #[test]
    fn a_tab_after_the_scheme_is_malformed() {
        assert_eq!(defect(b"Bearer\tabc"), Some(HeaderDefect::BadCharacters));
        assert_eq!(defect(b"Bearer \tabc"), Some(HeaderDefect::BadCharacters));
    }

    #[test]
    fn other_schemes_are_not_bearer() {
        assert_eq!(defect(b"Basic dXNlcjpwYXNz"), Some(HeaderDefect::NotBearer));
        assert_eq!(defect(b"Bearerabc"), Some(HeaderDefect::NotBearer));
        assert_eq!(defect(b"Token abc"), Some(HeaderDefect::NotBearer));
        assert_eq!(defect(b"abc"), Some(HeaderDefect::NotBearer));
        assert_eq!(defect(b""), Some(HeaderDefect::NotBearer));
    }

    #[test]
    fn empty_tokens_are_malformed() {
        assert_eq!(defect(b"Bearer"), Some(HeaderDefect::EmptyToken));
        assert_eq!(defect(b"Bearer "), Some(HeaderDefect::EmptyToken));
        assert_eq!(defect(b"Bearer    "), Some(HeaderDefect::EmptyToken));
    }

    #[test]
    fn non_token68_characters_are_malformed() {
        for value in [
            "Bearer abc def".as_bytes(),
            "Bearer ab\"c".as_bytes(),
            "Bearer abc,".as_bytes(),
            "Bearer ===".as_bytes(),
            "Bearer a=b".as_bytes(),
            "Bearer ключ".as_bytes(),
            b"Bearer abc\xff",
            b"Bearer abc\0",
        ] {
            assert_eq!(
                defect(value),
                Some(HeaderDefect::BadCharacters),
                "{value:?}"
            );
        }
        assert_eq!(parse(b"Bearer a-b.c_d~e+f/g==").unwrap(), "a-b.c_d~e+f/g==");
    }

    #[test]
    fn long_headers_and_several_headers_are_malformed() {
        let long = format!("Bearer {}", "a".repeat(MAX_HEADER_LEN));
        assert_eq!(defect(long.as_bytes()), Some(HeaderDefect::TooLong));
        let several = token_from_headers([b"Bearer a".as_slice(), b"Bearer b".as_slice()]);
        assert_eq!(
            several,
            Err(AuthError::MalformedHeader(HeaderDefect::SeveralHeaders))
        );
        assert_eq!(
            token_from_headers(Vec::<&[u8]>::new()),
            Err(AuthError::MissingKey)
        );
    }

    proptest::proptest! {
        #[test]
        fn whitespace_other_than_ows_around_the_token_is_refused(
            token in "[A-Za-z0-9._~+/-]{1,40}",
            before in proptest::collection::vec(proptest::sample::select(b" \t\x0c\r\n".to_vec()), 0..4),
            after in proptest::collection::vec(proptest::sample::select(b" \t\x0c\r\n".to_vec()), 0..4),
        ) {
            let mut value = b"Bearer ".to_vec();
            value.extend_from_slice(&before);
            value.extend_from_slice(token.as_bytes());
            value.extend_from_slice(&after);
            let foreign = |bytes: &[u8]| bytes.iter().any(|b| !matches!(b, b' ' | b'\t'));
            let tab_before = before.contains(&b'\t');
            match parse(&value) {
                Ok(parsed) => {
                    proptest::prop_assert_eq!(parsed, token.as_str());
                    proptest::prop_assert!(!foreign(&before) && !foreign(&after) && !tab_before);
                }
                Err(error) => {
                    proptest::prop_assert_eq!(
                        error,
                        AuthError::MalformedHeader(HeaderDefect::BadCharacters)
                    );
                    proptest::prop_assert!(foreign(&before) || foreign(&after) || tab_before);
                }
            }
        }
    }
}
