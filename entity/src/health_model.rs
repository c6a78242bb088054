//! The `health_model` table.
use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "health_model")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Weights per component (0 switches a component off) and the status thresholds.
    pub usage_weight: f64,
    pub nps_weight: f64,
    pub csat_weight: f64,
    pub support_weight: f64,
    pub engagement_weight: f64,
    pub revenue_trend_weight: f64,
    pub green_at_least: f64,
    pub yellow_at_least: f64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
