//! The ledger's activity (`crate::ledger::activity`) of a request's periods: what the records
//! dated in P of the accounts of S add up to, per period and group, read once for every family
//! that counts them (voice, support, adoption, growth, the scorecards' touchpoints), whichever
//! asks first; and the medians of the waits it lists.
use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::sync::OnceCell;

use super::movements::GroupKey;
use super::period::Period;
use super::scope::{KpiScope, OverBooks};
use crate::base::calendar::MonthIndex;
use crate::base::error::AppResult;
use crate::base::sql::count;
use crate::ledger::activity::Wait;
use crate::ledger::wait_list::decode_waits_into;
use crate::metrics::activity::{ACTIVITY_COLUMNS, ActivityCounts, Counter};

/// The counters per period (by position) and group.
pub type PeriodCounts = HashMap<(usize, GroupKey), ActivityCounts>;

pub struct Activity<'a> {
    db: &'a DatabaseConnection,
    scope: &'a KpiScope<'a>,
    periods: &'a [Period],
    counts: OnceCell<PeriodCounts>,
}

impl<'a> Activity<'a> {
    pub fn new(scope: &'a KpiScope<'a>, periods: &'a [Period]) -> Self {
        Activity { db: scope.connection(), scope, periods, counts: OnceCell::new() }
    }

    /// `kpis` of the counters of each period and group.
    pub async fn each<K>(&self, kpis: impl Fn(&ActivityCounts) -> K) -> AppResult<HashMap<(usize, GroupKey), K>> {
        Ok(self.counts().await?.iter().map(|(key, counts)| (key.clone(), kpis(counts))).collect())
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

/// The first and last month of `periods` (none without periods).
fn month_span(periods: &[Period]) -> Option<(MonthIndex, MonthIndex)> {
    Some((periods.iter().map(|p| p.first).min()?, periods.iter().map(|p| p.last).max()?))
}

/// The positions of the periods that hold `month`.
fn periods_holding(periods: &[Period], month: MonthIndex) -> impl Iterator<Item = usize> + '_ {
    periods.iter().enumerate().filter(move |(_, p)| p.first <= month && month <= p.last).map(|(i, _)| i)
}

/// `activity_book_months` over the books of S and the months of `periods`, summed per group and
/// month, then per period over its months.
async fn counts_in_periods(
    db: &DatabaseConnection,
    scope: &KpiScope<'_>,
    periods: &[Period],
) -> AppResult<PeriodCounts> {
    let Some((first, last)) = month_span(periods) else { return Ok(PeriodCounts::new()) };
    let OverBooks { mut sql, join, group_key } = scope.over_books(db).await?;
    let sums = ACTIVITY_COLUMNS.iter().map(|c| format!("CAST(SUM(r.{c}) AS BIGINT) AS {c}"));
    sql.push(&format!(
        "SELECT {group_key} AS group_key, r.month, {} FROM activity_book_months r {join} WHERE r.month >= ",
        sums.collect::<Vec<_>>().join(", ")
    ))
    .bind(first)
    .push(" AND r.month <= ")
    .bind(last)
    .push(&format!(" GROUP BY {group_key}, r.month"));
    let mut out = PeriodCounts::new();
    for row in db.query_all_raw(sql.statement()).await? {
        let mut counts = ActivityCounts::default();
        for (value, column) in counts.0.iter_mut().zip(ACTIVITY_COLUMNS) {
            *value = count(&row, column)?;
        }
        let (group, month): (GroupKey, i32) = (row.try_get("", "group_key")?, row.try_get("", "month")?);
        for i in periods_holding(periods, month) {
            out.entry((i, group.clone())).or_default().merge(&counts, 1);
        }
    }
    Ok(out)
}

/// The median (the mean of the two middle values for an even count) of `wait` per period and
/// group, in its unit, over the ledger's lists (`wait_book_months`) of the months of `periods`
/// and the books of S.
pub async fn median_waits(
    db: &DatabaseConnection,
    scope: &KpiScope<'_>,
    periods: &[Period],
    wait: Wait,
) -> AppResult<HashMap<(usize, GroupKey), f64>> {
    let Some((first, last)) = month_span(periods) else { return Ok(HashMap::new()) };
    let OverBooks { mut sql, join, group_key } = scope.over_books(db).await?;
    sql.push(&format!(
        "SELECT {group_key} AS group_key, r.month, r.waits FROM wait_book_months r {join} WHERE r.measure = "
    ))
    .bind(wait as i32)
    .push(" AND r.month >= ")
    .bind(first)
    .push(" AND r.month <= ")
    .bind(last);
    let mut values: HashMap<(usize, GroupKey), Vec<i64>> = HashMap::new();
    for row in db.query_all_raw(sql.statement()).await? {
        let (group, month): (GroupKey, i32) = (row.try_get("", "group_key")?, row.try_get("", "month")?);
        let waits: Vec<u8> = row.try_get("", "waits")?;
        for i in periods_holding(periods, month) {
            decode_waits_into(&waits, values.entry((i, group.clone())).or_default())?;
        }
    }
    Ok(values.into_iter().filter_map(|(key, mut values)| median(&mut values).map(|m| (key, m))).collect())
}

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
