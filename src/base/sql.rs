//! A raw SQL statement written once for both backends: `?` placeholders (rewritten to `$n` for
//! PostgreSQL), values bound in order, and the spellings that differ between the dialects.
use std::fmt::Write;

use rust_decimal::Decimal;
use sea_orm::sea_query::{SelectStatement, SqliteQueryBuilder, Value};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, QueryResult, Statement, TransactionTrait};

pub struct Sql {
    backend: DatabaseBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(backend: DatabaseBackend) -> Self {
        Sql { backend, text: String::new(), values: Vec::new() }
    }

    /// Appends SQL text (with `?` for each value bound next).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.text.push('?');
        self.values.push(value.into());
        self
    }

    /// Appends a sub-select built with sea-query (such as the caller's visible accounts).
    pub fn select(&mut self, select: &SelectStatement) -> &mut Self {
        // SQLite's builder writes `?` placeholders and double-quoted names, which suit both.
        let (text, values) = select.build(SqliteQueryBuilder);
        self.text.push_str(&text);
        self.values.extend(values.0);
        self
    }

    /// `(?, ?, ...), (?, ?, ...)` for the rows of a `VALUES` list.
    pub fn values_rows<R, V: Into<Value>>(
        &mut self,
        rows: impl IntoIterator<Item = R>,
        cells: impl Fn(R) -> Vec<V>,
    ) -> &mut Self {
        for (i, row) in rows.into_iter().enumerate() {
            self.push(if i == 0 { "(" } else { ", (" });
            for (j, cell) in cells(row).into_iter().enumerate() {
                if j > 0 {
                    self.push(", ");
                }
                self.bind(cell);
            }
            self.push(")");
        }
        self
    }

    /// An exact number for a money column: PostgreSQL's `NUMERIC` as it is; in SQLite, whose
    /// money is canonical text with four decimals, the integer count of 1/10000 units (exact for
    /// sums up to 9.2e14; read back with [`money`]).
    pub fn money(&self, column: &str) -> String {
        match self.backend {
            DatabaseBackend::Sqlite => format!("CAST(REPLACE({column}, '.', '') AS INTEGER)"),
            _ => column.to_owned(),
        }
    }

    /// The statement, its values moved into it (a ledger statement binds arrays of thousands).
    pub fn statement(self) -> Statement {
        let text = match self.backend {
            DatabaseBackend::Postgres => {
                let mut numbered = String::with_capacity(self.text.len() + self.values.len() * 4);
                for (n, part) in self.text.split('?').enumerate() {
                    if n > 0 {
                        // Writing into a String cannot fail.
                        let _ = write!(numbered, "${n}");
                    }
                    numbered.push_str(part);
                }
                numbered
            }
            _ => self.text,
        };
        Statement::from_sql_and_values(self.backend, text, self.values)
    }
}

/// Runs a read that groups a large rollup table (month-end health, cohorts) joined with the
/// books of a scope (a `VALUES` list joined on two columns). PostgreSQL underestimates that join
/// by two orders of magnitude, so it sorts the tens of thousands of joined rows to group them;
/// with sorting discouraged for this statement alone (`SET LOCAL` in its own transaction) it
/// hashes them, in about half the time. (Smaller rollups group faster sorted.)
pub async fn query_grouped(db: &DatabaseConnection, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return db.query_all_raw(statement).await;
    }
    let txn = db.begin().await?;
    txn.execute_unprepared("SET LOCAL enable_sort = off").await?;
    let rows = txn.query_all_raw(statement).await?;
    txn.commit().await?;
    Ok(rows)
}

/// Reads an exact money expression written with [`Sql::money`] (or a sum of them).
pub fn money(backend: DatabaseBackend, row: &QueryResult, column: &str) -> Result<Decimal, DbErr> {
    Ok(match backend {
        DatabaseBackend::Sqlite => Decimal::new(row.try_get::<Option<i64>>("", column)?.unwrap_or(0), 4),
        _ => row.try_get::<Option<Decimal>>("", column)?.unwrap_or_default(),
    }
    .normalize())
}

/// Reads an integer: a count (`COUNT(*)` or a `SUM` of 0/1 cases, `BIGINT` on both backends) or
/// an `INTEGER` column (`INT4` in PostgreSQL).
pub fn count(row: &QueryResult, column: &str) -> Result<i64, DbErr> {
    match row.try_get::<Option<i64>>("", column) {
        Ok(value) => Ok(value.unwrap_or(0)),
        Err(_) => Ok(row.try_get::<Option<i32>>("", column)?.map_or(0, i64::from)),
    }
}

impl Sql {
    /// The date `days` days before a date column.
    pub fn days_before(&self, column: &str, days: u32) -> String {
        match self.backend {
            DatabaseBackend::Sqlite => format!("date({column}, '-{days} days')"),
            _ => format!("({column} - {days})"),
        }
    }

    /// The UTC calendar day of an instant column.
    pub fn utc_day(&self, column: &str) -> String {
        match self.backend {
            DatabaseBackend::Sqlite => format!("date({column})"),
            _ => format!("CAST(({column} AT TIME ZONE 'UTC') AS DATE)"),
        }
    }

    /// A text column ordered by code points (PostgreSQL's default collation is not).
    pub fn code_points(&self, column: &str) -> String {
        match self.backend {
            DatabaseBackend::Sqlite => column.to_owned(),
            _ => format!("{column} COLLATE \"C\""),
        }
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.backend
    }
}
