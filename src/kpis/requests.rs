//! `featureRequests` (KPIS.md, section 8): the feature requests of S with `requestedAt` in P,
//! grouped by exact `title`; per group `accounts` (distinct accounts), `mrrAtStake` (sum over
//! those accounts of `MRR(a, end of the last period)`), `open` (status OPEN or PLANNED) and
//! `shipped` (status SHIPPED); ordered by `mrrAtStake` descending, then `accounts` descending,
//! then `title` ascending (code points); at most `first` groups (1 to 100). P is the span from
//! the start of the first period to the end of the last period that the PeriodInput names.
use chrono::{NaiveDate, NaiveTime};
use rust_decimal::Decimal;
use sea_orm::ConnectionTrait;

use super::scope::KpiScope;
use crate::base::error::AppResult;
use crate::base::sql::{Sql, count, money};
use crate::metrics::catalog::{Entry, KPI_READERS};

pub struct RequestGroup {
    pub title: String,
    pub accounts: i64,
    pub mrr_at_stake: Decimal,
    pub open: i64,
    pub shipped: i64,
}

/// The ranked groups of requests made from `start` to `end` (both days included).
pub async fn ranked(
    scope: &KpiScope<'_>,
    start: NaiveDate,
    end: NaiveDate,
    first: usize,
) -> AppResult<Vec<RequestGroup>> {
    let db = scope.connection();
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    let (from, until) =
        (start.and_time(NaiveTime::MIN).and_utc(), end.succ_opt().unwrap_or(end).and_time(NaiveTime::MIN).and_utc());
    sql.push("WITH ");
    scope.with_accounts(&mut sql);
    sql.push(", requests AS (SELECT f.title, f.account_id, f.status FROM feature_requests f JOIN scope_accounts sa ON sa.account_id = f.account_id WHERE f.requested_at >= ")
        .bind(from)
        .push(" AND f.requested_at < ")
        .bind(until)
        .push("), asking AS (SELECT DISTINCT title, account_id FROM requests), ");
    let mrr = sql.money("s.mrr");
    sql.push(&format!("stake AS (SELECT s.account_id, SUM({mrr}) AS mrr FROM subscriptions s WHERE s.account_id IN (SELECT account_id FROM asking) AND s.start_date <= "))
        .bind(end)
        .push(" AND (s.end_date IS NULL OR s.end_date > ")
        .bind(end)
        .push(
            ") GROUP BY s.account_id), \
             statuses AS (SELECT title, SUM(CASE WHEN status IN ('OPEN', 'PLANNED') THEN 1 ELSE 0 END) AS open, \
             SUM(CASE WHEN status = 'SHIPPED' THEN 1 ELSE 0 END) AS shipped FROM requests GROUP BY title) \
             SELECT a.title, COUNT(*) AS accounts, SUM(COALESCE(k.mrr, 0)) AS mrr_at_stake, MAX(st.open) AS open, MAX(st.shipped) AS shipped \
             FROM asking a LEFT JOIN stake k ON k.account_id = a.account_id JOIN statuses st ON st.title = a.title GROUP BY a.title",
        );
    let mut groups = Vec::new();
    for row in db.query_all_raw(sql.statement()).await? {
        groups.push(RequestGroup {
            title: row.try_get("", "title")?,
            accounts: count(&row, "accounts")?,
            mrr_at_stake: money(backend, &row, "mrr_at_stake")?,
            open: count(&row, "open")?,
            shipped: count(&row, "shipped")?,
        });
    }
    // Ranked here so that titles compare by code points whatever the database's collation.
    groups.sort_by(|a, b| {
        b.mrr_at_stake
            .cmp(&a.mrr_at_stake)
            .then(b.accounts.cmp(&a.accounts))
            .then_with(|| a.title.as_bytes().cmp(b.title.as_bytes()))
    });
    groups.truncate(first);
    Ok(groups)
}

/// The `featureRequests` report in the metric catalog.
pub const CATALOG: &[Entry] = &[(
    "featureRequests",
    "currency",
    "Feature requests ranked by the MRR asking for them",
    "requests with requestedAt in P grouped by exact title: distinct accounts, mrrAtStake = sum over them of MRR(a, end of the last period), open (OPEN or PLANNED), shipped (SHIPPED); by mrrAtStake, then accounts descending, then title",
    KPI_READERS,
)];
