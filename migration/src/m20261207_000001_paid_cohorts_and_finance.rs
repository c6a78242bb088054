//! Cohorts of first paid month and the finance settings (KPIS.md, section 9).
//!
//! - `mrr_book_paid_cohorts`: per book, cohort month `c` (the first month an account paid) and
//!   month `M >= c`, the change of the cohort's figures at M: paying accounts, MRR and MRR kept
//!   up to each account's MRR at `c` (running sums, as `mrr_book_cohorts`). The ledger's version
//!   changes with it, so a database gets it built at start from `mrr_changes`.
//! - `finance_settings`: one row (`id` 1), written by `setFinanceSettings`; the gross margin as
//!   the exact decimal text it was given as (`1` until then), and the base currency.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000001_paid_cohorts_and_finance"
    }
}

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

fn count(name: &str) -> ColumnDef {
    col(name).big_integer().not_null().to_owned()
}

/// An exact amount of the ledger: `NUMERIC` in PostgreSQL, two integers in SQLite (see the
/// ledger's first migration).
fn amount(backend: DatabaseBackend, name: &str) -> Vec<ColumnDef> {
    match backend {
        DatabaseBackend::Sqlite => vec![count(name), count(&format!("{name}_lo"))],
        _ => vec![col(name).decimal().not_null().to_owned()],
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let mut cohorts = Table::create();
        cohorts
            .table(Alias::new("mrr_book_paid_cohorts"))
            .col(count("csm_key"))
            .col(col("segment_key").string().not_null())
            .col(col("cohort_month").integer().not_null())
            .col(col("month").integer().not_null())
            .col(count("paying"));
        for mut column in [amount(backend, "mrr"), amount(backend, "kept_mrr")].concat() {
            cohorts.col(&mut column);
        }
        cohorts.primary_key(
            Index::create()
                .col(Alias::new("csm_key"))
                .col(Alias::new("segment_key"))
                .col(Alias::new("cohort_month"))
                .col(Alias::new("month")),
        );
        manager.create_table(cohorts).await?;
        // The portfolio reads a range of cohort months across every book.
        manager
            .create_index(
                Index::create()
                    .name("idx_mrr_book_paid_cohorts_cohort_month")
                    .table(Alias::new("mrr_book_paid_cohorts"))
                    .col(Alias::new("cohort_month"))
                    .col(Alias::new("month"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("finance_settings"))
                    .col(col("id").big_integer().not_null().primary_key())
                    .col(col("gross_margin").string().not_null())
                    .col(col("base_currency").string().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["finance_settings", "mrr_book_paid_cohorts"] {
            manager.drop_table(Table::drop().table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}
