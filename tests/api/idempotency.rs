//! `Idempotency-Key` on `POST /orders`: a retried booking is booked once,
//! whichever instance receives the retry.

use reqwest::Response;
use serde_json::{json, Value};

use crate::helpers::{assert_field_error, assert_problem, spawn_app, TestApp};

const KEY: &str = "8e03978e-40d5-43e8-bc93-6894a57f9324";

async fn place(app: &TestApp, access: &str, key: Option<&str>, body: &Value) -> Response {
    let mut request = app.post("/api/v1/orders").bearer_auth(access).json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

async fn order_count(app: &TestApp, access: &str) -> u64 {
    let response = app.get("/api/v1/orders").bearer_auth(access).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["meta"]["total"].as_u64().unwrap()
}

/// A verified customer and a booking body for a new service.
async fn booking(app: &TestApp, name: &str) -> (String, Value) {
    let service = app.create_service(&format!("Xizmat {name}"), 120_000).await;
    let (_, session) = app.verified_customer(name).await;
    let body =
        json!({ "serviceId": service["id"], "address": "Yunusobod 4", "notes": "Kalit qo'shnida" });
    (session.access, body)
}

#[tokio::test]
async fn a_retry_with_the_same_key_and_body_replays_the_first_answer_and_books_once() {
    let app = spawn_app().await;
    let (access, body) = booking(&app, "dilnoza").await;

    let first = place(&app, &access, Some(KEY), &body).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none(), "the first answer is no replay");
    let location = first.headers()["location"].clone();
    let order: Value = first.json().await.unwrap();

    for _ in 0..3 {
        let retry = place(&app, &access, Some(KEY), &body).await;
        assert_eq!(retry.status(), 201);
        assert_eq!(retry.headers()["idempotent-replayed"], "true");
        assert_eq!(retry.headers()["location"], location);
        assert_eq!(retry.headers()["content-type"], "application/json");
        assert_eq!(retry.json::<Value>().await.unwrap(), order, "the very same order");
    }
    assert_eq!(order_count(&app, &access).await, 1);

    // Without a key, or with another one, a request is a new booking.
    assert_eq!(place(&app, &access, None, &body).await.status(), 201);
    assert_eq!(place(&app, &access, Some("another-key"), &body).await.status(), 201);
    assert_eq!(order_count(&app, &access).await, 3);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused_and_books_nothing() {
    let app = spawn_app().await;
    let (access, body) = booking(&app, "jasur").await;
    assert_eq!(place(&app, &access, Some(KEY), &body).await.status(), 201);

    let mut other = body.clone();
    other["address"] = json!("Chilonzor 9");
    let reused = place(&app, &access, Some(KEY), &other).await;
    let problem = assert_problem(reused, 422, "idempotency_key_reused").await;
    assert!(problem["detail"].as_str().unwrap().contains("new key"));
    assert_eq!(order_count(&app, &access).await, 1);
}

#[tokio::test]
async fn keys_are_per_user() {
    let app = spawn_app().await;
    let (hers, body) = booking(&app, "malika").await;
    let (_, his) = app.verified_customer("otabek").await;
    let his = his.access;

    let first: Value = place(&app, &hers, Some(KEY), &body).await.json().await.unwrap();
    let response = place(&app, &his, Some(KEY), &body).await;
    assert_eq!(response.status(), 201);
    assert!(response.headers().get("idempotent-replayed").is_none());
    let second: Value = response.json().await.unwrap();
    assert_ne!(second["id"], first["id"], "his own order, not a replay of hers");
    assert_eq!(order_count(&app, &his).await, 1);
}

#[tokio::test]
async fn a_refusal_is_replayed_as_it_was_first_answered() {
    let app = spawn_app().await;
    let (access, mut body) = booking(&app, "kamola").await;
    body["serviceId"] = json!("665f1c2e9b1d4a00abcdef01");

    let first = place(&app, &access, Some(KEY), &body).await;
    let mut problem = assert_problem(first, 422, "service_not_found").await;
    let retry = place(&app, &access, Some(KEY), &body).await;
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    // (assert_problem checks the body names this request's id, as every problem does.)
    let mut replayed = assert_problem(retry, 422, "service_not_found").await;
    assert_ne!(replayed["requestId"], problem["requestId"]);
    replayed.as_object_mut().unwrap().remove("requestId");
    problem.as_object_mut().unwrap().remove("requestId");
    assert_eq!(replayed, problem, "otherwise the first answer");
    // A fix of the body is a new request: it needs a new key.
    body["serviceId"] = app.create_service("Oyna yuvish", 90_000).await["id"].clone();
    let fixed = place(&app, &access, Some(KEY), &body).await;
    assert_problem(fixed, 422, "idempotency_key_reused").await;
}

#[tokio::test]
async fn ten_parallel_requests_with_one_key_book_once() {
    let app = spawn_app().await;
    let (access, body) = booking(&app, "sardor").await;

    let requests = (0..10).map(|_| place(&app, &access, Some(KEY), &body));
    let responses = futures::future::join_all(requests).await;
    let mut orders = Vec::new();
    for response in responses {
        match response.status().as_u16() {
            201 => orders.push(response.json::<Value>().await.unwrap()["id"].clone()),
            409 => {
                assert_problem(response, 409, "idempotency_in_progress").await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(!orders.is_empty());
    assert!(orders.iter().all(|id| *id == orders[0]), "every 201 is the one order: {orders:?}");
    assert_eq!(order_count(&app, &access).await, 1);
    let retry = place(&app, &access, Some(KEY), &body).await;
    assert_eq!(retry.json::<Value>().await.unwrap()["id"], orders[0], "settled on that order");
}

#[tokio::test]
async fn one_key_sent_to_two_instances_books_once() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    let (access, body) = booking(&app, "nodira").await;

    let (here, there) = tokio::join!(
        place(&app, &access, Some(KEY), &body),
        place(&other, &access, Some(KEY), &body)
    );
    let statuses = [here.status().as_u16(), there.status().as_u16()];
    assert!(statuses.contains(&201), "{statuses:?}");
    assert!(statuses.iter().all(|s| [201, 409].contains(s)), "{statuses:?}");
    let after = place(&other, &access, Some(KEY), &body).await;
    assert_eq!(after.status(), 201);
    let after: Value = after.json().await.unwrap();
    let replayed = place(&app, &access, Some(KEY), &body).await.json::<Value>().await.unwrap();
    assert_eq!(after, replayed, "both instances answer the same order");
    assert_eq!(order_count(&app, &access).await, 1);
}

#[tokio::test]
async fn a_malformed_key_is_a_field_error_and_books_nothing() {
    let app = spawn_app().await;
    let (access, body) = booking(&app, "bekzod").await;
    let too_long = "k".repeat(256);
    for bad in [too_long.as_str(), "kalit-ключ", "tab\there"] {
        let response = place(&app, &access, Some(bad), &body).await;
        assert_field_error(response, "Idempotency-Key", "invalid").await;
    }
    let twice = app
        .post("/api/v1/orders")
        .bearer_auth(&access)
        .header("Idempotency-Key", "a")
        .header("Idempotency-Key", "b")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_field_error(twice, "Idempotency-Key", "invalid").await;
    assert_eq!(order_count(&app, &access).await, 0);
}
