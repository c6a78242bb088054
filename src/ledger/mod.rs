//! The MRR ledger: exact aggregates behind the revenue KPIs, kept up to date by ingest in the
//! batch's own transaction (so reads are never stale), and rebuilt from the subscriptions when
//! the database holds an older version of them.
//!
//! - `mrr_changes`: every account's month-end MRR change points, i.e. its movements;
//! - `mrr_book_months` and `mrr_book_cohorts`: what the accounts of each book (CSM x segment)
//!   add per month and per cohort opening month (see [`series`]).
//!
//! A KPI scope is always a set of books: who sees an account, and every `ScopeInput` and
//! `groupBy`, depend only on its CSM (and the CSM's team) and its segment. An account that
//! changes CSM or segment moves its contributions from its old book to its new one.
pub mod series;

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use sea_orm::sea_query::Value;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, QueryResult};

use crate::kpis::MovementKind;
use crate::kpis::period::MonthIndex;
use crate::kpis::sql::{Sql, count};
use series::{Change, CohortDelta, MonthDelta, Term};

/// The version of the aggregates this code writes; the data is rebuilt when it holds another.
const VERSION: i32 = 1;
const NAME: &str = "mrr_ledger";

/// Accounts per look-up statement, and rows per insert (at most 19 values each).
const CHUNK: usize = 500;

/// A book: the accounts of one CSM (or none) in one segment (or none), as the rollup tables key
/// it (`csm_key` 0 for no CSM; `segment_key` `''` for no segment, else `'+'` and the segment).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Book {
    csm_key: i64,
    segment_key: String,
}

impl Book {
    pub fn of(csm_id: Option<i64>, segment: Option<&str>) -> Book {
        Book { csm_key: csm_id.unwrap_or(0), segment_key: segment.map_or_else(String::new, |s| format!("+{s}")) }
    }
}

/// The SQL of the book key columns of an account `a`, in the rollup tables' spelling.
pub const BOOK_KEY_SQL: &str =
    "COALESCE(a.csm_id, 0) AS csm_key, CASE WHEN a.segment IS NULL THEN '' ELSE '+' || a.segment END AS segment_key";

/// What a batch changed that the ledger must follow; applied before the batch commits.
#[derive(Debug, Default)]
pub struct LedgerChanges {
    /// Accounts whose subscriptions were created or changed.
    subscriptions_of: BTreeSet<i64>,
    /// Accounts whose book changed, with the book they were in before the batch.
    moved_from: BTreeMap<i64, Book>,
}

impl LedgerChanges {
    pub fn subscriptions_changed(&mut self, account_id: i64) {
        self.subscriptions_of.insert(account_id);
    }

    pub fn account_moved(&mut self, account_id: i64, from: Book) {
        self.moved_from.entry(account_id).or_insert(from);
    }

    pub fn is_empty(&self) -> bool {
        self.subscriptions_of.is_empty() && self.moved_from.is_empty()
    }
}

/// SQLite's amounts are two 64-bit integers: 1/10000 units `x * SPLIT + x_lo`.
const SPLIT: i128 = 1_000_000_000;

/// A summed column of a rollup table: an amount (two columns in SQLite) or a count.
#[derive(Clone, Copy, Debug)]
pub enum Sum {
    Amount(&'static str),
    Count(&'static str),
}

/// The stored columns of `sums`, in order.
fn column_names(backend: DatabaseBackend, sums: &[Sum]) -> Vec<String> {
    sums.iter()
        .flat_map(|sum| match (sum, backend) {
            (Sum::Amount(name), DatabaseBackend::Sqlite) => vec![name.to_string(), format!("{name}_lo")],
            (Sum::Amount(name) | Sum::Count(name), _) => vec![name.to_string()],
        })
        .collect()
}

/// An amount's stored values: one `NUMERIC` in PostgreSQL, the two integers in SQLite.
fn amount(backend: DatabaseBackend, value: Decimal) -> Result<Vec<Value>, DbErr> {
    match backend {
        DatabaseBackend::Sqlite => {
            let mut units = value;
            units.rescale(entity::money::MONEY_SCALE);
            let units = units.mantissa();
            let part = |v: i128| {
                i64::try_from(v).map_err(|_| DbErr::Custom(format!("amount {value} is too large for the MRR ledger")))
            };
            Ok(vec![Value::from(part(units / SPLIT)?), Value::from(part(units % SPLIT)?)])
        }
        _ => Ok(vec![Value::from(value)]),
    }
}

/// The SQL that reads amount `column` (of table alias `table`) as `alias`, summed over the
/// group when `sum` (read back with [`read_amount`]).
pub fn select_amount(backend: DatabaseBackend, sum: bool, table: &str, column: &str, alias: &str) -> String {
    let wrap = |c: String| if sum { format!("SUM({c})") } else { c };
    match backend {
        DatabaseBackend::Sqlite => {
            format!(
                "{} AS {alias}, {} AS {alias}_lo",
                wrap(format!("{table}.{column}")),
                wrap(format!("{table}.{column}_lo"))
            )
        }
        _ => format!("{} AS {alias}", wrap(format!("{table}.{column}"))),
    }
}

/// Reads an amount selected with [`select_amount`] (0 for a sum over no rows).
pub fn read_amount(backend: DatabaseBackend, row: &QueryResult, alias: &str) -> Result<Decimal, DbErr> {
    Ok(match backend {
        DatabaseBackend::Sqlite => {
            let hi = row.try_get::<Option<i64>>("", alias)?.unwrap_or(0);
            let lo = row.try_get::<Option<i64>>("", &format!("{alias}_lo"))?.unwrap_or(0);
            Decimal::try_from_i128_with_scale(i128::from(hi) * SPLIT + i128::from(lo), entity::money::MONEY_SCALE)
                .map_err(|e| DbErr::Custom(format!("MRR ledger amount: {e}")))?
        }
        _ => row.try_get::<Option<Decimal>>("", alias)?.unwrap_or_default(),
    }
    .normalize())
}

/// Brings the ledger up to date with `changes`, inside the batch's transaction.
pub async fn apply(txn: &impl ConnectionTrait, changes: &LedgerChanges) -> Result<(), DbErr> {
    let accounts: Vec<i64> = changes.subscriptions_of.iter().chain(changes.moved_from.keys()).copied().collect();
    let accounts: Vec<i64> = accounts.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
    for chunk in accounts.chunks(CHUNK) {
        apply_to(txn, changes, chunk).await?;
    }
    Ok(())
}

async fn apply_to(txn: &impl ConnectionTrait, changes: &LedgerChanges, accounts: &[i64]) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let books = current_books(txn, accounts).await?;
    let mut stored = stored_changes(txn, accounts).await?;
    let recomputed: Vec<i64> = accounts.iter().copied().filter(|a| changes.subscriptions_of.contains(a)).collect();
    let mut fresh = terms(txn, &recomputed).await?;

    let mut months: BTreeMap<(Book, MonthIndex), MonthDelta> = BTreeMap::new();
    let mut cohorts: BTreeMap<(Book, i32, MonthIndex), CohortDelta> = BTreeMap::new();
    let mut rewritten: Vec<(i64, Vec<Change>)> = Vec::new();
    for &account in accounts {
        let Some(book) = books.get(&account) else { continue };
        let old = stored.remove(&account).unwrap_or_default();
        let new = match changes.subscriptions_of.contains(&account) {
            true => series::changes(&fresh.remove(&account).unwrap_or_default()),
            false => old.clone(),
        };
        let old_book = changes.moved_from.get(&account).unwrap_or(book);
        if old == new && old_book == book {
            continue;
        }
        for (sign, book, changes) in [(-1, old_book, &old), (1, book, &new)] {
            let contributions = series::contributions(changes);
            for (month, delta) in contributions.months {
                months.entry((book.clone(), month)).or_default().add(&delta, sign);
            }
            for (window, opening, delta) in contributions.cohorts {
                cohorts.entry((book.clone(), window, opening)).or_default().add(&delta, sign);
            }
        }
        if old != new {
            rewritten.push((account, new));
        }
    }

    if !rewritten.is_empty() {
        let mut delete = Sql::new(backend);
        delete.push("DELETE FROM mrr_changes WHERE account_id IN (");
        in_list(&mut delete, rewritten.iter().map(|(a, _)| *a));
        txn.execute_raw(delete.push(")").statement()).await?;
        let rows: Vec<(i64, &Change)> = rewritten.iter().flat_map(|(a, cs)| cs.iter().map(move |c| (*a, c))).collect();
        for chunk in rows.chunks(CHUNK) {
            let mut insert = Sql::new(backend);
            let columns = column_names(backend, &[Sum::Amount("mrr_before"), Sum::Amount("mrr_after")]).join(", ");
            insert.push(&format!("INSERT INTO mrr_changes (account_id, month, {columns}, kind) VALUES "));
            let cells = chunk
                .iter()
                .map(|(account, c)| {
                    let (before, after) = (amount(backend, c.before)?, amount(backend, c.after)?);
                    Ok([
                        vec![Value::from(*account), Value::from(c.month)],
                        before,
                        after,
                        vec![Value::from(c.kind.as_db())],
                    ]
                    .concat())
                })
                .collect::<Result<Vec<_>, DbErr>>()?;
            insert.values_rows(cells, |row| row);
            txn.execute_raw(insert.statement()).await?;
        }
    }

    let months: Vec<_> = months.into_iter().filter(|(_, d)| !d.is_zero()).collect();
    for chunk in months.chunks(CHUNK) {
        let cells = chunk
            .iter()
            .map(|((book, month), d)| {
                Ok([
                    vec![Value::from(book.csm_key), Value::from(book.segment_key.clone()), Value::from(*month)],
                    amount(backend, d.mrr)?,
                    vec![Value::from(d.active)],
                    amount(backend, d.new_mrr)?,
                    vec![Value::from(d.new_customers)],
                    amount(backend, d.expansion_mrr)?,
                    amount(backend, d.contraction_mrr)?,
                    amount(backend, d.churned_mrr)?,
                    vec![Value::from(d.churned_customers)],
                    amount(backend, d.reactivation_mrr)?,
                    vec![Value::from(d.reactivated_customers)],
                ]
                .concat())
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        add_to(txn, "mrr_book_months", &["month"], MONTH_SUMS, cells).await?;
    }
    let cohorts: Vec<_> = cohorts.into_iter().filter(|(_, d)| !d.is_zero()).collect();
    for chunk in cohorts.chunks(CHUNK) {
        let cells = chunk
            .iter()
            .map(|((book, window, opening), d)| {
                Ok([
                    vec![
                        Value::from(book.csm_key),
                        Value::from(book.segment_key.clone()),
                        Value::from(*window),
                        Value::from(*opening),
                    ],
                    amount(backend, d.end_mrr)?,
                    amount(backend, d.kept_mrr)?,
                    vec![Value::from(d.retained), Value::from(d.upsold)],
                ]
                .concat())
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        add_to(txn, "mrr_book_cohorts", &["window_months", "month"], COHORT_SUMS, cells).await?;
    }
    Ok(())
}

/// The summed columns of `mrr_book_months`, in insert order.
const MONTH_SUMS: &[Sum] = &[
    Sum::Amount("mrr_delta"),
    Sum::Count("active_delta"),
    Sum::Amount("new_mrr"),
    Sum::Count("new_customers"),
    Sum::Amount("expansion_mrr"),
    Sum::Amount("contraction_mrr"),
    Sum::Amount("churned_mrr"),
    Sum::Count("churned_customers"),
    Sum::Amount("reactivation_mrr"),
    Sum::Count("reactivated_customers"),
];

/// The summed columns of `mrr_book_cohorts`, in insert order.
const COHORT_SUMS: &[Sum] =
    &[Sum::Amount("end_mrr"), Sum::Amount("kept_mrr"), Sum::Count("retained"), Sum::Count("upsold")];

/// Adds rows `(csm_key, segment_key, keys..., sums...)` to a rollup table: inserted where the key
/// is new, added column by column where it exists.
async fn add_to(
    txn: &impl ConnectionTrait,
    table: &str,
    keys: &[&str],
    sums: &[Sum],
    rows: Vec<Vec<Value>>,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let sums = column_names(backend, sums);
    let mut sql = Sql::new(backend);
    let key = ["csm_key", "segment_key"].iter().chain(keys).copied().collect::<Vec<_>>().join(", ");
    sql.push(&format!("INSERT INTO {table} ({key}, {}) VALUES ", sums.join(", ")));
    sql.values_rows(rows, |row| row);
    let add = sums.iter().map(|c| format!("{c} = {table}.{c} + excluded.{c}")).collect::<Vec<_>>().join(", ");
    sql.push(&format!(" ON CONFLICT ({key}) DO UPDATE SET {add}"));
    txn.execute_raw(sql.statement()).await?;
    Ok(())
}

fn in_list(sql: &mut Sql, ids: impl Iterator<Item = i64>) {
    for (i, id) in ids.enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(id);
    }
}

async fn rows_of(
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

/// Each account's book now.
async fn current_books(txn: &impl ConnectionTrait, accounts: &[i64]) -> Result<BTreeMap<i64, Book>, DbErr> {
    let rows = rows_of(txn, "SELECT id, csm_id, segment FROM accounts WHERE id IN (", accounts, "").await?;
    rows.iter()
        .map(|r| {
            let segment: Option<String> = r.try_get("", "segment")?;
            Ok((r.try_get("", "id")?, Book::of(r.try_get("", "csm_id")?, segment.as_deref())))
        })
        .collect()
}

/// The change points the ledger holds for each account.
async fn stored_changes(txn: &impl ConnectionTrait, accounts: &[i64]) -> Result<BTreeMap<i64, Vec<Change>>, DbErr> {
    let backend = txn.get_database_backend();
    let select = format!(
        "SELECT c.account_id, c.month, {}, {}, c.kind FROM mrr_changes c WHERE c.account_id IN (",
        select_amount(backend, false, "c", "mrr_before", "mrr_before"),
        select_amount(backend, false, "c", "mrr_after", "mrr_after")
    );
    let rows = rows_of(txn, &select, accounts, " ORDER BY c.account_id, c.month").await?;
    let mut out: BTreeMap<i64, Vec<Change>> = BTreeMap::new();
    for row in &rows {
        let kind: String = row.try_get("", "kind")?;
        let change = Change {
            month: row.try_get("", "month")?,
            before: read_amount(backend, row, "mrr_before")?,
            after: read_amount(backend, row, "mrr_after")?,
            kind: MovementKind::from_db(&kind).ok_or_else(|| DbErr::Custom(format!("unknown movement {kind}")))?,
        };
        out.entry(row.try_get("", "account_id")?).or_default().push(change);
    }
    Ok(out)
}

/// The subscriptions of each account, as MRR sees them.
async fn terms(txn: &impl ConnectionTrait, accounts: &[i64]) -> Result<BTreeMap<i64, Vec<Term>>, DbErr> {
    let rows = rows_of(
        txn,
        "SELECT account_id, mrr, start_date, end_date FROM subscriptions WHERE account_id IN (",
        accounts,
        "",
    )
    .await?;
    let mut out: BTreeMap<i64, Vec<Term>> = BTreeMap::new();
    for row in &rows {
        let term = Term {
            mrr: row.try_get::<entity::Money>("", "mrr")?.0,
            start: row.try_get("", "start_date")?,
            end: row.try_get("", "end_date")?,
        };
        out.entry(row.try_get("", "account_id")?).or_default().push(term);
    }
    Ok(out)
}

/// Rebuilds the ledger from the subscriptions unless it already holds this code's version
/// (a database from before the ledger existed, or from an older formula).
pub async fn ensure_built(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let backend = txn.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push("SELECT version FROM aggregate_versions WHERE name = ").bind(NAME);
    let version = txn.query_one_raw(sql.statement()).await?.map(|r| count(&r, "version")).transpose()?;
    if version == Some(i64::from(VERSION)) {
        return txn.commit().await;
    }
    tracing::info!(from = ?version, to = VERSION, "rebuilding the MRR ledger");
    for table in ["mrr_changes", "mrr_book_months", "mrr_book_cohorts"] {
        txn.execute_unprepared(&format!("DELETE FROM {table}")).await?;
    }
    let rows = txn
        .query_all_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT DISTINCT account_id FROM subscriptions ORDER BY account_id",
        ))
        .await?;
    let mut changes = LedgerChanges::default();
    for row in &rows {
        changes.subscriptions_changed(row.try_get("", "account_id")?);
    }
    apply(&txn, &changes).await?;
    let mut mark = Sql::new(backend);
    mark.push("DELETE FROM aggregate_versions WHERE name = ").bind(NAME);
    txn.execute_raw(mark.statement()).await?;
    let mut mark = Sql::new(backend);
    mark.push("INSERT INTO aggregate_versions (name, version) VALUES (").bind(NAME).push(", ").bind(VERSION).push(")");
    txn.execute_raw(mark.statement()).await?;
    txn.commit().await
}
