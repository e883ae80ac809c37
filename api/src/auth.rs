//! The authenticated caller, read from `Authorization` as SimpleJWT does.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::{AUTHORIZATION, USER_AGENT};
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev, web};
use application::use_cases::authenticate::{Credential, Principal};
use application::{Caller, ClientInfo};
use domain::{User, UserProfile};

use crate::errors::ApiError;
use crate::startup::AppState;

/// The signed-in caller (an access token or an API key, checked against the store, his
/// profile read with it) and the client he calls from.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub(crate) profile: UserProfile,
    pub(crate) credential: Credential,
    pub(crate) client: ClientInfo,
}

impl Authenticated {
    pub(crate) fn user(&self) -> &User {
        &self.profile.user
    }

    /// The caller as the use cases take him: who, in which session, from where.
    pub(crate) fn caller(&self) -> Caller<'_> {
        Caller {
            user: &self.profile.user,
            session: self.credential.session(),
            client: &self.client,
        }
    }
}

/// How clients present access tokens (`jwt.auth_header_types`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct AuthSettings {
    /// `Authorization` types accepted for access tokens; the first is named in
    /// challenges.
    #[serde(deserialize_with = "application::config::list")]
    pub auth_header_types: Vec<String>,
}

/// DRF's `TokenAuthentication` keyword: `Authorization: Token <key>`.
const API_KEY_TYPE: &[u8] = b"Token";

/// What the `Authorization` header presents.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Presented<'a> {
    Jwt(&'a [u8]),
    ApiKey(&'a [u8]),
}

/// The header read as DRF's authentication classes read it, JWT first: no header, or
/// a first word that is neither a configured JWT type nor `Token`, means "no
/// credentials"; a known type must be followed by exactly one token.
pub(crate) fn presented<'a>(
    header: &'a [u8],
    header_types: &[String],
) -> Result<Presented<'a>, ApiError> {
    let parts: Vec<&[u8]> = header
        .split(|b| b.is_ascii_whitespace())
        .filter(|part| !part.is_empty())
        .collect();
    let Some(first) = parts.first() else {
        return Err(ApiError::NotAuthenticated);
    };
    if header_types.iter().any(|t| t.as_bytes() == *first) {
        if parts.len() != 2 {
            return Err(ApiError::AuthenticationFailedWithCode {
                detail: "Authorization header must contain two space-delimited values",
                code: "bad_authorization_header",
            });
        }
        return Ok(Presented::Jwt(parts[1]));
    }
    if *first == API_KEY_TYPE {
        return match parts.len() {
            1 => Err(ApiError::AuthenticationFailed(
                "Invalid token header. No credentials provided.",
            )),
            2 => Ok(Presented::ApiKey(parts[1])),
            _ => Err(ApiError::AuthenticationFailed(
                "Invalid token header. Token string should not contain spaces.",
            )),
        };
    }
    Err(ApiError::NotAuthenticated)
}

/// The principal of an API key the throttle already looked up for this request, so
/// that authentication does not look it up a second time.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedApiKey(pub Principal);

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
        let verified = req.extensions().get::<VerifiedApiKey>().cloned();
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no application state")))?;
            let header = header.ok_or(ApiError::NotAuthenticated)?;
            let principal = match presented(&header, &state.auth.auth_header_types)? {
                Presented::Jwt(token) => {
                    let token = std::str::from_utf8(token).map_err(|_| {
                        ApiError::AccessTokenNotValid(application::TokenRejection::Invalid)
                    })?;
                    state.gatehouse.authenticate(token).await?
                }
                Presented::ApiKey(key) => {
                    let key = std::str::from_utf8(key).map_err(|_| {
                        ApiError::AuthenticationFailed(
                            "Invalid token header. Token string should not contain invalid characters.",
                        )
                    })?;
                    match verified {
                        Some(VerifiedApiKey(principal)) => principal,
                        None => state.gatehouse.authenticate_api_key(key).await?,
                    }
                }
            };
            let Principal {
                profile,
                credential,
            } = principal;
            Ok(Authenticated {
                profile,
                credential,
                client,
            })
        })
    }
}

/// The API key of a request that authenticates with one (`Authorization: Token <key>`).
pub(crate) fn api_key(req: &HttpRequest) -> Option<String> {
    let state = req.app_data::<web::Data<AppState>>()?;
    let header = req.headers().get(AUTHORIZATION)?;
    match presented(header.as_bytes(), &state.auth.auth_header_types) {
        Ok(Presented::ApiKey(key)) => std::str::from_utf8(key).ok().map(str::to_owned),
        _ => None,
    }
}

/// The caller's user agent and address, kept with the sessions it opens and the
/// audit events it causes.
#[derive(Debug, Clone)]
pub(crate) struct Client(pub ClientInfo);

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
    // The address the throttle counts: behind a trusted proxy, the forwarded one.
    let ip = match req.app_data::<web::Data<AppState>>() {
        Some(state) => state.forwarded.client_ip(req),
        None => req.peer_addr().map(|addr| addr.ip()),
    };
    ClientInfo {
        user_agent,
        ip: ip.map(|ip| ip.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> Vec<String> {
        vec!["Bearer".to_owned()]
    }

    #[test]
    fn a_bearer_token_and_an_api_key_are_read() {
        assert_eq!(
            presented(b"Bearer abc.def.ghi", &types()).unwrap(),
            Presented::Jwt(b"abc.def.ghi")
        );
        assert_eq!(
            presented(b"Token 9944b09199c62bcf", &types()).unwrap(),
            Presented::ApiKey(b"9944b09199c62bcf")
        );
    }

    #[test]
    fn another_or_lower_case_type_means_no_credentials() {
        for header in [
            &b"bearer abc"[..],
            b"token abc",
            b"Basic dXNlcjpwYXNz",
            b"",
            b"   ",
        ] {
            assert!(matches!(
                presented(header, &types()),
                Err(ApiError::NotAuthenticated)
            ));
        }
    }

    #[test]
    fn a_known_type_needs_exactly_one_token() {
        for header in [&b"Bearer"[..], b"Bearer a b"] {
            assert!(matches!(
                presented(header, &types()),
                Err(ApiError::AuthenticationFailedWithCode {
                    code: "bad_authorization_header",
                    ..
                })
            ));
        }
        assert!(matches!(
            presented(b"Token", &types()),
            Err(ApiError::AuthenticationFailed(
                "Invalid token header. No credentials provided."
            ))
        ));
        assert!(matches!(
            presented(b"Token a b", &types()),
            Err(ApiError::AuthenticationFailed(
                "Invalid token header. Token string should not contain spaces."
            ))
        ));
    }
}
