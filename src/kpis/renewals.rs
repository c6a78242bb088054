//! Renewals (KPIS.md, section 1).
//!
//! A subscription is *due* in P when its last active day, `endDate - 1 day`, is in P. It is
//! *renewed* when at least one other subscription (any account, any start) names it in
//! `renewsExternalId`. `renewalRate = renewed due / due` (counts);
//! `renewalDollarRate = sum(mrr of every subscription that renews a due one) / sum(mrr of due ones)`.
//! A due subscription belongs to S through its own account.
use std::collections::HashMap;

use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult};

use super::movements::GroupKey;
use super::period::Period;
use super::scope::KpiScope;
use super::sql::{count, money};
use crate::error::AppResult;

#[derive(Clone, Debug, Default)]
pub struct Renewals {
    pub due: i64,
    pub renewed: i64,
    pub due_mrr: Decimal,
    pub renewal_mrr: Decimal,
}

/// Renewals per period (by position) and group.
pub async fn renewals(
    db: &DatabaseConnection,
    scope: &KpiScope,
    periods: &[Period],
) -> AppResult<HashMap<(usize, GroupKey), Renewals>> {
    let backend = db.get_database_backend();
    let mut sql = scope.sql_over(backend, periods);
    let (due_mrr, renewal_mrr) = (sql.money("s.mrr"), sql.money("r.mrr"));
    // Due in P: start(P) <= endDate - 1 <= end(P), i.e. start(P) < endDate <= end(P) + 1 day.
    sql.push(&format!(
        " SELECT pr.p, sa.group_key, COUNT(*) AS due, SUM({due_mrr}) AS due_mrr, \
         SUM(CASE WHEN EXISTS (SELECT 1 FROM subscriptions r WHERE r.renews_id = s.id) THEN 1 ELSE 0 END) AS renewed, \
         SUM(COALESCE((SELECT SUM({renewal_mrr}) FROM subscriptions r WHERE r.renews_id = s.id), 0)) AS renewal_mrr \
         FROM periods pr JOIN subscriptions s ON s.end_date > pr.start_date AND s.end_date <= pr.next_start \
         JOIN scope_accounts sa ON sa.account_id = s.account_id GROUP BY pr.p, sa.group_key"
    ));
    let read = |row: &QueryResult| -> Result<((usize, GroupKey), Renewals), DbErr> {
        let key = (row.try_get::<i32>("", "p")? as usize, row.try_get::<Option<String>>("", "group_key")?);
        Ok((
            key,
            Renewals {
                due: count(row, "due")?,
                renewed: count(row, "renewed")?,
                due_mrr: money(backend, row, "due_mrr")?,
                renewal_mrr: money(backend, row, "renewal_mrr")?,
            },
        ))
    };
    let rows = db.query_all_raw(sql.statement()).await?;
    Ok(rows.iter().map(read).collect::<Result<_, _>>()?)
}
