//! Renewals (KPIS.md, section 1), the whole family in one place: what the ledger counts for a
//! subscription that falls due, the KPIs of a period from those counters, and their catalog
//! entries.
//!
//! A subscription is *due* in P when its last active day, `endDate - 1 day`, is in P. It is
//! *renewed* when at least one other subscription (any account, any start) names it in
//! `renewsExternalId`. `renewalRate = renewed due / due` (counts);
//! `renewalDollarRate = sum(mrr of every subscription that renews a due one) / sum(mrr of due ones)`.
//! A due subscription belongs to S through its own account.
use async_graphql::SimpleObject;
use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::activity::{ActivityCounts, Counter, renewal_mrr};
use super::catalog::{Entry, KPI_READERS};
use super::{ratio, share};

/// The day a subscription ending (exclusively) on `end` falls due: its last active day.
pub fn last_active_day(end: NaiveDate) -> Option<NaiveDate> {
    end.pred_opt()
}

/// What the ledger counts, in the month of its last active day, for a subscription of `mrr`
/// falling due, renewed by subscriptions of `renewals` MRR each.
pub fn count_due(counts: &mut ActivityCounts, mrr: Decimal, renewals: &[Decimal]) {
    counts.bump(Counter::RenewalsDue, 1);
    counts.bump(Counter::RenewalsRenewed, i64::from(!renewals.is_empty()));
    counts.add_money([Counter::RenewalsDueMrrWhole, Counter::RenewalsDueMrr], mrr);
    for renewal in renewals {
        counts.add_money([Counter::RenewalsRenewalMrrWhole, Counter::RenewalsRenewalMrr], *renewal);
    }
}

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
