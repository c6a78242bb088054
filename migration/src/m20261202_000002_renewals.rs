//! Renewals join the ledger's activity: per book and month (of a due subscription's last active
//! day, `endDate - 1 day`), the subscriptions due, those renewed, and the MRR of both in 1/10000
//! units (`activity_book_months`, in the order of `cs_kpi::ledger::activity::ACTIVITY_COLUMNS`).
//! The ledger's version changes with them, so a database gets them built at start.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000002_renewals"
    }
}

const COUNTERS: [&str; 4] = ["renewals_due", "renewals_renewed", "renewals_due_mrr", "renewals_renewal_mrr"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for counter in COUNTERS {
            let column = ColumnDef::new(Alias::new(counter)).big_integer().not_null().default(0).to_owned();
            manager
                .alter_table(Table::alter().table(Alias::new("activity_book_months")).add_column(column).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for counter in COUNTERS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("activity_book_months"))
                        .drop_column(Alias::new(counter))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
