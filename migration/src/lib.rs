//! Database migrations of cs-kpi. They run at every start of the service (`cs-kpi migrate` runs
//! them alone), on SQLite and PostgreSQL alike.
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261130_000001_ledger;
mod m20261201_000001_month_end_adoption;
mod m20261201_000002_health_today;
mod m20261201_000003_activity;
mod m20261202_000001_health_today_status;
mod m20261202_000002_renewals;
mod m20261202_000003_health_fixed_point;
mod m20261203_000001_book_and_record_indexes;
mod m20261204_000001_set_based_reference_checks;
mod m20261204_000002_renewal_mrr_whole_units;
mod m20261207_000001_paid_cohorts_and_finance;
mod m20261208_000001_account_aliases;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261130_000001_ledger::Migration),
            Box::new(m20261201_000001_month_end_adoption::Migration),
            Box::new(m20261201_000002_health_today::Migration),
            Box::new(m20261201_000003_activity::Migration),
            Box::new(m20261202_000001_health_today_status::Migration),
            Box::new(m20261202_000002_renewals::Migration),
            Box::new(m20261202_000003_health_fixed_point::Migration),
            Box::new(m20261203_000001_book_and_record_indexes::Migration),
            Box::new(m20261204_000001_set_based_reference_checks::Migration),
            Box::new(m20261204_000002_renewal_mrr_whole_units::Migration),
            Box::new(m20261207_000001_paid_cohorts_and_finance::Migration),
            Box::new(m20261208_000001_account_aliases::Migration),
        ]
    }
}
