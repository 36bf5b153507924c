//! Liveness (the process answers) and readiness (the database answers).

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde_json::json;
use tozalash_domain::StorageHealth;

use crate::error::{problem, ApiError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/live", web::get().to(live)).route("/ready", web::get().to(ready));
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn ready(health: web::Data<Arc<dyn StorageHealth>>) -> Result<HttpResponse, ApiError> {
    health.ping().await.map_err(|e| {
        tracing::warn!(error = ?e, "readiness check failed");
        ApiError::new(&problem::UNAVAILABLE, "The database is not reachable.")
    })?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ok" })))
}

#[cfg(test)]
mod tests {
    use actix_web::{test, App};
    use tozalash_domain::ports::MockStorageHealth;
    use tozalash_domain::RepoError;

    use super::*;

    #[actix_web::test]
    async fn ready_is_503_problem_when_the_database_does_not_answer() {
        let mut health = MockStorageHealth::new();
        health.expect_ping().returning(|| Err(RepoError::Unavailable("connection refused".into())));
        let health: Arc<dyn StorageHealth> = Arc::new(health);
        let service =
            test::init_service(App::new().app_data(web::Data::new(health)).configure(configure))
                .await;

        let live =
            test::call_service(&service, test::TestRequest::get().uri("/live").to_request()).await;
        let ready =
            test::call_service(&service, test::TestRequest::get().uri("/ready").to_request()).await;

        assert_eq!(live.status(), 200);
        assert_eq!(ready.status(), 503);
        let content_type = ready.headers().get("content-type").and_then(|v| v.to_str().ok());
        assert_eq!(content_type, Some("application/problem+json"));
        let body: serde_json::Value = test::read_body_json(ready).await;
        assert_eq!(body["code"], "service_unavailable");
        assert!(!body.to_string().contains("connection refused"), "no internals: {body}");
    }
}
