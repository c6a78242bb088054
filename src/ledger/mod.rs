//! The ledger: exact aggregates behind the revenue, health and activity KPIs, kept up to date by
//! ingest in the batch's own transaction (so reads are never stale), and rebuilt from the records
//! when the database holds an older version of them.
//!
//! - `mrr_changes`: every account's month-end MRR change points, i.e. its movements;
//! - `mrr_book_months`, `mrr_book_cohorts` and `mrr_book_paid_cohorts`: what the accounts of
//!   each book (CSM x segment) add per month, per cohort opening month and per cohort of first
//!   paid month (see [`series`]);
//! - `health_points` and `health_book_months`: every account's health and adoption at month
//!   ends, as change points, and what it adds to its book per month and presence pattern (see
//!   [`health`]);
//! - `account_activity`, `activity_book_months` and `wait_book_months`: every account's
//!   counts of tickets, survey responses, usage and touchpoints by month, their sums per book and
//!   month, and the waits (ticket response and resolution, time to first value) that medians
//!   take (see [`activity`]).
//!
//! A KPI scope is always a set of books: who sees an account, and every `ScopeInput` and
//! `groupBy`, depend only on its CSM (and the CSM's team) and its segment. An account that
//! changes CSM or segment moves its contributions from its old book to its new one.
pub mod activity;
pub mod health;
mod mrr;
pub(crate) mod rows;
pub mod series;
pub mod today;
pub mod wait_list;

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use sea_orm::sea_query::Value;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, QueryResult};

use crate::base::sql::{Sql, count};
use rows::{CHUNK, rows_of, upsert};

/// The version of the aggregates this code writes; a database holding another is brought to it
/// at start ([`ensure_built`]; 6: the lists of waits in `wait_list`'s compact form; 7: the
/// cohorts of first paid month).
const VERSION: i32 = 7;
const NAME: &str = "ledger";

/// A book: the accounts of one CSM (or none) in one segment (or none), as the rollup tables key
/// it (`csm_key` 0 for no CSM; `segment_key` `''` for no segment, else `'+'` and the segment).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Book {
    csm_key: i64,
    segment_key: String,
}

impl Book {
    /// The values of `csm_key` and `segment_key`.
    fn key_values(&self) -> Vec<Value> {
        vec![Value::from(self.csm_key), Value::from(self.segment_key.clone())]
    }

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
    /// Accounts whose health and activity records (or subscriptions) were created or changed.
    records_of: BTreeSet<i64>,
    /// Accounts whose book changed, with the book they were in before the batch.
    moved_from: BTreeMap<i64, Book>,
    /// Subscriptions that a renewal was written for (their accounts' renewals change).
    renewed: BTreeSet<i64>,
    /// Accounts the batch created: the ledger holds nothing under their ids yet (an id comes
    /// from the table's sequence, or in SQLite after every id in use, see `ingest::pending`,
    /// which may be the id of an account deleted before: its parts went with it, since a
    /// deleted account's parts are empty and an empty part is stored as no row), so their
    /// stored parts are not read.
    created: BTreeSet<i64>,
    /// Accounts the batch deleted (or merged away), with the book they were in.
    deleted: BTreeMap<i64, Book>,
}

impl LedgerChanges {
    /// Subscriptions make MRR and, through activity and the revenue trend, health.
    pub fn subscriptions_changed(&mut self, account_id: i64) {
        self.subscriptions_of.insert(account_id);
        self.records_of.insert(account_id);
    }

    /// A record of the account (see [`AccountRecord`]), one of its dates (onboarding, signup,
    /// activation, start, first value), or an account it referred.
    pub fn records_changed(&mut self, account_id: i64) {
        self.records_of.insert(account_id);
    }

    /// A subscription named by a renewal that was written (before or after the change).
    pub fn renewal_changed(&mut self, renewed_subscription: i64) {
        self.renewed.insert(renewed_subscription);
    }

    /// A new account, which has a health (support and engagement are always present).
    pub fn account_created(&mut self, account_id: i64) {
        self.created.insert(account_id);
        self.records_of.insert(account_id);
    }

    /// An account deleted (its records first): its parts leave its book and the ledger.
    pub fn account_deleted(&mut self, account: &entity::account::Model) {
        self.deleted.insert(account.id, Book::of(account.csm_id, account.segment.as_deref()));
        self.subscriptions_of.insert(account.id);
        self.records_of.insert(account.id);
        if let Some(referrer) = account.referred_by_id {
            self.records_of.insert(referrer);
        }
    }

    pub fn account_moved(&mut self, account_id: i64, from: Book) {
        self.moved_from.entry(account_id).or_insert(from);
    }

    pub fn is_empty(&self) -> bool {
        self.subscriptions_of.is_empty()
            && self.records_of.is_empty()
            && self.moved_from.is_empty()
            && self.renewed.is_empty()
            && self.deleted.is_empty()
    }
}

/// SQLite's amounts are two 64-bit integers: 1/10000 units `x * SPLIT + x_lo`.
const SPLIT: i128 = 1_000_000_000;

/// A summed column of a rollup table: an amount (two columns in SQLite) or an integer (a count,
/// or a fixed-point sum).
#[derive(Clone, Copy, Debug)]
pub enum Sum {
    Amount(&'static str),
    Count(&'static str),
}

/// The stored columns of `sums`, in order.
pub(super) fn column_names(backend: DatabaseBackend, sums: &[Sum]) -> Vec<String> {
    sums.iter()
        .flat_map(|sum| match (sum, backend) {
            (Sum::Amount(name), DatabaseBackend::Sqlite) => vec![name.to_string(), format!("{name}_lo")],
            (Sum::Amount(name) | Sum::Count(name), _) => vec![name.to_string()],
        })
        .collect()
}

/// A record of an account that feeds its health or activity: a survey response, ticket, usage
/// record, touchpoint, advocacy record or feature request.
pub trait AccountRecord {
    fn account_id(&self) -> i64;
}

macro_rules! account_record {
    ($($module:ident),+) => {$(
        impl AccountRecord for entity::$module::Model {
            fn account_id(&self) -> i64 {
                self.account_id
            }
        }
    )+};
}

account_record!(feedback, ticket, usage_record, touchpoint, advocacy, feature_request);

/// Writing a record over `before` changes its account's health and activity (and its old one's).
pub fn follow_records<R: AccountRecord>(before: Option<&R>, after: &R, ledger: &mut LedgerChanges) {
    ledger.records_changed(after.account_id());
    if let Some(before) = before {
        ledger.records_changed(before.account_id());
    }
}

/// A new account has a health (support and engagement are always present); an account that
/// changes CSM or segment moves to another book of the ledger; one whose onboarding completes on
/// another day changes its month-end adoption, one whose signup or activation its signup
/// counters, and one whose start or first value its time to first value. A referred account
/// counts with its referrer: a change of its referrer, start or signup changes the referral
/// counters of its old and new referrer.
pub fn follow_account(
    before: Option<&entity::account::Model>,
    after: &entity::account::Model,
    ledger: &mut LedgerChanges,
) {
    let referral = |a: &entity::account::Model| (a.referred_by_id, a.started_on, a.signed_up_on);
    if before.map(referral) != Some(referral(after)) {
        for referrer in [before.and_then(|b| b.referred_by_id), after.referred_by_id].into_iter().flatten() {
            ledger.records_changed(referrer);
        }
    }
    let Some(before) = before else {
        ledger.account_created(after.id);
        return;
    };
    if (before.csm_id, &before.segment) != (after.csm_id, &after.segment) {
        ledger.account_moved(before.id, Book::of(before.csm_id, before.segment.as_deref()));
    }
    let dates = |a: &entity::account::Model| {
        (a.onboarding_completed_on, a.signed_up_on, a.activated_on, a.started_on, a.first_value_on)
    };
    if dates(before) != dates(after) {
        ledger.records_changed(after.id);
    }
}

/// A subscription written over `before` changes the MRR of its account (and of its old one), and
/// the renewals of the subscription it renews (and of the one it renewed).
pub fn follow_subscription(
    before: Option<&entity::subscription::Model>,
    after: &entity::subscription::Model,
    ledger: &mut LedgerChanges,
) {
    for subscription in before.into_iter().chain([after]) {
        ledger.subscriptions_changed(subscription.account_id);
        if let Some(renewed) = subscription.renews_id {
            ledger.renewal_changed(renewed);
        }
    }
}

/// An amount's stored values: one `NUMERIC` in PostgreSQL, the two integers in SQLite.
pub(super) fn amount(backend: DatabaseBackend, value: Decimal) -> Result<Vec<Value>, DbErr> {
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
///
/// Batches write beside each other on PostgreSQL (`db::WriteAccess::Shared`). Each account's
/// part of the ledger is recomputed from its records and stored parts as they are once the
/// account is locked ([`lock_accounts`]), so a batch starts from what the batches committed
/// before it made of the same account, and one that changes its records later recomputes it
/// after. The rollups' rows are sums of those parts' changes, which commute; the lists of waits
/// are read and written back under a lock each (`activity::change_waits`). Every lock is taken
/// in key order, table by table, so batches of disjoint accounts wait for each other only for
/// a shared rollup row or list, and never in a circle.
pub async fn apply(txn: &impl ConnectionTrait, changes: &LedgerChanges) -> Result<(), DbErr> {
    let renewed: Vec<i64> = changes.renewed.iter().copied().collect();
    let mut records_of = changes.records_of.clone();
    for row in rows_of(txn, "SELECT account_id FROM subscriptions WHERE id IN (", &renewed, "").await? {
        records_of.insert(row.try_get("", "account_id")?);
    }
    let accounts: BTreeSet<i64> =
        changes.subscriptions_of.iter().chain(&records_of).chain(changes.moved_from.keys()).copied().collect();
    let accounts: Vec<i64> = accounts.into_iter().collect();
    lock_accounts(txn, &accounts).await?;
    for chunk in accounts.chunks(CHUNK) {
        let books = current_books(txn, chunk).await?;
        let moves: Vec<Move> = chunk
            .iter()
            .filter_map(|account| {
                let (to, gone) = match (books.get(account), changes.deleted.get(account)) {
                    (Some(book), _) => (book.clone(), false),
                    (None, Some(book)) => (book.clone(), true),
                    (None, None) => return None,
                };
                let from = changes.moved_from.get(account).cloned().unwrap_or_else(|| to.clone());
                Some(Move { account: *account, from, to, created: changes.created.contains(account), gone })
            })
            .collect();
        let recompute = |set: &BTreeSet<i64>| -> BTreeSet<i64> {
            moves.iter().filter(|m| set.contains(&m.account)).map(|m| m.account).collect()
        };
        let recomputed = recompute(&records_of);
        // Subscriptions feed every part (every account whose MRR changes has its health
        // recomputed too), and the other records both health and activity: read once.
        let ids: Vec<i64> = recomputed.iter().copied().collect();
        let terms = mrr::terms(txn, &ids).await?;
        mrr::apply(txn, &moves, &recompute(&changes.subscriptions_of), &terms).await?;
        let records = health::records(txn, &ids, terms).await?;
        health::apply(txn, &moves, &recomputed, &records).await?;
        activity::apply(txn, &moves, &recomputed, &records).await?;
    }
    crate::ledger::today::follow(txn, &records_of, &changes.created).await
}

/// The advisory lock of the whole ledger ("ledger" in ASCII): held shared by a batch that locks
/// its accounts one by one, exclusive by one that changes more of them.
const LEDGER_LOCK_KEY: i64 = 0x6c_65_64_67_65_72;
/// The first key of each account's advisory lock ("led" in ASCII; the second is its id).
const ACCOUNT_LOCK_SPACE: i32 = 0x6c6564;
/// The most accounts a batch locks one by one; a batch with more takes the whole ledger.
const ACCOUNTS_LOCKED_ONE_BY_ONE: usize = 64;

/// Keeps other batches from changing the ledger's part of `accounts` (sorted) until the
/// transaction ends, on PostgreSQL (SQLite's writer is alone): each account's advisory lock, in
/// their order, or the whole ledger's for a batch of many accounts (which keeps PostgreSQL's
/// table of locks small). These locks are apart from the rows a batch locks before (its
/// records and accounts, see `ingest::fetch_to_change`), and a batch holding them waits for no
/// such row, so batches changing the ledger and batches writing records never wait for each
/// other in a circle.
async fn lock_accounts(txn: &impl ConnectionTrait, accounts: &[i64]) -> Result<(), DbErr> {
    if txn.get_database_backend() != DatabaseBackend::Postgres || accounts.is_empty() {
        return Ok(());
    }
    if accounts.len() > ACCOUNTS_LOCKED_ONE_BY_ONE {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({LEDGER_LOCK_KEY})")).await?;
        return Ok(());
    }
    // Ids beyond 2^31 share a lock with another account: they wait for each other, no more.
    let keys: BTreeSet<i32> = accounts.iter().map(|id| (id & 0x7fff_ffff) as i32).collect();
    let keys = keys.iter().map(i32::to_string).collect::<Vec<_>>().join(", ");
    txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock_shared({LEDGER_LOCK_KEY})")).await?;
    txn.execute_unprepared(&format!(
        "SELECT pg_advisory_xact_lock({ACCOUNT_LOCK_SPACE}, k) FROM (SELECT unnest(ARRAY[{keys}]) AS k ORDER BY k OFFSET 0) s"
    ))
    .await?;
    Ok(())
}

/// An account of a batch: the book it was in before the batch, and the one it is in now.
pub struct Move {
    pub account: i64,
    pub from: Book,
    pub to: Book,
    /// Created by the batch: nothing of it is stored yet.
    pub created: bool,
    /// Deleted by the batch: its parts become empty.
    pub gone: bool,
}

/// The accounts of `moves` that may have stored parts of the ledger (not those the batch
/// created), whose stored parts are read before they are rewritten.
pub(super) fn stored_accounts(moves: &[Move]) -> Vec<i64> {
    moves.iter().filter(|m| !m.created).map(|m| m.account).collect()
}

/// The accounts of `moves` whose part of the ledger changes, with that part before the batch
/// (`stored`) and after it: `compute`d from the `fresh` records of the accounts in `recompute`,
/// the stored one for the others (which only move books).
pub(super) fn changed_parts<'a, T: Clone + Default + PartialEq>(
    moves: &'a [Move],
    recompute: &BTreeSet<i64>,
    mut stored: BTreeMap<i64, T>,
    fresh: &BTreeMap<i64, health::Records>,
    compute: impl Fn(&health::Records) -> T,
) -> Vec<(&'a Move, T, T)> {
    let mut out = Vec::new();
    for m in moves {
        let old = stored.remove(&m.account).unwrap_or_default();
        let new = match (m.gone, recompute.contains(&m.account)) {
            (true, _) => T::default(),
            (false, true) => fresh.get(&m.account).map(&compute).unwrap_or_default(),
            (false, false) => old.clone(),
        };
        if old != new || m.from != m.to {
            out.push((m, old, new));
        }
    }
    out
}

/// Adds rows `(csm_key, segment_key, keys..., sums...)` to a rollup table: inserted where the key
/// is new, added column by column where it exists.
pub(super) async fn add_to(
    txn: &impl ConnectionTrait,
    table: &str,
    keys: &[&str],
    sums: &[Sum],
    rows: Vec<Vec<Value>>,
) -> Result<(), DbErr> {
    let sums = column_names(txn.get_database_backend(), sums);
    let key = ["csm_key", "segment_key"].iter().chain(keys).copied().collect::<Vec<_>>().join(", ");
    let add = sums.iter().map(|c| format!("{c} = {table}.{c} + excluded.{c}")).collect::<Vec<_>>().join(", ");
    let insert = format!("INSERT INTO {table} ({key}, {})", sums.join(", "));
    upsert(txn, &insert, rows, &format!(" ON CONFLICT ({key}) DO UPDATE SET {add}")).await
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

/// Brings the ledger to this code's version: nothing when it holds it already; from version 6,
/// builds the cohorts of first paid month from the change points; from version 5, whose lists
/// of waits were stored in full, also re-encodes them (seconds at 100,000 accounts, where a
/// rebuild takes minutes); else (a database from before the ledger existed, or from an
/// older formula) rebuilds it from the records.
pub async fn ensure_built(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = crate::base::db::begin_write(db, crate::base::db::WriteAccess::Exclusive).await?;
    let backend = txn.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push("SELECT version FROM aggregate_versions WHERE name = ").bind(NAME);
    let version = txn.query_one_raw(sql.statement()).await?.map(|r| count(&r, "version")).transpose()?;
    match version {
        Some(version) if version == i64::from(VERSION) => {
            tracing::debug!(version, "the ledger is up to date");
            return txn.commit().await;
        }
        Some(5) => {
            tracing::info!(from = 5, to = VERSION, "re-encoding the ledger's lists of waits");
            activity::reencode_wait_lists(&txn).await?;
            build_paid_cohorts(&txn).await?;
        }
        Some(6) => build_paid_cohorts(&txn).await?,
        _ => {
            tracing::info!(from = ?version, to = VERSION, "rebuilding the ledger");
            rebuild(&txn).await?;
        }
    }
    let mut mark = Sql::new(backend);
    mark.push("DELETE FROM aggregate_versions WHERE name = ").bind(NAME);
    txn.execute_raw(mark.statement()).await?;
    let mut mark = Sql::new(backend);
    mark.push("INSERT INTO aggregate_versions (name, version) VALUES (").bind(NAME).push(", ").bind(VERSION).push(")");
    txn.execute_raw(mark.statement()).await?;
    txn.commit().await?;
    compact(db).await?;
    tracing::info!(version = VERSION, "the ledger is up to date");
    Ok(())
}

/// The ledger's tables.
const TABLES: [&str; 9] = [
    "mrr_changes",
    "mrr_book_months",
    "mrr_book_cohorts",
    "mrr_book_paid_cohorts",
    "health_points",
    "health_book_months",
    "account_activity",
    "activity_book_months",
    "wait_book_months",
];

/// Rewrites the ledger's tables after an upgrade on PostgreSQL. An upgrade writes every rollup
/// row many times in one transaction, and no version of a row can be reclaimed before the
/// transaction ends: at 100,000 accounts a rebuild left `health_book_months` at 458 MB for 16 MB
/// of live rows, and every dashboard reading it twice as slow, which autovacuum does not undo
/// (it frees the space for reuse, it does not give it back). `VACUUM FULL` (3.6 s for every
/// table at 100,000 accounts) runs before the server answers anyone; SQLite updates in place.
async fn compact(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        for (i, table) in TABLES.iter().enumerate() {
            tracing::info!(table, "compacting the ledger's tables: {} of {}", i + 1, TABLES.len());
            db.execute_unprepared(&format!("VACUUM (FULL, ANALYZE) {table}")).await?;
        }
    }
    Ok(())
}

/// Computes `mrr_book_paid_cohorts` from the change points of every account, a group of
/// accounts at a time.
async fn build_paid_cohorts(txn: &DatabaseTransaction) -> Result<(), DbErr> {
    tracing::info!("building the cohorts of first paid month from the MRR change points");
    txn.execute_unprepared("DELETE FROM mrr_book_paid_cohorts").await?;
    for group in all_accounts(txn).await?.chunks(CHUNK) {
        mrr::add_paid_cohorts(txn, group).await?;
    }
    Ok(())
}

/// Every account's id, in order.
async fn all_accounts(txn: &DatabaseTransaction) -> Result<Vec<i64>, DbErr> {
    let all = sea_orm::Statement::from_string(txn.get_database_backend(), "SELECT id FROM accounts ORDER BY id");
    txn.query_all_raw(all).await?.iter().map(|row| row.try_get::<i64>("", "id")).collect()
}

/// Accounts a rebuild computes at a time: it logs its progress after each group (a rebuild of
/// 100,000 accounts takes minutes, and one that prints nothing looks like a hang).
const REBUILD_GROUP: usize = 5_000;

/// Empties the ledger's tables and computes them again from every account's records, a group
/// of accounts at a time (each group adds its accounts to the books, as a batch of ingest does).
async fn rebuild(txn: &DatabaseTransaction) -> Result<(), DbErr> {
    for table in TABLES {
        txn.execute_unprepared(&format!("DELETE FROM {table}")).await?;
    }
    let ids = all_accounts(txn).await?;
    let started = std::time::Instant::now();
    let progress = |done: usize| {
        let seconds = started.elapsed().as_secs();
        tracing::info!(
            accounts = done,
            of = ids.len(),
            seconds,
            "rebuilding the ledger: {done} of {} accounts",
            ids.len()
        );
    };
    progress(0);
    let mut done = 0;
    for group in ids.chunks(REBUILD_GROUP) {
        let mut changes = LedgerChanges::default();
        for id in group {
            changes.subscriptions_changed(*id);
        }
        apply(txn, &changes).await?;
        done += group.len();
        progress(done);
    }
    Ok(())
}
