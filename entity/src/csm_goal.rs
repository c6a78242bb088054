//! The `csm_goals` table.
use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "csm_goals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub csm_id: i64,
    /// One of the GoalMetric values.
    pub metric: String,
    pub target: f64,
    pub weight: f64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
