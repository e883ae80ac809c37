//! `TokenCodec` on jsonwebtoken, HS256 with the configured secret.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use application::config;
use domain::ports::TokenCodec;
use domain::{Claims, TokenError};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The signing algorithms `jwt.algorithm` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum JwtAlgorithm {
    HS256,
}

/// How tokens are signed and checked (`jwt.*`).
#[derive(Debug, Clone, Deserialize)]
pub struct JwtSettings {
    pub algorithm: JwtAlgorithm,
    /// The HS256 secret (`SECRET_KEY`).
    #[serde(default)]
    pub signing_key: Option<SecretString>,
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    /// Retired keys that still verify (key rotation).
    #[serde(deserialize_with = "config::list")]
    pub extra_verification_keys: Vec<String>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
    /// How far past `exp` (and before `nbf`) a token is still accepted.
    #[serde(deserialize_with = "config::duration")]
    pub leeway: Duration,
}

#[derive(Clone)]
pub struct JwtTokenCodec {
    header: Header,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for JwtTokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtTokenCodec")
            .field("algorithm", &self.header.alg)
            .finish_non_exhaustive()
    }
}

/// The claims as they travel: the domain's plus the configured `iss`/`aud`.
#[derive(Serialize, Deserialize)]
struct WireClaims {
    #[serde(flatten)]
    claims: Claims,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
}

impl JwtTokenCodec {
    pub fn new(settings: &JwtSettings) -> Self {
        let secret = settings
            .signing_key
            .as_ref()
            .map_or(&b""[..], |key| key.expose_secret().as_bytes());
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = settings.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.reject_tokens_expiring_in_less_than = 0;
        let mut required: HashSet<String> = ["exp".to_owned()].into();
        match &settings.issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.insert("iss".to_owned());
            }
            None => validation.iss = None,
        }
        match &settings.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.insert("aud".to_owned());
            }
            None => validation.validate_aud = false,
        }
        validation.required_spec_claims = required;
        Self {
            header: Header::new(Algorithm::HS256),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
        }
    }
}

impl TokenCodec for JwtTokenCodec {
    fn encode(&self, claims: &Claims) -> Result<String, TokenError> {
        let wire = WireClaims {
            claims: claims.clone(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        jsonwebtoken::encode(&self.header, &wire, &self.encoding).map_err(|_| TokenError::Invalid)
    }

    fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<WireClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims.claims)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}
