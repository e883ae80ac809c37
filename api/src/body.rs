//! Request bodies as DRF parses them: JSON, url-encoded and multipart forms into one
//! field map, then read field by field with `CharField`'s rules and messages.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::error::PayloadError;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest, dev, web};
use application::ValidationErrors;
use futures_util::{FutureExt, StreamExt};
use serde_json::{Map, Value};

use crate::errors::ApiError;
use crate::startup::AppState;

/// The body formats every endpoint parses, as DRF's OPTIONS metadata lists them.
pub(crate) const MEDIA_TYPES: [&str; 3] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

/// Bodies larger than this are refused with 413: no field of ours needs more.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// `server.body_timeout`'s default, for a request that reaches us without the state.
const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The request body as field name → value. Form values are strings; a repeated form
/// key keeps its last value, as Django's `QueryDict` does.
#[derive(Debug, Default)]
pub(crate) struct Payload(Map<String, Value>);

impl Payload {
    pub(crate) fn fields(self) -> Fields {
        Fields {
            map: self.0,
            errors: ValidationErrors::new(),
        }
    }
}

fn media_type(raw: &str) -> String {
    raw.split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn python_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

async fn read_body(mut payload: dev::Payload) -> Result<BytesMut, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| match error {
            actix_web::error::PayloadError::Overflow => ApiError::PayloadTooLarge,
            _ => ApiError::Parse("Malformed request body.".to_owned()),
        })?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn parse_json(body: &[u8]) -> Result<Payload, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| ApiError::Parse(format!("JSON parse error - {error}")))?;
    match value {
        Value::Object(map) => Ok(Payload(map)),
        Value::Null => Err(ApiError::Validation(ValidationErrors::single(
            ValidationErrors::NON_FIELD,
            "No data provided",
        ))),
        other => Err(ApiError::Validation(ValidationErrors::single(
            ValidationErrors::NON_FIELD,
            format!(
                "Invalid data. Expected a dictionary, but got {}.",
                python_type_name(&other)
            ),
        ))),
    }
}

fn parse_form(body: &[u8]) -> Result<Payload, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|error| ApiError::Parse(format!("Form parse error - {error}")))?;
    Ok(Payload(
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    ))
}

/// Most fields a multipart body may carry; no endpoint takes more than a handful.
const MAX_MULTIPART_FIELDS: usize = 64;

/// Parses a multipart body that was already read whole (and so is within the limit).
/// actix-multipart slices some lines before checking their length (a short boundary
/// and a short line before it panic inside it: found by `make fuzz`), so its parse runs
/// under `catch_unwind`: whatever trips it is a 400, and the worker goes on.
fn parse_multipart(req: &HttpRequest, body: Bytes) -> Result<Payload, ApiError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parse_multipart_whole(req, body)
    }))
    .unwrap_or_else(|_| {
        tracing::warn!("the multipart parser panicked on a request body: answered 400");
        Err(ApiError::Parse(
            "Multipart form parse error - Invalid multipart body".to_owned(),
        ))
    })
}

/// The parse itself. The parser is fed the whole body as one ready chunk, so every
/// step it takes is ready at once; a step that would wait is waiting for bytes that
/// will never come (a body cut before its closing boundary, where actix-multipart waits
/// instead of failing), and is answered as the incomplete body it is.
fn parse_multipart_whole(req: &HttpRequest, body: Bytes) -> Result<Payload, ApiError> {
    use actix_multipart::MultipartError;
    let parse_error =
        |error: MultipartError| ApiError::Parse(format!("Multipart form parse error - {error}"));
    let stream = futures_util::stream::once(async move { Ok::<_, PayloadError>(body) });
    let mut multipart = actix_multipart::Multipart::new(req.headers(), stream);
    let mut map = Map::new();
    let mut count = 0usize;
    while let Some(field) = multipart
        .next()
        .now_or_never()
        .ok_or_else(|| parse_error(MultipartError::Incomplete))?
    {
        count += 1;
        if count > MAX_MULTIPART_FIELDS {
            return Err(ApiError::Parse(
                "Multipart form parse error - too many fields".to_owned(),
            ));
        }
        let mut field = field.map_err(parse_error)?;
        let disposition = field.content_disposition().cloned();
        let name = disposition
            .as_ref()
            .and_then(|d| d.get_name())
            .map(str::to_owned);
        let is_file = disposition
            .as_ref()
            .and_then(|d| d.get_filename())
            .is_some();
        let mut value = BytesMut::new();
        while let Some(chunk) = field
            .next()
            .now_or_never()
            .ok_or_else(|| parse_error(MultipartError::Incomplete))?
        {
            value.extend_from_slice(&chunk.map_err(parse_error)?);
        }
        // Files are not fields of any Gatehouse endpoint: read past them.
        if let (Some(name), false) = (name, is_file) {
            let text = String::from_utf8(value.to_vec()).map_err(|_| {
                ApiError::Parse("Multipart form parse error - invalid UTF-8".to_owned())
            })?;
            map.insert(name, Value::String(text));
        }
    }
    Ok(Payload(map))
}

fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl FromRequest for Payload {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let content_type = req
                .headers()
                .get(CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            // DRF reads an absent Content-Type as "", which no parser takes.
            let content_type = content_type.unwrap_or_default();
            let media = media_type(&content_type);
            let supported = matches!(
                media.as_str(),
                "application/json" | "application/x-www-form-urlencoded" | "multipart/form-data"
            );
            // No body at all is no data, whatever the type says (DRF).
            let chunked = req.headers().contains_key(TRANSFER_ENCODING);
            if declared_length(&req).unwrap_or(0) == 0 && !chunked {
                return Ok(Payload::default());
            }
            if !supported {
                return Err(ApiError::UnsupportedMediaType(content_type));
            }
            if declared_length(&req).is_some_and(|length| length > MAX_BODY_BYTES) {
                return Err(ApiError::PayloadTooLarge);
            }
            // Every body is read whole, within the limit and the time allowed, before
            // any parser sees it: a client that stalls or drips holds no connection
            // longer than `server.body_timeout`.
            let timeout = req
                .app_data::<web::Data<AppState>>()
                .map_or(DEFAULT_BODY_TIMEOUT, |state| state.body_timeout);
            let body = tokio::time::timeout(timeout, read_body(payload))
                .await
                .map_err(|_| ApiError::BodyTimeout)??;
            if body.is_empty() {
                return Ok(Payload::default());
            }
            match media.as_str() {
                "multipart/form-data" => parse_multipart(&req, body.freeze()),
                "application/x-www-form-urlencoded" => parse_form(&body),
                _ => parse_json(&body),
            }
        })
    }
}

const NOT_A_STRING: &str = "Not a valid string.";

/// How a string field is read: DRF `CharField` options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Char {
    pub(crate) required: bool,
    pub(crate) allow_blank: bool,
    pub(crate) trim: bool,
    pub(crate) max_length: Option<usize>,
    /// The message for a value that is no string at all (DRF's `invalid`).
    pub(crate) invalid: &'static str,
}

impl Char {
    /// Required, not blank, trimmed.
    pub(crate) const REQUIRED: Char = Char {
        required: true,
        allow_blank: false,
        trim: true,
        max_length: None,
        invalid: NOT_A_STRING,
    };
    /// Optional, not blank, trimmed.
    pub(crate) const OPTIONAL: Char = Char {
        required: false,
        allow_blank: false,
        trim: true,
        max_length: None,
        invalid: NOT_A_STRING,
    };
    /// Optional, may be blank (model fields with `blank=True`), trimmed.
    pub(crate) const OPTIONAL_BLANK: Char = Char {
        required: false,
        allow_blank: true,
        trim: true,
        max_length: None,
        invalid: NOT_A_STRING,
    };
    /// A password: required, never trimmed (SimpleJWT's `PasswordField`).
    pub(crate) const PASSWORD: Char = Char {
        required: true,
        allow_blank: false,
        trim: false,
        max_length: None,
        invalid: NOT_A_STRING,
    };
    /// An optional password, never trimmed.
    pub(crate) const OPTIONAL_PASSWORD: Char = Char {
        required: false,
        allow_blank: false,
        trim: false,
        max_length: None,
        invalid: NOT_A_STRING,
    };

    pub(crate) const fn max(self, max_length: usize) -> Char {
        Char {
            max_length: Some(max_length),
            ..self
        }
    }

    /// An `EmailField`: its `invalid` message replaces `CharField`'s.
    pub(crate) const fn email(self) -> Char {
        Char {
            invalid: "Enter a valid email address.",
            ..self
        }
    }
}

/// Reads fields and collects their errors, DRF style: every field is checked and all
/// errors are answered together.
#[derive(Debug)]
pub(crate) struct Fields {
    map: Map<String, Value>,
    errors: ValidationErrors,
}

impl Fields {
    pub(crate) fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The field as a string, or `None` (absent, or invalid: then an error is recorded).
    pub(crate) fn char(&mut self, name: &str, spec: Char) -> Option<String> {
        let raw = match self.map.get(name) {
            None => {
                if spec.required {
                    self.errors.add(name, "This field is required.");
                }
                return None;
            }
            Some(Value::Null) => {
                self.errors.add(name, "This field may not be null.");
                return None;
            }
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => {
                self.errors.add(name, spec.invalid);
                return None;
            }
        };
        let value = if spec.trim {
            raw.trim().to_owned()
        } else {
            raw
        };
        if value.is_empty() && !spec.allow_blank {
            self.errors.add(name, "This field may not be blank.");
            return None;
        }
        if value.contains('\0') {
            self.errors.add(name, "Null characters are not allowed.");
            return None;
        }
        if let Some(max) = spec.max_length
            && value.chars().count() > max
        {
            self.errors.add(name, domain::user::too_long(max));
            return None;
        }
        Some(value)
    }

    /// A DRF `BooleanField`: JSON booleans, 0/1, and the usual words in forms.
    pub(crate) fn boolean(&mut self, name: &str) -> Option<bool> {
        let value = match self.map.get(name)? {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
                "false" | "f" | "no" | "n" | "off" | "0" => Some(false),
                _ => None,
            },
            Value::Null => {
                self.errors.add(name, "This field may not be null.");
                return None;
            }
            _ => None,
        };
        if value.is_none() {
            self.errors.add(name, "Must be a valid boolean.");
        }
        value
    }

    /// A list of strings (a related field by slug). A form sends one value.
    pub(crate) fn string_list(&mut self, name: &str) -> Option<Vec<String>> {
        match self.map.get(name)? {
            Value::Array(items) => {
                // A null character is no slug PostgreSQL can look up: DRF's
                // `SlugRelatedField` answers it `Invalid value.` too.
                let strings: Option<Vec<String>> = items
                    .iter()
                    .map(|item| item.as_str().filter(|s| !s.contains('\0')))
                    .map(|item| item.map(str::to_owned))
                    .collect();
                if strings.is_none() {
                    self.errors.add(name, "Invalid value.");
                }
                strings
            }
            Value::String(single) if single.contains('\0') => {
                self.errors.add(name, "Invalid value.");
                None
            }
            Value::String(single) => Some(vec![single.clone()]),
            Value::Null => {
                self.errors.add(name, "This field may not be null.");
                None
            }
            other => {
                let kind = python_type_name(other);
                self.errors.add(
                    name,
                    format!("Expected a list of items but got type \"{kind}\"."),
                );
                None
            }
        }
    }

    /// `Err` with every recorded field error, if any.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        self.errors.into_result().map_err(ApiError::Validation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Fields {
        Payload(value.as_object().unwrap().clone()).fields()
    }

    #[test]
    fn missing_null_blank_and_wrong_type_get_drfs_messages() {
        let mut f = fields(json!({"b": null, "c": "  ", "d": ["x"], "e": 42, "f": "a\u{0}b"}));
        assert_eq!(f.char("a", Char::REQUIRED), None);
        assert_eq!(f.char("b", Char::REQUIRED), None);
        assert_eq!(f.char("c", Char::REQUIRED), None);
        assert_eq!(f.char("d", Char::REQUIRED), None);
        assert_eq!(f.char("e", Char::REQUIRED).as_deref(), Some("42"));
        assert_eq!(f.char("f", Char::REQUIRED), None);
        let Err(ApiError::Validation(errors)) = f.finish() else {
            panic!("expected errors")
        };
        assert_eq!(errors.messages("a"), ["This field is required."]);
        assert_eq!(errors.messages("b"), ["This field may not be null."]);
        assert_eq!(errors.messages("c"), ["This field may not be blank."]);
        assert_eq!(errors.messages("d"), ["Not a valid string."]);
        assert_eq!(errors.messages("f"), ["Null characters are not allowed."]);
    }

    #[test]
    fn passwords_are_not_trimmed_and_names_may_be_blank() {
        let mut f = fields(json!({"password": " secret ", "first_name": ""}));
        assert_eq!(
            f.char("password", Char::PASSWORD).as_deref(),
            Some(" secret ")
        );
        assert_eq!(
            f.char("first_name", Char::OPTIONAL_BLANK).as_deref(),
            Some("")
        );
        assert!(f.finish().is_ok());
    }

    #[test]
    fn max_length_counts_characters() {
        let mut f = fields(json!({"name": "é".repeat(151)}));
        assert_eq!(f.char("name", Char::OPTIONAL_BLANK.max(150)), None);
        let Err(ApiError::Validation(errors)) = f.finish() else {
            panic!("expected errors")
        };
        assert_eq!(
            errors.messages("name"),
            ["Ensure this field has no more than 150 characters."]
        );
    }

    #[test]
    fn a_json_list_is_not_a_dictionary() {
        let Err(ApiError::Validation(errors)) = parse_json(b"[1, 2]") else {
            panic!()
        };
        assert_eq!(
            errors.messages("non_field_errors"),
            ["Invalid data. Expected a dictionary, but got list."]
        );
    }

    #[test]
    fn broken_json_is_a_parse_error() {
        let Err(ApiError::Parse(detail)) = parse_json(b"{\"a\":") else {
            panic!()
        };
        assert!(detail.starts_with("JSON parse error - "), "{detail}");
    }

    #[test]
    fn a_form_keeps_the_last_value_of_a_repeated_key() {
        let payload = parse_form(b"a=1&a=2&b=x%20y").unwrap();
        assert_eq!(payload.0.get("a"), Some(&json!("2")));
        assert_eq!(payload.0.get("b"), Some(&json!("x y")));
    }
}
