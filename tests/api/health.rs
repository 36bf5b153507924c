//! Liveness and readiness probes, and the request id every response carries.

use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn live_and_ready_answer_ok_at_the_root_and_under_the_api() {
    let app = spawn_app().await;
    for path in ["/health/live", "/health/ready", "/api/v1/health/live", "/api/v1/health/ready"] {
        let response = app.get(path).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.json::<Value>().await.unwrap()["status"], "ok", "{path}");
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_reuses_a_sane_one() {
    let app = spawn_app().await;

    let fresh = app.get("/health/live").send().await.unwrap();
    assert!(!fresh.headers()["x-request-id"].is_empty());

    let given = app.get("/health/live").header("x-request-id", "trace-42").send().await.unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-42");

    let hostile = app.get("/health/live").header("x-request-id", "a b c").send().await.unwrap();
    assert_ne!(hostile.headers()["x-request-id"], "a b c");
}

#[tokio::test]
async fn unknown_paths_and_methods_are_problems() {
    let app = spawn_app().await;
    assert_problem(app.get("/api/v1/nothing-here").send().await.unwrap(), 404, "not_found").await;
    let put = app.client.put(app.url("/api/v1/services")).send().await.unwrap();
    assert_problem(put, 405, "method_not_allowed").await;
}
