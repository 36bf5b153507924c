//! Pagination: which slice of a list a client asked for, and what it gets back.

use crate::error::{FieldError, ValidationErrors};

/// A 1-based page of at most [`PageRequest::MAX_LIMIT`] items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    page: u32,
    limit: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { page: 1, limit: Self::DEFAULT_LIMIT }
    }
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 20;
    pub const MAX_LIMIT: u32 = 100;
    /// Deep enough for any real list; bounds the OFFSET a client can make a database skip.
    pub const MAX_PAGE: u32 = 1_000_000;
    /// How many items of a list can be paged through: a page that starts past
    /// them is refused (`page_too_deep`), and a narrower filter asked for
    /// instead. Also where totals stop counting ([`Page::COUNT_CAP`]).
    pub const MAX_DEPTH: u64 = 10_000;

    /// `None` takes the default. Both values are checked, so a client learns of
    /// every mistake at once.
    pub fn new(page: Option<u32>, limit: Option<u32>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        if !(1..=Self::MAX_PAGE).contains(&page) {
            errors.push(FieldError::new("page", "out_of_range", "must be between 1 and 1000000"));
        } else if (1..=Self::MAX_LIMIT).contains(&limit)
            && u64::from(page - 1) * u64::from(limit) >= Self::MAX_DEPTH
        {
            errors.push(FieldError::new(
                "page",
                "page_too_deep",
                "only the first 10000 items of a list can be paged through; narrow the filter",
            ));
        }
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new("limit", "out_of_range", "must be between 1 and 100"));
        }
        errors.into_result(|| Self { page, limit })
    }

    pub fn page(&self) -> u32 {
        self.page
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// How many items come before this page.
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.limit)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDirection {
    #[default]
    Ascending,
    Descending,
}

/// One page of a list and how many items the whole list holds, counted up to
/// [`Page::COUNT_CAP`] + 1: a store stops counting there, so that a total never
/// costs a scan of a million rows, and a total over the cap means "more than
/// the cap" ([`Page::total_capped`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

impl<T> Page<T> {
    /// Where totals stop counting.
    pub const COUNT_CAP: u64 = PageRequest::MAX_DEPTH;
    /// What a store counts up to: one past the cap, so that it can tell
    /// "exactly the cap" from "more".
    pub const COUNT_UP_TO: u64 = Self::COUNT_CAP + 1;

    /// Whether the list holds more than [`Page::COUNT_CAP`] items.
    pub fn total_capped(&self) -> bool {
        shown_total(self.total).1
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), total: self.total }
    }
}

/// A store's total, counted up to [`Page::COUNT_UP_TO`], as shown: at most
/// [`Page::COUNT_CAP`], and whether the list holds more.
pub fn shown_total(counted: u64) -> (u64, bool) {
    let cap = Page::<()>::COUNT_CAP;
    (counted.min(cap), counted > cap)
}

/// How many pages a list of `total` items fills at `limit` items a page.
pub fn total_pages(total: u64, limit: u32) -> u64 {
    total.div_ceil(u64::from(limit.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_first_page_of_twenty() {
        let p = PageRequest::new(None, None).unwrap();
        assert_eq!((p.page(), p.limit(), p.offset()), (1, 20, 0));
    }

    #[test]
    fn offset_counts_items_on_earlier_pages() {
        assert_eq!(PageRequest::new(Some(3), Some(25)).unwrap().offset(), 50);
    }

    #[test]
    fn page_zero_and_limits_outside_one_to_hundred_are_refused_together() {
        let err = PageRequest::new(Some(0), Some(1000)).unwrap_err();
        let fields: Vec<_> = err.errors().iter().map(|e| e.field.as_ref()).collect();
        assert_eq!(fields, ["page", "limit"]);
        assert!(PageRequest::new(Some(1), Some(0)).is_err());
        assert!(PageRequest::new(Some(1), Some(100)).is_ok());
        assert!(PageRequest::new(Some(1_000_001), None).is_err());
    }

    #[test]
    fn a_page_starting_past_the_first_ten_thousand_items_is_too_deep() {
        assert!(PageRequest::new(Some(500), Some(20)).is_ok(), "items 9,981 to 10,000");
        assert!(PageRequest::new(Some(100), Some(100)).is_ok());
        for (page, limit) in [(501, 20), (101, 100), (10_001, 1), (1_000_000, 100)] {
            let err = PageRequest::new(Some(page), Some(limit)).unwrap_err();
            assert_eq!(err.errors()[0].code, "page_too_deep", "page {page} of {limit}");
        }
    }

    #[test]
    fn a_total_over_the_cap_is_shown_as_the_cap_and_flagged() {
        let page = |total| Page::<()> { items: vec![], total };
        assert!(!page(10_000).total_capped());
        assert_eq!(shown_total(10_000), (10_000, false));
        assert!(page(10_001).total_capped());
        assert_eq!(shown_total(10_001), (10_000, true));
    }

    #[test]
    fn total_pages_rounds_up() {
        assert_eq!(total_pages(0, 20), 0);
        assert_eq!(total_pages(20, 20), 1);
        assert_eq!(total_pages(21, 20), 2);
    }
}
