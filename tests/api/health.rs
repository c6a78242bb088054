//! Health scores (KPIS.md, section 6) against the expected values, and the health model.
use serde_json::{Value, json};

use crate::helpers::{ADMIN, TestApp, fixture};

const HEALTH: &str = "query($x: String, $d: Date) { account(externalId: $x) { health(on: $d) { score status components { component value weight } } } }";

fn close(got: &Value, want: &Value) -> bool {
    match (got.as_f64(), want.as_f64()) {
        (Some(g), Some(w)) => (g - w).abs() <= 1e-9,
        _ => got == want,
    }
}

#[tokio::test]
async fn health_scores_match_the_expected_values_and_follow_the_model() {
    let app = TestApp::with_sample().await;
    let expected = fixture("expected/health_2026-10-31_15_accounts.json");
    for want in expected["result"].as_array().into_iter().flatten() {
        let reply = app.gql(ADMIN, HEALTH, json!({ "x": want["externalId"], "d": want["on"] })).await;
        let got = &reply.data()["account"]["health"];
        let account = &want["externalId"];
        assert!(close(&got["score"], &want["score"]), "{account}: score {} want {}", got["score"], want["score"]);
        assert_eq!(got["status"], want["status"], "{account}");
        let (got_parts, want_parts) = (
            got["components"].as_array().cloned().unwrap_or_default(),
            want["components"].as_array().cloned().unwrap_or_default(),
        );
        assert_eq!(got_parts.len(), want_parts.len(), "{account}: {got_parts:?}");
        for (g, w) in got_parts.iter().zip(&want_parts) {
            assert_eq!(g["component"], w["component"], "{account}");
            assert!(close(&g["value"], &w["value"]) && close(&g["weight"], &w["weight"]), "{account}: {g} want {w}");
        }
    }

    // Only an ADMIN changes the model; bad entries are refused, one error each, and nothing changes.
    let set = "mutation($m: HealthModelInput!) { setHealthModel(input: $m) { greenAtLeast yellowAtLeast weights { component weight } } }";
    let usage_only = json!({ "weights": [{ "component": "NPS", "weight": 0 }, { "component": "SUPPORT", "weight": 0 }, { "component": "ENGAGEMENT", "weight": 0 }, { "component": "REVENUE_TREND", "weight": 0 }, { "component": "CSAT", "weight": 0 }], "greenAtLeast": 60, "yellowAtLeast": 30 });
    let reply = app.gql("finance@acme.example", set, json!({ "m": usage_only })).await;
    assert_eq!(reply.codes(), vec!["FORBIDDEN"]);
    let bad = json!({ "weights": [{ "component": "NPS", "weight": -1 }, { "component": "USAGE", "weight": 5 }, { "component": "USAGE", "weight": 6 }], "greenAtLeast": 30, "yellowAtLeast": 60 });
    let reply = app.gql(ADMIN, set, json!({ "m": bad })).await;
    let mut named: Vec<(Value, Value)> =
        reply.errors().iter().map(|e| (e["extensions"]["row"].clone(), e["extensions"]["field"].clone())).collect();
    named.sort_by_key(|(row, _)| row.as_i64().unwrap_or(-1));
    assert_eq!(
        named,
        vec![(Value::Null, json!("yellowAtLeast")), (json!(0), json!("weight")), (json!(2), json!("component"))]
    );
    assert_eq!(
        app.gql(ADMIN, "{ healthModel { greenAtLeast } }", json!({})).await.data()["healthModel"]["greenAtLeast"],
        70.0
    );

    // A changed model changes later answers: with usage alone, ACC-00156 (no usage) has no score.
    let reply = app.gql(ADMIN, set, json!({ "m": usage_only })).await;
    assert_eq!(reply.data()["setHealthModel"]["greenAtLeast"], 60.0);
    let reply = app.gql(ADMIN, HEALTH, json!({ "x": "ACC-00156", "d": "2026-10-31" })).await;
    let health = &reply.data()["account"]["health"];
    assert_eq!((&health["score"], &health["status"]), (&Value::Null, &Value::Null));
    assert!(
        health["components"].as_array().is_some_and(|c| c.iter().all(|c| c["weight"] == 0.0)),
        "components stay listed: {health}"
    );
    let audited = app.count("audit_log").await;
    assert!(audited > 0);
}

/// Per status, the accounts the `healthStatus` filter returns, and the accounts whose own health
/// today (computed on the fly) has that status.
async fn filtered_and_scored(app: &TestApp) -> Vec<(Vec<String>, Vec<String>)> {
    let all = "{ accounts(first: 500) { edges { node { externalId health { status } } } } }";
    let reply = app.gql(ADMIN, all, json!({})).await;
    let nodes = reply.data()["accounts"]["edges"].as_array().cloned().unwrap_or_default();
    let ids = |edges: &[Value], status: Option<&str>| -> Vec<String> {
        let mut ids: Vec<String> = edges
            .iter()
            .filter(|e| status.is_none_or(|s| e["node"]["health"]["status"] == s))
            .filter_map(|e| e["node"]["externalId"].as_str().map(str::to_owned))
            .collect();
        ids.sort();
        ids
    };
    let filtered = "query($s: HealthStatus) { accounts(filter: { healthStatus: $s }, first: 500) { edges { node { externalId } } } }";
    let mut out = Vec::new();
    for status in ["GREEN", "YELLOW", "RED"] {
        let reply = app.gql(ADMIN, filtered, json!({ "s": status })).await;
        let edges = reply.data()["accounts"]["edges"].as_array().cloned().unwrap_or_default();
        out.push((ids(&edges, None), ids(&nodes, Some(status))));
    }
    out
}

async fn assert_filter_matches_health(app: &TestApp, when: &str) {
    for (filtered, scored) in filtered_and_scored(app).await {
        assert_eq!(filtered, scored, "{when}");
    }
    assert_stored_health_is_computed(app, when).await;
}

/// Every account's health today, as read from the health of the day (which the filter made hold
/// today), equals its health computed from the records (with the table marked as another day's).
async fn assert_stored_health_is_computed(app: &TestApp, when: &str) {
    use sea_orm::ConnectionTrait;
    let all = "{ accounts(first: 500) { edges { node { externalId health { score status components { component value weight } } } } } }";
    let stored = app.gql(ADMIN, all, json!({})).await.data().clone();
    let mark = |by: i32| format!("UPDATE aggregate_versions SET version = version + {by} WHERE name = 'health_today'");
    app.db.execute_unprepared(&mark(-1)).await.expect("mark another day");
    let computed = app.gql(ADMIN, all, json!({})).await.data().clone();
    app.db.execute_unprepared(&mark(1)).await.expect("mark today again");
    assert_eq!(stored, computed, "{when}: the stored health of the day");
}

#[tokio::test]
async fn the_health_status_filter_follows_ingest_the_model_and_the_day() {
    let app = TestApp::with_sample().await;
    assert_filter_matches_health(&app, "as loaded").await;
    assert!(app.count("health_today").await > 0, "the filter keeps the health of the day");

    // Open tickets today sink the support of two accounts, and a new account starts with a health.
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let tickets: Vec<Value> = (0..4)
        .flat_map(|i| {
            let now = now.clone();
            ["ACC-00001", "ACC-00002"].map(move |account| {
                json!({ "externalId": format!("T-TODAY-{account}-{i}"), "accountExternalId": account, "openedAt": now })
            })
        })
        .collect();
    app.ingest_ok(crate::helpers::INTEGRATION, "recordTickets", "TicketInput", &tickets).await;
    let account = json!([{ "externalId": "ACC-NEW", "name": "New" }]);
    app.ingest_ok(crate::helpers::INTEGRATION, "upsertAccounts", "AccountInput", account.as_array().expect("rows"))
        .await;
    assert_filter_matches_health(&app, "after ingest").await;

    // A new model applies at once.
    let set = "mutation($m: HealthModelInput!) { setHealthModel(input: $m) { greenAtLeast } }";
    let support_heavy =
        json!({ "weights": [{ "component": "SUPPORT", "weight": 90 }], "greenAtLeast": 95, "yellowAtLeast": 80 });
    assert!(app.gql(ADMIN, set, json!({ "m": support_heavy })).await.errors().is_empty());
    assert_filter_matches_health(&app, "after a model change").await;

    // Held for another day (as after midnight), the table is recomputed before it is read.
    use sea_orm::ConnectionTrait;
    for sql in [
        "UPDATE aggregate_versions SET version = version - 1 WHERE name = 'health_today'",
        "UPDATE health_today SET support = 0, engagement = 100",
    ] {
        app.db.execute_unprepared(sql).await.expect("age the health of the day");
    }
    assert_filter_matches_health(&app, "on a new day").await;
}
