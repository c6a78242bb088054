//! Reading and writing the ledger's rows in statements of bounded size: look-ups by lists of
//! accounts, and upserts sent as arrays per column on PostgreSQL (`UNNEST`) or `VALUES` lists.
use std::collections::BTreeMap;

use sea_orm::sea_query::{ArrayType, Value};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, QueryResult};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::base::sql::Sql;

/// Accounts per look-up statement.
pub(crate) const CHUNK: usize = 500;

/// Values one statement may bind: SQLite allows 32,766, PostgreSQL 65,535.
const MAX_VALUES: usize = 30_000;

/// Rows of `width` values each that one statement may carry.
pub(crate) fn rows_per_statement(width: usize) -> usize {
    (MAX_VALUES / width).max(1)
}

/// Runs `insert` (`INSERT INTO t (columns)`) of `rows` (see [`push_rows`]), then `conflict`.
pub(crate) async fn upsert(
    txn: &impl ConnectionTrait,
    insert: &str,
    rows: Vec<Vec<Value>>,
    conflict: &str,
) -> Result<(), DbErr> {
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push(insert).push(" ");
    push_rows(&mut sql, rows);
    sql.push(conflict);
    txn.execute_raw(sql.statement()).await?;
    Ok(())
}

/// Appends `rows` as a query: in PostgreSQL one array per column (`SELECT * FROM UNNEST(...)`:
/// a short statement whatever the number of rows, parsed once per connection, with the planner
/// expecting few rows), else (or with a `NULL`, which the driver's arrays cannot carry) a
/// `VALUES` list.
pub(crate) fn push_rows(sql: &mut Sql, rows: Vec<Vec<Value>>) {
    let arrays = match sql.backend() {
        DatabaseBackend::Postgres => as_arrays(rows),
        _ => Err(rows),
    };
    match arrays {
        Ok(columns) => {
            sql.push("SELECT * FROM UNNEST(");
            for (i, column) in columns.into_iter().enumerate() {
                sql.push(if i == 0 { "" } else { ", " }).bind(column);
            }
            sql.push(")");
        }
        Err(rows) => {
            sql.push("VALUES ").values_rows(rows, |row| row);
        }
    }
}

/// The array type of a non-`NULL` value that the ledger writes.
fn array_type(value: &Value) -> Option<ArrayType> {
    Some(match value {
        Value::Int(Some(_)) => ArrayType::Int,
        Value::BigInt(Some(_)) => ArrayType::BigInt,
        Value::Double(Some(_)) => ArrayType::Double,
        Value::String(Some(_)) => ArrayType::String,
        Value::Decimal(Some(_)) => ArrayType::Decimal,
        Value::Bytes(Some(_)) => ArrayType::Bytes,
        _ => return None,
    })
}

/// `rows` as one array per column; the rows themselves when a column holds a `NULL` (which the
/// driver's arrays cannot carry) or mixes types.
fn as_arrays(rows: Vec<Vec<Value>>) -> Result<Vec<Value>, Vec<Vec<Value>>> {
    let types: Option<Vec<ArrayType>> =
        rows.first().map_or(Some(Vec::new()), |row| row.iter().map(array_type).collect());
    let fits = |types: &Vec<ArrayType>| {
        rows.iter().all(|row| {
            row.len() == types.len() && row.iter().zip(types).all(|(v, t)| array_type(v).as_ref() == Some(t))
        })
    };
    let Some(types) = types.filter(fits) else { return Err(rows) };
    let mut columns: Vec<Vec<Value>> = types.iter().map(|_| Vec::with_capacity(rows.len())).collect();
    for row in rows {
        for (column, value) in columns.iter_mut().zip(row) {
            column.push(value);
        }
    }
    Ok(types.into_iter().zip(columns).map(|(t, values)| Value::Array(t, Some(Box::new(values)))).collect())
}

/// Writes each account's part of the ledger that only the ledger reads, as JSON in
/// `table (account_id, column)`; an empty part (an account without records, or deleted) as no
/// row, as a rebuild leaves it.
pub(crate) async fn store_json<T: Serialize + Default + PartialEq>(
    txn: &impl ConnectionTrait,
    table: &str,
    column: &str,
    rows: &[(i64, T)],
) -> Result<(), DbErr> {
    let insert = format!("INSERT INTO {table} (account_id, {column})");
    let conflict = format!(" ON CONFLICT (account_id) DO UPDATE SET {column} = excluded.{column}");
    let (empty, parts): (Vec<_>, Vec<_>) = rows.iter().partition(|(_, value)| *value == T::default());
    for chunk in parts.chunks(rows_per_statement(2)) {
        let mut cells = Vec::with_capacity(chunk.len());
        for (account, value) in chunk {
            let json = serde_json::to_string(value).map_err(|e| DbErr::Custom(format!("{table}: {e}")))?;
            cells.push(vec![Value::from(*account), Value::from(json)]);
        }
        upsert(txn, &insert, cells, &conflict).await?;
    }
    for chunk in empty.chunks(CHUNK) {
        let mut delete = Sql::new(txn.get_database_backend());
        delete.push(&format!("DELETE FROM {table} WHERE account_id IN ("));
        in_list(&mut delete, chunk.iter().map(|(account, _)| *account));
        delete.push(")");
        txn.execute_raw(delete.statement()).await?;
    }
    Ok(())
}

/// What [`store_json`] wrote for each of `accounts` (those without a row left out).
pub(crate) async fn stored_json<T: DeserializeOwned>(
    txn: &impl ConnectionTrait,
    table: &str,
    column: &str,
    accounts: &[i64],
) -> Result<BTreeMap<i64, T>, DbErr> {
    let select = format!("SELECT account_id, {column} FROM {table} WHERE account_id IN (");
    let mut out = BTreeMap::new();
    for row in rows_of(txn, &select, accounts, "").await? {
        let json: String = row.try_get("", column)?;
        let value = serde_json::from_str(&json).map_err(|e| DbErr::Custom(format!("{table}: {e}")))?;
        out.insert(row.try_get("", "account_id")?, value);
    }
    Ok(out)
}

pub(crate) fn in_list(sql: &mut Sql, ids: impl Iterator<Item = i64>) {
    for (i, id) in ids.enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(id);
    }
}

pub(crate) async fn rows_of(
    txn: &impl ConnectionTrait,
    select: &str,
    accounts: &[i64],
    order: &str,
) -> Result<Vec<QueryResult>, DbErr> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push(select);
    in_list(&mut sql, accounts.iter().copied());
    sql.push(")").push(order);
    txn.query_all_raw(sql.statement()).await
}
