//! Prometheus metrics, served in the text exposition format at `GET /metrics`
//! (see `routes::metrics`).
//!
//! Each application has its own [`Metrics`] (its own registry), built by the
//! composition root and shared by the HTTP workers and the outbox worker; no
//! process-global state, so many apps in one test process never mix counts.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `tozalash_http_requests_total` | counter | `method`, `route`, `status` |
//! | `tozalash_http_request_duration_seconds` | histogram | `method`, `route`, `status` |
//! | `tozalash_login_failures_total` | counter | |
//! | `tozalash_outbox_messages` | gauge | `status` (`pending`, `dead`) |
//! | `tozalash_outbox_deliveries_total` | counter | `outcome` (`sent`, `retried`, `dead`, `lost`, `released`) |
//! | `tozalash_outbox_round_errors_total` | counter | |
//! | `tozalash_rate_limited_total` | counter | `limit` (`LOGIN_IP`, …, `ANY_IP`, `LOGIN_SLOWDOWN`) |
//! | `tozalash_rate_limiter_errors_total` | counter | |
//! | `tozalash_purged_rows_total` | counter | `kind` (`sessions`, `email_tokens`, `outbox`, `idempotency_keys`) |
//!
//! `route` is the route's pattern (`/api/v1/services/{id}`), never the path
//! with its ids; a path no route matches is `unmatched`, and a method outside
//! the usual few is `other`, so no caller can grow the number of series.
//! Nothing here holds a secret, an id or a user's data.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::{Method, StatusCode};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use tozalash_app::mail::RoundReport;
use tozalash_app::PurgeReport;
use tozalash_domain::Outbox;

use crate::error::ApiError;

/// The label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Latency buckets in seconds: from a cached read to a slow password hash.
const BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The outbox backlog is read from the database at most this often, however
/// often `/metrics` is scraped.
const BACKLOG_MAX_AGE: Duration = Duration::from_secs(1);

/// The application's metrics; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

/// The `kind` labels of `tozalash_purged_rows_total`, in [`PurgeReport`]'s order.
const PURGED_KINDS: [&str; 4] = ["sessions", "email_tokens", "outbox", "idempotency_keys"];

struct Inner {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    login_failures: IntCounter,
    backlog: IntGaugeVec,
    deliveries: IntCounterVec,
    round_errors: IntCounter,
    rate_limited: IntCounterVec,
    limiter_errors: IntCounter,
    purged: IntCounterVec,
    /// Where the backlog is read at scrape time (none in unit tests).
    outbox: Option<Arc<dyn Outbox>>,
    backlog_read_at: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The media type of [`Metrics::render`]'s output.
    pub const CONTENT_TYPE: &'static str = prometheus::TEXT_FORMAT;

    /// Fresh metrics; `outbox` is read for the backlog gauges when scraped.
    pub fn new(outbox: Option<Arc<dyn Outbox>>) -> Self {
        let registry = Registry::new();
        let labels = &["method", "route", "status"];
        let requests = IntCounterVec::new(
            Opts::new("tozalash_http_requests_total", "HTTP requests answered"),
            labels,
        )
        .expect("a valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "tozalash_http_request_duration_seconds",
                "Time from receiving a request to its response head",
            )
            .buckets(BUCKETS.to_vec()),
            labels,
        )
        .expect("a valid metric");
        let login_failures = IntCounter::new(
            "tozalash_login_failures_total",
            "Logins refused for an unknown e-mail or a wrong password",
        )
        .expect("a valid metric");
        let backlog = IntGaugeVec::new(
            Opts::new("tozalash_outbox_messages", "Mails in the outbox by status (pending, dead)"),
            &["status"],
        )
        .expect("a valid metric");
        let deliveries = IntCounterVec::new(
            Opts::new(
                "tozalash_outbox_deliveries_total",
                "Claimed mails of this instance by outcome (sent, retried, dead; lost: another \
                 worker took it over; released: handed back at shutdown)",
            ),
            &["outcome"],
        )
        .expect("a valid metric");
        let round_errors = IntCounter::new(
            "tozalash_outbox_round_errors_total",
            "Outbox rounds that failed as a whole (e.g. the database did not answer)",
        )
        .expect("a valid metric");
        let rate_limited = IntCounterVec::new(
            Opts::new("tozalash_rate_limited_total", "Requests refused (429) by each rate limit"),
            &["limit"],
        )
        .expect("a valid metric");
        let limiter_errors = IntCounter::new(
            "tozalash_rate_limiter_errors_total",
            "Rate-limit checks let through because the counters (Redis) could not be reached",
        )
        .expect("a valid metric");
        let purged = IntCounterVec::new(
            Opts::new(
                "tozalash_purged_rows_total",
                "Rows this instance deleted past retention, by kind",
            ),
            &["kind"],
        )
        .expect("a valid metric");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(login_failures.clone()),
            Box::new(backlog.clone()),
            Box::new(deliveries.clone()),
            Box::new(round_errors.clone()),
            Box::new(rate_limited.clone()),
            Box::new(limiter_errors.clone()),
            Box::new(purged.clone()),
        ] {
            registry.register(collector).expect("metric names are unique");
        }
        // Present from the first scrape, before anything happened.
        for outcome in ["sent", "retried", "dead", "lost", "released"] {
            deliveries.with_label_values(&[outcome]);
        }
        for status in ["pending", "dead"] {
            backlog.with_label_values(&[status]);
        }
        for limit in tozalash_app::Limit::ALL.map(tozalash_app::Limit::name) {
            rate_limited.with_label_values(&[limit]);
        }
        rate_limited.with_label_values(&[tozalash_app::limits::LOGIN_SLOWDOWN]);
        for kind in PURGED_KINDS {
            purged.with_label_values(&[kind]);
        }
        Self(Arc::new(Inner {
            registry,
            requests,
            duration,
            login_failures,
            backlog,
            deliveries,
            round_errors,
            rate_limited,
            limiter_errors,
            purged,
            outbox,
            backlog_read_at: Mutex::new(None),
        }))
    }

    /// Counts one answered request and its latency.
    pub fn observe_request(
        &self,
        method: &Method,
        route: &str,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let labels = [method_label(method), route, status.as_str()];
        self.0.requests.with_label_values(&labels).inc();
        self.0.duration.with_label_values(&labels).observe(elapsed.as_secs_f64());
    }

    /// Counts a login refused with `invalid_credentials`.
    pub fn login_failed(&self) {
        self.0.login_failures.inc();
    }

    /// Adds what one round of the outbox worker did.
    pub fn outbox_round(&self, report: RoundReport) {
        let d = &self.0.deliveries;
        d.with_label_values(&["sent"]).inc_by(report.sent.into());
        d.with_label_values(&["retried"]).inc_by(report.retried.into());
        d.with_label_values(&["dead"]).inc_by(report.dead.into());
        d.with_label_values(&["lost"]).inc_by(report.lost.into());
        d.with_label_values(&["released"]).inc_by(report.released.into());
    }

    /// Adds what one purge deleted.
    pub fn purged(&self, report: &PurgeReport) {
        let counts = [report.sessions, report.email_tokens, report.outbox, report.idempotency_keys];
        for (kind, count) in PURGED_KINDS.into_iter().zip(counts) {
            self.0.purged.with_label_values(&[kind]).inc_by(count);
        }
    }

    /// Counts an outbox round that failed as a whole.
    pub fn outbox_round_failed(&self) {
        self.0.round_errors.inc();
    }

    /// Reads the outbox backlog into its gauges, unless it was read less than
    /// [`BACKLOG_MAX_AGE`] ago (so scraping cannot load the database). A
    /// failure keeps the last values.
    pub async fn refresh_backlog(&self) {
        let Some(outbox) = &self.0.outbox else { return };
        {
            let mut read_at = self.0.backlog_read_at.lock().unwrap_or_else(|e| e.into_inner());
            if read_at.is_some_and(|at| at.elapsed() < BACKLOG_MAX_AGE) {
                return;
            }
            *read_at = Some(Instant::now());
        }
        match outbox.backlog().await {
            Ok((pending, dead)) => {
                let gauge = |status: &str, n: u64| {
                    self.0
                        .backlog
                        .with_label_values(&[status])
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                };
                gauge("pending", pending);
                gauge("dead", dead);
            }
            Err(error) => tracing::warn!(error = ?error, "reading the outbox backlog failed"),
        }
    }

    /// Every metric, in the Prometheus text format.
    pub fn render(&self) -> Result<Vec<u8>, ApiError> {
        let mut out = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.0.registry.gather(), &mut out)
            .map_err(ApiError::internal)?;
        Ok(out)
    }
}

/// The use cases report their business events here (hexarch's `BlogMetrics`).
impl tozalash_domain::AuthMetrics for Metrics {
    fn login_failed(&self) {
        Metrics::login_failed(self);
    }
}

/// The rate limits report their refusals and the limiter's outages here.
impl tozalash_domain::RateLimitMetrics for Metrics {
    fn refused(&self, name: &'static str) {
        self.0.rate_limited.with_label_values(&[name]).inc();
    }

    fn limiter_failed(&self) {
        self.0.limiter_errors.inc();
    }
}

/// A bounded label for the method: the usual ones, else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(metrics: &Metrics) -> String {
        String::from_utf8(metrics.render().expect("rendered")).expect("utf-8")
    }

    #[test]
    fn requests_are_counted_by_method_route_and_status() {
        let metrics = Metrics::new(None);
        let route = "/api/v1/services/{id}";
        metrics.observe_request(&Method::GET, route, StatusCode::OK, Duration::from_millis(3));
        metrics.observe_request(&Method::GET, route, StatusCode::OK, Duration::from_millis(30));
        let text = rendered(&metrics);
        assert!(
            text.contains(r#"tozalash_http_requests_total{method="GET",route="/api/v1/services/{id}",status="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"tozalash_http_request_duration_seconds_bucket{method="GET",route="/api/v1/services/{id}",status="200",le="0.005"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn unusual_methods_share_one_label() {
        let odd = Method::from_bytes(b"BREW").expect("a method");
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }

    #[test]
    fn outbox_and_login_metrics_are_present_from_the_start() {
        let metrics = Metrics::new(None);
        let text = rendered(&metrics);
        assert!(text.contains(r#"tozalash_outbox_deliveries_total{outcome="sent"} 0"#), "{text}");
        assert!(text.contains(r#"tozalash_outbox_messages{status="pending"} 0"#), "{text}");
        assert!(text.contains("tozalash_login_failures_total 0"), "{text}");
        metrics.outbox_round(RoundReport {
            sent: 2,
            retried: 1,
            released: 3,
            ..Default::default()
        });
        metrics.login_failed();
        let text = rendered(&metrics);
        assert!(text.contains(r#"tozalash_outbox_deliveries_total{outcome="sent"} 2"#), "{text}");
        assert!(text.contains(r#"tozalash_outbox_deliveries_total{outcome="retried"} 1"#));
        assert!(text.contains(r#"tozalash_outbox_deliveries_total{outcome="released"} 3"#));
        assert!(text.contains(r#"tozalash_outbox_deliveries_total{outcome="lost"} 0"#));
        assert!(text.contains("tozalash_login_failures_total 1"), "{text}");
    }

    #[test]
    fn purged_rows_are_counted_by_kind() {
        let metrics = Metrics::new(None);
        let text = rendered(&metrics);
        assert!(text.contains(r#"tozalash_purged_rows_total{kind="sessions"} 0"#), "{text}");
        metrics.purged(&PurgeReport {
            sessions: 3,
            email_tokens: 0,
            outbox: 5,
            idempotency_keys: 1,
        });
        let text = rendered(&metrics);
        assert!(text.contains(r#"tozalash_purged_rows_total{kind="sessions"} 3"#), "{text}");
        assert!(text.contains(r#"tozalash_purged_rows_total{kind="outbox"} 5"#), "{text}");
        assert!(text.contains(r#"tozalash_purged_rows_total{kind="idempotency_keys"} 1"#));
    }

    #[test]
    fn rate_limit_refusals_are_counted_by_limit() {
        use tozalash_domain::RateLimitMetrics;
        let metrics = Metrics::new(None);
        let text = rendered(&metrics);
        assert!(text.contains(r#"tozalash_rate_limited_total{limit="ANY_IP"} 0"#), "{text}");
        metrics.refused("LOGIN_IP");
        metrics.limiter_failed();
        let text = rendered(&metrics);
        assert!(text.contains(r#"tozalash_rate_limited_total{limit="LOGIN_IP"} 1"#), "{text}");
        assert!(text.contains("tozalash_rate_limiter_errors_total 1"), "{text}");
    }
}
