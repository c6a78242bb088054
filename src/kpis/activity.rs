//! The ledger's activity counters (`crate::ledger::activity`) of a request's periods: what the
//! records dated in P of the accounts of S add up to, per period and group, read once for every
//! family that counts them (voice, support, growth, the scorecards' touchpoints), whichever asks
//! first.
use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::sync::OnceCell;

use super::movements::GroupKey;
use super::period::Period;
use super::scope::{JOIN_BOOKS, KpiScope};
use super::sql::count;
use crate::error::AppResult;
use crate::ledger::activity::{ACTIVITY_COLUMNS, ActivityCounts, Counter};

/// The counters per period (by position) and group.
pub type PeriodCounts = HashMap<(usize, GroupKey), ActivityCounts>;

pub struct Activity<'a> {
    db: &'a DatabaseConnection,
    scope: &'a KpiScope,
    periods: &'a [Period],
    counts: OnceCell<PeriodCounts>,
}

impl<'a> Activity<'a> {
    pub fn new(db: &'a DatabaseConnection, scope: &'a KpiScope, periods: &'a [Period]) -> Self {
        Activity { db, scope, periods, counts: OnceCell::new() }
    }

    /// The counters of each period and group (none for a group without records in the periods).
    pub async fn counts(&self) -> AppResult<&PeriodCounts> {
        self.counts.get_or_try_init(|| counts_in_periods(self.db, self.scope, self.periods)).await
    }

    /// One counter per period and group.
    pub async fn counter(&self, counter: Counter) -> AppResult<HashMap<(usize, GroupKey), i64>> {
        Ok(self.counts().await?.iter().map(|(key, counts)| (key.clone(), counts[counter])).collect())
    }
}

/// `activity_book_months` over the books of S and the months of `periods`, summed per group and
/// month, then per period over its months.
async fn counts_in_periods(db: &DatabaseConnection, scope: &KpiScope, periods: &[Period]) -> AppResult<PeriodCounts> {
    let (Some(first), Some(last)) = (periods.iter().map(|p| p.first).min(), periods.iter().map(|p| p.last).max())
    else {
        return Ok(PeriodCounts::new());
    };
    let mut sql = scope.over_books(db).await?;
    let sums = ACTIVITY_COLUMNS.iter().map(|c| format!("CAST(SUM(r.{c}) AS BIGINT) AS {c}"));
    sql.push(&format!(
        "SELECT b.group_key, r.month, {} FROM activity_book_months r {JOIN_BOOKS} WHERE r.month >= ",
        sums.collect::<Vec<_>>().join(", ")
    ))
    .bind(first)
    .push(" AND r.month <= ")
    .bind(last)
    .push(" GROUP BY b.group_key, r.month");
    let mut out = PeriodCounts::new();
    for row in db.query_all_raw(sql.statement()).await? {
        let mut counts = ActivityCounts::default();
        for (value, column) in counts.0.iter_mut().zip(ACTIVITY_COLUMNS) {
            *value = count(&row, column)?;
        }
        let (group, month): (GroupKey, i32) = (row.try_get("", "group_key")?, row.try_get("", "month")?);
        for (i, _) in periods.iter().enumerate().filter(|(_, p)| p.first <= month && month <= p.last) {
            out.entry((i, group.clone())).or_default().merge(&counts, 1);
        }
    }
    Ok(out)
}
