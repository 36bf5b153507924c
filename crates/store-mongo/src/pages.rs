//! One page of a collection and the number of documents matching in all: the
//! shape of every list the ports answer.

use futures::TryStreamExt;
use mongodb::bson::Document;
use mongodb::Collection;
use serde::de::DeserializeOwned;
use tozalash_domain::{Page, PageRequest, RepoError};

use crate::error::translate;

/// The documents matching `filter` in `sort` order, `page` of them, mapped to
/// domain values, with the total of matches. Count and find are independent
/// round trips, so they run at the same time.
pub(crate) async fn page_of<D, T>(
    collection: &Collection<D>,
    filter: Document,
    sort: Document,
    page: PageRequest,
) -> Result<Page<T>, RepoError>
where
    D: DeserializeOwned + Send + Sync,
    T: TryFrom<D>,
    RepoError: From<T::Error>,
{
    let count = async { collection.count_documents(filter.clone()).await };
    let find = async {
        collection
            .find(filter.clone())
            .sort(sort)
            .skip(page.offset())
            .limit(i64::from(page.limit()))
            .await?
            .try_collect::<Vec<D>>()
            .await
    };
    let (total, docs) = futures::try_join!(count, find).map_err(translate)?;
    let items = docs.into_iter().map(T::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, total })
}
