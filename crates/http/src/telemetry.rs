//! What is known of each request, for those who run the service: its id (the
//! caller's `X-Request-Id` when it sent a sane one, else a fresh one, echoed on
//! every response), its `tracing` span, and its count and latency in the
//! [`Metrics`].
//!
//! The span carries `request_id`, `method`, `path` and, once the access token
//! is read, `user_id` (the route pattern is added when the answer is ready), so
//! every log line of the request names it.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use tracing::Instrument;

use crate::metrics::{Metrics, UNMATCHED};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, in request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    /// The id of the request being handled, if this middleware tagged it.
    pub fn of(req: &actix_web::HttpRequest) -> Option<String> {
        req.extensions().get::<Self>().map(|id| id.0.clone())
    }
}

pub async fn telemetry<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane(v))
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let metrics = req.app_data::<web::Data<Metrics>>().map(|m| m.get_ref().clone());
    // At ERROR level so that it is enabled whenever any event of the request
    // is. The path but no query string, header or body: they may hold secrets.
    let span = tracing::error_span!(
        "request",
        request_id = %id,
        method = %method,
        path = req.path(),
        route = tracing::field::Empty,
        user_id = tracing::field::Empty,
    );

    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    let elapsed = started.elapsed();
    let mut response = match result {
        Ok(response) => response,
        Err(error) => {
            let status = error.as_response_error().status_code();
            if let Some(metrics) = &metrics {
                metrics.observe_request(&method, UNMATCHED, status, elapsed);
            }
            tracing::warn!(%status, "request failed in a middleware");
            return Err(error);
        }
    };
    // The pattern (`/api/v1/orders/{id}`), never the path: bounded, and no ids.
    // Read after routing, when actix knows it without matching again.
    let route = response.request().match_pattern();
    let route = route.as_deref().unwrap_or(UNMATCHED);
    span.record("route", route);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    if let Some(metrics) = &metrics {
        metrics.observe_request(&method, route, response.status(), elapsed);
    }
    tracing::debug!(
        status = response.status().as_u16(),
        elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        "request answered"
    );
    Ok(response)
}

/// A caller's request id is reused only when it cannot pollute logs.
fn is_sane(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_request_ids_are_reused() {
        assert!(is_sane("abc-123_x.y"));
        assert!(!is_sane(""));
        assert!(!is_sane(&"a".repeat(65)));
        assert!(!is_sane("evil\nlog line"));
        assert!(!is_sane("a b"));
    }
}
