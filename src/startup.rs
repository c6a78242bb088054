//! What `serve`, `migrate`, `seed` and the tests do before anything else: connect, apply the
//! migrations, and bring the ledger to this code's version (which may rebuild it, with progress
//! in the log). `token`, `user` and `schema` only connect (`base::db::connect`) and never
//! rebuild anything.
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};

use crate::base::db::{DEFAULT_STATEMENT_TIMEOUT, connect, migrate};

/// Connects to `url`, migrates and brings the ledger up to date, with the default statement
/// timeout.
pub async fn open(url: &str) -> Result<DatabaseConnection, DbErr> {
    open_with(url, Some(DEFAULT_STATEMENT_TIMEOUT)).await
}

/// [`open`] with an explicit statement timeout (`None`: no limit).
pub async fn open_with(url: &str, statement_timeout: Option<Duration>) -> Result<DatabaseConnection, DbErr> {
    let db = connect(url, statement_timeout).await?;
    migrate(&db).await?;
    crate::ledger::ensure_built(&db).await?;
    Ok(db)
}
