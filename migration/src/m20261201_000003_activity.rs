//! The ledger's activity part: the counts and sums behind the KPIs that count records dated in
//! a period (tickets opened and resolved, first-contact resolutions, survey responses and their
//! scores, logins and session minutes, touchpoints, advocacy, feature requests, signups,
//! referrals, and
//! the accounts with an executive touchpoint or advocacy in each month, quarter and year), by
//! month:
//! - `account_activity`: each account's counters by month (one JSON object per account, which
//!   only the ledger reads), so that ingest knows what the account added before a batch;
//! - `activity_book_months`: their sums per book (CSM x segment) and month;
//! - `wait_book_months`: per book, month and measure (0: a ticket's first response and 1: its
//!   resolution, in microseconds; 2: an account's time to first value, in days), the values the
//!   medians take, as one sorted list of little-endian 64-bit integers.
//!
//! The ledger's version changes with them, so a database gets them built at start.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000003_activity"
    }
}

/// The counters, in the order of `cs_kpi::ledger::activity::ACTIVITY_COLUMNS`.
const COUNTERS: [&str; 30] = [
    "tickets_opened",
    "tickets_resolved",
    "first_contact_resolutions",
    "nps_responses",
    "nps_promoters",
    "nps_detractors",
    "csat_responses",
    "csat_satisfied",
    "csat_score_sum",
    "ces_responses",
    "ces_score_sum",
    "logins",
    "login_active_users",
    "session_minutes",
    "session_logins",
    "touchpoints",
    "advocacy_activities",
    "feature_requests_opened",
    "feature_requests_shipped",
    "signups",
    "signups_activated",
    "signups_converted",
    "referrals",
    "referred_signups",
    "executive_accounts_1",
    "executive_accounts_3",
    "executive_accounts_12",
    "advocates_1",
    "advocates_3",
    "advocates_12",
];

fn count(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).big_integer().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("account_activity"))
                    .col(count("account_id").primary_key())
                    .col(ColumnDef::new(Alias::new("months")).text().not_null())
                    .to_owned(),
            )
            .await?;
        let mut table = Table::create()
            .table(Alias::new("activity_book_months"))
            .col(count("csm_key"))
            .col(ColumnDef::new(Alias::new("segment_key")).string().not_null())
            .col(ColumnDef::new(Alias::new("month")).integer().not_null())
            .to_owned();
        for counter in COUNTERS {
            table.col(count(counter));
        }
        table.primary_key(
            Index::create().col(Alias::new("csm_key")).col(Alias::new("segment_key")).col(Alias::new("month")),
        );
        manager.create_table(table).await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("wait_book_months"))
                    .col(count("csm_key"))
                    .col(ColumnDef::new(Alias::new("segment_key")).string().not_null())
                    .col(ColumnDef::new(Alias::new("month")).integer().not_null())
                    .col(ColumnDef::new(Alias::new("measure")).integer().not_null())
                    .col(ColumnDef::new(Alias::new("waits")).blob().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("csm_key"))
                            .col(Alias::new("segment_key"))
                            .col(Alias::new("month"))
                            .col(Alias::new("measure")),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["wait_book_months", "activity_book_months", "account_activity"] {
            manager.drop_table(Table::drop().table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}
