//! Batch look-ups: each kind of reference a batch makes is fetched in one query per 500 keys,
//! then extended as rows of the batch write new records.
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hash;

use sea_orm::sea_query::LockType;
use sea_orm::sea_query::Value;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::auth::scope::Visibility;
use crate::base::error::AppResult;
use entity::{account, account_alias, team, user};

const CHUNK: usize = 500;

/// Fetches the rows of `E` whose `column` is one of `keys`, by that key, each locked until the
/// batch ends when `lock` says so (PostgreSQL; SQLite's writer is alone).
async fn fetch_map<E, K>(
    db: &impl ConnectionTrait,
    column: E::Column,
    keys: impl IntoIterator<Item = K>,
    key_of: impl Fn(&E::Model) -> K,
    lock: Option<LockType>,
) -> AppResult<HashMap<K, E::Model>>
where
    E: EntityTrait,
    K: Into<Value> + Ord + Hash + Clone,
{
    // In key order, so that two batches wanting the same rows lock them in the same order.
    let keys: Vec<K> = keys.into_iter().collect::<BTreeSet<K>>().into_iter().collect();
    let mut rows = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(CHUNK) {
        let mut query = E::find().filter(column.is_in(chunk.iter().cloned()));
        if let Some(lock) = lock {
            query = query.order_by_asc(column).lock(lock);
        }
        rows.extend(query.all(db).await?.into_iter().map(|m| (key_of(&m), m)));
    }
    Ok(rows)
}

/// The stored rows of `E` whose natural key `column` is one of `keys`, by that key, which the
/// batch compares with its input and may change: each is locked until the batch ends (`FOR NO
/// KEY UPDATE`, PostgreSQL), so that what the batch counts, audits as `before` and tells the
/// ledger it changed is what it overwrites, even with other batches writing beside it. A
/// concurrent batch creating the same key makes one of the two fail on the unique index, and
/// run again (see `ingest::retrying`).
pub async fn fetch_to_change<E, K>(
    db: &impl ConnectionTrait,
    column: E::Column,
    keys: impl IntoIterator<Item = K>,
    key_of: impl Fn(&E::Model) -> K,
) -> AppResult<HashMap<K, E::Model>>
where
    E: EntityTrait,
    K: Into<Value> + Ord + Hash + Clone,
{
    fetch_map::<E, K>(db, column, keys, key_of, Some(LockType::NoKeyUpdate)).await
}

/// An account a row refers to, as the caller may write it.
#[derive(Clone, Copy, Debug)]
pub struct AccountRef {
    pub id: i64,
    pub csm_id: Option<i64>,
}

/// Users and teams a batch refers to, by their natural keys (accounts: [`Batch::accounts`]).
///
/// [`Batch::accounts`]: super::Batch::accounts
#[derive(Default)]
pub struct Lookups {
    pub users: HashMap<String, user::Model>,
    pub teams: HashMap<String, team::Model>,
}

/// The accounts with these externalIds (or aliases, see `mergeAccounts`) that `visibility`
/// lets the caller write, by the externalId asked for.
pub(super) async fn fetch_accounts(
    db: &impl ConnectionTrait,
    visibility: Visibility,
    keys: &[String],
) -> AppResult<HashMap<String, AccountRef>> {
    let mut found = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(CHUNK) {
        let accounts = account::Entity::find()
            .filter(account::Column::ExternalId.is_in(chunk.iter().cloned()))
            .filter(visibility.accounts())
            .all(db)
            .await?;
        found.extend(accounts.into_iter().map(|a| (a.external_id, AccountRef { id: a.id, csm_id: a.csm_id })));
    }
    let unknown: Vec<String> = keys.iter().filter(|k| !found.contains_key(*k)).cloned().collect();
    for chunk in unknown.chunks(CHUNK) {
        let aliases = account_alias::Entity::find()
            .filter(account_alias::Column::ExternalId.is_in(chunk.to_vec()))
            .all(db)
            .await?;
        if aliases.is_empty() {
            continue;
        }
        let accounts: HashMap<i64, AccountRef> = account::Entity::find()
            .filter(account::Column::Id.is_in(aliases.iter().map(|a| a.account_id)))
            .filter(visibility.accounts())
            .all(db)
            .await?
            .into_iter()
            .map(|a| (a.id, AccountRef { id: a.id, csm_id: a.csm_id }))
            .collect();
        found.extend(aliases.into_iter().filter_map(|a| Some((a.external_id, *accounts.get(&a.account_id)?))));
    }
    Ok(found)
}

impl Lookups {
    pub async fn users(
        mut self,
        db: &impl ConnectionTrait,
        emails: impl IntoIterator<Item = String>,
    ) -> AppResult<Self> {
        self.users =
            fetch_map::<user::Entity, String>(db, user::Column::Email, emails, |u| u.email.clone(), None).await?;
        Ok(self)
    }

    pub async fn teams(
        mut self,
        db: &impl ConnectionTrait,
        names: impl IntoIterator<Item = String>,
    ) -> AppResult<Self> {
        self.teams = fetch_map::<team::Entity, String>(db, team::Column::Name, names, |t| t.name.clone(), None).await?;
        Ok(self)
    }
}

/// The ids among `account_ids` that the caller may not write (existing records of other books).
pub async fn hidden_accounts(
    db: &impl ConnectionTrait,
    visibility: Visibility,
    account_ids: impl IntoIterator<Item = i64>,
) -> AppResult<HashSet<i64>> {
    let ids: HashSet<i64> = account_ids.into_iter().collect();
    if visibility.sees_everything() || ids.is_empty() {
        return Ok(HashSet::new());
    }
    let mut visible = HashSet::new();
    let list: Vec<i64> = ids.iter().copied().collect();
    for chunk in list.chunks(CHUNK) {
        let rows: Vec<i64> = account::Entity::find()
            .select_only()
            .column(account::Column::Id)
            .filter(account::Column::Id.is_in(chunk.iter().copied()))
            .filter(visibility.accounts())
            .into_tuple()
            .all(db)
            .await?;
        visible.extend(rows);
    }
    Ok(ids.difference(&visible).copied().collect())
}
