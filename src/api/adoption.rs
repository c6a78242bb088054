//! Adoption: daily product-usage records, keyed by account and date.
use std::collections::{HashMap, HashSet};

use async_graphql::{Context, InputObject, Object};
use chrono::NaiveDate;

use sea_orm::sea_query::LockType;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::auth::Role;
use crate::base::error::AppError;
use crate::base::scalars::Date;
use crate::ingest::{Batch, Part, UpsertResult, Writing, usage_key, write_alone};
use entity::usage_record;

/// Keyed by (accountExternalId, date).
#[derive(InputObject)]
pub struct UsageInput {
    pub account_external_id: String,
    pub date: Date,
    pub active_users: i32,
    pub licensed_seats: i32,
    pub logins: Option<i32>,
    pub session_minutes: Option<i32>,
    /// Distinct features used, and features the plan offers, as of that date.
    pub features_used: Option<i32>,
    pub features_available: Option<i32>,
}

#[derive(Default)]
pub struct AdoptionMutation;

#[Object]
impl AdoptionMutation {
    async fn record_usage(&self, ctx: &Context<'_>, input: Vec<UsageInput>) -> async_graphql::Result<UpsertResult> {
        write_alone(ctx, &input).await
    }
}

impl Part for UsageInput {
    const MUTATION: &'static str = "recordUsage";
    const WRITERS: &'static [Role] = &[Role::Admin, Role::Integration];
    fn write<'b>(batch: &'b mut Batch<'_>, input: &'b [Self]) -> Writing<'b> {
        Box::pin(async move {
            let accounts = batch.accounts(input.iter().map(|u| u.account_external_id.clone())).await?;
            // At most 5,000 accounts and 5,000 dates: one query within both backends' parameter limits.
            let account_ids: HashSet<i64> = accounts.values().map(|a| a.id).collect();
            let dates: HashSet<NaiveDate> = input.iter().map(|u| u.date.0).collect();
            // Locked as `ingest::fetch_to_change` locks the records it compares, in key order.
            let mut existing: HashMap<(i64, NaiveDate), usage_record::Model> = usage_record::Entity::find()
                .filter(usage_record::Column::AccountId.is_in(account_ids))
                .filter(usage_record::Column::Date.is_in(dates))
                .order_by_asc(usage_record::Column::AccountId)
                .order_by_asc(usage_record::Column::Date)
                .lock(LockType::NoKeyUpdate)
                .all(batch.txn())
                .await
                .map_err(AppError::from)?
                .into_iter()
                .map(|u| ((u.account_id, u.date), u))
                .collect();
            for (row, u) in input.iter().enumerate() {
                let mut check = batch.row(row);
                let account =
                    check.reference("accountExternalId", &u.account_external_id, &accounts, "account").copied();
                check.at_least("activeUsers", Some(u.active_users), 0);
                check.at_least("licensedSeats", Some(u.licensed_seats), 1);
                check.at_least("logins", u.logins, 0);
                check.at_least("sessionMinutes", u.session_minutes, 0);
                check.at_least("featuresUsed", u.features_used, 0);
                check.at_least("featuresAvailable", u.features_available, 1);
                let Some(account) = account.filter(|_| check.ok()) else { continue };
                let key = (account.id, u.date.0);
                let model = usage_record::Model {
                    id: 0,
                    account_id: account.id,
                    date: u.date.0,
                    active_users: u.active_users,
                    licensed_seats: u.licensed_seats,
                    logins: u.logins,
                    session_minutes: u.session_minutes,
                    features_used: u.features_used,
                    features_available: u.features_available,
                };
                let record_key = usage_key(&u.account_external_id, u.date.0);
                let saved = batch.upsert(&record_key, existing.get(&key), model).await?;
                existing.insert(key, saved);
            }
            Ok(())
        })
    }
}
