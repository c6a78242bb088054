//! Month-end MRR and MRR movements (KPIS.md, section 1), computed set-wise in SQL.
//!
//! **MRR of an account on a date d**: `MRR(a, d) = sum(s.mrr)` over its subscriptions with
//! `s.startDate <= d` and (`s.endDate` is null or `d < s.endDate`); month-end MRR
//! `MRR(a, M) = MRR(a, end(M))`.
//!
//! **Movements**, from `p = MRR(a, M-1)` and `c = MRR(a, M)`:
//! NEW `p = 0, c > 0` and `MRR(a, m) = 0` for every `m < M` (amount `c`);
//! REACTIVATION `p = 0, c > 0` and `MRR(a, m) > 0` for some `m < M-1` (`c`);
//! EXPANSION `p > 0, c > p` (`c - p`); CONTRACTION `p > 0, 0 < c < p` (`p - c`);
//! CHURN `p > 0, c = 0` (`p`). "Every month m < M" reaches back to the earliest subscription
//! start in the data.
use std::collections::HashMap;
use std::ops::RangeInclusive;

use rust_decimal::Decimal;
use sea_orm::sea_query::Value;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult};

use super::period::{MonthIndex, month_end, month_index};
use super::scope::KpiScope;
use super::sql::{Sql, count, money};
use crate::error::AppResult;

/// The months a query over `periods` needs: back to the earliest subscription start in the
/// data (movements look at every earlier month) and at least 12 months before the first
/// period (its trailing-twelve-month cohort and 6-month LTV window), up to the last period's end.
pub async fn months_needed(
    db: &DatabaseConnection,
    first: MonthIndex,
    last: MonthIndex,
) -> AppResult<RangeInclusive<MonthIndex>> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT MIN(start_date) AS first FROM subscriptions",
        ))
        .await?;
    let data_start =
        row.map(|r| r.try_get::<Option<chrono::NaiveDate>>("", "first")).transpose()?.flatten().map(month_index);
    Ok(data_start.map_or(first - 12, |start| start.min(first - 12))..=last)
}

/// Appends the CTEs `months`, `scope_accounts`, `month_mrr`, `series`, `flagged` and
/// `movements(account_id, group_key, idx, c, p, kind)`: every account of S for every month of
/// `months`, with its month-end MRR `c`, the previous month's `p`, and its movement kind.
pub fn with_movements(sql: &mut Sql, scope: &KpiScope, months: RangeInclusive<MonthIndex>) {
    sql.push("WITH months(idx, month_end) AS (VALUES ");
    sql.values_rows(months, |m| vec![Value::from(m), Value::from(month_end(m))]);
    sql.push("), ");
    scope.with_accounts(sql);
    sql.push(", ");
    let mrr = sql.money("s.mrr");
    sql.push(&format!(
        "month_mrr(account_id, idx, mrr) AS (SELECT s.account_id, m.idx, SUM({mrr}) FROM months m \
         JOIN subscriptions s ON s.start_date <= m.month_end AND (s.end_date IS NULL OR s.end_date > m.month_end) \
         WHERE s.account_id IN (SELECT account_id FROM scope_accounts) GROUP BY s.account_id, m.idx), "
    ));
    sql.push(
        "series(account_id, group_key, idx, c) AS (SELECT sa.account_id, sa.group_key, m.idx, COALESCE(mm.mrr, 0) \
         FROM scope_accounts sa CROSS JOIN months m LEFT JOIN month_mrr mm ON mm.account_id = sa.account_id AND mm.idx = m.idx), \
         flagged AS (SELECT account_id, group_key, idx, c, \
         COALESCE(LAG(c) OVER (PARTITION BY account_id ORDER BY idx), 0) AS p, \
         COALESCE(MAX(CASE WHEN c > 0 THEN 1 ELSE 0 END) OVER (PARTITION BY account_id ORDER BY idx \
         ROWS BETWEEN UNBOUNDED PRECEDING AND 2 PRECEDING), 0) AS seen_before \
         FROM series), \
         movements AS (SELECT account_id, group_key, idx, c, p, CASE \
         WHEN p = 0 AND c > 0 AND seen_before = 0 THEN 'NEW' \
         WHEN p = 0 AND c > 0 THEN 'REACTIVATION' \
         WHEN p > 0 AND c > p THEN 'EXPANSION' \
         WHEN p > 0 AND c > 0 AND c < p THEN 'CONTRACTION' \
         WHEN p > 0 AND c = 0 THEN 'CHURN' END AS kind FROM flagged) ",
    );
}

/// One group's month: month-end MRR, active customers, and its movements by kind.
#[derive(Clone, Debug, Default)]
pub struct MonthTotals {
    pub mrr: Decimal,
    pub active: i64,
    pub new_mrr: Decimal,
    pub new_customers: i64,
    pub expansion_mrr: Decimal,
    pub contraction_mrr: Decimal,
    pub churned_mrr: Decimal,
    pub churned_customers: i64,
    pub reactivation_mrr: Decimal,
    pub reactivated_customers: i64,
}

pub type GroupKey = Option<String>;

/// Month totals per group and month.
pub async fn month_totals(
    db: &DatabaseConnection,
    scope: &KpiScope,
    months: RangeInclusive<MonthIndex>,
) -> AppResult<HashMap<(GroupKey, MonthIndex), MonthTotals>> {
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    with_movements(&mut sql, scope, months);
    sql.push(
        "SELECT group_key, idx, SUM(c) AS mrr, SUM(CASE WHEN c > 0 THEN 1 ELSE 0 END) AS active, \
         SUM(CASE WHEN kind = 'NEW' THEN c ELSE 0 END) AS new_mrr, SUM(CASE WHEN kind = 'NEW' THEN 1 ELSE 0 END) AS new_customers, \
         SUM(CASE WHEN kind = 'EXPANSION' THEN c - p ELSE 0 END) AS expansion_mrr, \
         SUM(CASE WHEN kind = 'CONTRACTION' THEN p - c ELSE 0 END) AS contraction_mrr, \
         SUM(CASE WHEN kind = 'CHURN' THEN p ELSE 0 END) AS churned_mrr, SUM(CASE WHEN kind = 'CHURN' THEN 1 ELSE 0 END) AS churned_customers, \
         SUM(CASE WHEN kind = 'REACTIVATION' THEN c ELSE 0 END) AS reactivation_mrr, \
         SUM(CASE WHEN kind = 'REACTIVATION' THEN 1 ELSE 0 END) AS reactivated_customers \
         FROM movements GROUP BY group_key, idx",
    );
    let read = |row: &QueryResult| -> Result<((GroupKey, MonthIndex), MonthTotals), DbErr> {
        let key = (row.try_get::<Option<String>>("", "group_key")?, row.try_get::<i32>("", "idx")?);
        Ok((
            key,
            MonthTotals {
                mrr: money(backend, row, "mrr")?,
                active: count(row, "active")?,
                new_mrr: money(backend, row, "new_mrr")?,
                new_customers: count(row, "new_customers")?,
                expansion_mrr: money(backend, row, "expansion_mrr")?,
                contraction_mrr: money(backend, row, "contraction_mrr")?,
                churned_mrr: money(backend, row, "churned_mrr")?,
                churned_customers: count(row, "churned_customers")?,
                reactivation_mrr: money(backend, row, "reactivation_mrr")?,
                reactivated_customers: count(row, "reactivated_customers")?,
            },
        ))
    };
    let rows = db.query_all_raw(sql.statement()).await?;
    Ok(rows.iter().map(read).collect::<Result<_, _>>()?)
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

/// A cohort to follow: opening month `opening`, expansions counted over `first..=last`.
#[derive(Clone, Copy, Debug)]
pub struct CohortWindow {
    pub opening: MonthIndex,
    pub first: MonthIndex,
    pub last: MonthIndex,
}

/// Each window's cohort per group, keyed by the window's position in `windows`.
pub async fn cohorts(
    db: &DatabaseConnection,
    scope: &KpiScope,
    months: RangeInclusive<MonthIndex>,
    windows: &[CohortWindow],
) -> AppResult<HashMap<(usize, GroupKey), Cohort>> {
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    with_movements(&mut sql, scope, months);
    sql.push(", windows(w, opening, first_idx, last_idx) AS (VALUES ");
    sql.values_rows(windows.iter().enumerate(), |(i, w)| vec![i as i32, w.opening, w.first, w.last]);
    sql.push(
        "), upsold AS (SELECT DISTINCT w.w, e.account_id FROM windows w \
         JOIN movements e ON e.kind = 'EXPANSION' AND e.idx BETWEEN w.first_idx AND w.last_idx) \
         SELECT w.w, b.group_key, COUNT(*) AS size, SUM(b.c) AS start_mrr, SUM(l.c) AS end_mrr, \
         SUM(CASE WHEN l.c < b.c THEN l.c ELSE b.c END) AS kept_mrr, \
         SUM(CASE WHEN l.c > 0 THEN 1 ELSE 0 END) AS retained, \
         SUM(CASE WHEN up.account_id IS NULL THEN 0 ELSE 1 END) AS upsold \
         FROM windows w JOIN movements b ON b.idx = w.opening AND b.c > 0 \
         JOIN movements l ON l.account_id = b.account_id AND l.idx = w.last_idx \
         LEFT JOIN upsold up ON up.w = w.w AND up.account_id = b.account_id \
         GROUP BY w.w, b.group_key",
    );
    let read = |row: &QueryResult| -> Result<((usize, GroupKey), Cohort), DbErr> {
        let key = (row.try_get::<i32>("", "w")? as usize, row.try_get::<Option<String>>("", "group_key")?);
        Ok((
            key,
            Cohort {
                size: count(row, "size")?,
                start_mrr: money(backend, row, "start_mrr")?,
                end_mrr: money(backend, row, "end_mrr")?,
                kept_mrr: money(backend, row, "kept_mrr")?,
                retained: count(row, "retained")?,
                upsold: count(row, "upsold")?,
            },
        ))
    };
    let rows = db.query_all_raw(sql.statement()).await?;
    Ok(rows.iter().map(read).collect::<Result<_, _>>()?)
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
    db: &DatabaseConnection,
    scope: &KpiScope,
    months: RangeInclusive<MonthIndex>,
    shown: RangeInclusive<MonthIndex>,
) -> AppResult<Vec<AccountMovement>> {
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    with_movements(&mut sql, scope, months);
    sql.push("SELECT mv.account_id, mv.idx, mv.kind, mv.p, mv.c FROM movements mv JOIN accounts a ON a.id = mv.account_id WHERE mv.kind IS NOT NULL AND mv.idx BETWEEN ")
        .bind(*shown.start())
        .push(" AND ")
        .bind(*shown.end())
        .push(" ORDER BY mv.idx, a.external_id");
    let read = |row: &QueryResult| -> Result<AccountMovement, DbErr> {
        Ok(AccountMovement {
            account_id: row.try_get("", "account_id")?,
            month: row.try_get("", "idx")?,
            kind: row.try_get("", "kind")?,
            before: money(backend, row, "p")?,
            after: money(backend, row, "c")?,
        })
    };
    let rows = db.query_all_raw(sql.statement()).await?;
    Ok(rows.iter().map(read).collect::<Result<_, _>>()?)
}

/// The distinct group keys among the accounts of S (one key, `None`, without `groupBy`).
pub async fn group_keys(db: &DatabaseConnection, scope: &KpiScope) -> AppResult<Vec<GroupKey>> {
    if scope.group_by.is_none() {
        return Ok(vec![None]);
    }
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT DISTINCT ")
        .push(scope.group_key())
        .push(" AS group_key FROM accounts a LEFT JOIN users u ON u.id = a.csm_id WHERE a.id IN (")
        .select(&scope.accounts)
        .push(")");
    let rows = db.query_all_raw(sql.statement()).await?;
    Ok(rows.iter().map(|r| r.try_get::<Option<String>>("", "group_key")).collect::<Result<_, _>>()?)
}
