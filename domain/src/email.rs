//! Email addresses as Django stores them: validated, domain part lower-cased.

use std::fmt;
use validator::ValidateEmail;

/// A syntactically valid email address of at most 254 characters.
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

    /// Parses and normalises an address the way Django's `normalize_email` does:
    /// surrounding whitespace is dropped and the domain part is lower-cased.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let raw = raw.trim();
        match (raw.chars().count() > Self::MAX_LEN, raw.validate_email()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_part_is_lower_cased_and_local_part_kept() {
        let email = EmailAddress::parse(" Alice.Smith@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "Alice.Smith@example.com");
    }

    #[test]
    fn garbage_is_refused_with_djangos_message() {
        for raw in ["", "plain", "a@", "@b.com", "a b@c.com", "a@b@c.com"] {
            assert_eq!(
                EmailAddress::parse(raw).unwrap_err().to_string(),
                "Enter a valid email address.",
                "{raw:?}"
            );
        }
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
