//! Every response carries an `X-Request-Id` (the caller's, when it sent a sane
//! one, else a fresh one). Problem bodies repeat it as `requestId`, and server
//! faults are logged under it with their whole cause chain.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

use crate::error::{problem, ApiError};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, in request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane(v))
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.path().to_owned();

    let response = next.call(req).await?;
    let mut response = match response.response().error() {
        None => response.map_into_boxed_body(),
        Some(error) => {
            let status = response.status();
            let rendered = match error.as_error::<ApiError>() {
                Some(api_error) => {
                    if status.is_server_error() {
                        tracing::error!(request_id = %id, %method, %path, error = ?api_error, "request failed");
                    }
                    api_error.to_response(Some(&id))
                }
                // Errors raised by actix itself, not by our handlers.
                None => {
                    tracing::warn!(request_id = %id, %method, %path, %error, "request failed in the framework");
                    framework_problem(status).to_response(Some(&id))
                }
            };
            response.into_response(rendered)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

/// A caller's request id is reused only when it cannot pollute logs.
fn is_sane(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn framework_problem(status: actix_web::http::StatusCode) -> ApiError {
    use actix_web::http::StatusCode as S;
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
