//! Idempotent requests (the IETF httpapi `Idempotency-Key` draft, Stripe's
//! model): a client that retries a request with the same key gets the first
//! answer again instead of a second effect, across instances and restarts.
//!
//! A key belongs to one user. Its record remembers the fingerprint of the
//! first request (so the same key with another body is refused), whether that
//! request is still running (a lease, so a crashed instance does not block
//! the key for a day), and, once it finished, the answer to replay.

use std::fmt;

use crate::clock::Timestamp;
use crate::error::FieldError;
use crate::id::Id;
use crate::sessions::TokenHash;

/// The value of an `Idempotency-Key` header: 1 to 255 visible ASCII
/// characters or spaces, not starting or ending with a space. It is opaque:
/// the draft's structured-field quotes, if sent, are part of it, as they are
/// on every retry.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;
    /// The header the key travels in (the field name of its errors).
    pub const HEADER: &'static str = "Idempotency-Key";
    /// What [`IdempotencyKey::parse`] accepts, as a regular expression.
    pub const PATTERN: &'static str = r"^[\x21-\x7E]([\x20-\x7E]{0,253}[\x21-\x7E])?$";

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let printable = raw.bytes().all(|b| (0x20..=0x7E).contains(&b));
        let padded = raw.starts_with(' ') || raw.ends_with(' ');
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !printable || padded {
            return Err(FieldError::new(
                Self::HEADER,
                "invalid",
                "must be 1 to 255 visible ASCII characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({:?})", self.0)
    }
}

/// The SHA-256 of a request's body: the same key with another body is a
/// client error, not a retry.
pub type Fingerprint = TokenHash;

/// The answer a finished request gave, kept to be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// A request that wants to run under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub user_id: Id,
    pub key: IdempotencyKey,
    pub fingerprint: Fingerprint,
    pub now: Timestamp,
    /// Until when the request is presumed running; after it, a retry with
    /// the same body may take the key over (the first one crashed).
    pub locked_until: Timestamp,
    /// When the record (and the right to a replay) ends.
    pub expires_at: Timestamp,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyState {
    /// The key was free (or its record expired, or its lease ran out): the
    /// request runs now and must [`complete`](crate::ports::IdempotencyRepo::complete)
    /// or [`release`](crate::ports::IdempotencyRepo::release) it.
    Started,
    /// The first request with this key and body is still running.
    InProgress,
    /// The first request with this key and body finished with this answer.
    Replay(StoredResponse),
    /// The key was used for another body.
    Mismatch,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_one_to_255_visible_ascii_characters() {
        let longest = "x".repeat(255);
        for good in ["k", "8e03978e-40d5-43e8-bc93-6894a57f9324", "\"quoted\"", "a b", &longest] {
            assert_eq!(IdempotencyKey::parse(good).expect(good).as_str(), good);
        }
        let too_long = "x".repeat(256);
        for bad in ["", " ", " k", "k ", "kalit\u{02bc}", "a\tb", &too_long] {
            let error = IdempotencyKey::parse(bad).expect_err(bad);
            assert_eq!((error.field.as_ref(), error.code), ("Idempotency-Key", "invalid"));
        }
    }
}
