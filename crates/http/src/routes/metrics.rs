//! `GET /metrics`: the application's [`Metrics`] for Prometheus. Outside
//! `/api/v1`: it is for operators, not clients.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use utoipa::OpenApi;

use super::{endpoint, Endpoint};
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Mounted at the root.
pub const ENDPOINTS: &[Endpoint] = &[endpoint!(GET "/metrics" => scrape)];

/// The metrics' part of the OpenAPI document, mounted like [`ENDPOINTS`].
#[derive(Debug, OpenApi)]
#[openapi(
    paths(scrape),
    tags((name = "operations", description = "For operators: what the service is doing, for Prometheus.")),
)]
pub struct Api;

/// Metrics for Prometheus
///
/// Request counts and latencies by route pattern and status, login failures,
/// the outbox backlog and delivery outcomes, in the Prometheus text format.
/// No credentials needed: it holds counts only (keep it off the public proxy).
#[utoipa::path(
    get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((
        status = 200, description = "Every metric, in the Prometheus text exposition format 0.0.4.",
        content_type = "text/plain; version=0.0.4", body = String,
    )),
)]
pub(crate) async fn scrape(metrics: web::Data<Metrics>) -> Result<HttpResponse, ApiError> {
    metrics.refresh_backlog().await;
    let body = metrics.render()?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, Metrics::CONTENT_TYPE))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}
