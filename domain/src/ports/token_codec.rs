//! Port: signing claims into a JWT and verifying one back.

use crate::{Claims, TokenError};

/// Encodes and decodes signed tokens.
///
/// `decode` verifies the signature with the configured algorithm only, `exp` and
/// `nbf` (with the configured leeway), and `iss`/`aud` when configured.
///
/// # Errors
/// `TokenError::Expired` for a token whose `exp` has passed and is otherwise valid;
/// `TokenError::Invalid` for everything else.
pub trait TokenCodec: Clone + Send + Sync + 'static {
    fn encode(&self, claims: &Claims) -> Result<String, TokenError>;

    fn decode(&self, token: &str) -> Result<Claims, TokenError>;
}
