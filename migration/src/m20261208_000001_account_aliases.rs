//! Account aliases (PRODUCT.md, "Deleting and merging"): after `mergeAccounts`, the externalId of
//! the account merged away names the account it was merged into, for every later write and
//! `account(externalId:)`. An alias always names a current account (a merge of that account
//! re-points it), and goes with it when the account is deleted.
use sea_orm_migration::prelude::*;

use crate::m20261123_000001_initial::fk;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000001_account_aliases"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("account_aliases"))
                    .col(ColumnDef::new(Alias::new("external_id")).string().not_null().primary_key())
                    .col(ColumnDef::new(Alias::new("account_id")).big_integer().not_null())
                    .foreign_key(&mut fk("account_aliases", "account_id", "accounts"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_account_aliases_account_id")
                    .table(Alias::new("account_aliases"))
                    .col(Alias::new("account_id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Alias::new("account_aliases")).to_owned()).await
    }
}
