//! Who is calling: access tokens (JWT, HS256) read from `Authorization: Bearer`
//! or the `access_token` cookie by the [`authenticate`] middleware, and the
//! guard extractors [`AuthUser`], [`AdminUser`] and [`CheckedByWrite`] that a
//! handler names in its signature to demand a caller (401) or an
//! administrator (403).
//!
//! A token alone is trusted only for reads of public or one's own data. A
//! write, and any request an administrator's token makes, is checked against
//! storage first (`tozalash_app::needs_live_check`): the session must still
//! be live and the account still there (else 401 `invalid_token`), and the
//! role is the one stored now (else 403); placing an order makes that check
//! in its own write instead ([`CheckedByWrite`]). Cookie-borne unsafe
//! requests must also carry the session's CSRF token (403 `csrf_failed`).

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::future::LocalBoxFuture;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tozalash_app::{needs_live_check, AuthService};
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
    /// Signs CSRF tokens; derived from `JWT_SECRET`, so every instance agrees.
    csrf_key: [u8; 32],
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
    /// Not before (RFC 7519 §4.1.5): checked when present; we never set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
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
        validation.validate_nbf = true;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            csrf_key: hmac_sha256(secret, b"tozalash/csrf-token/v1"),
        }
    }

    /// The CSRF token of a session: an HMAC over its id (OWASP's signed
    /// double-submit cookie), so a token that a sibling subdomain planted, or
    /// one of another session, does not pass. It is not a credential.
    pub fn csrf_token(&self, session_id: Id) -> String {
        URL_SAFE_NO_PAD.encode(hmac_sha256(&self.csrf_key, session_id.to_hex().as_bytes()))
    }

    /// Whether `presented` is the CSRF token of `session_id` (constant time).
    fn csrf_valid(&self, presented: &[u8], session_id: Id) -> bool {
        self.csrf_token(session_id).as_bytes().ct_eq(presented).into()
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
            nbf: None,
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
    /// future, not valid yet by its `nbf`, unparsable claims) is refused
    /// without saying which.
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
enum TokenCaller {
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

fn read_caller(req: &HttpRequest) -> Option<TokenCaller> {
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
        None => TokenCaller::Rejected,
        Some(token) => match tokens.verify(&token, chrono::Utc::now()) {
            Ok(principal) => {
                // The request's span (see `telemetry`) names the caller from here on.
                tracing::Span::current()
                    .record("user_id", tracing::field::display(principal.user_id));
                TokenCaller::Authenticated { principal, carrier }
            }
            Err(InvalidToken) => TokenCaller::Rejected,
        },
    };
    Some(caller)
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// An authenticated caller (401 otherwise). For a write, and for anything an
/// administrator's token asks, the session is checked against storage and
/// the role is the stored one. Cookie-authenticated unsafe requests must
/// also send the session's CSRF token in `X-CSRF-Token` (403).
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authorized(&req, false).await.map(AuthUser) })
    }
}

/// An administrator, as storage says now (401 without a live session, 403
/// for anyone whose stored role is not ADMIN).
#[derive(Debug, Clone)]
pub struct AdminUser(pub Admin);

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let principal = authorized(&req, true).await?;
            principal.require_admin().map(AdminUser).map_err(|_| {
                tracing::warn!(event = "authz_fail", user_id = %principal.user_id, "a non-admin called an admin route");
                ApiError::new(&problem::FORBIDDEN, "This needs the ADMIN role.")
            })
        })
    }
}

/// The caller its access token names (401 otherwise), with [`AuthUser`]'s
/// CSRF check, but NOT checked against storage here: for a use case whose
/// write checks the caller's session itself, in the same statement, so the
/// check costs no read of its own (placing an order, see
/// `tozalash_domain::PlacementChecks`). A handler that takes it must hand it
/// to such a use case; every other handler takes [`AuthUser`].
#[derive(Debug, Clone)]
pub struct CheckedByWrite(pub Principal);

impl FromRequest for CheckedByWrite {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(token_with_csrf(req).map(CheckedByWrite))
    }
}

/// The caller as checked against storage on this request, so a second guard
/// of the same request does not read again.
#[derive(Debug, Clone)]
struct Checked(Principal);

/// The caller the access token names, checked as [`AuthUser`] describes;
/// `always_check` forces the storage check.
async fn authorized(req: &HttpRequest, always_check: bool) -> Result<Principal, ApiError> {
    let token = token_with_csrf(req)?;
    let writes = !is_safe(req.method());
    if !always_check && !needs_live_check(&token, writes) {
        return Ok(token);
    }
    if let Some(Checked(principal)) = req.extensions().get::<Checked>() {
        return Ok(principal.clone());
    }
    let auth = req
        .app_data::<web::Data<AuthService>>()
        .ok_or_else(|| ApiError::internal("AuthService is not in the app data"))?;
    let principal = auth.authority(&token).await?.principal;
    req.extensions_mut().insert(Checked(principal.clone()));
    Ok(principal)
}

/// The caller its access token names, trusting the token alone, once a
/// cookie-borne unsafe request has shown the session's CSRF token.
fn token_with_csrf(req: &HttpRequest) -> Result<Principal, ApiError> {
    let (token, carrier) = token_caller(req)?;
    if carrier == Carrier::Cookie {
        require_csrf(req, token.session_id)?;
    }
    Ok(token)
}

/// The caller its access token names, trusting the token alone; how it came.
fn token_caller(req: &HttpRequest) -> Result<(Principal, Carrier), ApiError> {
    let caller = req.extensions().get::<TokenCaller>().cloned();
    match caller {
        None => Err(ApiError::new(&problem::UNAUTHENTICATED, "Log in, or send an access token.")),
        Some(TokenCaller::Rejected) => {
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
        Some(TokenCaller::Authenticated { principal, carrier }) => Ok((principal, carrier)),
    }
}

/// The session a request's access token names, and whether it came in the
/// cookie; `Ok(None)` without any token. A token that was sent but is not
/// valid is 401 `invalid_token`, so a junk `Authorization` header never
/// falls back to the cookies (logout uses this).
pub fn token_session(req: &HttpRequest) -> Result<Option<(Id, Carrier)>, ApiError> {
    match token_caller(req) {
        Ok((principal, carrier)) => Ok(Some((principal.session_id, carrier))),
        Err(e) if e.kind() == &problem::UNAUTHENTICATED => Ok(None),
        Err(e) => Err(e),
    }
}

/// A cookie-authenticated unsafe request must echo the readable `csrf_token`
/// cookie in the `X-CSRF-Token` header (a cross-site form cannot read the
/// cookie), and the token must be the one of `session_id` (a pair made up by
/// the client, or planted by a sibling subdomain, does not pass).
pub fn require_csrf(req: &HttpRequest, session_id: Id) -> Result<(), ApiError> {
    if is_safe(req.method()) || csrf_matches(req, session_id) {
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

fn csrf_matches(req: &HttpRequest, session_id: Id) -> bool {
    let Some(tokens) = req.app_data::<web::Data<AccessTokens>>() else {
        return false;
    };
    let header = req.headers().get(CSRF_HEADER).map(|v| v.as_bytes().to_vec());
    let cookie = req.cookie(CSRF_COOKIE).map(|c| c.value().as_bytes().to_vec());
    match (header, cookie) {
        (Some(h), Some(c)) if !c.is_empty() => {
            bool::from(h.ct_eq(&c)) && tokens.csrf_valid(&h, session_id)
        }
        _ => false,
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
    fn a_token_not_valid_before_a_future_time_is_refused() {
        let tokens = AccessTokens::new(SECRET, Duration::from_secs(900));
        let now = chrono::Utc::now().timestamp();
        let p = principal();
        let mut claims = AccessClaims {
            sub: p.user_id.to_hex(),
            role: "ADMIN".into(),
            sid: p.session_id.to_hex(),
            iat: now,
            exp: now + 600,
            iss: AccessTokens::ISSUER.into(),
            aud: AccessTokens::AUDIENCE.into(),
            typ: AccessTokens::TYPE.into(),
            nbf: Some(now + 300),
        };
        let token = tokens.sign(&claims).expect("signed");
        assert_eq!(tokens.verify(&token, chrono::Utc::now()), Err(InvalidToken));
        claims.nbf = Some(now - 1);
        let token = tokens.sign(&claims).expect("signed");
        assert_eq!(tokens.verify(&token, chrono::Utc::now()), Ok(p));
    }

    #[test]
    fn a_csrf_token_is_bound_to_its_session_and_key() {
        let tokens = AccessTokens::new(SECRET, Duration::from_secs(900));
        let (one, other) = (Id::generate(), Id::generate());
        let token = tokens.csrf_token(one);
        assert!(tokens.csrf_valid(token.as_bytes(), one));
        assert!(!tokens.csrf_valid(token.as_bytes(), other), "another session's token");
        assert!(!tokens.csrf_valid(b"made-up-by-the-client", one));
        let theirs = AccessTokens::new(b"another-secret-another-secret-xx", Duration::ZERO);
        assert!(!tokens.csrf_valid(theirs.csrf_token(one).as_bytes(), one), "another key");
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
            nbf: None,
        };
        let token = tokens.sign(&claims).expect("signed");
        assert_eq!(tokens.verify(&token, chrono::Utc::now()), Err(InvalidToken));
    }
}
