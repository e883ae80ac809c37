//! Asymmetric signing keys (issue 13, SPEC §3) as an operator meets them: `gatehouse
//! serve` run as a child process with keys made by `gatehouse keys generate` or by the
//! openssl CLI; tokens and the served JWK Set checked by independent implementations
//! (PyJWT and jwcrypto, from `scripts/test-tools.sh`, run by `tests/tools/jose_check.py`;
//! thumbprints and JWKs recomputed here from what openssl says of the keys); algorithm
//! confusion and key-header attacks; rotation across restarts over one database; and
//! start-up refusals of bad keys that name the setting and the file, never the key.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use infrastructure::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use sha2::Digest;
use tokio::process::Command;

const JOSE_CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/jose_check.py");
const JWKS: &str = "/.well-known/jwks.json";
const INVALID: &str = "Token is invalid";

// ---------------------------------------------------------------- scratch files

/// A directory of the test's own under the system's temp dir, removed when dropped
/// (at the end of the test, or when it panics).
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "gatehouse-signing-keys-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write a scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

// ---------------------------------------------------------------- the binary

/// The `jwt.*` variables of a run (HS256 with the test secret when empty).
#[derive(Debug, Clone, Default)]
struct JwtEnv {
    vars: Vec<(String, String)>,
}

impl JwtEnv {
    fn hs256() -> Self {
        Self::default()
    }

    fn signing(algorithm: &str, private_key_file: &Path) -> Self {
        Self::default()
            .set("GATEHOUSE__JWT__ALGORITHM", algorithm)
            .set("GATEHOUSE__JWT__PRIVATE_KEY_FILE", utf8(private_key_file))
    }

    fn set(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    fn public(self, public_key_file: &Path) -> Self {
        self.set("GATEHOUSE__JWT__PUBLIC_KEY_FILE", utf8(public_key_file))
    }

    fn extra(self, files: &[&Path]) -> Self {
        let list: Vec<&str> = files.iter().map(|file| utf8(file)).collect();
        self.set("GATEHOUSE__JWT__EXTRA_VERIFICATION_KEYS", &list.join(","))
    }

    fn pairs(&self) -> Vec<(&str, &str)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn apply<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command.envs(self.pairs())
    }
}

/// `gatehouse check` with these keys.
async fn check(db: &TestDatabase, jwt: &JwtEnv) -> Finished {
    let mut command = gatehouse(&url_of(db));
    command.arg("check");
    finish(jwt.apply(&mut command)).await
}

// ---------------------------------------------------------------- a served process

impl Served {
    /// `gatehouse serve` over `db` with these keys and two workers.
    async fn with_keys(db: &TestDatabase, jwt: &JwtEnv) -> Served {
        let mut env = jwt.pairs();
        env.push(("GATEHOUSE__SERVER__WORKERS", "2"));
        Served::start(&url_of(db), &env).await
    }

    async fn jwks(&self) -> Reply {
        self.get(JWKS, None).await
    }

    async fn me(&self, access: &str) -> Reply {
        self.get("/auth/me/", Some(access)).await
    }

    async fn verify(&self, token: &str) -> Reply {
        self.post("/auth/token/verify/", json!({ "token": token }))
            .await
    }

    async fn refresh(&self, refresh: &str) -> Reply {
        self.post("/auth/token/refresh/", json!({ "refresh": refresh }))
            .await
    }

    /// Registers `email`; returns the tokens the registration hands out.
    async fn register(&self, email: &str) -> (String, String) {
        let reply = self.post("/auth/register/", credentials(email)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let tokens = &reply.body["tokens"];
        (str_of(tokens, "access"), str_of(tokens, "refresh"))
    }

    /// Logs in by email; returns `(access, refresh)`.
    async fn login(&self, email: &str) -> (String, String) {
        token_pair(&self.post("/auth/token/", credentials(email)).await)
    }

    /// Refreshes, which must succeed; returns the new `(access, refresh)`.
    async fn refreshed(&self, refresh: &str) -> (String, String) {
        token_pair(&self.refresh(refresh).await)
    }
}

/// Accepted at `/auth/me/` (as `email`) and at `/auth/token/verify/`.
async fn assert_accepted(served: &Served, case: &str, access: &str, email: &str) {
    let me = served.me(access).await;
    assert_eq!(me.status, StatusCode::OK, "{case}: {}", me.text);
    assert_eq!(me.body["email"], email, "{case}: {}", me.text);
    let verified = served.verify(access).await;
    assert_eq!(verified.status, StatusCode::OK, "{case}: {}", verified.text);
    assert_eq!(verified.body, json!({}), "{case}");
}

/// Refused at `/auth/me/` and at `/auth/token/verify/`: 401, `token_not_valid`.
async fn assert_refused(served: &Served, case: &str, token: &str) {
    eprintln!("case: {case}: {token}");
    assert_access_token_rejected(&served.me(token).await, INVALID);
    assert_token_not_valid(&served.verify(token).await, INVALID);
}

// ---------------------------------------------------------------- tokens

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().expect("a JWT");
    let bytes = URL_SAFE_NO_PAD.decode(header).expect("base64url header");
    serde_json::from_slice(&bytes).expect("JSON header")
}

/// The token's header is exactly `alg`, `typ` and `kid`.
fn assert_signed_by(token: &str, algorithm: &str, kid: &str) {
    assert_eq!(
        header_of(token),
        json!({ "alg": algorithm, "typ": "JWT", "kid": kid }),
        "{token}"
    );
}

fn signing_input(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    )
}

/// A JWT MAC'ed with HMAC-SHA256 under any bytes, whatever the header says.
fn hs256(header: &Value, payload: &Value, key: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let message = signing_input(header, payload);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("hmac key");
    mac.update(message.as_bytes());
    format!("{message}.{}", b64(&mac.finalize().into_bytes()))
}

/// A JWT signed by an Ed25519 private key (PEM) through the openssl CLI, whatever the
/// header says.
async fn ed25519_signed(
    scratch: &Scratch,
    private_key_file: &Path,
    header: &Value,
    payload: &Value,
) -> String {
    let message = signing_input(header, payload);
    let name = uuid::Uuid::new_v4().simple().to_string();
    let input = scratch.write(&format!("{name}.msg"), &message);
    let signature = scratch.path(&format!("{name}.sig"));
    openssl(&[
        "pkeyutl",
        "-sign",
        "-rawin",
        "-inkey",
        utf8(private_key_file),
        "-in",
        utf8(&input),
        "-out",
        utf8(&signature),
    ])
    .await;
    let bytes = std::fs::read(&signature).expect("the signature");
    assert_eq!(bytes.len(), 64, "an Ed25519 signature");
    format!("{message}.{}", b64(&bytes))
}

// ---------------------------------------------------------------- keys

/// A key pair `gatehouse keys generate` wrote.
struct Generated {
    kid: String,
    private: PathBuf,
    public: PathBuf,
}

/// `gatehouse keys generate --algorithm ALG --out DIR`, checked: the kid alone on
/// stdout, `<alg>-<kid>.private.pem` (PKCS#8, 0600) and `<alg>-<kid>.public.pem`
/// (SubjectPublicKeyInfo, 0644).
async fn generate(out: &Path, algorithm: &str) -> Generated {
    let finished = finish(gatehouse("").args([
        "keys",
        "generate",
        "--algorithm",
        algorithm,
        "--out",
        utf8(out),
    ]))
    .await;
    assert!(finished.succeeded(), "{finished:?}");
    let kid = finished.stdout.trim_end_matches('\n');
    assert!(
        !kid.is_empty() && !kid.contains('\n') && finished.stdout.ends_with('\n'),
        "one line, the kid: {finished:?}"
    );
    assert_eq!(kid.len(), 43, "a base64url SHA-256: {kid}");
    assert!(
        kid.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{kid}"
    );
    let stem = format!("{}-{kid}", algorithm.to_ascii_lowercase());
    let private = out.join(format!("{stem}.private.pem"));
    let public = out.join(format!("{stem}.public.pem"));
    assert!(
        finished.stderr.contains(utf8(&private)) && finished.stderr.contains(utf8(&public)),
        "the files are named on stderr: {finished:?}"
    );
    assert_eq!(mode_of(&private), 0o600, "{}", private.display());
    assert_eq!(mode_of(&public), 0o644, "{}", public.display());
    assert_eq!(labels(&private), ["PRIVATE KEY"], "PKCS#8");
    assert_eq!(labels(&public), ["PUBLIC KEY"], "SubjectPublicKeyInfo");
    for file in [&private, &public] {
        assert!(
            !text_of(file).contains('\r'),
            "LF line endings, as openssl writes: {}",
            file.display()
        );
    }
    Generated {
        kid: kid.to_owned(),
        private,
        public,
    }
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Runs the openssl CLI, which must succeed; returns its stdout.
async fn openssl(args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A new key by `openssl genpkey` (PKCS#8) in the scratch directory.
async fn genpkey(scratch: &Scratch, name: &str, options: &[&str]) -> PathBuf {
    let path = scratch.path(name);
    let mut args = vec!["genpkey"];
    args.extend_from_slice(options);
    args.extend_from_slice(&["-out", utf8(&path)]);
    openssl(&args).await;
    path
}

/// The public half of a private key file, as SubjectPublicKeyInfo PEM, by openssl.
async fn public_of(scratch: &Scratch, private: &Path, name: &str) -> PathBuf {
    let path = scratch.path(name);
    openssl(&["pkey", "-in", utf8(private), "-pubout", "-out", utf8(&path)]).await;
    path
}

/// The PEM blocks of a file: label and body lines.
fn pem_blocks(text: &str) -> Vec<(String, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            current = Some((label.to_owned(), Vec::new()));
        } else if line.starts_with("-----END ") {
            blocks.extend(current.take());
        } else if let Some((_, body)) = current.as_mut()
            && !line.contains(':')
            && !line.trim().is_empty()
        {
            body.push(line.trim().to_owned());
        }
    }
    blocks
}

/// The labels of the PEM blocks of a file.
fn labels(path: &Path) -> Vec<String> {
    pem_blocks(&text_of(path))
        .into_iter()
        .map(|(label, _)| label)
        .collect()
}

/// The DER of the last PEM block of a file.
fn pem_der(text: &str) -> Vec<u8> {
    let (_, body) = pem_blocks(text).pop().expect("a PEM block");
    STANDARD.decode(body.concat()).expect("base64 PEM body")
}

/// RFC 7638: SHA-256 of the required members in lexicographic order, base64url.
fn thumbprint(members: &Value) -> String {
    // serde_json's maps are sorted by key and print without whitespace.
    b64(&sha2::Sha256::digest(members.to_string().as_bytes()))
}

/// The kid of an HS256 secret: the thumbprint of its oct JWK.
fn secret_kid(secret: &[u8]) -> String {
    thumbprint(&json!({ "k": b64(secret), "kty": "oct" }))
}

/// The JWK a served key set must hold for this private key, worked out from what
/// openssl says of the key (not from Gatehouse), `kid` its RFC 7638 thumbprint.
async fn expected_jwk(algorithm: &str, private: &Path) -> Value {
    let public_pem = String::from_utf8(openssl(&["pkey", "-in", utf8(private), "-pubout"]).await)
        .expect("PEM text");
    let spki = pem_der(&public_pem);
    let members = match algorithm {
        "EdDSA" => {
            assert_eq!(spki.len(), 44, "an Ed25519 SubjectPublicKeyInfo");
            json!({ "crv": "Ed25519", "kty": "OKP", "x": b64(&spki[12..]) })
        }
        "ES256" => {
            assert_eq!(spki.len(), 91, "a P-256 SubjectPublicKeyInfo");
            let point = &spki[26..];
            assert_eq!(point[0], 4, "an uncompressed point");
            json!({ "crv": "P-256", "kty": "EC", "x": b64(&point[1..33]), "y": b64(&point[33..]) })
        }
        "RS256" => {
            let printed = String::from_utf8(
                openssl(&["rsa", "-in", utf8(private), "-noout", "-modulus"]).await,
            )
            .expect("text");
            let hex_modulus = printed.trim().strip_prefix("Modulus=").expect("Modulus=…");
            let modulus = hex::decode(hex_modulus).expect("hex modulus");
            let text =
                String::from_utf8(openssl(&["rsa", "-in", utf8(private), "-noout", "-text"]).await)
                    .expect("text");
            assert!(
                text.contains("publicExponent: 65537 (0x10001)"),
                "e = 65537: {text}"
            );
            json!({ "e": "AQAB", "kty": "RSA", "n": b64(&modulus) })
        }
        other => panic!("no JWK for {other}"),
    };
    let mut jwk = members.clone();
    jwk["kid"] = json!(thumbprint(&members));
    jwk["alg"] = json!(algorithm);
    jwk["use"] = json!("sig");
    jwk
}

/// `GET /.well-known/jwks.json`: 200, cacheable for `max_age` seconds, exactly these keys
/// in this order.
fn assert_jwks(reply: &Reply, keys: &[&Value], max_age: u64) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.header("cache-control"),
        Some(format!("public, max-age={max_age}").as_str())
    );
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        reply.headers
    );
    assert_eq!(reply.body, json!({ "keys": keys }), "{}", reply.text);
}

fn kid_of(jwk: &Value) -> String {
    str_of(jwk, "kid")
}

// ---------------------------------------------------------------- secrets in output

/// Pieces of a private key file that must never be printed: a 40-character slice of its
/// PEM body (from a line in the key's own bytes, not the fixed ASN.1 prefix), and 16
/// bytes of its DER as hex and as `Debug` prints bytes.
fn key_material(private_pem: &str) -> Vec<String> {
    let (_, body) = pem_blocks(private_pem).pop().expect("a PEM block");
    let line = &body[body.len() / 2];
    assert!(line.len() >= 40, "a long enough PEM line: {line}");
    let slice = line[line.len() - 40..].to_owned();
    let der = STANDARD.decode(body.concat()).expect("base64");
    let bytes = &der[der.len() / 2..der.len() / 2 + 16];
    let debug = bytes
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    vec![slice, hex::encode(bytes), debug]
}

fn assert_no_key_material(output: &str, private_key_file: &Path) {
    for piece in key_material(&text_of(private_key_file)) {
        assert!(
            !output.contains(&piece),
            "private key material of {} ({piece}) printed:\n{output}",
            private_key_file.display()
        );
    }
}

// ---------------------------------------------------------------- independent verifiers

async fn jose_check(args: &[&str]) -> Finished {
    finish(
        Command::new(test_tools_python())
            .arg(JOSE_CHECK)
            .args(args)
            .stdin(Stdio::null()),
    )
    .await
}

/// PyJWT verifies `token` with the key of its kid from the served set, in that key's
/// algorithm only; returns the claims it read.
async fn pyjwt_verifies(served: &Served, token: &str) -> Value {
    let finished = jose_check(&["verify", &served.url(JWKS), token]).await;
    assert!(finished.succeeded(), "PyJWT refused {token}: {finished:?}");
    let checked: Value = serde_json::from_str(&finished.stdout).expect("JSON from jose_check");
    assert_eq!(checked["header"], header_of(token));
    assert_eq!(checked["claims"], claims(token), "PyJWT read other claims");
    checked["claims"].clone()
}

async fn pyjwt_refuses(served: &Served, token: &str) {
    let finished = jose_check(&["verify", &served.url(JWKS), token]).await;
    assert!(
        !finished.succeeded(),
        "PyJWT accepted {token}: {finished:?}"
    );
}

/// jwcrypto's RFC 7638 thumbprint of every key in the served set, by kid.
async fn jwcrypto_thumbprints(served: &Served) -> Value {
    let finished = jose_check(&["thumbprints", &served.url(JWKS)]).await;
    assert!(finished.succeeded(), "{finished:?}");
    serde_json::from_str(&finished.stdout).expect("JSON from jose_check")
}

/// `{kid: kid, …}`: what `jwcrypto_thumbprints` answers when every kid is right.
fn kids_to_themselves(kids: &[&str]) -> Value {
    Value::Object(
        kids.iter()
            .map(|kid| ((*kid).to_owned(), json!(kid)))
            .collect::<Map<_, _>>(),
    )
}

// ================================================================ round trips

/// A key pair from `gatehouse keys generate` signs; the served set holds its public
/// key alone; PyJWT verifies access and refresh tokens against it; jwcrypto computes
/// the same kid; the service accepts its tokens and refreshes; the key is never logged.
async fn generated_key_round_trip(algorithm: &str, with_public_key_file: bool) {
    let scratch = Scratch::new();
    let key = generate(&scratch.path("keys"), algorithm).await;
    let expected = expected_jwk(algorithm, &key.private).await;
    assert_eq!(
        expected["kid"], key.kid,
        "the kid is the RFC 7638 thumbprint"
    );
    let db = TestDatabase::create().await;
    let mut jwt =
        JwtEnv::signing(algorithm, &key.private).set("GATEHOUSE__LOGGING__LEVEL", "debug");
    if with_public_key_file {
        jwt = jwt.public(&key.public);
    }
    let served = Served::with_keys(&db, &jwt).await;

    assert_jwks(&served.jwks().await, &[&expected], 300);
    assert_eq!(
        jwcrypto_thumbprints(&served).await,
        kids_to_themselves(&[&key.kid])
    );

    let email = format!("{}@example.com", algorithm.to_ascii_lowercase());
    let (registered, _) = served.register(&email).await;
    assert_signed_by(&registered, algorithm, &key.kid);
    let (access, refresh) = served.login(&email).await;
    for (token, token_type) in [(&access, "access"), (&refresh, "refresh")] {
        assert_signed_by(token, algorithm, &key.kid);
        let read = pyjwt_verifies(&served, token).await;
        assert_eq!(read["token_type"], token_type);
    }
    assert_accepted(&served, "the login's access token", &access, &email).await;

    let (access, refresh) = served.refreshed(&refresh).await;
    for (token, token_type) in [(&access, "access"), (&refresh, "refresh")] {
        assert_signed_by(token, algorithm, &key.kid);
        let read = pyjwt_verifies(&served, token).await;
        assert_eq!(read["token_type"], token_type);
    }
    assert_accepted(&served, "the refreshed access token", &access, &email).await;
    let again = served.refresh(&refresh).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);

    let finished = served.stop().await;
    assert_no_key_material(&finished.output(), &key.private);
}

#[tokio::test]
async fn eddsa_generated_key_round_trip() {
    generated_key_round_trip("EdDSA", false).await;
}

#[tokio::test]
async fn es256_generated_key_round_trip() {
    generated_key_round_trip("ES256", true).await;
}

#[tokio::test]
async fn rs256_generated_key_round_trip() {
    generated_key_round_trip("RS256", true).await;
}

/// Serves `private` (a key openssl wrote) with `public`, checks the set, the kid and a
/// login; then `gatehouse check` takes each of `other_publics` as `jwt.public_key_file`.
async fn serves_an_openssl_key(
    algorithm: &str,
    private: &Path,
    public: &Path,
    other_publics: &[&Path],
    max_age: Option<(&str, u64)>,
) {
    let expected = expected_jwk(algorithm, private).await;
    let kid = kid_of(&expected);
    let db = TestDatabase::create().await;
    let mut jwt = JwtEnv::signing(algorithm, private).public(public);
    if let Some((setting, _)) = max_age {
        jwt = jwt.set("GATEHOUSE__JWT__JWKS_MAX_AGE", setting);
    }
    let served = Served::with_keys(&db, &jwt).await;

    assert_jwks(
        &served.jwks().await,
        &[&expected],
        max_age.map_or(300, |(_, seconds)| seconds),
    );
    let email = "openssl@example.com";
    served.register(email).await;
    let (access, refresh) = served.login(email).await;
    assert_signed_by(&access, algorithm, &kid);
    assert_signed_by(&refresh, algorithm, &kid);
    pyjwt_verifies(&served, &access).await;
    assert_accepted(&served, "an openssl key's token", &access, email).await;
    let (refreshed, _) = served.refreshed(&refresh).await;
    assert_signed_by(&refreshed, algorithm, &kid);
    let finished = served.stop().await;
    assert_no_key_material(&finished.output(), private);

    for other in other_publics {
        let checked = check(&db, &JwtEnv::signing(algorithm, private).public(other)).await;
        assert!(checked.succeeded(), "{}: {checked:?}", other.display());
        assert!(
            checked
                .stdout
                .contains(&format!("JWT signing: {algorithm} with kid {kid}\n")),
            "{checked:?}"
        );
        assert!(
            checked.stdout.contains(&format!(
                "  {} matches {}\n",
                other.display(),
                private.display()
            )),
            "{checked:?}"
        );
        assert_no_key_material(&checked.output(), private);
    }
}

#[tokio::test]
async fn rs256_takes_a_traditional_rsa_private_key_and_both_public_key_forms() {
    let scratch = Scratch::new();
    let private = scratch.path("rsa.pem");
    openssl(&["genrsa", "-traditional", "-out", utf8(&private), "2048"]).await;
    assert_eq!(labels(&private), ["RSA PRIVATE KEY"]);
    let pkcs1_public = scratch.path("rsa.pkcs1.pub.pem");
    openssl(&[
        "rsa",
        "-in",
        utf8(&private),
        "-RSAPublicKey_out",
        "-out",
        utf8(&pkcs1_public),
    ])
    .await;
    assert_eq!(labels(&pkcs1_public), ["RSA PUBLIC KEY"]);
    let spki_public = public_of(&scratch, &private, "rsa.pub.pem").await;
    assert_eq!(labels(&spki_public), ["PUBLIC KEY"]);

    serves_an_openssl_key("RS256", &private, &pkcs1_public, &[&spki_public], None).await;
}

#[tokio::test]
async fn es256_takes_an_sec1_key_after_its_ec_parameters() {
    let scratch = Scratch::new();
    let private = scratch.path("ec.pem");
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-out",
        utf8(&private),
    ])
    .await;
    assert_eq!(labels(&private), ["EC PARAMETERS", "EC PRIVATE KEY"]);
    let public = public_of(&scratch, &private, "ec.pub.pem").await;
    let ec_public = scratch.path("ec.ec-pubout.pem");
    openssl(&[
        "ec",
        "-in",
        utf8(&private),
        "-pubout",
        "-out",
        utf8(&ec_public),
    ])
    .await;

    serves_an_openssl_key("ES256", &private, &public, &[&ec_public], None).await;
}

#[tokio::test]
async fn eddsa_takes_an_openssl_genpkey_key_and_its_jwks_max_age() {
    let scratch = Scratch::new();
    let private = genpkey(&scratch, "ed25519.pem", &["-algorithm", "ed25519"]).await;
    assert_eq!(labels(&private), ["PRIVATE KEY"]);
    let public = public_of(&scratch, &private, "ed25519.pub.pem").await;

    serves_an_openssl_key("EdDSA", &private, &public, &[], Some(("1h", 3600))).await;
}

#[tokio::test]
async fn hs256_by_default_publishes_no_key_and_names_its_secret_in_kid() {
    let db = TestDatabase::create().await;
    let served = Served::with_keys(&db, &JwtEnv::hs256()).await;

    assert_jwks(&served.jwks().await, &[], 300);
    let email = "hs256@example.com";
    served.register(email).await;
    let (access, refresh) = served.login(email).await;
    let kid = secret_kid(TEST_SIGNING_KEY.as_bytes());
    assert_signed_by(&access, "HS256", &kid);
    assert_signed_by(&refresh, "HS256", &kid);
    assert_accepted(&served, "an HS256 token with kid", &access, email).await;
    let (refreshed, _) = served.refreshed(&refresh).await;
    assert_signed_by(&refreshed, "HS256", &kid);
    let finished = served.stop().await;
    assert!(
        !finished.output().contains(TEST_SIGNING_KEY),
        "{finished:?}"
    );
}

#[tokio::test]
async fn hs256_still_accepts_tokens_signed_before_kid_existed() {
    let db = TestDatabase::create().await;
    let served = Served::with_keys(&db, &JwtEnv::hs256()).await;
    let email = "before@example.com";
    served.register(email).await;
    let (access, refresh) = served.login(email).await;
    // As the service signed before this feature: the same claims, no kid.
    let old_header = json!({ "typ": "JWT", "alg": "HS256" });
    let old_access = forge(&old_header, &claims(&access), Some(TEST_SIGNING_KEY));
    let old_refresh = forge(&old_header, &claims(&refresh), Some(TEST_SIGNING_KEY));
    assert_eq!(header_of(&old_access), old_header);

    assert_accepted(
        &served,
        "an HS256 access token without kid",
        &old_access,
        email,
    )
    .await;
    let (new_access, _) = served.refreshed(&old_refresh).await;
    assert_signed_by(
        &new_access,
        "HS256",
        &secret_kid(TEST_SIGNING_KEY.as_bytes()),
    );
    assert_accepted(&served, "its successor", &new_access, email).await;

    // Without kid the signature is still checked.
    let wrong = forge(
        &old_header,
        &claims(&access),
        Some("another-secret-of-thirty-two-bytes-or-more"),
    );
    assert_refused(&served, "no kid, another secret", &wrong).await;
    let wrong_kid = forge(
        &json!({ "typ": "JWT", "alg": "HS256", "kid": secret_kid(b"another") }),
        &claims(&access),
        Some(TEST_SIGNING_KEY),
    );
    assert_refused(&served, "the right secret under an unknown kid", &wrong_kid).await;
}

// ================================================================ attacks

/// Every way of passing a token off as the service's under EdDSA: HS256 MAC'ed with
/// what an attacker knows (the public key in each of its forms, the SECRET_KEY the
/// configuration still holds), `alg: none`, another Ed25519 key with our kid, our own
/// signature under an unknown kid or another algorithm's name.
#[tokio::test]
async fn eddsa_refuses_algorithm_confusion_and_foreign_keys() {
    let scratch = Scratch::new();
    let key = generate(&scratch.path("keys"), "EdDSA").await;
    let db = TestDatabase::create().await;
    let served = Served::with_keys(&db, &JwtEnv::signing("EdDSA", &key.private)).await;
    let email = "victim@example.com";
    served.register(email).await;
    let (access, _) = served.login(email).await;
    let payload = claims(&access);
    let ours = json!({ "typ": "JWT", "alg": "EdDSA", "kid": key.kid });

    // The forging path is faithful: our header and claims signed by our own key
    // through openssl are accepted, so each refusal below is due to its attack.
    let resigned = ed25519_signed(&scratch, &key.private, &ours, &payload).await;
    assert_accepted(
        &served,
        "re-signed by our key through openssl",
        &resigned,
        email,
    )
    .await;

    let public_pem = text_of(&key.public);
    let spki = pem_der(&public_pem);
    let raw = spki[12..].to_vec();
    assert_eq!(raw.len(), 32);
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("the raw public key", raw.clone()),
        ("the public key's DER", spki.clone()),
        ("the public key's PEM text", public_pem.clone().into_bytes()),
        (
            "the public key's PEM text without its last newline",
            public_pem.trim_end().as_bytes().to_vec(),
        ),
        (
            "the public key's PEM text with CRLF line endings",
            public_pem.replace('\n', "\r\n").into_bytes(),
        ),
        ("the JWK's x as text", b64(&raw).into_bytes()),
        (
            "the SECRET_KEY of the configuration",
            TEST_SIGNING_KEY.as_bytes().to_vec(),
        ),
    ];
    for (what, secret) in &secrets {
        for kid in [Some(key.kid.clone()), None, Some(secret_kid(secret))] {
            let mut header = json!({ "typ": "JWT", "alg": "HS256" });
            if let Some(kid) = &kid {
                header["kid"] = json!(kid);
            }
            let token = hs256(&header, &payload, secret);
            assert_refused(&served, &format!("HS256 with {what}, kid {kid:?}"), &token).await;
        }
    }

    for header in [
        json!({ "typ": "JWT", "alg": "none", "kid": key.kid }),
        json!({ "typ": "JWT", "alg": "none" }),
        json!({ "typ": "JWT", "alg": "EdDSA", "kid": key.kid }),
        json!({ "typ": "JWT", "alg": "EdDSA" }),
    ] {
        let unsigned = forge(&header, &payload, None);
        assert!(unsigned.ends_with('.'));
        assert_refused(&served, &format!("no signature under {header}"), &unsigned).await;
    }

    let attacker = genpkey(&scratch, "attacker.pem", &["-algorithm", "ed25519"]).await;
    let attacker_kid = kid_of(&expected_jwk("EdDSA", &attacker).await);
    let mut superuser = payload.clone();
    superuser["is_superuser"] = json!(true);
    for (case, header, claims) in [
        ("another Ed25519 key under our kid", ours.clone(), &payload),
        (
            "another Ed25519 key under our kid, escalated",
            ours.clone(),
            &superuser,
        ),
        (
            "another Ed25519 key without kid",
            json!({ "typ": "JWT", "alg": "EdDSA" }),
            &payload,
        ),
        (
            "another Ed25519 key under its own kid",
            json!({ "typ": "JWT", "alg": "EdDSA", "kid": attacker_kid }),
            &payload,
        ),
    ] {
        let token = ed25519_signed(&scratch, &attacker, &header, claims).await;
        assert_refused(&served, case, &token).await;
    }

    for (case, header) in [
        (
            "our signature under an unknown kid",
            json!({ "typ": "JWT", "alg": "EdDSA", "kid": "no-such-kid" }),
        ),
        (
            "our signature under the SECRET_KEY's kid",
            json!({ "typ": "JWT", "alg": "EdDSA", "kid": secret_kid(TEST_SIGNING_KEY.as_bytes()) }),
        ),
        (
            "our signature under our kid, alg ES256",
            json!({ "typ": "JWT", "alg": "ES256", "kid": key.kid }),
        ),
    ] {
        let token = ed25519_signed(&scratch, &key.private, &header, &payload).await;
        assert_refused(&served, case, &token).await;
    }

    // Nothing above hurt the genuine token.
    assert_accepted(&served, "the genuine token, after", &access, email).await;
}

#[tokio::test]
async fn rs256_refuses_hs256_mac_ed_with_its_public_key() {
    let scratch = Scratch::new();
    let key = generate(&scratch.path("keys"), "RS256").await;
    let db = TestDatabase::create().await;
    let served = Served::with_keys(&db, &JwtEnv::signing("RS256", &key.private)).await;
    let email = "rsa-victim@example.com";
    served.register(email).await;
    let (access, _) = served.login(email).await;
    let payload = claims(&access);
    let spki_pem = text_of(&key.public);
    let pkcs1_pem = String::from_utf8(
        openssl(&[
            "rsa",
            "-pubin",
            "-in",
            utf8(&key.public),
            "-RSAPublicKey_out",
        ])
        .await,
    )
    .expect("PEM");

    for (what, secret) in [
        ("the PEM public key", spki_pem.as_bytes().to_vec()),
        (
            "the PEM public key, trimmed",
            spki_pem.trim_end().as_bytes().to_vec(),
        ),
        ("the PKCS#1 PEM public key", pkcs1_pem.as_bytes().to_vec()),
        ("the public key's DER", pem_der(&spki_pem)),
        ("the SECRET_KEY", TEST_SIGNING_KEY.as_bytes().to_vec()),
    ] {
        for kid in [Some(key.kid.as_str()), None] {
            let mut header = json!({ "typ": "JWT", "alg": "HS256" });
            if let Some(kid) = kid {
                header["kid"] = json!(kid);
            }
            let token = hs256(&header, &payload, &secret);
            assert_refused(&served, &format!("HS256 with {what}, kid {kid:?}"), &token).await;
        }
    }
    let unsigned = forge(&json!({ "alg": "none", "kid": key.kid }), &payload, None);
    assert_refused(&served, "alg none under our kid", &unsigned).await;
    assert_accepted(&served, "the genuine token, after", &access, email).await;
}

/// `jku`, `x5u`, `jwk` and `x5c` name keys the service must never fetch nor trust: a
/// listener the test owns sees no connection, tokens of the attacker's key are refused,
/// and a genuine signature with those headers added is accepted (they are ignored).
#[tokio::test]
async fn never_fetch_or_trust_keys_a_token_header_names() {
    let scratch = Scratch::new();
    let key = generate(&scratch.path("keys"), "EdDSA").await;
    let db = TestDatabase::create().await;
    let served = Served::with_keys(&db, &JwtEnv::signing("EdDSA", &key.private)).await;
    let email = "headers@example.com";
    served.register(email).await;
    let (access, _) = served.login(email).await;
    let payload = claims(&access);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a listener");
    let base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("an address").port()
    );
    let jku = format!("{base}/jwks.json");
    let x5u = format!("{base}/key.pem");
    let attacker = genpkey(&scratch, "attacker.pem", &["-algorithm", "ed25519"]).await;
    let attacker_jwk = expected_jwk("EdDSA", &attacker).await;
    let attacker_kid = kid_of(&attacker_jwk);
    let attacker_spki = pem_der(
        &String::from_utf8(openssl(&["pkey", "-in", utf8(&attacker), "-pubout"]).await)
            .expect("PEM"),
    );
    let attacker_public = json!({ "kty": "OKP", "crv": "Ed25519", "x": attacker_jwk["x"] });

    for (case, header) in [
        (
            "jku, the attacker's kid",
            json!({ "typ": "JWT", "alg": "EdDSA", "kid": attacker_kid, "jku": jku }),
        ),
        (
            "jku, our kid",
            json!({ "typ": "JWT", "alg": "EdDSA", "kid": key.kid, "jku": jku }),
        ),
        (
            "jku and x5u, no kid",
            json!({ "typ": "JWT", "alg": "EdDSA", "jku": jku, "x5u": x5u }),
        ),
        (
            "x5u, the attacker's kid",
            json!({ "typ": "JWT", "alg": "EdDSA", "kid": attacker_kid, "x5u": x5u }),
        ),
        (
            "jwk embedded, the attacker's kid",
            json!({ "typ": "JWT", "alg": "EdDSA", "kid": attacker_kid, "jwk": attacker_public }),
        ),
        (
            "jwk embedded, no kid",
            json!({ "typ": "JWT", "alg": "EdDSA", "jwk": attacker_public }),
        ),
        (
            "x5c, our kid",
            json!({ "typ": "JWT", "alg": "EdDSA", "kid": key.kid, "x5c": [STANDARD.encode(&attacker_spki)] }),
        ),
    ] {
        let token = ed25519_signed(&scratch, &attacker, &header, &payload).await;
        assert_refused(&served, &format!("the attacker's key, {case}"), &token).await;
    }
    let genuine = ed25519_signed(
        &scratch,
        &key.private,
        &json!({ "typ": "JWT", "alg": "EdDSA", "kid": key.kid, "jku": jku, "x5u": x5u }),
        &payload,
    )
    .await;
    assert_accepted(&served, "our key, with jku and x5u", &genuine, email).await;

    let connection = tokio::time::timeout(Duration::from_millis(500), listener.accept()).await;
    assert!(
        connection.is_err(),
        "the service connected to a URL a token named: {connection:?}"
    );
}

// ================================================================ rotation

/// The rotation an operator follows, over one database across restarts: A signs; B
/// is added as an extra key; B signs with A extra; A is retired. Nobody is logged out
/// until A is retired, and then only the tokens A signed stop working.
#[tokio::test]
async fn rotate_from_one_key_to_another_across_restarts() {
    let scratch = Scratch::new();
    let a = generate(&scratch.path("a"), "EdDSA").await;
    let b = generate(&scratch.path("b"), "ES256").await;
    let a_jwk = expected_jwk("EdDSA", &a.private).await;
    let b_jwk = expected_jwk("ES256", &b.private).await;
    let db = TestDatabase::create().await;
    let (alice, bob) = ("alice@example.com", "bob@example.com");

    // (1) A alone.
    let served = Served::with_keys(&db, &JwtEnv::signing("EdDSA", &a.private)).await;
    assert_jwks(&served.jwks().await, &[&a_jwk], 300);
    served.register(alice).await;
    served.register(bob).await;
    let (alice_access_a, alice_refresh_a) = served.login(alice).await;
    let (bob_access_a, bob_refresh_a) = served.login(bob).await;
    for token in [
        &alice_access_a,
        &alice_refresh_a,
        &bob_access_a,
        &bob_refresh_a,
    ] {
        assert_signed_by(token, "EdDSA", &a.kid);
    }
    assert_accepted(&served, "(1) alice's A token", &alice_access_a, alice).await;
    served.stop().await;

    // (2) A signs, B is published ahead of its use.
    let served = Served::with_keys(
        &db,
        &JwtEnv::signing("EdDSA", &a.private).extra(&[&b.public]),
    )
    .await;
    assert_jwks(&served.jwks().await, &[&a_jwk, &b_jwk], 300);
    assert_eq!(
        jwcrypto_thumbprints(&served).await,
        kids_to_themselves(&[&a.kid, &b.kid])
    );
    assert_accepted(&served, "(2) alice's A token", &alice_access_a, alice).await;
    assert_accepted(&served, "(2) bob's A token", &bob_access_a, bob).await;
    pyjwt_verifies(&served, &alice_access_a).await;
    // A still signs.
    let (carol_access, _) = served.register("carol@example.com").await;
    assert_signed_by(&carol_access, "EdDSA", &a.kid);
    served.stop().await;

    // (3) B signs, A still verifies.
    let served = Served::with_keys(
        &db,
        &JwtEnv::signing("ES256", &b.private).extra(&[&a.public]),
    )
    .await;
    assert_jwks(&served.jwks().await, &[&b_jwk, &a_jwk], 300);
    assert_accepted(&served, "(3) alice's A token", &alice_access_a, alice).await;
    assert_accepted(&served, "(3) bob's A token", &bob_access_a, bob).await;
    pyjwt_verifies(&served, &alice_access_a).await;
    let (alice_access_b, alice_refresh_b) = served.refreshed(&alice_refresh_a).await;
    assert_signed_by(&alice_access_b, "ES256", &b.kid);
    assert_signed_by(&alice_refresh_b, "ES256", &b.kid);
    pyjwt_verifies(&served, &alice_access_b).await;
    assert_accepted(
        &served,
        "(3) alice's refreshed B token",
        &alice_access_b,
        alice,
    )
    .await;
    let (bob_access_b, bob_refresh_b) = served.login(bob).await;
    assert_signed_by(&bob_access_b, "ES256", &b.kid);
    assert_signed_by(&bob_refresh_b, "ES256", &b.kid);
    assert_accepted(&served, "(3) bob's new B login", &bob_access_b, bob).await;
    served.stop().await;

    // (4) A retired.
    let served = Served::with_keys(&db, &JwtEnv::signing("ES256", &b.private)).await;
    assert_jwks(&served.jwks().await, &[&b_jwk], 300);
    assert_refused(&served, "(4) alice's A access token", &alice_access_a).await;
    assert_refused(&served, "(4) bob's A access token", &bob_access_a).await;
    assert_token_not_valid(&served.refresh(&bob_refresh_a).await, INVALID);
    pyjwt_refuses(&served, &alice_access_a).await;
    assert_accepted(&served, "(4) alice's B token", &alice_access_b, alice).await;
    assert_accepted(&served, "(4) bob's B token", &bob_access_b, bob).await;
    pyjwt_verifies(&served, &bob_access_b).await;
    let (alice_access, _) = served.refreshed(&alice_refresh_b).await;
    assert_signed_by(&alice_access, "ES256", &b.kid);
    assert_accepted(&served, "(4) alice refreshed again", &alice_access, alice).await;
    let finished = served.stop().await;
    assert_no_key_material(&finished.output(), &b.private);
}

/// From HS256 to EdDSA: the old SECRET_KEY, in a file of
/// `jwt.extra_verification_keys`, keeps every HS256 token working (with kid or, as
/// before this feature, without), is never published, and once the file is removed
/// from the list its tokens are refused though `jwt.signing_key` is still set.
#[tokio::test]
async fn switch_from_hs256_to_eddsa_keeping_the_old_secret_for_a_while() {
    let scratch = Scratch::new();
    let key = generate(&scratch.path("keys"), "EdDSA").await;
    let jwk = expected_jwk("EdDSA", &key.private).await;
    // A file as an operator writes it, with a trailing newline.
    let secret_file = scratch.write("old-secret.txt", format!("{TEST_SIGNING_KEY}\n"));
    let db = TestDatabase::create().await;
    let email = "switch@example.com";
    let secret = secret_kid(TEST_SIGNING_KEY.as_bytes());

    let served = Served::with_keys(&db, &JwtEnv::hs256()).await;
    served.register(email).await;
    let (access_1, refresh_1) = served.login(email).await;
    let (access_2, refresh_2) = served.login(email).await;
    assert_signed_by(&access_1, "HS256", &secret);
    let kidless = forge(
        &json!({ "typ": "JWT", "alg": "HS256" }),
        &claims(&access_2),
        Some(TEST_SIGNING_KEY),
    );
    served.stop().await;

    let served = Served::with_keys(
        &db,
        &JwtEnv::signing("EdDSA", &key.private).extra(&[&secret_file]),
    )
    .await;
    assert_jwks(&served.jwks().await, &[&jwk], 300);
    assert_accepted(&served, "an HS256 token, secret extra", &access_1, email).await;
    assert_accepted(&served, "an HS256 token without kid", &kidless, email).await;
    let (access_new, refresh_new) = served.refreshed(&refresh_1).await;
    assert_signed_by(&access_new, "EdDSA", &key.kid);
    assert_signed_by(&refresh_new, "EdDSA", &key.kid);
    assert_accepted(&served, "its EdDSA successor", &access_new, email).await;
    let (access_login, _) = served.login(email).await;
    assert_signed_by(&access_login, "EdDSA", &key.kid);
    served.stop().await;

    let served = Served::with_keys(&db, &JwtEnv::signing("EdDSA", &key.private)).await;
    assert_jwks(&served.jwks().await, &[&jwk], 300);
    assert_refused(&served, "an HS256 token, secret gone", &access_2).await;
    assert_refused(&served, "an HS256 token without kid, secret gone", &kidless).await;
    assert_token_not_valid(&served.refresh(&refresh_2).await, INVALID);
    assert_accepted(&served, "an EdDSA token", &access_new, email).await;
    assert_accepted(&served, "an EdDSA login", &access_login, email).await;
    let (after, _) = served.refreshed(&refresh_new).await;
    assert_signed_by(&after, "EdDSA", &key.kid);
    let finished = served.stop().await;
    assert!(!finished.output().contains(TEST_SIGNING_KEY));
}

// ================================================================ start-up refusals

/// A configuration that must stop start-up, and what its message must name.
struct BadKeys {
    case: &'static str,
    jwt: JwtEnv,
    setting: &'static str,
    file: Option<PathBuf>,
    reason: &'static str,
    /// Private keys (and secrets) in play, none of which may be printed.
    private_keys: Vec<PathBuf>,
    secrets: Vec<String>,
}

async fn assert_refused_at_startup(db: &TestDatabase, bad: &BadKeys) {
    let BadKeys {
        case,
        jwt,
        setting,
        file,
        reason,
        private_keys,
        secrets,
    } = bad;
    let mut serve = gatehouse(&url_of(db));
    serve
        .arg("serve")
        .env("GATEHOUSE__SERVER__PORT", free_port().to_string());
    // A refused key stops start-up at once; a serve still running is one that took it.
    let served = finish_within(jwt.apply(&mut serve), Duration::from_secs(15)).await;
    let checked = check(db, jwt).await;
    for (command, finished) in [("serve", &served), ("check", &checked)] {
        assert!(
            !finished.succeeded() && finished.code.is_some(),
            "{case}: {command} exits non-zero: {finished:?}"
        );
        assert!(
            !finished.stdout.contains("no issues"),
            "{case}: {command}: {finished:?}"
        );
        let named = match file {
            Some(file) => format!("invalid configuration: {setting} ({})", file.display()),
            None => format!("invalid configuration: {setting}"),
        };
        assert!(
            finished.stderr.contains(&named),
            "{case}: {command} names {named:?}: {finished:?}"
        );
        assert!(
            finished.stderr.contains(reason),
            "{case}: {command} says {reason:?}: {finished:?}"
        );
        for private in private_keys {
            assert_no_key_material(&finished.output(), private);
        }
        for secret in secrets {
            assert!(
                !finished.output().contains(secret.as_str()),
                "{case}: {command} printed a secret: {finished:?}"
            );
        }
    }
}

#[tokio::test]
async fn bad_private_keys_stop_startup_naming_setting_and_file() {
    let scratch = Scratch::new();
    let ed = genpkey(&scratch, "ed25519.pem", &["-algorithm", "ed25519"]).await;
    let ed_public = public_of(&scratch, &ed, "ed25519.pub.pem").await;
    let rsa = genpkey(
        &scratch,
        "rsa2048.pem",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    )
    .await;
    let rsa_1024 = genpkey(
        &scratch,
        "rsa1024.pem",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
    )
    .await;
    let p384 = genpkey(
        &scratch,
        "p384.pem",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    )
    .await;
    let p384_sec1 = scratch.path("p384.sec1.pem");
    openssl(&[
        "ecparam",
        "-name",
        "secp384r1",
        "-genkey",
        "-noout",
        "-out",
        utf8(&p384_sec1),
    ])
    .await;
    let encrypted = genpkey(
        &scratch,
        "encrypted.pem",
        &[
            "-algorithm",
            "ed25519",
            "-aes-256-cbc",
            "-pass",
            "pass:correct-horse",
        ],
    )
    .await;
    assert_eq!(labels(&encrypted), ["ENCRYPTED PRIVATE KEY"]);
    let missing = scratch.path("missing.pem");
    let not_pem = scratch.write("not-pem.pem", "this is no key at all\n");

    let cases = [
        BadKeys {
            case: "a missing file",
            jwt: JwtEnv::signing("EdDSA", &missing),
            setting: "jwt.private_key_file",
            file: Some(missing.clone()),
            reason: "cannot be read",
            private_keys: vec![],
            secrets: vec![],
        },
        BadKeys {
            case: "no PEM",
            jwt: JwtEnv::signing("EdDSA", &not_pem),
            setting: "jwt.private_key_file",
            file: Some(not_pem.clone()),
            reason: "PEM",
            private_keys: vec![],
            secrets: vec![],
        },
        BadKeys {
            case: "a public key as the private key",
            jwt: JwtEnv::signing("EdDSA", &ed_public),
            setting: "jwt.private_key_file",
            file: Some(ed_public.clone()),
            reason: "holds a public key",
            private_keys: vec![],
            secrets: vec![],
        },
        BadKeys {
            case: "RSA of 1024 bits",
            jwt: JwtEnv::signing("RS256", &rsa_1024),
            setting: "jwt.private_key_file",
            file: Some(rsa_1024.clone()),
            reason: "1024-bit RSA key",
            private_keys: vec![rsa_1024.clone()],
            secrets: vec![],
        },
        BadKeys {
            case: "a P-384 key (PKCS#8) for ES256",
            jwt: JwtEnv::signing("ES256", &p384),
            setting: "jwt.private_key_file",
            file: Some(p384.clone()),
            reason: "P-256",
            private_keys: vec![p384.clone()],
            secrets: vec![],
        },
        BadKeys {
            case: "a P-384 key (SEC1) for ES256",
            jwt: JwtEnv::signing("ES256", &p384_sec1),
            setting: "jwt.private_key_file",
            file: Some(p384_sec1.clone()),
            reason: "P-256",
            private_keys: vec![p384_sec1.clone()],
            secrets: vec![],
        },
        BadKeys {
            case: "an encrypted key",
            jwt: JwtEnv::signing("EdDSA", &encrypted),
            setting: "jwt.private_key_file",
            file: Some(encrypted.clone()),
            reason: "encrypted",
            private_keys: vec![encrypted.clone()],
            secrets: vec![],
        },
        BadKeys {
            case: "an RSA key for EdDSA",
            jwt: JwtEnv::signing("EdDSA", &rsa),
            setting: "jwt.private_key_file",
            file: Some(rsa.clone()),
            reason: "holds an RSA key, but jwt.algorithm is EdDSA, which signs with an Ed25519 key",
            private_keys: vec![rsa.clone()],
            secrets: vec![],
        },
        BadKeys {
            case: "an Ed25519 key for ES256",
            jwt: JwtEnv::signing("ES256", &ed),
            setting: "jwt.private_key_file",
            file: Some(ed.clone()),
            reason: "holds an Ed25519 key, but jwt.algorithm is ES256, which signs with a P-256 key",
            private_keys: vec![ed.clone()],
            secrets: vec![],
        },
        BadKeys {
            case: "an Ed25519 key for RS256",
            jwt: JwtEnv::signing("RS256", &ed),
            setting: "jwt.private_key_file",
            file: Some(ed.clone()),
            reason: "holds an Ed25519 key, but jwt.algorithm is RS256, which signs with an RSA key",
            private_keys: vec![ed.clone()],
            secrets: vec![],
        },
        BadKeys {
            case: "no private key for EdDSA",
            jwt: JwtEnv::default().set("GATEHOUSE__JWT__ALGORITHM", "EdDSA"),
            setting: "jwt.private_key_file",
            file: None,
            reason: "required when jwt.algorithm is EdDSA",
            private_keys: vec![],
            secrets: vec![],
        },
    ];
    let db = TestDatabase::create().await;
    futures_util::future::join_all(cases.iter().map(|bad| assert_refused_at_startup(&db, bad)))
        .await;
}

#[tokio::test]
async fn bad_public_and_extra_keys_stop_startup_naming_setting_and_file() {
    let scratch = Scratch::new();
    let ed = genpkey(&scratch, "ed25519.pem", &["-algorithm", "ed25519"]).await;
    let ed_public = public_of(&scratch, &ed, "ed25519.pub.pem").await;
    let other = genpkey(&scratch, "other.pem", &["-algorithm", "ed25519"]).await;
    let other_public = public_of(&scratch, &other, "other.pub.pem").await;
    let rsa_1024 = genpkey(
        &scratch,
        "rsa1024.pem",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
    )
    .await;
    let rsa_1024_public = public_of(&scratch, &rsa_1024, "rsa1024.pub.pem").await;
    let short_secret = "a-secret-of-31-bytes-0123456789";
    assert_eq!(short_secret.len(), 31);
    let short = scratch.write("short-secret.txt", format!("{short_secret}\n"));
    let missing = scratch.path("missing-extra.pem");

    let cases = [
        BadKeys {
            case: "the public half of another key",
            jwt: JwtEnv::signing("EdDSA", &ed).public(&other_public),
            setting: "jwt.public_key_file",
            file: Some(other_public.clone()),
            reason: "does not match jwt.private_key_file",
            private_keys: vec![ed.clone()],
            secrets: vec![],
        },
        BadKeys {
            case: "a private key as the public key",
            jwt: JwtEnv::signing("EdDSA", &ed).public(&other),
            setting: "jwt.public_key_file",
            file: Some(other.clone()),
            reason: "private key",
            private_keys: vec![ed.clone(), other.clone()],
            secrets: vec![],
        },
        BadKeys {
            case: "an extra secret of 31 bytes",
            jwt: JwtEnv::signing("EdDSA", &ed).extra(&[&ed_public, &short]),
            setting: "jwt.extra_verification_keys",
            file: Some(short.clone()),
            reason: "at least 32",
            private_keys: vec![ed.clone()],
            secrets: vec![short_secret.to_owned()],
        },
        BadKeys {
            case: "a missing extra file",
            jwt: JwtEnv::signing("EdDSA", &ed).extra(&[&missing]),
            setting: "jwt.extra_verification_keys",
            file: Some(missing.clone()),
            reason: "cannot be read",
            private_keys: vec![ed.clone()],
            secrets: vec![],
        },
        BadKeys {
            case: "an extra RSA public key of 1024 bits",
            jwt: JwtEnv::signing("EdDSA", &ed).extra(&[&rsa_1024_public]),
            setting: "jwt.extra_verification_keys",
            file: Some(rsa_1024_public.clone()),
            reason: "1024-bit RSA key",
            private_keys: vec![ed.clone()],
            secrets: vec![],
        },
        BadKeys {
            case: "a private key file under HS256",
            jwt: JwtEnv::hs256().set("GATEHOUSE__JWT__PRIVATE_KEY_FILE", utf8(&ed)),
            setting: "jwt.private_key_file",
            file: Some(ed.clone()),
            reason: "HS256",
            private_keys: vec![ed.clone()],
            secrets: vec![TEST_SIGNING_KEY.to_owned()],
        },
        BadKeys {
            case: "a public key file under HS256",
            jwt: JwtEnv::hs256().public(&ed_public),
            setting: "jwt.public_key_file",
            file: Some(ed_public.clone()),
            reason: "HS256",
            private_keys: vec![],
            secrets: vec![TEST_SIGNING_KEY.to_owned()],
        },
    ];
    let db = TestDatabase::create().await;
    futures_util::future::join_all(cases.iter().map(|bad| assert_refused_at_startup(&db, bad)))
        .await;
}

// ================================================================ the command line

#[tokio::test]
async fn generate_writes_keys_openssl_reads_under_a_fresh_kid_each_time() {
    let scratch = Scratch::new();
    let out = scratch.path("made/by/generate");

    let first = generate(&out, "EdDSA").await;
    let second = generate(&out, "EdDSA").await;
    let p256 = generate(&out, "ES256").await;

    assert_ne!(first.kid, second.kid);
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .expect("the out directory")
        .map(|entry| entry.expect("an entry").file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut expected: Vec<String> = [
        ("eddsa", &first.kid),
        ("eddsa", &second.kid),
        ("es256", &p256.kid),
    ]
    .iter()
    .flat_map(|(alg, kid)| {
        [
            format!("{alg}-{kid}.private.pem"),
            format!("{alg}-{kid}.public.pem"),
        ]
    })
    .collect();
    expected.sort();
    assert_eq!(files, expected);
    for (algorithm, key) in [("EdDSA", &first), ("EdDSA", &second), ("ES256", &p256)] {
        openssl(&["pkey", "-in", utf8(&key.private), "-noout"]).await;
        let derived = openssl(&["pkey", "-in", utf8(&key.private), "-pubout"]).await;
        assert_eq!(
            pem_der(&String::from_utf8(derived).unwrap()),
            pem_der(&text_of(&key.public)),
            "the public file is the private key's public half"
        );
        assert_eq!(
            kid_of(&expected_jwk(algorithm, &key.private).await),
            key.kid
        );
    }
}

#[tokio::test]
async fn generate_refuses_hs256_and_never_overwrites_a_file() {
    let scratch = Scratch::new();
    let out = scratch.path("hs256");
    for algorithm in ["HS256", "hs256"] {
        let refused = finish(gatehouse("").args([
            "keys",
            "generate",
            "--algorithm",
            algorithm,
            "--out",
            utf8(&out),
        ]))
        .await;
        assert_eq!(refused.code, Some(2), "{refused:?}");
        assert!(refused.stdout.is_empty(), "{refused:?}");
        assert!(refused.stderr.contains("SECRET_KEY"), "{refused:?}");
        assert!(!out.exists(), "nothing written: {refused:?}");
    }
    let unknown = finish(gatehouse("").args([
        "keys",
        "generate",
        "--algorithm",
        "HS512",
        "--out",
        utf8(&out),
    ]))
    .await;
    assert_eq!(unknown.code, Some(2), "{unknown:?}");
    assert!(unknown.stderr.contains("HS512"), "{unknown:?}");
    assert!(!out.exists());

    // The kid is new each time, so the only name the command can meet is the one given:
    // an existing file as --out is left as it was.
    let existing = scratch.write("existing.pem", "precious\n");
    let refused = finish(gatehouse("").args([
        "keys",
        "generate",
        "--algorithm",
        "EdDSA",
        "--out",
        utf8(&existing),
    ]))
    .await;
    assert!(!refused.succeeded(), "{refused:?}");
    assert!(refused.stdout.is_empty(), "no kid printed: {refused:?}");
    assert!(refused.stderr.contains(utf8(&existing)), "{refused:?}");
    assert_eq!(text_of(&existing), "precious\n");
}

#[tokio::test]
async fn check_lists_every_key_by_kid() {
    let scratch = Scratch::new();
    let a = generate(&scratch.path("a"), "EdDSA").await;
    let b = generate(&scratch.path("b"), "ES256").await;
    let secret_file = scratch.write("old-secret.txt", format!("{TEST_SIGNING_KEY}\n"));
    let db = TestDatabase::create().await;
    let secret = secret_kid(TEST_SIGNING_KEY.as_bytes());

    // An extra key may be a private key file: its public half verifies.
    let checked = check(
        &db,
        &JwtEnv::signing("EdDSA", &a.private).extra(&[&b.private, &secret_file]),
    )
    .await;

    assert!(checked.succeeded(), "{checked:?}");
    let expected = [
        format!("JWT signing: EdDSA with kid {}", a.kid),
        format!(
            "  public key derived from {} (jwt.public_key_file unset)",
            a.private.display()
        ),
        format!(
            "JWT verification: kid {} EdDSA (signing key; published in /.well-known/jwks.json)",
            a.kid
        ),
        format!(
            "JWT verification: kid {} ES256 (extra; published in /.well-known/jwks.json)",
            b.kid
        ),
        format!("JWT verification: kid {secret} HS256 (extra; secret, never published)"),
        "System check identified no issues (0 silenced).".to_owned(),
    ];
    // What follows the effective configuration and the database's line.
    let keys = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .skip_while(|line| !line.starts_with("JWT signing:"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(keys(&checked.stdout), expected, "{checked:?}");
    assert_no_key_material(&checked.output(), &a.private);
    assert_no_key_material(&checked.output(), &b.private);
    assert!(!checked.output().contains(TEST_SIGNING_KEY));

    let hs256 = check(&db, &JwtEnv::hs256()).await;
    assert!(hs256.succeeded(), "{hs256:?}");
    assert_eq!(
        keys(&hs256.stdout),
        [
            format!("JWT signing: HS256 with kid {secret}"),
            format!("JWT verification: kid {secret} HS256 (signing key; secret, never published)"),
            "System check identified no issues (0 silenced).".to_owned(),
        ],
        "{hs256:?}"
    );
    assert!(!hs256.output().contains(TEST_SIGNING_KEY));
}
