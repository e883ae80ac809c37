//! JWT claims as SimpleJWT ≥ 5.5 writes them, plus `sid` and fresh user claims.

use serde::{Deserialize, Serialize};

/// `token_type` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

/// The user claims an access token carries, computed afresh at every issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserClaims {
    pub username: String,
    pub email: String,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub groups: Vec<String>,
    pub permissions: Vec<String>,
}

/// Every claim of an access or refresh token (`iss`/`aud` are the codec's business).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub token_type: TokenType,
    pub exp: i64,
    pub iat: i64,
    /// 32 lower-case hex characters.
    pub jti: String,
    /// The user's id, as a string (SimpleJWT ≥ 5.5).
    pub user_id: String,
    /// The session: the refresh-token family this token belongs to.
    pub sid: String,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserClaims>,
}

/// Why a token string was refused by the codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, algorithm, shape, claim type, issuer or audience.
    #[error("Token is invalid")]
    Invalid,
    /// `exp` has passed.
    #[error("Token is expired")]
    Expired,
}
