//! Liveness (the process answers) and readiness (the database answers).

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use tozalash_domain::StorageHealth;
use utoipa::openapi::OpenApi as Document;
use utoipa::{OpenApi, ToSchema};

use super::{endpoint, Endpoint};
use crate::error::responses::problems;
use crate::error::ApiError;

/// Mounted at `/health` and at `/api/v1/health`.
pub const ENDPOINTS: &[Endpoint] =
    &[endpoint!(GET "/live" => live), endpoint!(GET "/ready" => ready)];

/// The probes' part of the OpenAPI document, mounted at `/health`.
#[derive(Debug, OpenApi)]
#[openapi(
    paths(live, ready),
    modifiers(&ReadyProblems),
    tags((name = "health", description = "Liveness and readiness probes (also under `/api/v1/health`).")),
)]
pub struct Api;

/// The same probes mounted under the API's base path: operation ids are
/// unique in a document, so these end in `UnderApi`.
#[derive(Debug)]
pub struct UnderApi;

impl OpenApi for UnderApi {
    fn openapi() -> Document {
        let mut doc = Api::openapi();
        for item in doc.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.post, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                operation.operation_id =
                    operation.operation_id.take().map(|id| format!("{id}UnderApi"));
            }
        }
        doc
    }
}

/// The answer of a probe that passed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct HealthView {
    /// Always `ok`.
    #[schema(value_type = String, pattern = "^ok$")]
    status: &'static str,
}

const OK: HealthView = HealthView { status: "ok" };

/// Liveness
///
/// The process answers. Also at `/api/v1/health/live`.
#[utoipa::path(
    get, path = "/live", tag = "health", operation_id = "healthLive",
    responses((status = 200, description = "The process is alive.", body = HealthView)),
)]
pub(crate) async fn live() -> HttpResponse {
    HttpResponse::Ok().json(OK)
}

problems!(ReadyProblems: UNAVAILABLE);

/// Readiness
///
/// The database answers a ping. Also at `/api/v1/health/ready`.
#[utoipa::path(
    get, path = "/ready", tag = "health", operation_id = "healthReady",
    responses(
        (status = 200, description = "Ready to serve.", body = HealthView),
        ReadyProblems,
    ),
)]
pub(crate) async fn ready(
    health: web::Data<Arc<dyn StorageHealth>>,
) -> Result<HttpResponse, ApiError> {
    health.ping().await.map_err(|e| {
        tracing::warn!(error = ?e, "readiness check failed");
        ApiError::unavailable("The database is not reachable.")
    })?;
    Ok(HttpResponse::Ok().json(OK))
}

#[cfg(test)]
mod tests {
    use actix_web::{test, App};
    use tozalash_domain::ports::MockStorageHealth;
    use tozalash_domain::RepoError;

    use super::*;
    use crate::routes;

    #[actix_web::test]
    async fn ready_is_503_problem_when_the_database_does_not_answer() {
        let mut health = MockStorageHealth::new();
        health.expect_ping().returning(|| Err(RepoError::Unavailable("connection refused".into())));
        let health: Arc<dyn StorageHealth> = Arc::new(health);
        let service = test::init_service(
            App::new().app_data(web::Data::new(health)).configure(routes::configure),
        )
        .await;

        let live =
            test::call_service(&service, test::TestRequest::get().uri("/health/live").to_request())
                .await;
        let ready = test::call_service(
            &service,
            test::TestRequest::get().uri("/health/ready").to_request(),
        )
        .await;

        assert_eq!(live.status(), 200);
        assert_eq!(ready.status(), 503);
        let content_type = ready.headers().get("content-type").and_then(|v| v.to_str().ok());
        assert_eq!(content_type, Some("application/problem+json"));
        assert_eq!(ready.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("5"));
        let body: serde_json::Value = test::read_body_json(ready).await;
        assert_eq!(body["code"], "service_unavailable");
        assert!(!body.to_string().contains("connection refused"), "no internals: {body}");
    }
}
