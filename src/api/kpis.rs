//! `kpis`, `mrrMovements` and `metricCatalog`: the KPI reads of [`crate::kpis`] for the caller's scope.
use async_graphql::{Context, Object, SimpleObject};

use super::accounts::Account;
use super::health::request_model;
use crate::auth::scope::Scope;
use crate::base::calendar::month_start;
use crate::base::error::{AppError, AppResult};
use crate::base::scalars::{Date, Decimal};
use crate::kpis::activity::Activity;
use crate::kpis::loaders::loaders;
use crate::kpis::period::periods;
use crate::kpis::scope::KpiScope;
use crate::kpis::{Dimension, Families, KpiSnapshot, MetricDefinition, PeriodInput, ScopeInput, compute, sort_groups};
use crate::kpis::{catalog, movements};
use crate::metrics::MovementKind;

#[derive(SimpleObject, Clone, Debug)]
pub struct MrrMovement {
    pub account: Account,
    /// The first day of the month.
    pub month: Date,
    pub kind: MovementKind,
    pub amount: Decimal,
    pub mrr_before: Decimal,
    pub mrr_after: Decimal,
}

async fn snapshots(
    ctx: &Context<'_>,
    period: PeriodInput,
    scope: Option<ScopeInput>,
    group_by: Option<Dimension>,
) -> AppResult<Vec<KpiSnapshot>> {
    let periods = periods(&period)?;
    let scope = KpiScope::resolve(&Scope::for_reads(ctx)?, scope, group_by).await?;
    let mut groups = scope.group_keys().await?;
    sort_groups(&mut groups);
    let activity = Activity::new(&scope, &periods);
    compute(&periods, &scope, &groups, &Families::selected(ctx), &activity, request_model(ctx)).await
}

async fn movements_of(
    ctx: &Context<'_>,
    period: PeriodInput,
    scope: Option<ScopeInput>,
) -> AppResult<Vec<MrrMovement>> {
    let periods = periods(&period)?;
    let scope = KpiScope::resolve(&Scope::for_reads(ctx)?, scope, None).await?;
    let shown = periods[0].first..=periods[periods.len() - 1].last;
    let rows = movements::account_movements(&scope, shown).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.account_id).collect();
    let accounts = loaders(ctx)?.accounts.load_many(ids).await?;
    rows.into_iter()
        .map(|r| {
            let account = accounts
                .get(&r.account_id)
                .cloned()
                .ok_or_else(|| AppError::internal("movement of an unknown account"))?;
            let (kind, amount) = match r.kind.as_str() {
                "NEW" => (MovementKind::New, r.after),
                "REACTIVATION" => (MovementKind::Reactivation, r.after),
                "EXPANSION" => (MovementKind::Expansion, r.after - r.before),
                "CONTRACTION" => (MovementKind::Contraction, r.before - r.after),
                "CHURN" => (MovementKind::Churn, r.before),
                other => return Err(AppError::internal(format!("unknown movement {other}"))),
            };
            Ok(MrrMovement {
                account: Account(account),
                month: Date(month_start(r.month)),
                kind,
                amount: Decimal(amount),
                mrr_before: Decimal(r.before),
                mrr_after: Decimal(r.after),
            })
        })
        .collect()
}

#[derive(Default)]
pub struct KpiQuery;

#[Object]
impl KpiQuery {
    /// One row per period (and per group when groupBy is given), oldest first.
    #[graphql(complexity = "crate::api::cost::report(child_complexity)")]
    async fn kpis(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        scope: Option<ScopeInput>,
        group_by: Option<Dimension>,
    ) -> async_graphql::Result<Vec<KpiSnapshot>> {
        Ok(snapshots(ctx, period, scope, group_by).await?)
    }

    /// Each account's movement per month in the period: the drill-down behind the MRR KPIs.
    #[graphql(complexity = "crate::api::cost::report(child_complexity)")]
    async fn mrr_movements(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        scope: Option<ScopeInput>,
    ) -> async_graphql::Result<Vec<MrrMovement>> {
        Ok(movements_of(ctx, period, scope).await?)
    }

    /// Every KPI: name, unit, formula, and which roles may read it.
    async fn metric_catalog(&self) -> Vec<MetricDefinition> {
        catalog::metrics()
    }
}
