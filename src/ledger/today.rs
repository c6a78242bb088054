//! Every account's health components on one day (`health_today`), and its status under the
//! health model in force, for the accounts list's `healthStatus` filter, which would otherwise
//! score every candidate account per request.
//!
//! The table holds the day that the `aggregate_versions` row `health_today` names (days since
//! 1970). The first filter on another day recomputes every account's components for that day,
//! alone (the exclusive writer lock); ingest recomputes those of the accounts a batch touches, in the
//! batch's transaction, so the rows are never stale. A new health model restates every status in
//! its own transaction ([`restate`]). Statuses are computed by [`Model::score`] and
//! [`Model::status`], as the `health` field computes them, and the filter is a look-up of the
//! indexed `status` column.
use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Value};

use sea_orm::{ActiveModelTrait, DatabaseTransaction, EntityTrait};

use crate::auth::Caller;
use crate::base::sql::{Sql, count};
use crate::ledger::rows::{CHUNK, in_list, rows_of, rows_per_statement, upsert};
use crate::metrics::health::model::{self, Model};
use crate::metrics::health::score::{self, Components};
use crate::metrics::health::{COMPONENT_COLUMNS, HealthStatus};
use entity::health_model;

const MARKER: &str = "health_today";
const TABLE: &str = "health_today";

/// How `status` is stored.
fn code(status: HealthStatus) -> i16 {
    match status {
        HealthStatus::Green => 0,
        HealthStatus::Yellow => 1,
        HealthStatus::Red => 2,
    }
}

/// The stored `status` of `components` under `model` (`None` without a score).
fn status_code(model: &Model, components: &Components) -> Option<i16> {
    model.score(components).map(|score| code(model.status(score)))
}

fn day_number(day: NaiveDate) -> i32 {
    (day - NaiveDate::default()).num_days() as i32
}

/// The day the table holds, if any.
async fn held_day(db: &impl ConnectionTrait) -> Result<Option<i32>, DbErr> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT version FROM aggregate_versions WHERE name = ").bind(MARKER);
    Ok(db.query_one_raw(sql.statement()).await?.map(|row| count(&row, "version")).transpose()?.map(|v| v as i32))
}

/// The stored components of those of `accounts` the table holds, when it holds `day` (`None`
/// when it holds another day).
pub async fn stored_components(
    db: &impl ConnectionTrait,
    accounts: &[i64],
    day: NaiveDate,
) -> Result<Option<HashMap<i64, Components>>, DbErr> {
    if held_day(db).await? != Some(day_number(day)) {
        return Ok(None);
    }
    let select = format!("SELECT account_id, {} FROM {TABLE} WHERE account_id IN (", COMPONENT_COLUMNS.join(", "));
    let mut out = HashMap::with_capacity(accounts.len());
    for chunk in accounts.chunks(CHUNK) {
        for row in rows_of(db, &select, chunk, "").await? {
            out.insert(row.try_get("", "account_id")?, read_components(&row)?);
        }
    }
    Ok(Some(out))
}

fn read_components(row: &sea_orm::QueryResult) -> Result<Components, DbErr> {
    let mut components: Components = [None; 6];
    for (value, column) in components.iter_mut().zip(COMPONENT_COLUMNS) {
        *value = row.try_get("", column)?;
    }
    Ok(components)
}

/// Makes the table hold `day` (recomputing every account when it held another).
pub async fn ensure(db: &DatabaseConnection, day: NaiveDate) -> Result<(), DbErr> {
    if held_day(db).await? == Some(day_number(day)) {
        return Ok(());
    }
    let txn = crate::base::db::begin_write(db, crate::base::db::WriteAccess::Exclusive).await?;
    // Another request may have recomputed it while this one waited for the lock.
    if held_day(&txn).await? != Some(day_number(day)) {
        tracing::info!(%day, "recomputing every account's health of the day");
        txn.execute_unprepared(&format!("DELETE FROM {TABLE}")).await?;
        store(&txn, None, day, &model::load(&txn).await?).await?;
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
    crate::base::db::commit_write(txn).await
}

/// In a batch's transaction: recomputes the rows of `accounts` (whose health inputs changed)
/// for the day the table holds; those the batch `created` have none to replace.
pub async fn follow(
    txn: &impl ConnectionTrait,
    accounts: &BTreeSet<i64>,
    created: &BTreeSet<i64>,
) -> Result<(), DbErr> {
    let Some(day) = held_day(txn).await? else { return Ok(()) };
    let day = NaiveDate::default() + chrono::Days::new(day as u64);
    let model = model::load(txn).await?;
    let accounts: Vec<i64> = accounts.iter().copied().collect();
    for chunk in accounts.chunks(CHUNK) {
        let replaced: Vec<i64> = chunk.iter().copied().filter(|a| !created.contains(a)).collect();
        if !replaced.is_empty() {
            let mut delete = Sql::new(txn.get_database_backend());
            delete.push(&format!("DELETE FROM {TABLE} WHERE account_id IN ("));
            in_list(&mut delete, replaced.into_iter());
            delete.push(")");
            txn.execute_raw(delete.statement()).await?;
        }
        store(txn, Some(chunk), day, &model).await?;
    }
    Ok(())
}

/// Computes and inserts the components on `day` of `accounts` (every account for `None`), and
/// their status under `model`.
async fn store(
    txn: &impl ConnectionTrait,
    accounts: Option<&[i64]>,
    day: NaiveDate,
    model: &Model,
) -> Result<(), DbErr> {
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
    for chunk in components.chunks(rows_per_statement(2 + COMPONENT_COLUMNS.len())) {
        let mut insert = Sql::new(txn.get_database_backend());
        insert.push(&format!("INSERT INTO {TABLE} (account_id, status, {}) VALUES ", COMPONENT_COLUMNS.join(", ")));
        insert.values_rows(chunk, |((_, account), values)| {
            [Value::from(*account), Value::from(status_code(model, values))]
                .into_iter()
                .chain(values.map(Value::from))
                .collect::<Vec<_>>()
        });
        txn.execute_raw(insert.statement()).await?;
    }
    Ok(())
}

/// In the transaction that makes `model` the one in force: restates every stored status under it.
pub async fn restate(txn: &impl ConnectionTrait, model: &Model) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let select = format!("SELECT account_id, status, {} FROM {TABLE}", COMPONENT_COLUMNS.join(", "));
    let mut changed = Vec::new();
    for row in txn.query_all_raw(sea_orm::Statement::from_string(backend, select)).await? {
        let status = status_code(model, &read_components(&row)?);
        if row.try_get::<Option<i16>>("", "status")? != status {
            changed.push((row.try_get::<i64>("", "account_id")?, status));
        }
    }
    let insert = format!("INSERT INTO {TABLE} (account_id, status)");
    for chunk in changed.chunks(rows_per_statement(2)) {
        let rows = chunk.iter().map(|(account, status)| vec![Value::from(*account), Value::from(*status)]).collect();
        upsert(txn, &insert, rows, " ON CONFLICT (account_id) DO UPDATE SET status = excluded.status").await?;
    }
    Ok(())
}

/// `SELECT account_id FROM health_today WHERE status = <status>`: the accounts whose health on
/// the held day has `status` under the model in force.
pub fn with_status(status: HealthStatus) -> SelectStatement {
    Query::select()
        .column(Alias::new("account_id"))
        .from(Alias::new(TABLE))
        .and_where(Expr::col(Alias::new("status")).eq(code(status)))
        .to_owned()
}

/// Stores `model` (replacing the one in force), restates the statuses of the health of the day
/// under it, and audits the change, in `txn` (the caller commits).
pub async fn save_model(txn: &DatabaseTransaction, actor: &Caller, model: Model) -> Result<(), DbErr> {
    let before = model::load(txn).await?;
    if health_model::Entity::find_by_id(model::ROW_ID).one(txn).await?.is_some() {
        model.to_row().update(txn).await?;
    } else {
        model.to_row().insert(txn).await?;
    }
    restate(txn, &model).await?;
    let row = actor.audit_row("setHealthModel", "health_model", model::ROW_ID, before.describe(), model.describe());
    row.insert(txn).await?;
    Ok(())
}
