//! Gatehouse's use cases: one module each, over the ports of `domain`, with their
//! commands, outcomes and errors. No I/O here: adapters are injected through `Deps`.

pub mod authorization;
pub mod config;
pub mod django_import;
mod fault;
mod guesses;
pub mod metrics;
mod one_time_tokens;
mod service;
#[cfg(feature = "testing")]
pub mod testing;
mod tokens;
pub mod use_cases;
mod validation;

pub use fault::Fault;
pub use one_time_tokens::OneTimeTokenRejection;
pub use service::{
    AccountSettings, Adapters, Caller, ClientInfo, Deps, Gatehouse, LoginThrottleSettings,
    PasswordChangeSettings, RegistrationSettings, Settings, TokenPair, TokenSettings,
};
pub use tokens::TokenRejection;
pub use validation::ValidationErrors;
