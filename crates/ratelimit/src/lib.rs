//! The [`RateLimiter`] port on actix-extensible-rate-limit's fixed-window
//! backends: [`InMemoryLimiter`] counts in this process (one instance), and
//! [`RedisLimiter`] in Redis, so that every instance shares each limit.

use std::sync::Mutex;
use std::time::Duration;

use actix_extensible_rate_limit::backend::memory::InMemoryBackend;
use actix_extensible_rate_limit::backend::redis::RedisBackend;
use actix_extensible_rate_limit::backend::{
    Backend, Decision, SimpleBackend, SimpleInput, SimpleOutput,
};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;
use tozalash_domain::error::BoxError;
use tozalash_domain::{Quota, RateLimiter, Verdict};

/// How often the in-process counters drop the windows that have closed.
const GC_INTERVAL: Duration = Duration::from_secs(60);
/// The longest a Redis round trip may take before the limiter gives up on it.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failed connection, the next attempt waits this long.
const REDIS_RECONNECT_AFTER: Duration = Duration::from_secs(5);

fn input(key: &str, quota: Quota) -> SimpleInput {
    SimpleInput { interval: quota.window, max_requests: quota.limit, key: key.to_owned() }
}

fn verdict(decision: Decision, output: &SimpleOutput) -> Verdict {
    match decision {
        Decision::Allowed => Verdict::Allowed { count: output.limit - output.remaining },
        Decision::Denied => {
            Verdict::Limited { retry_after: output.reset.saturating_duration_since(Instant::now()) }
        }
    }
}

/// Counters in this process's memory: right for one instance. Expired
/// windows are dropped every minute by the backend's own collector, which
/// runs on a thread of its own (it needs a local task set).
pub struct InMemoryLimiter {
    backend: InMemoryBackend,
    /// Dropped with the limiter, which ends the collector's thread.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl std::fmt::Debug for InMemoryLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryLimiter").finish_non_exhaustive()
    }
}

impl InMemoryLimiter {
    pub fn new() -> std::io::Result<Self> {
        let (ready, backend) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new().name("rate-limit-gc".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_time().build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = ready.send(Err(error));
                    return;
                }
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                // Built here, so that its collector runs on this thread. The
                // one instance is moved to the limiter, never cloned: a
                // clone's drop would stop the collector.
                let backend =
                    InMemoryBackend::builder().with_gc_interval(Some(GC_INTERVAL)).build();
                if ready.send(Ok(backend)).is_ok() {
                    let _ = stopped.await;
                }
            });
        })?;
        let backend = backend.recv().map_err(std::io::Error::other)??;
        Ok(Self { backend, _stop: stop })
    }
}

#[async_trait]
impl RateLimiter for InMemoryLimiter {
    async fn hit(&self, key: &str, quota: Quota) -> Result<Verdict, BoxError> {
        let (decision, output, _) = self.backend.request(input(key, quota)).await?;
        Ok(verdict(decision, &output))
    }

    async fn forget(&self, key: &str) -> Result<(), BoxError> {
        self.backend.remove_key(key).await?;
        Ok(())
    }
}

/// Counters in Redis, shared by every instance that names the same server
/// and key prefix. Each round trip is bounded by a short timeout; after a
/// failure, and while Redis cannot be reached, every call fails at once
/// (the caller decides what then) and a new connection is tried every few
/// seconds.
pub struct RedisLimiter {
    client: redis::Client,
    prefix: String,
    state: Mutex<Connection>,
}

enum Connection {
    Up(RedisBackend),
    /// No connection; the next attempt is not before this.
    Down {
        retry_at: Instant,
    },
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// A limiter on the Redis server at `url` (`redis://host:port/db`),
    /// whose keys all start with `prefix`. It connects at once; if that
    /// fails, it is logged and retried on use.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, BoxError> {
        let client = redis::Client::open(url)?;
        let limiter = Self {
            client,
            prefix: prefix.to_owned(),
            state: Mutex::new(Connection::Down { retry_at: Instant::now() }),
        };
        if let Err(error) = limiter.backend().await {
            tracing::warn!(error = %error, "Redis cannot be reached yet; rate limits let requests through until it can");
        }
        Ok(limiter)
    }

    async fn backend(&self) -> Result<RedisBackend, BoxError> {
        {
            let state = self.state.lock().map_err(|_| "poisoned")?;
            match &*state {
                Connection::Up(backend) => return Ok(backend.clone()),
                Connection::Down { retry_at } if Instant::now() < *retry_at => {
                    return Err("Redis is unreachable".into())
                }
                Connection::Down { .. } => {}
            }
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(1);
        let connected = tokio::time::timeout(
            REDIS_TIMEOUT * 2,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await;
        let mut state = self.state.lock().map_err(|_| "poisoned")?;
        match connected {
            Ok(Ok(manager)) => {
                let backend = RedisBackend::builder(manager).key_prefix(Some(&self.prefix)).build();
                *state = Connection::Up(backend.clone());
                Ok(backend)
            }
            Ok(Err(error)) => {
                *state = Connection::Down { retry_at: Instant::now() + REDIS_RECONNECT_AFTER };
                Err(error.into())
            }
            Err(_) => {
                *state = Connection::Down { retry_at: Instant::now() + REDIS_RECONNECT_AFTER };
                Err("connecting to Redis timed out".into())
            }
        }
    }

    /// The outcome of one round trip; a failure drops the connection, so
    /// that the calls of the next few seconds fail at once instead of each
    /// waiting for a Redis that does not answer.
    async fn round_trip<T, E: Into<BoxError>>(
        &self,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, BoxError> {
        let outcome = match tokio::time::timeout(REDIS_TIMEOUT, call).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => error.into(),
            Err(_) => "Redis did not answer in time".into(),
        };
        if let Ok(mut state) = self.state.lock() {
            *state = Connection::Down { retry_at: Instant::now() + REDIS_RECONNECT_AFTER };
        }
        Err(outcome)
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn hit(&self, key: &str, quota: Quota) -> Result<Verdict, BoxError> {
        let backend = self.backend().await?;
        let (decision, output, _) = self.round_trip(backend.request(input(key, quota))).await?;
        Ok(verdict(decision, &output))
    }

    async fn forget(&self, key: &str) -> Result<(), BoxError> {
        let backend = self.backend().await?;
        self.round_trip(backend.remove_key(key)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(limit: u64, seconds: u64) -> Quota {
        Quota::new(limit, seconds).expect("valid")
    }

    #[tokio::test]
    async fn the_memory_limiter_counts_in_a_window_and_forgets() {
        let limiter = InMemoryLimiter::new().expect("built");
        for count in 1..=3 {
            assert_eq!(
                limiter.hit("k", quota(3, 60)).await.expect("hit"),
                Verdict::Allowed { count }
            );
        }
        let Verdict::Limited { retry_after } = limiter.hit("k", quota(3, 60)).await.expect("hit")
        else {
            panic!("the fourth hit is over the quota");
        };
        assert!(retry_after > Duration::from_secs(58) && retry_after <= Duration::from_secs(60));
        assert_eq!(
            limiter.hit("other", quota(3, 60)).await.expect("hit"),
            Verdict::Allowed { count: 1 }
        );
        limiter.forget("k").await.expect("forgot");
        assert_eq!(
            limiter.hit("k", quota(3, 60)).await.expect("hit"),
            Verdict::Allowed { count: 1 }
        );
    }

    /// Against the test run's Redis (`TEST_REDIS_URL`, which scripts/test.sh
    /// provides): two limiters with one prefix share the counts, another
    /// prefix does not, and a key is forgotten.
    #[tokio::test]
    async fn redis_limiters_with_one_prefix_share_their_counts() {
        let url = std::env::var("TEST_REDIS_URL")
            .expect("TEST_REDIS_URL must name a Redis server (7.0+); scripts/test.sh starts one");
        let prefix = format!("unit:{}:", std::process::id());
        let one = RedisLimiter::connect(&url, &prefix).await.expect("a client");
        let two = RedisLimiter::connect(&url, &prefix).await.expect("a client");
        let other =
            RedisLimiter::connect(&url, &format!("{prefix}other:")).await.expect("a client");
        for limiter in [&one, &two] {
            limiter.forget("k").await.expect("forgot");
        }
        other.forget("k").await.expect("forgot");
        assert_eq!(one.hit("k", quota(2, 60)).await.expect("hit"), Verdict::Allowed { count: 1 });
        assert_eq!(two.hit("k", quota(2, 60)).await.expect("hit"), Verdict::Allowed { count: 2 });
        let Verdict::Limited { retry_after } = one.hit("k", quota(2, 60)).await.expect("hit")
        else {
            panic!("the third hit is over the quota");
        };
        assert!(retry_after > Duration::from_secs(55) && retry_after <= Duration::from_secs(60));
        assert_eq!(other.hit("k", quota(2, 60)).await.expect("hit"), Verdict::Allowed { count: 1 });
        two.forget("k").await.expect("forgot");
        assert_eq!(one.hit("k", quota(2, 60)).await.expect("hit"), Verdict::Allowed { count: 1 });
        one.forget("k").await.expect("forgot");
        other.forget("k").await.expect("forgot");
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_each_call_quickly() {
        // A port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bound")
            .local_addr()
            .expect("addr")
            .port();
        let limiter = RedisLimiter::connect(&format!("redis://127.0.0.1:{port}"), "t:")
            .await
            .expect("a client");
        let started = std::time::Instant::now();
        for _ in 0..10 {
            limiter.hit("k", quota(1, 60)).await.expect_err("unreachable");
        }
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }
}
