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

use super::movements::GroupKey;
use super::period::Period;
use super::revenue::share;
use super::scope::KpiScope;
use super::sql::{count, number, period_group};
use crate::error::AppResult;

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

pub async fn support(
    db: &DatabaseConnection,
    scope: &KpiScope,
    periods: &[Period],
) -> AppResult<HashMap<(usize, GroupKey), SupportKpis>> {
    let mut sql = scope.sql_over(db.get_database_backend(), periods);
    sql.push(
        " SELECT pr.p, sa.group_key, \
         SUM(CASE WHEN t.opened_at >= pr.start_at AND t.opened_at < pr.next_at THEN 1 ELSE 0 END) AS opened, \
         SUM(CASE WHEN t.resolved_at >= pr.start_at AND t.resolved_at < pr.next_at THEN 1 ELSE 0 END) AS resolved, \
         SUM(CASE WHEN t.resolved_at >= pr.start_at AND t.resolved_at < pr.next_at AND t.contacts_to_resolve = 1 THEN 1 ELSE 0 END) AS first_contact \
         FROM periods pr JOIN tickets t ON (t.opened_at >= pr.start_at AND t.opened_at < pr.next_at) \
         OR (t.resolved_at >= pr.start_at AND t.resolved_at < pr.next_at) \
         JOIN scope_accounts sa ON sa.account_id = t.account_id GROUP BY pr.p, sa.group_key",
    );
    let mut out: HashMap<(usize, GroupKey), SupportKpis> = HashMap::new();
    for row in db.query_all_raw(sql.statement()).await? {
        let (resolved, first_contact) = (count(&row, "resolved")?, count(&row, "first_contact")?);
        out.insert(
            period_group(&row)?,
            SupportKpis {
                tickets_opened: count(&row, "opened")? as i32,
                first_contact_resolution_rate: share(first_contact, resolved),
                ..SupportKpis::default()
            },
        );
    }
    for (key, hours) in median_hours(db, scope, periods, "first_response_at", "opened_at").await? {
        out.entry(key).or_default().median_first_response_hours = Some(hours);
    }
    for (key, hours) in median_hours(db, scope, periods, "resolved_at", "resolved_at").await? {
        out.entry(key).or_default().median_resolution_hours = Some(hours);
    }
    Ok(out)
}
