//! The database itself refuses a record whose account (or a touchpoint whose CSM) does not
//! exist, and the deletion of an account or user that records still reference, whoever writes:
//! on PostgreSQL one check per statement, on SQLite its foreign keys.
use sea_orm::{ConnectionTrait, DbErr, SqlErr};
use serde_json::json;

use crate::helpers::{ADMIN, INTEGRATION, TestApp};
use cs_kpi::auth::Role;

/// The number `sql` selects as `v`.
async fn number(app: &TestApp, sql: &str) -> i64 {
    let statement = sea_orm::Statement::from_string(app.db.get_database_backend(), sql);
    let row = app.db.query_one_raw(statement).await.expect("query").expect("a row");
    row.try_get::<i64>("", "v").expect("v")
}

async fn run(app: &TestApp, sql: &str) -> Result<(), DbErr> {
    app.db.execute_unprepared(sql).await.map(|_| ())
}

/// Refused as a foreign key violation (SQLite reports a restricted delete with another
/// extended code than sea-orm recognises, hence its message).
#[track_caller]
fn assert_refused(outcome: Result<(), DbErr>, what: &str) {
    match outcome {
        Err(e) => assert!(
            matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_)))
                || e.to_string().contains("FOREIGN KEY constraint failed"),
            "{what}: refused for another reason: {e}"
        ),
        Ok(()) => panic!("{what}: accepted"),
    }
}

fn feature_request(external_id: &str, account: i64) -> String {
    format!(
        "INSERT INTO feature_requests (external_id, account_id, title, status, requested_at) \
         VALUES ('{external_id}', {account}, 'Export', 'OPEN', '2026-01-01 00:00:00+00')"
    )
}

fn touchpoint(external_id: &str, account: i64, csm: i64) -> String {
    format!(
        "INSERT INTO touchpoints (external_id, account_id, kind, occurred_at, with_executive, csm_id) \
         VALUES ('{external_id}', {account}, 'CALL', '2026-01-01 00:00:00+00', FALSE, {csm})"
    )
}

#[tokio::test]
async fn records_without_their_account_or_csm_are_refused_by_the_database() {
    let app = TestApp::with_sample().await;
    let account = number(&app, "SELECT MIN(account_id) AS v FROM tickets").await;
    let missing = number(&app, "SELECT MAX(id) + 1000 AS v FROM accounts").await;
    let csm = number(&app, "SELECT MIN(csm_id) AS v FROM touchpoints").await;
    let missing_user = number(&app, "SELECT MAX(id) + 1000 AS v FROM users").await;
    let tickets = app.count("tickets").await;

    let insert = |rows: &str| format!("INSERT INTO tickets (external_id, account_id, opened_at) VALUES {rows}");
    let good = format!("('T-REF-1', {account}, '2026-01-01 00:00:00+00')");
    let bad = format!("('T-REF-2', {missing}, '2026-01-01 00:00:00+00')");
    assert_refused(run(&app, &insert(&format!("{good}, {bad}"))).await, "a ticket of a missing account");
    assert_eq!(app.count("tickets").await, tickets, "the refused statement wrote none of its rows");
    run(&app, &insert(&good)).await.expect("a ticket of an existing account");
    let ticket = number(&app, "SELECT id AS v FROM tickets WHERE external_id = 'T-REF-1'").await;
    assert_refused(
        run(&app, &format!("UPDATE tickets SET account_id = {missing} WHERE id = {ticket}")).await,
        "a ticket moved to a missing account",
    );
    assert_refused(run(&app, &feature_request("FR-REF-1", missing)).await, "a feature request of a missing account");
    assert_refused(run(&app, &touchpoint("TP-REF-1", account, missing_user)).await, "a touchpoint of a missing CSM");
    run(&app, &touchpoint("TP-REF-2", account, csm)).await.expect("a touchpoint of an existing CSM");
}

#[tokio::test]
async fn accounts_and_users_that_records_reference_cannot_be_deleted() {
    let app = TestApp::with_operators().await;
    let account = json!({ "externalId": "ACC-REF", "name": "Referenced", "segment": "SMB" });
    app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &[account]).await;
    app.user("csm-ref@acme.example", Role::Csm, None).await;
    let account = number(&app, "SELECT id AS v FROM accounts WHERE external_id = 'ACC-REF'").await;
    let csm = number(&app, "SELECT id AS v FROM users WHERE email = 'csm-ref@acme.example'").await;

    run(&app, &feature_request("FR-REF-1", account)).await.expect("a feature request");
    assert_refused(run(&app, &format!("DELETE FROM accounts WHERE id = {account}")).await, "deleting its account");
    run(&app, "DELETE FROM feature_requests WHERE external_id = 'FR-REF-1'").await.expect("delete the request");

    run(&app, &touchpoint("TP-REF-1", account, csm)).await.expect("a touchpoint");
    assert_refused(run(&app, &format!("DELETE FROM users WHERE id = {csm}")).await, "deleting its CSM");
    assert_refused(run(&app, &format!("DELETE FROM accounts WHERE id = {account}")).await, "deleting its account");
    run(&app, "DELETE FROM touchpoints WHERE external_id = 'TP-REF-1'").await.expect("delete the touchpoint");

    run(&app, &format!("DELETE FROM users WHERE id = {csm}")).await.expect("a CSM no record references");
    let reply = app.gql(ADMIN, "{ accounts(first: 1) { totalCount } }", json!({})).await;
    assert_eq!(reply.data()["accounts"]["totalCount"], 1, "{}", reply.body);
}

/// How many foreign keys and triggers check `tickets`' accounts (PostgreSQL).
async fn ticket_checks(app: &TestApp) -> (i64, i64) {
    let keys = number(app, "SELECT COUNT(*) AS v FROM pg_constraint WHERE conname = 'fk_tickets_account_id'").await;
    let triggers = number(app, "SELECT COUNT(*) AS v FROM pg_trigger WHERE tgname LIKE 'tickets_account_id_%'").await;
    (keys, triggers)
}

#[tokio::test]
async fn the_reference_checks_migration_goes_down_and_up_again() {
    use migration::{Migrator, MigratorTrait};
    let app = TestApp::with_sample().await;
    // Down to before this migration, whatever came after it.
    let names: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
    let at = names.iter().position(|n| n == "m20261204_000001_set_based_reference_checks").expect("the migration");
    let steps = (names.len() - at) as u32;
    let postgres = app.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    if postgres {
        assert_eq!(ticket_checks(&app).await, (0, 2), "checked per statement");
    }
    Migrator::down(&app.db, Some(steps)).await.expect("down");
    if postgres {
        assert_eq!(ticket_checks(&app).await, (1, 0), "a foreign key again");
    }
    let missing = number(&app, "SELECT MAX(id) + 1000 AS v FROM accounts").await;
    let orphan = format!(
        "INSERT INTO tickets (external_id, account_id, opened_at) VALUES ('T-REF-9', {missing}, '2026-01-01 00:00:00+00')"
    );
    assert_refused(run(&app, &orphan).await, "a ticket of a missing account, with the foreign key");
    Migrator::up(&app.db, None).await.expect("up again");
    if postgres {
        assert_eq!(ticket_checks(&app).await, (0, 2), "checked per statement again");
    }
    assert_refused(run(&app, &orphan).await, "a ticket of a missing account, checked per statement");
}
