//! Building the running application from a [`Config`]. Tests build it the same
//! way, on port 0 with a fresh database each.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::TimeDelta;
use secrecy::ExposeSecret;
use tozalash_app::catalog_cache::{CachedServiceRepo, CATALOG_CACHE_TTL};
use tozalash_app::mail::{LinkPolicy, MailFlows, OutboxWorker, RetryPolicy};
use tozalash_app::users::Bootstrap;
use tozalash_app::{
    AppError, AuthService, CatalogService, Idempotency, OrderService, RateLimits, Retention,
    RetentionPolicy, SessionPolicy, UserService,
};
use tozalash_domain::{
    LoginSlowdown, Mailer, RateLimiter, Repositories, Role, ServiceRepo, Signup, SystemClock,
};
use tozalash_http::devmail::DevMailbox;
use tozalash_http::{AccessTokens, AppState, CookiePolicy, Metrics};
use tozalash_mailer::{FileMailer, SmtpMailer, Templates};
use tozalash_ratelimit::{InMemoryLimiter, RedisLimiter};
use tozalash_security::{Argon2Hasher, RandomTokens};

use crate::config::{AppEnv, Config};

/// How long requests in flight may take to finish after SIGTERM or Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    worker: OutboxWorker,
    poll_interval: Duration,
    metrics: Metrics,
    retention: Retention,
    purge_interval: Duration,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("port", &self.port).finish_non_exhaustive()
    }
}

/// Stops a running [`Application`] from elsewhere (tests restart the app).
#[derive(Clone)]
pub struct StopHandle(actix_web::dev::ServerHandle);

impl std::fmt::Debug for StopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StopHandle")
    }
}

impl StopHandle {
    /// Stops accepting connections, lets requests in flight finish, and ends
    /// the outbox worker.
    pub async fn stop(&self) {
        self.0.stop(true).await;
    }
}

impl Application {
    /// Opens storage (migrating it), binds the listener and builds the server.
    /// Nothing is served until [`Application::run_until_stopped`].
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let repos = crate::storage::open(&config.database_url, config.statement_timeout).await?;
        let metrics = Metrics::new(Some(repos.outbox.clone()));
        let limits = rate_limits(config, &metrics).await?;
        let services = Services::new(&repos, config, &metrics, limits.clone())?;
        if let Some(admin) = &config.admin {
            services
                .ensure_admin(
                    &admin.username,
                    &admin.email,
                    admin.password.expose_secret(),
                    Bootstrap { take_over: admin.take_over, reset_password: false },
                )
                .await?;
        }
        let worker = OutboxWorker::new(
            repos.outbox.clone(),
            mailer(config)?,
            Arc::new(SystemClock),
            RetryPolicy {
                base: config.mail.retry_base,
                cap: config.mail.retry_max,
                give_up_after: config.mail.give_up_after,
                // Renewed right before each send and longer than one delivery (the
                // SMTP mailer gives up after 3/4 of it), so a message is never sent
                // by two workers at once; a crash mid-send delays it this long.
                lease: config.mail.lease,
                batch: config.mail.batch,
            },
        );
        let idempotency = Idempotency::new(repos.idempotency.clone(), Arc::new(SystemClock));
        let retention = retention(&repos, config)?;
        let tokens = AccessTokens::new(
            &config.jwt_key(repos.secrets.as_ref()).await?,
            config.access_token_ttl,
        );
        let state = AppState {
            auth: services.auth,
            users: services.users,
            catalog: services.catalog,
            orders: services.orders,
            idempotency: idempotency.clone(),
            cookies: CookiePolicy {
                secure: config.cookie_secure,
                domain: config.cookie_domain.clone(),
                access_ttl: config.access_token_ttl,
                refresh_ttl: config.refresh_token_ttl,
            },
            health: repos.health.clone(),
            tokens: Arc::new(tokens),
            metrics: metrics.clone(),
            cors_origins: config.cors_origins.clone().into(),
            limits,
            trusted_proxies: config.rate_limits.trusted_proxies.clone(),
            body_read_timeout: config.body_read_timeout,
            dev_mailbox: (config.app_env != AppEnv::Production && config.mail.smtp_url.is_none())
                .then(|| DevMailbox(config.mail.dir.clone())),
        };

        let listener = TcpListener::bind((config.host, config.port))
            .with_context(|| format!("binding {}:{}", config.host, config.port))?;
        let port = listener.local_addr()?.port();
        let server = tozalash_http::server(listener, state, SHUTDOWN_GRACE)?;
        tracing::info!(event = "sys_startup", address = %format!("http://{}:{port}", config.host), "listening");
        let poll_interval = config.mail.poll_interval;
        let purge_interval = config.retention.purge_interval;
        Ok(Self { port, server, worker, poll_interval, metrics, retention, purge_interval })
    }

    /// The port actually bound (useful with `PORT=0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.server.handle())
    }

    /// Serves, and delivers the outbox, until SIGTERM or Ctrl-C (or a
    /// [`StopHandle`]), then drains gracefully: requests in flight finish;
    /// the outbox worker finishes the message in hand (so none is sent
    /// without being marked sent) and releases the lease of the messages it
    /// claimed but has not attempted, so another instance sends them at once.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let purge = tokio::spawn(purge_periodically(
            self.retention,
            self.purge_interval,
            self.metrics.clone(),
            stopped.clone(),
        ));
        let trim =
            tokio::spawn(trim_memory_periodically(crate::memory::TRIM_EVERY, stopped.clone()));
        let worker =
            tokio::spawn(deliver_outbox(self.worker, self.poll_interval, self.metrics, stopped));
        let served = self.server.await;
        tracing::info!(event = "sys_shutdown", "stopped serving");
        let _ = stop.send(true);
        purge.abort();
        trim.abort();
        if tokio::time::timeout(SHUTDOWN_GRACE, worker).await.is_err() {
            tracing::warn!(
                "the outbox round did not finish in time; its messages retry after their lease"
            );
        }
        served
    }
}

/// The outbox worker's loop: one round per poll interval until `stop` turns
/// true; a round checks `stop` between messages and hands back what it has
/// not attempted. A failing round (database down) is logged and retried at
/// the next tick; mail stays queued.
async fn deliver_outbox(
    worker: OutboxWorker,
    every: Duration,
    metrics: Metrics,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let stopping = stop.clone();
    on_interval(every, stop, || async {
        let stopping = stopping.clone();
        match worker.run_round(&move || *stopping.borrow()).await {
            Ok(report) => metrics.outbox_round(report),
            Err(error) => {
                metrics.outbox_round_failed();
                tracing::warn!(error = ?error, "outbox round failed");
            }
        }
    })
    .await;
}

/// Runs `round` once per `every`, the first time at once, until `stop` turns
/// true; a round in progress is finished first. Missed ticks are not caught up.
async fn on_interval<Round, Done>(
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut round: Round,
) where
    Round: FnMut() -> Done,
    Done: std::future::Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        round().await;
    }
}

/// The retention use case the server and `tozalash purge` run.
pub fn retention(repos: &Repositories, config: &Config) -> anyhow::Result<Retention> {
    let keep = TimeDelta::from_std(config.retention.keep).context("RETENTION_DAYS")?;
    Ok(Retention::new(
        repos,
        Arc::new(SystemClock),
        RetentionPolicy { keep, batch: RetentionPolicy::BATCH },
    ))
}

/// Purges what is past retention once per `every` (the first time at start)
/// until `stop` turns true. Every instance does it on its own: deleting rows
/// past retention is idempotent, so instances purging at once only share the
/// work. A failing purge is logged and tried again at the next tick.
async fn purge_periodically(
    retention: Retention,
    every: Duration,
    metrics: Metrics,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    on_interval(every, stop, || async {
        match retention.purge().await {
            Ok(report) => {
                metrics.purged(&report);
                if report.total() > 0 {
                    tracing::info!(
                        sessions = report.sessions,
                        email_tokens = report.email_tokens,
                        outbox = report.outbox,
                        idempotency_keys = report.idempotency_keys,
                        "purged what is past retention"
                    );
                }
            }
            Err(error) => tracing::warn!(error = ?error, "purging what is past retention failed"),
        }
    })
    .await;
}

/// Hands the heap pages freed since the last tick back to the system
/// (`crate::memory`), until `stop` turns true.
async fn trim_memory_periodically(every: Duration, stop: tokio::sync::watch::Receiver<bool>) {
    on_interval(every, stop, || async {
        crate::memory::release_free_memory();
    })
    .await;
}

/// The rate limits: off with `RATE_LIMITS=false`; else counted in Redis when
/// `REDIS_URL` is set (shared by every instance), or in this process.
async fn rate_limits(config: &Config, metrics: &Metrics) -> anyhow::Result<RateLimits> {
    let settings = &config.rate_limits;
    if !settings.enabled {
        tracing::info!("RATE_LIMITS=false: no request is rate-limited");
        return Ok(RateLimits::off());
    }
    let limiter: Arc<dyn RateLimiter> = match &settings.redis_url {
        Some(url) => Arc::new(
            RedisLimiter::connect(url.expose_secret(), &settings.key_prefix)
                .await
                .map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?,
        ),
        None => Arc::new(InMemoryLimiter::new().context("starting the rate-limit counters")?),
    };
    Ok(RateLimits::new(
        limiter,
        settings.quotas,
        LoginSlowdown::default(),
        Arc::new(metrics.clone()),
    ))
}

/// SMTP when `SMTP_URL` is set, else .eml files in the mail folder.
fn mailer(config: &Config) -> anyhow::Result<Arc<dyn Mailer>> {
    let mail = &config.mail;
    Ok(match &mail.smtp_url {
        Some(url) => Arc::new(
            SmtpMailer::new(url.expose_secret(), &mail.from)
                .map_err(|e| anyhow::anyhow!("SMTP_URL: {e}"))?
                // A delivery fits inside the lease renewed right before it.
                .with_deadline(mail.lease.mul_f64(0.75)),
        ),
        None => {
            tracing::info!(dir = %mail.dir.display(), "SMTP_URL is not set: mail is written as .eml files");
            Arc::new(
                FileMailer::new(mail.dir.clone(), &mail.from)
                    .map_err(|e| anyhow::anyhow!("MAIL_DIR: {e}"))?,
            )
        }
    })
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
    /// `metrics` counts the business events the use cases report; `limits`
    /// are the rate limits they apply.
    pub fn new(
        repos: &Repositories,
        config: &Config,
        metrics: &Metrics,
        limits: RateLimits,
    ) -> anyhow::Result<Self> {
        let clock = Arc::new(SystemClock);
        let hasher = Arc::new(Argon2Hasher::new().map_err(|e| anyhow::anyhow!("argon2: {e}"))?);
        let secrets = Arc::new(RandomTokens);
        let delta = |d: Duration| TimeDelta::from_std(d).context("a duration is out of range");
        let mail = MailFlows::new(
            repos.users.clone(),
            repos.email_tokens.clone(),
            repos.outbox.clone(),
            Arc::new(Templates::new(config.mail.locale)),
            secrets.clone(),
            clock.clone(),
            &config.public_url,
            LinkPolicy {
                verify_ttl: delta(config.mail.verification_ttl)?,
                reset_ttl: delta(config.mail.reset_ttl)?,
                resend_interval: delta(config.mail.resend_interval)?,
            },
        );
        let policy = SessionPolicy {
            refresh_ttl: delta(config.refresh_token_ttl)?,
            reuse_grace: delta(config.refresh_reuse_grace)?,
        };
        // Catalogue reads from memory, at most CATALOG_CACHE_TTL old
        // (docs/operations.md); orders read it too and check it on write.
        let catalog: Arc<dyn ServiceRepo> =
            Arc::new(CachedServiceRepo::new(repos.services.clone(), CATALOG_CACHE_TTL));
        Ok(Self {
            auth: AuthService::new(
                repos.users.clone(),
                repos.sessions.clone(),
                hasher.clone(),
                secrets,
                clock.clone(),
                policy,
                mail.clone(),
                Arc::new(metrics.clone()),
                limits.clone(),
            ),
            users: UserService::new(
                repos.users.clone(),
                repos.sessions.clone(),
                repos.orders.clone(),
                hasher,
                clock.clone(),
                mail.clone(),
            ),
            orders: OrderService::new(
                repos.orders.clone(),
                catalog.clone(),
                repos.services.clone(),
                repos.users.clone(),
                repos.sessions.clone(),
                clock.clone(),
                limits,
                config.booking,
                mail,
            ),
            catalog: CatalogService::new(catalog, clock),
        })
    }

    /// Makes sure a verified administrator with this e-mail exists (see
    /// `UserService::ensure_account` for what happens to an existing
    /// account); the password must pass the same rules as any other.
    pub async fn ensure_admin(
        &self,
        username: &str,
        email: &str,
        password: &str,
        policy: Bootstrap,
    ) -> anyhow::Result<()> {
        let signup = Signup::parse(username, email, password)
            .map_err(|e| anyhow::anyhow!("the administrator's credentials are refused: {e}"))?;
        match self.users.ensure_account(signup, Role::Admin, policy).await {
            Ok(_) => Ok(()),
            Err(AppError::UnverifiedAccount) => anyhow::bail!(
                "{email} belongs to an account whose address was never verified, so someone \
                 else may have signed up with it; it was not promoted. Choose another address, \
                 or take the account over explicitly (ADMIN_TAKE_OVER=true, or \
                 `create-admin --take-over`): its password is then replaced and its sessions \
                 revoked"
            ),
            Err(e) => Err(anyhow::anyhow!("creating the administrator: {e:?}")),
        }
    }
}
