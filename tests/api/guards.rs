//! Who may write to the catalogue: admins only, proven by a valid access token
//! from the `Authorization` header or the `access_token` cookie (with CSRF).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, TestApp};

fn new_service() -> Value {
    json!({ "name": "Windows", "price": 1000 })
}

async fn create_with_bearer(app: &TestApp, token: &str) -> reqwest::Response {
    app.post("/api/v1/services").bearer_auth(token).json(&new_service()).send().await.unwrap()
}

async fn count_services(app: &TestApp) -> u64 {
    let page: Value = app.get("/api/v1/services").send().await.unwrap().json().await.unwrap();
    page["meta"]["total"].as_u64().unwrap()
}

#[tokio::test]
async fn writes_without_a_token_are_unauthenticated() {
    let app = spawn_app().await;
    let id = app.create_service("Windows", 1).await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/services/{id}");

    let post = app.post("/api/v1/services").json(&new_service()).send().await.unwrap();
    assert_problem(post, 401, "unauthenticated").await;
    let patch = app.patch(&path).json(&json!({ "price": 5 })).send().await.unwrap();
    assert_problem(patch, 401, "unauthenticated").await;
    let delete = app.delete(&path).send().await.unwrap();
    let response_header = delete.headers().get("www-authenticate").cloned();
    assert_problem(delete, 401, "unauthenticated").await;
    assert_eq!(response_header.unwrap(), "Bearer");
    assert_eq!(count_services(&app).await, 1);
}

#[tokio::test]
async fn a_user_token_may_read_but_not_write() {
    let app = spawn_app().await;
    let user = app.user_token().await;

    let response = create_with_bearer(&app, &user).await;

    assert_problem(response, 403, "forbidden").await;
    assert_eq!(count_services(&app).await, 0);
    let list = app.get("/api/v1/services").bearer_auth(&user).send().await.unwrap();
    assert_eq!(list.status(), 200);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = spawn_app().await;
    let mut claims = app.admin_claims();
    claims.iat -= 3600;
    claims.exp = claims.iat + 900;
    let token = app.tokens.sign(&claims).unwrap();

    assert_problem(create_with_bearer(&app, &token).await, 401, "invalid_token").await;
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_refused() {
    let app = spawn_app().await;
    let mut claims = app.admin_claims();
    claims.iat += 3600;
    claims.exp += 3600;
    let token = app.tokens.sign(&claims).unwrap();

    assert_problem(create_with_bearer(&app, &token).await, 401, "invalid_token").await;
}

#[tokio::test]
async fn tokens_for_another_issuer_audience_or_type_are_refused() {
    let app = spawn_app().await;
    let edits: [fn(&mut tozalash_http::auth::AccessClaims); 4] = [
        |c| c.iss = "someone-else".into(),
        |c| c.aud = "another-api".into(),
        |c| c.typ = "refresh".into(),
        |c| c.role = "SUPERUSER".into(),
    ];
    for edit in edits {
        let mut claims = app.admin_claims();
        edit(&mut claims);
        let token = app.tokens.sign(&claims).unwrap();
        assert_problem(create_with_bearer(&app, &token).await, 401, "invalid_token").await;
    }
}

#[tokio::test]
async fn a_tampered_token_is_refused() {
    let app = spawn_app().await;
    let user = app.user_token().await;
    let parts: Vec<&str> = user.split('.').collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let promoted = URL_SAFE_NO_PAD.encode(payload.replace("\"USER\"", "\"ADMIN\""));
    let forged = format!("{}.{}.{}", parts[0], promoted, parts[2]);

    assert_problem(create_with_bearer(&app, &forged).await, 401, "invalid_token").await;
    assert_eq!(count_services(&app).await, 0);
}

#[tokio::test]
async fn unsigned_alg_none_tokens_are_refused_in_any_casing() {
    let app = spawn_app().await;
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&app.admin_claims()).unwrap());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let token = format!("{header}.{payload}.");
        assert_problem(create_with_bearer(&app, &token).await, 401, "invalid_token").await;
    }
    assert_eq!(count_services(&app).await, 0);
}

#[tokio::test]
async fn garbage_in_the_authorization_header_is_refused() {
    let app = spawn_app().await;
    for value in ["Bearer", "Bearer not-a-jwt", "Basic YWRtaW46YWRtaW4="] {
        let response = app
            .post("/api/v1/services")
            .header("authorization", value)
            .json(&new_service())
            .send()
            .await
            .unwrap();
        assert_problem(response, 401, "invalid_token").await;
    }
}

#[tokio::test]
async fn a_cookie_token_writes_only_with_the_matching_csrf_header() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let cookies = format!("access_token={}; csrf_token={}", session.access, session.csrf);
    let post = || app.post("/api/v1/services").header("cookie", &cookies).json(&new_service());

    assert_problem(post().send().await.unwrap(), 403, "csrf_failed").await;
    let wrong = post().header("x-csrf-token", "csrf-xyz").send().await.unwrap();
    assert_problem(wrong, 403, "csrf_failed").await;
    assert_eq!(count_services(&app).await, 0);

    let right = post().header("x-csrf-token", &session.csrf).send().await.unwrap();
    assert_eq!(right.status(), 201);
}

#[tokio::test]
async fn a_forged_equal_csrf_pair_is_refused() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    // What a sibling subdomain could plant: a cookie and a header that agree
    // with each other, but are not this session's token.
    let cookies = format!("access_token={}; csrf_token=made-up-pair", session.access);
    let forged = app
        .post("/api/v1/services")
        .header("cookie", &cookies)
        .header("x-csrf-token", "made-up-pair")
        .json(&new_service())
        .send()
        .await
        .unwrap();
    assert_problem(forged, 403, "csrf_failed").await;
    // Another session's genuine token does not pass either.
    let other = app.admin_session().await;
    let cookies = format!("access_token={}; csrf_token={}", session.access, other.csrf);
    let borrowed = app
        .post("/api/v1/services")
        .header("cookie", &cookies)
        .header("x-csrf-token", &other.csrf)
        .json(&new_service())
        .send()
        .await
        .unwrap();
    assert_problem(borrowed, 403, "csrf_failed").await;
    assert_eq!(count_services(&app).await, 0);
}

#[tokio::test]
async fn a_bearer_token_needs_no_csrf_header() {
    let app = spawn_app().await;
    let response = create_with_bearer(&app, &app.admin_token().await).await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn a_stale_cookie_does_not_break_public_reads() {
    let app = spawn_app().await;
    let response = app
        .get("/api/v1/services")
        .header("cookie", "access_token=expired.garbage.x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
