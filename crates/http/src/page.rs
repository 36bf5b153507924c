//! What every list answers: one page of items and where it lies in the list.

use serde::Serialize;
use tozalash_domain::page::total_pages;
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
#[schema(example = json!({"page": 1, "limit": 20, "total": 42, "totalPages": 3}))]
pub struct PageMeta {
    #[schema(minimum = 1, maximum = 1_000_000)]
    page: u32,
    #[schema(minimum = 1, maximum = 100)]
    limit: u32,
    /// How many items the whole list holds.
    #[schema(minimum = 0)]
    total: u64,
    #[schema(minimum = 0)]
    total_pages: u64,
}

impl<T> PageView<T> {
    /// `data` is the page's items, already turned into views.
    pub fn new(data: Vec<T>, total: u64, request: PageRequest) -> Self {
        Self {
            data,
            meta: PageMeta {
                page: request.page(),
                limit: request.limit(),
                total,
                total_pages: total_pages(total, request.limit()),
            },
        }
    }
}
