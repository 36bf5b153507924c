//! Operations: Prometheus metrics, CORS and the security headers.

use std::time::{Duration, Instant};

use reqwest::Response;
use serde_json::json;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with, TestApp};

const LISTED: &str = "https://app.example.uz";
const UNLISTED: &str = "https://evil.example";

impl TestApp {
    async fn metrics(&self) -> String {
        let response = self.get("/metrics").send().await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        response.text().await.unwrap()
    }
}

/// The value of the series `name{labels}` (0 when it does not exist yet).
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_status() {
    let app = spawn_app().await;
    let id = "0123456789abcdef01234567";
    let series =
        r#"tozalash_http_requests_total{method="GET",route="/api/v1/services/{id}",status="404"}"#;
    let histogram = r#"tozalash_http_request_duration_seconds_count{method="GET",route="/api/v1/services/{id}",status="404"}"#;
    let before = app.metrics().await;

    let response = app.get(&format!("/api/v1/services/{id}")).send().await.unwrap();
    assert_eq!(response.status(), 404);

    let after = app.metrics().await;
    assert_eq!(sample(&after, series), sample(&before, series) + 1.0, "{after}");
    assert_eq!(sample(&after, histogram), sample(&before, histogram) + 1.0, "{after}");
    assert!(!after.contains(id), "the raw path never becomes a label");
    // A path no route serves is counted under one label, whatever the path.
    app.get("/no/such/thing/42").send().await.unwrap();
    let after = app.metrics().await;
    assert!(
        after.contains(
            r#"tozalash_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
        ),
        "{after}"
    );
    assert!(!after.contains("/no/such/thing"), "{after}");
}

#[tokio::test]
async fn metrics_show_login_failures_and_the_outbox() {
    let app = spawn_app().await;
    let before = app.metrics().await;
    assert!(before.contains(r#"tozalash_outbox_messages{status="pending"}"#), "{before}");
    assert!(before.contains(r#"tozalash_outbox_messages{status="dead"}"#), "{before}");
    let failures = "tozalash_login_failures_total";
    let response = app.login_response("nobody@example.uz", "Wrong-password-2026").await;
    assert_problem(response, 401, "invalid_credentials").await;
    assert_eq!(sample(&app.metrics().await, failures), sample(&before, failures) + 1.0);

    // A signup queues a verification mail; the worker delivers it (dev mailer).
    app.signup("malika", "malika@example.uz", "Gilam-yuvish-2026").await;
    let sent = r#"tozalash_outbox_deliveries_total{outcome="sent"}"#;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let metrics = app.metrics().await;
        if sample(&metrics, sent) >= 1.0 {
            assert!(metrics.contains(r#"tozalash_outbox_deliveries_total{outcome="dead"} 0"#));
            break;
        }
        assert!(Instant::now() < deadline, "no delivery counted: {metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn allow_headers(response: &Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-allow-"))
        .collect()
}

fn preflight(app: &TestApp, origin: &str) -> reqwest::RequestBuilder {
    app.client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,x-csrf-token")
}

#[tokio::test]
async fn a_listed_origin_may_call_with_credentials() {
    let app =
        spawn_app_with(&[("CORS_ORIGINS", &format!("http://localhost:5173, {LISTED}"))]).await;

    let response = preflight(&app, LISTED).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], LISTED);
    assert_eq!(h["access-control-allow-credentials"], "true");
    let methods = h["access-control-allow-methods"].to_str().unwrap().to_owned();
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let headers = h["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    for header in ["content-type", "x-csrf-token", "authorization", "x-request-id"] {
        assert!(headers.contains(header), "{headers}");
    }
    assert!(!h["x-request-id"].is_empty(), "preflights have a request id too");

    let response = app.get("/api/v1/services").header("origin", LISTED).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], LISTED);
    assert_eq!(h["access-control-allow-credentials"], "true");
    let exposed = h["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");

    // Error answers carry the CORS headers too, or the page could not read them.
    let response = app.get("/api/v1/auth/me").header("origin", LISTED).send().await.unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], LISTED);
    assert_problem(response, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_listed_origin_may_send_conditional_and_idempotency_headers_and_read_etag() {
    let app = spawn_app_with(&[("CORS_ORIGINS", LISTED)]).await;
    let service = app.create_service("Windows", 1_000).await;
    let path = format!("/api/v1/services/{}", service["id"].as_str().unwrap());

    let response = app
        .client
        .request(reqwest::Method::OPTIONS, app.url(&path))
        .header("origin", LISTED)
        .header("access-control-request-method", "PATCH")
        .header("access-control-request-headers", "if-match,if-none-match,idempotency-key")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], LISTED);
    let allowed = h["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    for header in ["if-match", "if-none-match", "idempotency-key"] {
        assert!(allowed.contains(header), "{allowed}");
    }

    // The page can read the ETag of a cross-origin answer, and Retry-After.
    let response = app.get(&path).header("origin", LISTED).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], LISTED);
    assert_eq!(h["etag"], "\"1\"");
    let exposed = h["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    for header in ["etag", "retry-after", "x-request-id", "location"] {
        assert!(exposed.contains(header), "{exposed}");
    }
    let response = app
        .patch(&path)
        .header("origin", LISTED)
        .header("if-match", "\"7\"")
        .bearer_auth(app.admin_token().await)
        .json(&json!({ "price": 2_000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], LISTED);
    assert_problem(response, 412, "precondition_failed").await;
}

#[tokio::test]
async fn an_unlisted_origin_gets_no_cors_headers() {
    let app = spawn_app_with(&[("CORS_ORIGINS", LISTED)]).await;

    let response = preflight(&app, UNLISTED).send().await.unwrap();
    assert_eq!(allow_headers(&response), Vec::<String>::new());
    assert_problem(response, 403, "forbidden").await;

    // A plain request is served (curl sends no Origin) but not shared with the page.
    let response = app.get("/api/v1/services").header("origin", UNLISTED).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(allow_headers(&response), Vec::<String>::new());

    // By default no origin is listed.
    let app = spawn_app().await;
    let response = preflight(&app, LISTED).send().await.unwrap();
    assert_eq!(allow_headers(&response), Vec::<String>::new());
    assert_eq!(response.status(), 403);
}

fn assert_security_headers(response: &Response) {
    let h = response.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

#[tokio::test]
async fn responses_carry_security_headers_and_personal_data_is_never_stored() {
    let app = spawn_app().await;
    app.signup("dilnoza", "dilnoza@example.uz", "Gilam-yuvish-2026").await;
    let session = app.login("dilnoza@example.uz", "Gilam-yuvish-2026").await;

    let me = app.get("/api/v1/auth/me").bearer_auth(&session.access).send().await.unwrap();
    assert_eq!(me.status(), 200);
    assert_security_headers(&me);
    assert_eq!(me.headers()["cache-control"], "no-store");
    assert_eq!(
        me.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );

    let anonymous = app.get("/api/v1/auth/me").send().await.unwrap();
    assert_security_headers(&anonymous);
    assert_eq!(anonymous.headers()["cache-control"], "no-store");

    let orders = app.get("/api/v1/orders").bearer_auth(&session.access).send().await.unwrap();
    assert_eq!(orders.headers()["cache-control"], "no-store");
    let login = app
        .post("/api/v1/auth/login")
        .json(&json!({ "email": "dilnoza@example.uz", "password": "Gilam-yuvish-2026" }))
        .send()
        .await
        .unwrap();
    assert_security_headers(&login);
    assert_eq!(login.headers()["cache-control"], "no-store");

    // The public catalogue is the same for everyone: no caching header at all.
    let catalogue = app.get("/api/v1/services").send().await.unwrap();
    assert_eq!(catalogue.status(), 200);
    assert_security_headers(&catalogue);
    assert!(catalogue.headers().get("cache-control").is_none());

    // The HTML page of the reset link keeps its own, stricter policy.
    let page = app.get("/api/v1/auth/reset-password?token=x").send().await.unwrap();
    assert_security_headers(&page);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self'"), "{csp}");

    let metrics = app.get("/metrics").send().await.unwrap();
    assert_security_headers(&metrics);
    assert_eq!(metrics.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn the_server_purges_ended_sessions_on_its_interval_and_their_tokens_replay_as_401() {
    use tozalash_domain::SecretTokens;
    let app = spawn_app_with(&[("PURGE_INTERVAL_SECS", "1"), ("RETENTION_DAYS", "30")]).await;
    let (_, ended) = app.customer("zarina").await;
    let live = app.login("zarina@example.uz", "Gilam-yuvish-2026").await;
    let repos = tozalash::storage::open(&app.database_url, None).await.unwrap();
    let hash = tozalash_security::RandomTokens.hash(&ended.refresh);
    let (_, session) = repos.sessions.find_refresh_token(&hash).await.unwrap().unwrap();
    // The session was logged out 31 days ago.
    let long_ago = chrono::Utc::now().timestamp_millis() - 31 * 86_400_000;
    assert!(repos.sessions.revoke(session.id, tozalash_domain::clock::at(long_ago)).await.unwrap());

    let deadline = Instant::now() + Duration::from_secs(10);
    while repos.sessions.find_refresh_token(&hash).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "the server never purged the ended session");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_problem(app.refresh(&ended).await, 401, "invalid_refresh_token").await;
    assert_eq!(app.refresh(&live).await.status(), 200, "the live session stays");
    let metrics = app.metrics().await;
    assert!(sample(&metrics, r#"tozalash_purged_rows_total{kind="sessions"}"#) >= 1.0, "{metrics}");
}
