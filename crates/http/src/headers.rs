//! Security headers on every response. Each is added only when the response
//! does not already have it, so a handler with stricter needs (the HTML pages
//! of the e-mail links set their own CSP) or looser ones (`/docs` runs its
//! own scripts and styles) keeps its own.
//!
//! - `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
//!   `Referrer-Policy: no-referrer` everywhere;
//! - `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'` on
//!   the API (JSON loads nothing), only `frame-ancestors 'none'` under `/docs`;
//! - `Cache-Control: no-store` on everything except reads of the public
//!   catalogue and the API description, which carry no personal data and get
//!   no caching header at all. A single service carries an `ETag` (see
//!   `conditional`), so a client that keeps it revalidates with
//!   `If-None-Match` and gets 304; users and orders stay `no-store`, though
//!   their `ETag` still serves `If-Match` and a client's own `If-None-Match`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;

const API_CSP: HeaderValue = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
const DOCS_CSP: HeaderValue = HeaderValue::from_static("frame-ancestors 'none'");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let docs = is_docs(req.path());
    let cacheable = docs || is_catalogue_read(req.method(), req.path());
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    crate::cors::drop_stray_credentials(headers);
    add_absent(headers, header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    add_absent(headers, header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    add_absent(headers, header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    add_absent(headers, header::CONTENT_SECURITY_POLICY, if docs { DOCS_CSP } else { API_CSP });
    if !cacheable {
        add_absent(headers, header::CACHE_CONTROL, NO_STORE);
    }
    Ok(response)
}

fn add_absent(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    if !headers.contains_key(&name) {
        headers.insert(name, value);
    }
}

/// The interactive docs page and its assets, and the OpenAPI document.
fn is_docs(path: &str) -> bool {
    path == "/docs" || path.starts_with("/docs/") || path == "/api/v1/openapi.json"
}

/// `GET /api/v1/services` and `GET /api/v1/services/{id}`: public, the same
/// for every caller.
fn is_catalogue_read(method: &Method, path: &str) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
        && (path == "/api/v1/services" || path.starts_with("/api/v1/services/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_catalogue_reads_and_docs_may_be_cached() {
        assert!(is_catalogue_read(&Method::GET, "/api/v1/services"));
        assert!(is_catalogue_read(&Method::GET, "/api/v1/services/0123456789abcdef01234567"));
        assert!(!is_catalogue_read(&Method::POST, "/api/v1/services"));
        assert!(!is_catalogue_read(&Method::GET, "/api/v1/services-x"));
        assert!(!is_catalogue_read(&Method::GET, "/api/v1/orders"));
        assert!(is_docs("/docs/"));
        assert!(!is_docs("/docsx"));
    }
}
