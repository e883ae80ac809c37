//! The one TLS stack of every connection Gatehouse opens (PostgreSQL, Redis, SMTP):
//! rustls with ring, and the certificates it trusts: a PEM file the operator names, or
//! the system's roots.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// ring, chosen here rather than by the process-wide default, which would be
/// ambiguous (or panic) should another crate ever switch aws-lc-rs on.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate of a PEM file: a CA, or a bundle of them. A file without one is
/// an error (a key, a DER file or a typo'd path would otherwise trust nothing).
pub fn read_pem_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| anyhow::anyhow!("{} is not a PEM file: {error}", path.display()))?;
    if certificates.is_empty() {
        bail!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Ok(certificates)
}

/// The certificates of a PEM file as trust anchors.
pub fn roots_from_file(path: &Path) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for certificate in read_pem_certificates(path)? {
        roots
            .add(certificate)
            .with_context(|| format!("{} holds a certificate rustls cannot use", path.display()))?;
    }
    Ok(roots)
}

/// The system's trusted roots, found as OpenSSL finds them (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` honoured): libpq's `sslrootcert=system`.
pub fn system_roots() -> anyhow::Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _unusable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        bail!(
            "no trusted root certificate found on this system{}",
            match errors.is_empty() {
                true => String::new(),
                false => format!(" ({})", errors.join("; ")),
            }
        );
    }
    Ok(roots)
}
