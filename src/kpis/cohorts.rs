//! Retention by cohort of first paid month (KPIS.md, section 9), read from the ledger's
//! `mrr_book_paid_cohorts` (per book, cohort month and month, the changes of the cohort's
//! figures; see `crate::ledger::series::PaidCohortDelta`), never from the subscriptions.
//!
//! Over the accounts S of the scope: an account's cohort month `c(a)` is the first calendar
//! month M with `MRR(a, M) > 0` (month-end MRR); one row per calendar month c from `from` to
//! `to`, members `A_c = {a in S : c(a) = c}`, `size = |A_c|`, `startMrr = sum_{a in A_c} MRR(a, c)`,
//! and `retention[k]` for the month `c + k`, `k = 0..months`:
//! - `LOGOS`: `|{a in A_c : MRR(a, c+k) > 0}| / size`;
//! - `NET_MRR`: `sum_{a in A_c} MRR(a, c+k) / startMrr`;
//! - `GROSS_MRR`: `sum_{a in A_c} min(MRR(a, c+k), MRR(a, c)) / startMrr`;
//! - `null` when the denominator is 0, and when `c + k` is after the current calendar month.
use std::collections::{BTreeMap, HashMap};

use async_graphql::Enum;
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::scope::{KpiScope, OverBooks};
use crate::base::calendar::{MonthIndex, month_index};
use crate::base::error::{AppError, AppResult};
use crate::base::scalars::Date;
use crate::base::sql::count;
use crate::ledger::read_amount;
use crate::ledger::select_amount;
use crate::ledger::series::PaidCohortDelta;
use crate::metrics::{ratio, share};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CohortMetric {
    #[graphql(name = "LOGOS")]
    Logos,
    #[graphql(name = "NET_MRR")]
    NetMrr,
    #[graphql(name = "GROSS_MRR")]
    GrossMrr,
}

/// The most months a cohort is followed, and the default.
pub const MAX_MONTHS: i32 = 60;
pub const DEFAULT_MONTHS: i32 = 12;
/// The most cohort months one request may ask for (also the most months of a `renewals` range).
pub const MAX_COHORTS: i32 = 120;

/// One cohort month's row.
#[derive(Clone, Debug, PartialEq)]
pub struct CohortRow {
    pub cohort: MonthIndex,
    pub size: i64,
    pub start_mrr: Decimal,
    /// `retention[k]` for the month `cohort + k`.
    pub retention: Vec<Option<f64>>,
}

/// The cohort months of `from..=to` (any day of each), `BAD_USER_INPUT` naming the argument when
/// `from` is after `to` or they span more than [`MAX_COHORTS`] months.
pub fn cohort_months(from: Date, to: Date) -> AppResult<std::ops::RangeInclusive<MonthIndex>> {
    if from.0 > to.0 {
        return Err(AppError::invalid(None, "from", "from must not be after to"));
    }
    let (first, last) = (month_index(from.0), month_index(to.0));
    if last - first + 1 > MAX_COHORTS {
        return Err(AppError::invalid(None, "to", format!("from..to spans more than {MAX_COHORTS} months")));
    }
    Ok(first..=last)
}

/// The months a cohort is followed, `BAD_USER_INPUT` outside `0..=60`.
pub fn followed_months(months: Option<i32>) -> AppResult<i32> {
    let months = months.unwrap_or(DEFAULT_MONTHS);
    if !(0..=MAX_MONTHS).contains(&months) {
        return Err(AppError::invalid(None, "months", format!("months must be between 0 and {MAX_MONTHS}")));
    }
    Ok(months)
}

/// The cohort rows of `cohorts` followed for `months` months over the accounts of `scope`;
/// `current` is the current calendar month (later months have no retention yet).
pub async fn cohorts(
    scope: &KpiScope<'_>,
    cohorts: std::ops::RangeInclusive<MonthIndex>,
    months: i32,
    metric: CohortMetric,
    current: MonthIndex,
) -> AppResult<Vec<CohortRow>> {
    let db = scope.connection();
    let backend = db.get_database_backend();
    let OverBooks { mut sql, join, .. } = scope.over_books(db).await?;
    // The running sums of a cohort start at its month: only rows up to the last month shown.
    let last_shown = (*cohorts.end() + months).min(current);
    sql.push(&format!(
        "SELECT r.cohort_month, r.month, CAST(SUM(r.paying) AS BIGINT) AS paying, {}, {} \
         FROM mrr_book_paid_cohorts r {join} WHERE r.cohort_month BETWEEN ",
        select_amount(backend, true, "r", "mrr", "mrr"),
        select_amount(backend, true, "r", "kept_mrr", "kept_mrr"),
    ))
    .bind(*cohorts.start())
    .push(" AND ")
    .bind(*cohorts.end())
    .push(" AND r.month <= ")
    .bind(last_shown)
    .push(" GROUP BY r.cohort_month, r.month");
    let read = |row: &QueryResult| -> Result<((MonthIndex, MonthIndex), PaidCohortDelta), DbErr> {
        let key = (row.try_get::<i32>("", "cohort_month")?, row.try_get::<i32>("", "month")?);
        let delta = PaidCohortDelta {
            paying: count(row, "paying")?,
            mrr: read_amount(backend, row, "mrr")?,
            kept_mrr: read_amount(backend, row, "kept_mrr")?,
        };
        Ok((key, delta))
    };
    let mut changes: HashMap<MonthIndex, BTreeMap<MonthIndex, PaidCohortDelta>> = HashMap::new();
    for row in &db.query_all_raw(sql.statement()).await? {
        let ((cohort, month), delta) = read(row)?;
        changes.entry(cohort).or_default().insert(month, delta);
    }
    Ok(cohorts
        .map(|cohort| follow(cohort, months, metric, current, changes.remove(&cohort).unwrap_or_default()))
        .collect())
}

/// A cohort's row from the changes of its figures by month.
fn follow(
    cohort: MonthIndex,
    months: i32,
    metric: CohortMetric,
    current: MonthIndex,
    changes: BTreeMap<MonthIndex, PaidCohortDelta>,
) -> CohortRow {
    // The figures of each month from the cohort's on, as one running sum (every change is at or
    // after the cohort month: the cohort's figures there are its size and starting MRR).
    let mut figures = PaidCohortDelta::default();
    let mut followed = Vec::with_capacity(months as usize + 1);
    for month in cohort..=cohort + months {
        if let Some(change) = changes.get(&month) {
            figures.add(change, 1);
        }
        followed.push((month, figures.clone()));
    }
    let start = followed.first().map(|(_, f)| f.clone()).unwrap_or_default();
    let retention = followed
        .iter()
        .map(|(month, figures)| match metric {
            _ if *month > current => None,
            CohortMetric::Logos => share(figures.paying, start.paying),
            CohortMetric::NetMrr => ratio(figures.mrr, start.mrr),
            CohortMetric::GrossMrr => ratio(figures.kept_mrr, start.mrr),
        })
        .collect();
    CohortRow { cohort, size: start.paying, start_mrr: start.mrr.normalize(), retention }
}
