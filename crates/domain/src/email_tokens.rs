//! Single-use tokens sent by e-mail: to verify an address, or to reset a
//! password. Only their hash is stored; they expire and are used once.

use crate::clock::Timestamp;
use crate::id::Id;
use crate::sessions::TokenHash;
use crate::users::Email;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    /// Proves the user reads mail at `email`; valid 24 hours.
    VerifyEmail,
    /// Lets the user set a new password; valid 30 minutes.
    ResetPassword,
}

impl TokenPurpose {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::VerifyEmail => "VERIFY_EMAIL",
            Self::ResetPassword => "RESET_PASSWORD",
        }
    }

    /// How long a token of this purpose stays valid.
    pub fn lifetime(&self) -> chrono::TimeDelta {
        match self {
            Self::VerifyEmail => chrono::TimeDelta::hours(24),
            Self::ResetPassword => chrono::TimeDelta::minutes(30),
        }
    }
}

impl std::str::FromStr for TokenPurpose {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [Self::VerifyEmail, Self::ResetPassword].into_iter().find(|p| p.as_str() == s).ok_or(())
    }
}

/// A token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailToken {
    pub hash: TokenHash,
    pub user_id: Id,
    pub purpose: TokenPurpose,
    /// The address the token was sent to (verification proves this address).
    pub email: Email,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// When it was used or superseded; `None` while it is still usable.
    pub used_at: Option<Timestamp>,
}
