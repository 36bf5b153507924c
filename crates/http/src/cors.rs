//! Cross-origin access for browser front ends served from other origins: only
//! the origins of `CORS_ORIGINS` (none by default) may call with credentials
//! (the session cookies). Any other origin's preflight is refused (403, no
//! `Access-Control-Allow-*` header) and its plain requests are answered without
//! CORS headers, so the browser keeps the answer from the page; non-browser
//! clients, which send no `Origin`, are unaffected.

use actix_cors::Cors;
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::Method;

use crate::auth::CSRF_HEADER;
use crate::telemetry::REQUEST_ID_HEADER;

/// The header of an idempotent retry of `POST /orders` (built beside this
/// module; listed here so that browsers may send it).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// How long a browser may reuse a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: usize = 600;

/// The CORS middleware for these exact origins (`scheme://host[:port]`, as a
/// browser sends them in `Origin`; checked by the configuration). Pages may
/// send the conditional headers (`If-Match`, `If-None-Match`) and
/// `Idempotency-Key`, and read `ETag`, `Retry-After` and `X-CSRF-Token` (the
/// session's CSRF token, which a page on another host cannot read from the
/// cookie), besides the request id and `Location`.
pub fn layer(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static(CSRF_HEADER),
            REQUEST_ID_HEADER,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static(IDEMPOTENCY_KEY),
        ])
        .expose_headers([
            REQUEST_ID_HEADER,
            header::LOCATION,
            header::ETAG,
            header::RETRY_AFTER,
            header::HeaderName::from_static(CSRF_HEADER),
        ])
        .supports_credentials()
        .max_age(PREFLIGHT_MAX_AGE)
        // Unlisted origins get no CORS headers instead of a 400 for every request.
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// actix-cors says `Access-Control-Allow-Credentials: true` and lists the
/// exposed headers to any origin; alone they grant nothing, but an unlisted
/// origin should hear nothing.
pub(crate) fn drop_stray_credentials(headers: &mut HeaderMap) {
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
        headers.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
    }
}
