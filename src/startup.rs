//! Building the running application from a [`Config`]. Tests build it the same
//! way, on port 0 with a fresh database each.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tozalash_app::CatalogService;
use tozalash_domain::SystemClock;
use tozalash_http::{AccessTokens, AppState};

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
        let tokens = AccessTokens::new(&config.jwt_key()?, config.access_token_ttl);
        let state = AppState {
            catalog: CatalogService::new(repos.services.clone(), Arc::new(SystemClock)),
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
