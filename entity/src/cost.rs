//! The `costs` table.
use sea_orm::entity::prelude::*;
use serde::Serialize;

use crate::Money;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "costs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub external_id: String,
    /// The first day of the month the cost belongs to.
    pub month: Date,
    /// One of ACQUISITION, CS_SALARIES, CS_TRAINING, CS_TOOLS, CS_PROGRAMS.
    pub category: String,
    pub amount: Money,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
