//! The `traffic` table.
use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "traffic")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The first day of the month.
    #[sea_orm(unique)]
    pub month: Date,
    pub visitors: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
