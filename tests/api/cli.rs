//! The `cs-kpi` binary's subcommands on a database whose ledger is out of date: `token`, `user`
//! and `schema` only connect and leave it as it is; `migrate` brings it up to date and says so
//! in the log.
use std::process::{Command, Output};

use cs_kpi::api::org::{UserInput, upsert_user_directly};
use cs_kpi::auth::Role;
use cs_kpi::auth::jwt::JwtKeys;
use cs_kpi::ingest::Batch;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::helpers::{SECRET, fresh_database_url};

const EMAIL: &str = "ops@example.com";
/// A version of the ledger no code writes: every start that brings the ledger up to date
/// rebuilds it.
const STALE: i64 = 1;

fn cs_kpi(url: &str, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_cs-kpi"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("JWT_SECRET", SECRET)
        .env("RUST_LOG", "info")
        .output()
        .expect("run cs-kpi");
    assert!(output.status.success(), "cs-kpi {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

async fn ledger_version(db: &DatabaseConnection) -> i64 {
    let select = Statement::from_string(
        db.get_database_backend(),
        "SELECT version FROM aggregate_versions WHERE name = 'ledger'",
    );
    let row = db.query_one_raw(select).await.expect("read the version").expect("the ledger's version");
    cs_kpi::base::sql::count(&row, "version").expect("a version")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_user_and_schema_never_rebuild_the_ledger_and_migrate_does() {
    let url = fresh_database_url().await;
    let db = cs_kpi::startup::open(&url).await.expect("open the database");
    let input = UserInput { email: EMAIL.into(), name: "Ops".into(), role: Role::Admin, team_name: None };
    upsert_user_directly(Batch::command_line(&db, "cli user").await.expect("a batch"), input).await.expect("a user");
    let current = ledger_version(&db).await;
    db.execute_unprepared(&format!("UPDATE aggregate_versions SET version = {STALE} WHERE name = 'ledger'"))
        .await
        .expect("age the ledger");

    let token = cs_kpi(&url, &["token", "--email", EMAIL, "--ttl", "5m"]);
    let token = String::from_utf8(token.stdout).expect("text");
    let keys = JwtKeys::hs256(SECRET.as_bytes(), None, None).expect("keys");
    assert_eq!(keys.verify(token.trim()).await.expect("a valid token"), EMAIL);
    cs_kpi(&url, &["user", "--email", "csm@example.com", "--name", "A CSM", "--role", "CSM"]);
    let schema = cs_kpi(&url, &["schema"]);
    assert!(String::from_utf8_lossy(&schema.stdout).contains("type Query"));
    assert_eq!(ledger_version(&db).await, STALE, "token, user and schema left the ledger as it was");

    let migrate = cs_kpi(&url, &["migrate"]);
    let log = String::from_utf8_lossy(&migrate.stderr);
    assert!(log.contains("rebuilding the ledger: 0 of 0 accounts"), "progress in the log: {log}");
    assert!(log.contains("the ledger is up to date"), "{log}");
    assert_eq!(ledger_version(&db).await, current, "migrate brought the ledger to this code's version");
    db.close().await.expect("close");
}
