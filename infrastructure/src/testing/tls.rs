//! TLS peers for tests: a CA that signs server certificates (rcgen), the test
//! PostgreSQL server reached over TLS, and a throwaway Redis that speaks only TLS.

use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::ParsedCertificate;
use uuid::Uuid;

use super::{TestDatabase, server_url};

/// A certificate authority of the test's own, its files in a temporary directory
/// removed with it.
pub struct TestCa {
    certificate: rcgen::Certificate,
    key: KeyPair,
    dir: PathBuf,
}

/// A server certificate a [`TestCa`] signed, and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Gatehouse test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("a CA key");
        let certificate = params.self_signed(&key).expect("a CA certificate");
        let dir =
            std::env::temp_dir().join(format!("gatehouse-test-ca-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a directory for the CA's files");
        std::fs::write(dir.join("ca.pem"), certificate.pem()).expect("write the CA file");
        Self {
            certificate,
            key,
            dir,
        }
    }

    /// The CA's certificate, PEM: what a client trusts.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A server certificate for `names` (host names or IP addresses).
    pub fn issue(&self, names: &[&str]) -> IssuedCertificate {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("server parameters");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("a server key");
        let certificate = params
            .signed_by(&key, &self.certificate, &self.key)
            .expect("a server certificate");
        let id = Uuid::new_v4().simple();
        let issued = IssuedCertificate {
            cert_file: self.dir.join(format!("{id}.crt")),
            key_file: self.dir.join(format!("{id}.key")),
            cert_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
        };
        std::fs::write(&issued.cert_file, &issued.cert_pem).expect("write the certificate");
        std::fs::write(&issued.key_file, &issued.key_pem).expect("write the key");
        issued
    }

    /// Where files of this CA's tests may go; removed with it.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The test PostgreSQL server over TLS: the CA file its certificate chains to
/// (`GATEHOUSE_TEST_PG_SSLROOTCERT`, by default Debian's self-signed snakeoil
/// certificate, which `ssl = on` serves), and a host name that certificate names and
/// that reaches the server (`GATEHOUSE_TEST_PG_SSLHOST`, else `localhost` or this
/// machine's name, whichever the certificate holds).
#[derive(Debug, Clone)]
pub struct PgTlsServer {
    pub root_cert: PathBuf,
    pub host: String,
}

impl PgTlsServer {
    pub fn find() -> Self {
        let root_cert = std::env::var("GATEHOUSE_TEST_PG_SSLROOTCERT")
            .unwrap_or_else(|_| "/etc/ssl/certs/ssl-cert-snakeoil.pem".to_owned());
        let pem = std::fs::read(&root_cert).unwrap_or_else(|error| {
            panic!("the test server's certificate {root_cert} ({error}); set GATEHOUSE_TEST_PG_SSLROOTCERT")
        });
        let der = CertificateDer::pem_slice_iter(&pem)
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("{root_cert} holds no PEM certificate"));
        let certificate = ParsedCertificate::try_from(&der).expect("a certificate rustls reads");
        let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_owned())
            .unwrap_or_default();
        let candidates = match std::env::var("GATEHOUSE_TEST_PG_SSLHOST") {
            Ok(host) => vec![host],
            Err(_) => vec!["localhost".to_owned(), machine],
        };
        let host = candidates
            .into_iter()
            .filter(|name| !name.is_empty())
            .find(|name| {
                let named = ServerName::try_from(name.clone()).is_ok_and(|server| {
                    rustls::client::verify_server_name(&certificate, &server).is_ok()
                });
                named && (name.as_str(), 5432).to_socket_addrs().is_ok()
            })
            .unwrap_or_else(|| {
                panic!(
                    "{root_cert} names neither localhost nor this machine's name; set \
                     GATEHOUSE_TEST_PG_SSLHOST to a name it holds that reaches the test server"
                )
            });
        Self {
            root_cert: PathBuf::from(root_cert),
            host,
        }
    }
}

impl TestDatabase {
    /// This database's URL with `host` in place of the test server's host and `params`
    /// (`sslmode=require&…`) as its query.
    pub fn url_with(&self, host: &str, params: &str) -> String {
        let server: tokio_postgres::Config = server_url()
            .parse()
            .expect("GATEHOUSE_TEST_PG_URL is a URL");
        let encode = |text: &str| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
        let user = encode(server.get_user().unwrap_or("postgres"));
        let password = server
            .get_password()
            .map(|password| format!(":{}", encode(&String::from_utf8_lossy(password))))
            .unwrap_or_default();
        let port = server.get_ports().first().copied().unwrap_or(5432);
        let host = match host.contains(':') {
            true => format!("[{host}]"),
            false => host.to_owned(),
        };
        format!(
            "postgres://{user}{password}@{host}:{port}/{}?{params}",
            self.name
        )
    }

    /// The name of the database.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// `redis-server` on a free port of 127.0.0.1 that speaks only TLS, with a
/// certificate for `localhost` and `127.0.0.1` that `ca` signed; stopped when dropped.
pub struct TlsRedis {
    child: Child,
    pub port: u16,
}

impl TlsRedis {
    pub fn start(ca: &TestCa) -> Self {
        let certificate = ca.issue(&["localhost", "127.0.0.1"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--bind", "127.0.0.1", "--tls-port"])
            .arg(port.to_string())
            .arg("--tls-cert-file")
            .arg(&certificate.cert_file)
            .arg("--tls-key-file")
            .arg(&certificate.key_file)
            .arg("--tls-ca-cert-file")
            .arg(ca.ca_file())
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(ca.dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (with TLS) on the PATH");
        let redis = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server never listened on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
