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
use std::collections::HashMap;

use async_graphql::SimpleObject;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::activity::Activity;
use super::movements::GroupKey;
use super::period::Period;
use super::revenue::share;
use super::scope::KpiScope;
use super::sql::{number, period_group};
use crate::error::AppResult;
use crate::ledger::activity::Counter;

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct SupportKpis {
    pub tickets_opened: i32,
    pub first_contact_resolution_rate: Option<f64>,
    pub median_first_response_hours: Option<f64>,
    pub median_resolution_hours: Option<f64>,
}

pub const FIELDS: &[&str] =
    &["ticketsOpened", "firstContactResolutionRate", "medianFirstResponseHours", "medianResolutionHours"];

const SECONDS_PER_HOUR: f64 = 3600.0;

/// The median, in hours, of `end - openedAt` over the tickets whose `selected_by` is in P.
async fn median_hours(
    db: &DatabaseConnection,
    scope: &KpiScope,
    periods: &[Period],
    end: &str,
    selected_by: &str,
) -> AppResult<HashMap<(usize, GroupKey), f64>> {
    let mut sql = scope.sql_over(db.get_database_backend(), periods);
    let duration = sql.seconds_between(&format!("t.{end}"), "t.opened_at");
    sql.push(&format!(
        ", durations(p, group_key, v) AS (SELECT pr.p, sa.group_key, {duration} FROM periods pr \
         JOIN tickets t ON t.{selected_by} >= pr.start_at AND t.{selected_by} < pr.next_at AND t.{end} IS NOT NULL \
         JOIN scope_accounts sa ON sa.account_id = t.account_id) "
    ));
    sql.median("durations");
    let rows = db.query_all_raw(sql.statement()).await?;
    let mut out = HashMap::new();
    for row in &rows {
        if let Some(seconds) = number(row, "median")? {
            out.insert(period_group(row)?, seconds / SECONDS_PER_HOUR);
        }
    }
    Ok(out)
}

/// The counts from the ledger's activity counters of P; the medians from the tickets.
pub async fn support(
    db: &DatabaseConnection,
    scope: &KpiScope,
    periods: &[Period],
    activity: &Activity<'_>,
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
    // The two medians sort different tickets: each on its own connection, at once.
    let (first_response, resolution) = tokio::try_join!(
        median_hours(db, scope, periods, "first_response_at", "opened_at"),
        median_hours(db, scope, periods, "resolved_at", "resolved_at"),
    )?;
    for (key, hours) in first_response {
        out.entry(key).or_default().median_first_response_hours = Some(hours);
    }
    for (key, hours) in resolution {
        out.entry(key).or_default().median_resolution_hours = Some(hours);
    }
    Ok(out)
}
