//! Idempotent requests: the rules of the `Idempotency-Key` header (the IETF
//! httpapi draft; Stripe's model), over the [`IdempotencyRepo`] port.
//!
//! The edge asks [`Idempotency::begin`] before it runs a request that carries
//! a key. The first request with a key runs; a retry with the same body gets
//! the first answer again, while the first still runs a 409, and the same key
//! with another body a 422. The edge then [`finish`](Idempotency::finish)es
//! with the answer: kept for [`Idempotency::ttl`], unless it said "try
//! again" (a 5xx or a 429), in which case the key is freed.

use std::sync::Arc;

use chrono::TimeDelta;
use tozalash_domain::{
    Clock, Fingerprint, Id, IdempotencyClaim, IdempotencyKey, IdempotencyRepo, IdempotencyState,
    StoredResponse,
};

use crate::error::AppError;

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Attempt {
    /// Run it, then hand the answer to [`Idempotency::finish`].
    Run(Ticket),
    /// Do not run it: answer this, as the first request did.
    Replay(StoredResponse),
}

/// A request that holds its key while it runs.
#[derive(Debug)]
#[must_use = "finish the ticket, or the key stays locked until its lease ends"]
pub struct Ticket(IdempotencyClaim);

/// The use case of idempotent requests.
#[derive(Clone)]
pub struct Idempotency {
    records: Arc<dyn IdempotencyRepo>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency").finish_non_exhaustive()
    }
}

impl Idempotency {
    /// How long a key's answer is replayed (the draft suggests at least 24 h).
    pub const TTL: TimeDelta = TimeDelta::hours(24);
    /// How long a request is presumed to be running. Far longer than any
    /// request may take (the server's timeouts end it sooner), so a live
    /// request is never taken over; after it, a retry of a crashed one runs.
    pub const LEASE: TimeDelta = TimeDelta::seconds(60);

    pub fn new(records: Arc<dyn IdempotencyRepo>, clock: Arc<dyn Clock>) -> Self {
        Self { records, clock }
    }

    /// Claims `key` of `user` for a request whose body has `fingerprint`.
    pub async fn begin(
        &self,
        user: Id,
        key: IdempotencyKey,
        fingerprint: Fingerprint,
    ) -> Result<Attempt, AppError> {
        let now = self.clock.now();
        let claim = IdempotencyClaim {
            user_id: user,
            key,
            fingerprint,
            now,
            locked_until: now + Self::LEASE,
            expires_at: now + Self::TTL,
        };
        match self.records.begin(&claim).await? {
            IdempotencyState::Started => Ok(Attempt::Run(Ticket(claim))),
            IdempotencyState::Replay(response) => Ok(Attempt::Replay(response)),
            IdempotencyState::InProgress => Err(AppError::IdempotencyInProgress),
            IdempotencyState::Mismatch => Err(AppError::IdempotencyKeyReused),
        }
    }

    /// Ends the request `ticket` ran: its answer is kept for retries, unless
    /// it says "try again", which frees the key.
    pub async fn finish(&self, ticket: Ticket, response: StoredResponse) -> Result<(), AppError> {
        if is_kept(response.status) {
            self.records.complete(&ticket.0, &response).await?;
        } else {
            self.records.release(&ticket.0).await?;
        }
        Ok(())
    }

    /// Frees the key without an answer (the request failed before it had one).
    pub async fn abandon(&self, ticket: Ticket) -> Result<(), AppError> {
        Ok(self.records.release(&ticket.0).await?)
    }
}

/// Whether an answer with this status is replayed to retries: every answer
/// but a 5xx (our failure) and a 429 (come back later), after which a retry
/// must run again to succeed.
pub fn is_kept(status: u16) -> bool {
    status < 500 && status != 429
}

#[cfg(test)]
mod tests {
    use super::*;
    use tozalash_domain::clock::{at, MockClock};
    use tozalash_domain::ports::MockIdempotencyRepo;
    use tozalash_domain::TokenHash;

    fn service(records: MockIdempotencyRepo) -> Idempotency {
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| at(1_000));
        Idempotency::new(Arc::new(records), Arc::new(clock))
    }

    fn answer(status: u16) -> StoredResponse {
        StoredResponse { status, content_type: "application/json".into(), body: "{}".into() }
    }

    async fn ticket(records: MockIdempotencyRepo) -> (Idempotency, Ticket) {
        let idempotency = service(records);
        let key = IdempotencyKey::parse("k").expect("valid");
        match idempotency.begin(Id::generate(), key, TokenHash([1; 32])).await.expect("begun") {
            Attempt::Run(ticket) => (idempotency, ticket),
            other => panic!("expected to run, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_claim_holds_the_key_for_the_lease_and_keeps_the_answer_a_day() {
        let mut records = MockIdempotencyRepo::new();
        records
            .expect_begin()
            .withf(|c| {
                c.now == at(1_000)
                    && c.locked_until == at(61_000)
                    && c.expires_at == at(1_000 + 86_400_000)
            })
            .times(1)
            .returning(|_| Ok(IdempotencyState::Started));
        let _ = ticket(records).await;
    }

    #[tokio::test]
    async fn what_the_record_holds_decides_the_answer() {
        for (state, expected) in [
            (IdempotencyState::InProgress, "in progress"),
            (IdempotencyState::Mismatch, "reused"),
            (IdempotencyState::Replay(answer(201)), "replay"),
        ] {
            let mut records = MockIdempotencyRepo::new();
            let found = state.clone();
            records.expect_begin().returning(move |_| Ok(found.clone()));
            let key = IdempotencyKey::parse("k").expect("valid");
            let got = service(records).begin(Id::generate(), key, TokenHash([1; 32])).await;
            let seen = match got {
                Err(AppError::IdempotencyInProgress) => "in progress",
                Err(AppError::IdempotencyKeyReused) => "reused",
                Ok(Attempt::Replay(response)) if response == answer(201) => "replay",
                other => panic!("{state:?} gave {other:?}"),
            };
            assert_eq!(seen, expected);
        }
    }

    #[tokio::test]
    async fn final_answers_are_kept_and_try_again_answers_free_the_key() {
        for (status, kept) in [(201, true), (422, true), (404, true), (429, false), (503, false)] {
            let mut records = MockIdempotencyRepo::new();
            records.expect_begin().returning(|_| Ok(IdempotencyState::Started));
            records.expect_complete().times(usize::from(kept)).returning(|_, _| Ok(()));
            records.expect_release().times(usize::from(!kept)).returning(|_| Ok(()));
            let (idempotency, ticket) = ticket(records).await;
            idempotency.finish(ticket, answer(status)).await.expect("finished");
        }
    }
}
