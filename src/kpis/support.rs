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
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::activity::Activity;
use super::movements::GroupKey;
use super::period::Period;
use super::revenue::share;
use super::scope::{JOIN_BOOKS, KpiScope};
use crate::error::AppResult;
use crate::ledger::activity::{Counter, TicketTime, decode_times};

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct SupportKpis {
    pub tickets_opened: i32,
    pub first_contact_resolution_rate: Option<f64>,
    pub median_first_response_hours: Option<f64>,
    pub median_resolution_hours: Option<f64>,
}

pub const FIELDS: &[&str] =
    &["ticketsOpened", "firstContactResolutionRate", "medianFirstResponseHours", "medianResolutionHours"];

/// The fields of the medians, by [`TicketTime`].
pub const MEDIAN_FIELDS: [&str; 2] = ["medianFirstResponseHours", "medianResolutionHours"];

const MICROS_PER_HOUR: f64 = 3_600_000_000.0;

/// The median of `values` (the mean of the two middle ones for an even count).
fn median(values: &mut [i64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let even = values.len().is_multiple_of(2);
    let (lower_half, upper, _) = values.select_nth_unstable(values.len() / 2);
    let upper = *upper as f64;
    match lower_half.iter().max() {
        Some(lower) if even => Some((*lower as f64 + upper) / 2.0),
        _ => Some(upper),
    }
}

/// The median of `time` in hours per period and group, over the ledger's lists of the months of
/// `periods` and the books of S.
async fn median_hours(
    db: &DatabaseConnection,
    scope: &KpiScope,
    periods: &[Period],
    time: TicketTime,
) -> AppResult<HashMap<(usize, GroupKey), f64>> {
    let (Some(first), Some(last)) = (periods.iter().map(|p| p.first).min(), periods.iter().map(|p| p.last).max())
    else {
        return Ok(HashMap::new());
    };
    let mut sql = scope.over_books(db).await?;
    sql.push(&format!(
        "SELECT b.group_key, r.month, r.micros FROM ticket_time_book_months r {JOIN_BOOKS} WHERE r.measure = "
    ))
    .bind(time as i32)
    .push(" AND r.month >= ")
    .bind(first)
    .push(" AND r.month <= ")
    .bind(last);
    let mut values: HashMap<(usize, GroupKey), Vec<i64>> = HashMap::new();
    for row in db.query_all_raw(sql.statement()).await? {
        let (group, month): (GroupKey, i32) = (row.try_get("", "group_key")?, row.try_get("", "month")?);
        let micros: Vec<u8> = row.try_get("", "micros")?;
        for (i, _) in periods.iter().enumerate().filter(|(_, p)| p.first <= month && month <= p.last) {
            values.entry((i, group.clone())).or_default().extend(decode_times(&micros));
        }
    }
    Ok(values
        .into_iter()
        .filter_map(|(key, mut values)| median(&mut values).map(|m| (key, m / MICROS_PER_HOUR)))
        .collect())
}

/// The counts, and the medians of [`MEDIAN_FIELDS`] that `medians` asks for (the others stay
/// `null`).
pub async fn support(
    db: &DatabaseConnection,
    scope: &KpiScope,
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
    for time in TicketTime::ALL.into_iter().filter(|t| medians[*t as usize]) {
        for (key, hours) in median_hours(db, scope, periods, time).await? {
            let kpis = out.entry(key).or_default();
            match time {
                TicketTime::FirstResponse => kpis.median_first_response_hours = Some(hours),
                TicketTime::Resolution => kpis.median_resolution_hours = Some(hours),
            }
        }
    }
    Ok(out)
}
