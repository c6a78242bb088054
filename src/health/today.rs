//! Every account's health components on one day (`health_today`), for the accounts list's
//! `healthStatus` filter, which would otherwise score every candidate account per request.
//!
//! The table holds the day that the `aggregate_versions` row `health_today` names (days since
//! 1970). The first filter on another day recomputes every account's components for that day,
//! under the writer lock; ingest recomputes those of the accounts a batch touches, in the
//! batch's transaction, so the rows are never stale. Scores and statuses come from the stored
//! components in SQL, with the health model in force at query time.
use std::collections::BTreeSet;

use chrono::NaiveDate;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Value};

use super::model::{Model, THRESHOLD_TOLERANCE};
use super::{COMPONENTS, HealthStatus, score};
use crate::kpis::sql::{Sql, count};
use crate::ledger::{in_list, rows_per_statement};

const MARKER: &str = "health_today";
const TABLE: &str = "health_today";

/// The component columns, in [`COMPONENTS`] order.
const COLUMNS: [&str; 6] = ["usage", "nps", "csat", "support", "engagement", "trend"];

fn day_number(day: NaiveDate) -> i32 {
    (day - NaiveDate::default()).num_days() as i32
}

/// The day the table holds, if any.
async fn held_day(db: &impl ConnectionTrait) -> Result<Option<i32>, DbErr> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT version FROM aggregate_versions WHERE name = ").bind(MARKER);
    Ok(db.query_one_raw(sql.statement()).await?.map(|row| count(&row, "version")).transpose()?.map(|v| v as i32))
}

/// Makes the table hold `day` (recomputing every account when it held another).
pub async fn ensure(db: &DatabaseConnection, day: NaiveDate) -> Result<(), DbErr> {
    if held_day(db).await? == Some(day_number(day)) {
        return Ok(());
    }
    let txn = crate::db::begin_write(db).await?;
    // Another request may have recomputed it while this one waited for the lock.
    if held_day(&txn).await? != Some(day_number(day)) {
        tracing::info!(%day, "recomputing every account's health of the day");
        txn.execute_unprepared(&format!("DELETE FROM {TABLE}")).await?;
        store(&txn, None, day).await?;
        let backend = txn.get_database_backend();
        let mut mark = Sql::new(backend);
        mark.push("DELETE FROM aggregate_versions WHERE name = ").bind(MARKER);
        txn.execute_raw(mark.statement()).await?;
        let mut mark = Sql::new(backend);
        mark.push("INSERT INTO aggregate_versions (name, version) VALUES (")
            .bind(MARKER)
            .push(", ")
            .bind(day_number(day))
            .push(")");
        txn.execute_raw(mark.statement()).await?;
    }
    txn.commit().await
}

/// In a batch's transaction: recomputes the rows of `accounts` (whose health inputs changed)
/// for the day the table holds.
pub async fn follow(txn: &impl ConnectionTrait, accounts: &BTreeSet<i64>) -> Result<(), DbErr> {
    let Some(day) = held_day(txn).await? else { return Ok(()) };
    let day = NaiveDate::default() + chrono::Days::new(day as u64);
    let accounts: Vec<i64> = accounts.iter().copied().collect();
    for chunk in accounts.chunks(crate::ledger::CHUNK) {
        let mut delete = Sql::new(txn.get_database_backend());
        delete.push(&format!("DELETE FROM {TABLE} WHERE account_id IN ("));
        in_list(&mut delete, chunk.iter().copied());
        txn.execute_raw(delete.push(")").statement()).await?;
        store(txn, Some(chunk), day).await?;
    }
    Ok(())
}

/// Computes and inserts the components on `day` of `accounts` (every account for `None`).
async fn store(txn: &impl ConnectionTrait, accounts: Option<&[i64]>, day: NaiveDate) -> Result<(), DbErr> {
    let targets = |sql: &mut Sql| {
        sql.push("targets(tkey, account_id, day) AS (SELECT CAST(0 AS BIGINT), id, ").bind(day).push(" FROM accounts");
        if let Some(accounts) = accounts {
            sql.push(" WHERE id IN (");
            in_list(sql, accounts.iter().copied());
            sql.push(")");
        }
        sql.push(")");
    };
    let components: Vec<_> = score::components(txn, &targets).await?.into_iter().collect();
    for chunk in components.chunks(rows_per_statement(1 + COLUMNS.len())) {
        let mut insert = Sql::new(txn.get_database_backend());
        insert.push(&format!("INSERT INTO {TABLE} (account_id, {}) VALUES ", COLUMNS.join(", ")));
        insert.values_rows(chunk, |((_, account), values)| {
            [Value::from(*account)].into_iter().chain(values.map(Value::from)).collect::<Vec<_>>()
        });
        txn.execute_raw(insert.statement()).await?;
    }
    Ok(())
}

/// `SELECT account_id FROM health_today WHERE <status under model>`: the accounts whose score
/// on the held day has `status`. The score is `sum(w_i * c_i) / sum(w_i)` over the present
/// components, summed in [`COMPONENTS`] order as [`Model::score`] does (so the same floats),
/// `NULL` when the weights of the present ones sum to 0.
pub fn with_status(model: &Model, status: HealthStatus) -> SelectStatement {
    let column = |name: &str| Expr::col((Alias::new(TABLE), Alias::new(name)));
    let (mut weighted, mut total) = (Expr::val(0.0), Expr::val(0.0));
    for component in COMPONENTS {
        let (name, weight) = (COLUMNS[component as usize], model.weight(component));
        let present = column(name).is_not_null();
        weighted = weighted.add(Expr::case(present.clone(), column(name).mul(weight)).finally(0.0));
        total = total.add(Expr::case(present, weight).finally(0.0));
    }
    let score: Expr = Expr::case(total.clone().gt(0.0), weighted.div(total)).finally(Expr::val(None::<f64>)).into();
    let at_least = |threshold: f64| score.clone().add(THRESHOLD_TOLERANCE).gte(threshold);
    let condition = match status {
        HealthStatus::Green => at_least(model.green_at_least),
        HealthStatus::Yellow => at_least(model.yellow_at_least).and(at_least(model.green_at_least).not()),
        HealthStatus::Red => score.clone().is_not_null().and(at_least(model.yellow_at_least).not()),
    };
    Query::select().column(Alias::new("account_id")).from(Alias::new(TABLE)).and_where(condition).to_owned()
}
