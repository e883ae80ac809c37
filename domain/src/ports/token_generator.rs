//! Port: random one-time tokens and their digests.

/// Makes tokens of at least 128 random bits and the digest they are stored under.
pub trait TokenGenerator: Clone + Send + Sync + 'static {
    /// A new URL-safe token and its digest.
    fn generate(&self) -> (String, Vec<u8>);

    /// The digest of a presented token.
    fn digest(&self, raw: &str) -> Vec<u8>;
}
