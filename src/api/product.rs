//! Product: feature requests from accounts, and website traffic for the product-led funnel.
use std::collections::HashMap;

use async_graphql::{Context, InputObject, Object};

use crate::api::voice::ACCOUNT_ACTIVITY_WRITERS;
use crate::auth::Role;
use crate::auth::scope::Scope;
use crate::base::calendar::first_day_of_month;
use crate::base::db_enum::db_enum;
use crate::base::error::AppError;
use crate::base::scalars::{Date, DateTime};
use crate::ingest::{
    AccountRecordInput, AccountRef, Batch, Part, RowCheck, UpsertResult, Writing, account_record_part, fetch_to_change,
    record_keys, write_alone,
};
use crate::kpis::scope::KpiScope;
use entity::{feature_request, traffic};

db_enum!(
    FeatureRequestStatus {
        Open => "OPEN",
        Planned => "PLANNED",
        Shipped => "SHIPPED",
        Declined => "DECLINED",
    }
);

#[derive(InputObject)]
pub struct FeatureRequestInput {
    pub external_id: String,
    pub account_external_id: String,
    pub title: String,
    pub status: FeatureRequestStatus,
    pub requested_at: DateTime,
    pub shipped_at: Option<DateTime>,
}

record_keys!(FeatureRequestInput);

impl AccountRecordInput for FeatureRequestInput {
    type Record = feature_request::Model;
    type Extra = ();

    fn build(
        &self,
        check: &mut RowCheck<'_>,
        account: AccountRef,
        _known: &HashMap<String, feature_request::Model>,
        _extra: &(),
    ) -> feature_request::Model {
        check.key("title", &self.title);
        check.not_before("shippedAt", self.shipped_at, self.requested_at, "requestedAt");
        feature_request::Model {
            id: 0,
            external_id: self.external_id.clone(),
            account_id: account.id,
            title: self.title.clone(),
            status: self.status.as_db().to_owned(),
            requested_at: self.requested_at.0,
            shipped_at: self.shipped_at.map(|d| d.0),
        }
    }
}

/// Keyed by month.
#[derive(InputObject)]
pub struct TrafficInput {
    /// Any day of the month.
    pub month: Date,
    pub visitors: i32,
}

#[derive(Default)]
pub struct ProductMutation;

#[Object]
impl ProductMutation {
    async fn record_feature_requests(
        &self,
        ctx: &Context<'_>,
        input: Vec<FeatureRequestInput>,
    ) -> async_graphql::Result<UpsertResult> {
        write_alone(ctx, &input).await
    }

    /// Website visitors per month, for the product-led funnel. Keyed by month.
    async fn record_traffic(&self, ctx: &Context<'_>, input: Vec<TrafficInput>) -> async_graphql::Result<UpsertResult> {
        write_alone(ctx, &input).await
    }
}

#[derive(async_graphql::SimpleObject, Clone, Debug)]
pub struct FeatureRequestSummary {
    pub title: String,
    pub accounts: i32,
    pub mrr_at_stake: crate::base::scalars::Decimal,
    pub open: i32,
    pub shipped: i32,
}

/// The most groups `featureRequests` returns.
pub const MAX_REQUEST_GROUPS: i32 = 100;

#[derive(Default)]
pub struct ProductQuery;

#[Object]
impl ProductQuery {
    /// Feature requests of visible accounts requested in the period, grouped by title, most MRR at stake first.
    #[graphql(complexity = "crate::api::cost::REPORT + crate::api::cost::page(first, child_complexity)")]
    async fn feature_requests(
        &self,
        ctx: &Context<'_>,
        period: crate::kpis::PeriodInput,
        scope: Option<crate::kpis::ScopeInput>,
        #[graphql(default = 20)] first: Option<i32>,
    ) -> async_graphql::Result<Vec<FeatureRequestSummary>> {
        let first = first.unwrap_or(20);
        if !(1..=MAX_REQUEST_GROUPS).contains(&first) {
            return Err(
                AppError::invalid(None, "first", format!("first must be between 1 and {MAX_REQUEST_GROUPS}")).into()
            );
        }
        let periods = crate::kpis::period::periods(&period)?;
        let scope = KpiScope::resolve(&Scope::for_reads(ctx)?, scope, None).await?;
        let (start, end) = (periods[0].start(), periods[periods.len() - 1].end());
        let groups = crate::kpis::requests::ranked(&scope, start, end, first as usize).await?;
        Ok(groups
            .into_iter()
            .map(|g| FeatureRequestSummary {
                title: g.title,
                accounts: g.accounts as i32,
                mrr_at_stake: crate::base::scalars::Decimal(g.mrr_at_stake),
                open: g.open as i32,
                shipped: g.shipped as i32,
            })
            .collect())
    }
}

account_record_part!(FeatureRequestInput => "recordFeatureRequests", ACCOUNT_ACTIVITY_WRITERS);

impl Part for TrafficInput {
    const MUTATION: &'static str = "recordTraffic";
    const WRITERS: &'static [Role] = &[Role::Admin, Role::Integration];
    fn write<'b>(batch: &'b mut Batch<'_>, input: &'b [Self]) -> Writing<'b> {
        Box::pin(async move {
            let months = input.iter().map(|t| first_day_of_month(t.month.0));
            let mut existing = fetch_to_change::<traffic::Entity, chrono::NaiveDate>(
                batch.txn(),
                traffic::Column::Month,
                months,
                |t| t.month,
            )
            .await?;
            for (row, t) in input.iter().enumerate() {
                let mut check = batch.row(row);
                check.at_least("visitors", Some(t.visitors), 0);
                if !check.ok() {
                    continue;
                }
                let month = first_day_of_month(t.month.0);
                let model = traffic::Model { id: 0, month, visitors: t.visitors };
                let saved = batch.upsert(&month.to_string(), existing.get(&month), model).await?;
                existing.insert(month, saved);
            }
            Ok(())
        })
    }
}
