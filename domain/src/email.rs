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
}

impl EmailAddress {
    pub const MAX_LEN: usize = 254;

    /// Parses and normalises an address the way Django's `normalize_email` does:
    /// surrounding whitespace is dropped and the domain part is lower-cased.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let raw = raw.trim();
        if raw.chars().count() > Self::MAX_LEN {
            return Err(EmailError::TooLong);
        }
        if !raw.validate_email() {
            return Err(EmailError::Invalid);
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
        let raw = format!("{}@example.com", "a".repeat(250));
        assert_eq!(EmailAddress::parse(&raw), Err(EmailError::TooLong));
    }
}
