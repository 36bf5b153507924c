//! Hostile and careless input: every mistake is a problem+json answer with a
//! stable code naming the field, never a 500, and nothing is stored.

use serde_json::{json, Value};

use crate::helpers::{assert_field_error, assert_problem, spawn_app, TestApp};

async fn post_raw(app: &TestApp, content_type: &str, body: &'static str) -> reqwest::Response {
    app.post("/api/v1/services")
        .bearer_auth(app.admin_token().await)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn post_json(app: &TestApp, body: Value) -> reqwest::Response {
    app.post("/api/v1/services")
        .bearer_auth(app.admin_token().await)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn assert_nothing_stored(app: &TestApp) {
    let page: Value = app.get("/api/v1/services").send().await.unwrap().json().await.unwrap();
    assert_eq!(page["meta"]["total"], 0, "{page}");
}

#[tokio::test]
async fn malformed_json_is_a_bad_request() {
    let app = spawn_app().await;
    for body in ["{\"name\": ", "{name: 'x'}", "", "{\"name\":\"a\",\"price\":1} {}"] {
        assert_problem(post_raw(&app, "application/json", body).await, 400, "malformed_json").await;
    }
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_an_unsupported_media_type() {
    let app = spawn_app().await;
    let form = post_raw(&app, "application/x-www-form-urlencoded", "name=a&price=1").await;
    assert_problem(form, 415, "unsupported_media_type").await;
    let text = post_raw(&app, "text/plain", r#"{"name":"a","price":1}"#).await;
    assert_problem(text, 415, "unsupported_media_type").await;
    let none = app
        .post("/api/v1/services")
        .bearer_auth(app.admin_token().await)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(none, 415, "unsupported_media_type").await;
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn a_json_suffix_media_type_and_charset_are_accepted() {
    let app = spawn_app().await;
    let plain = r#"{"name":"Windows","price":1}"#;
    let suffixed = r#"{"name":"Doors","price":1}"#;
    assert_eq!(post_raw(&app, "application/json; charset=utf-8", plain).await.status(), 201);
    assert_eq!(post_raw(&app, "application/merge-patch+json", suffixed).await.status(), 201);
}

#[tokio::test]
async fn fields_of_the_wrong_type_are_named() {
    let app = spawn_app().await;
    assert_field_error(
        post_json(&app, json!({ "name": 5, "price": 1 })).await,
        "name",
        "invalid_type",
    )
    .await;
    assert_field_error(
        post_json(&app, json!({ "name": "a", "price": "100" })).await,
        "price",
        "invalid_type",
    )
    .await;
    assert_field_error(
        post_json(&app, json!({ "name": "a", "price": 1, "description": null })).await,
        "description",
        "invalid_type",
    )
    .await;
    assert_field_error(post_json(&app, json!(["name", "price"])).await, "body", "invalid_type")
        .await;
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn missing_fields_are_named() {
    let app = spawn_app().await;
    assert_field_error(post_json(&app, json!({ "price": 1 })).await, "name", "required").await;
    assert_field_error(post_json(&app, json!({ "name": "a" })).await, "price", "required").await;
}

#[tokio::test]
async fn empty_blank_and_over_long_names_are_refused() {
    let app = spawn_app().await;
    assert_field_error(
        post_json(&app, json!({ "name": "", "price": 1 })).await,
        "name",
        "required",
    )
    .await;
    assert_field_error(
        post_json(&app, json!({ "name": "   ", "price": 1 })).await,
        "name",
        "required",
    )
    .await;
    let long = "x".repeat(101);
    assert_field_error(
        post_json(&app, json!({ "name": long, "price": 1 })).await,
        "name",
        "too_long",
    )
    .await;
    assert_field_error(
        post_json(&app, json!({ "name": "a\u{0}b", "price": 1 })).await,
        "name",
        "invalid_characters",
    )
    .await;
    let long = "d".repeat(2001);
    assert_field_error(
        post_json(&app, json!({ "name": "a", "price": 1, "description": long })).await,
        "description",
        "too_long",
    )
    .await;
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn negative_fractional_and_huge_prices_are_refused() {
    let app = spawn_app().await;
    assert_field_error(
        post_json(&app, json!({ "name": "a", "price": -1 })).await,
        "price",
        "out_of_range",
    )
    .await;
    assert_field_error(
        post_json(&app, json!({ "name": "a", "price": 1.5 })).await,
        "price",
        "invalid_type",
    )
    .await;
    assert_field_error(
        post_json(&app, json!({ "name": "a", "price": 1_000_000_000_001_i64 })).await,
        "price",
        "out_of_range",
    )
    .await;
    let huge =
        post_raw(&app, "application/json", r#"{"name":"a","price":100000000000000000000000}"#)
            .await;
    assert_field_error(huge, "price", "invalid_type").await;
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn every_broken_field_is_reported_at_once() {
    let app = spawn_app().await;
    let body = assert_problem(
        post_json(&app, json!({ "name": "", "price": -1 })).await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> =
        body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "price"]);
}

#[tokio::test]
async fn unknown_fields_are_refused_not_ignored() {
    let app = spawn_app().await;
    for field in ["id", "createdAt", "role", "nameFolded"] {
        let mut body = json!({ "name": "a", "price": 1 });
        body[field] = json!("x");
        assert_field_error(post_json(&app, body).await, field, "unknown_field").await;
    }
    assert_nothing_stored(&app).await;

    let created = app.create_service("Windows", 1).await;
    let path = format!("/api/v1/services/{}", created["id"].as_str().unwrap());
    let patch = app
        .patch(&path)
        .bearer_auth(app.admin_token().await)
        .json(&json!({ "id": "x" }))
        .send()
        .await
        .unwrap();
    assert_field_error(patch, "id", "unknown_field").await;
}

#[tokio::test]
async fn a_patch_may_not_null_a_field() {
    let app = spawn_app().await;
    let created = app.create_service("Windows", 1).await;
    let path = format!("/api/v1/services/{}", created["id"].as_str().unwrap());
    for field in ["name", "price", "description"] {
        let patch = app
            .patch(&path)
            .bearer_auth(app.admin_token().await)
            .json(&json!({ field: null }))
            .send()
            .await
            .unwrap();
        assert_field_error(patch, field, "invalid_type").await;
    }
    let read: Value = app.get(&path).send().await.unwrap().json().await.unwrap();
    assert_eq!(read, created);
}

#[tokio::test]
async fn a_malformed_id_is_a_bad_request() {
    let app = spawn_app().await;
    for id in ["123", "not-an-id-not-an-id-1234", "65a1b2c3d4e5f60718293a4bff", "%00"] {
        let path = format!("/api/v1/services/{id}");
        assert_problem(app.get(&path).send().await.unwrap(), 400, "invalid_id").await;
        let delete = app.delete(&path).bearer_auth(app.admin_token().await).send().await.unwrap();
        assert_problem(delete, 400, "invalid_id").await;
    }
}

#[tokio::test]
async fn bad_page_limit_sort_and_unknown_parameters_are_refused() {
    let app = spawn_app().await;
    let cases = [
        ("page=0", "page", "out_of_range"),
        ("limit=0", "limit", "out_of_range"),
        ("limit=1000", "limit", "out_of_range"),
        ("limit=101", "limit", "out_of_range"),
        ("page=-1", "page", "invalid_type"),
        ("page=abc", "page", "invalid_type"),
        ("page=99999999999", "page", "invalid_type"),
        ("sort=password", "sort", "invalid_choice"),
        ("q=", "", ""),
        ("pgae=2", "pgae", "unknown_field"),
    ];
    for (query, field, code) in cases {
        let response = app.get(&format!("/api/v1/services?{query}")).send().await.unwrap();
        if field.is_empty() {
            assert_eq!(response.status(), 200, "{query}");
        } else {
            assert_field_error(response, field, code).await;
        }
    }
    let long = format!("/api/v1/services?q={}", "x".repeat(101));
    assert_field_error(app.get(&long).send().await.unwrap(), "q", "too_long").await;
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let app = spawn_app().await;
    let body = json!({ "name": "a", "price": 1, "description": "d".repeat(100_000) });
    assert_problem(post_json(&app, body).await, 413, "payload_too_large").await;
}
