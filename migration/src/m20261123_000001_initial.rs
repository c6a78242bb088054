//! The whole data model: organisation (teams, users), accounts and everything recorded about
//! them, costs, traffic, the health-model settings, CSM goals and the audit log.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000001_initial"
    }
}

/// Money is exact on both backends: NUMERIC(19,4) in PostgreSQL; canonical decimal TEXT in SQLite,
/// whose NUMERIC affinity would otherwise turn it into a float (see `entity::money`).
fn money(backend: DatabaseBackend, name: impl IntoIden) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    match backend {
        DatabaseBackend::Sqlite => col.text(),
        _ => col.decimal_len(19, 4),
    };
    col.not_null().to_owned()
}

fn id() -> ColumnDef {
    ColumnDef::new(Alias::new("id")).big_integer().not_null().auto_increment().primary_key().to_owned()
}

fn text(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).string().not_null().to_owned()
}

fn opt_text(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).string().null().to_owned()
}

fn external_id() -> ColumnDef {
    ColumnDef::new(Alias::new("external_id")).string().not_null().unique_key().to_owned()
}

fn account_ref() -> ColumnDef {
    ColumnDef::new(Alias::new("account_id")).big_integer().not_null().to_owned()
}

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

/// The foreign key `fk_{from_table}_{from_col}` to `to_table (id)`, restricting deletes.
pub(crate) fn fk(from_table: &str, from_col: &str, to_table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from_table}_{from_col}"))
        .from(Alias::new(from_table), Alias::new(from_col))
        .to(Alias::new(to_table), Alias::new("id"))
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

pub(crate) fn index(table: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(format!("idx_{table}_{}", cols.join("_"))).table(Alias::new(table));
    for c in cols {
        idx.col(Alias::new(*c));
    }
    idx.to_owned()
}

/// A table of records that belong to an account and carry an externalId.
fn account_record(name: &str, columns: Vec<ColumnDef>) -> TableCreateStatement {
    let mut t = Table::create();
    t.table(Alias::new(name)).col(id()).col(external_id()).col(account_ref());
    for mut c in columns {
        t.col(&mut c);
    }
    t.foreign_key(&mut fk(name, "account_id", "accounts")).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();

        // Teams and users reference each other. SQLite accepts a foreign key to a table created
        // later; PostgreSQL gets the team -> manager key once `users` exists.
        let mut teams = Table::create();
        teams
            .table(Alias::new("teams"))
            .col(id())
            .col(text("name").unique_key())
            .col(col("manager_id").big_integer().null());
        if backend == DatabaseBackend::Sqlite {
            teams.foreign_key(&mut fk("teams", "manager_id", "users"));
        }
        manager.create_table(teams).await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("users"))
                    .col(id())
                    .col(text("email").unique_key())
                    .col(text("name"))
                    .col(text("role"))
                    .col(col("team_id").big_integer().null())
                    .foreign_key(&mut fk("users", "team_id", "teams"))
                    .to_owned(),
            )
            .await?;
        if backend != DatabaseBackend::Sqlite {
            manager.create_foreign_key(fk("teams", "manager_id", "users")).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("accounts"))
                    .col(id())
                    .col(external_id())
                    .col(text("name"))
                    .col(opt_text("segment"))
                    .col(opt_text("region"))
                    .col(col("csm_id").big_integer().null())
                    .col(col("started_on").date().null())
                    .col(col("onboarding_completed_on").date().null())
                    .col(col("first_value_on").date().null())
                    .col(col("referred_by_id").big_integer().null())
                    .col(col("signed_up_on").date().null())
                    .col(col("activated_on").date().null())
                    .foreign_key(&mut fk("accounts", "csm_id", "users"))
                    .foreign_key(&mut fk("accounts", "referred_by_id", "accounts"))
                    .to_owned(),
            )
            .await?;
        let tables = [
            account_record(
                "subscriptions",
                vec![
                    opt_text("plan"),
                    money(backend, Alias::new("mrr")),
                    col("start_date").date().not_null().to_owned(),
                    col("end_date").date().null().to_owned(),
                    col("renews_id").big_integer().null().to_owned(),
                ],
            )
            .foreign_key(&mut fk("subscriptions", "renews_id", "subscriptions"))
            .to_owned(),
            account_record(
                "feedback",
                vec![
                    text("kind"),
                    col("score").integer().not_null().to_owned(),
                    col("comment").text().null().to_owned(),
                    col("responded_at").timestamp_with_time_zone().not_null().to_owned(),
                ],
            ),
            account_record(
                "tickets",
                vec![
                    col("opened_at").timestamp_with_time_zone().not_null().to_owned(),
                    col("first_response_at").timestamp_with_time_zone().null().to_owned(),
                    col("resolved_at").timestamp_with_time_zone().null().to_owned(),
                    col("contacts_to_resolve").integer().null().to_owned(),
                ],
            ),
            account_record(
                "touchpoints",
                vec![
                    text("kind"),
                    col("occurred_at").timestamp_with_time_zone().not_null().to_owned(),
                    col("with_executive").boolean().not_null().to_owned(),
                    col("csm_id").big_integer().null().to_owned(),
                ],
            )
            .foreign_key(&mut fk("touchpoints", "csm_id", "users"))
            .to_owned(),
            account_record("advocacy", vec![text("kind"), col("occurred_on").date().not_null().to_owned()]),
            account_record(
                "feature_requests",
                vec![
                    text("title"),
                    text("status"),
                    col("requested_at").timestamp_with_time_zone().not_null().to_owned(),
                    col("shipped_at").timestamp_with_time_zone().null().to_owned(),
                ],
            ),
            Table::create()
                .table(Alias::new("usage_records"))
                .col(id())
                .col(account_ref())
                .col(col("date").date().not_null())
                .col(col("active_users").integer().not_null())
                .col(col("licensed_seats").integer().not_null())
                .col(col("logins").integer().null())
                .col(col("session_minutes").integer().null())
                .col(col("features_used").integer().null())
                .col(col("features_available").integer().null())
                .foreign_key(&mut fk("usage_records", "account_id", "accounts"))
                .index(
                    Index::create()
                        .name("uq_usage_records_account_date")
                        .col(Alias::new("account_id"))
                        .col(Alias::new("date"))
                        .unique(),
                )
                .to_owned(),
            Table::create()
                .table(Alias::new("costs"))
                .col(id())
                .col(external_id())
                .col(col("month").date().not_null())
                .col(text("category"))
                .col(money(backend, Alias::new("amount")))
                .to_owned(),
            Table::create()
                .table(Alias::new("traffic"))
                .col(id())
                .col(col("month").date().not_null().unique_key())
                .col(col("visitors").integer().not_null())
                .to_owned(),
            Table::create()
                .table(Alias::new("health_model"))
                .col(id())
                .col(col("usage_weight").double().not_null())
                .col(col("nps_weight").double().not_null())
                .col(col("csat_weight").double().not_null())
                .col(col("support_weight").double().not_null())
                .col(col("engagement_weight").double().not_null())
                .col(col("revenue_trend_weight").double().not_null())
                .col(col("green_at_least").double().not_null())
                .col(col("yellow_at_least").double().not_null())
                .col(col("updated_at").timestamp_with_time_zone().not_null())
                .to_owned(),
            Table::create()
                .table(Alias::new("csm_goals"))
                .col(id())
                .col(col("csm_id").big_integer().not_null())
                .col(text("metric"))
                .col(col("target").double().not_null())
                .col(col("weight").double().not_null())
                .foreign_key(&mut fk("csm_goals", "csm_id", "users"))
                .to_owned(),
            Table::create()
                .table(Alias::new("audit_log"))
                .col(id())
                .col(col("actor_id").big_integer().null())
                .col(text("actor_email"))
                .col(text("action"))
                .col(text("entity"))
                .col(text("record_key"))
                .col(col("before").text().null())
                .col(col("after").text().null())
                .col(col("at").timestamp_with_time_zone().not_null())
                .foreign_key(&mut fk("audit_log", "actor_id", "users"))
                .to_owned(),
        ];
        for table in tables {
            manager.create_table(table).await?;
        }

        // Indexes the visibility scope and the KPI queries use.
        let indexes = [
            index("users", &["team_id"]),
            index("teams", &["manager_id"]),
            index("accounts", &["csm_id"]),
            index("accounts", &["segment"]),
            index("accounts", &["referred_by_id"]),
            index("subscriptions", &["account_id", "start_date", "end_date"]),
            index("subscriptions", &["start_date", "end_date"]),
            index("subscriptions", &["end_date"]),
            index("subscriptions", &["renews_id"]),
            index("feedback", &["account_id", "responded_at"]),
            index("feedback", &["responded_at"]),
            index("tickets", &["account_id", "opened_at"]),
            index("tickets", &["opened_at"]),
            index("tickets", &["resolved_at"]),
            index("touchpoints", &["account_id", "occurred_at"]),
            index("touchpoints", &["occurred_at"]),
            index("usage_records", &["date"]),
            index("advocacy", &["account_id", "occurred_on"]),
            index("feature_requests", &["account_id", "requested_at"]),
            index("costs", &["month", "category"]),
            index("csm_goals", &["csm_id"]),
            index("audit_log", &["at"]),
        ];
        for idx in indexes {
            manager.create_index(idx).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Sqlite {
            manager
                .drop_foreign_key(ForeignKey::drop().name("fk_teams_manager_id").table(Alias::new("teams")).to_owned())
                .await?;
        }
        for table in [
            "audit_log",
            "csm_goals",
            "health_model",
            "traffic",
            "costs",
            "usage_records",
            "feature_requests",
            "advocacy",
            "touchpoints",
            "tickets",
            "feedback",
            "subscriptions",
            "accounts",
            "users",
            "teams",
        ] {
            manager.drop_table(Table::drop().table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}
