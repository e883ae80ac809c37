//! `TokenCodec` on jsonwebtoken: signs with the configured key and names it in `kid`;
//! verifies with the key a token's `kid` names, in that key's one algorithm.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use application::config;
use domain::ports::TokenCodec;
use domain::{Claims, TokenError};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::jwt_keys::{self, JwtAlgorithm, KeyError, KeySources, VerificationKey};

/// How tokens are signed and checked (`jwt.*`).
#[derive(Debug, Clone, Deserialize)]
pub struct JwtSettings {
    pub algorithm: JwtAlgorithm,
    /// The HS256 secret (`SECRET_KEY`).
    #[serde(default)]
    pub signing_key: Option<SecretString>,
    /// The private key asymmetric algorithms sign with (PEM).
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// Its public key (PEM), checked against it; derived from it when unset.
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    /// Files of keys that verify but do not sign (key rotation): PEM public keys, or
    /// retired HS256 secrets as text.
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

/// A verification key with the validation of its one algorithm.
struct Verifier {
    key: VerificationKey,
    validation: Validation,
}

#[derive(Clone)]
pub struct JwtTokenCodec {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    header: Header,
    algorithm: JwtAlgorithm,
    encoding: EncodingKey,
    verifiers: Vec<Verifier>,
    jwks: JwkSet,
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for JwtTokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtTokenCodec")
            .field("algorithm", &self.inner.algorithm)
            .field("kid", &self.inner.header.kid)
            .finish_non_exhaustive()
    }
}

/// A key `gatehouse check` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyReport {
    pub kid: String,
    pub algorithm: JwtAlgorithm,
    /// Tokens are signed with it (else it only verifies).
    pub signs: bool,
    /// Published in the JWK Set.
    pub published: bool,
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
    /// Reads and checks the keys; an error names the setting and the file.
    pub fn new(settings: &JwtSettings) -> Result<Self, KeyError> {
        let ring = jwt_keys::load(&KeySources {
            algorithm: settings.algorithm,
            signing_key: settings
                .signing_key
                .as_ref()
                .map(|key| key.expose_secret().as_bytes()),
            private_key_file: settings.private_key_file.as_deref(),
            public_key_file: settings.public_key_file.as_deref(),
            extra_verification_keys: &settings.extra_verification_keys,
        })?;
        let mut template = Validation::new(ring.algorithm.jose());
        template.leeway = settings.leeway.as_secs();
        template.validate_exp = true;
        template.validate_nbf = true;
        template.reject_tokens_expiring_in_less_than = 0;
        let mut required: HashSet<String> = ["exp".to_owned()].into();
        match &settings.issuer {
            Some(issuer) => {
                template.set_issuer(&[issuer]);
                required.insert("iss".to_owned());
            }
            None => template.iss = None,
        }
        match &settings.audience {
            Some(audience) => {
                template.set_audience(&[audience]);
                required.insert("aud".to_owned());
            }
            None => template.validate_aud = false,
        }
        template.required_spec_claims = required;
        let jwks = JwkSet {
            keys: ring
                .verifying
                .iter()
                .filter_map(|key| key.public.clone())
                .collect(),
        };
        let verifiers = ring
            .verifying
            .into_iter()
            .map(|key| {
                let mut validation = template.clone();
                // The key's algorithm, and no other, whatever the token's header says.
                validation.algorithms = vec![key.algorithm.jose()];
                Verifier { key, validation }
            })
            .collect();
        let mut header = Header::new(ring.algorithm.jose());
        header.kid = Some(ring.signing_kid);
        Ok(Self {
            inner: std::sync::Arc::new(Inner {
                header,
                algorithm: ring.algorithm,
                encoding: ring.encoding,
                verifiers,
                jwks,
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
            }),
        })
    }

    /// The public keys that verify tokens, as a JWK Set (empty when only secrets do).
    pub fn jwks(&self) -> &JwkSet {
        &self.inner.jwks
    }

    /// The signing key first, then every key that only verifies.
    pub fn keys(&self) -> Vec<KeyReport> {
        self.inner
            .verifiers
            .iter()
            .enumerate()
            .map(|(index, verifier)| KeyReport {
                kid: verifier.key.kid.clone(),
                algorithm: verifier.key.algorithm,
                signs: index == 0,
                published: verifier.key.public.is_some(),
            })
            .collect()
    }
}

impl TokenCodec for JwtTokenCodec {
    fn encode(&self, claims: &Claims) -> Result<String, TokenError> {
        let inner = &*self.inner;
        let wire = WireClaims {
            claims: claims.clone(),
            iss: inner.issuer.clone(),
            aud: inner.audience.clone(),
        };
        jsonwebtoken::encode(&inner.header, &wire, &inner.encoding).map_err(|_| TokenError::Invalid)
    }

    /// The key is the one `kid` names, or, for a token without `kid` (signed before
    /// keys had ids, or by SimpleJWT), each key in turn; the token's `alg` must be that
    /// key's algorithm. `jwk`, `jku`, `x5u` and `x5c` headers are never looked at.
    fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let verifiers = &self.inner.verifiers;
        let candidates = verifiers.iter().filter(|verifier| {
            header
                .kid
                .as_deref()
                .is_none_or(|kid| kid == verifier.key.kid)
                && verifier.key.algorithm.jose() == header.alg
        });
        for verifier in candidates {
            match jsonwebtoken::decode::<WireClaims>(
                token,
                &verifier.key.decoding,
                &verifier.validation,
            ) {
                Ok(data) => return Ok(data.claims.claims),
                // The signature held: the token is this key's, and expired.
                Err(error) if *error.kind() == ErrorKind::ExpiredSignature => {
                    return Err(TokenError::Expired);
                }
                Err(_) => {}
            }
        }
        Err(TokenError::Invalid)
    }
}
