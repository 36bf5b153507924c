//! The routes of the API, mounted under `/api/v1` (health also at `/health`).

use actix_web::{web, HttpResponse};

use crate::error::{problem, ApiError};

pub mod auth;
pub mod health;
pub mod orders;
pub mod services;
pub mod users;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .configure(auth::configure)
            .configure(orders::configure)
            .configure(services::configure)
            .configure(users::configure)
            .service(web::scope("/health").configure(health::configure)),
    )
    .service(web::scope("/health").configure(health::configure));
}

/// Any path we do not serve.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(&problem::NOT_FOUND, "There is nothing at this address."))
}

/// A path we serve, with a method it does not take.
pub async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(&problem::METHOD_NOT_ALLOWED, "This address does not take this method."))
}

/// Serializes a domain timestamp as the API shows it: RFC 3339, UTC, milliseconds.
pub(crate) fn timestamp(t: &tozalash_domain::Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
