//! The `secrets` collection: small named values every instance on one
//! database shares, as [`SecretStore`] (the development access-token key).
//!
//! `get_or_insert` is one `insertOne` whose `_id` is the name, then a read
//! back by `_id`: the `_id_` index lets exactly one insert of a name succeed,
//! every other one fails as a duplicate and reads the winner's value. Nothing
//! ever overwrites a stored value.

use async_trait::async_trait;
use mongodb::bson::doc;
use mongodb::Collection;
use serde::{Deserialize, Serialize};
use tozalash_domain::{RepoError, SecretStore};

use crate::error::translate;

pub(crate) const COLLECTION: &str = "secrets";

/// The stored shape of a secret.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SecretDoc {
    /// The secret's name (`jwt_key`).
    #[serde(rename = "_id")]
    name: String,
    value: String,
}

/// [`SecretStore`] on the `secrets` collection.
#[derive(Debug, Clone)]
pub(crate) struct MongoSecretStore {
    secrets: Collection<SecretDoc>,
}

impl MongoSecretStore {
    pub(crate) fn new(secrets: Collection<SecretDoc>) -> Self {
        Self { secrets }
    }
}

#[async_trait]
impl SecretStore for MongoSecretStore {
    async fn get_or_insert(&self, name: &str, value: &str) -> Result<String, RepoError> {
        let candidate = SecretDoc { name: name.to_owned(), value: value.to_owned() };
        match self.secrets.insert_one(candidate).await.map_err(translate) {
            // Another instance stored it first: its value is the one.
            Ok(_) | Err(RepoError::Duplicate(_)) => {}
            Err(err) => return Err(err),
        }
        let stored = self.secrets.find_one(doc! { "_id": name }).await.map_err(translate)?;
        stored.map(|s| s.value).ok_or_else(|| {
            RepoError::Failed(format!("the secret {name:?} vanished right after its insert").into())
        })
    }
}
