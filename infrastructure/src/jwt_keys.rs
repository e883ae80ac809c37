//! The keys tokens are signed and verified with: read from PEM files (PKCS#8, and
//! RSA's and EC's traditional forms), named by their RFC 7638 thumbprint, published as
//! JWKs, and made new for `gatehouse keys generate`.
//!
//! The key formats are the RustCrypto crates' (`pem`, then `pkcs8`, `sec1` and `pkcs1`
//! through `ed25519-dalek`, `p256` and `rsa`); the JWK types and the thumbprint are
//! jsonwebtoken's. Nothing here signs or verifies: jsonwebtoken does, with these keys.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, KeyAlgorithm, OctetKeyPairParameters, OctetKeyPairType,
    OctetKeyParameters, OctetKeyType, PublicKeyUse, RSAKeyParameters, RSAKeyType, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand_core_06::OsRng;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use serde::Deserialize;
use zeroize::Zeroizing;

/// The signing algorithms `jwt.algorithm` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum JwtAlgorithm {
    HS256,
    EdDSA,
    ES256,
    RS256,
}

impl JwtAlgorithm {
    pub const ASYMMETRIC: [JwtAlgorithm; 3] = [Self::EdDSA, Self::ES256, Self::RS256];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }

    pub(crate) fn jose(self) -> Algorithm {
        match self {
            Self::HS256 => Algorithm::HS256,
            Self::EdDSA => Algorithm::EdDSA,
            Self::ES256 => Algorithm::ES256,
            Self::RS256 => Algorithm::RS256,
        }
    }

    fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            Self::HS256 => KeyAlgorithm::HS256,
            Self::EdDSA => KeyAlgorithm::EdDSA,
            Self::ES256 => KeyAlgorithm::ES256,
            Self::RS256 => KeyAlgorithm::RS256,
        }
    }

    /// The kind of key the algorithm signs with, for messages.
    fn key_kind(self) -> &'static str {
        match self {
            Self::HS256 => "an HS256 secret",
            Self::EdDSA => "an Ed25519 key",
            Self::ES256 => "a P-256 key",
            Self::RS256 => "an RSA key",
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for JwtAlgorithm {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [Self::HS256, Self::EdDSA, Self::ES256, Self::RS256]
            .into_iter()
            .find(|algorithm| algorithm.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("unknown algorithm {name:?}: HS256, EdDSA, ES256 or RS256"))
    }
}

/// The smallest RSA modulus RS256 signs or verifies with.
const MIN_RSA_BITS: usize = 2048;
/// The shortest retired HS256 secret `jwt.extra_verification_keys` takes.
const MIN_SECRET_BYTES: usize = 32;

/// A key that cannot be used: the setting, the file, and why. Never the key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {setting}{}: {reason}", file_suffix(.file))]
pub struct KeyError {
    setting: &'static str,
    file: Option<PathBuf>,
    reason: String,
}

fn file_suffix(file: &Option<PathBuf>) -> String {
    file.as_ref()
        .map(|path| format!(" ({})", path.display()))
        .unwrap_or_default()
}

impl KeyError {
    fn new(setting: &'static str, file: Option<&Path>, reason: impl Into<String>) -> Self {
        Self {
            setting,
            file: file.map(Path::to_path_buf),
            reason: reason.into(),
        }
    }
}

/// A private key of one of the asymmetric algorithms.
enum PrivateKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::SecretKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

impl PrivateKey {
    fn algorithm(&self) -> JwtAlgorithm {
        match self {
            Self::Ed25519(_) => JwtAlgorithm::EdDSA,
            Self::P256(_) => JwtAlgorithm::ES256,
            Self::Rsa(_) => JwtAlgorithm::RS256,
        }
    }

    fn public_key(&self) -> PublicKey {
        match self {
            Self::Ed25519(key) => PublicKey::Ed25519(key.verifying_key()),
            Self::P256(key) => PublicKey::P256(key.public_key()),
            Self::Rsa(key) => PublicKey::Rsa(key.to_public_key()),
        }
    }

    /// The key in the DER form jsonwebtoken's signers read: PKCS#8 for Ed25519 and
    /// P-256, PKCS#1 for RSA.
    fn encoding_key(&self) -> Result<EncodingKey, String> {
        let der = match self {
            Self::Ed25519(key) => ed25519_pkcs8(key)?,
            Self::P256(key) => key.to_pkcs8_der().map_err(|e| e.to_string())?,
            Self::Rsa(key) => key.to_pkcs1_der().map_err(|e| e.to_string())?,
        };
        Ok(match self {
            Self::Ed25519(_) => EncodingKey::from_ed_der(der.as_bytes()),
            Self::P256(_) => EncodingKey::from_ec_der(der.as_bytes()),
            Self::Rsa(_) => EncodingKey::from_rsa_der(der.as_bytes()),
        })
    }

    /// PKCS#8 PEM.
    fn to_pem(&self) -> Result<Zeroizing<String>, String> {
        let der = match self {
            Self::Ed25519(key) => ed25519_pkcs8(key)?,
            Self::P256(key) => key.to_pkcs8_der().map_err(|e| e.to_string())?,
            Self::Rsa(key) => rsa::pkcs8::EncodePrivateKey::to_pkcs8_der(key.as_ref())
                .map_err(|e| e.to_string())?,
        };
        let block = pem::Pem::new("PRIVATE KEY", der.as_bytes());
        Ok(Zeroizing::new(encode_pem(&block)))
    }

    fn generate(algorithm: JwtAlgorithm) -> Result<Self, String> {
        Ok(match algorithm {
            JwtAlgorithm::EdDSA => Self::Ed25519(ed25519_dalek::SigningKey::generate(&mut OsRng)),
            JwtAlgorithm::ES256 => Self::P256(p256::SecretKey::random(&mut OsRng)),
            JwtAlgorithm::RS256 => Self::Rsa(Box::new(
                rsa::RsaPrivateKey::new(&mut OsRng, MIN_RSA_BITS).map_err(|e| e.to_string())?,
            )),
            JwtAlgorithm::HS256 => {
                return Err(
                    "an HS256 secret is no key pair: set SECRET_KEY to 32 or more random bytes"
                        .into(),
                );
            }
        })
    }
}

/// An Ed25519 key as PKCS#8 v1 (RFC 8410: the seed alone), the form OpenSSL writes
/// and reads; ed25519-dalek's own adds the public key in a form OpenSSL 3.0 refuses.
fn ed25519_pkcs8(
    key: &ed25519_dalek::SigningKey,
) -> Result<ed25519_dalek::pkcs8::spki::der::SecretDocument, String> {
    ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_der()
    .map_err(|e| e.to_string())
}

/// The public key of an asymmetric key pair.
#[derive(Clone)]
enum PublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::PublicKey),
    Rsa(rsa::RsaPublicKey),
}

impl PublicKey {
    fn algorithm(&self) -> JwtAlgorithm {
        match self {
            Self::Ed25519(_) => JwtAlgorithm::EdDSA,
            Self::P256(_) => JwtAlgorithm::ES256,
            Self::Rsa(_) => JwtAlgorithm::RS256,
        }
    }

    /// Refuses keys too weak to trust a signature of.
    fn check_strength(&self) -> Result<(), String> {
        match self {
            Self::Rsa(key) if key.n().bits() < MIN_RSA_BITS => Err(format!(
                "is a {}-bit RSA key; RS256 needs at least {MIN_RSA_BITS} bits",
                key.n().bits()
            )),
            Self::Ed25519(key) if key.is_weak() => {
                Err("is a weak (small-order) Ed25519 key".into())
            }
            _ => Ok(()),
        }
    }

    /// The key's parameters as a JWK (RFC 7517/7518/8037), without `kid`.
    fn jwk_parameters(&self) -> AlgorithmParameters {
        match self {
            Self::Ed25519(key) => AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(key.as_bytes()),
            }),
            Self::P256(key) => {
                let point = key.to_encoded_point(false);
                let coordinate = |c: Option<&p256::FieldBytes>| {
                    URL_SAFE_NO_PAD.encode(c.expect("an uncompressed point has x and y"))
                };
                AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                    key_type: EllipticCurveKeyType::EC,
                    curve: EllipticCurve::P256,
                    x: coordinate(point.x()),
                    y: coordinate(point.y()),
                })
            }
            Self::Rsa(key) => AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                e: URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
            }),
        }
    }

    fn decoding_key(&self) -> DecodingKey {
        match self {
            Self::Ed25519(key) => DecodingKey::from_ed_der(key.as_bytes()),
            Self::P256(key) => DecodingKey::from_ec_der(key.to_encoded_point(false).as_bytes()),
            Self::Rsa(key) => {
                DecodingKey::from_rsa_raw_components(&key.n().to_bytes_be(), &key.e().to_bytes_be())
            }
        }
    }

    /// SubjectPublicKeyInfo PEM.
    fn to_pem(&self) -> Result<String, String> {
        let der = match self {
            Self::Ed25519(key) => key.to_public_key_der(),
            Self::P256(key) => key.to_public_key_der(),
            Self::Rsa(key) => rsa::pkcs8::EncodePublicKey::to_public_key_der(key),
        }
        .map_err(|e| e.to_string())?;
        Ok(encode_pem(&pem::Pem::new("PUBLIC KEY", der.as_bytes())))
    }
}

/// PEM with Unix line endings (the `pem` crate writes CRLF by default), as OpenSSL writes.
fn encode_pem(block: &pem::Pem) -> String {
    pem::encode_config(
        block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The RFC 7638 thumbprint (SHA-256, base64url) of a key's JWK parameters.
fn thumbprint(parameters: &AlgorithmParameters) -> String {
    let jwk = Jwk {
        common: CommonParameters::default(),
        algorithm: parameters.clone(),
    };
    jwk.thumbprint(ThumbprintHash::SHA256)
        .expect("every key type made here has a thumbprint")
}

/// A key tokens are verified with, bound to its one algorithm.
pub(crate) struct VerificationKey {
    /// The RFC 7638 thumbprint of the key.
    pub kid: String,
    pub algorithm: JwtAlgorithm,
    pub decoding: DecodingKey,
    /// The JWK published for it; `None` for a secret.
    pub public: Option<Jwk>,
}

impl VerificationKey {
    fn secret(secret: &[u8]) -> Self {
        let kid = thumbprint(&AlgorithmParameters::OctetKey(OctetKeyParameters {
            key_type: OctetKeyType::Octet,
            value: URL_SAFE_NO_PAD.encode(secret),
        }));
        Self {
            kid,
            algorithm: JwtAlgorithm::HS256,
            decoding: DecodingKey::from_secret(secret),
            public: None,
        }
    }

    fn public(key: &PublicKey) -> Self {
        let parameters = key.jwk_parameters();
        let kid = thumbprint(&parameters);
        let jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(key.algorithm().key_algorithm()),
                key_id: Some(kid.clone()),
                ..CommonParameters::default()
            },
            algorithm: parameters,
        };
        Self {
            kid,
            algorithm: key.algorithm(),
            decoding: key.decoding_key(),
            public: Some(jwk),
        }
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The key tokens are signed with, and every key that verifies them: the signing
/// key's own first, then the extra (retired or coming) ones.
pub(crate) struct KeyRing {
    pub signing_kid: String,
    pub algorithm: JwtAlgorithm,
    pub encoding: EncodingKey,
    pub verifying: Vec<VerificationKey>,
}

/// Where the keys come from (`jwt.*`).
pub(crate) struct KeySources<'a> {
    pub algorithm: JwtAlgorithm,
    pub signing_key: Option<&'a [u8]>,
    pub private_key_file: Option<&'a Path>,
    pub public_key_file: Option<&'a Path>,
    pub extra_verification_keys: &'a [String],
}

/// Reads and checks every key; an error names the setting and the file.
pub(crate) fn load(sources: &KeySources<'_>) -> Result<KeyRing, KeyError> {
    let algorithm = sources.algorithm;
    let (own, encoding) = match algorithm {
        JwtAlgorithm::HS256 => {
            for (setting, file) in [
                ("jwt.private_key_file", sources.private_key_file),
                ("jwt.public_key_file", sources.public_key_file),
            ] {
                if let Some(file) = file {
                    return Err(KeyError::new(
                        setting,
                        Some(file),
                        "key files need jwt.algorithm EdDSA, ES256 or RS256; HS256 signs with jwt.signing_key",
                    ));
                }
            }
            let secret = sources
                .signing_key
                .filter(|secret| !secret.is_empty())
                .ok_or_else(|| {
                    KeyError::new(
                        "jwt.signing_key",
                        None,
                        "required when jwt.algorithm is HS256",
                    )
                })?;
            (
                VerificationKey::secret(secret),
                EncodingKey::from_secret(secret),
            )
        }
        _ => {
            let file = sources.private_key_file.ok_or_else(|| {
                KeyError::new(
                    "jwt.private_key_file",
                    None,
                    format!("required when jwt.algorithm is {algorithm}"),
                )
            })?;
            let refused =
                |reason: String| KeyError::new("jwt.private_key_file", Some(file), reason);
            let private =
                private_key(&read_blocks("jwt.private_key_file", file)?).map_err(refused)?;
            if private.algorithm() != algorithm {
                return Err(refused(format!(
                    "holds {}, but jwt.algorithm is {algorithm}, which signs with {}",
                    private.algorithm().key_kind(),
                    algorithm.key_kind()
                )));
            }
            warn_when_readable_by_others(file);
            let public = private.public_key();
            public.check_strength().map_err(refused)?;
            let own = VerificationKey::public(&public);
            if let Some(public_file) = sources.public_key_file {
                let given = public_key(&read_blocks("jwt.public_key_file", public_file)?, false)
                    .map_err(|reason| {
                        KeyError::new("jwt.public_key_file", Some(public_file), reason)
                    })?;
                if VerificationKey::public(&given).kid != own.kid {
                    return Err(KeyError::new(
                        "jwt.public_key_file",
                        Some(public_file),
                        format!(
                            "does not match jwt.private_key_file ({}): it is the public half of another key",
                            file.display()
                        ),
                    ));
                }
            }
            (own, private.encoding_key().map_err(refused)?)
        }
    };
    let mut ring = KeyRing {
        signing_kid: own.kid.clone(),
        algorithm,
        encoding,
        verifying: vec![own],
    };
    for entry in sources.extra_verification_keys {
        let key = extra_verification_key(Path::new(entry))?;
        if ring.verifying.iter().all(|known| known.kid != key.kid) {
            ring.verifying.push(key);
        }
    }
    Ok(ring)
}

/// An entry of `jwt.extra_verification_keys`: a file holding a PEM key (public, or
/// private for its public half) or, for HS256, a secret as text.
fn extra_verification_key(file: &Path) -> Result<VerificationKey, KeyError> {
    const SETTING: &str = "jwt.extra_verification_keys";
    let refused = |reason: String| KeyError::new(SETTING, Some(file), reason);
    let bytes = read_file(SETTING, file)?;
    if bytes.windows(11).any(|window| window == b"-----BEGIN ") {
        let key = public_key(&parse_blocks(&bytes).map_err(refused)?, true).map_err(refused)?;
        key.check_strength().map_err(refused)?;
        return Ok(VerificationKey::public(&key));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| refused("holds neither a PEM key nor an HS256 secret as text".into()))?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.len() < MIN_SECRET_BYTES {
        return Err(refused(format!(
            "holds an HS256 secret of {} bytes; it must have at least {MIN_SECRET_BYTES}",
            secret.len()
        )));
    }
    Ok(VerificationKey::secret(secret.as_bytes()))
}

fn read_file(setting: &'static str, file: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    std::fs::read(file)
        .map(Zeroizing::new)
        .map_err(|error| KeyError::new(setting, Some(file), format!("cannot be read: {error}")))
}

fn read_blocks(setting: &'static str, file: &Path) -> Result<Vec<pem::Pem>, KeyError> {
    let bytes = read_file(setting, file)?;
    parse_blocks(&bytes).map_err(|reason| KeyError::new(setting, Some(file), reason))
}

fn parse_blocks(bytes: &[u8]) -> Result<Vec<pem::Pem>, String> {
    match pem::parse_many(bytes) {
        Ok(blocks) if !blocks.is_empty() => Ok(blocks),
        Ok(_) => Err("holds no PEM key (-----BEGIN …-----)".into()),
        Err(_) => Err("is not a readable PEM file".into()),
    }
}

/// The first private key among the blocks: PKCS#8 (Ed25519, P-256, RSA), SEC1
/// `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`. `EC PARAMETERS` is skipped.
fn private_key(blocks: &[pem::Pem]) -> Result<PrivateKey, String> {
    for block in blocks {
        let der = block.contents();
        return match block.tag() {
            "PRIVATE KEY" => ed25519_dalek::SigningKey::from_pkcs8_der(der)
                .map(PrivateKey::Ed25519)
                .or_else(|_| p256::SecretKey::from_pkcs8_der(der).map(PrivateKey::P256))
                .or_else(|_| {
                    rsa::RsaPrivateKey::from_pkcs8_der(der).map(|k| PrivateKey::Rsa(Box::new(k)))
                })
                .map_err(|_| {
                    "holds a PKCS#8 private key that is not Ed25519, P-256 or RSA (or is damaged)"
                        .to_owned()
                }),
            "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(der)
                .map(PrivateKey::P256)
                .map_err(|_| "holds an EC private key that is not on P-256 (or is damaged)".into()),
            "RSA PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs1_der(der)
                .map(|k| PrivateKey::Rsa(Box::new(k)))
                .map_err(|_| "holds a damaged RSA private key".into()),
            "ENCRYPTED PRIVATE KEY" => Err(
                "holds an encrypted private key; decrypt it first (openssl pkey -in FILE -out PLAIN)"
                    .into(),
            ),
            "PUBLIC KEY" | "RSA PUBLIC KEY" => {
                Err("holds a public key; this setting takes the private key".into())
            }
            "EC PARAMETERS" => continue,
            other => Err(format!("holds a PEM block {other:?}, not a private key")),
        };
    }
    Err("holds no private key".into())
}

/// The first public key among the blocks: SubjectPublicKeyInfo (Ed25519, P-256, RSA)
/// or PKCS#1 `RSA PUBLIC KEY`; with `or_private`, the public half of a private key.
fn public_key(blocks: &[pem::Pem], or_private: bool) -> Result<PublicKey, String> {
    for block in blocks {
        let der = block.contents();
        return match block.tag() {
            "PUBLIC KEY" => ed25519_dalek::VerifyingKey::from_public_key_der(der)
                .map(PublicKey::Ed25519)
                .or_else(|_| p256::PublicKey::from_public_key_der(der).map(PublicKey::P256))
                .or_else(|_| rsa::RsaPublicKey::from_public_key_der(der).map(PublicKey::Rsa))
                .map_err(|_| {
                    "holds a public key that is not Ed25519, P-256 or RSA (or is damaged)"
                        .to_owned()
                }),
            "RSA PUBLIC KEY" => rsa::RsaPublicKey::from_pkcs1_der(der)
                .map(PublicKey::Rsa)
                .map_err(|_| "holds a damaged RSA public key".into()),
            "EC PARAMETERS" => continue,
            _ if or_private => private_key(blocks).map(|key| key.public_key()),
            "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => {
                Err("holds a private key; this setting takes the public key".into())
            }
            other => Err(format!("holds a PEM block {other:?}, not a public key")),
        };
    }
    Err("holds no public key".into())
}

/// A private key file others can read is worth a warning, not a refusal.
fn warn_when_readable_by_others(file: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(file)
            && metadata.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                file = %file.display(),
                "jwt.private_key_file can be read by other users; chmod 600 it"
            );
        }
    }
}

/// A key pair `generate_key_pair` wrote.
#[derive(Debug)]
pub struct GeneratedKey {
    pub algorithm: JwtAlgorithm,
    pub kid: String,
    pub private_key_file: PathBuf,
    pub public_key_file: PathBuf,
}

/// Makes a new key pair for `algorithm` and writes it into `dir` (made if missing) as
/// `<alg>-<kid>.private.pem` (PKCS#8, mode 0600) and `<alg>-<kid>.public.pem`; never
/// overwrites.
pub fn generate_key_pair(algorithm: JwtAlgorithm, dir: &Path) -> anyhow::Result<GeneratedKey> {
    use anyhow::Context as _;
    let private = PrivateKey::generate(algorithm).map_err(anyhow::Error::msg)?;
    let public = private.public_key();
    let kid = VerificationKey::public(&public).kid;
    std::fs::create_dir_all(dir).with_context(|| format!("while creating {}", dir.display()))?;
    let private_key_file = dir.join(format!(
        "{}-{kid}.private.pem",
        algorithm.as_str().to_ascii_lowercase()
    ));
    let public_key_file = dir.join(format!(
        "{}-{kid}.public.pem",
        algorithm.as_str().to_ascii_lowercase()
    ));
    let private_pem = private.to_pem().map_err(anyhow::Error::msg)?;
    let public_pem = public.to_pem().map_err(anyhow::Error::msg)?;
    // The public half first, and taken back when the private one cannot be written: a
    // failure leaves neither file, never a private key nobody knows about.
    write_new(&public_key_file, public_pem.as_bytes(), 0o644)?;
    if let Err(error) = write_new(&private_key_file, private_pem.as_bytes(), 0o600) {
        let _ = std::fs::remove_file(&public_key_file);
        return Err(error);
    }
    Ok(GeneratedKey {
        algorithm,
        kid,
        private_key_file,
        public_key_file,
    })
}

fn write_new(file: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut out = options
        .open(file)
        .with_context(|| format!("while creating {}", file.display()))?;
    out.write_all(contents)
        .and_then(|()| out.sync_all())
        .with_context(|| format!("while writing {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1: the thumbprint of the example RSA key.
    #[test]
    fn the_thumbprint_of_the_rfc_7638_example_key() {
        let parameters = AlgorithmParameters::RSA(RSAKeyParameters {
            key_type: RSAKeyType::RSA,
            n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into(),
            e: "AQAB".into(),
        });
        assert_eq!(
            thumbprint(&parameters),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn algorithms_read_in_any_case_and_unknown_ones_are_named() {
        assert_eq!("eddsa".parse::<JwtAlgorithm>(), Ok(JwtAlgorithm::EdDSA));
        assert_eq!("RS256".parse::<JwtAlgorithm>(), Ok(JwtAlgorithm::RS256));
        let error = "HS512".parse::<JwtAlgorithm>().unwrap_err();
        assert!(error.contains("HS512"), "{error}");
    }

    #[test]
    fn a_key_error_names_the_setting_and_the_file() {
        let error = KeyError::new(
            "jwt.private_key_file",
            Some(Path::new("/etc/k.pem")),
            "cannot be read",
        );
        assert_eq!(
            error.to_string(),
            "invalid configuration: jwt.private_key_file (/etc/k.pem): cannot be read"
        );
    }
}
