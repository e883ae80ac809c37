//! The two readers hostile input reaches first — the request-body reader and the
//! `Authorization` / JWT reader — as plain functions of bytes, for the property tests
//! below and for the `cargo fuzz` targets in `fuzz/` (feature `fuzzing`). Each answers
//! the HTTP status the request would get from that reader: 200 when it is read, a 4xx
//! when it is refused. A 5xx or a panic is a bug.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use actix_web::{FromRequest, ResponseError, test::TestRequest};
use domain::ports::TokenCodec;
use infrastructure::{JwtAlgorithm, JwtSettings, JwtTokenCodec};

use crate::auth::{Presented, presented};
use crate::body::{Char, Payload};
use crate::errors::ApiError;

/// The HS256 key the JWT reader is fuzzed with: tokens signed with it are "real".
pub const FUZZ_SIGNING_KEY: &str = "gatehouse-fuzzing-key-0123456789abcdef";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the readers")
    })
}

fn status(error: &ApiError) -> u16 {
    error.status_code().as_u16()
}

/// Reads `body`, sent with this `Content-Type` (raw bytes, possibly not a valid
/// header value, then sent without one), as every handler reads its body; then reads
/// the fields the handlers read (strings, an email, a boolean, a list) from it.
pub fn read_body(content_type: &[u8], body: &[u8]) -> u16 {
    let mut request = TestRequest::post()
        .uri("/auth/register/")
        .insert_header((CONTENT_LENGTH, body.len()));
    if let Ok(value) = HeaderValue::from_bytes(content_type) {
        request = request.insert_header((CONTENT_TYPE, value));
    }
    let (request, mut payload) = request.set_payload(body.to_vec()).to_http_parts();
    runtime().block_on(async {
        let read = tokio::time::timeout(
            Duration::from_secs(10),
            Payload::from_request(&request, &mut payload),
        )
        .await
        .expect("a body held in memory is read at once");
        let payload = match read {
            Ok(payload) => payload,
            Err(error) => return status(&error),
        };
        let mut fields = payload.fields();
        let _ = fields.char("username", Char::REQUIRED.max(150));
        let _ = fields.char("email", Char::OPTIONAL.email());
        let _ = fields.char("password", Char::PASSWORD);
        let _ = fields.boolean("is_active");
        let _ = fields.string_list("groups");
        match fields.finish() {
            Ok(()) => 200,
            Err(error) => status(&error),
        }
    })
}

fn codec() -> &'static JwtTokenCodec {
    static CODEC: OnceLock<JwtTokenCodec> = OnceLock::new();
    CODEC.get_or_init(|| {
        JwtTokenCodec::new(&JwtSettings {
            algorithm: JwtAlgorithm::HS256,
            signing_key: Some(FUZZ_SIGNING_KEY.to_owned().into()),
            private_key_file: None,
            public_key_file: None,
            extra_verification_keys: Vec::new(),
            issuer: None,
            audience: None,
            leeway: Duration::ZERO,
        })
        .expect("the fuzzing key is a valid HS256 secret")
    })
}

/// Reads an `Authorization` header value as authentication does before it asks the
/// store: the scheme and its one token, and for a JWT its signature, shape and claims
/// (HS256 with `FUZZ_SIGNING_KEY`). An API key is read (200): only the store knows it.
pub fn read_authorization(header: &[u8]) -> u16 {
    let types = ["Bearer".to_owned(), "JWT".to_owned()];
    match presented(header, &types) {
        Err(error) => status(&error),
        Ok(Presented::ApiKey(_)) => 200,
        Ok(Presented::Jwt(token)) => match std::str::from_utf8(token) {
            Err(_) => 401,
            Ok(token) => read_token(token),
        },
    }
}

/// Decodes a token string as the verify, refresh and authentication paths do.
pub fn read_token(token: &str) -> u16 {
    match codec().decode(token) {
        Ok(_) => 200,
        Err(error) => status(&ApiError::AccessTokenNotValid(error.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// How many cases each property runs (also the figure quoted in the issue's
    /// closing note).
    const CASES: u32 = 2000;

    fn read(reply: u16) -> bool {
        reply == 200 || (400..500).contains(&reply)
    }

    /// Any JSON value, nested up to 8 deep: the shapes a hostile client can send.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(8, 256, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop_oneof![
                            Just("username".to_owned()),
                            Just("email".to_owned()),
                            Just("password".to_owned()),
                            Just("groups".to_owned()),
                            Just("is_active".to_owned()),
                            ".{0,12}"
                        ],
                        inner
                    ),
                    0..8
                )
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    fn content_type() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"application/json".to_vec()),
            Just(b"application/json; charset=latin-1".to_vec()),
            Just(b"APPLICATION/JSON".to_vec()),
            Just(b"application/x-www-form-urlencoded".to_vec()),
            Just(b"application/x-www-form-urlencoded; charset=utf-8".to_vec()),
            Just(b"multipart/form-data; boundary=XyZ".to_vec()),
            Just(b"multipart/form-data".to_vec()),
            Just(b"multipart/form-data; boundary=\"\"".to_vec()),
            Just(b"text/plain".to_vec()),
            prop::collection::vec(any::<u8>(), 0..64),
        ]
    }

    /// A multipart body of random parts under `boundary`, after a preamble of short
    /// lines, maybe cut short.
    fn multipart_under(boundary: &'static str) -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec("[-a-zA-Z\r]{0,4}\n", 0..3),
            prop::collection::vec(
                (
                    ".{0,12}",
                    prop::collection::vec(any::<u8>(), 0..64),
                    any::<bool>(),
                ),
                0..6,
            ),
            any::<bool>(),
            any::<prop::sample::Index>(),
        )
            .prop_map(move |(preamble, parts, whole, cut)| {
                let mut body = preamble.concat().into_bytes();
                for (name, value, is_file) in parts {
                    body.extend_from_slice(b"--");
                    body.extend_from_slice(boundary.as_bytes());
                    body.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
                    body.extend_from_slice(name.as_bytes());
                    body.extend_from_slice(b"\"");
                    if is_file {
                        body.extend_from_slice(
                            b"; filename=\"f.bin\"\r\nContent-Type: application/octet-stream",
                        );
                    }
                    body.extend_from_slice(b"\r\n\r\n");
                    body.extend_from_slice(&value);
                    body.extend_from_slice(b"\r\n");
                }
                body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
                if !whole && !body.is_empty() {
                    body.truncate(cut.index(body.len()));
                }
                body
            })
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            json_value().prop_map(|v| v.to_string().into_bytes()),
            (1usize..5000).prop_map(|depth| "[".repeat(depth).into_bytes()),
            (1usize..5000).prop_map(|depth| "{\"a\":".repeat(depth).into_bytes()),
            prop::collection::vec((".{0,10}", ".{0,20}"), 0..8).prop_map(|pairs| {
                serde_urlencoded::to_string(pairs)
                    .unwrap_or_default()
                    .into_bytes()
            }),
            "[%&=+a-z0-9;]{0,200}".prop_map(String::into_bytes),
            multipart_under("XyZ"),
        ]
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..96).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
            json_value().prop_map(|v| URL_SAFE_NO_PAD.encode(v.to_string())),
            "[A-Za-z0-9_=+/.-]{0,64}",
        ]
    }

    /// A token signed with the fuzzing key over random header and claims: a real
    /// signature, so the claims are what is read.
    fn signed_token() -> impl Strategy<Value = String> {
        (
            prop_oneof![
                Just(json!({ "alg": "HS256", "typ": "JWT" })),
                Just(json!({ "alg": "none" })),
                Just(json!({ "alg": "HS512", "typ": "JWT" })),
                json_value(),
            ],
            prop_oneof![
                json_value(),
                (any::<i64>(), any::<i64>(), ".{0,40}").prop_map(|(exp, iat, id)| json!({
                    "token_type": "access", "exp": exp, "iat": iat, "jti": id,
                    "user_id": id, "sid": id, "groups": [id], "is_staff": "yes",
                })),
            ],
        )
            .prop_map(|(header, claims)| {
                use hmac::{Hmac, KeyInit, Mac};
                let signing_input = format!(
                    "{}.{}",
                    URL_SAFE_NO_PAD.encode(header.to_string()),
                    URL_SAFE_NO_PAD.encode(claims.to_string())
                );
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(FUZZ_SIGNING_KEY.as_bytes())
                    .expect("any key length");
                mac.update(signing_input.as_bytes());
                let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
                format!("{signing_input}.{signature}")
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_body_is_read_or_refused_with_a_4xx(
            content_type in content_type(),
            body in body(),
        ) {
            let reply = read_body(&content_type, &body);
            prop_assert!(read(reply), "{reply} for {:?}", String::from_utf8_lossy(&body));
        }

        #[test]
        fn any_multipart_body_under_any_boundary_is_read_or_refused_with_a_4xx(
            (boundary, body) in prop::sample::select(vec!["a", "ab", "XyZ", "----gatehouse0123"])
                .prop_flat_map(|boundary| (Just(boundary), multipart_under(boundary))),
        ) {
            let content_type = format!("multipart/form-data; boundary={boundary}");
            let reply = read_body(content_type.as_bytes(), &body);
            prop_assert!(read(reply), "{reply} for {:?}", String::from_utf8_lossy(&body));
        }

        #[test]
        fn any_authorization_header_is_read_or_refused_with_a_4xx(
            scheme in prop_oneof![
                Just("Bearer".to_owned()),
                Just("JWT".to_owned()),
                Just("Token".to_owned()),
                Just("bearer".to_owned()),
                ".{0,8}",
            ],
            separator in prop::sample::select(vec![" ", "  ", "\t", ""]),
            token in prop_oneof![
                (segment(), segment(), segment()).prop_map(|(h, p, s)| format!("{h}.{p}.{s}")),
                signed_token(),
                ".{0,200}",
            ],
            raw in prop::collection::vec(any::<u8>(), 0..128),
        ) {
            let header = format!("{scheme}{separator}{token}");
            let reply = read_authorization(header.as_bytes());
            prop_assert!(read(reply), "{reply} for {header:?}");
            let reply = read_authorization(&raw);
            prop_assert!(read(reply), "{reply} for {raw:?}");
        }

        #[test]
        fn a_signed_token_with_any_claims_is_valid_or_refused_with_a_401(token in signed_token()) {
            let reply = read_token(&token);
            prop_assert!(reply == 200 || reply == 401, "{reply} for {token}");
        }
    }

    #[test]
    fn the_readers_tell_good_input_from_bad() {
        assert_eq!(
            read_body(
                b"application/json",
                br#"{"username": "alice", "password": "secret"}"#
            ),
            200
        );
        assert_eq!(
            read_body(b"application/json", br#"{"username": "alice"}"#),
            400
        );
        assert_eq!(read_body(b"application/json", b"{"), 400);
        assert_eq!(read_body(b"text/plain", b"hello"), 415);
        assert_eq!(
            read_body(b"multipart/form-data; boundary=a", b"\n--a--\r\n"),
            400,
            "actix-multipart panics on this one"
        );
        assert_eq!(read_authorization(b"Bearer not.a.token"), 401);
        assert_eq!(read_authorization(b"Token abc"), 200);
        assert_eq!(read_authorization(b"Bearer a b"), 401);
    }
}
