//! The one way to spawn the app in tests, and small helpers around it.

#![allow(dead_code)]

use std::time::Duration;

use reqwest::{Client, RequestBuilder, Response};
use serde_json::{json, Value};
use tempfile::TempDir;
use tozalash::startup::StopHandle;
use tozalash::{Application, Config};
use tozalash_domain::{Id, Principal, Role};
use tozalash_http::auth::AccessClaims;
use tozalash_http::AccessTokens;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-42";
pub const ADMIN_EMAIL: &str = "admin@tozalash.uz";
pub const ADMIN_PASSWORD: &str = "Bosh-admin-parol-2026";

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub tokens: AccessTokens,
    pub database_url: String,
    /// Where the development mailer writes .eml files (when no SMTP_URL is set).
    pub mail_dir: std::path::PathBuf,
    stop: StopHandle,
    config: Vec<(String, String)>,
    admin_access: tokio::sync::OnceCell<String>,
    /// The test's folder (the SQLite file, the mail), shared with other
    /// instances on the same database and removed when the last one goes.
    _dir: std::sync::Arc<TempDir>,
}

/// Spawns the application on port 0 with a database of its own and an
/// administrator made from the `ADMIN_*` variables.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Like [`spawn_app`], with more configuration variables.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let database_url = database_url(&dir).await;
    let mail_dir = dir.path().join("mail");
    let mut config: Vec<(String, String)> = [
        ("PORT", "0"),
        ("DATABASE_URL", database_url.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("ADMIN_EMAIL", ADMIN_EMAIL),
        ("ADMIN_USERNAME", "bosh_admin"),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("MAIL_DIR", mail_dir.to_str().unwrap()),
        // Mail is delivered promptly and retried quickly in tests.
        ("OUTBOX_POLL_MS", "50"),
        ("MAIL_RETRY_BASE_MS", "100"),
        ("MAIL_RETRY_MAX_MS", "400"),
        ("MAIL_RESEND_INTERVAL", "0"),
        // Every test comes from 127.0.0.1; the rate-limit tests switch them on.
        ("RATE_LIMITS", "false"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    config.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let (base, stop) = start(&config).await;
    TestApp {
        base,
        client: Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
        tokens: AccessTokens::new(JWT_SECRET.as_bytes(), Duration::from_secs(900)),
        database_url,
        mail_dir,
        stop,
        config,
        admin_access: tokio::sync::OnceCell::new(),
        _dir: std::sync::Arc::new(dir),
    }
}

async fn start(config: &[(String, String)]) -> (String, StopHandle) {
    let config = Config::from_pairs(config.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap();
    let app = Application::build(&config).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = app.stop_handle();
    tokio::spawn(app.run_until_stopped());
    (base, stop)
}

impl TestApp {
    /// Another instance of the app on the same database and configuration,
    /// as a second server behind a load balancer would be.
    pub async fn another_instance(&self) -> TestApp {
        let (base, stop) = start(&self.config).await;
        TestApp {
            base,
            client: self.client.clone(),
            tokens: AccessTokens::new(JWT_SECRET.as_bytes(), Duration::from_secs(900)),
            database_url: self.database_url.clone(),
            mail_dir: self.mail_dir.clone(),
            stop,
            config: self.config.clone(),
            admin_access: tokio::sync::OnceCell::new(),
            _dir: self._dir.clone(),
        }
    }

    /// Another instance as an OS process of its own (`tozalash serve`, the
    /// real binary) on the same database and configuration, as a deployment
    /// runs several. It is killed when dropped.
    pub async fn another_process(&self) -> AppProcess {
        let port = free_port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_tozalash"))
            .arg("serve")
            .env_clear()
            .envs(self.config.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let process = AppProcess { base: format!("http://127.0.0.1:{port}"), child };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self.client.get(format!("{}/health/ready", process.base)).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return process;
            }
            assert!(std::time::Instant::now() < deadline, "{} did not get ready", process.base);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the app as SIGTERM would: it stops serving, and its outbox worker
    /// finishes the message in hand and hands back what it claimed.
    pub async fn stop(&self) {
        self.stop.stop().await;
    }

    /// Stops the app (as SIGTERM would) and starts it again on the same
    /// database, with `changes` to its configuration.
    pub async fn restart(&mut self, changes: &[(&str, &str)]) {
        self.stop.stop().await;
        for (key, value) in changes {
            self.config.retain(|(k, _)| k != key);
            self.config.push((key.to_string(), value.to_string()));
        }
        let (base, stop) = start(&self.config).await;
        self.base = base;
        self.stop = stop;
    }
}

/// The app as an OS process of its own: see [`TestApp::another_process`].
pub struct AppProcess {
    pub base: String,
    child: std::process::Child,
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// SQLite in the test's temporary folder, or a fresh database on the server
/// that `TEST_API_DATABASE_URL` names.
async fn database_url(dir: &TempDir) -> String {
    let Ok(server) = std::env::var("TEST_API_DATABASE_URL") else {
        return format!("sqlite://{}/tozalash.db?mode=rwc", dir.path().display());
    };
    let name = format!("api_{}", Id::generate());
    if server.starts_with("mongodb") {
        // A database of its own: the URL's path names it (the script gives `…/?opts`).
        match server.split_once("/?") {
            Some((host, options)) => format!("{host}/{name}?{options}"),
            None => format!("{}/{name}", server.trim_end_matches('/')),
        }
    } else {
        // Postgres: a schema of its own.
        let admin = sqlx_admin(&server).await;
        sqlx::query(&format!("CREATE SCHEMA {name}")).execute(&admin).await.unwrap();
        let sep = if server.contains('?') { '&' } else { '?' };
        format!("{server}{sep}options=-c%20search_path%3D{name}")
    }
}

async fn sqlx_admin(url: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await.unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path))
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path))
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.client.patch(self.url(path))
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.client.delete(self.url(path))
    }

    /// A valid access token of a session that does not exist: good for
    /// reads of public data only, since writes are checked against storage.
    pub fn token(&self, role: Role) -> String {
        let principal = Principal { user_id: Id::generate(), role, session_id: Id::generate() };
        self.tokens.issue(&principal, chrono::Utc::now()).unwrap()
    }

    /// The access token of a real session of the administrator from the
    /// environment (logged in once per app).
    pub async fn admin_token(&self) -> String {
        self.admin_access.get_or_init(|| async { self.admin_session().await.access }).await.clone()
    }

    /// The access token of a real session of a fresh, signed-up customer.
    pub async fn user_token(&self) -> String {
        self.customer(&format!("c{}", &Id::generate().to_hex()[16..])).await.1.access
    }

    /// Claims of a valid admin token, to be edited into invalid ones.
    pub fn admin_claims(&self) -> AccessClaims {
        let now = chrono::Utc::now().timestamp();
        AccessClaims {
            sub: Id::generate().to_hex(),
            role: "ADMIN".into(),
            sid: Id::generate().to_hex(),
            iat: now,
            exp: now + 900,
            iss: AccessTokens::ISSUER.into(),
            aud: AccessTokens::AUDIENCE.into(),
            typ: AccessTokens::TYPE.into(),
            nbf: None,
        }
    }

    /// Creates a service as an admin and returns its JSON.
    pub async fn create_service(&self, name: &str, price: i64) -> Value {
        let response = self
            .post("/api/v1/services")
            .bearer_auth(self.admin_token().await)
            .json(&json!({ "name": name, "description": format!("About {name}"), "price": price }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "creating {name}");
        response.json().await.unwrap()
    }
}

/// A visit time that keeps the default booking rules: `days` days from today
/// (1 to 89) at `hour` o'clock (8 to 19) Tashkent time, as the API writes
/// times. Tashkent is UTC+5 all year.
pub fn visit_slot(days: i64, hour: u32) -> String {
    use chrono::{FixedOffset, TimeZone};
    let tashkent = FixedOffset::east_opt(5 * 3_600).unwrap();
    let day = (chrono::Utc::now().with_timezone(&tashkent) + chrono::TimeDelta::days(days))
        .date_naive()
        .and_hms_opt(hour, 0, 0)
        .unwrap();
    tashkent
        .from_local_datetime(&day)
        .unwrap()
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Asserts a problem+json answer with `status` and `code`, and returns its body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, "application/problem+json");
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["requestId"], request_id.as_str(), "{body}");
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}

/// Asserts a 422 whose errors name `field` with `code`.
pub async fn assert_field_error(response: Response, field: &str, code: &str) -> Value {
    let body = assert_problem(response, 422, "validation_failed").await;
    let errors = body["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["field"] == field && e["code"] == code),
        "expected {field}/{code} in {body}"
    );
    body
}

/// The cookies a login or refresh set, read from `Set-Cookie`.
#[derive(Debug, Clone)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub csrf: String,
}

impl Session {
    /// The `Cookie` header a browser would send to `/api/v1/auth/…`.
    pub fn cookie_header(&self) -> String {
        format!(
            "access_token={}; refresh_token={}; csrf_token={}",
            self.access, self.refresh, self.csrf
        )
    }
}

/// `name=value` of every `Set-Cookie` header, with its attributes.
pub fn set_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

pub fn cookie_value(set_cookies: &[String], name: &str) -> Option<String> {
    set_cookies.iter().find_map(|c| {
        let (pair, _) = c.split_once(';').unwrap_or((c, ""));
        let (n, v) = pair.split_once('=')?;
        (n == name).then(|| v.to_owned())
    })
}

pub fn session_from(response: &Response) -> Session {
    let cookies = set_cookies(response);
    Session {
        access: cookie_value(&cookies, "access_token").expect("access_token cookie"),
        refresh: cookie_value(&cookies, "refresh_token").expect("refresh_token cookie"),
        csrf: cookie_value(&cookies, "csrf_token").expect("csrf_token cookie"),
    }
}

impl TestApp {
    /// Signs a customer up and answers the user JSON.
    pub async fn signup(&self, username: &str, email: &str, password: &str) -> Value {
        let response = self
            .post("/api/v1/auth/signup")
            .json(&json!({ "username": username, "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "signing up {email}");
        response.json().await.unwrap()
    }

    pub async fn login_response(&self, email: &str, password: &str) -> Response {
        self.post("/api/v1/auth/login")
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// Logs in and answers the session cookies.
    pub async fn login(&self, email: &str, password: &str) -> Session {
        let response = self.login_response(email, password).await;
        assert_eq!(response.status(), 200, "logging in {email}");
        session_from(&response)
    }

    pub async fn admin_session(&self) -> Session {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// A signed-up, logged-in customer: its id and session.
    pub async fn customer(&self, name: &str) -> (String, Session) {
        let email = format!("{name}@example.uz");
        let user = self.signup(name, &email, "Gilam-yuvish-2026").await;
        (user["id"].as_str().unwrap().to_owned(), self.login(&email, "Gilam-yuvish-2026").await)
    }

    /// `GET /auth/me` with `access` as a Bearer token: the caller's account.
    pub async fn me(&self, access: &str) -> Value {
        let response = self.get("/api/v1/auth/me").bearer_auth(access).send().await.unwrap();
        assert_eq!(response.status(), 200, "reading /auth/me");
        response.json().await.unwrap()
    }

    /// `POST /auth/logout` as a browser would send it: the session's cookies
    /// and its CSRF header.
    pub async fn logout(&self, session: &Session) -> Response {
        self.post("/api/v1/auth/logout")
            .header("cookie", session.cookie_header())
            .header("x-csrf-token", &session.csrf)
            .send()
            .await
            .unwrap()
    }

    /// `POST /auth/refresh` as a browser would send it.
    pub async fn refresh(&self, session: &Session) -> Response {
        self.post("/api/v1/auth/refresh")
            .header("cookie", session.cookie_header())
            .header("x-csrf-token", &session.csrf)
            .send()
            .await
            .unwrap()
    }
}

impl TestApp {
    /// A signed-up customer whose e-mail an admin has marked verified.
    pub async fn verified_customer(&self, name: &str) -> (String, Session) {
        let (id, session) = self.customer(name).await;
        let admin = self.admin_session().await;
        let response = self
            .patch(&format!("/api/v1/users/{id}"))
            .bearer_auth(&admin.access)
            .json(&json!({ "isVerified": true }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "verifying {name}");
        (id, session)
    }

    /// Places an order for `service_id` as the bearer of `access`.
    pub async fn order(&self, access: &str, service_id: &str) -> Value {
        let response = self.post_order(access, json!({ "serviceId": service_id })).await;
        assert_eq!(response.status(), 201, "ordering");
        response.json().await.unwrap()
    }

    /// `GET path` as the bearer of `access`: the JSON body, whatever the status.
    pub async fn get_json(&self, access: &str, path: &str) -> Value {
        self.get(path).bearer_auth(access).send().await.unwrap().json().await.unwrap()
    }

    /// `POST /orders` with `body` as the bearer of `access`, whatever it answers.
    pub async fn post_order(&self, access: &str, body: Value) -> Response {
        self.post("/api/v1/orders").bearer_auth(access).json(&body).send().await.unwrap()
    }

    /// `PATCH /orders/{id}` with `body`.
    pub async fn patch_order(&self, access: &str, id: &str, body: Value) -> Response {
        self.patch(&format!("/api/v1/orders/{id}"))
            .bearer_auth(access)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}
