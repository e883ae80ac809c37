//! Access-token attacks over HTTP: every forgery is built from a real token's claims so
//! that only the attacked part differs, and is presented at `GET /auth/me/` as a bearer
//! token and, where it means something, at `POST /auth/token/verify/`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
const BAD_HEADER: &str = "Authorization header must contain two space-delimited values";

/// The HMAC family member a forged signature is computed with.
#[derive(Debug, Clone, Copy)]
enum HmacSha {
    Sha256,
    Sha384,
    Sha512,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hmac(alg: HmacSha, key: &[u8], message: &[u8]) -> Vec<u8> {
    match alg {
        HmacSha::Sha256 => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("hmac key");
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        HmacSha::Sha384 => {
            let mut mac = Hmac::<sha2::Sha384>::new_from_slice(key).expect("hmac key");
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        HmacSha::Sha512 => {
            let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key).expect("hmac key");
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

/// A JWT from raw header and payload JSON, signed with `alg` under a raw byte key
/// (whatever the header claims).
fn sign(alg: HmacSha, header: &Value, payload: &Value, key: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let signature = b64(&hmac(alg, key, message.as_bytes()));
    format!("{message}.{signature}")
}

/// Signed with HS256 under the service's own key.
fn sign_right(header: &Value, payload: &Value) -> String {
    sign(
        HmacSha::Sha256,
        header,
        payload,
        TEST_SIGNING_KEY.as_bytes(),
    )
}

/// 48 random bytes: a secret no one but the attacker knows.
fn attacker_key() -> Vec<u8> {
    (0..3)
        .flat_map(|_| *uuid::Uuid::new_v4().as_bytes())
        .collect()
}

fn segments(token: &str) -> (&str, &str, &str) {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        panic!("not a three-part JWT: {token}");
    };
    (header, payload, signature)
}

fn header_of(token: &str) -> Value {
    let bytes = URL_SAFE_NO_PAD
        .decode(segments(token).0)
        .expect("base64url header");
    serde_json::from_slice(&bytes).expect("JSON header")
}

/// `token` with its payload replaced and its original header and signature kept.
fn with_payload(token: &str, payload: &Value) -> String {
    let (header, _, signature) = segments(token);
    format!(
        "{header}.{}.{signature}",
        b64(payload.to_string().as_bytes())
    )
}

/// `token` with its header replaced and its original payload and signature kept.
fn with_header(token: &str, header: &Value) -> String {
    let (_, payload, signature) = segments(token);
    format!(
        "{}.{payload}.{signature}",
        b64(header.to_string().as_bytes())
    )
}

fn now() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(seconds).expect("seconds fit in i64")
}

async fn verify(app: &TestApp, token: &str) -> Reply {
    app.post("/auth/token/verify/", json!({ "token": token }))
        .await
}

/// Refused at `/auth/me/` and at `/auth/token/verify/`, with the same message.
async fn assert_refused(app: &TestApp, case: &str, token: &str, message: &str) {
    eprintln!("case: {case}: {token}");
    assert_access_token_rejected(&app.me(token).await, message);
    assert_token_not_valid(&verify(app, token).await, message);
}

/// Accepted at `/auth/me/` (as `email`) and at `/auth/token/verify/`.
async fn assert_accepted(app: &TestApp, case: &str, token: &str, email: &str) {
    eprintln!("case: {case}: {token}");
    let me = app.me(token).await;
    assert_eq!(me.status, StatusCode::OK, "{case}: {}", me.text);
    assert_eq!(me.body["email"], email, "{case}");
    let verified = verify(app, token).await;
    assert_eq!(verified.status, StatusCode::OK, "{case}: {}", verified.text);
}

fn assert_not_provided(reply: &Reply, challenge: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": NOT_PROVIDED }),
        "{}",
        reply.text
    );
    assert_eq!(reply.header("www-authenticate"), Some(challenge));
}

fn assert_bad_header(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": BAD_HEADER, "code": "bad_authorization_header" }),
        "{}",
        reply.text
    );
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );
}

fn assert_failed_with_code(reply: &Reply, detail: &str, code: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": detail, "code": code }),
        "{}",
        reply.text
    );
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );
}

#[tokio::test]
async fn a_genuine_access_token_is_accepted_and_re_signing_its_own_claims_reproduces_it() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("control@example.com").await;

    assert_accepted(&app, "as issued", &access, "control@example.com").await;
    let header = header_of(&access);
    assert_eq!(header["alg"], "HS256");
    // The forging helpers are faithful: the same header and claims under the right key
    // give a token the service accepts, so every refusal below is due to the attack.
    let resigned = sign_right(&header, &claims(&access));
    assert_accepted(
        &app,
        "re-signed with the right key",
        &resigned,
        "control@example.com",
    )
    .await;
}

#[tokio::test]
async fn alg_none_in_any_spelling_is_refused_with_or_without_a_signature() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("alg-none@example.com").await;
    let payload = claims(&access);

    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({ "alg": alg, "typ": "JWT" });
        let unsigned = forge(&header, &payload, None);
        assert!(unsigned.ends_with('.'), "an empty signature: {unsigned}");
        assert_refused(
            &app,
            &format!("alg {alg}, empty signature"),
            &unsigned,
            "Token is invalid",
        )
        .await;
        let original_signature = with_header(&access, &header);
        assert_refused(
            &app,
            &format!("alg {alg}, original signature"),
            &original_signature,
            "Token is invalid",
        )
        .await;
        let mut superuser = payload.clone();
        superuser["is_superuser"] = json!(true);
        let escalated = forge(&header, &superuser, None);
        assert_refused(
            &app,
            &format!("alg {alg}, escalated claims"),
            &escalated,
            "Token is invalid",
        )
        .await;
    }
}

#[tokio::test]
async fn a_tampered_payload_with_the_original_signature_is_refused() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("tamper@example.com").await;
    let other = app.register("other@example.com").await;
    let original = claims(&access);

    let mut superuser = original.clone();
    superuser["is_superuser"] = json!(true);
    superuser["is_staff"] = json!(true);
    let mut other_user = original.clone();
    other_user["user_id"] = json!(other["id"].to_string());
    let mut longer = original.clone();
    longer["exp"] = json!(original["exp"].as_i64().unwrap() + 365 * 86_400);
    let mut as_refresh = original.clone();
    as_refresh["token_type"] = json!("refresh");
    let mut with_permissions = original.clone();
    with_permissions["permissions"] = json!(["auth.delete_user"]);

    for (case, payload) in [
        ("is_superuser true", superuser),
        ("user_id of another user", other_user),
        ("exp a year later", longer),
        ("token_type refresh", as_refresh),
        ("an extra permission", with_permissions),
    ] {
        assert_refused(
            &app,
            case,
            &with_payload(&access, &payload),
            "Token is invalid",
        )
        .await;
    }
    assert_eq!(
        app.me(&access).await.status,
        StatusCode::OK,
        "the genuine token still works"
    );
}

#[tokio::test]
async fn a_stripped_or_mangled_signature_is_refused() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("strip@example.com").await;
    let (header, payload, signature) = segments(&access);
    let mut flipped = signature.to_owned().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();

    for (case, token) in [
        ("empty signature", format!("{header}.{payload}.")),
        ("two segments", format!("{header}.{payload}")),
        (
            "one changed signature character",
            format!("{header}.{payload}.{flipped}"),
        ),
        (
            "truncated signature",
            format!("{header}.{payload}.{}", &signature[..signature.len() / 2]),
        ),
        ("a fourth segment", format!("{access}.{signature}")),
        ("a trailing dot", format!("{access}.")),
        ("padding after the signature", format!("{access}=")),
        ("not a JWT at all", "garbage".to_owned()),
        ("three empty segments", "..".to_owned()),
    ] {
        assert_refused(&app, case, &token, "Token is invalid").await;
    }
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("other-key@example.com").await;
    let header = header_of(&access);
    let payload = claims(&access);

    let random = sign(HmacSha::Sha256, &header, &payload, &attacker_key());
    assert_refused(&app, "random 48-byte key", &random, "Token is invalid").await;
    for guess in [
        "",
        "secret",
        "changeme",
        "gatehouse-test-signing-key-0123456789abcde",
    ] {
        let guessed = sign(HmacSha::Sha256, &header, &payload, guess.as_bytes());
        assert_refused(
            &app,
            &format!("guessed key {guess:?}"),
            &guessed,
            "Token is invalid",
        )
        .await;
    }
}

#[tokio::test]
async fn hs384_and_hs512_signed_with_the_right_secret_are_refused() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("hs512@example.com").await;
    let payload = claims(&access);
    let key = TEST_SIGNING_KEY.as_bytes();

    for (alg, mac) in [("HS384", HmacSha::Sha384), ("HS512", HmacSha::Sha512)] {
        let token = sign(mac, &json!({ "alg": alg, "typ": "JWT" }), &payload, key);
        assert_refused(
            &app,
            &format!("{alg} with the right secret"),
            &token,
            "Token is invalid",
        )
        .await;
        // Nor does an HS256 label on a longer MAC pass.
        let mislabelled = sign(mac, &json!({ "alg": "HS256", "typ": "JWT" }), &payload, key);
        assert_refused(
            &app,
            &format!("{alg} MAC labelled HS256"),
            &mislabelled,
            "Token is invalid",
        )
        .await;
    }
}

#[tokio::test]
async fn an_asymmetric_algorithm_header_over_an_hmac_signature_is_refused() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("rs256@example.com").await;
    let payload = claims(&access);

    for alg in ["RS256", "RS512", "PS256", "ES256", "ES384", "EdDSA"] {
        let header = json!({ "alg": alg, "typ": "JWT" });
        let right_secret = sign_right(&header, &payload);
        assert_refused(
            &app,
            &format!("{alg} header, HS256 MAC with the right secret"),
            &right_secret,
            "Token is invalid",
        )
        .await;
        let original_signature = with_header(&access, &header);
        assert_refused(
            &app,
            &format!("{alg} header, original signature"),
            &original_signature,
            "Token is invalid",
        )
        .await;
    }
}

#[tokio::test]
async fn jwk_jku_and_kid_headers_with_an_attacker_key_are_refused() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("jwk@example.com").await;
    let mut payload = claims(&access);
    payload["is_superuser"] = json!(true);
    let key = attacker_key();

    let embedded_jwk =
        json!({ "alg": "HS256", "typ": "JWT", "jwk": { "kty": "oct", "k": b64(&key) } });
    let jku = json!({ "alg": "HS256", "typ": "JWT", "jku": "https://attacker.example/.well-known/jwks.json" });
    let x5u = json!({ "alg": "HS256", "typ": "JWT", "x5u": "https://attacker.example/cert.pem" });
    let kid_attacker = json!({ "alg": "HS256", "typ": "JWT", "kid": "attacker" });
    for (case, header) in [
        ("embedded jwk", embedded_jwk),
        ("jku", jku),
        ("x5u", x5u),
        ("kid", kid_attacker),
    ] {
        let token = sign(HmacSha::Sha256, &header, &payload, &key);
        assert_refused(&app, case, &token, "Token is invalid").await;
    }

    // `kid` path traversal: the attacker signs with the empty content of /dev/null.
    let traversal = json!({ "alg": "HS256", "typ": "JWT", "kid": "../../../../../../dev/null" });
    let token = sign(HmacSha::Sha256, &traversal, &payload, b"");
    assert_refused(
        &app,
        "kid ../../dev/null, empty key",
        &token,
        "Token is invalid",
    )
    .await;

    // `kid` injection: the attacker signs with the key their SQL would select.
    let injection =
        json!({ "alg": "HS256", "typ": "JWT", "kid": "x' UNION SELECT 'attacker-key' -- " });
    let token = sign(HmacSha::Sha256, &injection, &payload, b"attacker-key");
    assert_refused(
        &app,
        "kid SQL injection, selected key",
        &token,
        "Token is invalid",
    )
    .await;
}

#[tokio::test]
async fn jwk_and_jku_headers_do_not_change_which_key_verifies_a_token() {
    let app = spawn_app().await;
    let email = "headers@example.com";
    let (_, access, _) = app.signed_in_user(email).await;
    let payload = claims(&access);
    let kid = header_of(&access)["kid"].clone();
    assert!(
        kid.is_string(),
        "every token names its key: {}",
        header_of(&access)
    );
    let attacker = b64(&attacker_key());

    // The key is the one `kid` names (or, without `kid`, one of the configured keys);
    // header fields naming other keys are ignored, so the right signature still passes
    // and nothing is fetched.
    for (case, header) in [
        (
            "embedded jwk",
            json!({ "alg": "HS256", "typ": "JWT", "kid": kid, "jwk": { "kty": "oct", "k": attacker } }),
        ),
        (
            "jku",
            json!({ "alg": "HS256", "typ": "JWT", "kid": kid, "jku": "https://attacker.example/jwks.json" }),
        ),
        (
            "x5u without kid",
            json!({ "alg": "HS256", "typ": "JWT", "x5u": "https://attacker.example/cert.pem" }),
        ),
    ] {
        assert_accepted(&app, case, &sign_right(&header, &payload), email).await;
    }
}

#[tokio::test]
async fn a_kid_naming_no_configured_key_is_refused_even_with_the_right_signature() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("kid@example.com").await;
    let payload = claims(&access);
    for (case, kid) in [
        ("kid traversal", json!("../../../../dev/null")),
        ("kid SQL", json!("x' OR '1'='1")),
        ("empty kid", json!("")),
    ] {
        let header = json!({ "alg": "HS256", "typ": "JWT", "kid": kid });
        assert_refused(
            &app,
            case,
            &sign_right(&header, &payload),
            "Token is invalid",
        )
        .await;
    }
}

#[tokio::test]
async fn malformed_exp_and_nbf_claims_are_refused_even_with_the_right_key() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("claims@example.com").await;
    let header = header_of(&access);
    let original = claims(&access);

    let mut exp_string = original.clone();
    exp_string["exp"] = json!("9999999999");
    let mut exp_null = original.clone();
    exp_null["exp"] = Value::Null;
    let mut no_exp = original.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut nbf_future = original.clone();
    nbf_future["nbf"] = json!(now() + 3600);
    let mut nbf_string = original.clone();
    nbf_string["nbf"] = json!("0");

    for (case, payload) in [
        ("exp as a string", exp_string),
        ("exp null", exp_null),
        ("no exp", no_exp),
        ("nbf an hour ahead", nbf_future),
        ("nbf as a string", nbf_string),
    ] {
        assert_refused(
            &app,
            case,
            &sign_right(&header, &payload),
            "Token is invalid",
        )
        .await;
    }

    let mut nbf_past = original.clone();
    nbf_past["nbf"] = json!(now() - 60);
    assert_accepted(
        &app,
        "nbf a minute ago",
        &sign_right(&header, &nbf_past),
        "claims@example.com",
    )
    .await;
}

#[tokio::test]
async fn an_expired_token_is_refused_as_expired() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("expired@example.com").await;
    let mut payload = claims(&access);
    payload["iat"] = json!(now() - 400);
    payload["exp"] = json!(now() - 100);

    let token = sign_right(&header_of(&access), &payload);

    assert_refused(&app, "exp 100 s ago", &token, "Token is expired").await;
}

#[tokio::test]
async fn an_expired_token_with_a_bad_signature_is_invalid_not_expired() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("expired-forged@example.com").await;
    let mut payload = claims(&access);
    payload["exp"] = json!(now() - 100);

    let token = sign(
        HmacSha::Sha256,
        &header_of(&access),
        &payload,
        &attacker_key(),
    );

    assert_refused(&app, "expired and forged", &token, "Token is invalid").await;
}

#[tokio::test]
async fn a_refresh_token_used_as_a_bearer_token_has_the_wrong_type() {
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_in_user("wrong-type@example.com").await;

    assert_access_token_rejected(&app.me(&refresh).await, "Token has wrong type");
    assert_access_token_rejected(
        &app.post_authed("/auth/logout/all/", &refresh, json!({}))
            .await,
        "Token has wrong type",
    );
    assert_eq!(
        app.refresh(&refresh).await.status,
        StatusCode::OK,
        "the refresh token itself is untouched"
    );
}

#[tokio::test]
async fn an_access_token_where_a_refresh_token_belongs_has_the_wrong_type() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("access-as-refresh@example.com").await;

    assert_token_not_valid(&app.refresh(&access).await, "Token has wrong type");
    assert_token_not_valid(
        &app.post("/auth/token/blacklist/", json!({ "refresh": access }))
            .await,
        "Token has wrong type",
    );
    assert_token_not_valid(
        &app.post("/auth/logout/", json!({ "refresh": access }))
            .await,
        "Token has wrong type",
    );
    assert_eq!(
        app.me(&access).await.status,
        StatusCode::OK,
        "the access token itself is untouched"
    );
}

#[tokio::test]
async fn a_lower_case_or_foreign_scheme_means_no_credentials() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("scheme@example.com").await;

    for header in [
        format!("bearer {access}"),
        format!("BEARER {access}"),
        "Basic c2NoZW1lQGV4YW1wbGUuY29tOmNvcnJlY3QgaG9yc2UgYmF0dGVyeQ==".to_owned(),
        format!("token {access}"),
        format!("JWT {access}"),
        access.clone(),
        String::new(),
    ] {
        eprintln!("case: {header:?}");
        assert_not_provided(
            &app.get("/auth/me/", Some(&header)).await,
            "Bearer realm=\"api\"",
        );
    }
}

#[tokio::test]
async fn a_bearer_header_without_exactly_one_token_is_malformed() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("two-values@example.com").await;

    for header in [
        "Bearer a b".to_owned(),
        "Bearer".to_owned(),
        format!("Bearer {access} {access}"),
    ] {
        eprintln!("case: {header:?}");
        assert_bad_header(&app.get("/auth/me/", Some(&header)).await);
    }
    // Like Python's `bytes.split()`, runs of whitespace separate the two values.
    let spaced = app
        .get("/auth/me/", Some(&format!("Bearer   {access}")))
        .await;
    assert_eq!(spaced.status, StatusCode::OK, "{}", spaced.text);
}

#[tokio::test]
async fn a_bearer_token_that_is_not_utf8_is_invalid() {
    let app = spawn_app().await;
    let value = reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe.\xfd").unwrap();
    let response = app
        .client
        .get(app.url("/auth/me/"))
        .header("Authorization", value)
        .send()
        .await
        .unwrap();
    assert_access_token_rejected(&Reply::read(response).await, "Token is invalid");
}

#[tokio::test]
async fn a_token_for_a_user_that_does_not_exist_is_refused_as_user_not_found() {
    let app = spawn_app().await;
    let (id, access, _) = app.signed_in_user("ghost@example.com").await;
    let mut payload = claims(&access);
    payload["user_id"] = json!((id + 1000).to_string());
    let token = sign_right(&header_of(&access), &payload);

    assert_failed_with_code(&app.me(&token).await, "User not found", "user_not_found");
    assert_token_not_valid(&verify(&app, &token).await, "Token is invalid");

    // The same for a real token whose user row is gone.
    app.db
        .execute(&format!("DELETE FROM users WHERE id = {id}"))
        .await;
    assert_failed_with_code(&app.me(&access).await, "User not found", "user_not_found");
    assert_token_not_valid(&verify(&app, &access).await, "Token is invalid");
}

#[tokio::test]
async fn a_token_of_a_deactivated_user_is_refused_as_inactive() {
    let app = spawn_app().await;
    let (id, access, _) = app.signed_in_user("inactive@example.com").await;
    app.db
        .execute(&format!(
            "UPDATE users SET is_active = false WHERE id = {id}"
        ))
        .await;

    assert_failed_with_code(&app.me(&access).await, "User is inactive", "user_inactive");
    assert_token_not_valid(&verify(&app, &access).await, "Token is invalid");
}

#[tokio::test]
async fn a_token_issued_before_the_last_password_change_is_refused() {
    let app = spawn_app().await;
    let (id, access, _) = app.signed_in_user("changed@example.com").await;
    app.db
        .execute(&format!(
            "UPDATE users SET password_changed_at = now() + interval '1 minute' WHERE id = {id}"
        ))
        .await;

    assert_failed_with_code(
        &app.me(&access).await,
        "The user's password has been changed.",
        "password_changed",
    );
    assert_token_not_valid(&verify(&app, &access).await, "Token is invalid");
}

#[tokio::test]
async fn a_token_whose_session_belongs_to_another_user_is_refused() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("owner@example.com").await;
    let (other_id, other_access, _) = app.signed_in_user("borrower@example.com").await;
    // B is signed out everywhere; A's session is still live.
    app.db
        .execute(&format!(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = {other_id}"
        ))
        .await;
    assert_access_token_rejected(&app.me(&other_access).await, "Token is blacklisted");
    let mut payload = claims(&access);
    payload["user_id"] = json!(other_id.to_string());

    let token = sign_right(&header_of(&access), &payload);

    // A's session is no session of B's.
    assert_access_token_rejected(&app.me(&token).await, "Token is blacklisted");
    assert_token_not_valid(&verify(&app, &token).await, "Token is blacklisted");
}

#[tokio::test]
async fn with_jwt_as_the_only_header_type_jwt_is_accepted_and_named_in_the_challenge() {
    let app = spawn_app_with(|s| s.jwt.auth.auth_header_types = vec!["JWT".to_owned()]).await;
    let (_, access, _) = app.signed_in_user("jwt-type@example.com").await;

    let reply = app.get("/auth/me/", Some(&format!("JWT {access}"))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["email"], "jwt-type@example.com");

    assert_not_provided(
        &app.get("/auth/me/", Some(&format!("Bearer {access}")))
            .await,
        "JWT realm=\"api\"",
    );
    assert_not_provided(&app.get("/auth/me/", None).await, "JWT realm=\"api\"");

    let forged = app.get("/auth/me/", Some("JWT not.a.token")).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(forged.body["code"], "token_not_valid");
    assert_eq!(forged.body["messages"][0]["message"], "Token is invalid");
    assert_eq!(forged.header("www-authenticate"), Some("JWT realm=\"api\""));

    let malformed = app.get("/auth/me/", Some("JWT")).await;
    assert_eq!(malformed.body["code"], "bad_authorization_header");
    assert_eq!(
        malformed.header("www-authenticate"),
        Some("JWT realm=\"api\"")
    );
}

#[tokio::test]
async fn with_two_header_types_both_are_accepted_and_the_first_is_named_in_the_challenge() {
    let app = spawn_app_with(|s| {
        s.jwt.auth.auth_header_types = vec!["Bearer".to_owned(), "JWT".to_owned()]
    })
    .await;
    let (_, access, _) = app.signed_in_user("two-types@example.com").await;

    for scheme in ["Bearer", "JWT"] {
        let reply = app
            .get("/auth/me/", Some(&format!("{scheme} {access}")))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{scheme}: {}", reply.text);
    }
    assert_not_provided(
        &app.get("/auth/me/", Some(&format!("Basic {access}"))).await,
        "Bearer realm=\"api\"",
    );
    // `Token` is DRF's API-key scheme: a JWT is no key.
    let reply = app.get("/auth/me/", Some(&format!("Token {access}"))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(
        reply.body,
        serde_json::json!({ "detail": "Invalid token." })
    );
}
