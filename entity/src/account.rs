//! The `accounts` table.
use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub external_id: String,
    pub name: String,
    pub segment: Option<String>,
    pub region: Option<String>,
    pub csm_id: Option<i64>,
    pub started_on: Option<Date>,
    pub onboarding_completed_on: Option<Date>,
    pub first_value_on: Option<Date>,
    pub referred_by_id: Option<i64>,
    pub signed_up_on: Option<Date>,
    pub activated_on: Option<Date>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
