//! Translation of driver errors into the domain's [`RepoError`]: the one place
//! that decides what counts as a duplicate, an outage or a failure.

use mongodb::error::{ErrorKind, WriteFailure};
use tozalash_domain::{RepoError, UniqueKey};

use crate::{services, users};

/// MongoDB's `DuplicateKey` error code, raised by any unique index.
const DUPLICATE_KEY: i32 = 11000;

/// Server error codes that mean "the cluster is (temporarily) not able to serve",
/// not "the request is wrong": retrying later may succeed, so they map to
/// `Unavailable` (a readiness probe failing, a 503) rather than `Failed`.
/// From the server's error_codes.yml: HostUnreachable, HostNotFound,
/// NetworkTimeout, ShutdownInProgress, PrimarySteppedDown, ExceededTimeLimit,
/// SocketException, NotWritablePrimary, InterruptedAtShutdown,
/// InterruptedDueToReplStateChange, NotPrimaryNoSecondaryOk,
/// NotPrimaryOrSecondary, MaxTimeMSExpired.
const UNAVAILABLE_CODES: &[i32] =
    &[6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 50];

/// Maps a unique index's name to the key `RepoError::Duplicate` carries.
/// Every unique index the adapter creates must be listed here.
fn constraint_of_index(index: &str) -> Option<UniqueKey> {
    match index {
        "_id_" => Some(UniqueKey::Id),
        users::EMAIL_UNIQUE => Some(UniqueKey::Email),
        users::USERNAME_UNIQUE => Some(UniqueKey::Username),
        services::NAME_KEY_UNIQUE => Some(UniqueKey::ServiceName),
        _ => None,
    }
}

/// The one translation from a driver error to a [`RepoError`].
pub(crate) fn translate(err: mongodb::error::Error) -> RepoError {
    if let Some(constraint) = duplicate_constraint(&err) {
        return RepoError::Duplicate(constraint);
    }
    if is_unavailable(&err) {
        RepoError::Unavailable(Box::new(err))
    } else {
        RepoError::Failed(Box::new(err))
    }
}

/// The business name of the unique index a write broke, if it broke a known one.
/// A duplicate on an index not listed in [`constraint_of_index`] is a bug in this
/// adapter, so it stays a `Failed`.
fn duplicate_constraint(err: &mongodb::error::Error) -> Option<UniqueKey> {
    // insert/update/delete report per-document write errors, insertMany a list
    // of them (the first one stopped an ordered batch); findAndModify and other
    // commands report a command error. All carry the same code and message.
    let message = match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == DUPLICATE_KEY => &e.message,
        ErrorKind::InsertMany(e) => {
            let first = e.write_errors.as_ref()?.first()?;
            (first.code == DUPLICATE_KEY).then_some(&first.message)?
        }
        ErrorKind::Command(e) if e.code == DUPLICATE_KEY => &e.message,
        _ => return None,
    };
    index_name_in_duplicate_message(message).and_then(constraint_of_index)
}

/// Extracts the index name from the server's duplicate-key message, whose form
/// has been stable since MongoDB 3.x:
/// `E11000 duplicate key error collection: db.coll index: NAME dup key: { … }`.
/// The structured `keyPattern` field is not exposed by the driver's `WriteError`,
/// and the index name is what distinguishes two unique indexes on one collection.
fn index_name_in_duplicate_message(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once(" index: ")?;
    rest.split_whitespace().next()
}

/// Whether the error means the database could not be reached or did not answer
/// in time (worth retrying) rather than that it refused the request.
fn is_unavailable(err: &mongodb::error::Error) -> bool {
    // Labels the server or driver attach to transient failures.
    if err.contains_label("RetryableWriteError")
        || err.contains_label("TransientTransactionError")
        || err.contains_label("SystemOverloadedError")
    {
        return true;
    }
    match err.kind.as_ref() {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Shutdown => true,
        ErrorKind::Command(e) => UNAVAILABLE_CODES.contains(&e.code),
        ErrorKind::Write(WriteFailure::WriteError(e)) => UNAVAILABLE_CODES.contains(&e.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(e)) => UNAVAILABLE_CODES.contains(&e.code),
        _ => false,
    }
}

/// A stored document that does not map back to domain values: written by
/// something other than this adapter, or by an older version of it.
#[derive(Debug, thiserror::Error)]
#[error("stored {collection} document {id} is malformed: {reason}")]
pub(crate) struct MalformedDocument {
    pub collection: &'static str,
    pub id: String,
    pub reason: String,
}

impl From<MalformedDocument> for RepoError {
    fn from(err: MalformedDocument) -> Self {
        RepoError::Failed(Box::new(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_name_is_read_from_the_duplicate_key_message() {
        let message = "E11000 duplicate key error collection: t.services index: _id_ dup key: { _id: ObjectId('65a1b2c3d4e5f60718293a4b') }";
        assert_eq!(index_name_in_duplicate_message(message), Some("_id_"));
        assert_eq!(index_name_in_duplicate_message("E11000 duplicate key error"), None);
    }

    #[test]
    fn only_known_unique_indexes_name_a_constraint() {
        assert_eq!(constraint_of_index("_id_"), Some(UniqueKey::Id));
        assert_eq!(constraint_of_index("users_email_unique"), Some(UniqueKey::Email));
        assert_eq!(constraint_of_index("users_username_unique"), Some(UniqueKey::Username));
        assert_eq!(constraint_of_index("services_nameKey_unique"), Some(UniqueKey::ServiceName));
        assert_eq!(constraint_of_index("sessions_userId"), None);
        assert_eq!(constraint_of_index("services_price_id"), None);
    }
}
