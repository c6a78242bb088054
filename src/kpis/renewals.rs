//! Renewals (KPIS.md, section 1), from the ledger's activity counters of P.
//!
//! A subscription is *due* in P when its last active day, `endDate - 1 day`, is in P. It is
//! *renewed* when at least one other subscription (any account, any start) names it in
//! `renewsExternalId`. `renewalRate = renewed due / due` (counts);
//! `renewalDollarRate = sum(mrr of every subscription that renews a due one) / sum(mrr of due ones)`.
//! A due subscription belongs to S through its own account.
use std::collections::HashMap;

use rust_decimal::Decimal;

use super::activity::Activity;
use super::movements::GroupKey;
use crate::base::error::AppResult;
use crate::metrics::activity::{ActivityCounts, Counter, renewal_mrr};

#[derive(Clone, Debug, Default)]
pub struct Renewals {
    pub due: i64,
    pub renewed: i64,
    pub due_mrr: Decimal,
    pub renewal_mrr: Decimal,
}

impl Renewals {
    fn of(counts: &ActivityCounts) -> Renewals {
        Renewals {
            due: counts[Counter::RenewalsDue],
            renewed: counts[Counter::RenewalsRenewed],
            due_mrr: renewal_mrr(counts[Counter::RenewalsDueMrrWhole], counts[Counter::RenewalsDueMrr]),
            renewal_mrr: renewal_mrr(counts[Counter::RenewalsRenewalMrrWhole], counts[Counter::RenewalsRenewalMrr]),
        }
    }
}

/// Renewals per period (by position) and group.
pub async fn renewals(activity: &Activity<'_>) -> AppResult<HashMap<(usize, GroupKey), Renewals>> {
    Ok(activity.counts().await?.iter().map(|(key, counts)| (key.clone(), Renewals::of(counts))).collect())
}
