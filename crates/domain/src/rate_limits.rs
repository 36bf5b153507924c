//! Rate limits and the slowdown of repeated failed logins: the quotas, what
//! a limiter answers, and the rule that turns failures into a delay. The
//! counting itself is behind the [`crate::ports::RateLimiter`] port.

use std::time::Duration;

/// At most `limit` hits in a fixed window of `window` that opens with the
/// key's first hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    /// At least one second (counters in Redis expire in whole seconds).
    pub window: Duration,
}

impl Quota {
    /// `limit` hits per `seconds`; `None` unless both are at least 1.
    pub fn new(limit: u64, seconds: u64) -> Option<Self> {
        (limit >= 1 && seconds >= 1).then(|| Self { limit, window: Duration::from_secs(seconds) })
    }

    /// Reads `N/SECONDS`, e.g. `30/60`: thirty hits a minute.
    pub fn parse(text: &str) -> Option<Self> {
        let (limit, seconds) = text.trim().split_once('/')?;
        Self::new(limit.trim().parse().ok()?, seconds.trim().parse().ok()?)
    }
}

impl std::fmt::Display for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.limit, self.window.as_secs())
    }
}

/// What a limiter answers to one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the quota; `count` hits so far in this window, this one included.
    Allowed { count: u64 },
    /// Over the quota until the window closes, `retry_after` from now.
    Limited { retry_after: Duration },
}

/// Repeated failed logins for one (e-mail, client IP) pair slow that pair
/// down: the first `free_failures` cost nothing, then each failure locks the
/// pair for a delay that doubles from `base_delay` up to `max_delay`. A
/// success forgets the failures; so does `memory` passing after the first.
/// The rule is the same whether or not the account exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginSlowdown {
    pub free_failures: u64,
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub memory: Duration,
}

impl Default for LoginSlowdown {
    fn default() -> Self {
        Self {
            free_failures: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            memory: Duration::from_secs(60 * 60),
        }
    }
}

impl LoginSlowdown {
    /// How long the pair is locked after its `failures`-th failure in a row:
    /// none while the failures are free, then `base_delay`, doubling, capped
    /// at `max_delay`. Whole seconds, at least one (a lock of less is none).
    pub fn delay_after(&self, failures: u64) -> Option<Duration> {
        let beyond = failures.checked_sub(self.free_failures).filter(|&n| n > 0)?;
        let doublings = u32::try_from(beyond - 1).unwrap_or(u32::MAX).min(63);
        let delay = self
            .base_delay
            .checked_mul(1u32.checked_shl(doublings).unwrap_or(u32::MAX))
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let seconds = delay.as_secs_f64().ceil().max(1.0);
        Some(Duration::from_secs(seconds as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_reads_as_n_per_seconds() {
        assert_eq!(Quota::parse("30/60"), Quota::new(30, 60));
        assert_eq!(Quota::parse(" 10 / 300 ").map(|q| q.to_string()), Some("10/300".into()));
        for bad in ["", "30", "30/", "/60", "0/60", "30/0", "-1/60", "1.5/60", "30/60/2", "x/y"] {
            assert_eq!(Quota::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn free_failures_cost_nothing_then_the_delay_doubles_up_to_the_cap() {
        let rule = LoginSlowdown::default();
        for n in 0..=5 {
            assert_eq!(rule.delay_after(n), None, "{n}");
        }
        let secs = |n| rule.delay_after(n).map(|d| d.as_secs());
        assert_eq!(secs(6), Some(1));
        assert_eq!(secs(7), Some(2));
        assert_eq!(secs(8), Some(4));
        assert_eq!(secs(15), Some(512));
        assert_eq!(secs(16), Some(900));
        assert_eq!(secs(100), Some(900));
        assert_eq!(secs(u64::MAX), Some(900));
    }

    #[test]
    fn a_delay_is_whole_seconds_and_at_least_one() {
        let rule = LoginSlowdown {
            free_failures: 0,
            base_delay: Duration::from_millis(300),
            max_delay: Duration::from_millis(2500),
            memory: Duration::from_secs(60),
        };
        let secs = |n| rule.delay_after(n).map(|d| d.as_secs());
        assert_eq!(secs(0), None);
        assert_eq!(secs(1), Some(1)); // 0.3 s
        assert_eq!(secs(3), Some(2)); // 1.2 s
        assert_eq!(secs(5), Some(3)); // capped at 2.5 s
    }
}
