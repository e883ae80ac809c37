//! Usernames as Django's `UnicodeUsernameValidator` accepts them.

use std::fmt;

use crate::user::NAME_MAX_CHARS;

/// At most `NAME_MAX_CHARS` (150) characters: letters, digits and `@ . + - _`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error(
        "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
    )]
    Invalid,
    #[error("Ensure this field has no more than {NAME_MAX_CHARS} characters.")]
    TooLong,
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        if raw.chars().count() > NAME_MAX_CHARS {
            return Err(UsernameError::TooLong);
        }
        let allowed = |c: char| c.is_alphanumeric() || matches!(c, '@' | '.' | '+' | '-' | '_');
        if raw.is_empty() || !raw.chars().all(allowed) {
            return Err(UsernameError::Invalid);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Builds a username read back from storage, where it was validated on the way in.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_digits_and_the_five_symbols_are_accepted() {
        for ok in ["alice", "a.b+c-d_e@f", "Zoë_99", "user@example.com"] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn spaces_slashes_and_quotes_are_refused() {
        for bad in ["", "a b", "a/b", "a'b", "<script>", "a\u{0}b"] {
            assert_eq!(Username::parse(bad), Err(UsernameError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn more_than_150_characters_is_too_long() {
        assert_eq!(
            Username::parse(&"a".repeat(151)),
            Err(UsernameError::TooLong)
        );
        assert!(Username::parse(&"a".repeat(150)).is_ok());
    }
}
