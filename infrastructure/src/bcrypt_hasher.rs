//! `PasswordHasher` on bcrypt, in Django's `bcrypt_sha256$` format: the password is
//! pre-hashed with SHA-256, so bytes past the 72nd still count. Every other format
//! Django wrote is verified too (`django_hashes`) and upgraded at the next login.

use std::sync::Arc;

use domain::Password;
use domain::ports::{HashError, PasswordCheck, PasswordHasher};
use sha2::{Digest, Sha256};

use crate::hashing_pool::HashingPool;

const PREFIX: &str = "bcrypt_sha256$";

/// `passwords.bcrypt_cost`, `passwords.hashing_nice`.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub struct HashingSettings {
    /// bcrypt's cost for new hashes; an older one is upgraded at the next login.
    pub bcrypt_cost: u32,
    /// The nice value of the hashing threads, 0 to 19: how far below the request
    /// workers logins hash when both want the cores.
    #[serde(default = "default_hashing_nice")]
    pub hashing_nice: i32,
}

fn default_hashing_nice() -> i32 {
    crate::hashing_pool::HASHING_NICE
}

/// Hashes on a [`HashingPool`] of `concurrency` threads below the request workers'
/// priority: a burst of logins queues there instead of taking the cores token checks
/// need.
#[derive(Clone)]
pub struct BcryptPasswordHasher {
    cost: u32,
    pool: HashingPool,
    dummy_hash: Arc<str>,
}

impl BcryptPasswordHasher {
    /// Builds the hasher; computes once the dummy hash that unknown users are checked
    /// against (one hash at `cost`, at start-up).
    pub fn new(cost: u32, concurrency: usize, nice: i32) -> anyhow::Result<Self> {
        let dummy = bcrypt::hash(prehash("gatehouse timing equaliser"), cost)?;
        Ok(Self {
            cost,
            pool: HashingPool::start(concurrency, nice)?,
            dummy_hash: Arc::from(format!("{PREFIX}{dummy}")),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        self.pool.run(work).await
    }
}

/// Django's `bcrypt_sha256` pre-hash: the hex SHA-256 digest of the UTF-8 password.
fn prehash(password: &str) -> String {
    hex::encode(Sha256::digest(password.as_bytes()))
}

/// Checks `password` against `encoded`. Any other format also costs one bcrypt
/// verification at the current cost (against `dummy`), as a hash this hasher cannot
/// read (an unusable password) does: an account is not told apart from an unknown one
/// by the time a cheap legacy hash takes.
fn check(password: &str, encoded: &str, current_cost: u32, dummy: &str) -> PasswordCheck {
    let Some(bcrypt_hash) = encoded.strip_prefix(PREFIX).filter(|h| h.starts_with("$2")) else {
        let _ = bcrypt::verify(
            prehash(password),
            dummy.strip_prefix(PREFIX).unwrap_or(dummy),
        );
        return match crate::django_hashes::verify(password, encoded) {
            Some(true) => PasswordCheck::Match { needs_rehash: true },
            Some(false) | None => PasswordCheck::Mismatch,
        };
    };
    match bcrypt::verify(prehash(password), bcrypt_hash) {
        Ok(true) => {
            let cost = bcrypt_hash
                .split('$')
                .nth(2)
                .and_then(|c| c.parse::<u32>().ok());
            PasswordCheck::Match {
                needs_rehash: cost != Some(current_cost),
            }
        }
        _ => PasswordCheck::Mismatch,
    }
}

impl PasswordHasher for BcryptPasswordHasher {
    async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let password = prehash(password.expose());
        let cost = self.cost;
        let hashed = self
            .run(move || bcrypt::hash(password, cost))
            .await?
            .map_err(|e| HashError(e.into()))?;
        Ok(format!("{PREFIX}{hashed}"))
    }

    async fn verify(&self, password: &Password, hash: &str) -> Result<PasswordCheck, HashError> {
        let password = password.expose().to_owned();
        let hash = hash.to_owned();
        let cost = self.cost;
        let dummy = self.dummy_hash.clone();
        self.run(move || check(&password, &hash, cost, &dummy))
            .await
    }

    async fn verify_dummy(&self, password: &Password) -> Result<(), HashError> {
        self.verify(password, &self.dummy_hash.clone())
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing_pool::HASHING_NICE;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hasher = BcryptPasswordHasher::new(4, 2, HASHING_NICE).unwrap();
        let hash = hasher.hash(&Password::new("s3cret-enough")).await.unwrap();
        assert!(hash.starts_with("bcrypt_sha256$$2b$04$"), "{hash}");
        assert_eq!(
            hasher
                .verify(&Password::new("s3cret-enough"), &hash)
                .await
                .unwrap(),
            PasswordCheck::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            hasher
                .verify(&Password::new("s3cret-enougH"), &hash)
                .await
                .unwrap(),
            PasswordCheck::Mismatch
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn passwords_differing_only_after_byte_72_are_different() {
        let hasher = BcryptPasswordHasher::new(4, 2, HASHING_NICE).unwrap();
        let base = "x".repeat(72);
        let hash = hasher
            .hash(&Password::new(format!("{base}A")))
            .await
            .unwrap();
        assert_eq!(
            hasher
                .verify(&Password::new(format!("{base}B")), &hash)
                .await
                .unwrap(),
            PasswordCheck::Mismatch
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_hash_of_another_cost_asks_to_be_rehashed() {
        let old = BcryptPasswordHasher::new(4, 1, HASHING_NICE).unwrap();
        let hash = old.hash(&Password::new("pw-one-two")).await.unwrap();
        let current = BcryptPasswordHasher::new(5, 1, HASHING_NICE).unwrap();
        assert_eq!(
            current
                .verify(&Password::new("pw-one-two"), &hash)
                .await
                .unwrap(),
            PasswordCheck::Match { needs_rehash: true }
        );
    }

    #[test]
    fn a_django_bcrypt_sha256_hash_verifies() {
        // Made by Django 5.2's BCryptSHA256PasswordHasher (rounds = 4) for "django-pass".
        let django = "bcrypt_sha256$$2b$04$oe1LII1WRayTjknL6/rSU.xom4HsgPzGxffK0e8t4aUIBC0RsLmVO";
        let dummy = format!("{PREFIX}{}", bcrypt::hash("x", 4).unwrap());
        let matched = PasswordCheck::Match {
            needs_rehash: false,
        };
        assert_eq!(check("django-pass", django, 4, &dummy), matched);
        assert_eq!(
            check("django-pasS", django, 4, &dummy),
            PasswordCheck::Mismatch
        );
        for unreadable in [
            "pbkdf2_sha256$1$x$y",
            "garbage",
            "!unusable",
            "bcrypt_sha256$x",
        ] {
            assert_eq!(
                check("django-pass", unreadable, 4, &dummy),
                PasswordCheck::Mismatch
            );
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_hash_django_writes_verifies_and_asks_to_be_upgraded() {
        let hasher = BcryptPasswordHasher::new(4, 2, HASHING_NICE).unwrap();
        let rows = crate::testing::django_password_hashes();
        assert_eq!(rows.len(), 13);
        for crate::testing::DjangoHash {
            hasher: name,
            password,
            encoded,
        } in rows
        {
            let right = hasher
                .verify(&Password::new(password.clone()), &encoded)
                .await;
            let wrong = hasher
                .verify(&Password::new(format!("x{password}")), &encoded)
                .await;
            let expected = match name.as_str() {
                "unusable" => PasswordCheck::Mismatch,
                // The current format at the current cost (4): kept as it is.
                "bcrypt_sha256" => PasswordCheck::Match {
                    needs_rehash: false,
                },
                _ => PasswordCheck::Match { needs_rehash: true },
            };
            assert_eq!(right.unwrap(), expected, "{name}: {encoded}");
            assert_eq!(wrong.unwrap(), PasswordCheck::Mismatch, "{name}");
        }
    }
}
