//! `TokenGenerator`: 256 random bits from the OS, base64url; stored as their SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::ports::TokenGenerator;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, Default)]
pub struct Sha256TokenGenerator;

impl TokenGenerator for Sha256TokenGenerator {
    fn generate(&self) -> (String, Vec<u8>) {
        let mut bytes = [0u8; 32];
        // The OS random source does not fail on the platforms we run on; if it ever
        // did, no token may be issued at all.
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        let raw = URL_SAFE_NO_PAD.encode(bytes);
        let digest = self.digest(&raw);
        (raw, digest)
    }

    fn digest(&self, raw: &str) -> Vec<u8> {
        Sha256::digest(raw.as_bytes()).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_url_safe_and_stored_as_their_digest() {
        let generator = Sha256TokenGenerator;
        let (a, digest) = generator.generate();
        let (b, _) = generator.generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "256 bits in unpadded base64url");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(digest, generator.digest(&a));
        assert_eq!(digest.len(), 32);
    }
}
