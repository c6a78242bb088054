//! `health_book_months` sums the health components in fixed point (10^-9 of a point per unit,
//! `BIGINT`) instead of floating point: integer sums are exact whatever the order of the
//! additions, so a read may sum months in SQL and still give every caller the same figures. The
//! table is created anew; the ledger's version changes with it, so a database gets it rebuilt
//! at start.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000003_health_fixed_point"
    }
}

/// The summed columns after the key: accounts, the components (in the order of
/// `cs_kpi::health::COMPONENTS`) and the adoption counts.
const SUMS: [&str; 15] = [
    "accounts",
    "usage",
    "nps",
    "csat",
    "support",
    "engagement",
    "trend",
    "onboarded",
    "seats_used",
    "seats",
    "features_used",
    "features_available",
    "engaged_1",
    "engaged_3",
    "engaged_12",
];

fn table() -> Alias {
    Alias::new("health_book_months")
}

/// Creates the table anew, its component sums `BIGINT` (fixed point) or, as before, `DOUBLE`.
async fn recreate(manager: &SchemaManager<'_>, fixed_point: bool) -> Result<(), DbErr> {
    manager.drop_table(Table::drop().table(table()).to_owned()).await?;
    let mut create = Table::create()
        .table(table())
        .col(ColumnDef::new(Alias::new("csm_key")).big_integer().not_null())
        .col(ColumnDef::new(Alias::new("segment_key")).string().not_null())
        .col(ColumnDef::new(Alias::new("month")).integer().not_null())
        .col(ColumnDef::new(Alias::new("pattern")).integer().not_null())
        .to_owned();
    for (i, sum) in SUMS.into_iter().enumerate() {
        let mut column = ColumnDef::new(Alias::new(sum));
        let component = (1..=6).contains(&i);
        match fixed_point || !component {
            true => column.big_integer(),
            false => column.double(),
        };
        create.col(column.not_null());
    }
    create.primary_key(
        Index::create()
            .col(Alias::new("csm_key"))
            .col(Alias::new("segment_key"))
            .col(Alias::new("month"))
            .col(Alias::new("pattern")),
    );
    manager.create_table(create).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, false).await
    }
}
