//! Who is calling: access tokens (JWT, HS256) read from `Authorization: Bearer`
//! or the `access_token` cookie by the [`authenticate`] middleware, and the
//! guard extractors [`AuthUser`] and [`AdminUser`] that a handler names in its
//! signature to demand a caller (401) or an administrator (403).

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures::future::{ready, Ready};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tozalash_domain::{Admin, Id, Principal, Timestamp};

use crate::error::{problem, ApiError};

pub const ACCESS_COOKIE: &str = "access_token";
pub const CSRF_COOKIE: &str = "csrf_token";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Issues and checks access tokens. The key is the UTF-8 bytes of `JWT_SECRET`;
/// the algorithm, issuer, audience, expiry and token type are all pinned.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

/// The claims of an access token (DESIGN §8).
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub role: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub typ: String,
}

impl AccessTokens {
    pub const ISSUER: &'static str = "tozalash";
    pub const AUDIENCE: &'static str = "tozalash-api";
    pub const TYPE: &'static str = "access";
    /// Clock skew tolerated between instances, in seconds.
    const LEEWAY_SECONDS: u64 = 5;

    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[Self::ISSUER]);
        validation.set_audience(&[Self::AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = Self::LEEWAY_SECONDS;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// A signed access token for `principal`, valid from `now` for the TTL.
    pub fn issue(&self, principal: &Principal, now: Timestamp) -> Result<String, ApiError> {
        let iat = now.timestamp();
        let claims = AccessClaims {
            sub: principal.user_id.to_hex(),
            role: principal.role.as_str().to_owned(),
            sid: principal.session_id.to_hex(),
            iat,
            exp: iat + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2),
            iss: Self::ISSUER.to_owned(),
            aud: Self::AUDIENCE.to_owned(),
            typ: Self::TYPE.to_owned(),
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims; for tests that need malformed tokens.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    /// The principal a valid access token names. Anything else (bad signature,
    /// other algorithm, wrong issuer/audience/type, expired, issued in the
    /// future, unparsable claims) is refused without saying which.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Principal, InvalidToken> {
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| InvalidToken)?
            .claims;
        let issued_in_future = claims.iat > now.timestamp() + Self::LEEWAY_SECONDS as i64;
        if claims.typ != Self::TYPE || issued_in_future {
            return Err(InvalidToken);
        }
        Ok(Principal {
            user_id: Id::parse(&claims.sub).map_err(|_| InvalidToken)?,
            role: claims.role.parse().map_err(|_| InvalidToken)?,
            session_id: Id::parse(&claims.sid).map_err(|_| InvalidToken)?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidToken;

/// How the access token reached us; cookie-borne requests need CSRF protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    Bearer,
    Cookie,
}

/// What the middleware learned about the caller, kept in request extensions.
#[derive(Debug, Clone)]
enum Caller {
    Authenticated {
        principal: Principal,
        carrier: Carrier,
    },
    /// A token was sent but is not valid.
    Rejected,
}

/// The middleware (the seed's JwtInterceptor): reads the access token once per
/// request and attaches the caller. It never rejects by itself; the guard
/// extractors decide, so public routes keep working with a stale cookie.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(caller) = read_caller(req.request()) {
        req.extensions_mut().insert(caller);
    }
    next.call(req).await
}

fn read_caller(req: &HttpRequest) -> Option<Caller> {
    let tokens = req.app_data::<web::Data<AccessTokens>>()?;
    let (token, carrier) = match req.headers().get(header::AUTHORIZATION) {
        Some(value) => {
            let bearer = value.to_str().ok().and_then(|v| {
                v.get(..7).filter(|s| s.eq_ignore_ascii_case("bearer ")).map(|_| v[7..].trim())
            });
            (bearer.map(str::to_owned), Carrier::Bearer)
        }
        None => (req.cookie(ACCESS_COOKIE).map(|c| c.value().to_owned()), Carrier::Cookie),
    };
    let caller = match token {
        None if carrier == Carrier::Cookie => return None,
        None => Caller::Rejected,
        Some(token) => match tokens.verify(&token, chrono::Utc::now()) {
            Ok(principal) => {
                // The request's span (see `request_id`) names the caller from here on.
                tracing::Span::current()
                    .record("user_id", tracing::field::display(principal.user_id));
                Caller::Authenticated { principal, carrier }
            }
            Err(InvalidToken) => Caller::Rejected,
        },
    };
    Some(caller)
}

/// An authenticated caller (401 otherwise). Cookie-authenticated unsafe
/// requests must also echo the `csrf_token` cookie in `X-CSRF-Token` (403).
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticated(req).map(AuthUser))
    }
}

fn authenticated(req: &HttpRequest) -> Result<Principal, ApiError> {
    let caller = req.extensions().get::<Caller>().cloned();
    match caller {
        None => Err(ApiError::new(&problem::UNAUTHENTICATED, "Log in, or send an access token.")),
        Some(Caller::Rejected) => {
            // Never the token itself, nor any part of it.
            tracing::warn!(
                event = "authn_token_invalid",
                "an invalid or expired access token was refused"
            );
            Err(ApiError::new(
                &problem::INVALID_TOKEN,
                "The access token is invalid or expired; refresh it or log in again.",
            ))
        }
        Some(Caller::Authenticated { principal, carrier }) => {
            if carrier == Carrier::Cookie {
                require_csrf(req)?;
            }
            Ok(principal)
        }
    }
}

/// A cookie-authenticated unsafe request must echo the readable `csrf_token`
/// cookie in the `X-CSRF-Token` header: a cross-site form cannot read the cookie.
pub fn require_csrf(req: &HttpRequest) -> Result<(), ApiError> {
    if is_safe(req.method()) || csrf_matches(req) {
        return Ok(());
    }
    // Once per request, though a handler may check twice (an optional caller, then itself).
    if req.extensions().get::<CsrfRefused>().is_none() {
        req.extensions_mut().insert(CsrfRefused);
        tracing::warn!(event = "malicious_csrf", path = %req.path(), "CSRF check failed");
    }
    Err(ApiError::new(
        &problem::CSRF_FAILED,
        "Send the csrf_token cookie's value in the X-CSRF-Token header.",
    ))
}

/// Marks a request whose CSRF failure was logged.
#[derive(Debug, Clone, Copy)]
struct CsrfRefused;

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn csrf_matches(req: &HttpRequest) -> bool {
    let header = req.headers().get(CSRF_HEADER).map(|v| v.as_bytes().to_vec());
    let cookie = req.cookie(CSRF_COOKIE).map(|c| c.value().as_bytes().to_vec());
    match (header, cookie) {
        (Some(h), Some(c)) if !c.is_empty() => h.ct_eq(&c).into(),
        _ => false,
    }
}

/// An authenticated administrator (401 without a caller, 403 for a USER).
#[derive(Debug, Clone)]
pub struct AdminUser(pub Admin);

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticated(req).and_then(|principal| {
            principal
                .require_admin()
                .map(AdminUser)
                .map_err(|_| {
                    tracing::warn!(event = "authz_fail", user_id = %principal.user_id, "a non-admin called an admin route");
                    ApiError::new(&problem::FORBIDDEN, "This needs the ADMIN role.")
                })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tozalash_domain::Role;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn principal() -> Principal {
        Principal { user_id: Id::generate(), role: Role::Admin, session_id: Id::generate() }
    }

    #[test]
    fn an_issued_token_verifies_to_the_same_principal() {
        let tokens = AccessTokens::new(SECRET, Duration::from_secs(900));
        let p = principal();
        let token = tokens.issue(&p, chrono::Utc::now()).expect("signed");
        assert_eq!(tokens.verify(&token, chrono::Utc::now()), Ok(p));
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let ours = AccessTokens::new(SECRET, Duration::from_secs(900));
        let theirs =
            AccessTokens::new(b"another-secret-another-secret-xx", Duration::from_secs(900));
        let token = theirs.issue(&principal(), chrono::Utc::now()).expect("signed");
        assert_eq!(ours.verify(&token, chrono::Utc::now()), Err(InvalidToken));
    }

    #[test]
    fn a_token_of_another_type_is_refused() {
        let tokens = AccessTokens::new(SECRET, Duration::from_secs(900));
        let now = chrono::Utc::now().timestamp();
        let p = principal();
        let claims = AccessClaims {
            sub: p.user_id.to_hex(),
            role: "ADMIN".into(),
            sid: p.session_id.to_hex(),
            iat: now,
            exp: now + 60,
            iss: AccessTokens::ISSUER.into(),
            aud: AccessTokens::AUDIENCE.into(),
            typ: "refresh".into(),
        };
        let token = tokens.sign(&claims).expect("signed");
        assert_eq!(tokens.verify(&token, chrono::Utc::now()), Err(InvalidToken));
    }
}
