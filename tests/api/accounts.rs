//! `accounts` pagination and filters, `Account.mrr(on:)` and the account sub-lists, checked
//! against the sample files computed independently here.
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, TestApp, rows};

/// MRR(a, d) per KPIS.md, straight from subscriptions.json.
fn expected_mrr(on: &str) -> BTreeMap<String, Decimal> {
    let mut mrr: BTreeMap<String, Decimal> = BTreeMap::new();
    for s in rows("subscriptions.json") {
        let start = s["startDate"].as_str().unwrap_or_default();
        let active = start <= on && s["endDate"].as_str().is_none_or(|end| on < end);
        let amount = Decimal::from_str(s["mrr"].as_str().unwrap_or("0")).unwrap_or_default();
        let entry = mrr.entry(s["accountExternalId"].as_str().unwrap_or_default().to_owned()).or_default();
        if active {
            *entry += amount;
        }
    }
    mrr
}

const PAGE: &str = "query($after: String, $on: Date) { accounts(first: 50, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { externalId mrr(on: $on) subscriptions { externalId } feedback { externalId } tickets { externalId } touchpoints { externalId } } } } }";

/// Counts per account of a sample file.
fn per_account(file: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for row in rows(file) {
        *counts.entry(row["accountExternalId"].as_str().unwrap_or_default().to_owned()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn pages_cover_every_account_once_with_exact_mrr_and_complete_sub_lists() {
    let app = TestApp::with_sample().await;
    for on in ["2026-10-31", "2025-02-01", "2024-06-30"] {
        let expected = expected_mrr(on);
        let mut seen: BTreeMap<String, Value> = BTreeMap::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let reply = app.gql(ADMIN, PAGE, json!({ "after": after, "on": on })).await;
            let connection = &reply.data()["accounts"];
            assert_eq!(connection["totalCount"], 160);
            for edge in connection["edges"].as_array().into_iter().flatten() {
                let id = edge["node"]["externalId"].as_str().unwrap_or_default().to_owned();
                assert!(seen.insert(id, edge["node"].clone()).is_none(), "an account on two pages");
            }
            pages += 1;
            if connection["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = connection["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
        assert_eq!((pages, seen.len()), (4, 160));
        for (id, node) in &seen {
            let mrr = Decimal::from_str(node["mrr"].as_str().unwrap_or("x")).unwrap_or(Decimal::MIN);
            assert_eq!(mrr, expected.get(id).copied().unwrap_or_default(), "MRR of {id} on {on}");
        }
        for (list, file) in [
            ("subscriptions", "subscriptions.json"),
            ("feedback", "feedback.json"),
            ("tickets", "tickets.json"),
            ("touchpoints", "touchpoints.json"),
        ] {
            let expected = per_account(file);
            for (id, node) in &seen {
                let got = node[list].as_array().map_or(0, Vec::len);
                assert_eq!(got, expected.get(id).copied().unwrap_or(0), "{list} of {id}");
            }
        }
    }
}

#[tokio::test]
async fn filters_search_and_page_limits() {
    let app = TestApp::with_sample().await;
    let query = "query($f: AccountFilter, $first: Int, $after: String) { accounts(filter: $f, first: $first, after: $after) { totalCount edges { node { name segment } } } }";
    let accounts = rows("accounts.json");

    let enterprise = accounts.iter().filter(|a| a["segment"] == "Enterprise").count();
    let reply = app.gql(ADMIN, query, json!({ "f": { "segment": "Enterprise" }, "first": 500 })).await;
    assert_eq!(reply.data()["accounts"]["totalCount"], enterprise);
    assert!(
        reply.data()["accounts"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|e| e["node"]["segment"] == "Enterprise")
    );

    let robotics: BTreeSet<String> = accounts
        .iter()
        .filter_map(|a| a["name"].as_str())
        .filter(|n| n.to_lowercase().contains("robotics"))
        .map(str::to_owned)
        .collect();
    assert!(!robotics.is_empty());
    let reply = app.gql(ADMIN, query, json!({ "f": { "search": "rOBOTICs" }, "first": 500 })).await;
    let names: BTreeSet<String> = reply.data()["accounts"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["node"]["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, robotics);
    // LIKE wildcards are matched literally.
    let reply = app.gql(ADMIN, query, json!({ "f": { "search": "%" } })).await;
    assert_eq!(reply.data()["accounts"]["totalCount"], 0);

    for (variables, code) in [
        (json!({ "first": 501 }), "BAD_USER_INPUT"),
        (json!({ "first": -1 }), "BAD_USER_INPUT"),
        (json!({ "after": "garbage" }), "BAD_USER_INPUT"),
    ] {
        let reply = app.gql(ADMIN, query, variables.clone()).await;
        assert_eq!(reply.codes(), vec![code], "{variables}: {}", reply.body);
    }
    let reply = app.gql(ADMIN, query, json!({ "first": 0 })).await;
    assert_eq!(reply.data()["accounts"]["edges"], json!([]));

    // Health statuses (today) partition the accounts, and each page holds only its status.
    let by_health = "query($s: HealthStatus) { accounts(filter: { healthStatus: $s }, first: 500) { totalCount edges { node { health { status } } } } }";
    let mut total = 0;
    for status in ["GREEN", "YELLOW", "RED"] {
        let reply = app.gql(ADMIN, by_health, json!({ "s": status })).await;
        let connection = &reply.data()["accounts"];
        assert!(
            connection["edges"].as_array().into_iter().flatten().all(|e| e["node"]["health"]["status"] == status),
            "{status}"
        );
        total += connection["totalCount"].as_i64().unwrap_or(-1);
    }
    assert_eq!(total, 160);
}

#[tokio::test]
async fn a_page_of_500_accounts_with_every_list_costs_a_constant_number_of_statements() {
    let app = TestApp::with_operators().await;
    let ids: Vec<String> = (0..520).map(|i| format!("ACC-{i:04}")).collect();
    let rows = |f: &dyn Fn(&str) -> Value| ids.iter().map(|id| f(id)).collect::<Vec<_>>();
    let integration = crate::helpers::INTEGRATION;
    app.ingest_ok(integration, "upsertAccounts", "AccountInput", &rows(&|id| json!({ "externalId": id, "name": id })))
        .await;
    app.ingest_ok(integration, "upsertSubscriptions", "SubscriptionInput", &rows(&|id| json!({ "externalId": format!("S-{id}"), "accountExternalId": id, "mrr": "10", "startDate": "2026-01-01" }))).await;
    app.ingest_ok(integration, "recordFeedback", "FeedbackInput", &rows(&|id| json!({ "externalId": format!("F-{id}"), "accountExternalId": id, "kind": "NPS", "score": 9, "respondedAt": "2026-02-01T10:00:00Z" }))).await;
    app.ingest_ok(integration, "recordTickets", "TicketInput", &rows(&|id| json!({ "externalId": format!("T-{id}"), "accountExternalId": id, "openedAt": "2026-02-01T10:00:00Z" }))).await;
    app.ingest_ok(integration, "recordTouchpoints", "TouchpointInput", &rows(&|id| json!({ "externalId": format!("P-{id}"), "accountExternalId": id, "kind": "CALL", "occurredAt": "2026-02-01T10:00:00Z" }))).await;

    let query = "query($first: Int) { accounts(first: $first) { edges { node { externalId csm { email } mrr(on: \"2026-03-01\") subscriptions { externalId renewsExternalId } feedback { score } tickets { openedAt } touchpoints { kind csm { email } } } } } }";
    let mut costs = Vec::new();
    for first in [50, 500] {
        let before = app.statements();
        let reply = app.gql(ADMIN, query, json!({ "first": first })).await;
        let edges = reply.data()["accounts"]["edges"].as_array().cloned().unwrap_or_default();
        assert_eq!(edges.len(), first);
        assert!(edges.iter().all(
            |e| e["node"]["subscriptions"].as_array().is_some_and(|l| l.len() == 1) && e["node"]["mrr"] == "10.00"
        ));
        costs.push(app.statements() - before);
    }
    assert_eq!(costs[0], costs[1], "statements for 50 and for 500 accounts: {costs:?}");
    assert!(costs[1] <= 12, "{costs:?}");
}
