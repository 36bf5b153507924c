//! Optimistic concurrency: every stored service, user and order carries a
//! [`Version`], a counter that each write changing it raises by one in the
//! same statement. A client that read version 3 can ask for its change to
//! apply only while the record is still at version 3 (HTTP `If-Match`), so
//! two people editing one record never silently overwrite each other.
//!
//! A counter, not a timestamp: two writes in one millisecond would share a
//! timestamp, never a version.

use std::fmt;

/// How many times a record has been written: 1 when it is created, one more
/// with every write that changes what the API shows of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(i64);

impl Version {
    /// The version of a record just created.
    pub const FIRST: Self = Self(1);

    /// The version as stored (a positive BIGINT / Int64); `None` for anything
    /// below 1, which no adapter ever writes.
    pub fn from_stored(value: i64) -> Option<Self> {
        (value >= 1).then_some(Self(value))
    }

    /// The number, as the adapters store it.
    pub fn get(self) -> i64 {
        self.0
    }

    /// The version after one more write.
    #[must_use]
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// Parses the canonical decimal form [`Version`]'s `Display` writes (no
    /// sign, no leading zero), so that one version has exactly one spelling.
    pub fn parse(text: &str) -> Option<Self> {
        let canonical = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit())
            && !(text.len() > 1 && text.starts_with('0'));
        if !canonical {
            return None;
        }
        text.parse::<i64>().ok().and_then(Self::from_stored)
    }
}

impl Default for Version {
    fn default() -> Self {
        Self::FIRST
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A precondition on a write (HTTP `If-Match` with entity tags): it may apply
/// only while the record's current version is one of these. An empty list
/// (tags this server never made) matches nothing. `If-Match: *` is no
/// precondition at all here: it matches any record that exists, and writing a
/// record that does not exist is "not found" anyway.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Precondition(Vec<Version>);

impl Precondition {
    /// Applies only at exactly this version.
    pub fn version(version: Version) -> Self {
        Self(vec![version])
    }

    /// Applies at any of these versions (none: never).
    pub fn one_of(versions: impl IntoIterator<Item = Version>) -> Self {
        Self(versions.into_iter().collect())
    }

    /// Whether a record at `current` satisfies it.
    pub fn matches(&self, current: Version) -> bool {
        self.0.contains(&current)
    }

    /// The one version it names, when it names exactly one: a conditional
    /// write can then expect it without reading the record first.
    pub fn single(&self) -> Option<Version> {
        match self.0.as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_one_and_count_up() {
        assert_eq!(Version::FIRST.get(), 1);
        assert_eq!(Version::FIRST.next().get(), 2);
        assert_eq!(Version::from_stored(0), None);
        assert_eq!(Version::from_stored(-4), None);
        assert_eq!(Version::from_stored(7).map(Version::get), Some(7));
    }

    #[test]
    fn only_the_canonical_spelling_parses() {
        assert_eq!(Version::parse("1"), Some(Version::FIRST));
        assert_eq!(Version::parse("42").map(|v| v.to_string()).as_deref(), Some("42"));
        for bad in ["", "0", "01", "-1", "+1", "1.0", " 1", "abc", "99999999999999999999"] {
            assert_eq!(Version::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_precondition_matches_the_versions_it_lists() {
        let (one, two) = (Version::FIRST, Version::FIRST.next());
        assert!(Precondition::version(one).matches(one));
        assert!(!Precondition::version(one).matches(two));
        assert!(Precondition::one_of([one, two]).matches(two));
        assert!(!Precondition::default().matches(one), "no tag of ours matches nothing");
        assert_eq!(Precondition::version(two).single(), Some(two));
        assert_eq!(Precondition::one_of([one, two]).single(), None);
        assert_eq!(Precondition::default().single(), None);
    }
}
