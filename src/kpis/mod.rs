//! KPI snapshots per period (and group), the MRR movements behind them, and the metric catalog
//! (KPIS.md, sections 1 to 5 and 8).
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};

use crate::accounts::Account;
use crate::error::AppError;
use crate::org::Role;
use crate::scalars::{Date, Decimal};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Granularity {
    #[default]
    #[graphql(name = "MONTH")]
    Month,
    #[graphql(name = "QUARTER")]
    Quarter,
    #[graphql(name = "YEAR")]
    Year,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    #[graphql(name = "SEGMENT")]
    Segment,
    #[graphql(name = "CSM")]
    Csm,
    #[graphql(name = "TEAM")]
    Team,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MovementKind {
    #[graphql(name = "NEW")]
    New,
    #[graphql(name = "EXPANSION")]
    Expansion,
    #[graphql(name = "CONTRACTION")]
    Contraction,
    #[graphql(name = "CHURN")]
    Churn,
    #[graphql(name = "REACTIVATION")]
    Reactivation,
}

#[derive(InputObject, Clone, Copy, Debug)]
pub struct PeriodInput {
    /// Any day of the first period wanted.
    pub from: Date,
    /// Any day of the last period wanted; at most 120 periods in all.
    pub to: Date,
    #[graphql(default_with = "Granularity::Month")]
    pub granularity: Granularity,
}

/// Narrows the caller's visible accounts; it never widens them.
#[derive(InputObject, Clone, Debug, Default)]
pub struct ScopeInput {
    pub csm_id: Option<ID>,
    pub team_id: Option<ID>,
    pub segment: Option<String>,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct MrrMovement {
    pub account: Account,
    pub month: Date,
    pub kind: MovementKind,
    pub amount: Decimal,
    pub mrr_before: Decimal,
    pub mrr_after: Decimal,
}

/// One period's (and group's) KPIs; see KPIS.md for every definition.
#[derive(SimpleObject, Clone, Debug)]
pub struct KpiSnapshot {
    pub period_start: Date,
    pub period_end: Date,
    /// The group's key when groupBy is given: the segment, the CSM's id or the team's id.
    pub group: Option<String>,
    pub mrr: Decimal,
    pub arr: Decimal,
    pub active_customers: i32,
    pub new_mrr: Decimal,
    pub expansion_mrr: Decimal,
    pub contraction_mrr: Decimal,
    pub churned_mrr: Decimal,
    pub reactivation_mrr: Decimal,
    pub net_new_mrr: Decimal,
    pub new_customers: i32,
    pub reactivated_customers: i32,
    pub churned_customers: i32,
    pub logo_churn_rate: Option<f64>,
    pub gross_mrr_churn_rate: Option<f64>,
    pub net_mrr_churn_rate: Option<f64>,
    pub customer_retention_rate: Option<f64>,
    pub net_revenue_retention: Option<f64>,
    pub gross_revenue_retention: Option<f64>,
    pub net_revenue_retention_ttm: Option<f64>,
    pub gross_revenue_retention_ttm: Option<f64>,
    pub quick_ratio: Option<f64>,
    pub arpa: Option<Decimal>,
    pub ltv: Option<Decimal>,
    pub upsell_rate: Option<f64>,
    pub renewal_rate: Option<f64>,
    pub renewal_dollar_rate: Option<f64>,
    /// FINANCE and ADMIN only (FORBIDDEN otherwise); null unless the scope is the whole portfolio.
    pub cac: Option<Decimal>,
    pub ltv_to_cac: Option<f64>,
    pub cac_payback_months: Option<f64>,
    pub cost_to_serve: Option<Decimal>,
    pub cost_to_serve_per_account: Option<Decimal>,
    pub customer_retention_cost: Option<Decimal>,
    pub nps: Option<f64>,
    pub nps_responses: i32,
    pub csat: Option<f64>,
    pub csat_average: Option<f64>,
    pub ces: Option<f64>,
    pub tickets_opened: i32,
    pub first_contact_resolution_rate: Option<f64>,
    pub median_first_response_hours: Option<f64>,
    pub median_resolution_hours: Option<f64>,
    pub median_time_to_first_value_days: Option<f64>,
    pub onboarding_completion_rate: Option<f64>,
    pub seat_utilization: Option<f64>,
    pub engagement_rate: Option<f64>,
    pub executive_relationships: i32,
    pub referrals: i32,
    pub average_health_score: Option<f64>,
    pub logins_per_active_user: Option<f64>,
    pub average_session_minutes: Option<f64>,
    pub feature_adoption_rate: Option<f64>,
    pub advocacy_activities: i32,
    pub advocates: i32,
    pub feature_requests_opened: i32,
    pub feature_requests_shipped: i32,
    pub signups: i32,
    /// Whole portfolio only (null otherwise), like the cost KPIs, but readable by every role that reads kpis.
    pub visitor_conversion_rate: Option<f64>,
    pub activation_rate: Option<f64>,
    pub trial_conversion_rate: Option<f64>,
    pub viral_coefficient: Option<f64>,
    pub data_completeness: Option<f64>,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct MetricDefinition {
    pub name: String,
    pub description: String,
    pub unit: String,
    pub formula: String,
    pub roles: Vec<Role>,
}

#[derive(Default)]
pub struct KpiQuery;

#[Object]
impl KpiQuery {
    /// One row per period (and per group when groupBy is given), oldest first.
    async fn kpis(
        &self,
        _ctx: &Context<'_>,
        _period: PeriodInput,
        _scope: Option<ScopeInput>,
        _group_by: Option<Dimension>,
    ) -> async_graphql::Result<Vec<KpiSnapshot>> {
        Err(AppError::NotImplemented("kpis").into())
    }

    /// Each account's movement per month in the period: the drill-down behind the MRR KPIs.
    async fn mrr_movements(
        &self,
        _period: PeriodInput,
        _scope: Option<ScopeInput>,
    ) -> async_graphql::Result<Vec<MrrMovement>> {
        Err(AppError::NotImplemented("mrrMovements").into())
    }

    /// Every KPI: name, unit, formula, and which roles may read it.
    async fn metric_catalog(&self) -> async_graphql::Result<Vec<MetricDefinition>> {
        Err(AppError::NotImplemented("metricCatalog").into())
    }
}
