//! CSM scorecards and weighted goals (KPIS.md, section 7).
//!
//! A scorecard for CSM u and period P holds, over u's book (the accounts whose CSM u is), the
//! KPIs of the other sections for scope = the book, and u's goals: `attainment_i =
//! min(max(actual_i / target_i, 0), 1.2)` (0 when actual is null) and
//! `attainment = sum(w_i * attainment_i) / sum(w_i)`, null with no goals.

use async_graphql::{Context, ID, Object, SimpleObject};
use rust_decimal::prelude::ToPrimitive;
use sea_orm::ColumnTrait;

use super::health::request_model;
use super::org::{User, parse_id};
use crate::auth::scope::Scope;
use crate::auth::{Role, caller};
use crate::base::error::{AppError, AppResult};
use crate::base::scalars::{Date, Decimal};
use crate::kpis::activity::Activity;
use crate::kpis::goals::{Goal, GoalInput, GoalMetric, goals_of, replace_goals};
use crate::kpis::period::periods;
use crate::kpis::scope::KpiScope;
use crate::kpis::{Families, KpiSnapshot, PeriodInput, compute};
use crate::metrics::activity::Counter;
use entity::user;

#[derive(SimpleObject, Clone, Debug)]
pub struct GoalAttainment {
    pub metric: GoalMetric,
    pub target: f64,
    pub weight: f64,
    pub actual: Option<f64>,
    pub attainment: f64,
}

#[derive(SimpleObject)]
pub struct CsmScorecard {
    pub csm: User,
    pub period_start: Date,
    pub period_end: Date,
    pub accounts: i32,
    pub book_mrr: Decimal,
    pub gross_revenue_retention: Option<f64>,
    pub net_revenue_retention: Option<f64>,
    pub customer_retention_rate: Option<f64>,
    pub renewal_dollar_rate: Option<f64>,
    pub expansion_mrr: Decimal,
    pub nps: Option<f64>,
    pub csat: Option<f64>,
    pub first_contact_resolution_rate: Option<f64>,
    pub median_first_response_hours: Option<f64>,
    pub touchpoints: i32,
    pub executive_relationships: i32,
    pub average_health_score: Option<f64>,
    pub data_completeness: Option<f64>,
    pub goals: Vec<GoalAttainment>,
    /// Weighted goal attainment; null when the CSM has no goals.
    pub attainment: Option<f64>,
}

/// A goal's attainment cap.
const MAX_ATTAINMENT: f64 = 1.2;

/// The actual value of a goal's metric on a scorecard (the `CSAT` goal is measured on `csat`).
fn actual(metric: GoalMetric, kpis: &KpiSnapshot, touchpoints: i64) -> Option<f64> {
    match metric {
        GoalMetric::RenewalDollarRate => kpis.renewals.renewal_dollar_rate,
        GoalMetric::GrossRevenueRetention => kpis.revenue.gross_revenue_retention,
        GoalMetric::NetRevenueRetention => kpis.revenue.net_revenue_retention,
        GoalMetric::ExpansionMrr => kpis.revenue.expansion_mrr.0.to_f64(),
        GoalMetric::ExecutiveRelationships => Some(f64::from(kpis.adoption.executive_relationships)),
        GoalMetric::Touchpoints => Some(touchpoints as f64),
        GoalMetric::Nps => kpis.voice.nps,
        GoalMetric::Csat => kpis.voice.csat,
        GoalMetric::DataCompleteness => kpis.health.data_completeness,
    }
}

fn attainments(goals: &[Goal], kpis: &KpiSnapshot, touchpoints: i64) -> (Vec<GoalAttainment>, Option<f64>) {
    let rows: Vec<GoalAttainment> = goals
        .iter()
        .map(|g| {
            let actual = actual(g.metric, kpis, touchpoints);
            let attainment = actual.map_or(0.0, |a| (a / g.target).clamp(0.0, MAX_ATTAINMENT));
            GoalAttainment { metric: g.metric, target: g.target, weight: g.weight, actual, attainment }
        })
        .collect();
    let total: f64 = rows.iter().map(|r| r.weight).sum();
    let weighted =
        (!rows.is_empty() && total > 0.0).then(|| rows.iter().map(|r| r.weight * r.attainment).sum::<f64>() / total);
    (rows, weighted)
}

/// The CSMs whose scorecards the caller may see (`csm` narrows to one; `FORBIDDEN` outside).
async fn visible_csms(scope: &Scope<'_>, csm: Option<ID>) -> AppResult<Vec<user::Model>> {
    scope.caller().require(&[Role::Admin, Role::Manager, Role::Csm], "read scorecards")?;
    let mut csms = scope.csms().order_by_asc(user::Column::Email);
    if let Some(csm) = csm {
        let id = parse_id(&csm).ok_or_else(|| AppError::invalid(None, "csmId", "not a valid id"))?;
        scope.check_csm(id).await?;
        csms = csms.filter(user::Column::Id.eq(id));
    }
    csms.all().await
}

async fn scorecards(ctx: &Context<'_>, period: PeriodInput, csm: Option<ID>) -> AppResult<Vec<CsmScorecard>> {
    let reader = Scope::for_reads(ctx)?;
    let every_csm = csm.is_none() && reader.visibility().sees_everything();
    let csms = visible_csms(&reader, csm).await?;
    let periods = periods(&period)?;
    let ids: Vec<i64> = csms.iter().map(|u| u.id).collect();
    let scope = KpiScope::of_csms(&reader, &ids, every_csm);
    let groups: Vec<Option<String>> = ids.iter().map(|id| Some(id.to_string())).collect();
    let activity = Activity::new(&scope, &periods);
    let snapshots = compute(&periods, &scope, &groups, &Families::scorecard(), &activity, request_model(ctx)).await?;
    let touchpoints = activity.counter(Counter::Touchpoints).await?;
    let goals = goals_of(&reader, &ids).await?;
    // `compute` returns the snapshots period by period, a group (CSM) at a time within each.
    let mut out = Vec::with_capacity(snapshots.len());
    for (i, kpis) in snapshots.iter().enumerate() {
        let (period, csm) = (i / csms.len(), &csms[i % csms.len()]);
        let touchpoints = touchpoints.get(&(period, kpis.group.clone())).copied().unwrap_or(0);
        let (goal_rows, attainment) = attainments(goals.get(&csm.id).map_or(&[][..], Vec::as_slice), kpis, touchpoints);
        out.push(CsmScorecard {
            csm: User::from_model(csm.clone())?,
            period_start: kpis.period_start,
            period_end: kpis.period_end,
            accounts: kpis.revenue.active_customers,
            book_mrr: kpis.revenue.mrr,
            gross_revenue_retention: kpis.revenue.gross_revenue_retention,
            net_revenue_retention: kpis.revenue.net_revenue_retention,
            customer_retention_rate: kpis.revenue.customer_retention_rate,
            renewal_dollar_rate: kpis.renewals.renewal_dollar_rate,
            expansion_mrr: kpis.revenue.expansion_mrr,
            nps: kpis.voice.nps,
            csat: kpis.voice.csat,
            first_contact_resolution_rate: kpis.support.first_contact_resolution_rate,
            median_first_response_hours: kpis.support.median_first_response_hours,
            touchpoints: touchpoints as i32,
            executive_relationships: kpis.adoption.executive_relationships,
            average_health_score: kpis.health.average_health_score,
            data_completeness: kpis.health.data_completeness,
            goals: goal_rows,
            attainment,
        });
    }
    Ok(out)
}

#[derive(Default)]
pub struct ScorecardQuery;

#[Object]
impl ScorecardQuery {
    /// One scorecard per visible CSM (or just csmId) and period.
    #[graphql(complexity = "crate::api::cost::report(child_complexity)")]
    async fn csm_scorecards(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        csm_id: Option<ID>,
    ) -> async_graphql::Result<Vec<CsmScorecard>> {
        Ok(scorecards(ctx, period, csm_id).await?)
    }
}

/// Checks goals: `target > 0` and `weight > 0`, one `BAD_USER_INPUT` per bad entry.
fn validate(goals: &[GoalInput]) -> Result<(), Vec<AppError>> {
    let errors: Vec<AppError> = goals
        .iter()
        .enumerate()
        .filter_map(|(row, g)| {
            let bad = |v: f64| !v.is_finite() || v <= 0.0;
            if bad(g.target) {
                Some(AppError::invalid(Some(row), "target", format!("row {row}: target must be > 0")))
            } else if bad(g.weight) {
                Some(AppError::invalid(Some(row), "weight", format!("row {row}: weight must be > 0")))
            } else {
                None
            }
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

#[derive(Default)]
pub struct ScorecardMutation;

#[Object]
impl ScorecardMutation {
    /// Replaces a CSM's goals: a manager for the CSMs of their team, an ADMIN for anyone.
    async fn set_csm_goals(
        &self,
        ctx: &Context<'_>,
        csm_id: ID,
        goals: Vec<GoalInput>,
    ) -> async_graphql::Result<Vec<Goal>> {
        let who = caller(ctx)?;
        who.require(&[Role::Admin, Role::Manager], "set goals")?;
        let id = parse_id(&csm_id).ok_or_else(|| AppError::invalid(None, "csmId", "not a valid id"))?;
        let scope = Scope::for_writes(ctx)?;
        scope.check_csm(id).await?;
        if scope.csms().filter(user::Column::Id.eq(id)).count().await? == 0 {
            return Err(AppError::not_found("no such CSM").into());
        }
        validate(&goals).map_err(|errors| crate::ingest::report(ctx, errors))?;
        Ok(replace_goals(&scope, id, &goals).await?)
    }
}
