//! The rate limits (DESIGN §5, §8 `RATE_LIMITS`): which limits there are,
//! what each is keyed on, and the slowdown of repeated failed logins. The use
//! cases ask [`RateLimits`] before they work; the counting is behind the
//! [`RateLimiter`] port (in this process, or in Redis for several instances).
//!
//! If the counters cannot be reached, the request is let through (fail
//! open): an outage of the limiter's store must not take the service down
//! with it. It is logged and counted, so an operator sees it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tozalash_domain::{Email, LoginSlowdown, Quota, RateLimitMetrics, RateLimiter, Verdict};

use crate::error::AppError;

/// One rate limit: a name (its setting is `RATE_LIMIT_<NAME>`), a key and a
/// default quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Logins per client IP.
    LoginIp,
    /// Logins per (normalised e-mail, client IP).
    LoginAccount,
    /// Logins per normalised e-mail, from any IP.
    LoginEmail,
    /// Signups per client IP.
    SignupIp,
    /// Verification resends and password-reset requests per client IP.
    MailIp,
    /// Refreshes per session.
    RefreshSession,
    /// Orders placed per user.
    OrdersUser,
    /// Requests of any kind per client IP.
    AnyIp,
}

impl Limit {
    pub const ALL: [Self; 8] = [
        Self::LoginIp,
        Self::LoginAccount,
        Self::LoginEmail,
        Self::SignupIp,
        Self::MailIp,
        Self::RefreshSession,
        Self::OrdersUser,
        Self::AnyIp,
    ];

    /// The name in `RATE_LIMIT_<NAME>`, in logs and in metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Self::LoginIp => "LOGIN_IP",
            Self::LoginAccount => "LOGIN_ACCOUNT",
            Self::LoginEmail => "LOGIN_EMAIL",
            Self::SignupIp => "SIGNUP_IP",
            Self::MailIp => "MAIL_IP",
            Self::RefreshSession => "REFRESH_SESSION",
            Self::OrdersUser => "ORDERS_USER",
            Self::AnyIp => "ANY_IP",
        }
    }

    /// The default quota, as `(hits, seconds)`.
    pub const fn default_quota(self) -> (u64, u64) {
        match self {
            Self::LoginIp => (30, 60),
            Self::LoginAccount => (10, 300),
            Self::LoginEmail => (50, 3600),
            Self::SignupIp => (10, 3600),
            Self::MailIp => (10, 3600),
            Self::RefreshSession => (30, 60),
            Self::OrdersUser => (30, 3600),
            Self::AnyIp => (600, 60),
        }
    }

    /// What the limit is keyed on, for the documentation.
    pub const fn keyed_on(self) -> &'static str {
        match self {
            Self::LoginIp => "client IP, `POST /auth/login`",
            Self::LoginAccount => "(normalised e-mail, client IP), `POST /auth/login`",
            Self::LoginEmail => "normalised e-mail from any IP, `POST /auth/login`",
            Self::SignupIp => "client IP, `POST /auth/signup`",
            Self::MailIp => {
                "client IP, `POST /auth/resend-verification` and `POST /auth/forgot-password` \
                 together"
            }
            Self::RefreshSession => "session, `POST /auth/refresh`",
            Self::OrdersUser => "user, `POST /orders`",
            Self::AnyIp => "client IP, every request",
        }
    }

    fn key(self, subject: &str) -> String {
        format!("{}:{subject}", self.name().to_ascii_lowercase())
    }
}

/// The quota of each limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas([Quota; Limit::ALL.len()]);

impl Default for Quotas {
    fn default() -> Self {
        Self(Limit::ALL.map(|limit| {
            let (hits, seconds) = limit.default_quota();
            Quota::new(hits, seconds).expect("the defaults are valid")
        }))
    }
}

impl Quotas {
    pub fn get(&self, limit: Limit) -> Quota {
        self.0[limit as usize]
    }

    pub fn set(&mut self, limit: Limit, quota: Quota) {
        self.0[limit as usize] = quota;
    }
}

/// The name under which the login slowdown refuses and is counted.
pub const LOGIN_SLOWDOWN: &str = "LOGIN_SLOWDOWN";

/// The rate limits the use cases ask; cheap to clone. [`RateLimits::off`]
/// lets everything through (`RATE_LIMITS=false`).
#[derive(Clone)]
pub struct RateLimits(Option<Arc<Inner>>);

struct Inner {
    limiter: Arc<dyn RateLimiter>,
    quotas: Quotas,
    slowdown: LoginSlowdown,
    metrics: Arc<dyn RateLimitMetrics>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(inner) => f
                .debug_struct("RateLimits")
                .field("quotas", &inner.quotas)
                .field("slowdown", &inner.slowdown)
                .finish_non_exhaustive(),
            None => f.write_str("RateLimits(off)"),
        }
    }
}

/// The key of a login's e-mail: normalised as accounts store it, so that
/// case and spaces do not make new keys; text that is no address is kept
/// (shortened), so it is counted like any other e-mail.
pub fn login_key(email: &str) -> String {
    match Email::parse("email", email) {
        Ok(email) => email.as_str().to_owned(),
        Err(_) => email.trim().to_lowercase().chars().take(254).collect(),
    }
}

impl RateLimits {
    /// No limits at all.
    pub fn off() -> Self {
        Self(None)
    }

    pub fn new(
        limiter: Arc<dyn RateLimiter>,
        quotas: Quotas,
        slowdown: LoginSlowdown,
        metrics: Arc<dyn RateLimitMetrics>,
    ) -> Self {
        Self(Some(Arc::new(Inner { limiter, quotas, slowdown, metrics })))
    }

    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Counts one request against `limit` for `subject` (an IP, a user id,
    /// …); [`AppError::RateLimited`] when over the quota.
    pub async fn check(&self, limit: Limit, subject: &str) -> Result<(), AppError> {
        let Some(inner) = &self.0 else { return Ok(()) };
        inner.hit(limit.name(), &limit.key(subject), inner.quotas.get(limit)).await
    }

    /// [`RateLimits::check`] for a limit keyed on the client IP.
    pub async fn check_ip(&self, limit: Limit, client: IpAddr) -> Result<(), AppError> {
        self.check(limit, &client.to_string()).await
    }

    /// Before a login is tried: the three login limits, then the slowdown
    /// of the (e-mail, IP) pair. Counted the same way whether or not an
    /// account has the e-mail, and before any password is hashed.
    pub(crate) async fn admit_login(&self, email: &str, client: IpAddr) -> Result<(), AppError> {
        let Some(inner) = &self.0 else { return Ok(()) };
        self.check_ip(Limit::LoginIp, client).await?;
        self.check(Limit::LoginAccount, &pair(email, client)).await?;
        self.check(Limit::LoginEmail, email).await?;
        // A lock armed by the last failure holds one hit already, so this
        // probe finds it over a quota of one; with no lock, the probe's own
        // window is forgotten when the attempt ends.
        let probe = Quota { limit: 1, window: Duration::from_secs(1) };
        inner.hit(LOGIN_SLOWDOWN, &lock_key(email, client), probe).await
    }

    /// After a failed login: counts the failure and locks the pair for the
    /// delay the slowdown rule gives.
    pub(crate) async fn login_failed(&self, email: &str, client: IpAddr) {
        let Some(inner) = &self.0 else { return };
        let lock = lock_key(email, client);
        let failures = Quota { limit: u64::MAX, window: inner.slowdown.memory };
        let result = async {
            let failures = match inner.limiter.hit(&failures_key(email, client), failures).await? {
                Verdict::Allowed { count } => count,
                Verdict::Limited { .. } => u64::MAX,
            };
            inner.limiter.forget(&lock).await?;
            if let Some(delay) = inner.slowdown.delay_after(failures) {
                inner.limiter.hit(&lock, Quota { limit: 1, window: delay }).await?;
            }
            Ok::<_, tozalash_domain::error::BoxError>(())
        };
        if let Err(error) = result.await {
            inner.unavailable(&error);
        }
    }

    /// After a successful login: the pair's failures are forgotten.
    pub(crate) async fn login_succeeded(&self, email: &str, client: IpAddr) {
        let Some(inner) = &self.0 else { return };
        for key in [failures_key(email, client), lock_key(email, client)] {
            if let Err(error) = inner.limiter.forget(&key).await {
                inner.unavailable(&error);
            }
        }
    }
}

impl Inner {
    async fn hit(&self, name: &'static str, key: &str, quota: Quota) -> Result<(), AppError> {
        match self.limiter.hit(key, quota).await {
            Ok(Verdict::Allowed { .. }) => Ok(()),
            Ok(Verdict::Limited { retry_after }) => {
                self.metrics.refused(name);
                tracing::warn!(
                    event = "rate_limited",
                    limit = name,
                    "a request was refused by a rate limit"
                );
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Err(AppError::RateLimited { retry_after_secs: seconds.max(1) })
            }
            Err(error) => {
                self.unavailable(&error);
                Ok(())
            }
        }
    }

    fn unavailable(&self, error: &tozalash_domain::error::BoxError) {
        self.metrics.limiter_failed();
        tracing::warn!(event = "rate_limiter_unavailable", error = %error,
            "the rate-limit counters cannot be reached; the request is let through");
    }
}

fn pair(email: &str, client: IpAddr) -> String {
    format!("{client}|{email}")
}

fn failures_key(email: &str, client: IpAddr) -> String {
    format!("login-failures:{}", pair(email, client))
}

fn lock_key(email: &str, client: IpAddr) -> String {
    format!("login-lock:{}", pair(email, client))
}

#[cfg(test)]
mod tests {
    use mockall::predicate::eq;
    use tozalash_domain::ports::{MockRateLimitMetrics, MockRateLimiter};

    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7));

    fn limits(limiter: MockRateLimiter, metrics: MockRateLimitMetrics) -> RateLimits {
        RateLimits::new(
            Arc::new(limiter),
            Quotas::default(),
            LoginSlowdown::default(),
            Arc::new(metrics),
        )
    }

    #[test]
    fn every_limit_has_its_default_quota() {
        let quotas = Quotas::default();
        assert_eq!(quotas.get(Limit::LoginIp), Quota::new(30, 60).expect("valid"));
        assert_eq!(quotas.get(Limit::LoginAccount).to_string(), "10/300");
        assert_eq!(quotas.get(Limit::LoginEmail).to_string(), "50/3600");
        assert_eq!(quotas.get(Limit::SignupIp).to_string(), "10/3600");
        assert_eq!(quotas.get(Limit::MailIp).to_string(), "10/3600");
        assert_eq!(quotas.get(Limit::RefreshSession).to_string(), "30/60");
        assert_eq!(quotas.get(Limit::OrdersUser).to_string(), "30/3600");
        assert_eq!(quotas.get(Limit::AnyIp).to_string(), "600/60");
    }

    #[tokio::test]
    async fn over_a_quota_is_rate_limited_with_the_wait_rounded_up() {
        let mut limiter = MockRateLimiter::new();
        limiter
            .expect_hit()
            .with(eq("signup_ip:203.0.113.7"), eq(Quota::new(10, 3600).expect("valid")))
            .returning(|_, _| Ok(Verdict::Limited { retry_after: Duration::from_millis(2001) }));
        let mut metrics = MockRateLimitMetrics::new();
        metrics.expect_refused().with(eq("SIGNUP_IP")).times(1).return_const(());

        let err = limits(limiter, metrics).check_ip(Limit::SignupIp, IP).await.expect_err("over");

        assert!(matches!(err, AppError::RateLimited { retry_after_secs: 3 }), "{err:?}");
    }

    #[tokio::test]
    async fn a_limiter_that_cannot_be_reached_lets_requests_through_and_says_so() {
        let mut limiter = MockRateLimiter::new();
        limiter.expect_hit().returning(|_, _| Err("connection refused".into()));
        let mut metrics = MockRateLimitMetrics::new();
        metrics.expect_limiter_failed().times(1).return_const(());
        metrics.expect_refused().never();

        limits(limiter, metrics).check(Limit::OrdersUser, "u1").await.expect("fails open");
    }

    #[tokio::test]
    async fn switched_off_nothing_is_counted() {
        let limits = RateLimits::off();
        limits.check_ip(Limit::AnyIp, IP).await.expect("off");
        limits.admit_login("a@b.uz", IP).await.expect("off");
        limits.login_failed("a@b.uz", IP).await;
        assert!(!limits.enabled());
    }

    #[tokio::test]
    async fn a_locked_pair_is_refused_after_the_login_limits_pass() {
        let mut limiter = MockRateLimiter::new();
        let mut seq = mockall::Sequence::new();
        for key in
            ["login_ip:203.0.113.7", "login_account:203.0.113.7|a@b.uz", "login_email:a@b.uz"]
        {
            limiter
                .expect_hit()
                .with(eq(key), mockall::predicate::always())
                .times(1)
                .in_sequence(&mut seq)
                .returning(|_, _| Ok(Verdict::Allowed { count: 1 }));
        }
        limiter
            .expect_hit()
            .withf(|key, quota| key == "login-lock:203.0.113.7|a@b.uz" && quota.limit == 1)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(Verdict::Limited { retry_after: Duration::from_secs(4) }));
        let mut metrics = MockRateLimitMetrics::new();
        metrics.expect_refused().with(eq(LOGIN_SLOWDOWN)).times(1).return_const(());

        let err = limits(limiter, metrics).admit_login("a@b.uz", IP).await.expect_err("locked");

        assert!(matches!(err, AppError::RateLimited { retry_after_secs: 4 }));
    }

    /// The failure count the limiter answers decides the lock: none for the
    /// free ones, then the rule's doubling delay.
    #[tokio::test]
    async fn a_failure_beyond_the_free_ones_locks_the_pair_for_the_rules_delay() {
        for (failures, lock) in [(1, None), (5, None), (6, Some(1)), (8, Some(4))] {
            let mut limiter = MockRateLimiter::new();
            limiter
                .expect_hit()
                .withf(|key, quota| {
                    key == "login-failures:203.0.113.7|a@b.uz"
                        && quota.window == Duration::from_secs(3600)
                })
                .times(1)
                .returning(move |_, _| Ok(Verdict::Allowed { count: failures }));
            limiter
                .expect_forget()
                .with(eq("login-lock:203.0.113.7|a@b.uz"))
                .times(1)
                .returning(|_| Ok(()));
            limiter
                .expect_hit()
                .withf(move |key, quota| {
                    key == "login-lock:203.0.113.7|a@b.uz"
                        && Some(quota.window.as_secs()) == lock
                        && quota.limit == 1
                })
                .times(usize::from(lock.is_some()))
                .returning(|_, _| Ok(Verdict::Allowed { count: 1 }));

            limits(limiter, MockRateLimitMetrics::new()).login_failed("a@b.uz", IP).await;
        }
    }

    #[tokio::test]
    async fn a_success_forgets_the_pairs_failures_and_lock() {
        let mut limiter = MockRateLimiter::new();
        for key in ["login-failures:203.0.113.7|a@b.uz", "login-lock:203.0.113.7|a@b.uz"] {
            limiter.expect_forget().with(eq(key)).times(1).returning(|_| Ok(()));
        }
        limits(limiter, MockRateLimitMetrics::new()).login_succeeded("a@b.uz", IP).await;
    }

    #[test]
    fn a_login_key_is_the_normalised_address() {
        assert_eq!(login_key("  Zarina@Example.UZ "), "zarina@example.uz");
        assert_eq!(login_key(" Not An Address "), "not an address");
        assert_eq!(login_key(&"x".repeat(1000)).len(), 254);
    }
}
