//! `renewals`: the subscriptions of visible accounts due in a range (KPIS.md, section 9; see
//! [`crate::kpis::due_renewals`]), cursor-paginated as `accounts`.
use async_graphql::{Context, Object, SimpleObject};
use chrono::Utc;

use super::accounts::{Account, MAX_PAGE, PageInfo};
use super::health::health_of;
use super::revenue::Subscription;
use crate::auth::scope::Scope;
use crate::base::error::{AppError, AppResult};
use crate::base::scalars::{Date, Decimal};
use crate::kpis::ScopeInput;
use crate::kpis::cohorts::cohort_months;
use crate::kpis::due_renewals::{DueRenewal, DueRenewals, RenewalCursor};
use crate::kpis::loaders::loaders;
use crate::kpis::scope::KpiScope;
use crate::metrics::health::HealthStatus;

pub struct Renewal {
    due: DueRenewal,
    account: entity::account::Model,
}

#[Object]
impl Renewal {
    async fn subscription(&self) -> Subscription {
        Subscription(self.due.subscription.clone())
    }

    async fn account(&self) -> Account {
        Account(self.account.clone())
    }

    async fn end_date(&self) -> Date {
        Date(self.due.end_date)
    }

    /// The subscription's MRR.
    async fn mrr(&self) -> Decimal {
        self.due.subscription.mrr.into()
    }

    /// Whether some subscription renews this one.
    async fn renewed(&self) -> bool {
        self.due.renewed
    }

    /// The account's health status today.
    async fn health_status(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<HealthStatus>> {
        Ok(health_of(ctx, self.account.id, Utc::now().date_naive()).await?.status)
    }
}

pub struct RenewalEdge(Renewal);

#[Object]
impl RenewalEdge {
    async fn node(&self) -> &Renewal {
        &self.0
    }

    async fn cursor(&self) -> String {
        RenewalCursor::of(&self.0.due).encode()
    }
}

#[derive(SimpleObject)]
pub struct RenewalConnection {
    edges: Vec<RenewalEdge>,
    page_info: PageInfo,
    total_count: i32,
    /// Sum of mrr over every renewal of the connection (all pages).
    total_mrr: Decimal,
}

#[derive(Default)]
pub struct RenewalQuery;

#[Object]
impl RenewalQuery {
    /// Subscriptions of visible accounts due in [from, to] (last active day endDate - 1 in it), by endDate then externalId (KPIS.md 9).
    #[graphql(complexity = "crate::api::cost::QUERY + crate::api::cost::page(first, child_complexity)")]
    async fn renewals(
        &self,
        ctx: &Context<'_>,
        from: Date,
        to: Date,
        scope: Option<ScopeInput>,
        #[graphql(default = 50)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<RenewalConnection> {
        Ok(renewals(ctx, from, to, scope, first.unwrap_or(50), after).await?)
    }
}

async fn renewals(
    ctx: &Context<'_>,
    from: Date,
    to: Date,
    scope: Option<ScopeInput>,
    first: i32,
    after: Option<String>,
) -> AppResult<RenewalConnection> {
    cohort_months(from, to)?;
    if !(0..=MAX_PAGE).contains(&first) {
        return Err(AppError::invalid(None, "first", format!("first must be between 0 and {MAX_PAGE}")));
    }
    let after = after.as_deref().map(RenewalCursor::decode).transpose()?;
    let scope = KpiScope::resolve(&Scope::for_reads(ctx)?, scope, None).await?;
    let due = DueRenewals::new(&scope, from.0, to.0)?;
    let mut page = due.page(after.as_ref(), first as u64 + 1).await?;
    let has_next_page = page.len() > first as usize;
    page.truncate(first as usize);
    let look = ctx.look_ahead();
    let (total_count, total_mrr) = match look.field("totalCount").exists() || look.field("totalMrr").exists() {
        true => due.totals().await?,
        false => Default::default(),
    };
    let accounts = loaders(ctx)?.accounts.load_many(page.iter().map(|r| r.subscription.account_id)).await?;
    let end_cursor = page.last().map(|r| RenewalCursor::of(r).encode());
    let edges = page
        .into_iter()
        .map(|due| {
            let account = accounts
                .get(&due.subscription.account_id)
                .cloned()
                .ok_or_else(|| AppError::internal("a renewal of an unknown account"))?;
            Ok(RenewalEdge(Renewal { due, account }))
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(RenewalConnection {
        edges,
        page_info: PageInfo { has_next_page, end_cursor },
        total_count: i32::try_from(total_count).unwrap_or(i32::MAX),
        total_mrr: Decimal(total_mrr),
    })
}
