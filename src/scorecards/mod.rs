//! CSM scorecards and weighted goals (KPIS.md, section 7).
use async_graphql::{Enum, ID, InputObject, Object, SimpleObject};

use crate::error::AppError;
use crate::kpis::PeriodInput;
use crate::org::User;
use crate::scalars::{Date, Decimal};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoalMetric {
    #[graphql(name = "RENEWAL_DOLLAR_RATE")]
    RenewalDollarRate,
    #[graphql(name = "GROSS_REVENUE_RETENTION")]
    GrossRevenueRetention,
    #[graphql(name = "NET_REVENUE_RETENTION")]
    NetRevenueRetention,
    #[graphql(name = "EXPANSION_MRR")]
    ExpansionMrr,
    #[graphql(name = "EXECUTIVE_RELATIONSHIPS")]
    ExecutiveRelationships,
    #[graphql(name = "TOUCHPOINTS")]
    Touchpoints,
    #[graphql(name = "NPS")]
    Nps,
    #[graphql(name = "CSAT")]
    Csat,
    #[graphql(name = "DATA_COMPLETENESS")]
    DataCompleteness,
}

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

#[derive(Default)]
pub struct ScorecardQuery;

#[Object]
impl ScorecardQuery {
    /// One scorecard per visible CSM (or just csmId) and period.
    async fn csm_scorecards(
        &self,
        _period: PeriodInput,
        _csm_id: Option<ID>,
    ) -> async_graphql::Result<Vec<CsmScorecard>> {
        Err(AppError::NotImplemented("csmScorecards").into())
    }
}

#[derive(Default)]
pub struct ScorecardMutation;

#[Object]
impl ScorecardMutation {
    async fn set_csm_goals(&self, _csm_id: ID, _goals: Vec<GoalInput>) -> async_graphql::Result<Vec<Goal>> {
        Err(AppError::NotImplemented("setCsmGoals").into())
    }
}
