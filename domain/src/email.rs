//! Email addresses as Django takes and stores them: exactly those its `EmailValidator`
//! accepts that a mail server can also be given, the domain part lower-cased.
//!
//! One parser for the whole service: every route that takes an address and the SMTP
//! mailer go through [`EmailAddress::parse`], so no address is accepted that could not
//! be sent to. Django's rules come first; then the `email_address` crate, which lettre
//! checks every recipient with, has its say on the same parts (it adds RFC 5321's
//! 64-byte local part and refuses control characters in quoted strings).

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A valid email address of at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("Enter a valid email address.")]
    Invalid,
    #[error("Ensure this field has no more than 254 characters.")]
    TooLong,
    /// Both, as Django REST framework reports both validators' messages.
    #[error("Ensure this field has no more than 254 characters.")]
    TooLongAndInvalid,
}

impl EmailError {
    /// Every message, in the order DRF's validators give them.
    pub fn messages(&self) -> &'static [&'static str] {
        const TOO_LONG: &str = "Ensure this field has no more than 254 characters.";
        const INVALID: &str = "Enter a valid email address.";
        match self {
            EmailError::Invalid => &[INVALID],
            EmailError::TooLong => &[TOO_LONG],
            EmailError::TooLongAndInvalid => &[TOO_LONG, INVALID],
        }
    }
}

impl EmailAddress {
    pub const MAX_LEN: usize = 254;

    /// Validates as Django's `EmailValidator` (and the mailer) would, then normalises as
    /// Django's `normalize_email` does: surrounding whitespace is dropped and the domain
    /// part lower-cased.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let raw = raw.trim();
        match (raw.chars().count() > Self::MAX_LEN, is_valid(raw)) {
            (true, true) => return Err(EmailError::TooLong),
            (true, false) => return Err(EmailError::TooLongAndInvalid),
            (false, false) => return Err(EmailError::Invalid),
            (false, true) => {}
        }
        let (local, domain) = raw.rsplit_once('@').ok_or(EmailError::Invalid)?;
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Everything before the last `@`, as written.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(local, _)| local)
    }

    /// The domain as a mail server is given it: an internationalised name in its ASCII
    /// (punycode) form, anything else as stored.
    pub fn ascii_domain(&self) -> Cow<'_, str> {
        let domain = self.0.rsplit_once('@').map_or("", |(_, domain)| domain);
        if domain.is_ascii() {
            return Cow::Borrowed(domain);
        }
        idna::domain_to_ascii(domain).map_or(Cow::Borrowed(domain), Cow::Owned)
    }

    /// Builds an address read back from storage, where it was validated on the way in.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Django's `EmailValidator`, and the `email_address` crate on the parts lettre would
/// check. Django refuses more than 320 characters outright.
fn is_valid(value: &str) -> bool {
    if value.is_empty() || value.chars().count() > 320 {
        return false;
    }
    let Some((local, domain)) = value.rsplit_once('@') else {
        return false;
    };
    if !(is_dot_atom(local) || is_quoted_string(local))
        || !email_address::EmailAddress::is_valid_local_part(local)
    {
        return false;
    }
    if domain == "localhost" || is_domain(domain) {
        return email_address::EmailAddress::is_valid_domain(domain);
    }
    // An internationalised domain is judged by its ASCII form, as Django does.
    match idna::domain_to_ascii(domain) {
        Ok(ascii) => is_domain(&ascii) && email_address::EmailAddress::is_valid_domain(&ascii),
        Err(_) => false,
    }
}

/// `atext` of RFC 5322, ASCII only.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// Django's dot-atom: atoms of `atext` joined by single dots.
fn is_dot_atom(local: &str) -> bool {
    local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// Django's quoted string: ASCII but NUL, tab, CR, LF, `"` and `\`, any of which but
/// NUL, LF and CR may follow a backslash.
fn is_quoted_string(local: &str) -> bool {
    let Some(inner) = local
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return false;
    };
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        let ok = match c {
            '\\' => chars
                .next()
                .is_some_and(|escaped| escaped.is_ascii() && !"\0\n\r".contains(escaped)),
            c => c.is_ascii() && !"\0\t\n\r\"\\ ".contains(c),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Django's domain part: a host name with at least two labels and a top-level label of
/// 2–63 letters, digits or hyphens; or an IP address literal in brackets.
fn is_domain(domain: &str) -> bool {
    if let Some(literal) = domain
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        return !literal.is_empty()
            && literal
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            && (literal.parse::<Ipv4Addr>().is_ok() || literal.parse::<Ipv6Addr>().is_ok());
    }
    let Some((labels, top)) = domain.rsplit_once('.') else {
        return false;
    };
    let is_label = |label: &str| {
        (1..=63).contains(&label.len())
            && label.starts_with(|c: char| c.is_ascii_alphanumeric())
            && label.ends_with(|c: char| c.is_ascii_alphanumeric())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    labels.split('.').all(is_label)
        && (2..=63).contains(&top.len())
        && !top.ends_with('-')
        && top.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_part_is_lower_cased_and_local_part_kept() {
        let email = EmailAddress::parse(" Alice.Smith@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "Alice.Smith@example.com");
        assert_eq!(email.local_part(), "Alice.Smith");
        assert_eq!(email.ascii_domain(), "example.com");
    }

    #[test]
    fn what_djangos_email_validator_accepts_is_accepted() {
        let a63 = "a".repeat(63);
        let long_labels = [
            format!("example@atm.{a63}"),
            format!("example@{a63}.atm"),
            format!("example@{a63}.{}.atm", "b".repeat(10)),
        ];
        let accepted = [
            "email@here.com",
            "weirder-email@here.and.there.com",
            "user+tag@example.com",
            "o'brien@example.co.uk",
            "!#$%&'*+-/=?^_`{|}~@example.org",
            "first.last@example.com",
            "a@b.co",
            "example@valid-----hyphens.com",
            "example@xn--p1ai.xn--p1ai",
            "email@localhost",
            "email@[127.0.0.1]",
            "email@[2001:dB8::1]",
            "email@[::fffF:127.0.0.1]",
            "\"test@test\"@example.com",
            "\"a..b\"@example.com",
            "anna@bücher.example",
            "test@domain.with.idn.tld.उदाहरण.परीक्षा",
        ];
        for raw in accepted
            .iter()
            .copied()
            .chain(long_labels.iter().map(String::as_str))
        {
            assert!(EmailAddress::parse(raw).is_ok(), "{raw:?}");
        }
    }

    #[test]
    fn what_djangos_email_validator_refuses_is_refused_with_its_message() {
        let refused = [
            "",
            "plain",
            "a@",
            "@b.com",
            "a b@c.com",
            "a@b@c.com",
            "something@@somewhere.com",
            "a..b@example.com",
            ".a@example.com",
            "a.@example.com",
            "a@b..com",
            "abc@.com",
            "abc@bar",
            "a@example.c",
            "trailingdot@shouldfail.com.",
            "example@invalid-.com",
            "example@-invalid.com",
            "example@invalid.com-",
            "example@inv-.alid-.com",
            "a@example_test.com",
            "a@LOCALHOST",
            "email@127.0.0.1",
            "email@[127.0.0.256]",
            "email@[2001:db8::12345]",
            "email@[2001:dg8::1]",
            "email@[example.com]",
            "jörg@example.com",
            "\"john doe\"@example.com",
            "\"a\"b\"@example.com",
            "test@example.com\n\n<script src=\"x.js\">",
        ];
        for raw in refused {
            assert_eq!(
                EmailAddress::parse(raw).unwrap_err().to_string(),
                "Enter a valid email address.",
                "{raw:?}"
            );
        }
        let too_long_label = format!("example@atm.{}", "a".repeat(64));
        assert_eq!(
            EmailAddress::parse(&too_long_label),
            Err(EmailError::Invalid)
        );
    }

    #[test]
    fn what_the_mailer_refuses_is_refused_though_django_takes_it() {
        // RFC 5321's 64-byte local part, and control characters in a quoted string.
        for raw in [
            format!("{}@example.com", "a".repeat(65)),
            "\"\\\t\"@here.com".to_owned(),
            "\"a\u{1}b\"@here.com".to_owned(),
        ] {
            assert_eq!(
                EmailAddress::parse(&raw),
                Err(EmailError::Invalid),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn an_internationalised_domain_is_stored_as_written_and_mailed_in_ascii() {
        let email = EmailAddress::parse("Anna@BÜCHER.example").unwrap();
        assert_eq!(email.as_str(), "Anna@bücher.example");
        assert_eq!(email.local_part(), "Anna");
        assert_eq!(email.ascii_domain(), "xn--bcher-kva.example");
    }

    #[test]
    fn more_than_254_characters_is_too_long() {
        let label = "b".repeat(60);
        let raw = format!("{}@{label}.{label}.{label}.{label}.com", "a".repeat(60));
        assert_eq!(EmailAddress::parse(&raw), Err(EmailError::TooLong));
        let huge = "a".repeat(10_000);
        let error = EmailAddress::parse(&huge).unwrap_err();
        assert_eq!(
            error.messages(),
            [
                "Ensure this field has no more than 254 characters.",
                "Enter a valid email address."
            ]
        );
    }
}
