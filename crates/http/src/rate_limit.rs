//! The `ANY_IP` rate limit: every request counts against its client IP
//! (see [`crate::client_ip`]). The other limits need what a request says
//! (an e-mail, a session, a user), so the use cases apply them.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use tozalash_app::{Limit, RateLimits};

use crate::client_ip::ClientIp;
use crate::error::ApiError;

/// Answers 429 `rate_limited` (with `Retry-After`) to a client over
/// `ANY_IP`; lets everything through when the limits are off.
pub async fn limit_any_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Some(limits) = req.app_data::<web::Data<RateLimits>>() {
        if limits.enabled() {
            let ClientIp(client) = ClientIp::of(req.request());
            if let Err(refused) = limits.check_ip(Limit::AnyIp, client).await {
                return Ok(req.error_response(ApiError::from(refused)).map_into_right_body());
            }
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}
