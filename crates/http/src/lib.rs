//! Tozalash's HTTP edge (actix-web): routes, request extractors, the auth
//! middleware and guards, and the mapping of every error to problem+json.
//!
//! Dependencies go one way: the `routes` use `error` (and its problem
//! responses), `extract`, `conditional`, `auth`, `cookies`, `page`, `schema` and `metrics`;
//! `openapi` nests the routes' parts of the document; the middleware
//! (`headers`, `telemetry`, `problem_json`, `cors`, `auth`) know no route.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tozalash_app::{
    AuthService, CatalogService, Idempotency, OrderService, RateLimits, UserService,
};
use tozalash_domain::StorageHealth;

pub mod auth;
pub mod client_ip;
pub mod conditional;
pub mod cookies;
pub mod cors;
pub mod devmail;
pub mod error;
pub mod extract;
pub mod headers;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod page;
pub mod panics;
pub mod problem_json;
pub mod rate_limit;
pub mod routes;
mod schema;
pub mod telemetry;

pub use auth::AccessTokens;
pub use client_ip::TrustedProxies;
pub use cookies::CookiePolicy;
pub use error::ApiError;
pub use metrics::Metrics;

/// Everything the handlers need, built once by the composition root.
#[derive(Clone)]
pub struct AppState {
    pub auth: AuthService,
    pub users: UserService,
    pub catalog: CatalogService,
    pub orders: OrderService,
    pub idempotency: Idempotency,
    pub cookies: CookiePolicy,
    pub health: Arc<dyn StorageHealth>,
    pub tokens: Arc<AccessTokens>,
    /// Shared with the outbox worker, which reports its rounds into it.
    pub metrics: Metrics,
    /// `CORS_ORIGINS`: the exact origins allowed to call with credentials.
    pub cors_origins: Arc<[String]>,
    /// The rate limits (`RateLimits::off()` with `RATE_LIMITS=false`).
    pub limits: RateLimits,
    /// `TRUSTED_PROXIES`: the peers whose forwarded headers name the client.
    pub trusted_proxies: TrustedProxies,
    /// `BODY_READ_TIMEOUT_MS`: the deadline for a whole request body.
    pub body_read_timeout: Duration,
    /// The development mailer's folder, listed at `/dev/mail`; `None` (always
    /// in production, and whenever mail goes to SMTP) leaves those paths 404.
    pub dev_mailbox: Option<devmail::DevMailbox>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// The whole application, ready to be served (or driven by `actix_web::test`).
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::from(state.tokens))
        .app_data(web::Data::new(state.auth))
        .app_data(web::Data::new(state.users))
        .app_data(web::Data::new(state.catalog))
        .app_data(web::Data::new(state.orders))
        .app_data(web::Data::new(state.idempotency))
        .app_data(web::Data::new(state.cookies))
        .app_data(web::Data::new(state.health))
        .app_data(web::Data::new(state.metrics))
        .app_data(web::Data::new(state.limits))
        .app_data(web::Data::new(state.trusted_proxies))
        .app_data(web::Data::new(routes::docs::Document(openapi::compact_json)))
        .app_data(web::Data::new(limits::BodyReadTimeout(state.body_read_timeout)))
        // Outermost last: body deadline and hold (outside everything that
        // replaces a response's body) → headers → request id, span and
        // metrics → problem rendering (so it logs in the span and the metrics
        // see its status) → CORS (so a 429 carries its headers too) →
        // `ANY_IP` → declared size → caller. Each resource catches its
        // handler's panics (`panics::catch_panics`, inside the routing).
        .wrap(from_fn(auth::authenticate))
        .wrap(from_fn(limits::refuse_declared_oversize))
        .wrap(from_fn(rate_limit::limit_any_ip))
        .wrap(cors::layer(&state.cors_origins))
        .wrap(from_fn(problem_json::render_problems))
        .wrap(from_fn(telemetry::telemetry))
        .wrap(from_fn(headers::security_headers))
        .wrap(from_fn(limits::bound_body))
        .configure(routes::configure)
        .configure(fault_injection)
        .configure(|cfg| devmail::configure(cfg, state.dev_mailbox))
        .default_service(web::to(routes::not_found))
}

/// The test-only routes of [`panics::injection`], when the cargo feature
/// `fault-injection` is on (the test builds only; never a release build).
fn fault_injection(_cfg: &mut web::ServiceConfig) {
    #[cfg(feature = "fault-injection")]
    _cfg.service(
        web::resource(panics::injection::PANIC_PATH)
            .route(web::get().to(panics::injection::panic))
            .wrap(from_fn(panics::catch_panics)),
    );
}

/// An HTTP server on `listener`; it stops gracefully on SIGTERM or Ctrl-C,
/// letting requests in flight finish for up to `shutdown_timeout`. Its
/// timeouts are stated in [`limits`] (and `docs/security.md`).
pub fn server(
    listener: TcpListener,
    state: AppState,
    shutdown_timeout: Duration,
) -> std::io::Result<Server> {
    let server = HttpServer::new(move || app(state.clone()))
        .client_request_timeout(limits::HEADER_READ_TIMEOUT)
        .keep_alive(limits::KEEP_ALIVE)
        .client_disconnect_timeout(limits::CLIENT_DISCONNECT_TIMEOUT)
        .shutdown_timeout(shutdown_timeout.as_secs())
        .listen(listener)?
        .run();
    Ok(server)
}
