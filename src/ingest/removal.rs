//! Deleting records and merging accounts inside a batch (PRODUCT.md, "Deleting and merging"):
//! every removal is audited (the record before, nothing after), followed by the ledger, and
//! clears the references to what it removes, each cleared reference audited too. A batch that
//! deletes or merges runs alone ([`WriteAccess::Exclusive`](crate::base::db::WriteAccess)):
//! the per-statement reference checks of bulk records assume no account disappears while a
//! batch writes beside it.
use std::collections::HashMap;

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};

use super::{Batch, Record};
use crate::base::error::AppResult;
use crate::base::sql::Sql;
use entity::{
    account, account_alias, advocacy, feature_request, feedback, subscription, ticket, touchpoint, usage_record,
};

/// The audit log's name of the alias table.
const ALIASES: &str = "account_aliases";

/// The natural key of a usage record in the audit log: `ACCOUNT@DATE`.
pub fn usage_key(account_external_id: &str, date: chrono::NaiveDate) -> String {
    format!("{account_external_id}@{date}")
}

/// An account found by an externalId that may be an alias.
pub struct Resolved {
    pub account: account::Model,
    /// The externalId was an alias of the account.
    pub by_alias: bool,
}

/// The account `external_id` names: its own, or the one it is an alias of.
pub async fn resolve_account(txn: &impl ConnectionTrait, external_id: &str) -> AppResult<Option<Resolved>> {
    let own = account::Entity::find().filter(account::Column::ExternalId.eq(external_id)).one(txn).await?;
    if let Some(account) = own {
        return Ok(Some(Resolved { account, by_alias: false }));
    }
    let Some(alias) = account_alias::Entity::find_by_id(external_id.to_owned()).one(txn).await? else {
        return Ok(None);
    };
    let account = account::Entity::find_by_id(alias.account_id).one(txn).await?;
    Ok(account.map(|account| Resolved { account, by_alias: true }))
}

/// Which of `external_ids` are aliases, with the externalId of the account each names.
pub async fn aliases_of(
    txn: &impl ConnectionTrait,
    external_ids: impl IntoIterator<Item = String>,
) -> AppResult<HashMap<String, String>> {
    let keys: Vec<String> = external_ids.into_iter().collect();
    let mut out = HashMap::new();
    for chunk in keys.chunks(500) {
        let aliases = account_alias::Entity::find()
            .filter(account_alias::Column::ExternalId.is_in(chunk.to_vec()))
            .all(txn)
            .await?;
        let ids: Vec<i64> = aliases.iter().map(|a| a.account_id).collect();
        let names: HashMap<i64, String> = account::Entity::find()
            .filter(account::Column::Id.is_in(ids))
            .all(txn)
            .await?
            .into_iter()
            .map(|a| (a.id, a.external_id))
            .collect();
        out.extend(aliases.into_iter().filter_map(|a| Some((a.external_id, names.get(&a.account_id)?.clone()))));
    }
    Ok(out)
}

/// What a merge moved: the records counted in `recordsMoved`.
pub type Moved = i32;

impl Batch<'_> {
    /// Deletes `record` (keyed `key` in the audit log): audited, followed by the ledger, a
    /// feedback comment erased from the audit log when the batch commits.
    pub async fn delete_record<R: Record>(&mut self, key: &str, record: &R) -> AppResult<()> {
        self.delete_records(&[(key.to_owned(), record.clone())]).await
    }

    /// Deletes `records` (each with its key in the audit log) in statements of up to 500.
    async fn delete_records<R: Record>(&mut self, records: &[(String, R)]) -> AppResult<()> {
        for chunk in records.chunks(500) {
            let mut delete = Sql::new(self.txn.get_database_backend());
            delete.push(&format!("DELETE FROM {} WHERE id IN (", R::table()));
            for (i, (_, record)) in chunk.iter().enumerate() {
                delete.push(if i == 0 { "" } else { ", " }).bind(record.id());
            }
            delete.push(")");
            self.txn.execute_raw(delete.statement()).await?;
        }
        for (key, record) in records {
            R::follow(Some(record), record, &mut self.ledger);
            self.audit.deleted(key, record)?;
            if R::table() == <feedback::Model as Record>::table() {
                self.erased.push(key.clone());
            }
        }
        *self.outcomes.entry((R::table(), "deleted")).or_default() += records.len() as u64;
        Ok(())
    }

    /// Deletes a subscription, and clears the renewals of it (the subscriptions that renewed it
    /// no longer renew anything).
    pub async fn delete_subscription(&mut self, record: &subscription::Model) -> AppResult<()> {
        let renewals =
            subscription::Entity::find().filter(subscription::Column::RenewsId.eq(record.id)).all(&self.txn).await?;
        for renewal in renewals {
            let cleared = subscription::Model { renews_id: None, ..renewal.clone() };
            self.rewrite(&renewal.external_id, &renewal, cleared).await?;
        }
        self.delete_record(&record.external_id, record).await
    }

    /// Deletes an account with every record of it, its aliases and the referrals it made (the
    /// accounts it referred have no referrer any more); the number of records deleted with it.
    pub async fn delete_account(&mut self, record: &account::Model) -> AppResult<i32> {
        let mut cascaded = 0;
        let id = record.id;
        let subscriptions =
            subscription::Entity::find().filter(subscription::Column::AccountId.eq(id)).all(&self.txn).await?;
        for s in &subscriptions {
            self.delete_subscription(s).await?;
        }
        cascaded += subscriptions.len() as i32;
        macro_rules! cascade {
            ($($module:ident),+) => {$(
                let records = $module::Entity::find().filter($module::Column::AccountId.eq(id)).all(&self.txn).await?;
                let keyed: Vec<_> = records.into_iter().map(|r| (r.external_id.clone(), r)).collect();
                self.delete_records(&keyed).await?;
                cascaded += keyed.len() as i32;
            )+};
        }
        cascade!(feedback, ticket, touchpoint, advocacy, feature_request);
        let usage = usage_record::Entity::find().filter(usage_record::Column::AccountId.eq(id)).all(&self.txn).await?;
        let keyed: Vec<_> = usage.into_iter().map(|u| (usage_key(&record.external_id, u.date), u)).collect();
        self.delete_records(&keyed).await?;
        cascaded += keyed.len() as i32;
        for referred in account::Entity::find().filter(account::Column::ReferredById.eq(id)).all(&self.txn).await? {
            let cleared = account::Model { referred_by_id: None, ..referred.clone() };
            self.rewrite(&referred.external_id, &referred, cleared).await?;
        }
        for alias in
            account_alias::Entity::find().filter(account_alias::Column::AccountId.eq(id)).all(&self.txn).await?
        {
            account_alias::Entity::delete_by_id(alias.external_id.clone()).exec(&self.txn).await?;
            self.audit.change(ALIASES, &alias.external_id, Some(&alias), None)?;
        }
        self.delete_record(&record.external_id, record).await?;
        self.ledger.account_deleted(record);
        self.accounts.remove(&record.external_id);
        Ok(cascaded)
    }

    /// Merges `from` into `into`: every record of `from` moves to `into` (a usage record of a
    /// day `into` has already is dropped), the accounts `from` referred are referred by `into`
    /// (`into` itself by nobody), then `from` is deleted and its externalId (and every alias of
    /// it) becomes an alias of `into`. The records moved.
    pub async fn merge_account(&mut self, from: &account::Model, into: &account::Model) -> AppResult<Moved> {
        let mut moved = 0;
        macro_rules! move_records {
            ($($module:ident),+) => {$(
                let records =
                    $module::Entity::find().filter($module::Column::AccountId.eq(from.id)).all(&self.txn).await?;
                for r in records {
                    let key = r.external_id.clone();
                    self.rewrite(&key, &r, $module::Model { account_id: into.id, ..r.clone() }).await?;
                    moved += 1;
                }
            )+};
        }
        move_records!(subscription, feedback, ticket, touchpoint, advocacy, feature_request);
        let usage =
            usage_record::Entity::find().filter(usage_record::Column::AccountId.eq(from.id)).all(&self.txn).await?;
        let taken: Vec<chrono::NaiveDate> = usage_record::Entity::find()
            .filter(usage_record::Column::AccountId.eq(into.id))
            .all(&self.txn)
            .await?
            .into_iter()
            .map(|u| u.date)
            .collect();
        for u in usage {
            if taken.contains(&u.date) {
                self.delete_record(&usage_key(&from.external_id, u.date), &u).await?;
            } else {
                let key = usage_key(&into.external_id, u.date);
                self.rewrite(&key, &u, usage_record::Model { account_id: into.id, ..u.clone() }).await?;
                moved += 1;
            }
        }
        for referred in account::Entity::find().filter(account::Column::ReferredById.eq(from.id)).all(&self.txn).await?
        {
            let referrer = (referred.id != into.id).then_some(into.id);
            let rewired = account::Model { referred_by_id: referrer, ..referred.clone() };
            self.rewrite(&referred.external_id, &referred, rewired).await?;
        }
        let aliases =
            account_alias::Entity::find().filter(account_alias::Column::AccountId.eq(from.id)).all(&self.txn).await?;
        for alias in aliases {
            let repointed = account_alias::Model { account_id: into.id, ..alias.clone() };
            let mut active = alias.clone().into_active_model();
            active.account_id = Set(into.id);
            active.update(&self.txn).await?;
            self.audit.change(ALIASES, &alias.external_id, Some(&alias), Some(&repointed))?;
        }
        self.delete_account(from).await?;
        let alias = account_alias::Model { external_id: from.external_id.clone(), account_id: into.id };
        account_alias::Entity::insert(alias.clone().into_active_model()).exec(&self.txn).await?;
        self.audit.change(ALIASES, &alias.external_id, None, Some(&alias))?;
        Ok(moved)
    }

    /// Writes `after` over `before` (the same record, a reference or owner changed), audited
    /// and followed by the ledger.
    async fn rewrite<R: Record>(&mut self, key: &str, before: &R, after: R) -> AppResult<()> {
        self.upsert(key, Some(before), after).await.map(drop)
    }
}
