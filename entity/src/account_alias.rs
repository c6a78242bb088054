//! The `account_aliases` table: the externalId of an account merged away, and the account it
//! now names.
use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "account_aliases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub external_id: String,
    pub account_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
