//! The revenue and cost KPIs of one period and group (KPIS.md, sections 1 and 2), from the
//! month totals, cohorts, renewals and costs the SQL of this module's siblings computes.
use std::collections::HashMap;

use async_graphql::SimpleObject;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use super::costs::PeriodCosts;
use super::movements::{Cohort, GroupKey, MonthTotals};
use super::period::Period;
use super::ratio::Ratio;
use super::renewals::Renewals;
use crate::auth::Role;
use crate::auth::RoleGuard;
use crate::base::calendar::MonthIndex;
use crate::base::scalars::Decimal as Money;
use crate::metrics::share;

/// `grossMargin` of the LTV and CAC payback formulas (KPIS.md: "a setting, default 1.0").
pub const GROSS_MARGIN: Decimal = Decimal::ONE;

/// Months whose logo churn rates `ltv` averages.
pub const LTV_WINDOW_MONTHS: i32 = 6;

/// `a / b` as a ratio; `null` when `b = 0`.
fn ratio(a: Decimal, b: Decimal) -> Option<f64> {
    a.checked_div(b).and_then(|q| q.to_f64())
}

/// Money that is a quotient: computed exactly, shown rounded half-to-even to the cent.
fn cents(amount: Decimal) -> Money {
    Money(amount.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven))
}

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct RevenueKpis {
    /// Month-end MRR of the period's last month.
    pub mrr: Money,
    /// `12 * mrr`
    pub arr: Money,
    /// Accounts with `MRR(a, last month) > 0`.
    pub active_customers: i32,
    pub new_mrr: Money,
    pub expansion_mrr: Money,
    pub contraction_mrr: Money,
    pub churned_mrr: Money,
    pub reactivation_mrr: Money,
    /// `newMrr + expansionMrr + reactivationMrr - contractionMrr - churnedMrr`
    pub net_new_mrr: Money,
    pub new_customers: i32,
    pub reactivated_customers: i32,
    pub churned_customers: i32,
    /// `churnedCustomers / startCustomers`
    pub logo_churn_rate: Option<f64>,
    /// `(churnedMrr + contractionMrr) / startMrr`
    pub gross_mrr_churn_rate: Option<f64>,
    /// `(churnedMrr + contractionMrr - expansionMrr - reactivationMrr) / startMrr`
    pub net_mrr_churn_rate: Option<f64>,
    /// `|{a in C : MRR(a, last) > 0}| / |C|`
    pub customer_retention_rate: Option<f64>,
    /// `sum_{a in C} MRR(a, last) / sum_{a in C} MRR(a, B)`
    pub net_revenue_retention: Option<f64>,
    /// `sum_{a in C} min(MRR(a, last), MRR(a, B)) / sum_{a in C} MRR(a, B)`
    pub gross_revenue_retention: Option<f64>,
    /// NRR with `B = last - 12` and the cohort taken at that B.
    pub net_revenue_retention_ttm: Option<f64>,
    /// GRR with `B = last - 12`.
    pub gross_revenue_retention_ttm: Option<f64>,
    /// `(newMrr + expansionMrr + reactivationMrr) / (churnedMrr + contractionMrr)`
    pub quick_ratio: Option<f64>,
    /// `mrr / activeCustomers`
    pub arpa: Option<Money>,
    /// `arpa * grossMargin / c`, c = mean monthly logo churn rate of the 6 months ending with the last month
    pub ltv: Option<Money>,
    /// `|{a in C : a has an EXPANSION movement in P}| / |C|`
    pub upsell_rate: Option<f64>,
}

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct RenewalKpis {
    /// `renewed due / due`
    pub renewal_rate: Option<f64>,
    /// `sum(mrr of every subscription that renews a due one) / sum(mrr of due ones)`
    pub renewal_dollar_rate: Option<f64>,
}

impl RenewalKpis {
    pub fn of(renewals: &Renewals) -> Self {
        RenewalKpis {
            renewal_rate: share(renewals.renewed, renewals.due),
            renewal_dollar_rate: ratio(renewals.renewal_mrr, renewals.due_mrr),
        }
    }
}

/// FINANCE and ADMIN only (FORBIDDEN otherwise); null unless the scope is the whole portfolio.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct CostKpis {
    /// `sum(ACQUISITION costs with month in P) / newCustomers`
    #[graphql(guard = "RoleGuard(COST_READERS)")]
    pub cac: Option<Money>,
    /// `ltv / cac`
    #[graphql(guard = "RoleGuard(COST_READERS)")]
    pub ltv_to_cac: Option<f64>,
    /// `cac / (arpa * grossMargin)`
    #[graphql(guard = "RoleGuard(COST_READERS)")]
    pub cac_payback_months: Option<f64>,
    /// `sum(CS_* costs with month in P)`
    #[graphql(guard = "RoleGuard(COST_READERS)")]
    pub cost_to_serve: Option<Money>,
    /// `costToServe / average over the months of P of activeCustomers(month)`
    #[graphql(guard = "RoleGuard(COST_READERS)")]
    pub cost_to_serve_per_account: Option<Money>,
    /// `costToServe / |{a in C : MRR(a, last) > 0}|`
    #[graphql(guard = "RoleGuard(COST_READERS)")]
    pub customer_retention_cost: Option<Money>,
}

/// The roles that may read the cost KPIs.
pub const COST_READERS: &[Role] = &[Role::Admin, Role::Finance];

/// What one group's KPIs are computed from.
pub struct GroupData<'a> {
    pub group: &'a GroupKey,
    pub months: &'a HashMap<(GroupKey, MonthIndex), MonthTotals>,
    /// The period's own cohort (opening month B) and its trailing-twelve-month cohort.
    pub cohort: Option<&'a Cohort>,
    pub ttm_cohort: Option<&'a Cohort>,
}

impl GroupData<'_> {
    fn month(&self, month: MonthIndex) -> MonthTotals {
        self.months.get(&(self.group.clone(), month)).cloned().unwrap_or_default()
    }

    /// `startCustomers`: active customers in the month just before the period.
    pub fn opening_customers(&self, period: Period) -> i64 {
        self.month(period.opening()).active
    }

    /// The monthly logo churn rate `churnedCustomers(m) / activeCustomers(m - 1)`, exactly.
    fn logo_churn(&self, month: MonthIndex) -> Option<Ratio> {
        Ratio::new(self.month(month).churned_customers.into(), self.month(month - 1).active.into())
    }
}

/// The exact values the cost KPIs build on.
pub struct Exact {
    pub arpa: Option<Decimal>,
    pub ltv: Option<Ratio>,
    pub new_customers: i64,
    pub retained: Option<i64>,
    /// `sum over the months of P of activeCustomers(month)`, and the number of months.
    pub active_months: (i64, i64),
}

/// `ltv = arpa * grossMargin / c`, `c` the mean of the window's monthly logo churn rates (months
/// whose rate is null are left out); null without ARPA, without any month, or when `c = 0`.
fn ltv(last: &MonthTotals, churn_rates: impl Iterator<Item = Ratio>) -> Option<Ratio> {
    let arpa = Ratio::from_decimal(last.mrr)?.div(Ratio::new(last.active.into(), 1)?)?;
    let (mut sum, mut months) = (Ratio::new(0, 1)?, 0);
    for rate in churn_rates {
        sum = sum.add(rate)?;
        months += 1;
    }
    let mean = sum.div(Ratio::new(months, 1)?)?;
    if mean.is_zero() {
        return None;
    }
    arpa.mul(Ratio::from_decimal(GROSS_MARGIN)?)?.div(mean)
}

pub fn revenue_kpis(period: Period, data: &GroupData<'_>) -> (RevenueKpis, Exact) {
    let last = data.month(period.last);
    let opening = data.month(period.opening());
    let mut sum = MonthTotals::default();
    for m in period.months() {
        let month = data.month(m);
        sum.new_mrr += month.new_mrr;
        sum.new_customers += month.new_customers;
        sum.expansion_mrr += month.expansion_mrr;
        sum.contraction_mrr += month.contraction_mrr;
        sum.churned_mrr += month.churned_mrr;
        sum.churned_customers += month.churned_customers;
        sum.reactivation_mrr += month.reactivation_mrr;
        sum.reactivated_customers += month.reactivated_customers;
        sum.active += month.active;
    }
    let lost = sum.churned_mrr + sum.contraction_mrr;
    let won = sum.new_mrr + sum.expansion_mrr + sum.reactivation_mrr;
    let arpa = last.mrr.checked_div(Decimal::from(last.active)).filter(|_| last.active != 0);
    let ltv = ltv(&last, (period.last - LTV_WINDOW_MONTHS + 1..=period.last).filter_map(|m| data.logo_churn(m)));
    let retention = |cohort: Option<&Cohort>| {
        let cohort = cohort.cloned().unwrap_or_default();
        (ratio(cohort.end_mrr, cohort.start_mrr), ratio(cohort.kept_mrr, cohort.start_mrr))
    };
    let (nrr, grr) = retention(data.cohort);
    let (nrr_ttm, grr_ttm) = retention(data.ttm_cohort);
    let cohort = data.cohort.cloned().unwrap_or_default();
    let kpis = RevenueKpis {
        mrr: Money(last.mrr),
        arr: Money(last.mrr * Decimal::from(12)),
        active_customers: last.active as i32,
        new_mrr: Money(sum.new_mrr),
        expansion_mrr: Money(sum.expansion_mrr),
        contraction_mrr: Money(sum.contraction_mrr),
        churned_mrr: Money(sum.churned_mrr),
        reactivation_mrr: Money(sum.reactivation_mrr),
        net_new_mrr: Money(won - lost),
        new_customers: sum.new_customers as i32,
        reactivated_customers: sum.reactivated_customers as i32,
        churned_customers: sum.churned_customers as i32,
        logo_churn_rate: share(sum.churned_customers, opening.active),
        gross_mrr_churn_rate: ratio(lost, opening.mrr),
        net_mrr_churn_rate: ratio(lost - sum.expansion_mrr - sum.reactivation_mrr, opening.mrr),
        customer_retention_rate: share(cohort.retained, cohort.size),
        net_revenue_retention: nrr,
        gross_revenue_retention: grr,
        net_revenue_retention_ttm: nrr_ttm,
        gross_revenue_retention_ttm: grr_ttm,
        quick_ratio: ratio(won, lost),
        arpa: arpa.map(cents),
        ltv: ltv.and_then(Ratio::cents).map(Money),
        upsell_rate: share(cohort.upsold, cohort.size),
    };
    let exact = Exact {
        arpa,
        ltv,
        new_customers: sum.new_customers,
        retained: data.cohort.map(|c| c.retained),
        active_months: (sum.active, i64::from(period.length())),
    };
    (kpis, exact)
}

/// The cost KPIs of a whole-portfolio period.
pub fn cost_kpis(costs: &PeriodCosts, exact: &Exact) -> CostKpis {
    let cac = costs.acquisition.checked_div(Decimal::from(exact.new_customers)).filter(|_| exact.new_customers != 0);
    let (active_sum, months) = exact.active_months;
    let per_account = (active_sum != 0).then(|| costs.to_serve * Decimal::from(months) / Decimal::from(active_sum));
    let retention_cost = exact.retained.filter(|r| *r != 0).map(|r| costs.to_serve / Decimal::from(r));
    CostKpis {
        cac: cac.map(cents),
        ltv_to_cac: exact.ltv.and_then(Ratio::to_f64).zip(cac.and_then(|c| c.to_f64())).map(|(ltv, cac)| ltv / cac),
        cac_payback_months: cac.zip(exact.arpa).and_then(|(cac, arpa)| ratio(cac, arpa * GROSS_MARGIN)),
        cost_to_serve: Some(Money(costs.to_serve)),
        cost_to_serve_per_account: per_account.map(cents),
        customer_retention_cost: retention_cost.map(cents),
    }
}

/// The GraphQL names of [`RevenueKpis`], for the look-ahead that decides what to compute.
pub const REVENUE_FIELDS: &[&str] = &[
    "mrr",
    "arr",
    "activeCustomers",
    "newMrr",
    "expansionMrr",
    "contractionMrr",
    "churnedMrr",
    "reactivationMrr",
    "netNewMrr",
    "newCustomers",
    "reactivatedCustomers",
    "churnedCustomers",
    "logoChurnRate",
    "grossMrrChurnRate",
    "netMrrChurnRate",
    "customerRetentionRate",
    "netRevenueRetention",
    "grossRevenueRetention",
    "netRevenueRetentionTtm",
    "grossRevenueRetentionTtm",
    "quickRatio",
    "arpa",
    "ltv",
    "upsellRate",
];
