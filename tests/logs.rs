//! The logs of a whole authentication flow hold none of its secrets: no
//! password, no access, refresh or CSRF token, no e-mailed link token, no
//! cookie value, no key. Everything is captured at TRACE, dependencies (actix,
//! sqlx…) included, in the production JSON format and the development one.
//!
//! Alone in its own test binary: a global subscriber can be set only once per
//! process, and tracing caches per call site whether anyone listens, so no
//! other test may run (and log, or not) in this process.

#![allow(clippy::unwrap_used)] // a panic is how a test reports a failure

#[path = "api/helpers.rs"]
mod helpers;
#[path = "api/smtp.rs"]
mod smtp;

use std::sync::{Arc, Mutex};

use helpers::{session_from, spawn_app_with, Session, TestApp, ADMIN_PASSWORD, JWT_SECRET};
use reqwest::Response;
use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// A `MakeWriter` collecting every log line in memory.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Every secret the flow handles, to be looked for in the logs.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: &str) {
        assert!(value.len() >= 8, "{what} is too short to search for: {value:?}");
        self.0.push((what.to_owned(), value.to_owned()));
    }

    fn add_session(&mut self, name: &str, session: &Session) {
        self.add(&format!("{name} access token"), &session.access);
        self.add(&format!("{name} refresh token"), &session.refresh);
        self.add(&format!("{name} CSRF token"), &session.csrf);
        // A JWT's signature alone is a secret too (its other parts are public claims).
        let signature = session.access.rsplit('.').next().unwrap();
        self.add(&format!("{name} access token signature"), signature);
    }
}

fn with_cookies(request: reqwest::RequestBuilder, session: &Session) -> reqwest::RequestBuilder {
    request.header("cookie", session.cookie_header()).header("x-csrf-token", &session.csrf)
}

fn request_id(response: &Response) -> String {
    response.headers()["x-request-id"].to_str().unwrap().to_owned()
}

async fn latest_mail_token(app: &TestApp, count: usize) -> String {
    let dir = app.mail_dir.clone();
    let mails = smtp::wait_for(count, move || smtp::mail_files(&dir)).await;
    mails[count - 1].token()
}

#[tokio::test]
async fn the_logs_of_the_whole_auth_flow_hold_no_secret() {
    let logs = LogBuffer::default();
    tracing_subscriber::registry()
        .with(EnvFilter::new("trace"))
        .with(tracing_subscriber::fmt::layer().json().with_writer(logs.clone()))
        .with(tracing_subscriber::fmt::layer().with_ansi(false).with_writer(logs.clone()))
        .try_init()
        .unwrap();

    // A replayed refresh token counts as theft at once (no grace window).
    let app = spawn_app_with(&[("REFRESH_REUSE_GRACE", "0")]).await;
    let mut secrets = Secrets::default();
    secrets.add("JWT_SECRET", JWT_SECRET);
    secrets.add("the admin's password", ADMIN_PASSWORD);
    let email = "shahlo@example.uz";
    let (first, second, third, wrong) =
        ("Gilam-yuvish-2026", "Deraza-artish-2027", "Oshxona-tozalash-28", "Notogri-parol-2026");
    for (what, password) in
        [("password", first), ("changed password", second), ("reset password", third)]
    {
        secrets.add(what, password);
    }
    secrets.add("wrong password", wrong);

    // Sign up; the verification link comes by mail.
    app.signup("shahlo", email, first).await;
    let verify_token = latest_mail_token(&app, 1).await;
    secrets.add("verification token", &verify_token);

    // A wrong password, then the right one.
    let response = app.login_response(email, wrong).await;
    assert_eq!(response.status(), 401);
    let response = app.login_response(email, first).await;
    assert_eq!(response.status(), 200);
    let login_request_id = request_id(&response);
    let login = session_from(&response);
    secrets.add_session("login", &login);

    // Who am I, by cookie and by bearer token; a forged token is refused.
    let response = app.get("/api/v1/auth/me").header("cookie", login.cookie_header()).send();
    assert_eq!(response.await.unwrap().status(), 200);
    let response = app.get("/api/v1/auth/me").bearer_auth(&login.access).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let forged = format!("{}x", login.access);
    secrets.add("forged access token", &forged);
    let response = app.get("/api/v1/auth/me").bearer_auth(&forged).send().await.unwrap();
    assert_eq!(response.status(), 401);

    // Refresh (rotation), and a logout whose CSRF header is wrong.
    let response = app.refresh(&login).await;
    assert_eq!(response.status(), 200);
    let refreshed = session_from(&response);
    secrets.add_session("refreshed", &refreshed);
    let response = app
        .post("/api/v1/auth/logout")
        .header("cookie", refreshed.cookie_header())
        .header("x-csrf-token", "not-the-csrf-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // Follow the verification link from the mail (before the password
    // changes: a password change invalidates every link mailed earlier).
    let response =
        app.get(&format!("/api/v1/auth/verify-email?token={verify_token}")).send().await.unwrap();
    assert_eq!(response.status(), 200);

    // Change the password, with the cookies as a browser sends them.
    let response = with_cookies(app.post("/api/v1/auth/change-password"), &refreshed)
        .json(&json!({ "currentPassword": first, "newPassword": second }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    let response = with_cookies(app.post("/api/v1/auth/logout"), &refreshed).send().await.unwrap();
    assert_eq!(response.status(), 204);

    // Forgot the password: the reset link comes by mail; its page, then the reset.
    let response = app.post("/api/v1/auth/forgot-password").json(&json!({ "email": email })).send();
    assert_eq!(response.await.unwrap().status(), 202);
    let reset_token = latest_mail_token(&app, 2).await;
    secrets.add("reset token", &reset_token);
    let response =
        app.get(&format!("/api/v1/auth/reset-password?token={reset_token}")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let response = app
        .post("/api/v1/auth/reset-password")
        .json(&json!({ "token": reset_token, "password": third }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    // Log in with the new password, refresh, replay the old refresh token
    // (theft: the session is revoked), log in again and log out everywhere.
    let relogin = app.login(email, third).await;
    secrets.add_session("second login", &relogin);
    let response = app.refresh(&relogin).await;
    assert_eq!(response.status(), 200);
    secrets.add_session("second refresh", &session_from(&response));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let response = app.refresh(&relogin).await;
    assert_eq!(response.status(), 401);
    let last = app.login(email, third).await;
    secrets.add_session("last login", &last);
    let response = app.post("/api/v1/auth/logout-all").bearer_auth(&last.access).send();
    assert_eq!(response.await.unwrap().status(), 204);

    // Let the outbox worker log its deliveries too.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let logged = logs.text();

    for (what, secret) in &secrets.0 {
        let leaks: Vec<&str> = logged.lines().filter(|line| line.contains(secret)).collect();
        assert!(leaks.is_empty(), "the {what} is in the logs:\n{}", leaks.join("\n"));
    }
    assert!(!logged.to_ascii_lowercase().contains("set-cookie"), "no cookie header is logged");

    // The capture did see the flow, dependencies included…
    for expected in [
        "authn_login_fail",
        "authn_login_success",
        "authn_token_invalid",
        "malicious_csrf",
        "session_renewed",
        "authn_password_change",
        "authn_token_reuse",
        "authn_token_revoked",
        "development mailer wrote a message",
    ] {
        assert!(logged.contains(expected), "{expected} is not in the logs:\n{logged}");
    }
    if !app.database_url.starts_with("mongodb") {
        assert!(logged.contains("sqlx::query"), "the SQL statements are captured too");
    }
    // …and every event of a request carries its request id.
    let login_line: Value = logged
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|line| line["fields"]["event"] == "authn_login_success")
        .expect("a JSON line for the login");
    assert_eq!(login_line["span"]["request_id"], login_request_id.as_str(), "{login_line}");
    assert_eq!(login_line["span"]["path"], "/api/v1/auth/login", "{login_line}");
}
