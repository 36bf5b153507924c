//! Every response carries an `X-Request-Id` (the caller's, when it sent a sane
//! one, else a fresh one). Problem bodies repeat it as `requestId`, and server
//! faults are logged under it with their whole cause chain.
//!
//! This middleware also opens the request's `tracing` span, so every log line
//! of the request carries `request_id`, `method`, `path` and, once the access
//! token is read, `user_id` (the route pattern is added when the answer is
//! ready), and records the request in the [`Metrics`].

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use tracing::Instrument;

use crate::error::{problem, ApiError};
use crate::metrics::{Metrics, UNMATCHED};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, in request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
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
    let response = match result {
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
    let response = finish(response, &id, metrics.as_ref());
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

/// Renders an error as problem+json with the request id, and tags the response.
fn finish(
    response: ServiceResponse<impl MessageBody + 'static>,
    id: &str,
    metrics: Option<&Metrics>,
) -> ServiceResponse<BoxBody> {
    let mut response = match response.response().error() {
        None => response.map_into_boxed_body(),
        Some(error) => {
            let status = response.status();
            let rendered = match error.as_error::<ApiError>() {
                Some(api_error) => {
                    if status.is_server_error() {
                        tracing::error!(error = ?api_error, "request failed");
                    }
                    if api_error.kind() == &problem::INVALID_CREDENTIALS {
                        if let Some(metrics) = metrics {
                            metrics.login_failed();
                        }
                    }
                    api_error.to_response(Some(id))
                }
                None => match error.as_error::<actix_cors::CorsError>() {
                    Some(cors) => cors_problem(cors, &response).to_response(Some(id)),
                    // Errors raised by actix itself, not by our handlers.
                    None => {
                        tracing::warn!(%error, "request failed in the framework");
                        framework_problem(status).to_response(Some(id))
                    }
                },
            };
            rerender(response, rendered)
        }
    };
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// The error response replaced by its problem body, keeping the headers that
/// inner middleware (CORS, `Allow`…) added to it.
fn rerender(
    response: ServiceResponse<impl MessageBody + 'static>,
    mut rendered: HttpResponse,
) -> ServiceResponse<BoxBody> {
    let (req, original) = response.into_parts();
    let own: Vec<HeaderName> = rendered.headers().keys().cloned().collect();
    for (name, value) in original.headers() {
        if *name != header::CONTENT_TYPE && *name != header::CONTENT_LENGTH && !own.contains(name) {
            rendered.headers_mut().append(name.clone(), value.clone());
        }
    }
    ServiceResponse::new(req, rendered)
}

/// A refused CORS preflight: an origin not in `CORS_ORIGINS`, or a method or
/// header the API does not take from other origins.
fn cors_problem(
    error: &actix_cors::CorsError,
    response: &ServiceResponse<impl MessageBody>,
) -> ApiError {
    let origin = response.request().headers().get(header::ORIGIN);
    if matches!(error, actix_cors::CorsError::OriginNotAllowed) {
        tracing::warn!(
            event = "malicious_cors",
            ?origin,
            "a preflight from an origin not in CORS_ORIGINS"
        );
    } else {
        tracing::info!(?origin, %error, "a CORS preflight was refused");
    }
    ApiError::new(&problem::FORBIDDEN, "This origin may not call the API from a browser.")
}

/// A caller's request id is reused only when it cannot pollute logs.
fn is_sane(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn framework_problem(status: StatusCode) -> ApiError {
    use StatusCode as S;
    let kind = match status {
        S::NOT_FOUND => &problem::NOT_FOUND,
        S::METHOD_NOT_ALLOWED => &problem::METHOD_NOT_ALLOWED,
        S::PAYLOAD_TOO_LARGE => &problem::PAYLOAD_TOO_LARGE,
        S::UNSUPPORTED_MEDIA_TYPE => &problem::UNSUPPORTED_MEDIA_TYPE,
        s if s.is_client_error() => &problem::MALFORMED_JSON,
        _ => &problem::INTERNAL,
    };
    ApiError::new(kind, kind.title)
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
