//! `health_today.status`: each account's health status on the held day under the health model in
//! force (0 GREEN, 1 YELLOW, 2 RED; `NULL` without a score), indexed so that the accounts list's
//! `healthStatus` filter is an index look-up. The rows held before it have no status: forgetting
//! the held day makes the next read recompute them all.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000001_health_today_status"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Alias::new("health_today");
        manager
            .alter_table(
                Table::alter()
                    .table(table.clone())
                    .add_column(ColumnDef::new(Alias::new("status")).small_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_health_today_status_account_id")
                    .table(table)
                    .col(Alias::new("status"))
                    .col(Alias::new("account_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM aggregate_versions WHERE name = 'health_today'")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Alias::new("health_today");
        manager
            .drop_index(Index::drop().name("idx_health_today_status_account_id").table(table.clone()).to_owned())
            .await?;
        manager.alter_table(Table::alter().table(table).drop_column(Alias::new("status")).to_owned()).await
    }
}
