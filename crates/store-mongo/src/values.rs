//! Conversions between domain values and their BSON storage form, shared by
//! every collection: ids are native ObjectIds, timestamps BSON dates.

use mongodb::bson::{oid::ObjectId, DateTime};
use tozalash_domain::{Id, Timestamp};

/// The same 12 bytes, as MongoDB's native id type.
pub(crate) fn object_id(id: Id) -> ObjectId {
    ObjectId::from_bytes(id.bytes())
}

pub(crate) fn id_of(oid: ObjectId) -> Id {
    Id::from_bytes(oid.bytes())
}

/// Timestamps are whole milliseconds in the domain and in BSON, so this is exact.
pub(crate) fn bson_date(ts: Timestamp) -> DateTime {
    DateTime::from_millis(ts.timestamp_millis())
}

/// The domain timestamp of a stored date; `None` outside chrono's range (only
/// a document written by something else can hold such a date).
pub(crate) fn timestamp_of(date: DateTime) -> Option<Timestamp> {
    chrono::DateTime::from_timestamp_millis(date.timestamp_millis())
}
