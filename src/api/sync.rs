//! CRM sync (PRODUCT.md, "Deleting and merging"): `deleteRecords` and `mergeAccounts`. Each is
//! one atomic batch, applied in order, audited, alone among writers (see `ingest::removal`).
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::api::accounts::AccountInput;
use crate::api::adoption::UsageInput;
use crate::api::engagement::{AdvocacyInput, TouchpointInput};
use crate::api::product::{FeatureRequestInput, TrafficInput};
use crate::api::revenue::{CostInput, SubscriptionInput};
use crate::api::support::TicketInput;
use crate::api::voice::FeedbackInput;
use crate::auth::Role;
use crate::base::calendar::first_day_of_month;
use crate::base::db::WriteAccess;
use crate::base::error::AppResult;
use crate::base::scalars::Date;
use crate::ingest::{
    AccountRecord, Batch, Failure, Part, RowCheck, hidden_accounts, resolve_account, retrying, usage_key,
};
use entity::{advocacy, cost, feature_request, feedback, subscription, ticket, touchpoint, traffic, usage_record};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    Account,
    Subscription,
    Feedback,
    Ticket,
    Usage,
    Touchpoint,
    Cost,
    Advocacy,
    FeatureRequest,
    Traffic,
    ExchangeRate,
}

/// The key fields of a row of each kind (PRODUCT.md): by externalId, but usage (account and
/// day), traffic (a day of its month) and exchange rates (currency and day).
const BY_EXTERNAL_ID: &[&str] = &["externalId"];
const USAGE_KEY: &[&str] = &["accountExternalId", "date"];
const TRAFFIC_KEY: &[&str] = &["date"];
const RATE_KEY: &[&str] = &["currency", "date"];

impl RecordKind {
    fn key_fields(self) -> &'static [&'static str] {
        match self {
            RecordKind::Usage => USAGE_KEY,
            RecordKind::Traffic => TRAFFIC_KEY,
            RecordKind::ExchangeRate => RATE_KEY,
            _ => BY_EXTERNAL_ID,
        }
    }

    /// Who may delete records of the kind: who may write them.
    fn writers(self) -> &'static [Role] {
        match self {
            RecordKind::Account => AccountInput::WRITERS,
            RecordKind::Subscription => SubscriptionInput::WRITERS,
            RecordKind::Feedback => FeedbackInput::WRITERS,
            RecordKind::Ticket => TicketInput::WRITERS,
            RecordKind::Usage => UsageInput::WRITERS,
            RecordKind::Touchpoint => TouchpointInput::WRITERS,
            RecordKind::Cost | RecordKind::ExchangeRate => CostInput::WRITERS,
            RecordKind::Advocacy => AdvocacyInput::WRITERS,
            RecordKind::FeatureRequest => FeatureRequestInput::WRITERS,
            RecordKind::Traffic => TrafficInput::WRITERS,
        }
    }
}

#[derive(InputObject)]
pub struct DeleteInput {
    pub kind: RecordKind,
    /// The record's externalId (every kind but USAGE and TRAFFIC).
    pub external_id: Option<String>,
    /// USAGE: the account.
    pub account_external_id: Option<String>,
    /// USAGE: the day; TRAFFIC: any day of the month; EXCHANGE_RATE: the rate's date.
    pub date: Option<Date>,
    /// EXCHANGE_RATE: the currency.
    pub currency: Option<String>,
}

impl DeleteInput {
    /// The fields the row gives, by name.
    fn given(&self) -> [(&'static str, bool); 4] {
        [
            ("externalId", self.external_id.is_some()),
            ("accountExternalId", self.account_external_id.is_some()),
            ("date", self.date.is_some()),
            ("currency", self.currency.is_some()),
        ]
    }
}

#[derive(SimpleObject, Clone, Copy, Debug, Default)]
pub struct DeleteResult {
    /// Records named in the input that existed and were deleted.
    pub deleted: i32,
    /// Records named in the input that did not exist: nothing to do (a retried delete).
    pub missing: i32,
    /// Records deleted with an account they belonged to.
    pub cascaded: i32,
}

#[derive(InputObject)]
pub struct MergeInput {
    /// The account that remains (an alias resolves to its account).
    pub into_external_id: String,
    /// The account whose records move to `into` and which then ceases to exist.
    pub from_external_id: String,
}

#[derive(SimpleObject, Clone, Copy, Debug, Default)]
pub struct MergeResult {
    pub merged: i32,
    pub records_moved: i32,
}

#[derive(Default)]
pub struct SyncMutation;

#[Object]
impl SyncMutation {
    /// Atomic, at most 5000 rows, applied in order; a record that does not exist counts as missing (PRODUCT.md, Deleting and merging).
    async fn delete_records(&self, ctx: &Context<'_>, input: Vec<DeleteInput>) -> async_graphql::Result<DeleteResult> {
        let mut kinds: Vec<RecordKind> = Vec::new();
        for d in &input {
            if !kinds.contains(&d.kind) {
                kinds.push(d.kind);
            }
        }
        let writes: Vec<(&[Role], &str)> = kinds.iter().map(|k| (k.writers(), "delete these records")).collect();
        retrying(ctx, || async {
            let mut batch = Batch::begin(ctx, "deleteRecords", &writes, input.len(), WriteAccess::Exclusive).await?;
            let mut result = DeleteResult::default();
            for (row, d) in input.iter().enumerate() {
                delete_row(&mut batch, row, d, &mut result).await?;
            }
            batch.commit().await?;
            Ok::<_, Failure>(result)
        })
        .await
    }

    /// INTEGRATION and ADMIN. Atomic; every record of `from` moves to `into`, and `from` becomes an alias of `into`.
    async fn merge_accounts(&self, ctx: &Context<'_>, input: Vec<MergeInput>) -> async_graphql::Result<MergeResult> {
        retrying(ctx, || async {
            let writes: [(&[Role], &str); 1] = [(AccountInput::WRITERS, "merge accounts")];
            let mut batch = Batch::begin(ctx, "mergeAccounts", &writes, input.len(), WriteAccess::Exclusive).await?;
            let mut result = MergeResult::default();
            for (row, m) in input.iter().enumerate() {
                merge_row(&mut batch, row, m, &mut result).await?;
            }
            batch.commit().await?;
            Ok::<_, Failure>(result)
        })
        .await
    }
}

/// Checks that a row gives exactly its kind's key fields, each not empty.
fn check_keys(check: &mut RowCheck<'_>, d: &DeleteInput) {
    let wanted = d.kind.key_fields();
    for (field, given) in d.given() {
        match (wanted.contains(&field), given) {
            (true, false) => check.fail(field, "is required to delete a record of this kind"),
            (false, true) => check.fail(field, format!("is not a key of this kind: give {} only", wanted.join(", "))),
            _ => {}
        }
    }
    for (field, value) in [("externalId", &d.external_id), ("accountExternalId", &d.account_external_id)] {
        if let Some(value) = value {
            check.key(field, value);
        }
    }
    if let Some(currency) = &d.currency {
        let iso = currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase());
        if !iso {
            check.fail("currency", "must be an ISO 4217 code such as EUR");
        }
    }
}

/// Deletes the record row `row` names, counting it deleted or missing (and what went with it).
async fn delete_row(batch: &mut Batch<'_>, row: usize, d: &DeleteInput, result: &mut DeleteResult) -> AppResult<()> {
    let mut check = batch.row(row);
    check_keys(&mut check, d);
    if !check.ok() {
        return Ok(());
    }
    let key = d.external_id.clone().unwrap_or_default();
    let deleted = match d.kind {
        RecordKind::Account => match resolve_account(batch.txn(), &key).await? {
            Some(found) => {
                result.cascaded += batch.delete_account(&found.account).await?;
                true
            }
            None => false,
        },
        RecordKind::Subscription => match visible::<subscription::Model>(batch, row, &key).await? {
            Visible::Found(s) => batch.delete_subscription(&s).await.map(|()| true)?,
            Visible::Missing => false,
            Visible::Hidden => return Ok(()),
        },
        RecordKind::Feedback => delete_visible::<feedback::Model>(batch, row, &key).await?,
        RecordKind::Ticket => delete_visible::<ticket::Model>(batch, row, &key).await?,
        RecordKind::Touchpoint => delete_visible::<touchpoint::Model>(batch, row, &key).await?,
        RecordKind::Advocacy => delete_visible::<advocacy::Model>(batch, row, &key).await?,
        RecordKind::FeatureRequest => delete_visible::<feature_request::Model>(batch, row, &key).await?,
        RecordKind::Cost => {
            let found = cost::Entity::find().filter(cost::Column::ExternalId.eq(&key)).one(batch.txn()).await?;
            match found {
                Some(c) => batch.delete_record(&key, &c).await.map(|()| true)?,
                None => false,
            }
        }
        RecordKind::Usage => {
            let account_key = d.account_external_id.clone().unwrap_or_default();
            let date = d.date.map(|d| d.0).unwrap_or_default();
            let accounts = batch.accounts([account_key.clone()]).await?;
            let found = match accounts.get(&account_key) {
                Some(account) => {
                    usage_record::Entity::find()
                        .filter(usage_record::Column::AccountId.eq(account.id))
                        .filter(usage_record::Column::Date.eq(date))
                        .one(batch.txn())
                        .await?
                }
                None => None,
            };
            match found {
                Some(u) => batch.delete_record(&usage_key(&account_key, date), &u).await.map(|()| true)?,
                None => false,
            }
        }
        RecordKind::Traffic => {
            let month = first_day_of_month(d.date.map(|d| d.0).unwrap_or_default());
            let found = traffic::Entity::find().filter(traffic::Column::Month.eq(month)).one(batch.txn()).await?;
            match found {
                Some(t) => batch.delete_record(&month.to_string(), &t).await.map(|()| true)?,
                None => false,
            }
        }
        // This service keeps no exchange rates yet (one currency): none exists to delete.
        RecordKind::ExchangeRate => false,
    };
    if deleted {
        result.deleted += 1;
    } else {
        result.missing += 1;
    }
    Ok(())
}

/// A record named by its externalId, as the caller may see it.
enum Visible<R> {
    Found(R),
    Missing,
    /// Of an account the caller may not write: `NOT_FOUND` at the row.
    Hidden,
}

async fn visible<R: AccountRecord>(batch: &mut Batch<'_>, row: usize, key: &str) -> AppResult<Visible<R>> {
    let found = R::Entity::find().filter(R::external_id_column().eq(key)).one(batch.txn()).await?;
    let Some(record) = found else { return Ok(Visible::Missing) };
    if hidden_accounts(batch.txn(), batch.visibility, [record.account_id()]).await?.is_empty() {
        return Ok(Visible::Found(record));
    }
    batch.row(row).not_found("externalId", "no such record among the accounts you may write");
    Ok(Visible::Hidden)
}

/// Deletes the visible record `key` of kind `R`; whether it existed.
async fn delete_visible<R: AccountRecord>(batch: &mut Batch<'_>, row: usize, key: &str) -> AppResult<bool> {
    match visible::<R>(batch, row, key).await? {
        Visible::Found(record) => batch.delete_record(key, &record).await.map(|()| true),
        Visible::Missing | Visible::Hidden => Ok(false),
    }
}

/// Merges the accounts row `row` names.
async fn merge_row(batch: &mut Batch<'_>, row: usize, m: &MergeInput, result: &mut MergeResult) -> AppResult<()> {
    let mut check = batch.row(row);
    check.key("intoExternalId", &m.into_external_id);
    check.key("fromExternalId", &m.from_external_id);
    if !check.ok() {
        return Ok(());
    }
    let from = resolve_account(batch.txn(), &m.from_external_id).await?;
    let into = resolve_account(batch.txn(), &m.into_external_id).await?;
    let mut check = batch.row(row);
    let (from, into) = match (from, into) {
        (Some(from), Some(into)) if !from.by_alias && from.account.id != into.account.id => {
            (from.account, into.account)
        }
        (None, _) => {
            check.fail("fromExternalId", format!("unknown account {:?}", m.from_external_id));
            return Ok(());
        }
        (Some(from), _) if from.by_alias => {
            check.fail("fromExternalId", format!("is an alias of {:?}, merged already", from.account.external_id));
            return Ok(());
        }
        (_, None) => {
            check.fail("intoExternalId", format!("unknown account {:?}", m.into_external_id));
            return Ok(());
        }
        (Some(_), Some(_)) => {
            check.fail("intoExternalId", "an account cannot be merged into itself (or its alias)");
            return Ok(());
        }
    };
    result.records_moved += batch.merge_account(&from, &into).await?;
    result.merged += 1;
    Ok(())
}
