//! Month-end MRR, MRR movements and revenue cohorts (KPIS.md, section 1), read from the MRR
//! ledger (`crate::ledger`) that ingest keeps exact: per book (CSM x segment) and month, the sums
//! of the movements and the changes of month-end MRR and active customers; per book, window
//! length and opening month, the changes of the cohort sums. A scope is a set of books, so each
//! figure is a sum over a few thousand rollup rows, whatever the number of subscriptions.
//!
//! **MRR of an account on a date d**: `MRR(a, d) = sum(s.mrr)` over its subscriptions with
//! `s.startDate <= d` and (`s.endDate` is null or `d < s.endDate`); month-end MRR
//! `MRR(a, M) = MRR(a, end(M))`.
//!
//! **Movements**, from `p = MRR(a, M-1)` and `c = MRR(a, M)`:
//! NEW `p = 0, c > 0` and `MRR(a, m) = 0` for every `m < M` (amount `c`);
//! REACTIVATION `p = 0, c > 0` and `MRR(a, m) > 0` for some `m < M-1` (`c`);
//! EXPANSION `p > 0, c > p` (`c - p`); CONTRACTION `p > 0, 0 < c < p` (`p - c`);
//! CHURN `p > 0, c = 0` (`p`).
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::RangeInclusive;

use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult};

use super::scope::{KpiScope, OverBooks};
use crate::base::calendar::MonthIndex;
use crate::base::error::{AppError, AppResult};
use crate::base::sql::{Sql, count};
use crate::ledger::series::COHORT_WINDOWS;
use crate::ledger::{read_amount, select_amount};

/// One group's month: month-end MRR and active customers, and its movements by kind (the
/// figures the ledger keeps as monthly changes, here summed).
pub type MonthTotals = crate::ledger::series::MonthDelta;

pub type GroupKey = Option<String>;

/// Month totals per group for every month of `months`: the movements of the month, and month-end
/// MRR and active customers as running sums of their changes over every earlier month (the
/// months before `months` summed into one in SQL).
pub async fn month_totals(
    db: &DatabaseConnection,
    scope: &KpiScope<'_>,
    months: RangeInclusive<MonthIndex>,
) -> AppResult<HashMap<(GroupKey, MonthIndex), MonthTotals>> {
    let backend = db.get_database_backend();
    let OverBooks { mut sql, join, group_key } = scope.over_books(db).await?;
    let amount = |column: &str, alias: &str| select_amount(backend, true, "r", column, alias);
    sql.push(&format!("SELECT {group_key} AS group_key, CASE WHEN r.month < "))
        .bind(*months.start())
        .push(" THEN ")
        .bind(*months.start() - 1)
        .push(" ELSE r.month END AS change_month, ");
    sql.push(&format!(
        "{}, CAST(SUM(r.active_delta) AS BIGINT) AS active, \
         {}, CAST(SUM(r.new_customers) AS BIGINT) AS new_customers, {}, {}, \
         {}, CAST(SUM(r.churned_customers) AS BIGINT) AS churned_customers, \
         {}, CAST(SUM(r.reactivated_customers) AS BIGINT) AS reactivated_customers \
         FROM mrr_book_months r {join} WHERE r.month <= ",
        amount("mrr_delta", "mrr"),
        amount("new_mrr", "new_mrr"),
        amount("expansion_mrr", "expansion_mrr"),
        amount("contraction_mrr", "contraction_mrr"),
        amount("churned_mrr", "churned_mrr"),
        amount("reactivation_mrr", "reactivation_mrr"),
    ))
    .bind(*months.end())
    .push(&format!(" GROUP BY {group_key}, change_month"));
    let read = |row: &QueryResult| -> Result<((GroupKey, MonthIndex), MonthTotals), DbErr> {
        let key = (row.try_get::<Option<String>>("", "group_key")?, row.try_get::<i32>("", "change_month")?);
        Ok((
            key,
            MonthTotals {
                mrr: read_amount(backend, row, "mrr")?,
                active: count(row, "active")?,
                new_mrr: read_amount(backend, row, "new_mrr")?,
                new_customers: count(row, "new_customers")?,
                expansion_mrr: read_amount(backend, row, "expansion_mrr")?,
                contraction_mrr: read_amount(backend, row, "contraction_mrr")?,
                churned_mrr: read_amount(backend, row, "churned_mrr")?,
                churned_customers: count(row, "churned_customers")?,
                reactivation_mrr: read_amount(backend, row, "reactivation_mrr")?,
                reactivated_customers: count(row, "reactivated_customers")?,
            },
        ))
    };
    let rows = db.query_all_raw(sql.statement()).await?;
    let mut changes: HashMap<GroupKey, BTreeMap<MonthIndex, MonthTotals>> = HashMap::new();
    for row in &rows {
        let ((group, month), totals) = read(row)?;
        changes.entry(group).or_default().insert(month, totals);
    }
    let mut out = HashMap::new();
    for (group, changes) in changes {
        // Month-end MRR and active customers are running sums of their monthly changes.
        let (mut mrr, mut active) = (Decimal::ZERO, 0);
        for earlier in changes.range(..*months.start()).map(|(_, t)| t) {
            mrr += earlier.mrr;
            active += earlier.active;
        }
        for month in months.clone() {
            let mut totals = changes.get(&month).cloned().unwrap_or_default();
            mrr += totals.mrr;
            active += totals.active;
            (totals.mrr, totals.active) = (mrr.normalize(), active);
            out.insert((group.clone(), month), totals);
        }
    }
    Ok(out)
}

/// An opening cohort `C = {a in S : MRR(a, B) > 0}` followed to month `L`.
#[derive(Clone, Debug, Default)]
pub struct Cohort {
    /// `|C|`
    pub size: i64,
    /// `sum_{a in C} MRR(a, B)`
    pub start_mrr: Decimal,
    /// `sum_{a in C} MRR(a, L)`
    pub end_mrr: Decimal,
    /// `sum_{a in C} min(MRR(a, L), MRR(a, B))`
    pub kept_mrr: Decimal,
    /// `|{a in C : MRR(a, L) > 0}|`
    pub retained: i64,
    /// `|{a in C : a has an EXPANSION movement in first..=L}|`
    pub upsold: i64,
}

/// A cohort to follow: opening month `opening` to last month `last`, `last - opening` one of
/// the ledger's window lengths (1, 3 or 12 months).
#[derive(Clone, Copy, Debug)]
pub struct CohortWindow {
    pub opening: MonthIndex,
    pub last: MonthIndex,
}

/// Each window's cohort per group, keyed by the window's position in `windows`. `months` (the
/// month totals of the same scope, covering every opening month) give `|C|` and
/// `sum MRR(a, B)`; the cohort rollup gives the rest as running sums up to the opening month
/// (its months summed in SQL into the opening month that follows them, per window length).
pub async fn cohorts(
    db: &DatabaseConnection,
    scope: &KpiScope<'_>,
    windows: &[CohortWindow],
) -> AppResult<HashMap<(usize, GroupKey), Cohort>> {
    if windows.iter().any(|w| !COHORT_WINDOWS.contains(&(w.last - w.opening))) {
        return Err(AppError::internal("a cohort window the MRR ledger does not keep"));
    }
    let Some(latest) = windows.iter().map(|w| w.opening).max() else { return Ok(HashMap::new()) };
    let backend = db.get_database_backend();
    let OverBooks { mut sql, join, group_key } = scope.over_books(db).await?;
    sql.push(&format!(
        "SELECT {group_key} AS group_key, r.window_months, {}, {}, \
         CAST(SUM(r.retained) AS BIGINT) AS retained, CAST(SUM(r.upsold) AS BIGINT) AS upsold, CASE r.window_months",
        select_amount(backend, true, "r", "end_mrr", "end_mrr"),
        select_amount(backend, true, "r", "kept_mrr", "kept_mrr"),
    ));
    // Per window length, each month goes to the first opening month at or after it (none after
    // the last).
    let mut openings: BTreeMap<i32, BTreeSet<MonthIndex>> = BTreeMap::new();
    for w in windows {
        openings.entry(w.last - w.opening).or_default().insert(w.opening);
    }
    for (length, openings) in &openings {
        sql.push(" WHEN ").bind(*length).push(" THEN CASE");
        for opening in openings {
            sql.push(" WHEN r.month <= ").bind(*opening).push(" THEN ").bind(*opening);
        }
        sql.push(" END");
    }
    sql.push(&format!(" END AS opening_month FROM mrr_book_cohorts r {join} WHERE r.month <= "))
        .bind(latest)
        .push(&format!(" GROUP BY {group_key}, r.window_months, opening_month"));
    let rows = crate::base::sql::query_grouped(db, sql.statement()).await?;
    let mut changes: HashMap<(GroupKey, i32), BTreeMap<MonthIndex, Cohort>> = HashMap::new();
    for row in &rows {
        let change = Cohort {
            end_mrr: read_amount(backend, row, "end_mrr")?,
            kept_mrr: read_amount(backend, row, "kept_mrr")?,
            retained: count(row, "retained")?,
            upsold: count(row, "upsold")?,
            ..Cohort::default()
        };
        let key = (row.try_get::<Option<String>>("", "group_key")?, row.try_get::<i32>("", "window_months")?);
        // `None`: months after the last opening month of the window length.
        if let Some(opening) = row.try_get::<Option<i32>>("", "opening_month")? {
            changes.entry(key).or_default().insert(opening, change);
        }
    }
    let mut out = HashMap::new();
    for (i, window) in windows.iter().enumerate() {
        for ((group, length), changes) in &changes {
            if *length != window.last - window.opening {
                continue;
            }
            let mut cohort = Cohort::default();
            for change in changes.range(..=window.opening).map(|(_, c)| c) {
                cohort.end_mrr += change.end_mrr;
                cohort.kept_mrr += change.kept_mrr;
                cohort.retained += change.retained;
                cohort.upsold += change.upsold;
            }
            out.insert((i, group.clone()), cohort);
        }
    }
    Ok(out)
}

/// Completes each cohort with its size and opening MRR: the active customers and month-end MRR
/// of its group in the opening month.
pub fn open_cohorts(
    windows: &[CohortWindow],
    mut cohorts: HashMap<(usize, GroupKey), Cohort>,
    months: &HashMap<(GroupKey, MonthIndex), MonthTotals>,
) -> HashMap<(usize, GroupKey), Cohort> {
    for ((group, month), totals) in months {
        for (i, _) in windows.iter().enumerate().filter(|(_, w)| w.opening == *month) {
            let cohort = cohorts.entry((i, group.clone())).or_default();
            (cohort.size, cohort.start_mrr) = (totals.active, totals.mrr);
        }
    }
    for cohort in cohorts.values_mut() {
        (cohort.end_mrr, cohort.kept_mrr) = (cohort.end_mrr.normalize(), cohort.kept_mrr.normalize());
    }
    cohorts
}

/// One account's movement in one month (the drill-down of `mrrMovements`).
#[derive(Clone, Debug)]
pub struct AccountMovement {
    pub account_id: i64,
    pub month: MonthIndex,
    pub kind: String,
    pub before: Decimal,
    pub after: Decimal,
}

/// Every movement of the accounts of S in the months `shown`, by month then externalId.
pub async fn account_movements(
    scope: &KpiScope<'_>,
    shown: RangeInclusive<MonthIndex>,
) -> AppResult<Vec<AccountMovement>> {
    let db = scope.connection();
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT c.account_id, c.month, c.kind, {}, {} FROM mrr_changes c \
         JOIN accounts a ON a.id = c.account_id WHERE c.month BETWEEN ",
        select_amount(backend, false, "c", "mrr_before", "mrr_before"),
        select_amount(backend, false, "c", "mrr_after", "mrr_after"),
    ))
    .bind(*shown.start())
    .push(" AND ")
    .bind(*shown.end())
    .push(" AND c.account_id IN (")
    .select(&scope.accounts)
    .push(") ORDER BY c.month, a.external_id");
    let read = |row: &QueryResult| -> Result<AccountMovement, DbErr> {
        Ok(AccountMovement {
            account_id: row.try_get("", "account_id")?,
            month: row.try_get("", "month")?,
            kind: row.try_get("", "kind")?,
            before: read_amount(backend, row, "mrr_before")?,
            after: read_amount(backend, row, "mrr_after")?,
        })
    };
    let rows = db.query_all_raw(sql.statement()).await?;
    Ok(rows.iter().map(read).collect::<Result<_, _>>()?)
}
