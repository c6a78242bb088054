//! The renewal MRR of `activity_book_months` in two counters each: its whole units beside the
//! rest in 1/10000 units (`cs_kpi::ledger::activity`). In 1/10000 units alone, one amount above
//! 9.2e14 (the API accepts 15 integer digits) overflowed the 64-bit column. Rows written before
//! hold their MRR in the 1/10000 counters alone and no whole units, which reads the same, so
//! nothing is rewritten.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000002_renewal_mrr_whole_units"
    }
}

const COUNTERS: [&str; 2] = ["renewals_due_mrr_whole", "renewals_renewal_mrr_whole"];

fn alter() -> TableAlterStatement {
    Table::alter().table(Alias::new("activity_book_months")).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for counter in COUNTERS {
            let column = ColumnDef::new(Alias::new(counter)).big_integer().not_null().default(0).to_owned();
            manager.alter_table(alter().add_column(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for counter in COUNTERS {
            manager.alter_table(alter().drop_column(Alias::new(counter)).to_owned()).await?;
        }
        Ok(())
    }
}
