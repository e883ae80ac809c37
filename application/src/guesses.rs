//! The per-account budget of password guesses (`login_account`, SPEC §8), shared by
//! every route that checks a password: login in all its forms, password change and
//! deleting one's account. A check takes its place in the account's window *before*
//! the hash is compared — concurrent guesses cannot all pass a check that none of them
//! has been counted in yet — and hands it back when the password was right, so the
//! owner signing in spends nothing. The window is the account's, by id: however the
//! username or email is spelt, one account has one budget.

use std::time::Duration;

use domain::ports::{AuditLog, PasswordCheck, PasswordHasher, RateLimiter, TokenGenerator};
use domain::throttle::{Reservation, Ticket};
use domain::{AuditKind, Password, User, UserId};

use crate::{ClientInfo, Deps, Fault, Gatehouse};

/// Whose budget a password check spends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Account<'a> {
    /// An account that exists.
    Known(UserId),
    /// A name no account answers to, as the store would match it (an email
    /// lower-cased): guessing at it costs the same as at a real one.
    Unknown(&'a str),
}

/// A place taken in an account's window; `None` when the limiter could not be asked
/// and the check goes ahead uncounted (`fail_closed_login` off).
#[must_use = "a guess is settled once its outcome is known"]
pub(crate) struct Guess(Option<Ticket>);

/// Why a password may not be checked now.
#[derive(Debug)]
pub(crate) enum GuessRefused {
    /// The account's window is full.
    Throttled {
        retry_after: Duration,
    },
    Fault(Fault),
}

/// Lets a use-case error enum with `Throttled { retry_after }` and `Fault(Fault)`
/// variants take `?` on a refused guess.
macro_rules! guesses_into {
    ($error:ty) => {
        impl From<$crate::guesses::GuessRefused> for $error {
            fn from(refused: $crate::guesses::GuessRefused) -> Self {
                match refused {
                    $crate::guesses::GuessRefused::Throttled { retry_after } => {
                        Self::Throttled { retry_after }
                    }
                    $crate::guesses::GuessRefused::Fault(fault) => Self::Fault(fault),
                }
            }
        }
    };
}
pub(crate) use guesses_into;

impl<E: Into<Fault>> From<E> for GuessRefused {
    fn from(error: E) -> Self {
        GuessRefused::Fault(error.into())
    }
}

/// Lower-case hex of the first 16 bytes of a digest.
fn short_hex(digest: &[u8]) -> String {
    digest
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl<D: Deps> Gatehouse<D> {
    /// Takes a place in the account's window, or says why not.
    pub(crate) async fn reserve_guess(&self, account: Account<'_>) -> Result<Guess, GuessRefused> {
        let settings = &self.settings.login_throttle;
        // Hashed: a key never holds what the client typed, whatever its length.
        let key = match account {
            // A scope of its own: the in-process store bounds and evicts each scope
            // apart, so a flood of made-up names cannot push real accounts' budgets out.
            Account::Known(id) => format!("login_account_user:{id}"),
            Account::Unknown(name) => format!(
                "login_account:{}",
                short_hex(&self.adapters.random_tokens.digest(name))
            ),
        };
        match self
            .adapters
            .rate_limiter
            .reserve(&key, settings.login_account)
            .await
        {
            Ok(Reservation::Granted(ticket)) => Ok(Guess(Some(ticket))),
            Ok(Reservation::Throttled { retry_after }) => {
                Err(GuessRefused::Throttled { retry_after })
            }
            Err(error) if settings.fail_closed_login => {
                Err(GuessRefused::Fault(Fault::Unavailable(error.into())))
            }
            Err(error) => {
                tracing::debug!(error = %error, "the guess limiter failed: the check goes ahead");
                Ok(Guess(None))
            }
        }
    }

    /// Whether `password` is the signed-in user's, checked under his budget of
    /// guesses (for the routes that ask for the current password: `action` names
    /// which). A wrong one keeps its place in the window and is recorded
    /// (`password.check_failed`), as a failed login is.
    pub(crate) async fn check_password(
        &self,
        user: &User,
        password: &Password,
        client: &ClientInfo,
        action: &'static str,
    ) -> Result<bool, GuessRefused> {
        let guess = self.reserve_guess(Account::Known(user.id)).await?;
        let checked = self
            .adapters
            .hasher
            .verify(password, &user.password_hash)
            .await;
        let wrong = matches!(checked, Ok(PasswordCheck::Mismatch));
        self.settle_guess(guess, wrong).await;
        checked?;
        if wrong {
            let event = self
                .event(AuditKind::PasswordCheckFailed, client)
                .by_self(user.id)
                .detail("action", action);
            self.adapters.audit.record(event).await?;
        }
        Ok(!wrong)
    }

    /// Keeps the place for a wrong password; hands it back otherwise (a right one, or
    /// a fault that left the guess unanswered).
    pub(crate) async fn settle_guess(&self, guess: Guess, wrong: bool) {
        if let (false, Some(ticket)) = (wrong, guess.0)
            && let Err(error) = self.adapters.rate_limiter.refund(ticket).await
        {
            tracing::debug!(error = %error, "the guess limiter failed to refund a right password");
        }
    }
}
