//! Revenue and costs: subscriptions (the source of MRR) and monthly costs.
use std::collections::HashMap;

use async_graphql::{Context, ID, InputObject, Object};

use crate::auth::Role;
use crate::base::calendar::first_day_of_month;
use crate::base::db_enum::db_enum;
use crate::base::scalars::{Date, Decimal};
use crate::ingest::{
    AccountRecordInput, AccountRef, Batch, Part, RowCheck, UpsertResult, Writing, account_record_part, fetch_to_change,
    record_keys, write_alone,
};
use crate::kpis::loaders::loaders;
use entity::{cost, subscription};

pub struct Subscription(pub subscription::Model);

#[Object]
impl Subscription {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    async fn plan(&self) -> Option<&str> {
        self.0.plan.as_deref()
    }

    async fn mrr(&self) -> Decimal {
        self.0.mrr.into()
    }

    async fn start_date(&self) -> Date {
        Date(self.0.start_date)
    }

    async fn end_date(&self) -> Option<Date> {
        self.0.end_date.map(Date)
    }

    async fn renews_external_id(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let Some(renewed) = self.0.renews_id else { return Ok(None) };
        Ok(loaders(ctx)?.subscriptions_by_id.load_one(renewed).await?.map(|s| s.external_id))
    }
}

#[derive(InputObject)]
pub struct SubscriptionInput {
    pub external_id: String,
    pub account_external_id: String,
    pub plan: Option<String>,
    /// Monthly recurring revenue, >= 0.
    pub mrr: Decimal,
    pub start_date: Date,
    /// Exclusive; after startDate; null = open-ended.
    pub end_date: Option<Date>,
    /// The subscription this one renews.
    pub renews_external_id: Option<String>,
}

record_keys!(SubscriptionInput);

impl AccountRecordInput for SubscriptionInput {
    type Record = subscription::Model;
    type Extra = ();

    fn same_kind_reference(&self) -> Option<&str> {
        self.renews_external_id.as_deref()
    }

    fn build(
        &self,
        check: &mut RowCheck<'_>,
        account: AccountRef,
        known: &HashMap<String, subscription::Model>,
        _extra: &(),
    ) -> subscription::Model {
        check.text("plan", self.plan.as_deref());
        let mrr = check.money("mrr", self.mrr.0);
        if self.end_date.is_some_and(|end| end <= self.start_date) {
            check.fail("endDate", "must be after startDate");
        }
        if self.renews_external_id.as_deref() == Some(self.external_id.as_str()) {
            check.fail("renewsExternalId", "a subscription cannot renew itself");
        }
        let renews = check.opt_reference("renewsExternalId", self.renews_external_id.as_deref(), known, "subscription");
        subscription::Model {
            id: 0,
            external_id: self.external_id.clone(),
            account_id: account.id,
            plan: self.plan.clone(),
            mrr,
            start_date: self.start_date.0,
            end_date: self.end_date.map(|d| d.0),
            renews_id: renews.map(|r| r.id),
        }
    }
}

db_enum!(
    CostCategory {
        Acquisition => "ACQUISITION",
        CsSalaries => "CS_SALARIES",
        CsTraining => "CS_TRAINING",
        CsTools => "CS_TOOLS",
        CsPrograms => "CS_PROGRAMS",
    }
);

#[derive(InputObject)]
pub struct CostInput {
    pub external_id: String,
    /// Any day of the month the cost belongs to.
    pub month: Date,
    pub category: CostCategory,
    pub amount: Decimal,
}

#[derive(Default)]
pub struct RevenueMutation;

#[Object]
impl RevenueMutation {
    async fn upsert_subscriptions(
        &self,
        ctx: &Context<'_>,
        input: Vec<SubscriptionInput>,
    ) -> async_graphql::Result<UpsertResult> {
        write_alone(ctx, &input).await
    }

    async fn record_costs(&self, ctx: &Context<'_>, input: Vec<CostInput>) -> async_graphql::Result<UpsertResult> {
        write_alone(ctx, &input).await
    }
}

account_record_part!(SubscriptionInput => "upsertSubscriptions", &[Role::Admin, Role::Integration]);

impl Part for CostInput {
    const MUTATION: &'static str = "recordCosts";
    const WRITERS: &'static [Role] = &[Role::Admin, Role::Integration, Role::Finance];
    fn write<'b>(batch: &'b mut Batch<'_>, input: &'b [Self]) -> Writing<'b> {
        Box::pin(async move {
            let mut existing = fetch_to_change::<cost::Entity, String>(
                batch.txn(),
                cost::Column::ExternalId,
                input.iter().map(|c| c.external_id.clone()),
                |c| c.external_id.clone(),
            )
            .await?;
            for (row, c) in input.iter().enumerate() {
                let mut check = batch.row(row);
                check.key("externalId", &c.external_id);
                let amount = check.money("amount", c.amount.0);
                if !check.ok() {
                    continue;
                }
                let model = cost::Model {
                    id: 0,
                    external_id: c.external_id.clone(),
                    month: first_day_of_month(c.month.0),
                    category: c.category.as_db().to_owned(),
                    amount,
                };
                let saved = batch.upsert(&c.external_id, existing.get(&c.external_id), model).await?;
                existing.insert(saved.external_id.clone(), saved);
            }
            Ok(())
        })
    }
}
