//! Retention: what the database keeps, and for how long. Every login adds a
//! session, every refresh a refresh-token row, every link mailed an e-mail
//! token and an outbox row; once they are over, [`Retention::purge`] deletes
//! them after [`RetentionPolicy::keep`]:
//!
//! - sessions that ended (revoked or expired) by then, with all their
//!   refresh tokens;
//! - e-mail tokens used or expired by then;
//! - outbox mail that is SENT or DEAD and was created by then (PENDING mail
//!   is never deleted);
//! - idempotency records as soon as they expire (they are free to reuse
//!   then already: this only reclaims the space).
//!
//! Each kind goes in batches of [`RetentionPolicy::batch`] rows (one indexed
//! delete each) until a batch comes back short, so no statement holds locks
//! for long however much has piled up. Deleting rows past retention is
//! idempotent, so every instance may purge on its own schedule: two purging
//! at once delete each row once between them, and a purge that fails half
//! way is finished by the next one.

use std::sync::Arc;

use chrono::TimeDelta;
use futures::future::BoxFuture;
use tozalash_domain::{
    Clock, EmailTokenRepo, IdempotencyRepo, Outbox, RepoError, Repositories, SessionRepo, Timestamp,
};

use crate::error::AppError;

/// How long ended rows are kept, and how many go per delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// How long a session, e-mail token or finished mail is kept after it
    /// ended (`RETENTION_DAYS`).
    pub keep: TimeDelta,
    /// At most this many rows per delete statement. At least 1.
    pub batch: u32,
}

impl RetentionPolicy {
    /// Rows per delete: small enough that one delete is quick, large enough
    /// that a backlog of millions goes in minutes.
    pub const BATCH: u32 = 1_000;
}

/// How many rows one purge deleted, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub sessions: u64,
    pub email_tokens: u64,
    pub outbox: u64,
    pub idempotency_keys: u64,
}

impl PurgeReport {
    /// Every row deleted, whatever its kind.
    pub fn total(&self) -> u64 {
        self.sessions + self.email_tokens + self.outbox + self.idempotency_keys
    }
}

/// The use case of retention.
#[derive(Clone)]
pub struct Retention {
    sessions: Arc<dyn SessionRepo>,
    email_tokens: Arc<dyn EmailTokenRepo>,
    outbox: Arc<dyn Outbox>,
    idempotency: Arc<dyn IdempotencyRepo>,
    clock: Arc<dyn Clock>,
    policy: RetentionPolicy,
}

impl std::fmt::Debug for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retention").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl Retention {
    pub fn new(repos: &Repositories, clock: Arc<dyn Clock>, policy: RetentionPolicy) -> Self {
        Self {
            sessions: repos.sessions.clone(),
            email_tokens: repos.email_tokens.clone(),
            outbox: repos.outbox.clone(),
            idempotency: repos.idempotency.clone(),
            clock,
            policy: RetentionPolicy { batch: policy.batch.max(1), ..policy },
        }
    }

    /// Deletes everything past retention now, kind by kind, in batches; answers
    /// how many rows of each kind went. The first failure ends the purge (what
    /// it deleted so far stays deleted; the next purge goes on from there).
    pub async fn purge(&self) -> Result<PurgeReport, AppError> {
        let now = self.clock.now();
        let before = self.cut_off(now);
        let batch = self.policy.batch;
        Ok(PurgeReport {
            sessions: drain(batch, || self.sessions.purge_ended(before, batch)).await?,
            email_tokens: drain(batch, || self.email_tokens.purge_spent(before, batch)).await?,
            outbox: drain(batch, || self.outbox.purge_finished(before, batch)).await?,
            idempotency_keys: drain(batch, || self.idempotency.purge_expired(now, batch)).await?,
        })
    }

    /// The cut-off a purge at `now` uses: rows that ended at it or before go.
    pub fn cut_off(&self, now: Timestamp) -> Timestamp {
        now - self.policy.keep
    }
}

/// Runs `delete` (one batch of at most `batch` rows) until it deletes fewer
/// than `batch`; answers the sum.
async fn drain<'a>(
    batch: u32,
    delete: impl Fn() -> BoxFuture<'a, Result<u64, RepoError>>,
) -> Result<u64, AppError> {
    let mut total = 0;
    loop {
        let deleted = delete().await?;
        total += deleted;
        if deleted < u64::from(batch) {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Mutex;

    use tozalash_domain::clock::{at, MockClock};
    use tozalash_domain::ports::{
        MockEmailTokenRepo, MockIdempotencyRepo, MockOutbox, MockSessionRepo,
    };

    const NOW: i64 = 100 * 86_400_000;
    const DAY: i64 = 86_400_000;

    struct Mocks {
        sessions: MockSessionRepo,
        email_tokens: MockEmailTokenRepo,
        outbox: MockOutbox,
        idempotency: MockIdempotencyRepo,
    }

    impl Mocks {
        fn new() -> Self {
            Self {
                sessions: MockSessionRepo::new(),
                email_tokens: MockEmailTokenRepo::new(),
                outbox: MockOutbox::new(),
                idempotency: MockIdempotencyRepo::new(),
            }
        }

        fn retention(self, batch: u32) -> Retention {
            let mut clock = MockClock::new();
            clock.expect_now().returning(|| at(NOW));
            Retention {
                sessions: Arc::new(self.sessions),
                email_tokens: Arc::new(self.email_tokens),
                outbox: Arc::new(self.outbox),
                idempotency: Arc::new(self.idempotency),
                clock: Arc::new(clock),
                policy: RetentionPolicy { keep: TimeDelta::days(30), batch },
            }
        }
    }

    /// Answers the given batch sizes in turn, then panics.
    fn batches(sizes: &[u64]) -> impl FnMut() -> u64 + Send + 'static {
        let left = Mutex::new(std::collections::VecDeque::from(sizes.to_vec()));
        move || left.lock().unwrap().pop_front().expect("no further batch expected")
    }

    #[tokio::test]
    async fn each_kind_is_purged_in_batches_until_a_short_one_and_counted() {
        let cut = at(NOW - 30 * DAY);
        let mut mocks = Mocks::new();
        let mut sessions = batches(&[2, 2, 1]);
        mocks
            .sessions
            .expect_purge_ended()
            .withf(move |before, limit| *before == cut && *limit == 2)
            .times(3)
            .returning(move |_, _| Ok(sessions()));
        let mut tokens = batches(&[0]);
        mocks
            .email_tokens
            .expect_purge_spent()
            .withf(move |before, limit| *before == cut && *limit == 2)
            .times(1)
            .returning(move |_, _| Ok(tokens()));
        let mut outbox = batches(&[2, 0]);
        mocks
            .outbox
            .expect_purge_finished()
            .withf(move |before, limit| *before == cut && *limit == 2)
            .times(2)
            .returning(move |_, _| Ok(outbox()));
        // Idempotency records go as soon as they expire: the cut-off is now.
        mocks
            .idempotency
            .expect_purge_expired()
            .withf(|now, limit| *now == at(NOW) && *limit == 2)
            .times(1)
            .returning(|_, _| Ok(1));

        let report = mocks.retention(2).purge().await.unwrap();

        assert_eq!(
            report,
            PurgeReport { sessions: 5, email_tokens: 0, outbox: 2, idempotency_keys: 1 }
        );
        assert_eq!(report.total(), 8);
    }

    #[tokio::test]
    async fn a_failing_delete_ends_the_purge_with_an_error() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_purge_ended()
            .times(1)
            .returning(|_, _| Err(RepoError::Unavailable("down".into())));

        let outcome = mocks.retention(10).purge().await;

        assert!(outcome.is_err(), "{outcome:?}");
    }
}
