//! Plain-text passwords and the rules a new one must pass: Django's four default
//! validators, with their exact messages, in Django's order.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

/// A plain-text password on its way to the hasher. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The user attributes a password must not resemble, as Django's
/// `UserAttributeSimilarityValidator` reads them.
#[derive(Debug, Default, Clone, Copy)]
pub struct UserAttributes<'a> {
    pub username: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
}

/// Django's `AUTH_PASSWORD_VALIDATORS` defaults (`passwords.min_length`).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub struct PasswordPolicy {
    pub min_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_length: 8 }
    }
}

const MAX_SIMILARITY: f64 = 0.7;

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

impl PasswordPolicy {
    /// Every message the password earns, empty when it is acceptable.
    pub fn validate(&self, password: &str, user: &UserAttributes<'_>) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(attribute) = too_similar_to(password, user) {
            errors.push(format!("The password is too similar to the {attribute}."));
        }
        if password.chars().count() < self.min_length {
            let noun = if self.min_length == 1 {
                "character"
            } else {
                "characters"
            };
            errors.push(format!(
                "This password is too short. It must contain at least {} {noun}.",
                self.min_length
            ));
        }
        if is_common(password) {
            errors.push("This password is too common.".to_owned());
        }
        if !password.is_empty() && password.chars().all(char::is_numeric) {
            errors.push("This password is entirely numeric.".to_owned());
        }
        errors
    }
}

fn is_common(password: &str) -> bool {
    COMMON_PASSWORDS.contains(password.to_lowercase().trim())
}

/// The verbose name of the first attribute the password resembles, as Django names it.
fn too_similar_to(password: &str, user: &UserAttributes<'_>) -> Option<&'static str> {
    let password: Vec<char> = password.to_lowercase().chars().collect();
    let attributes = [
        ("username", user.username),
        ("first name", user.first_name),
        ("last name", user.last_name),
        ("email address", user.email),
    ];
    attributes.into_iter().find_map(|(verbose_name, value)| {
        if value.is_empty() {
            return None;
        }
        let value = value.to_lowercase();
        // Python's `re.split(r"\W+", value) + [value]`.
        let mut parts: Vec<&str> = value
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .collect();
        parts.push(&value);
        parts
            .into_iter()
            .map(|part| part.chars().collect::<Vec<char>>())
            .filter(|part| !exceeds_maximum_length_ratio(&password, part))
            .any(|part| quick_ratio(&password, &part) >= MAX_SIMILARITY)
            .then_some(verbose_name)
    })
}

fn exceeds_maximum_length_ratio(password: &[char], value: &[char]) -> bool {
    let pwd_len = password.len() as f64;
    let value_len = value.len() as f64;
    pwd_len >= 10.0 * value_len && value_len < MAX_SIMILARITY / 2.0 * pwd_len
}

/// Python's `difflib.SequenceMatcher(a, b).quick_ratio()`: an upper bound on the
/// similarity from the multiset of characters the two strings share.
fn quick_ratio(a: &[char], b: &[char]) -> f64 {
    let total = a.len() + b.len();
    if total == 0 {
        return 1.0;
    }
    let mut available = std::collections::HashMap::<char, usize>::new();
    for c in b {
        *available.entry(*c).or_default() += 1;
    }
    let matches = a
        .iter()
        .filter(|c| match available.get_mut(c) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        })
        .count();
    2.0 * matches as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str) -> Vec<String> {
        PasswordPolicy::default().validate(password, &UserAttributes::default())
    }

    #[test]
    fn a_strong_password_passes() {
        assert!(check("correct horse battery staple").is_empty());
    }

    #[test]
    fn short_common_and_numeric_passwords_get_every_django_message() {
        assert_eq!(
            check("1234567"),
            vec![
                "This password is too short. It must contain at least 8 characters.",
                "This password is too common.",
                "This password is entirely numeric.",
            ]
        );
    }

    #[test]
    fn the_common_list_is_matched_case_insensitively() {
        assert_eq!(check("PassWord1"), vec!["This password is too common."]);
    }

    #[test]
    fn a_password_like_the_email_is_too_similar_to_the_email_address() {
        let user = UserAttributes {
            username: "zed",
            email: "marguerite.dupont@example.com",
            ..UserAttributes::default()
        };
        let errors = PasswordPolicy::default().validate("marguerite.dupont", &user);
        assert_eq!(
            errors,
            vec!["The password is too similar to the email address."]
        );
    }

    #[test]
    fn a_password_like_the_username_names_the_username() {
        let user = UserAttributes {
            username: "bartholomew",
            ..UserAttributes::default()
        };
        let errors = PasswordPolicy::default().validate("Bartholomew7", &user);
        assert_eq!(errors, vec!["The password is too similar to the username."]);
    }

    #[test]
    fn quick_ratio_matches_python() {
        // difflib.SequenceMatcher(a="abcd", b="bcde").quick_ratio() == 0.75
        let a: Vec<char> = "abcd".chars().collect();
        let b: Vec<char> = "bcde".chars().collect();
        assert!((quick_ratio(&a, &b) - 0.75).abs() < 1e-9);
    }

    #[test]
    fn configured_minimum_length_is_used_in_the_message() {
        let policy = PasswordPolicy { min_length: 12 };
        let errors = policy.validate("Zq8!vW3#pL", &UserAttributes::default());
        assert_eq!(
            errors,
            vec!["This password is too short. It must contain at least 12 characters."]
        );
    }
}
