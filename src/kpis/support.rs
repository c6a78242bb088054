//! Support (KPIS.md, section 4): tickets of accounts in S.
//!
//! | KPI | formula |
//! |---|---|
//! | `ticketsOpened` | tickets with `openedAt` in P |
//! | `firstContactResolutionRate` | among tickets with `resolvedAt` in P (also those with `contactsToResolve` null): share with `contactsToResolve = 1` |
//! | `medianFirstResponseHours` | median of `(firstResponseAt - openedAt)` in hours, tickets with `openedAt` in P and a first response |
//! | `medianResolutionHours` | median of `(resolvedAt - openedAt)` in hours, tickets with `resolvedAt` in P |
//!
//! The median of an even count is the mean of the two middle values.
//!
//! Everything comes from the ledger (`crate::ledger::activity`): the counts from its counters,
//! the medians from its lists of ticket durations per book and month, merged over the months of
//! P and the books of each group.
use std::collections::HashMap;

use async_graphql::SimpleObject;
use sea_orm::DatabaseConnection;

use super::activity::{Activity, median_waits};
use super::movements::GroupKey;
use super::period::Period;
use super::scope::KpiScope;
use crate::base::error::AppResult;
use crate::ledger::activity::Wait;
use crate::metrics::activity::Counter;
use crate::metrics::catalog::{Entry, KPI_READERS};
use crate::metrics::share;

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct SupportKpis {
    pub tickets_opened: i32,
    pub first_contact_resolution_rate: Option<f64>,
    pub median_first_response_hours: Option<f64>,
    pub median_resolution_hours: Option<f64>,
}

/// The fields of the medians: of [`Wait::FirstResponse`] and [`Wait::Resolution`].
pub const MEDIAN_FIELDS: [&str; 2] = ["medianFirstResponseHours", "medianResolutionHours"];

const MICROS_PER_HOUR: f64 = 3_600_000_000.0;

/// The counts, and the medians of [`MEDIAN_FIELDS`] that `medians` asks for (the others stay
/// `null`).
pub async fn support(
    db: &DatabaseConnection,
    scope: &KpiScope<'_>,
    periods: &[Period],
    activity: &Activity<'_>,
    medians: [bool; 2],
) -> AppResult<HashMap<(usize, GroupKey), SupportKpis>> {
    let mut out: HashMap<(usize, GroupKey), SupportKpis> = HashMap::new();
    for (key, c) in activity.counts().await? {
        let kpis = SupportKpis {
            tickets_opened: c[Counter::TicketsOpened] as i32,
            first_contact_resolution_rate: share(c[Counter::FirstContactResolutions], c[Counter::TicketsResolved]),
            ..SupportKpis::default()
        };
        out.insert(key.clone(), kpis);
    }
    let waits = [Wait::FirstResponse, Wait::Resolution].into_iter().zip(medians);
    for (wait, _) in waits.filter(|(_, wanted)| *wanted) {
        for (key, micros) in median_waits(db, scope, periods, wait).await? {
            let (kpis, hours) = (out.entry(key).or_default(), Some(micros / MICROS_PER_HOUR));
            match wait {
                Wait::FirstResponse => kpis.median_first_response_hours = hours,
                _ => kpis.median_resolution_hours = hours,
            }
        }
    }
    Ok(out)
}

/// The support KPIs of the metric catalog; their names are the fields of [`SupportKpis`].
pub const CATALOG: &[Entry] = &[
    ("ticketsOpened", "count", "Support tickets opened", "tickets with openedAt in P", KPI_READERS),
    (
        "firstContactResolutionRate",
        "ratio",
        "Share of resolved tickets solved at the first contact",
        "among tickets with resolvedAt in P (also those with contactsToResolve null): share with contactsToResolve = 1",
        KPI_READERS,
    ),
    (
        "medianFirstResponseHours",
        "hours",
        "Median time to the first response",
        "median of (firstResponseAt - openedAt) in hours over tickets with openedAt in P and a first response (even count: mean of the two middle values)",
        KPI_READERS,
    ),
    (
        "medianResolutionHours",
        "hours",
        "Median time to resolution",
        "median of (resolvedAt - openedAt) in hours over tickets with resolvedAt in P (selected by resolution)",
        KPI_READERS,
    ),
];
