//! Account health scores and the configurable health model (KPIS.md, section 6).
use async_graphql::{Enum, InputObject, SimpleObject};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthStatus {
    #[graphql(name = "GREEN")]
    Green,
    #[graphql(name = "YELLOW")]
    Yellow,
    #[graphql(name = "RED")]
    Red,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthComponentKind {
    #[graphql(name = "USAGE")]
    Usage,
    #[graphql(name = "NPS")]
    Nps,
    #[graphql(name = "CSAT")]
    Csat,
    #[graphql(name = "SUPPORT")]
    Support,
    #[graphql(name = "ENGAGEMENT")]
    Engagement,
    #[graphql(name = "REVENUE_TREND")]
    RevenueTrend,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct HealthScore {
    /// 0-100; null when no component is present or their weights sum to 0.
    pub score: Option<f64>,
    pub status: Option<HealthStatus>,
    pub components: Vec<HealthComponent>,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct HealthComponent {
    pub component: HealthComponentKind,
    pub value: f64,
    pub weight: f64,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct HealthModel {
    pub weights: Vec<HealthComponent>,
    pub green_at_least: f64,
    pub yellow_at_least: f64,
}

#[derive(InputObject)]
pub struct HealthModelInput {
    pub weights: Vec<HealthWeightInput>,
    pub green_at_least: f64,
    pub yellow_at_least: f64,
}

#[derive(InputObject)]
pub struct HealthWeightInput {
    pub component: HealthComponentKind,
    pub weight: f64,
}
