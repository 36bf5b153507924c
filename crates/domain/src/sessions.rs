//! Login sessions and their refresh tokens. A session lives at most
//! `REFRESH_TOKEN_TTL` from login; its refresh token is rotated on every use,
//! and every token it ever had is remembered (as a hash) so that a stolen,
//! already-rotated token can be recognised and the session revoked.

use std::fmt;

use crate::clock::Timestamp;
use crate::id::Id;

/// One login: a device or browser that may obtain new access tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Id,
    pub user_id: Id,
    pub created_at: Timestamp,
    /// The absolute end of the session, however often it is refreshed.
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl Session {
    /// Whether the session may still refresh at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// The SHA-256 of an opaque secret token (refresh, verification, reset). Only
/// hashes are stored, so a database leak leaks no usable token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

/// One refresh token a session has had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub hash: TokenHash,
    pub session_id: Id,
    pub created_at: Timestamp,
    /// When it was exchanged for its successor; `None` while it is the current one.
    pub rotated_at: Option<Timestamp>,
}

/// A freshly generated secret token: the plain value goes to the client once,
/// only the hash is kept.
#[derive(Clone)]
pub struct SecretToken {
    pub plain: String,
    pub hash: TokenHash,
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretToken").field("hash", &self.hash).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_active_until_revoked_or_expired() {
        let at = |ms| chrono::DateTime::from_timestamp_millis(ms).expect("valid");
        let session = Session {
            id: Id::generate(),
            user_id: Id::generate(),
            created_at: at(0),
            expires_at: at(1_000),
            revoked_at: None,
        };
        assert!(session.is_active(at(999)));
        assert!(!session.is_active(at(1_000)));
        let revoked = Session { revoked_at: Some(at(10)), ..session };
        assert!(!revoked.is_active(at(11)));
    }

    #[test]
    fn token_hashes_round_trip_through_hex_and_hide_in_debug() {
        let hash = TokenHash([0xab; 32]);
        assert_eq!(TokenHash::from_hex(&hash.to_hex()), Some(hash));
        assert_eq!(format!("{hash:?}"), "TokenHash(abababab…)");
    }
}
