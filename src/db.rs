//! Connecting to the database, running migrations, and the few SQL spellings that differ
//! between SQLite and PostgreSQL.
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseBackend, DatabaseConnection, DbErr};

/// Connects to `url` (`sqlite://...` or `postgres://...`) and brings the schema up to date.
pub async fn connect_and_migrate(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false).max_connections(if url.starts_with("sqlite") { 8 } else { 16 });
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        // WAL lets readers run while a batch is being written; the busy timeout makes concurrent
        // writers wait for each other instead of failing.
        use sea_orm::ConnectionTrait;
        db.execute_unprepared("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;").await?;
    }
    Migrator::up(&db, None).await?;
    Ok(db)
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
