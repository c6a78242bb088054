//! The `usage_records` table.
use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "usage_records")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Unique together with `date`.
    pub account_id: i64,
    pub date: Date,
    pub active_users: i32,
    pub licensed_seats: i32,
    pub logins: Option<i32>,
    pub session_minutes: Option<i32>,
    pub features_used: Option<i32>,
    pub features_available: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
