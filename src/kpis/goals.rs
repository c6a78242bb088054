//! CSM goals (KPIS.md, section 7): what each CSM is measured on, set by their manager or an
//! ADMIN (`setCsmGoals`) and read by the scorecards.
use std::collections::HashMap;

use async_graphql::{InputObject, SimpleObject};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::auth::Role;
use crate::auth::scope::Scope;
use crate::base::db::WriteAccess;
use crate::base::db_enum::{db_enum, decode};
use crate::base::error::AppResult;
use crate::metrics::catalog::Entry;
use entity::{audit_log, csm_goal};

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

/// The goals of `csms`, by CSM, in the order they were set.
pub async fn goals_of(reader: &Scope<'_>, csms: &[i64]) -> AppResult<HashMap<i64, Vec<Goal>>> {
    let rows = csm_goal::Entity::find()
        .filter(csm_goal::Column::CsmId.is_in(csms.iter().copied()))
        .order_by_asc(csm_goal::Column::Id)
        .all(reader.connection())
        .await?;
    let mut goals: HashMap<i64, Vec<Goal>> = HashMap::new();
    for row in rows {
        let metric = decode(&row.metric, GoalMetric::from_db)?;
        goals.entry(row.csm_id).or_default().push(Goal { metric, target: row.target, weight: row.weight });
    }
    Ok(goals)
}

/// Replaces the goals of `csm` in one transaction, with an audit row.
pub async fn replace_goals(writer: &Scope<'_>, csm: i64, goals: &[GoalInput]) -> AppResult<Vec<Goal>> {
    let who = writer.caller();
    let txn = writer.begin_write(WriteAccess::Exclusive).await?;
    let before = goals_of(writer, &[csm]).await?.remove(&csm).unwrap_or_default();
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
    crate::base::db::commit_write(txn).await?;
    Ok(after)
}

/// Who reads scorecards.
const SCORECARD_READERS: &[Role] = &[Role::Admin, Role::Manager, Role::Csm];

/// The CSM scorecards' figures in the metric catalog.
pub const CATALOG: &[Entry] = &[
    (
        "scorecard.accounts",
        "count",
        "Accounts of the CSM's book active at the end of the period",
        "|{a in book : MRR(a, end(P)) > 0}|",
        SCORECARD_READERS,
    ),
    ("scorecard.bookMrr", "currency", "MRR of the CSM's book", "mrr with scope = the CSM's book", SCORECARD_READERS),
    (
        "scorecard.touchpoints",
        "count",
        "Touchpoints on the CSM's book",
        "touchpoints with occurredAt in P on any account of the book, whoever logged them",
        SCORECARD_READERS,
    ),
    (
        "scorecard.goalAttainment",
        "ratio",
        "Attainment of one goal",
        "min(max(actual / target, 0), 1.2); 0 when actual is null; the CSAT goal is measured on csat",
        SCORECARD_READERS,
    ),
    (
        "scorecard.attainment",
        "ratio",
        "Weighted goal attainment",
        "sum(w_i * attainment_i) / sum(w_i) over the CSM's goals; null with no goals",
        SCORECARD_READERS,
    ),
];
