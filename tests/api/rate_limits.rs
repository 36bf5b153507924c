//! Rate limits (DESIGN §5, issue 12): a burst over each limit is 429
//! `rate_limited` with `Retry-After`, traffic under it never is; the client
//! is the socket peer unless that is a trusted proxy; the login slowdown;
//! and counters shared through Redis.
//!
//! Every app here runs with `RATE_LIMITS=true`, small quotas and
//! `TRUSTED_PROXIES=127.0.0.1`, so each request can come from a client of
//! its own through `X-Forwarded-For`. A test that aims at one key (an
//! account, a session, a user) spreads its requests over many client IPs,
//! so no IP limit can make it pass by accident. These tests do not depend
//! on the storage backend: the test script runs them once.

use std::time::Duration;

use reqwest::{RequestBuilder, Response};
use serde_json::json;
use tozalash_domain::Id;

use crate::helpers::{assert_problem, spawn_app_with, TestApp};

const PASSWORD: &str = "Gilam-yuvish-2026";

/// An app with the rate limits on, behind a trusted proxy at 127.0.0.1.
async fn limited_app(extra: &[(&str, &str)]) -> TestApp {
    let mut config = vec![("RATE_LIMITS", "true"), ("TRUSTED_PROXIES", "127.0.0.1")];
    config.extend_from_slice(extra);
    spawn_app_with(&config).await
}

/// The `n`-th client address (TEST-NET-2, 198.51.100.0/24, then beyond).
fn client(n: u32) -> String {
    format!("198.51.{}.{}", 100 + n / 250, 1 + n % 250)
}

/// The request as the trusted proxy forwards it for `client`.
fn from(request: RequestBuilder, client: &str) -> RequestBuilder {
    request.header("x-forwarded-for", client)
}

/// A unique address nobody has signed up with.
fn stranger() -> String {
    format!("s{}@example.uz", &Id::generate().to_hex()[14..])
}

async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> Response {
    from(app.post("/api/v1/auth/login"), ip)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

/// Asserts 429 `rate_limited` problem+json with a `Retry-After` of 1 to
/// `window` seconds, and answers it.
async fn assert_limited(response: Response, window: u64) -> u64 {
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=window).contains(&retry_after), "Retry-After: {retry_after}");
    assert_problem(response, 429, "rate_limited").await;
    retry_after
}

#[tokio::test]
async fn a_burst_of_logins_from_one_address_is_limited_and_other_addresses_are_not() {
    let app = limited_app(&[("RATE_LIMIT_LOGIN_IP", "3/60")]).await;
    let ip = client(1);
    for _ in 0..3 {
        // Another e-mail each time: only the IP limit is in play.
        let response = login_from(&app, &ip, &stranger(), PASSWORD).await;
        assert_eq!(response.status(), 401);
    }
    assert_limited(login_from(&app, &ip, &stranger(), PASSWORD).await, 60).await;
    for n in 2..6 {
        assert_eq!(login_from(&app, &client(n), &stranger(), PASSWORD).await.status(), 401);
    }
}

#[tokio::test]
async fn logins_for_one_account_from_one_address_are_limited_without_locking_the_account() {
    let app = limited_app(&[("RATE_LIMIT_LOGIN_ACCOUNT", "3/60")]).await;
    let email = stranger();
    app.signup(&email[..email.find('@').unwrap()], &email, PASSWORD).await;
    let ip = client(1);
    for _ in 0..3 {
        assert_eq!(login_from(&app, &ip, &email, "wrong-password-1").await.status(), 401);
    }
    assert_limited(login_from(&app, &ip, &email, PASSWORD).await, 60).await;
    // The owner, from elsewhere, still gets in.
    assert_eq!(login_from(&app, &client(2), &email, PASSWORD).await.status(), 200);
    // Any spelling of the address is the same key.
    let shouted = email.to_uppercase();
    assert_limited(login_from(&app, &ip, &format!(" {shouted} "), PASSWORD).await, 60).await;
}

#[tokio::test]
async fn logins_for_one_email_from_many_addresses_hit_the_looser_ceiling() {
    let app = limited_app(&[("RATE_LIMIT_LOGIN_EMAIL", "4/60")]).await;
    let email = stranger();
    for n in 0..4 {
        assert_eq!(login_from(&app, &client(n), &email, PASSWORD).await.status(), 401);
    }
    assert_limited(login_from(&app, &client(4), &email, PASSWORD).await, 60).await;
    assert_eq!(login_from(&app, &client(5), &stranger(), PASSWORD).await.status(), 401);
}

#[tokio::test]
async fn signups_from_one_address_are_limited() {
    let app = limited_app(&[("RATE_LIMIT_SIGNUP_IP", "2/60")]).await;
    let signup = |ip: String| {
        let name = format!("u{}", &Id::generate().to_hex()[14..]);
        let body = json!({ "username": name, "email": format!("{name}@example.uz"), "password": PASSWORD });
        let request = from(app.post("/api/v1/auth/signup"), &ip).json(&body);
        async move { request.send().await.unwrap() }
    };
    for _ in 0..2 {
        assert_eq!(signup(client(1)).await.status(), 201);
    }
    assert_limited(signup(client(1)).await, 60).await;
    assert_eq!(signup(client(2)).await.status(), 201);
}

#[tokio::test]
async fn mail_requests_from_one_address_are_limited_whatever_the_address_asked_for() {
    let app = limited_app(&[("RATE_LIMIT_MAIL_IP", "3/60")]).await;
    let ask = |path: &'static str, ip: String| {
        let request = from(app.post(path), &ip).json(&json!({ "email": stranger() }));
        async move { request.send().await.unwrap() }
    };
    let (resend, forgot) = ("/api/v1/auth/resend-verification", "/api/v1/auth/forgot-password");
    for path in [resend, forgot, resend] {
        assert_eq!(ask(path, client(1)).await.status(), 202, "{path}");
    }
    assert_limited(ask(forgot, client(1)).await, 60).await;
    assert_limited(ask(resend, client(1)).await, 60).await;
    assert_eq!(ask(forgot, client(2)).await.status(), 202);
}

#[tokio::test]
async fn refreshes_of_one_session_are_limited_from_any_address() {
    let app = limited_app(&[("RATE_LIMIT_REFRESH_SESSION", "2/60")]).await;
    let (_, mut session) = app.customer(&format!("r{}", &Id::generate().to_hex()[16..])).await;
    let refresh = |session: &crate::helpers::Session, ip: String| {
        from(app.post("/api/v1/auth/refresh"), &ip)
            .header("cookie", session.cookie_header())
            .header("x-csrf-token", &session.csrf)
            .send()
    };
    for n in 0..2 {
        let response = refresh(&session, client(n)).await.unwrap();
        assert_eq!(response.status(), 200);
        session = crate::helpers::session_from(&response);
    }
    assert_limited(refresh(&session, client(3)).await.unwrap(), 60).await;
    // Another session of the same account is another key.
    let email = app.me(&session.access).await["email"].as_str().unwrap().to_owned();
    let other = app.login(&email, PASSWORD).await;
    assert_eq!(refresh(&other, client(4)).await.unwrap().status(), 200);
}

#[tokio::test]
async fn orders_of_one_user_are_limited_from_any_address() {
    let app = limited_app(&[("RATE_LIMIT_ORDERS_USER", "2/60")]).await;
    let service = app.create_service("Gilam yuvish", 50_000).await;
    let service_id = service["id"].as_str().unwrap();
    let (_, first) = app.verified_customer(&format!("o{}", &Id::generate().to_hex()[16..])).await;
    let (_, second) = app.verified_customer(&format!("o{}", &Id::generate().to_hex()[16..])).await;
    let order = |access: &str, ip: String| {
        from(app.post("/api/v1/orders"), &ip)
            .bearer_auth(access)
            .json(&json!({ "serviceId": service_id }))
            .send()
    };
    for n in 0..2 {
        assert_eq!(order(&first.access, client(n)).await.unwrap().status(), 201);
    }
    assert_limited(order(&first.access, client(3)).await.unwrap(), 60).await;
    assert_eq!(order(&second.access, client(3)).await.unwrap().status(), 201);
}

#[tokio::test]
async fn any_request_counts_against_its_address_and_refusals_are_counted() {
    let app = limited_app(&[("RATE_LIMIT_ANY_IP", "5/60")]).await;
    let ip = client(1);
    for _ in 0..5 {
        assert_eq!(from(app.get("/api/v1/services"), &ip).send().await.unwrap().status(), 200);
    }
    let refused = from(app.get("/api/v1/services"), &ip).send().await.unwrap();
    assert_limited(refused, 60).await;
    // Every kind of request counts, a 404 too.
    assert_limited(from(app.get("/api/v1/nothing-here"), &ip).send().await.unwrap(), 60).await;
    assert_eq!(from(app.get("/api/v1/services"), &client(2)).send().await.unwrap().status(), 200);
    let metrics = from(app.get("/metrics"), &client(3)).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    assert!(text.contains(r#"tozalash_rate_limited_total{limit="ANY_IP"} 2"#), "{text}");
}

#[tokio::test]
async fn a_429_reaches_an_allowed_origin_with_its_cors_headers() {
    let origin = "https://app.example.uz";
    let app = limited_app(&[("RATE_LIMIT_ANY_IP", "1/60"), ("CORS_ORIGINS", origin)]).await;
    let get = || from(app.get("/api/v1/services"), "198.51.100.77").header("origin", origin);
    assert_eq!(get().send().await.unwrap().status(), 200);
    let refused = get().send().await.unwrap();
    assert_eq!(refused.headers()["access-control-allow-origin"], origin);
    assert_limited(refused, 60).await;
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    // The peer, 127.0.0.1, is no proxy of ours here.
    let app = spawn_app_with(&[("RATE_LIMITS", "true"), ("RATE_LIMIT_ANY_IP", "3/60")]).await;
    for n in 0..3 {
        let request = from(app.get("/api/v1/services"), &client(n));
        assert_eq!(request.send().await.unwrap().status(), 200);
    }
    let forged = app
        .get("/api/v1/services")
        .header("x-forwarded-for", client(9))
        .header("forwarded", format!("for={}", client(10)));
    assert_limited(forged.send().await.unwrap(), 60).await;
}

#[tokio::test]
async fn behind_trusted_proxies_the_client_is_the_rightmost_untrusted_address() {
    let app =
        limited_app(&[("RATE_LIMIT_ANY_IP", "2/60"), ("TRUSTED_PROXIES", "127.0.0.1,10.0.0.0/8")])
            .await;
    // The client forges the left part; our proxies append what they saw.
    let chain = |forged: &str| format!("{forged}, 203.0.113.9, 10.1.2.3");
    for forged in ["1.1.1.1", "2.2.2.2"] {
        let request = app.get("/api/v1/services").header("x-forwarded-for", chain(forged));
        assert_eq!(request.send().await.unwrap().status(), 200);
    }
    let request = app.get("/api/v1/services").header("x-forwarded-for", chain("3.3.3.3"));
    assert_limited(request.send().await.unwrap(), 60).await;
    let request = app.get("/api/v1/services").header("forwarded", "for=\"[2001:db8::9]:4711\"");
    assert_eq!(request.send().await.unwrap().status(), 200, "Forwarded counts too");
}

/// High enough that only the login slowdown acts.
const SLOWDOWN_ONLY: &[(&str, &str)] = &[
    ("RATE_LIMIT_LOGIN_IP", "10000/60"),
    ("RATE_LIMIT_LOGIN_ACCOUNT", "10000/60"),
    ("RATE_LIMIT_LOGIN_EMAIL", "10000/60"),
    ("RATE_LIMIT_ANY_IP", "10000/60"),
];

/// The parts of a refused login that must not tell an account from none.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    code: String,
    headers: Vec<String>,
}

async fn answer(response: Response) -> Answer {
    let mut headers: Vec<String> = response.headers().keys().map(|k| k.to_string()).collect();
    headers.sort();
    headers.dedup();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    Answer { status, code: body["code"].as_str().unwrap_or_default().to_owned(), headers }
}

/// 100 wrong passwords for `email` from one address: the answers.
async fn hundred_wrong_logins(app: &TestApp, email: &str, ip: &str) -> Vec<Answer> {
    let mut answers = Vec::new();
    for _ in 0..100 {
        answers.push(answer(login_from(app, ip, email, "not-the-password").await).await);
    }
    answers
}

async fn brute_force_is_throttled_and_says_nothing_about_the_account(app: TestApp) {
    let email = stranger();
    app.signup(&email[..email.find('@').unwrap()], &email, PASSWORD).await;

    let known = hundred_wrong_logins(&app, &email, &client(1)).await;
    let unknown = hundred_wrong_logins(&app, &stranger(), &client(2)).await;

    for answers in [&known, &unknown] {
        // Five free failures, the sixth locks the pair; then, while locked,
        // 429 without a password being checked.
        assert!(answers[..6].iter().all(|a| a.status == 401), "{answers:?}");
        let refused = answers.iter().filter(|a| a.status == 429).count();
        assert!(refused >= 90, "only {refused} of 100 refused: {answers:?}");
        assert!(answers.iter().all(|a| a.status != 429 || a.code == "rate_limited"));
    }
    // The same answers, whether or not the account exists.
    let first_429 = |answers: &[Answer]| answers.iter().position(|a| a.status == 429);
    assert_eq!(first_429(&known), first_429(&unknown));
    assert_eq!(known[0], unknown[0]);
    let i = first_429(&known).unwrap();
    assert_eq!(known[i], unknown[i]);
    assert!(known[i].headers.contains(&"retry-after".to_owned()));
    // The owner, from another address, is not locked out.
    assert_eq!(login_from(&app, &client(3), &email, PASSWORD).await.status(), 200);
}

async fn a_success_resets_the_slowdown(app: TestApp) {
    let email = stranger();
    app.signup(&email[..email.find('@').unwrap()], &email, PASSWORD).await;
    let ip = client(7);
    for _ in 0..6 {
        assert_eq!(login_from(&app, &ip, &email, "not-the-password").await.status(), 401);
    }
    // Locked for a second: even the right password waits.
    let retry_after = assert_limited(login_from(&app, &ip, &email, PASSWORD).await, 1).await;
    tokio::time::sleep(Duration::from_millis(retry_after * 1000 + 200)).await;
    assert_eq!(login_from(&app, &ip, &email, PASSWORD).await.status(), 200);
    // Forgotten: five free failures again, and the sixth locks.
    for _ in 0..6 {
        assert_eq!(login_from(&app, &ip, &email, "not-the-password").await.status(), 401);
    }
    assert_limited(login_from(&app, &ip, &email, "not-the-password").await, 1).await;
}

#[tokio::test]
async fn a_hundred_wrong_logins_are_throttled_and_an_unknown_email_gets_the_same_answers() {
    brute_force_is_throttled_and_says_nothing_about_the_account(limited_app(SLOWDOWN_ONLY).await)
        .await;
}

#[tokio::test]
async fn a_login_success_resets_the_slowdown() {
    a_success_resets_the_slowdown(limited_app(SLOWDOWN_ONLY).await).await;
}

/// `TEST_REDIS_URL`: a Redis server of the test run's own (scripts/test.sh
/// starts one).
fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").expect(
        "TEST_REDIS_URL must name a Redis server (7.0 or newer) for the rate-limit tests; \
         scripts/test.sh starts one",
    )
}

/// An app counting in the test Redis under `prefix`.
async fn redis_app(prefix: &str, extra: &[(&str, &str)]) -> TestApp {
    let url = redis_url();
    let mut config = vec![("REDIS_URL", url.as_str()), ("RATE_LIMIT_KEY_PREFIX", prefix)];
    config.extend_from_slice(extra);
    limited_app(&config).await
}

fn fresh_prefix() -> String {
    format!("test:{}:", Id::generate())
}

#[tokio::test]
async fn with_redis_two_instances_share_one_limit() {
    let prefix = fresh_prefix();
    let limit = [("RATE_LIMIT_ANY_IP", "4/60")];
    let (one, two) = (redis_app(&prefix, &limit).await, redis_app(&prefix, &limit).await);
    let ip = client(1);
    for app in [&one, &two, &one, &two] {
        assert_eq!(from(app.get("/api/v1/services"), &ip).send().await.unwrap().status(), 200);
    }
    for app in [&one, &two] {
        assert_limited(from(app.get("/api/v1/services"), &ip).send().await.unwrap(), 60).await;
    }
    assert_eq!(from(two.get("/api/v1/services"), &client(2)).send().await.unwrap().status(), 200);
    // Another prefix is another set of counters.
    let other = redis_app(&fresh_prefix(), &limit).await;
    assert_eq!(from(other.get("/api/v1/services"), &ip).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn with_redis_the_login_slowdown_holds_and_resets() {
    let (url, prefix) = (redis_url(), fresh_prefix());
    let mut config = SLOWDOWN_ONLY.to_vec();
    config.extend([("REDIS_URL", url.as_str()), ("RATE_LIMIT_KEY_PREFIX", prefix.as_str())]);
    a_success_resets_the_slowdown(limited_app(&config).await).await;
    brute_force_is_throttled_and_says_nothing_about_the_account(limited_app(&config).await).await;
}

#[tokio::test]
async fn when_redis_cannot_be_reached_requests_go_through_and_it_is_counted() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("redis://127.0.0.1:{port}");
    let app = limited_app(&[("REDIS_URL", url.as_str()), ("RATE_LIMIT_ANY_IP", "1/60")]).await;
    for _ in 0..3 {
        assert_eq!(
            from(app.get("/api/v1/services"), &client(1)).send().await.unwrap().status(),
            200
        );
    }
    assert_eq!(login_from(&app, &client(1), &stranger(), PASSWORD).await.status(), 401);
    let text = app.get("/metrics").send().await.unwrap().text().await.unwrap();
    let errors = text
        .lines()
        .find_map(|line| line.strip_prefix("tozalash_rate_limiter_errors_total "))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(errors >= 3, "{text}");
}
