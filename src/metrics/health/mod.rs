//! Account health (KPIS.md, section 6): its six components and the configurable model that
//! weighs them into a score and a status ([`model`]).
//!
//! | component | value | present |
//! |---|---|---|
//! | `USAGE` | `100 * min(1, activeUsers / licensedSeats)` of the latest usage record dated in `(d-30, d]` | with such a record |
//! | `NPS` | `10 * score` of the latest NPS response in `(d-180 days, d]` (ties on `respondedAt`: the greatest `externalId` in code-point order) | with such a response |
//! | `CSAT` | `25 * (mean score - 1)` of CSAT responses in `(d-180 days, d]` | with such responses |
//! | `SUPPORT` | `max(0, 100 - 25 * open)`; `open` = tickets with `openedAt <= d` not resolved by d | always |
//! | `ENGAGEMENT` | `100 * min(3, touchpoints in (d-90 days, d]) / 3` | always |
//! | `REVENUE_TREND` | `100` if `MRR(a, d) > MRR(a, d-90)`, `70` if equal, `30` if lower but > 0, `0` if 0 | when `MRR(a, d-90) > 0` |
//!
//! Windows are whole days; an instant belongs to the day of its UTC date. The windows and the
//! values below are the only statement of these rules: the ledger computes an account's month
//! ends from its records with them (`ledger::health`), and the health of any other day is
//! computed set-wise in SQL that gathers the same inputs ([`score`]).
pub mod model;
pub mod score;

use super::catalog::{Entry, KPI_READERS};
use async_graphql::Enum;
use rust_decimal::Decimal;

/// `USAGE` looks at usage records dated in `(d - 30 days, d]`.
pub const USAGE_WINDOW_DAYS: u32 = 30;
/// `NPS` and `CSAT` look at responses in `(d - 180 days, d]`.
pub const SURVEY_WINDOW_DAYS: u32 = 180;
/// `ENGAGEMENT` counts touchpoints in `(d - 90 days, d]`.
pub const ENGAGEMENT_WINDOW_DAYS: u32 = 90;
/// `REVENUE_TREND` compares `MRR(a, d)` with `MRR(a, d - 90 days)`.
pub const TREND_DAYS: u32 = 90;

/// `USAGE` of the latest usage record in the window.
pub fn usage(active_users: i64, licensed_seats: i64) -> f64 {
    100.0 * (active_users as f64 / licensed_seats as f64).min(1.0)
}

/// `NPS` of the latest NPS response in the window.
pub fn nps(score: i64) -> f64 {
    10.0 * score as f64
}

/// `CSAT` of the CSAT responses in the window (`responses > 0`).
pub fn csat(score_total: i64, responses: i64) -> f64 {
    25.0 * (score_total as f64 / responses as f64 - 1.0)
}

/// `SUPPORT` with `open` tickets open on the day.
pub fn support(open: i64) -> f64 {
    (100.0 - 25.0 * open as f64).max(0.0)
}

/// `ENGAGEMENT` with `touchpoints` in the window.
pub fn engagement(touchpoints: i64) -> f64 {
    100.0 * (touchpoints.min(3) as f64) / 3.0
}

/// `REVENUE_TREND` from the MRR on the day and [`TREND_DAYS`] before; absent when that was 0.
pub fn revenue_trend(now: Decimal, then: Decimal) -> Option<f64> {
    (then > Decimal::ZERO).then(|| {
        if now > then {
            100.0
        } else if now == then {
            70.0
        } else if now > Decimal::ZERO {
            30.0
        } else {
            0.0
        }
    })
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthStatus {
    #[graphql(name = "GREEN")]
    Green,
    #[graphql(name = "YELLOW")]
    Yellow,
    #[graphql(name = "RED")]
    Red,
}

/// Declares [`HealthComponentKind`], [`COMPONENTS`] and [`COMPONENT_COLUMNS`] from one list of
/// `Variant => "GRAPHQL_NAME", "column"`, in the order of a model's weights and of a score's
/// components.
macro_rules! components {
    ($($kind:ident => $name:literal, $column:literal;)+) => {
        #[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub enum HealthComponentKind {
            $(#[graphql(name = $name)] $kind,)+
        }

        /// Every component, in the order of a model's weights and of a score's components.
        pub const COMPONENTS: [HealthComponentKind; 6] = [$(HealthComponentKind::$kind),+];

        /// The column that stores each component (`health_book_months`, `health_today`), in
        /// [`COMPONENTS`] order.
        pub const COMPONENT_COLUMNS: [&str; 6] = [$($column),+];
    };
}

components! {
    Usage => "USAGE", "usage";
    Nps => "NPS", "nps";
    Csat => "CSAT", "csat";
    Support => "SUPPORT", "support";
    Engagement => "ENGAGEMENT", "engagement";
    RevenueTrend => "REVENUE_TREND", "trend";
}

/// An account's health score in the metric catalog.
pub const CATALOG: &[Entry] = &[(
    "healthScore",
    "score",
    "An account's health on a day (Account.health), 0-100",
    "sum(w_i * c_i) / sum(w_i) over the present components: USAGE 100*min(1, activeUsers/licensedSeats) of the latest usage record in (d-30, d]; NPS 10*score of the latest NPS response in (d-180, d]; CSAT 25*(mean - 1) in (d-180, d]; SUPPORT max(0, 100 - 25*open tickets); ENGAGEMENT 100*min(3, touchpoints in (d-90, d])/3; REVENUE_TREND 100/70/30/0 for MRR(d) vs MRR(d-90); null when no component is present or the weights sum to 0; GREEN >= 70, YELLOW >= 40 (settings)",
    KPI_READERS,
)];
