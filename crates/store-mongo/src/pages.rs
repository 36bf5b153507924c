//! One page of a collection and the number of documents matching in all: the
//! shape of every list the ports answer.

use std::time::Duration;

use futures::TryStreamExt;
use mongodb::bson::Document;
use mongodb::options::{CountOptions, FindOptions};
use mongodb::Collection;
use serde::de::DeserializeOwned;
use tozalash_domain::{Page, PageRequest, RepoError};

use crate::error::translate;

/// The bound on the reads whose cost grows with the data (the lists and
/// searches: a count and a find): MongoDB's `maxTimeMS`, from
/// `DB_STATEMENT_TIMEOUT_MS`. A read over it fails with `MaxTimeMSExpired`,
/// which is `Unavailable`. Reads of one document by a unique key, and writes
/// (which take no `maxTimeMS`), are not bounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ReadLimit(pub(crate) Option<Duration>);

impl ReadLimit {
    /// A count stops at [`Page::COUNT_UP_TO`]: no total scans more.
    fn count_options(self) -> CountOptions {
        CountOptions::builder().max_time(self.0).limit(Some(Page::<()>::COUNT_UP_TO)).build()
    }

    fn find_options(self, sort: Document, page: PageRequest) -> FindOptions {
        FindOptions::builder()
            .sort(sort)
            .skip(page.offset())
            .limit(i64::from(page.limit()))
            .max_time(self.0)
            .build()
    }
}

/// The documents matching `filter` in `sort` order, `page` of them, mapped to
/// domain values, with the total of matches. Count and find are independent
/// round trips, so they run at the same time, each within `limit`.
pub(crate) async fn page_of<D, T>(
    collection: &Collection<D>,
    filter: Document,
    sort: Document,
    page: PageRequest,
    limit: ReadLimit,
) -> Result<Page<T>, RepoError>
where
    D: DeserializeOwned + Send + Sync,
    T: TryFrom<D>,
    RepoError: From<T::Error>,
{
    let count = async {
        collection.count_documents(filter.clone()).with_options(limit.count_options()).await
    };
    let find = async {
        collection
            .find(filter.clone())
            .with_options(limit.find_options(sort, page))
            .await?
            .try_collect::<Vec<D>>()
            .await
    };
    let (total, docs) = futures::try_join!(count, find).map_err(translate)?;
    let items = docs.into_iter().map(T::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, total })
}

#[cfg(test)]
mod tests {
    use mongodb::bson::doc;

    use super::*;

    #[test]
    fn both_reads_of_a_page_carry_the_time_limit() {
        let limit = ReadLimit(Some(Duration::from_millis(1500)));
        let page = PageRequest::new(Some(2), Some(10)).expect("a valid page");
        let find = limit.find_options(doc! { "name": 1 }, page);
        assert_eq!(find.max_time, Some(Duration::from_millis(1500)));
        assert_eq!((find.skip, find.limit), (Some(10), Some(10)));
        assert_eq!(find.sort, Some(doc! { "name": 1 }));
        assert_eq!(limit.count_options().max_time, Some(Duration::from_millis(1500)));
        assert_eq!(limit.count_options().limit, Some(10_001), "totals stop counting past the cap");
        assert_eq!(ReadLimit(None).count_options().max_time, None);
    }
}
