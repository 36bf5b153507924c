//! The one error type every use case returns; the HTTP edge maps each variant to
//! a status and a stable code.

use tozalash_domain::auth::Forbidden;
use tozalash_domain::error::BoxError;
use tozalash_domain::{
    InvalidTransition, Reference, RepoError, UniqueKey, ValidationErrors, VisitRefusal,
};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input broke business rules; every broken rule is listed.
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationErrors),
    /// Nothing of this kind (`"service"`, …) exists, or the caller may not know it does.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller is known but lacks the permission.
    #[error("forbidden")]
    Forbidden,
    /// Login failed: unknown e-mail or wrong password, deliberately indistinguishable.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// An e-mailed link's token is unknown, used, superseded or expired.
    #[error("invalid or expired link")]
    InvalidEmailToken,
    /// The refresh token is unknown, rotated, expired or its session revoked.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// Ordering needs a verified e-mail address.
    #[error("e-mail not verified")]
    EmailNotVerified,
    /// A status move the order's status machine refuses, or that lost a race.
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// A visit cannot be marked COMPLETED before its time.
    #[error("the visit is not due yet")]
    VisitNotDue,
    /// A customer's cancellation inside the cut-off before the visit.
    #[error("it is too late to cancel")]
    TooLateToCancel,
    /// A COMPLETED order is a record of revenue and is never deleted.
    #[error("a completed order cannot be deleted")]
    OrderCompleted,
    /// The order's details can change only while it is PENDING.
    #[error("the order is no longer pending")]
    OrderNotPending,
    /// A reference in the input (a service, a user) names nothing.
    #[error("{} names nothing", .0.field())]
    UnknownReference(Reference),
    /// A unique value is already taken.
    #[error("{0} is already taken")]
    Duplicate(UniqueKey),
    /// The operator's bootstrap found the account with its address unverified
    /// and was not told to take it over.
    #[error("the account with this address has never been verified; take it over explicitly")]
    UnverifiedAccount,
    /// The caller's precondition (HTTP `If-Match`) does not hold: the record
    /// is at another version than the one they read, so nothing changed.
    #[error("the record changed since it was read")]
    PreconditionFailed,
    /// The change would leave the business without an administrator.
    #[error("the last administrator cannot be demoted or deleted")]
    LastAdmin,
    /// The caller's session has ended or their account is gone: the access
    /// token no longer speaks for anyone.
    #[error("the session has ended")]
    SessionEnded,
    /// The `Idempotency-Key` was used before for another request body.
    #[error("the idempotency key was used for another request")]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still running.
    #[error("a request with this idempotency key is still running")]
    IdempotencyInProgress,
    /// Too many requests of this kind; try again after the given seconds.
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    /// The database is down or slow; the request may succeed later.
    #[error("storage unavailable")]
    Unavailable(#[source] RepoError),
    /// A fault on our side; logged, never shown.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl From<RepoError> for AppError {
    fn from(error: RepoError) -> Self {
        match error {
            RepoError::Duplicate(what) => Self::Duplicate(what),
            RepoError::LastAdmin => Self::LastAdmin,
            RepoError::VersionMismatch => Self::PreconditionFailed,
            RepoError::MissingReference(what) => Self::UnknownReference(what),
            RepoError::SessionEnded => Self::SessionEnded,
            RepoError::Unavailable(_) => Self::Unavailable(error),
            RepoError::Failed(_) => Self::Internal(Box::new(error)),
        }
    }
}

impl From<VisitRefusal> for AppError {
    fn from(refusal: VisitRefusal) -> Self {
        match refusal {
            VisitRefusal::NotDue => Self::VisitNotDue,
            VisitRefusal::TooLateToCancel => Self::TooLateToCancel,
        }
    }
}

impl From<Forbidden> for AppError {
    fn from(_: Forbidden) -> Self {
        Self::Forbidden
    }
}

impl AppError {
    /// A fault of a collaborator that is not storage (the password hasher, …).
    pub fn internal(error: impl Into<BoxError>) -> Self {
        Self::Internal(error.into())
    }
}
