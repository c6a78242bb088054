//! The `audit_log` table.
use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The user who made the change; null for the command line.
    pub actor_id: Option<i64>,
    pub actor_email: String,
    /// The mutation or command, e.g. `upsertAccounts`.
    pub action: String,
    /// The table changed.
    pub entity: String,
    /// The record's natural key (externalId, email, name, account+date, month).
    pub record_key: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub before: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub after: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
