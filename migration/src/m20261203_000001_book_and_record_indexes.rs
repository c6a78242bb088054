//! Indexes for what the ledger made of the queries:
//! - `accounts (csm_id, segment)` replaces `accounts (csm_id)`: the books of a KPI scope (the
//!   distinct CSM and segment of its accounts) are read from the index alone;
//! - `wait_book_months (measure, month)`: a caller who sees every book reads the waits of a
//!   period's months without naming the books;
//! - the indexes of survey responses, tickets and touchpoints by date alone go: every KPI over
//!   them reads the ledger now, and the records themselves are only ever read by account (through
//!   their `(account_id, date)` indexes), so these indexes only cost every insert.
use sea_orm_migration::prelude::*;

use crate::m20261123_000001_initial::index;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000001_book_and_record_indexes"
    }
}

/// The indexes by date alone that go, as `(table, column)`.
const DATE_INDEXES: [(&str, &str); 4] = [
    ("feedback", "responded_at"),
    ("tickets", "opened_at"),
    ("tickets", "resolved_at"),
    ("touchpoints", "occurred_at"),
];

fn drop(table: &str, columns: &[&str]) -> IndexDropStatement {
    Index::drop().name(format!("idx_{table}_{}", columns.join("_"))).table(Alias::new(table)).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_index(index("accounts", &["csm_id", "segment"])).await?;
        manager.drop_index(drop("accounts", &["csm_id"])).await?;
        manager.create_index(index("wait_book_months", &["measure", "month"])).await?;
        for (table, column) in DATE_INDEXES {
            manager.drop_index(drop(table, &[column])).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in DATE_INDEXES {
            manager.create_index(index(table, &[column])).await?;
        }
        manager.drop_index(drop("wait_book_months", &["measure", "month"])).await?;
        manager.create_index(index("accounts", &["csm_id"])).await?;
        manager.drop_index(drop("accounts", &["csm_id", "segment"])).await
    }
}
