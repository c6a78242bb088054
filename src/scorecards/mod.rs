//! CSM scorecards and weighted goals (KPIS.md, section 7).
//!
//! A scorecard for CSM u and period P holds, over u's book (the accounts whose CSM u is), the
//! KPIs of the other sections for scope = the book, and u's goals: `attainment_i =
//! min(max(actual_i / target_i, 0), 1.2)` (0 when actual is null) and
//! `attainment = sum(w_i * attainment_i) / sum(w_i)`, null with no goals.
use std::collections::HashMap;

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::Utc;
use rust_decimal::prelude::ToPrimitive;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::auth::scope::Visibility;
use crate::auth::{Caller, caller};
use crate::db_enum::{db_enum, decode};
use crate::error::{AppError, AppResult};
use crate::kpis::activity::Activity;
use crate::kpis::period::periods;
use crate::kpis::scope::KpiScope;
use crate::kpis::{Families, KpiSnapshot, PeriodInput, compute};
use crate::ledger::activity::Counter;
use crate::loaders::database;
use crate::org::{Role, User, parse_id};
use crate::scalars::{Date, Decimal};
use entity::{audit_log, csm_goal, team, user};

db_enum!(
    GoalMetric {
        RenewalDollarRate => "RENEWAL_DOLLAR_RATE",
        GrossRevenueRetention => "GROSS_REVENUE_RETENTION",
        NetRevenueRetention => "NET_REVENUE_RETENTION",
        ExpansionMrr => "EXPANSION_MRR",
        ExecutiveRelationships => "EXECUTIVE_RELATIONSHIPS",
        Touchpoints => "TOUCHPOINTS",
        Nps => "NPS",
        Csat => "CSAT",
        DataCompleteness => "DATA_COMPLETENESS",
    }
);

#[derive(SimpleObject, Clone, Debug)]
pub struct Goal {
    pub metric: GoalMetric,
    pub target: f64,
    pub weight: f64,
}

#[derive(InputObject)]
pub struct GoalInput {
    pub metric: GoalMetric,
    pub target: f64,
    pub weight: f64,
}

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
async fn visible_csms(ctx: &Context<'_>, caller: &Caller, csm: Option<ID>) -> AppResult<Vec<user::Model>> {
    caller.require(&[Role::Admin, Role::Manager, Role::Csm], "read scorecards")?;
    let visibility = Visibility::for_reads(caller)?;
    let db = database(ctx)?;
    let mut query =
        user::Entity::find().filter(user::Column::Role.eq(Role::Csm.as_db())).order_by_asc(user::Column::Email);
    if let Some(csm) = csm {
        let id = parse_id(&csm).ok_or_else(|| AppError::invalid(None, "csmId", "not a valid id"))?;
        visibility.check_csm(db, id).await?;
        query = query.filter(user::Column::Id.eq(id));
    }
    query = match visibility {
        Visibility::All => query,
        Visibility::Csm(me) => query.filter(user::Column::Id.eq(me)),
        Visibility::Manager(me) => {
            let teams = sea_orm::sea_query::Query::select()
                .column(team::Column::Id)
                .from(team::Entity)
                .and_where(team::Column::ManagerId.eq(me))
                .to_owned();
            query.filter(user::Column::TeamId.in_subquery(teams))
        }
    };
    Ok(query.all(db).await?)
}

async fn goals_of(db: &sea_orm::DatabaseConnection, csms: &[i64]) -> AppResult<HashMap<i64, Vec<Goal>>> {
    let rows = csm_goal::Entity::find()
        .filter(csm_goal::Column::CsmId.is_in(csms.iter().copied()))
        .order_by_asc(csm_goal::Column::Id)
        .all(db)
        .await?;
    let mut goals: HashMap<i64, Vec<Goal>> = HashMap::new();
    for row in rows {
        let metric = decode(&row.metric, GoalMetric::from_db)?;
        goals.entry(row.csm_id).or_default().push(Goal { metric, target: row.target, weight: row.weight });
    }
    Ok(goals)
}

async fn scorecards(ctx: &Context<'_>, period: PeriodInput, csm: Option<ID>) -> AppResult<Vec<CsmScorecard>> {
    let caller = caller(ctx)?;
    let every_csm = csm.is_none() && Visibility::for_reads(caller)?.sees_everything();
    let csms = visible_csms(ctx, caller, csm).await?;
    let periods = periods(&period)?;
    let ids: Vec<i64> = csms.iter().map(|u| u.id).collect();
    let scope = KpiScope::books(&ids, every_csm);
    let groups: Vec<Option<String>> = ids.iter().map(|id| Some(id.to_string())).collect();
    let db = database(ctx)?;
    let activity = Activity::new(db, &scope, &periods);
    let snapshots = compute(ctx, &periods, &scope, &groups, &Families::scorecard(), &activity).await?;
    let touchpoints = activity.counter(Counter::Touchpoints).await?;
    let goals = goals_of(db, &ids).await?;
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
    #[graphql(complexity = "crate::schema::cost::report(child_complexity)")]
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
        let db = database(ctx)?;
        Visibility::for_reads(who)?.check_csm(db, id).await?;
        let csm = user::Entity::find_by_id(id).one(db).await.map_err(AppError::from)?;
        if csm.as_ref().is_none_or(|u| u.role != Role::Csm.as_db()) {
            return Err(AppError::not_found("no such CSM").into());
        }
        validate(&goals).map_err(|errors| crate::ingest::report(ctx, errors))?;
        Ok(replace_goals(db, who, id, &goals).await?)
    }
}

/// Replaces the goals of `csm` in one transaction, with an audit row.
async fn replace_goals(
    db: &sea_orm::DatabaseConnection,
    who: &Caller,
    csm: i64,
    goals: &[GoalInput],
) -> AppResult<Vec<Goal>> {
    let txn = crate::db::begin_write(db, crate::db::WriteAccess::Exclusive).await?;
    let before = goals_of(db, &[csm]).await?.remove(&csm).unwrap_or_default();
    csm_goal::Entity::delete_many().filter(csm_goal::Column::CsmId.eq(csm)).exec(&txn).await?;
    for g in goals {
        csm_goal::ActiveModel {
            id: sea_orm::NotSet,
            csm_id: Set(csm),
            metric: Set(g.metric.as_db().to_owned()),
            target: Set(g.target),
            weight: Set(g.weight),
        }
        .insert(&txn)
        .await?;
    }
    let describe = |goals: &[Goal]| {
        format!("{:?}", goals.iter().map(|g| (g.metric.as_db(), g.target, g.weight)).collect::<Vec<_>>())
    };
    let after: Vec<Goal> =
        goals.iter().map(|g| Goal { metric: g.metric, target: g.target, weight: g.weight }).collect();
    audit_log::ActiveModel {
        id: sea_orm::NotSet,
        actor_id: Set(Some(who.id)),
        actor_email: Set(who.email.clone()),
        action: Set("setCsmGoals".to_owned()),
        entity: Set("csm_goals".to_owned()),
        record_key: Set(csm.to_string()),
        before: Set(Some(describe(&before))),
        after: Set(Some(describe(&after))),
        at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(after)
}
