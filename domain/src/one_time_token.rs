//! Single-use email tokens (SPEC §7): a password reset or an account activation,
//! random, stored only as a digest, bound to one purpose, expiring.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::UserId;

/// What a one-time token may be used for; a token of one purpose never serves another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    Reset,
    Activation,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Reset => "reset",
            TokenPurpose::Activation => "activation",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "reset" => Some(TokenPurpose::Reset),
            "activation" => Some(TokenPurpose::Activation),
            _ => None,
        }
    }
}

/// A freshly generated token: `raw` goes into the email and nowhere else, `digest`
/// is what the store keeps. `Debug` hides `raw`.
#[derive(Clone, PartialEq, Eq)]
pub struct NewOneTimeToken {
    pub raw: String,
    pub digest: Vec<u8>,
    pub purpose: TokenPurpose,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for NewOneTimeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewOneTimeToken")
            .field("raw", &"***")
            .field("purpose", &self.purpose)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A new one-time token and the email that carries its link to the token's user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailedToken {
    pub token: NewOneTimeToken,
    pub email: EmailKind,
}

/// A stored token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeTokenRecord {
    pub id: i64,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// The emails Gatehouse sends; each goes to the user the operation concerns.
/// `Debug` hides the tokens.
#[derive(Clone, PartialEq, Eq)]
pub enum EmailKind {
    Activation { token: String },
    ActivationConfirmed,
    PasswordReset { token: String },
    PasswordChanged,
}

impl EmailKind {
    pub fn name(&self) -> &'static str {
        match self {
            EmailKind::Activation { .. } => "activation",
            EmailKind::ActivationConfirmed => "activation_confirmed",
            EmailKind::PasswordReset { .. } => "password_reset",
            EmailKind::PasswordChanged => "password_changed",
        }
    }
}

impl fmt::Debug for EmailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rendered email, ready for a mail server.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailMessage {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl fmt::Debug for EmailMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailMessage")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}
