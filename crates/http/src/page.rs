//! What every list answers: one page of items and where it lies in the list.

use serde::Serialize;
use tozalash_domain::page::{shown_total, total_pages};
use tozalash_domain::PageRequest;
use utoipa::ToSchema;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageView<T> {
    /// The items of this page.
    #[schema(max_items = 100)]
    data: Vec<T>,
    meta: PageMeta,
}

/// Where a page lies in its list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"page": 1, "limit": 20, "total": 42, "totalPages": 3, "totalCapped": false}))]
pub struct PageMeta {
    #[schema(minimum = 1, maximum = 1_000_000)]
    page: u32,
    #[schema(minimum = 1, maximum = 100)]
    limit: u32,
    /// How many items the whole list holds, counted up to 10,000: a longer
    /// list shows 10,000 here and `totalCapped: true`.
    #[schema(minimum = 0, maximum = 10_000)]
    total: u64,
    /// The pages `total` fills (at most 10,000 items' worth).
    #[schema(minimum = 0)]
    total_pages: u64,
    /// Whether the list holds more than `total` items: counting stops at 10,000,
    /// and no page past the first 10,000 items is served (`page_too_deep`).
    total_capped: bool,
}

impl<T> PageView<T> {
    /// `data` is the page's items, already turned into views; `counted` the
    /// store's total, counted up to [`tozalash_domain::Page::COUNT_UP_TO`].
    pub fn new(data: Vec<T>, counted: u64, request: PageRequest) -> Self {
        let (total, total_capped) = shown_total(counted);
        Self {
            data,
            meta: PageMeta {
                page: request.page(),
                limit: request.limit(),
                total,
                total_pages: total_pages(total, request.limit()),
                total_capped,
            },
        }
    }
}
