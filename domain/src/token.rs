//! JWT claims as SimpleJWT ≥ 5.5 writes them, plus `sid` and fresh user claims.

use serde::{Deserialize, Deserializer, Serialize};

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
    /// The user's id, as a string (SimpleJWT ≥ 5.5); read also as the number older
    /// SimpleJWT versions wrote.
    #[serde(deserialize_with = "string_or_integer")]
    pub user_id: String,
    /// The session: the refresh-token family this token belongs to. Every token
    /// Gatehouse signs has one; a token SimpleJWT signed before the switch has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserClaims>,
}

/// A claim SimpleJWT wrote as a string (≥ 5.5) or as an integer (before).
fn string_or_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StringOrInteger {
        String(String),
        Integer(i64),
    }
    Ok(match StringOrInteger::deserialize(deserializer)? {
        StringOrInteger::String(value) => value,
        StringOrInteger::Integer(value) => value.to_string(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn simplejwt_claims_read_with_a_string_or_an_integer_user_id_and_no_sid() {
        for user_id in [json!("42"), json!(42)] {
            let claims: Claims = serde_json::from_value(json!({
                "token_type": "refresh",
                "exp": 2_000_000_000,
                "iat": 1_700_000_000,
                "jti": "0123456789abcdef0123456789abcdef",
                "user_id": user_id,
            }))
            .unwrap();
            assert_eq!(claims.user_id, "42");
            assert_eq!(claims.sid, None);
            assert_eq!(claims.user, None);
        }
    }

    #[test]
    fn a_user_id_of_another_type_is_refused() {
        for user_id in [json!(4.2), json!(true), json!(null), json!(["42"])] {
            let read = serde_json::from_value::<Claims>(json!({
                "token_type": "access", "exp": 1, "iat": 1, "jti": "x", "user_id": user_id,
            }));
            assert!(read.is_err(), "{user_id}");
        }
    }

    #[test]
    fn a_token_without_a_session_is_written_without_sid() {
        let claims = Claims {
            token_type: TokenType::Access,
            exp: 1,
            iat: 1,
            jti: "x".into(),
            user_id: "1".into(),
            sid: None,
            user: None,
        };
        let written = serde_json::to_value(&claims).unwrap();
        assert!(written.get("sid").is_none(), "{written}");
    }
}
