//! `cs-kpi backup FILE` (issue "Faults, soak and fair use", backups for the embedded default): a
//! consistent copy of a SQLite database, taken while the server runs. `VACUUM INTO` reads the
//! database in one read transaction, so the copy holds every batch committed before it started
//! and none after (a batch is never half in it), and writers go on meanwhile. PostgreSQL has
//! its own tools (`pg_dump`, see the README), which the command names instead.
use std::path::Path;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};

use crate::base::error::{AppError, AppResult};

/// Writes a copy of the database `db` to `file`, which must not exist yet.
pub async fn backup(db: &DatabaseConnection, file: &Path) -> AppResult<()> {
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        return Err(AppError::bad_input(
            "backup copies a SQLite database; back up PostgreSQL with pg_dump \
             (pg_dump --format=custom --file=cs-kpi.dump \"$DATABASE_URL\", see the README)",
        ));
    }
    if file.exists() {
        return Err(AppError::bad_input(format!("{} exists already: name a new file", file.display())));
    }
    let target = file.to_str().ok_or_else(|| AppError::bad_input(format!("{} is not a UTF-8 path", file.display())))?;
    db.execute_raw(Statement::from_sql_and_values(DatabaseBackend::Sqlite, "VACUUM INTO ?", [target.into()])).await?;
    Ok(())
}
