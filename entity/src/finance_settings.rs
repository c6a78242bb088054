//! The `finance_settings` table: one row, the settings finance sets (KPIS.md, section 9).
use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "finance_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    /// The gross margin of `ltv` and `cacPaybackMonths`, as exact decimal text (`0.78`).
    pub gross_margin: String,
    /// The currency every money figure is in.
    pub base_currency: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
