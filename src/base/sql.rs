//! A statement of hand-written analytic SQL, built once for both backends: text appended as it
//! is, every value bound through the builder, which writes its placeholder (`?` for SQLite, `$n`
//! for PostgreSQL) as it binds it, so no text is ever searched for placeholders; sub-selects
//! built with sea-query write into the same builder ([`SqlWriter`]). Also the spellings that
//! differ between the dialects.
use std::fmt::Write;

use rust_decimal::Decimal;
use sea_orm::sea_query::{QueryBuilder, SelectStatement, SqlWriter, SqliteQueryBuilder, Value};
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

    /// Appends SQL text as it is: values go through [`bind`](Self::bind), never into the text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends the placeholder of `value`, bound to it.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.push_value(value.into());
        self
    }

    /// The next value's placeholder: `?` for SQLite, `$n` (its position) for PostgreSQL.
    fn push_value(&mut self, value: Value) {
        self.values.push(value);
        match self.backend {
            // Writing into a String cannot fail.
            DatabaseBackend::Postgres => _ = write!(self.text, "${}", self.values.len()),
            _ => self.text.push('?'),
        }
    }

    /// Appends a sub-select built with sea-query (such as the caller's visible accounts): its
    /// text as SQLite's builder writes it (double-quoted names, which suit both backends), and
    /// its values bound through this builder.
    pub fn select(&mut self, select: &SelectStatement) -> &mut Self {
        select.build_collect_into(SqliteQueryBuilder, self);
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
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// sea-query writes a sub-select's text and hands over its values one by one.
impl Write for Sql {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.text.push_str(text);
        Ok(())
    }
}

impl std::fmt::Display for Sql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl SqlWriter for Sql {
    fn push_param<T: QueryBuilder>(&mut self, value: Value, _: &T) {
        self.push_value(value);
    }

    fn as_writer(&mut self) -> &mut dyn Write {
        self
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

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};

    use super::*;

    /// Binds a value, a sub-select with two values, another value, and text holding a `?` of
    /// its own (PostgreSQL's JSON operator), which is not a placeholder.
    fn statement(backend: DatabaseBackend) -> Statement {
        let accounts = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("accounts"))
            .and_where(Expr::col(Alias::new("csm_id")).eq(7))
            .and_where(Expr::col(Alias::new("segment")).eq("Enterprise"))
            .to_owned();
        let mut sql = Sql::new(backend);
        sql.push("SELECT ").bind(1).push(" FROM (").select(&accounts).push(") a WHERE a.id > ").bind(2);
        sql.push(" AND '{}'::jsonb ? 'key'");
        sql.statement()
    }

    #[test]
    fn placeholders_are_numbered_as_values_are_bound() {
        let postgres = statement(DatabaseBackend::Postgres);
        assert_eq!(
            postgres.sql,
            r#"SELECT $1 FROM (SELECT "id" FROM "accounts" WHERE "csm_id" = $2 AND "segment" = $3) a WHERE a.id > $4 AND '{}'::jsonb ? 'key'"#
        );
        let sqlite = statement(DatabaseBackend::Sqlite);
        assert_eq!(
            sqlite.sql,
            r#"SELECT ? FROM (SELECT "id" FROM "accounts" WHERE "csm_id" = ? AND "segment" = ?) a WHERE a.id > ? AND '{}'::jsonb ? 'key'"#
        );
        let values = |s: &Statement| s.values.clone().map(|v| v.0).unwrap_or_default();
        let expected: Vec<Value> = vec![1.into(), 7.into(), "Enterprise".into(), 2.into()];
        assert_eq!(values(&postgres), expected);
        assert_eq!(values(&sqlite), expected);
    }
}
