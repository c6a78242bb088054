//! The demo company.
use sea_orm::DatabaseConnection;

use crate::error::AppError;

pub async fn seed(_db: &DatabaseConnection) -> Result<String, AppError> {
    Ok(String::new())
}
