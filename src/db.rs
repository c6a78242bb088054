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

/// SQL for the exact sum of a money column.
///
/// PostgreSQL sums `NUMERIC` exactly. SQLite stores money as canonical text with four decimals
/// (`"1921.3100"`, see `entity::money`), so removing the point gives an integer count of 1/10000
/// units that SQLite adds exactly; read the result with [`entity::Money::from_units`].
pub fn money_sum(backend: DatabaseBackend, column: &str) -> String {
    match backend {
        DatabaseBackend::Sqlite => format!("COALESCE(SUM(CAST(REPLACE({column}, '.', '') AS INTEGER)), 0)"),
        _ => format!("COALESCE(SUM({column}), 0)"),
    }
}

/// Reads a column computed by [`money_sum`].
pub fn money_sum_value(backend: DatabaseBackend, row: &sea_orm::QueryResult, column: &str) -> Result<entity::Money, DbErr> {
    Ok(match backend {
        DatabaseBackend::Sqlite => entity::Money::from_units(row.try_get::<i64>("", column)?),
        _ => entity::Money(row.try_get::<rust_decimal::Decimal>("", column)?.normalize()),
    })
}
