//! Adoption, onboarding and engagement (KPIS.md, section 5).
//!
//! | KPI | formula |
//! |---|---|
//! | `medianTimeToFirstValueDays` | median of `firstValueOn - startedOn` in days, accounts with `firstValueOn` in P and a `startedOn` |
//! | `onboardingCompletionRate` | among accounts active at the end of P: share with `onboardingCompletedOn <= end(P)` |
//! | `seatUtilization` | over accounts active at the end of P that have a usage record dated in `(end(P)-30, end(P)]`: `sum(activeUsers) / sum(licensedSeats)` of each one's latest such record (not capped at 1) |
//! | `engagementRate` | among accounts active at the end of P: share with at least one touchpoint in P (touchpoints belong to their account, whoever logged them) |
//! | `executiveRelationships` | accounts of S with at least one touchpoint `withExecutive` in P |
//! | `referrals` | accounts whose `referredByExternalId` names an account of S and whose `startedOn` is in P |
//!
//! "Active at the end of P" is `MRR(a, end(P)) > 0`: some subscription with `mrr > 0` covers that day.
//! The KPIs over those accounts read the ledger's month-end figures (`crate::ledger::health`),
//! `executiveRelationships` and `referrals` its activity counters, `medianTimeToFirstValueDays`
//! its lists of waits (`crate::ledger::activity`).
use std::collections::HashMap;

use async_graphql::SimpleObject;
use sea_orm::DatabaseConnection;

use super::activity::{Activity, median_waits};
use super::health;
use super::movements::GroupKey;
use super::period::Period;
use super::scope::KpiScope;
use crate::base::error::AppResult;
use crate::ledger::activity::{EXECUTIVE_ACCOUNTS, Wait, for_period};
use crate::metrics::activity::Counter;
use crate::metrics::catalog::{Entry, KPI_READERS};
use crate::metrics::share;

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct AdoptionKpis {
    pub median_time_to_first_value_days: Option<f64>,
    pub onboarding_completion_rate: Option<f64>,
    pub seat_utilization: Option<f64>,
    pub engagement_rate: Option<f64>,
    pub executive_relationships: i32,
    pub referrals: i32,
}

/// The fields over the accounts active at the end of P.
pub const MONTH_END_FIELDS: &[&str] = &["onboardingCompletionRate", "seatUtilization", "engagementRate"];

/// The field over the lists of first-value waits (`first_value` of [`adoption`]).
pub const FIRST_VALUE_FIELD: &str = "medianTimeToFirstValueDays";

pub async fn adoption(
    db: &DatabaseConnection,
    scope: &KpiScope<'_>,
    periods: &[Period],
    month_ends: &health::MonthEnds<'_>,
    activity: &Activity<'_>,
    first_value: bool,
) -> AppResult<HashMap<(usize, GroupKey), AdoptionKpis>> {
    let mut out: HashMap<(usize, GroupKey), AdoptionKpis> = HashMap::new();

    // Accounts active at the end of each period (the ledger's month-end figures, when the
    // request selects them): onboarding, engagement, seat utilization.
    for ((i, group), figures) in health::adoption_at_period_ends(month_ends).await? {
        let (active, counts) = (figures.accounts, figures.adoption);
        let months = periods[i].length();
        let kpis = out.entry((i, group)).or_default();
        kpis.onboarding_completion_rate = share(counts.onboarded, active);
        kpis.engagement_rate = counts.engaged_in(months).and_then(|engaged| share(engaged, active));
        kpis.seat_utilization = share(counts.seats_used, counts.seats);
    }

    // Executive relationships and referrals (the ledger's activity counters; referrals count in
    // the referrer's group, the referred account may be outside S).
    for ((i, group), counts) in activity.counts().await? {
        let executive = for_period(EXECUTIVE_ACCOUNTS, periods[*i].length()).map_or(0, |c| counts[c]);
        let kpis = out.entry((*i, group.clone())).or_default();
        kpis.executive_relationships = executive as i32;
        kpis.referrals = counts[Counter::Referrals] as i32;
    }

    // Median time to first value (the ledger's lists of waits), when the request selects it.
    if first_value {
        for (key, days) in median_waits(db, scope, periods, Wait::FirstValue).await? {
            out.entry(key).or_default().median_time_to_first_value_days = Some(days);
        }
    }
    Ok(out)
}

/// The adoption KPIs of the metric catalog; their names are the fields of [`AdoptionKpis`].
pub const CATALOG: &[Entry] = &[
    (
        "medianTimeToFirstValueDays",
        "days",
        "Median time to first value",
        "median of firstValueOn - startedOn in days over accounts with firstValueOn in P and a startedOn",
        KPI_READERS,
    ),
    (
        "onboardingCompletionRate",
        "ratio",
        "Share of active accounts that completed onboarding",
        "among accounts active at the end of P: share with onboardingCompletedOn <= end(P)",
        KPI_READERS,
    ),
    (
        "seatUtilization",
        "ratio",
        "Licensed seats in use (not capped at 1)",
        "over accounts active at the end of P with a usage record dated in (end(P)-30, end(P)]: sum(activeUsers) / sum(licensedSeats) of each one's latest such record",
        KPI_READERS,
    ),
    (
        "engagementRate",
        "ratio",
        "Share of active accounts with a touchpoint",
        "among accounts active at the end of P: share with at least one touchpoint in P (whoever logged it)",
        KPI_READERS,
    ),
    (
        "executiveRelationships",
        "count",
        "Accounts with an executive touchpoint",
        "accounts with at least one touchpoint withExecutive in P",
        KPI_READERS,
    ),
    (
        "referrals",
        "count",
        "Accounts referred by the scope's accounts",
        "accounts whose referredByExternalId names an account of the scope and whose startedOn is in P",
        KPI_READERS,
    ),
];
