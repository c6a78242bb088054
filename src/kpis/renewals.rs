//! Renewals (KPIS.md, section 1), from the ledger's activity counters of P.
//!
//! A subscription is *due* in P when its last active day, `endDate - 1 day`, is in P. It is
//! *renewed* when at least one other subscription (any account, any start) names it in
//! `renewsExternalId`. `renewalRate = renewed due / due` (counts);
//! `renewalDollarRate = sum(mrr of every subscription that renews a due one) / sum(mrr of due ones)`.
//! A due subscription belongs to S through its own account.
use async_graphql::SimpleObject;
use rust_decimal::Decimal;

use super::revenue::ratio;
use crate::metrics::activity::{ActivityCounts, Counter, renewal_mrr};
use crate::metrics::catalog::{Entry, KPI_READERS};
use crate::metrics::share;

#[derive(Clone, Debug, Default)]
pub struct Renewals {
    pub due: i64,
    pub renewed: i64,
    pub due_mrr: Decimal,
    pub renewal_mrr: Decimal,
}

impl Renewals {
    /// From the counters of a period (and group).
    pub fn of(counts: &ActivityCounts) -> Renewals {
        Renewals {
            due: counts[Counter::RenewalsDue],
            renewed: counts[Counter::RenewalsRenewed],
            due_mrr: renewal_mrr(counts[Counter::RenewalsDueMrrWhole], counts[Counter::RenewalsDueMrr]),
            renewal_mrr: renewal_mrr(counts[Counter::RenewalsRenewalMrrWhole], counts[Counter::RenewalsRenewalMrr]),
        }
    }
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

/// The renewal KPIs of the metric catalog; their names are the fields of `RenewalKpis`.
pub const CATALOG: &[Entry] = &[
    (
        "renewalRate",
        "ratio",
        "Share of due subscriptions renewed",
        "renewed due / due; due in P when endDate - 1 day is in P; renewed when another subscription names it in renewsExternalId",
        KPI_READERS,
    ),
    (
        "renewalDollarRate",
        "ratio",
        "Renewed MRR over due MRR (may exceed 1)",
        "sum(mrr of every subscription renewing a due one) / sum(mrr of due ones)",
        KPI_READERS,
    ),
];
