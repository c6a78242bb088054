//! The ledger: aggregates that ingest keeps exact in the batch's transaction, so that the
//! revenue and health KPIs read a few thousand rollup rows instead of every record.
//!
//! - `mrr_changes`: each account's month-end MRR change points (one row per month whose
//!   month-end MRR differs from the month before), which are its MRR movements;
//! - `mrr_book_months`: per book (CSM x segment) and month, the sums of those movements and the
//!   change in month-end MRR and active customers (month-end figures are running sums);
//! - `mrr_book_cohorts`: per book, cohort window length and opening month, the change in the
//!   cohort sums (running sums again);
//! - `health_points`: each account's health components at month ends, as change points (the
//!   months from which they hold; one JSON list per account, which only the ledger reads), and
//!   `health_book_months`: per book, month and presence
//!   pattern of the components, the change in active accounts and in the sums of their values;
//! - `aggregate_versions`: which version of each aggregate the data holds (rebuilt at start
//!   when older than the code's).
//!
//! Amounts are exact: `NUMERIC` in PostgreSQL; in SQLite, whose integers are 64-bit, two integer
//! columns `x` and `x_lo` holding 1/10000 units as `x * 10^9 + x_lo`, so that sums stay exact
//! for amounts of up to 15 integer digits and across every account.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000001_ledger"
    }
}

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

fn amount(backend: DatabaseBackend, name: &str) -> Vec<ColumnDef> {
    match backend {
        DatabaseBackend::Sqlite => vec![count(name), count(&format!("{name}_lo"))],
        _ => vec![col(name).decimal().not_null().to_owned()],
    }
}

/// Adds columns to a table being defined.
fn cols(table: &mut TableCreateStatement, columns: Vec<ColumnDef>) -> &mut TableCreateStatement {
    for mut c in columns {
        table.col(&mut c);
    }
    table
}

/// The health components' columns, in the order of `cs_kpi::health::COMPONENTS`.
const COMPONENTS: [&str; 6] = ["usage", "nps", "csat", "support", "engagement", "trend"];

fn count(name: &str) -> ColumnDef {
    col(name).big_integer().not_null().to_owned()
}

/// The columns that name a book: its CSM's id (0: none) and its segment (`''`: none; a segment
/// `s` is `'+' || s`), so that the key has no NULL and upserts can match it.
fn book(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table.col(count("csm_key")).col(col("segment_key").string().not_null())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let mut changes = Table::create();
        changes.table(Alias::new("mrr_changes")).col(count("account_id")).col(col("month").integer().not_null());
        cols(&mut changes, [amount(backend, "mrr_before"), amount(backend, "mrr_after")].concat())
            .col(col("kind").string().not_null())
            .primary_key(Index::create().col(Alias::new("account_id")).col(Alias::new("month")));
        manager.create_table(changes).await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_mrr_changes_month")
                    .table(Alias::new("mrr_changes"))
                    .col(Alias::new("month"))
                    .to_owned(),
            )
            .await?;
        let mut months = Table::create();
        book(months.table(Alias::new("mrr_book_months"))).col(col("month").integer().not_null());
        let sums = [
            amount(backend, "mrr_delta"),
            vec![count("active_delta")],
            amount(backend, "new_mrr"),
            vec![count("new_customers")],
            amount(backend, "expansion_mrr"),
            amount(backend, "contraction_mrr"),
            amount(backend, "churned_mrr"),
            vec![count("churned_customers")],
            amount(backend, "reactivation_mrr"),
            vec![count("reactivated_customers")],
        ];
        cols(&mut months, sums.concat()).primary_key(
            Index::create().col(Alias::new("csm_key")).col(Alias::new("segment_key")).col(Alias::new("month")),
        );
        manager.create_table(months).await?;
        let mut cohorts = Table::create();
        book(cohorts.table(Alias::new("mrr_book_cohorts")))
            .col(col("window_months").integer().not_null())
            .col(col("month").integer().not_null());
        let sums = [amount(backend, "end_mrr"), amount(backend, "kept_mrr"), vec![count("retained"), count("upsold")]];
        cols(&mut cohorts, sums.concat()).primary_key(
            Index::create()
                .col(Alias::new("csm_key"))
                .col(Alias::new("segment_key"))
                .col(Alias::new("window_months"))
                .col(Alias::new("month")),
        );
        manager.create_table(cohorts).await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("health_points"))
                    .col(count("account_id").primary_key())
                    .col(col("points").text().not_null())
                    .to_owned(),
            )
            .await?;
        let mut health = Table::create();
        book(health.table(Alias::new("health_book_months")))
            .col(col("month").integer().not_null())
            .col(col("pattern").integer().not_null())
            .col(count("accounts"));
        let sums = COMPONENTS.iter().map(|c| col(c).double().not_null().to_owned()).collect();
        cols(&mut health, sums).primary_key(
            Index::create()
                .col(Alias::new("csm_key"))
                .col(Alias::new("segment_key"))
                .col(Alias::new("month"))
                .col(Alias::new("pattern")),
        );
        manager.create_table(health).await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("aggregate_versions"))
                    .col(col("name").string().not_null().primary_key())
                    .col(col("version").integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "aggregate_versions",
            "health_book_months",
            "health_points",
            "mrr_book_cohorts",
            "mrr_book_months",
            "mrr_changes",
        ] {
            manager.drop_table(Table::drop().table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}
