//! Every error a client sees is problem+json tagged with the request's id:
//! this middleware renders each error response afresh, whether the error is
//! ours ([`ApiError`], rendered until here without the id), a refused CORS
//! preflight or one of the framework's own, and logs server faults with their
//! whole cause chain.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse};

use crate::error::{problem, ApiError};
use crate::telemetry::RequestId;

pub async fn render_problems(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = next.call(req).await?;
    let Some(error) = response.response().error() else {
        return Ok(response.map_into_boxed_body());
    };
    let request_id = response.request().extensions().get::<RequestId>().map(|id| id.0.clone());
    let request_id = request_id.as_deref();
    let status = response.status();
    let rendered = match error.as_error::<ApiError>() {
        Some(api_error) => {
            if status.is_server_error() {
                tracing::error!(error = ?api_error, "request failed");
            }
            api_error.to_response(request_id)
        }
        None => match error.as_error::<actix_cors::CorsError>() {
            Some(cors) => cors_problem(cors, &response).to_response(request_id),
            // Errors raised by actix itself, not by our handlers.
            None => {
                tracing::warn!(%error, "request failed in the framework");
                framework_problem(status).to_response(request_id)
            }
        },
    };
    Ok(rerender(response, rendered))
}

/// The error response replaced by its problem body, keeping the headers that
/// inner middleware and handlers (CORS, `Allow`…) added to it.
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
