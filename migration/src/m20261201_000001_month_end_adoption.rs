//! The adoption figures of the accounts active at each month end, beside their health, in
//! `health_book_months` (per book, month and presence pattern, as changes): onboarded accounts,
//! the seats used and licensed and the features used and available of each one's latest usage
//! record of the last 30 days, and the accounts with a touchpoint in the last 1, 3 and 12
//! months. The ledger's version changes with them, so a database gets them rebuilt at start.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000001_month_end_adoption"
    }
}

/// The new columns, in the order of `cs_kpi::ledger::health::ADOPTION_COLUMNS`.
const COLUMNS: [&str; 8] =
    ["onboarded", "seats_used", "seats", "features_used", "features_available", "engaged_1", "engaged_3", "engaged_12"];

fn table() -> TableAlterStatement {
    Table::alter().table(Alias::new("health_book_months")).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in COLUMNS {
            let column = ColumnDef::new(Alias::new(column)).big_integer().not_null().default(0).to_owned();
            manager.alter_table(table().add_column(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            manager.alter_table(table().drop_column(Alias::new(column)).to_owned()).await?;
        }
        Ok(())
    }
}
