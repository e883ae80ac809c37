//! Django's other password formats, read so that a database imported from Django keeps
//! every password working: `pbkdf2_sha256`, `pbkdf2_sha1`, `argon2` (argon2id, and the
//! argon2i Django wrote before 3.2), `bcrypt`, `scrypt`, and the legacy `md5`, `sha1`,
//! unsalted MD5 / SHA-1 and `crypt` formats old databases still hold. Each is checked
//! through its crate and compared in constant time; a matching password is then
//! re-hashed in the current format at login (`needs_rehash`), as Django does.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Whether `password` is the one `encoded` holds: `None` when `encoded` is in none of
/// these formats (an unusable password `!…` included).
pub(crate) fn verify(password: &str, encoded: &str) -> Option<bool> {
    let (algorithm, rest) = encoded.split_once('$').unwrap_or(("", encoded));
    match algorithm {
        "pbkdf2_sha256" => Some(pbkdf2::<Sha256>(password, rest)),
        "pbkdf2_sha1" => Some(pbkdf2::<Sha1>(password, rest)),
        "argon2" => Some(argon2(password, rest)),
        "bcrypt" => Some(bcrypt::verify(password, rest).unwrap_or(false)),
        "scrypt" => Some(scrypt(password, rest)),
        "md5" => Some(salted_hex::<Md5>(password, rest)),
        "sha1" => Some(salted_hex::<Sha1>(password, rest)),
        "crypt" => Some(crypt(password, rest)),
        // Django's `UnsaltedMD5PasswordHasher` stored the bare hex digest.
        "" if rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(salted_hex::<Md5>(password, &format!("${rest}")))
        }
        _ => None,
    }
}

fn equal(expected: &[u8], actual: &[u8]) -> bool {
    expected.len() == actual.len() && bool::from(expected.ct_eq(actual))
}

/// `<iterations>$<salt>$<base64 of the derived key>`, the key as long as the digest.
fn pbkdf2<D>(password: &str, rest: &str) -> bool
where
    D: ::pbkdf2::hmac::EagerHash + Digest,
{
    let mut parts = rest.splitn(3, '$');
    let (Some(iterations), Some(salt), Some(stored)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(iterations), Ok(stored)) = (iterations.parse::<u32>(), STANDARD.decode(stored)) else {
        return false;
    };
    if iterations == 0 {
        return false;
    }
    let mut derived = vec![0u8; <D as Digest>::output_size()];
    ::pbkdf2::pbkdf2_hmac::<D>(
        password.as_bytes(),
        salt.as_bytes(),
        iterations,
        &mut derived,
    );
    equal(&derived, &stored)
}

/// `argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`: a PHC string, parameters and all.
fn argon2(password: &str, rest: &str) -> bool {
    // The PHC string starts at the `$` the split took.
    let phc = format!("${rest}");
    PasswordHash::new(&phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// `<n>$<salt>$<r>$<p>$<base64 of a 64-byte key>` (Django's `ScryptPasswordHasher`).
fn scrypt(password: &str, rest: &str) -> bool {
    let parts: Vec<&str> = rest.split('$').collect();
    let [n, salt, r, p, stored] = parts[..] else {
        return false;
    };
    let (Ok(n), Ok(r), Ok(p), Ok(stored)) = (
        n.parse::<u64>(),
        r.parse::<u32>(),
        p.parse::<u32>(),
        STANDARD.decode(stored),
    ) else {
        return false;
    };
    if !n.is_power_of_two() || n < 2 || stored.is_empty() {
        return false;
    }
    let Ok(log_n) = u8::try_from(n.trailing_zeros()) else {
        return false;
    };
    let Ok(params) = ::scrypt::Params::new(log_n, r, p) else {
        return false;
    };
    let mut derived = vec![0u8; stored.len()];
    ::scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut derived).is_ok()
        && equal(&derived, &stored)
}

/// `<salt>$<hex digest of salt + password>`; an empty salt is the unsalted form.
fn salted_hex<D: Digest>(password: &str, rest: &str) -> bool {
    let Some((salt, stored)) = rest.split_once('$') else {
        return false;
    };
    let Ok(stored) = hex::decode(stored) else {
        return false;
    };
    let digest = D::new()
        .chain_update(salt.as_bytes())
        .chain_update(password.as_bytes())
        .finalize();
    equal(&digest, &stored)
}

/// `<salt>$<crypt(3) output>`: traditional DES crypt, as Python's `crypt` module wrote it.
fn crypt(password: &str, rest: &str) -> bool {
    let Some((_, data)) = rest.split_once('$') else {
        return false;
    };
    !data.is_empty() && pwhash::unix_crypt::verify(password, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_hashes_of_every_format_never_match_and_never_panic() {
        for encoded in [
            "pbkdf2_sha256$",
            "pbkdf2_sha256$0$salt$AAAA",
            "pbkdf2_sha256$x$salt$AAAA",
            "pbkdf2_sha1$10$salt$not base64",
            "argon2$",
            "argon2$argon2id$v=19$m=8,t=1,p=1$$",
            "bcrypt$",
            "bcrypt$$2b$04$short",
            "scrypt$3$salt$8$1$AAAA",
            "scrypt$1024$salt$0$0$AAAA",
            "scrypt$1024$salt$8$1$",
            "md5$salt$zz",
            "md5$",
            "sha1$nohash",
            "crypt$$",
            "crypt$",
        ] {
            assert_eq!(verify("password", encoded), Some(false), "{encoded}");
        }
        for other in [
            "!unusable",
            "",
            "bcrypt_sha256$$2b$04$x",
            "plain text",
            "12345",
        ] {
            assert_eq!(verify("password", other), None, "{other}");
        }
    }
}
