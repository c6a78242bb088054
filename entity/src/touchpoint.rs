//! The `touchpoints` table.
use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "touchpoints")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub external_id: String,
    pub account_id: i64,
    /// One of CALL, MEETING, EMAIL, QBR, ONBOARDING, TRAINING.
    pub kind: String,
    pub occurred_at: DateTimeUtc,
    pub with_executive: bool,
    pub csm_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
