//! Faults: a database error reaches the client as `INTERNAL` with a correlation id and nothing
//! else; the request timeout cuts a query short, never a write.
use std::time::Duration;

use cs_kpi::auth::jwt::JwtKeys;
use cs_kpi::server::Limits;
use sea_orm::{ConnectionTrait, DatabaseBackend};
use serde_json::json;

use crate::helpers::{ADMIN, INTEGRATION, SECRET, TestApp};

const GROWTH: &str =
    r#"{ kpis(period: { from: "2026-01-01", to: "2026-03-31" }) { periodStart visitorConversionRate } }"#;

#[tokio::test]
async fn a_database_error_is_internal_with_a_correlation_id_and_no_detail() {
    let app = TestApp::with_operators().await;
    app.gql(ADMIN, GROWTH, json!({})).await.data();
    // Break the database under the running server.
    app.db.execute_unprepared("DROP TABLE traffic").await.expect("drop");

    let reply = app.gql(ADMIN, GROWTH, json!({})).await;
    assert_eq!(reply.codes(), vec!["INTERNAL"], "{}", reply.body);
    let error = &reply.errors()[0];
    let message = error["message"].as_str().unwrap_or_default();
    let id = error["extensions"]["correlationId"].as_str().unwrap_or_default();
    assert_eq!(id.len(), 16, "{error}");
    assert_eq!(message, format!("internal error (correlation id {id})"));
    let text = reply.body.to_string().to_lowercase();
    for leak in
        ["traffic", "select", "no such table", "does not exist", "sqlx", "sea_orm", "sea-orm", "database", ".rs", "/"]
    {
        assert!(!text.contains(leak), "{leak:?} leaked: {text}");
    }
    app.assert_still_answers(ADMIN).await;
}

/// Ten years by month of a KPI of every family: many statements, far more than a millisecond
/// of work even on an empty database.
const EVERY_FAMILY: &str = r#"{ kpis(period: { from: "2017-01-01", to: "2026-12-31" }) { periodStart mrr renewalRate
    costToServe nps ticketsOpened medianResolutionHours medianTimeToFirstValueDays averageHealthScore signups
    visitorConversionRate } }"#;

#[tokio::test]
async fn a_query_over_its_time_limit_is_cut_short_and_a_write_is_not() {
    let keys = JwtKeys::hs256(SECRET.as_bytes(), None, None).expect("keys");
    let limits = Limits { request_timeout: Duration::from_millis(1), ..Limits::default() };
    let app = TestApp::spawn_configured(keys, limits, false).await;
    app.user(ADMIN, cs_kpi::auth::Role::Admin, None).await;
    app.user(INTEGRATION, cs_kpi::auth::Role::Integration, None).await;

    let reply = app.gql(ADMIN, EVERY_FAMILY, json!({})).await;
    assert_eq!(reply.codes(), vec!["QUERY_TOO_COMPLEX"], "{}", reply.body);
    assert!(reply.body["data"].is_null());

    // A write is never cut short (its COMMIT could land after the client was told it failed):
    // it completes and reports what it wrote.
    let accounts: Vec<_> =
        (0..300).map(|i| json!({ "externalId": format!("ACC-{i}"), "name": format!("Account {i}") })).collect();
    assert_eq!(app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &accounts).await, (300, 0, 0));
    assert_eq!(app.count("accounts").await, 300);
    // The server still answers what needs no database within the limit.
    let reply = app.gql(ADMIN, "{ __typename }", json!({})).await;
    assert_eq!(reply.data()["__typename"], "Query");
}

#[tokio::test]
async fn postgres_cancels_statements_over_the_statement_timeout() {
    let app = TestApp::with_operators().await;
    if app.db.get_database_backend() != DatabaseBackend::Postgres {
        // SQLite has no statement timeout; the request timeout above bounds its work.
        return;
    }
    let row =
        app.db.query_one_raw(sea_orm::Statement::from_string(DatabaseBackend::Postgres, "SHOW statement_timeout"));
    let timeout: String = row.await.expect("show").expect("a row").try_get("", "statement_timeout").expect("value");
    assert_eq!(timeout, "30s");

    let url = crate::helpers::fresh_database_url().await;
    let db = cs_kpi::startup::open_with(&url, Some(Duration::from_millis(200))).await.expect("connect");
    let error = db.execute_unprepared("SELECT pg_sleep(2)").await.expect_err("cancelled");
    let error = cs_kpi::base::error::AppError::from(error);
    assert_eq!(error.code(), "QUERY_TOO_COMPLEX", "{}", error.detail());
    assert!(!error.message().contains("pg_sleep"));
    app.assert_still_answers(ADMIN).await;
}
