//! Failures that are nobody's fault in the request: the store is down, or a bug.

use domain::ports::HashError;
use domain::{BoxError, RepositoryError};

/// What every use case can fail with besides its own outcomes.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    /// A dependency could not be reached in time: answered with 503.
    #[error("a dependency is unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else: logged with its causes, answered with 500.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<RepositoryError> for Fault {
    fn from(error: RepositoryError) -> Self {
        match error {
            RepositoryError::Unavailable(cause) => Fault::Unavailable(cause),
            // The adapter's cause chain says what it was doing (`while …`).
            RepositoryError::Unexpected(cause) => {
                Fault::Unexpected(anyhow::Error::from_boxed(cause))
            }
        }
    }
}

impl From<HashError> for Fault {
    fn from(error: HashError) -> Self {
        Fault::Unexpected(anyhow::Error::new(error))
    }
}

/// Lets a use-case error enum with a `Fault(Fault)` variant take `?` on port errors.
macro_rules! faults_into {
    ($error:ty) => {
        impl From<domain::RepositoryError> for $error {
            fn from(error: domain::RepositoryError) -> Self {
                Self::Fault(error.into())
            }
        }
        impl From<domain::ports::HashError> for $error {
            fn from(error: domain::ports::HashError) -> Self {
                Self::Fault(error.into())
            }
        }
        impl From<$crate::Fault> for $error {
            fn from(error: $crate::Fault) -> Self {
                Self::Fault(error)
            }
        }
    };
}
pub(crate) use faults_into;
