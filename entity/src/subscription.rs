//! The `subscriptions` table.
use sea_orm::entity::prelude::*;
use serde::Serialize;

use crate::Money;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub external_id: String,
    pub account_id: i64,
    pub plan: Option<String>,
    pub mrr: Money,
    pub start_date: Date,
    /// Exclusive: the first day the subscription no longer counts.
    pub end_date: Option<Date>,
    pub renews_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
