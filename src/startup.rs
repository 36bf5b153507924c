//! Building the running application from a [`Config`]. Tests build it the same
//! way, on port 0 with a fresh database each.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use tozalash_app::{AuthService, CatalogService, OrderService, SessionPolicy, UserService};
use tozalash_domain::{Repositories, Signup, SystemClock};
use tozalash_http::{AccessTokens, AppState, CookiePolicy};
use tozalash_security::{Argon2Hasher, RandomTokens};

use crate::config::Config;

/// How long requests in flight may take to finish after SIGTERM or Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Opens storage (migrating it), binds the listener and builds the server.
    /// Nothing is served until [`Application::run_until_stopped`].
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let repos = crate::storage::open(&config.database_url).await?;
        let services = Services::new(&repos, config)?;
        if let Some(admin) = &config.admin {
            services
                .ensure_admin(
                    &admin.username,
                    &admin.email,
                    admin.password.expose_secret(),
                )
                .await?;
        }
        let tokens = AccessTokens::new(&config.jwt_key()?, config.access_token_ttl);
        let state = AppState {
            auth: services.auth,
            users: services.users,
            catalog: services.catalog,
            orders: services.orders,
            cookies: CookiePolicy {
                secure: config.cookie_secure,
                access_ttl: config.access_token_ttl,
                refresh_ttl: config.refresh_token_ttl,
            },
            health: repos.health.clone(),
            tokens: Arc::new(tokens),
        };

        let listener = TcpListener::bind((config.host, config.port))
            .with_context(|| format!("binding {}:{}", config.host, config.port))?;
        let port = listener.local_addr()?.port();
        let server = tozalash_http::server(listener, state, SHUTDOWN_GRACE)?;
        tracing::info!(address = %format!("http://{}:{port}", config.host), "listening");
        Ok(Self { port, server })
    }

    /// The port actually bound (useful with `PORT=0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or Ctrl-C, then drains gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The use cases, wired to their adapters.
#[derive(Debug, Clone)]
pub struct Services {
    pub auth: AuthService,
    pub users: UserService,
    pub catalog: CatalogService,
    pub orders: OrderService,
}

impl Services {
    pub fn new(repos: &Repositories, config: &Config) -> anyhow::Result<Self> {
        let clock = Arc::new(SystemClock);
        let hasher = Arc::new(Argon2Hasher::new().map_err(|e| anyhow::anyhow!("argon2: {e}"))?);
        let policy = SessionPolicy {
            refresh_ttl: chrono::TimeDelta::from_std(config.refresh_token_ttl)?,
            reuse_grace: chrono::TimeDelta::from_std(config.refresh_reuse_grace)?,
        };
        Ok(Self {
            auth: AuthService::new(
                repos.users.clone(),
                repos.sessions.clone(),
                hasher.clone(),
                Arc::new(RandomTokens),
                clock.clone(),
                policy,
            ),
            users: UserService::new(
                repos.users.clone(),
                repos.sessions.clone(),
                repos.orders.clone(),
                hasher,
                clock.clone(),
            ),
            orders: OrderService::new(
                repos.orders.clone(),
                repos.services.clone(),
                repos.users.clone(),
                clock.clone(),
            ),
            catalog: CatalogService::new(repos.services.clone(), clock),
        })
    }

    /// Makes sure a verified administrator with these credentials exists; the
    /// password must pass the same rules as any other.
    pub async fn ensure_admin(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> anyhow::Result<()> {
        let signup = Signup::parse(username, email, password)
            .map_err(|e| anyhow::anyhow!("the administrator's credentials are refused: {e}"))?;
        self.users
            .ensure_admin(signup)
            .await
            .map_err(|e| anyhow::anyhow!("creating the administrator: {e:?}"))?;
        Ok(())
    }
}
