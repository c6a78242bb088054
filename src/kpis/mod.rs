//! Layer 6, the KPI reads (KPIS.md): snapshots per period (and group) from set-based SQL over
//! the ledger, the MRR movements behind them, and the metric catalog. One file per KPI family
//! (its formulas, SQL, fields and catalog entries), or one in `metrics` for a family computed
//! from the ledger's counters alone (voice, renewals); each family is computed only when the
//! query selects one of its fields.
pub mod activity;
mod adoption;
pub mod catalog;
pub mod cohorts;
mod costs;
pub mod due_renewals;
pub mod finance;
pub mod goals;
mod growth;
mod health;
pub mod loaders;
pub mod movements;
pub mod period;
mod ratio;
pub mod requests;
mod revenue;
pub mod scope;
mod support;

use std::collections::HashMap;

use async_graphql::{Context, Enum, ID, InputObject, SimpleObject};

use crate::auth::Role;
use crate::base::error::AppResult;
use crate::base::scalars::Date;
use crate::metrics::catalog::Entry;
use crate::metrics::health::model::Model;
use crate::metrics::renewals::{self, RenewalKpis, Renewals};
use crate::metrics::share;
use crate::metrics::voice::{self, VoiceKpis};
use activity::Activity;
use adoption::AdoptionKpis;
use costs::CostKpis;
use growth::GrowthKpis;
use health::HealthKpis;
use movements::{CohortWindow, GroupKey};
use revenue::{GroupData, RevenueKpis};
use scope::KpiScope;
use support::SupportKpis;

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

/// One period's (and group's) KPIs; see KPIS.md for every definition.
#[derive(SimpleObject)]
pub struct KpiSnapshot {
    pub period_start: Date,
    pub period_end: Date,
    /// The group's key when groupBy is given: the segment, the CSM's id or the team's id.
    pub group: Option<String>,
    #[graphql(flatten)]
    pub revenue: RevenueKpis,
    #[graphql(flatten)]
    pub renewals: RenewalKpis,
    #[graphql(flatten)]
    pub costs: CostKpis,
    #[graphql(flatten)]
    pub voice: VoiceKpis,
    #[graphql(flatten)]
    pub support: SupportKpis,
    #[graphql(flatten)]
    pub adoption: AdoptionKpis,
    #[graphql(flatten)]
    pub health: HealthKpis,
    #[graphql(flatten)]
    pub growth: GrowthKpis,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct MetricDefinition {
    pub name: String,
    pub description: String,
    pub unit: String,
    pub formula: String,
    pub roles: Vec<Role>,
}

/// The KPI families a `kpis` selection asks for.
pub struct Families {
    revenue: bool,
    renewals: bool,
    costs: bool,
    voice: bool,
    support: bool,
    /// The support medians asked for, by `crate::ledger::activity::Wait`.
    support_medians: [bool; 2],
    adoption: bool,
    health: bool,
    growth: bool,
    /// Of the adoption and growth KPIs, those over the accounts active at the end of P (the
    /// ledger's month-end adoption counts, which the health KPIs do not need).
    month_end_adoption: bool,
    /// `medianTimeToFirstValueDays` (the ledger's lists of first-value waits).
    first_value: bool,
    /// `ltv`, `ltvToCac` or `cacPaybackMonths`: the finance setting `grossMargin`.
    gross_margin: bool,
}

impl Families {
    /// Every family a CSM scorecard shows (all but the portfolio-only costs; of the support
    /// medians, first response only).
    pub fn scorecard() -> Families {
        Families {
            revenue: true,
            renewals: true,
            costs: false,
            voice: true,
            support: true,
            support_medians: [true, false],
            // Executive relationships only.
            adoption: true,
            health: true,
            growth: false,
            month_end_adoption: false,
            first_value: false,
            gross_margin: false,
        }
    }

    /// The families the fields selected below `ctx` ask for.
    pub fn selected(ctx: &Context<'_>) -> Families {
        let look = ctx.look_ahead();
        let any = |fields: &[&str]| fields.iter().any(|f| look.field(f).exists());
        // A family's catalog entries name its fields.
        let family = |entries: &[Entry]| entries.iter().any(|(field, ..)| look.field(field).exists());
        let costs = family(costs::CATALOG);
        Families {
            // The cost KPIs build on the revenue ones (new customers, ARPA, LTV, the cohort).
            // ... and the viral coefficient on the opening customers.
            revenue: costs || any(&["viralCoefficient"]) || family(revenue::CATALOG),
            renewals: family(renewals::CATALOG),
            costs,
            voice: family(voice::CATALOG),
            support: family(support::CATALOG),
            support_medians: support::MEDIAN_FIELDS.map(|f| any(&[f])),
            adoption: family(adoption::CATALOG),
            health: family(health::CATALOG),
            growth: family(growth::CATALOG),
            month_end_adoption: any(adoption::MONTH_END_FIELDS) || any(growth::MONTH_END_FIELDS),
            first_value: any(&[adoption::FIRST_VALUE_FIELD]),
            gross_margin: any(GROSS_MARGIN_FIELDS),
        }
    }
}

/// The KPIs whose formulas hold `grossMargin`.
const GROSS_MARGIN_FIELDS: &[&str] = &["ltv", "ltvToCac", "cacPaybackMonths"];

/// Orders group keys: segments by name, CSM and team ids by number; the `null` group last.
pub fn sort_groups(groups: &mut [GroupKey]) {
    groups.sort_by_key(|g| match g {
        None => (1, 0, String::new()),
        Some(key) => (0, key.parse::<i64>().unwrap_or(i64::MAX), key.clone()),
    });
}

/// The snapshots of `families` for every period and group of `scope`, period by period
/// (`activity`: the ledger's activity counters of those periods and that scope).
/// (`health_model`: the model in force, awaited only for the health family).
pub async fn compute(
    periods: &[period::Period],
    scope: &KpiScope<'_>,
    groups: &[GroupKey],
    families: &Families,
    activity: &Activity<'_>,
    health_model: impl Future<Output = AppResult<Model>>,
) -> AppResult<Vec<KpiSnapshot>> {
    let db = scope.connection();
    let (first, last) = (periods[0].first, periods[periods.len() - 1].last);

    // The families are independent: their statements run at once, each on its own connection.
    let revenue = async {
        if !families.revenue {
            return Ok((HashMap::new(), HashMap::new()));
        }
        // Month totals back to 12 months before the first period: the trailing-twelve-month
        // cohorts open there, and LTV looks at the 6 months before each period's end.
        let range = first - 12..=last;
        // Two cohorts per period: opening month B, and B = last - 12 (trailing twelve months).
        let windows: Vec<CohortWindow> = periods
            .iter()
            .flat_map(|p| {
                [
                    CohortWindow { opening: p.opening(), last: p.last },
                    CohortWindow { opening: p.last - 12, last: p.last },
                ]
            })
            .collect();
        let (months, cohorts) =
            tokio::try_join!(movements::month_totals(db, scope, range), movements::cohorts(db, scope, &windows))?;
        let cohorts = movements::open_cohorts(&windows, cohorts, &months);
        Ok((months, cohorts))
    };
    let renewals = when(families.renewals, activity.each(Renewals::of));
    let costs = when(families.costs && scope.whole_portfolio, costs::costs(db, periods));
    // Voice, support, adoption and growth read the ledger's activity counters once between them
    // (and with the caller); health, adoption and growth its month-end figures.
    let voice = when(families.voice, activity.each(VoiceKpis::of));
    let support = when(families.support, support::support(db, scope, periods, activity, families.support_medians));
    let columns = health::MonthEndColumns { components: families.health, adoption: families.month_end_adoption };
    let month_ends = health::MonthEnds::new(db, scope, periods, columns);
    let adoption =
        when(families.adoption, adoption::adoption(db, scope, periods, &month_ends, activity, families.first_value));
    let growth = when(families.growth, growth::growth(periods, &month_ends, activity));
    let visitors = when(families.growth && scope.whole_portfolio, growth::visitors(db, periods));
    let health = async {
        match families.health {
            true => health::health(&month_ends, &health_model.await?).await,
            false => Ok(HashMap::new()),
        }
    };
    let gross_margin = async {
        match families.gross_margin {
            true => Ok(finance::load(db).await?.gross_margin),
            false => Ok(rust_decimal::Decimal::ONE),
        }
    };
    let ((months, cohorts), renewals, costs, voice, support, adoption, growth, visitors, health, gross_margin) =
        tokio::try_join!(revenue, renewals, costs, voice, support, adoption, growth, visitors, health, gross_margin)?;

    let mut out = Vec::with_capacity(periods.len() * groups.len());
    for (i, p) in periods.iter().enumerate() {
        for group in groups {
            let data = GroupData {
                group,
                months: &months,
                cohort: cohorts.get(&(2 * i, group.clone())),
                ttm_cohort: cohorts.get(&(2 * i + 1, group.clone())),
                gross_margin,
            };
            let (revenue, exact) = revenue::revenue_kpis(*p, &data);
            let costs = match (scope.whole_portfolio, families.costs) {
                (true, true) => costs::cost_kpis(&costs.get(&i).cloned().unwrap_or_default(), &exact),
                _ => CostKpis::default(),
            };
            out.push(KpiSnapshot {
                period_start: Date(p.start()),
                period_end: Date(p.end()),
                group: group.clone(),
                revenue,
                renewals: RenewalKpis::of(&renewals.get(&(i, group.clone())).cloned().unwrap_or_default()),
                costs,
                voice: voice.get(&(i, group.clone())).cloned().unwrap_or_default(),
                support: support.get(&(i, group.clone())).cloned().unwrap_or_default(),
                adoption: adoption.get(&(i, group.clone())).cloned().unwrap_or_default(),
                health: health.get(&(i, group.clone())).cloned().unwrap_or_default(),
                growth: {
                    let (mut kpis, referred) = growth.get(&(i, group.clone())).cloned().unwrap_or_default();
                    kpis.viral_coefficient = share(referred, data.opening_customers(*p));
                    kpis.visitor_conversion_rate = scope
                        .whole_portfolio
                        .then(|| share(i64::from(kpis.signups), visitors.get(&i).copied().unwrap_or(0)))
                        .flatten();
                    kpis
                },
            });
        }
    }
    Ok(out)
}

/// `family`'s figures when `wanted`, else none (without running its queries).
async fn when<K, V>(wanted: bool, family: impl Future<Output = AppResult<HashMap<K, V>>>) -> AppResult<HashMap<K, V>> {
    if wanted { family.await } else { Ok(HashMap::new()) }
}
