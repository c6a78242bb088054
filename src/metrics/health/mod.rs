//! Account health (KPIS.md, section 6): its six components, computed once for both the ledger's
//! month ends and the on-the-fly path ([`score`]), and the configurable model that weighs them
//! into a score and a status ([`model`]).
pub mod model;
pub mod score;

use async_graphql::Enum;

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
#[repr(usize)]
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

/// Every component, in the order of a model's weights and of a score's components.
pub const COMPONENTS: [HealthComponentKind; 6] = [
    HealthComponentKind::Usage,
    HealthComponentKind::Nps,
    HealthComponentKind::Csat,
    HealthComponentKind::Support,
    HealthComponentKind::Engagement,
    HealthComponentKind::RevenueTrend,
];
