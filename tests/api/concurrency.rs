//! Concurrent writers: integrations pushing overlapping batches at the same moment end with one
//! row per externalId and counts that add up; none sees `INTERNAL` or writes a duplicate. And
//! concurrent readers beyond the limit wait their turn.
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::helpers::{ADMIN, INTEGRATION, TestApp};

const WRITERS: usize = 8;
const ROWS: usize = 100;
/// Each writer starts this far after the previous one, so neighbours share 75 of their rows.
const STRIDE: usize = 25;

fn account(i: usize) -> Value {
    json!({ "externalId": format!("ACC-{i:04}"), "name": format!("Account {i}"), "segment": "SMB" })
}

fn subscription(i: usize) -> Value {
    json!({ "externalId": format!("SUB-{i:04}"), "accountExternalId": format!("ACC-{i:04}"), "mrr": "99.5", "startDate": "2026-01-01" })
}

/// Runs one batch per writer at once; returns the (created, updated, unchanged) of each.
async fn push_at_once(
    app: &Arc<TestApp>,
    mutation: &'static str,
    input: &'static str,
    row: fn(usize) -> Value,
) -> Vec<(i64, i64, i64)> {
    let mut writers = JoinSet::new();
    for writer in 0..WRITERS {
        let app = app.clone();
        let rows: Vec<Value> = (writer * STRIDE..writer * STRIDE + ROWS).map(row).collect();
        writers.spawn(async move {
            let reply = app.ingest(INTEGRATION, mutation, input, &rows).await;
            assert!(reply.body.get("errors").is_none(), "writer {writer}: {}", reply.body);
            let counts = &reply.body["data"][mutation];
            (
                counts["created"].as_i64().unwrap_or(-1),
                counts["updated"].as_i64().unwrap_or(-1),
                counts["unchanged"].as_i64().unwrap_or(-1),
            )
        });
    }
    writers.join_all().await
}

#[tokio::test]
async fn overlapping_batches_from_eight_writers_apply_exactly_once() {
    let app = Arc::new(TestApp::with_operators().await);
    let distinct = (WRITERS - 1) * STRIDE + ROWS;

    for (mutation, input, row, table) in [
        ("upsertAccounts", "AccountInput", account as fn(usize) -> Value, "accounts"),
        ("upsertSubscriptions", "SubscriptionInput", subscription, "subscriptions"),
    ] {
        let audit_before = app.count("audit_log").await;
        let outcomes = push_at_once(&app, mutation, input, row).await;
        let created: i64 = outcomes.iter().map(|o| o.0).sum();
        let updated: i64 = outcomes.iter().map(|o| o.1).sum();
        assert!(outcomes.iter().all(|(c, u, n)| c + u + n == ROWS as i64), "{mutation}: {outcomes:?}");
        assert_eq!((created, updated), (distinct as i64, 0), "{mutation}: {outcomes:?}");
        assert_eq!(app.count(table).await, distinct as i64, "one row per externalId in {table}");
        assert_eq!(app.count("audit_log").await - audit_before, distinct as i64, "one audit row per created record");
    }

    // Everything written is whole: every account has its one subscription's MRR.
    let reply = app
        .gql(ADMIN, r#"{ accounts(first: 500) { totalCount edges { node { mrr(on: "2026-02-01") } } } }"#, json!({}))
        .await;
    assert_eq!(reply.data()["accounts"]["totalCount"], distinct);
    let edges = reply.data()["accounts"]["edges"].as_array().cloned().unwrap_or_default();
    assert!(edges.iter().all(|e| e["node"]["mrr"] == "99.50"), "{}", reply.body);
    app.assert_still_answers(ADMIN).await;
}

/// Queries beyond `max_concurrent_reads` wait for a turn: with one turn, held by a query that
/// waits for a table another transaction has locked, a query that needs no table at all waits
/// too, and both answer once the lock goes. Only PostgreSQL can hold a reader back this way
/// (SQLite's readers never wait for a lock: WAL); the limit is the same code on both.
#[tokio::test]
async fn queries_beyond_the_concurrent_reads_wait_their_turn() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use sea_orm::{ConnectionTrait, TransactionTrait};

    let keys = cs_kpi::auth::jwt::JwtKeys::hs256(crate::helpers::SECRET.as_bytes(), None, None).expect("keys");
    let limits = cs_kpi::server::Limits { max_concurrent_reads: 1, ..Default::default() };
    let app = TestApp::spawn_configured(keys, limits, false).await;
    app.user(ADMIN, cs_kpi::auth::Role::Admin, None).await;
    if app.db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return;
    }
    let lock = app.db.begin().await.expect("begin");
    lock.execute_unprepared("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE").await.expect("lock accounts");

    let second_answered = AtomicBool::new(false);
    let first = app.gql(ADMIN, "{ accounts(first: 1) { totalCount } }", json!({}));
    let second = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let reply = app.gql(ADMIN, "{ metricCatalog { name } }", json!({})).await;
        second_answered.store(true, Ordering::SeqCst);
        reply
    };
    let unlock = async {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let waited = !second_answered.load(Ordering::SeqCst);
        lock.commit().await.expect("unlock accounts");
        waited
    };
    let (first, second, waited) = tokio::join!(first, second, unlock);
    assert!(waited, "the second query ran beside the first");
    assert_eq!(first.data()["accounts"]["totalCount"], 0);
    assert!(!second.data()["metricCatalog"].as_array().expect("the catalog").is_empty());
}
