//! The authenticated caller, read from `Authorization` as SimpleJWT does.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::{AUTHORIZATION, USER_AGENT};
use actix_web::{FromRequest, HttpRequest, dev, web};
use application::use_cases::authenticate::Principal;
use application::{Caller, ClientInfo};

use crate::errors::ApiError;
use crate::startup::AppState;

/// An access token's bearer, checked against the store, and the client he calls from.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal, pub ClientInfo);

impl Authenticated {
    /// The caller as the use cases take him: who, and from where.
    pub fn caller(&self) -> Caller<'_> {
        Caller {
            user: &self.0.user,
            client: &self.1,
        }
    }
}

/// SimpleJWT's reading of the header: no header, or a first word that is not a
/// configured type, means "no credentials"; a known type must be followed by exactly
/// one token.
fn raw_token<'a>(header: &'a [u8], header_types: &[String]) -> Result<&'a [u8], ApiError> {
    let parts: Vec<&[u8]> = header
        .split(|b| b.is_ascii_whitespace())
        .filter(|part| !part.is_empty())
        .collect();
    let Some(first) = parts.first() else {
        return Err(ApiError::NotAuthenticated);
    };
    if !header_types.iter().any(|t| t.as_bytes() == *first) {
        return Err(ApiError::NotAuthenticated);
    }
    if parts.len() != 2 {
        return Err(ApiError::AuthenticationFailedWithCode {
            detail: "Authorization header must contain two space-delimited values",
            code: "bad_authorization_header",
        });
    }
    Ok(parts[1])
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        let client = client_info(req);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no application state")))?;
            let header = header.ok_or(ApiError::NotAuthenticated)?;
            let token = raw_token(&header, &state.header_types)?;
            let token = std::str::from_utf8(token)
                .map_err(|_| ApiError::AccessTokenNotValid(application::TokenRejection::Invalid))?;
            let principal = state.gatehouse.authenticate(token).await?;
            Ok(Authenticated(principal, client))
        })
    }
}

/// The caller's user agent and address, kept with the sessions it opens and the
/// audit events it causes.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

const MAX_USER_AGENT_CHARS: usize = 512;

impl FromRequest for Client {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut dev::Payload) -> Self::Future {
        std::future::ready(Ok(Client(client_info(req))))
    }
}

/// The request's user agent (cut to the stored width) and peer address.
fn client_info(req: &HttpRequest) -> ClientInfo {
    let user_agent = req.headers().get(USER_AGENT).map(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .chars()
            .take(MAX_USER_AGENT_CHARS)
            .collect()
    });
    let ip = req.peer_addr().map(|addr| addr.ip().to_string());
    ClientInfo { user_agent, ip }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> Vec<String> {
        vec!["Bearer".to_owned()]
    }

    #[test]
    fn a_bearer_token_is_read() {
        assert_eq!(
            raw_token(b"Bearer abc.def.ghi", &types()).unwrap(),
            b"abc.def.ghi"
        );
    }

    #[test]
    fn another_or_lower_case_type_means_no_credentials() {
        for header in [&b"bearer abc"[..], b"Basic dXNlcjpwYXNz", b"", b"   "] {
            assert!(matches!(
                raw_token(header, &types()),
                Err(ApiError::NotAuthenticated)
            ));
        }
    }

    #[test]
    fn a_known_type_needs_exactly_one_token() {
        for header in [&b"Bearer"[..], b"Bearer a b"] {
            assert!(matches!(
                raw_token(header, &types()),
                Err(ApiError::AuthenticationFailedWithCode {
                    code: "bad_authorization_header",
                    ..
                })
            ));
        }
    }
}
