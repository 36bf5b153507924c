//! A handler that panics answers a generic 500 problem+json, and the worker
//! that ran it goes on serving. Without this, actix lets the panic unwind
//! through its worker thread: the client's connection is cut without an
//! answer, and every request in flight on that worker is lost with it.
//!
//! The panic's message goes to the log only (the default panic hook prints it
//! too); the client sees the same body as any other fault of ours.
//!
//! It wraps each resource (inside the routing, which must own the request
//! alone while it matches the path), and keeps a handle on the request to
//! answer it after the handler's future was dropped by the unwinding.

use std::panic::AssertUnwindSafe;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use futures::FutureExt;

use crate::error::ApiError;

pub async fn catch_panics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request = req.request().clone();
    // Unwind safety: a panic abandons this request only; what it shares with
    // other requests is behind `Arc`s of data that is valid between writes.
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(response) => response.map(ServiceResponse::map_into_boxed_body),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_owned());
            let error = ApiError::internal(format!("a handler panicked: {message}"));
            Ok(ServiceResponse::from_err(error, request))
        }
    }
}

/// Test-only routes (cargo feature `fault-injection`, which only the test
/// builds turn on): `GET /__test/panic` panics.
#[cfg(feature = "fault-injection")]
pub mod injection {
    use actix_web::HttpResponse;

    pub const PANIC_PATH: &str = "/__test/panic";

    /// Panics with a message a client must never see.
    pub async fn panic() -> HttpResponse {
        panic!("injected fault: secret-panic-detail");
    }
}
