//! Connecting to the database, running migrations, and the few SQL spellings that differ
//! between SQLite and PostgreSQL.
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// How long one SQL statement may run on PostgreSQL before the server cancels it
/// (`statement_timeout`), unless configured otherwise.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a SQLite statement may wait for a free connection of the pool (a writer holds its
/// own while it waits for the database's one write lock).
const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a PostgreSQL statement may wait for a connection: a connection refused (the server
/// stopped) is retried by the pool until then, so it bounds how long the first request of an
/// outage waits before it is answered `UNAVAILABLE`; busy connections free up in milliseconds.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a SQLite writer waits for another to finish before giving up (`CONFLICT`).
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of every PostgreSQL session of the pool. The KPI statements are short analytic
/// queries: compiling them (`jit`, on by default above a cost every dashboard statement
/// exceeds) took 100-350 ms per statement at 10,000 accounts, more than running them; and
/// their sorts (medians, latest records) spilled to disk at the default 4 MB `work_mem`.
const POSTGRES_SESSION_SETTINGS: [(&str, &str); 2] = [("jit", "off"), ("work_mem", "16MB")];

/// Connects to `url` (`sqlite://...` or `postgres://...`), and does nothing else: the schema
/// and the ledger are brought up to date by `serve` and `migrate` (see the `startup` module).
/// `statement_timeout`: how long one statement may run (`None`: no limit). SQLite has no
/// statement timeout; there the request timeout bounds the work.
pub async fn connect(url: &str, statement_timeout: Option<Duration>) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .max_connections(if url.starts_with("sqlite") { 8 } else { 16 })
        // A request's statements run concurrently, so under load a statement may wait for a
        // connection; the request timeout decides when waiting is too long, but for an outage.
        .acquire_timeout(if url.starts_with("sqlite") { SQLITE_ACQUIRE_TIMEOUT } else { POSTGRES_ACQUIRE_TIMEOUT })
        // Every connection of the pool waits for a busy SQLite database, not just the first.
        .map_sqlx_sqlite_opts(|sqlite| sqlite.busy_timeout(SQLITE_BUSY_TIMEOUT))
        .map_sqlx_postgres_opts(|postgres| postgres.options(POSTGRES_SESSION_SETTINGS));
    if let Some(timeout) = statement_timeout {
        options.statement_timeout(timeout);
    }
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        // WAL (a property of the file) lets readers run while a batch is being written.
        db.execute_unprepared("PRAGMA journal_mode = WAL").await?;
    }
    Ok(db)
}

/// Brings the schema up to date (the migrations not applied yet).
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// The advisory lock key every PostgreSQL write transaction holds ("cs-kpi" in ASCII): shared
/// by the batches of accounts and their records, exclusive for every other write.
const WRITE_LOCK_KEY: i64 = 0x63_73_2d_6b_70_69;

/// Which other writers a write transaction may run beside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteAccess {
    /// A batch of accounts and their records (and of costs or traffic): on PostgreSQL it runs
    /// beside other such batches. Each record it compares with its input is locked as it is
    /// read (see `ingest::fetch_to_change`), so are the accounts and lists of waits whose part
    /// of the ledger it changes (see `ledger::apply`), and a batch that loses a race for a new
    /// natural key, or a deadlock, is run again (`ingest::retrying`).
    Shared,
    /// Anything else (teams and users, whom every account's book and visibility depend on; the
    /// health model; goals; the ledger's rebuild and the health of a new day): alone.
    Exclusive,
}

/// Starts a write transaction. SQLite has one writer at a time, which takes the database's
/// write lock at `BEGIN IMMEDIATE`, so concurrent batches with the same natural keys apply one
/// after the other. PostgreSQL takes the writer advisory lock, shared or exclusive as `access`
/// says, for the transaction. Readers are never blocked on either.
pub async fn begin_write(db: &DatabaseConnection, access: WriteAccess) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            let immediate = TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            };
            db.begin_with_options(immediate).await
        }
        _ => {
            let txn = db.begin().await?;
            let lock = match access {
                WriteAccess::Shared => "pg_advisory_xact_lock_shared",
                WriteAccess::Exclusive => "pg_advisory_xact_lock",
            };
            txn.execute_unprepared(&format!("SELECT {lock}({WRITE_LOCK_KEY})")).await?;
            Ok(txn)
        }
    }
}

/// The `aggregate_versions` row that counts the committed writes of data: what an export's
/// `ETag` is made of (see `export`).
const DATA_VERSION: &str = "data";

/// Commits a write transaction that changed data, counting it in the data version first. The
/// count's row is locked from this statement to the commit only, so concurrent batches queue
/// there for a moment at most; it wraps around before leaving a 32-bit integer.
pub async fn commit_write(txn: DatabaseTransaction) -> Result<(), DbErr> {
    txn.execute_unprepared(&format!(
        "INSERT INTO aggregate_versions (name, version) VALUES ('{DATA_VERSION}', 1) ON CONFLICT (name) \
         DO UPDATE SET version = (aggregate_versions.version % 2147483646) + 1"
    ))
    .await?;
    txn.commit().await
}

/// The data version: changes with every committed write of data (0 before the first).
pub async fn data_version(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT version FROM aggregate_versions WHERE name = '{DATA_VERSION}'"),
        ))
        .await?;
    row.map_or(Ok(0), |row| row.try_get::<i32>("", "version").map(i64::from))
}

/// SQL for the exact sum of a money column (or expression).
///
/// PostgreSQL sums `NUMERIC` exactly. SQLite stores money as canonical text with four decimals
/// (`"1921.3100"`, see `entity::money`, never negative): the whole units and the 1/10000 units
/// are summed separately as integers, then joined back into a decimal string with the carry, so
/// the sum is exact up to 9.2e18 whole units. Read the result with [`money_sum_value`].
pub fn money_sum(backend: DatabaseBackend, column: &str) -> String {
    match backend {
        DatabaseBackend::Sqlite => {
            let units = format!("SUM(CAST(substr({column}, 1, instr({column}, '.') - 1) AS INTEGER))");
            let fraction = format!("SUM(CAST(substr({column}, instr({column}, '.') + 1) AS INTEGER))");
            format!("COALESCE(({units} + {fraction} / 10000) || '.' || printf('%04d', {fraction} % 10000), '0')")
        }
        _ => format!("COALESCE(SUM({column}), 0)"),
    }
}

/// Reads a column computed by [`money_sum`].
pub fn money_sum_value(
    backend: DatabaseBackend,
    row: &sea_orm::QueryResult,
    column: &str,
) -> Result<entity::Money, DbErr> {
    let sum = match backend {
        DatabaseBackend::Sqlite => {
            let text: String = row.try_get("", column)?;
            text.parse::<rust_decimal::Decimal>().map_err(|e| DbErr::Type(format!("money sum {text:?}: {e}")))?
        }
        _ => row.try_get::<rust_decimal::Decimal>("", column)?,
    };
    Ok(entity::Money(sum.normalize()))
}
