//! Domain errors: a broken business rule on one field, and what a storage port
//! may answer besides success.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

/// One broken rule on one input field. `code` is stable and machine-readable
/// (snake_case); `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: Cow<'static, str>,
    pub code: &'static str,
    pub message: Cow<'static, str>,
}

impl FieldError {
    pub fn new(
        field: impl Into<Cow<'static, str>>,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}

/// Every broken rule found in one request, so a client can fix them all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// Keeps the value of `result`, or records its error and gives `None`.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    /// `Ok(value)` when no rule was broken.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, Self> {
        if self.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
}

impl From<FieldError> for ValidationErrors {
    fn from(error: FieldError) -> Self {
        Self(vec![error])
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for e in &self.0 {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

pub type BoxError = Box<dyn StdError + Send + Sync>;

/// A value that no two stored records may share, in business words. Each
/// adapter maps its unique indexes to these, and the edge matches them
/// exhaustively, so a new key cannot reach a client as a generic conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueKey {
    /// A record's id (a generated id that collided, or a replayed insert).
    Id,
    /// A user's e-mail address.
    Email,
    /// A user's username, ignoring ASCII case.
    Username,
    /// A catalogue service's name key (`ServiceName::key`), archived services
    /// included.
    ServiceName,
}

impl UniqueKey {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Email => "email",
            Self::Username => "username",
            Self::ServiceName => "service name",
        }
    }
}

impl fmt::Display for UniqueKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind of record that an input refers to by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// A catalogue service (`serviceId`).
    Service,
    /// An account (`userId`).
    User,
}

impl Reference {
    /// The input field that carries the reference.
    pub fn field(self) -> &'static str {
        match self {
            Self::Service => "serviceId",
            Self::User => "userId",
        }
    }
}

/// What a repository port answers when it cannot do what was asked. "Not found"
/// is not an error here: ports answer it with `Option` or `bool`.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A unique constraint refused the write.
    #[error("a record with the same {0} already exists")]
    Duplicate(UniqueKey),
    /// The write would leave no account with the ADMIN role; nothing changed.
    #[error("the last administrator cannot be demoted or deleted")]
    LastAdmin,
    /// A conditional write expected a version the record no longer has (it
    /// was written meanwhile); nothing changed. A record that does not exist
    /// is "not found" (`None`), never this.
    #[error("the record was changed meanwhile (its version is not the expected one)")]
    VersionMismatch,
    /// The record refers to something that does not exist (checked in the
    /// same step as the write); nothing was stored.
    #[error("the {} it refers to does not exist", .0.field())]
    MissingReference(Reference),
    /// The session a write was checked against is revoked or expired, or is
    /// not the caller's (checked in the same step as the write); nothing was
    /// stored.
    #[error("the session has ended")]
    SessionEnded,
    /// The database could not be reached or timed out; worth retrying later.
    #[error("the database is unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else the database said; a bug or a broken deployment.
    #[error("the database failed")]
    Failed(#[source] BoxError),
}
