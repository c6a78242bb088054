//! The revenue and cost KPIs of one period and group (KPIS.md, sections 1 and 2), from the
//! month totals, cohorts, renewals and costs the SQL of this module's siblings computes.
use std::collections::HashMap;

use async_graphql::SimpleObject;
use rust_decimal::{Decimal, RoundingStrategy};

use super::movements::{Cohort, GroupKey, MonthTotals};
use super::period::Period;
use super::ratio::Ratio;
use crate::base::calendar::MonthIndex;
use crate::base::scalars::Decimal as Money;
use crate::metrics::catalog::{Entry, KPI_READERS};
use crate::metrics::{ratio, share};

/// Months whose logo churn rates `ltv` averages.
pub const LTV_WINDOW_MONTHS: i32 = 6;

/// Money that is a quotient: computed exactly, shown rounded half-to-even to the cent.
pub(super) fn cents(amount: Decimal) -> Money {
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

/// What one group's KPIs are computed from.
pub struct GroupData<'a> {
    pub group: &'a GroupKey,
    pub months: &'a HashMap<(GroupKey, MonthIndex), MonthTotals>,
    /// The period's own cohort (opening month B) and its trailing-twelve-month cohort.
    pub cohort: Option<&'a Cohort>,
    pub ttm_cohort: Option<&'a Cohort>,
    /// The finance setting `grossMargin` (see `super::finance`).
    pub gross_margin: Decimal,
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
    pub gross_margin: Decimal,
    pub new_customers: i64,
    pub retained: Option<i64>,
    /// `sum over the months of P of activeCustomers(month)`, and the number of months.
    pub active_months: (i64, i64),
}

/// `ltv = arpa * grossMargin / c`, `c` the mean of the window's monthly logo churn rates (months
/// whose rate is null are left out); null without ARPA, without any month, or when `c = 0`.
fn ltv(last: &MonthTotals, churn_rates: impl Iterator<Item = Ratio>, gross_margin: Decimal) -> Option<Ratio> {
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
    arpa.mul(Ratio::from_decimal(gross_margin)?)?.div(mean)
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
    let churn_rates = (period.last - LTV_WINDOW_MONTHS + 1..=period.last).filter_map(|m| data.logo_churn(m));
    let ltv = ltv(&last, churn_rates, data.gross_margin);
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
        gross_margin: data.gross_margin,
        new_customers: sum.new_customers,
        retained: data.cohort.map(|c| c.retained),
        active_months: (sum.active, i64::from(period.length())),
    };
    (kpis, exact)
}

/// The revenue KPIs of the metric catalog; their names are the fields of [`RevenueKpis`].
pub const CATALOG: &[Entry] = &[
    (
        "mrr",
        "currency",
        "Monthly recurring revenue at the end of the period",
        "sum over accounts of MRR(a, end of the period's last month); MRR(a, d) = sum(s.mrr) of subscriptions with startDate <= d < endDate (endDate exclusive, null = open)",
        KPI_READERS,
    ),
    ("arr", "currency", "Annual recurring revenue", "12 * mrr", KPI_READERS),
    (
        "activeCustomers",
        "count",
        "Paying accounts at the end of the period",
        "accounts with MRR(a, last month) > 0",
        KPI_READERS,
    ),
    (
        "newMrr",
        "currency",
        "MRR of first-time customers",
        "sum of NEW movements: p = 0, c > 0 and MRR(a, m) = 0 for every earlier month m; amount c",
        KPI_READERS,
    ),
    (
        "expansionMrr",
        "currency",
        "MRR added by existing customers",
        "sum of EXPANSION movements: p > 0, c > p; amount c - p",
        KPI_READERS,
    ),
    (
        "contractionMrr",
        "currency",
        "MRR lost by customers who stayed",
        "sum of CONTRACTION movements: p > 0, 0 < c < p; amount p - c",
        KPI_READERS,
    ),
    (
        "churnedMrr",
        "currency",
        "MRR of customers who left",
        "sum of CHURN movements: p > 0, c = 0; amount p",
        KPI_READERS,
    ),
    (
        "reactivationMrr",
        "currency",
        "MRR of returning customers",
        "sum of REACTIVATION movements: p = 0, c > 0 and MRR(a, m) > 0 for some month m < M-1; amount c",
        KPI_READERS,
    ),
    (
        "netNewMrr",
        "currency",
        "Net change of MRR",
        "newMrr + expansionMrr + reactivationMrr - contractionMrr - churnedMrr (= MRR(last month of P) - MRR(last month of prev(P)))",
        KPI_READERS,
    ),
    ("newCustomers", "count", "NEW movements in the period", "count of NEW movements", KPI_READERS),
    (
        "reactivatedCustomers",
        "count",
        "REACTIVATION movements in the period",
        "count of REACTIVATION movements",
        KPI_READERS,
    ),
    ("churnedCustomers", "count", "CHURN movements in the period", "count of CHURN movements", KPI_READERS),
    (
        "logoChurnRate",
        "ratio",
        "Share of customers lost",
        "churnedCustomers / startCustomers, startCustomers = active customers in the month before the period (every CHURN of the period counts, so it can exceed the share of opening customers lost)",
        KPI_READERS,
    ),
    (
        "grossMrrChurnRate",
        "ratio",
        "Share of opening MRR lost",
        "(churnedMrr + contractionMrr) / startMrr, startMrr = MRR of the month before the period",
        KPI_READERS,
    ),
    (
        "netMrrChurnRate",
        "ratio",
        "Net share of opening MRR lost (may be negative)",
        "(churnedMrr + contractionMrr - expansionMrr - reactivationMrr) / startMrr",
        KPI_READERS,
    ),
    (
        "customerRetentionRate",
        "ratio",
        "Share of the opening cohort still paying",
        "|{a in C : MRR(a, last) > 0}| / |C|, C = accounts with MRR > 0 in the month before the period",
        KPI_READERS,
    ),
    (
        "netRevenueRetention",
        "ratio",
        "Net revenue retention of the opening cohort",
        "sum_{a in C} MRR(a, last) / sum_{a in C} MRR(a, B)",
        KPI_READERS,
    ),
    (
        "grossRevenueRetention",
        "ratio",
        "Gross revenue retention of the opening cohort",
        "sum_{a in C} min(MRR(a, last), MRR(a, B)) / sum_{a in C} MRR(a, B)",
        KPI_READERS,
    ),
    (
        "netRevenueRetentionTtm",
        "ratio",
        "Net revenue retention over the trailing twelve months",
        "netRevenueRetention with B = last month of P minus 12 months and the cohort taken at that B",
        KPI_READERS,
    ),
    (
        "grossRevenueRetentionTtm",
        "ratio",
        "Gross revenue retention over the trailing twelve months",
        "grossRevenueRetention with B = last month of P minus 12 months",
        KPI_READERS,
    ),
    (
        "quickRatio",
        "ratio",
        "Growth efficiency (reactivation counts as growth)",
        "(newMrr + expansionMrr + reactivationMrr) / (churnedMrr + contractionMrr)",
        KPI_READERS,
    ),
    (
        "arpa",
        "currency",
        "Average revenue per account",
        "mrr / activeCustomers at the period end, rounded half-to-even to the cent",
        KPI_READERS,
    ),
    (
        "ltv",
        "currency",
        "Customer lifetime value (on 6-month churn)",
        "arpa * grossMargin / c, c = mean monthly logoChurnRate of the 6 months ending with the last month of P (null months left out; null when c = 0); grossMargin is the finance setting (setFinanceSettings; 1.0 until set), applied to every period from the moment it is set",
        KPI_READERS,
    ),
    (
        "upsellRate",
        "ratio",
        "Share of the opening cohort that expanded",
        "|{a in C : a has an EXPANSION movement in P}| / |C|",
        KPI_READERS,
    ),
];
