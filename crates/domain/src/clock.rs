//! Time, as the business sees it: UTC instants with millisecond precision, the
//! finest every storage backend keeps (MongoDB dates are milliseconds), so a
//! timestamp reads back exactly as it was written on every backend.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

pub type Timestamp = DateTime<Utc>;

/// Where "now" comes from; a port so use cases can be tested at fixed times.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current instant, truncated to whole milliseconds.
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        truncate_to_millis(Utc::now())
    }
}

/// Drops sub-millisecond precision.
pub fn truncate_to_millis(t: Timestamp) -> Timestamp {
    t.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(t)
}

/// The instant `millis` milliseconds after the Unix epoch: the one way tests
/// and fixtures write a fixed time.
///
/// # Panics
/// Outside chrono's range (about ±262,000 years), which no caller means.
pub fn at(millis: i64) -> Timestamp {
    DateTime::from_timestamp_millis(millis).expect("an instant within chrono's range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_has_millisecond_precision() {
        let now = SystemClock.now();
        assert_eq!(now.timestamp_subsec_nanos() % 1_000_000, 0);
    }
}
