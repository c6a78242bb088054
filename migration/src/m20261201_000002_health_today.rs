//! `health_today`: every account's health components on one day (the day the
//! `aggregate_versions` row `health_today` names, as days since 1970), for the accounts list's
//! `healthStatus` filter. Ingest keeps the rows of the accounts a batch touches up to date in
//! the batch's transaction; the first read on a later day recomputes them all.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000002_health_today"
    }
}

/// The component columns, in the order of `cs_kpi::health::COMPONENTS`.
const COMPONENTS: [&str; 6] = ["usage", "nps", "csat", "support", "engagement", "trend"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut table = Table::create()
            .table(Alias::new("health_today"))
            .col(ColumnDef::new(Alias::new("account_id")).big_integer().not_null().primary_key())
            .to_owned();
        for component in COMPONENTS {
            table.col(ColumnDef::new(Alias::new(component)).double().null());
        }
        manager.create_table(table).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Alias::new("health_today")).to_owned()).await
    }
}
