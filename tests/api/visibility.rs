//! Who sees what (PRODUCT.md, "Roles and what each may see"), on the sample company.
use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::{ADMIN, INTEGRATION, TestApp, rows};

const CSM: &str = "csm10@acme.example";
const MANAGER: &str = "manager1@acme.example";
const FINANCE: &str = "finance@acme.example";

const PAGE: &str = "query($f: AccountFilter) { accounts(filter: $f, first: 500) { totalCount edges { node { externalId csm { email } } } } }";

/// The externalIds of the sample's accounts whose CSM is one of `csms`.
fn book(csms: &[&str]) -> BTreeSet<String> {
    rows("accounts.json")
        .iter()
        .filter(|a| a["csmEmail"].as_str().is_some_and(|c| csms.contains(&c)))
        .filter_map(|a| a["externalId"].as_str().map(str::to_owned))
        .collect()
}

fn external_ids(data: &Value) -> BTreeSet<String> {
    data["accounts"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["node"]["externalId"].as_str().map(str::to_owned))
        .collect()
}

async fn id_of(app: &TestApp, external_id: &str) -> String {
    let reply =
        app.gql(ADMIN, "query($x: String) { account(externalId: $x) { id } }", json!({ "x": external_id })).await;
    reply.data()["account"]["id"].as_str().unwrap_or_default().to_owned()
}

/// The id of the user (`list` = "users", `key` = "email") or team ("teams", "name") named `value`.
async fn id_in(app: &TestApp, list: &str, key: &str, value: &str) -> String {
    let reply = app.gql(ADMIN, &format!("{{ {list} {{ id {key} }} }}"), json!({})).await;
    let items = reply.data()[list].as_array().cloned().unwrap_or_default();
    items.iter().find(|item| item[key] == value).and_then(|item| item["id"].as_str()).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn each_role_sees_its_own_accounts_and_nothing_else() {
    let app = TestApp::with_sample().await;
    let enterprise = ["csm01@acme.example", "csm04@acme.example", "csm07@acme.example", CSM];

    // A CSM sees exactly their book.
    let reply = app.gql(CSM, PAGE, json!({})).await;
    assert_eq!(external_ids(reply.data()), book(&[CSM]));
    assert_eq!(reply.data()["accounts"]["totalCount"], book(&[CSM]).len());
    // A manager sees the books of their team's CSMs.
    let reply = app.gql(MANAGER, PAGE, json!({})).await;
    assert_eq!(external_ids(reply.data()), book(&enterprise));
    // Finance and admins see everything.
    for email in [FINANCE, ADMIN] {
        assert_eq!(app.gql(email, PAGE, json!({})).await.data()["accounts"]["totalCount"], 160);
    }

    // Another CSM's account is NOT_FOUND, by externalId and by id, exactly like a missing one.
    let foreign = book(&["csm02@acme.example"]).into_iter().next().unwrap_or_default();
    let foreign_id = id_of(&app, &foreign).await;
    for (who, query, variables) in [
        (CSM, "query($x: String) { account(externalId: $x) { name } }", json!({ "x": foreign })),
        (CSM, "query($x: ID) { account(id: $x) { name } }", json!({ "x": foreign_id })),
        (MANAGER, "query($x: String) { account(externalId: $x) { name } }", json!({ "x": foreign })),
        (CSM, "query($x: String) { account(externalId: $x) { name } }", json!({ "x": "ACC-DOES-NOT-EXIST" })),
    ] {
        let reply = app.gql(who, query, variables).await;
        assert_eq!(reply.codes(), vec!["NOT_FOUND"], "{who}: {}", reply.body);
        assert_eq!(reply.body["data"]["account"], Value::Null);
    }
    let own = book(&[CSM]).into_iter().next().unwrap_or_default();
    let reply = app
        .gql(CSM, "query($x: String) { account(externalId: $x) { externalId csm { email } } }", json!({ "x": own }))
        .await;
    assert_eq!(reply.data()["account"]["csm"]["email"], CSM);
}

#[tokio::test]
async fn filters_only_narrow_and_never_reach_outside_visibility() {
    let app = TestApp::with_sample().await;
    let other_csm = id_in(&app, "users", "email", "csm02@acme.example").await;
    let team_mate = id_in(&app, "users", "email", "csm04@acme.example").await;
    let growth = id_in(&app, "teams", "name", "Growth").await;
    let enterprise = id_in(&app, "teams", "name", "Enterprise").await;

    for (who, filter) in [
        (CSM, json!({ "csmId": team_mate })),
        (CSM, json!({ "teamId": enterprise })),
        (MANAGER, json!({ "csmId": other_csm })),
        (MANAGER, json!({ "teamId": growth })),
    ] {
        let reply = app.gql(who, PAGE, json!({ "f": filter })).await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"], "{who} {filter}: {}", reply.body);
    }
    let reply = app.gql(MANAGER, PAGE, json!({ "f": { "csmId": team_mate } })).await;
    assert_eq!(external_ids(reply.data()), book(&["csm04@acme.example"]));
    let reply = app.gql(MANAGER, PAGE, json!({ "f": { "teamId": enterprise, "segment": null } })).await;
    assert_eq!(
        external_ids(reply.data()).len(),
        book(&["csm01@acme.example", "csm04@acme.example", "csm07@acme.example", CSM]).len()
    );
    // A segment filter on a CSM's book stays within the book.
    let reply = app.gql(CSM, PAGE, json!({ "f": { "segment": "Enterprise" } })).await;
    assert!(external_ids(reply.data()).is_subset(&book(&[CSM])));
}

#[tokio::test]
async fn integrations_read_nothing_and_finance_reads_no_comments() {
    let app = TestApp::with_sample().await;
    for query in [
        "{ accounts { totalCount } }",
        r#"{ account(externalId: "ACC-00001") { name } }"#,
        "{ users { email } }",
        "{ teams { name } }",
    ] {
        let reply = app.gql(INTEGRATION, query, json!({})).await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"], "{query}: {}", reply.body);
    }
    assert_eq!(app.gql(INTEGRATION, "{ me { role } }", json!({})).await.data()["me"]["role"], "INTEGRATION");

    let with_comment =
        rows("feedback.json").into_iter().find(|f| f["comment"].is_string()).expect("a comment in the sample");
    let query = "query($x: String) { account(externalId: $x) { feedback { externalId score comment } } }";
    let variables = json!({ "x": with_comment["accountExternalId"] });
    let reply = app.gql(FINANCE, query, variables.clone()).await;
    assert!(reply.codes().iter().all(|c| c == "FORBIDDEN") && !reply.codes().is_empty(), "{}", reply.body);
    let feedback = reply.body["data"]["account"]["feedback"].as_array().cloned().unwrap_or_default();
    assert!(
        !feedback.is_empty() && feedback.iter().all(|f| f["comment"].is_null() && f["score"].is_number()),
        "the rest is returned"
    );
    assert!(reply.errors().iter().all(|e| e["path"][3] == "comment"));

    let reply = app.gql(ADMIN, query, variables).await;
    let comments = reply.data()["account"]["feedback"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["comment"] == with_comment["comment"])
        .count();
    assert_eq!(comments, 1);
}

#[tokio::test]
async fn csms_write_activity_only_on_their_own_accounts() {
    let app = TestApp::with_sample().await;
    let own = book(&[CSM]).into_iter().next().unwrap_or_default();
    let foreign = book(&["csm02@acme.example"]).into_iter().next().unwrap_or_default();
    let touchpoint = |id: &str, account: &str| json!({ "externalId": id, "accountExternalId": account, "kind": "CALL", "occurredAt": "2026-11-02T10:00:00Z" });

    assert_eq!(
        app.ingest_ok(CSM, "recordTouchpoints", "TouchpointInput", &[touchpoint("TP-CSM-1", &own)]).await,
        (1, 0, 0)
    );
    let reply = app
        .gql(
            CSM,
            "query($x: String) { account(externalId: $x) { touchpoints { externalId csm { email } } } }",
            json!({ "x": own }),
        )
        .await;
    let logged = reply.data()["account"]["touchpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["externalId"] == "TP-CSM-1")
        .cloned();
    assert_eq!(logged.map(|t| t["csm"]["email"].clone()), Some(json!(CSM)), "defaults to the account's CSM");

    // Another book's account is unknown to this CSM.
    let reply = app.ingest(CSM, "recordTouchpoints", "TouchpointInput", &[touchpoint("TP-CSM-2", &foreign)]).await;
    assert_eq!(reply.errors()[0]["extensions"]["field"], "accountExternalId", "{}", reply.body);
    // Nor may a CSM take over another book's record by reusing its externalId.
    let taken = rows("touchpoints.json")
        .into_iter()
        .find(|t| t["accountExternalId"] == foreign.as_str())
        .expect("a foreign touchpoint");
    let reply = app
        .ingest(
            CSM,
            "recordTouchpoints",
            "TouchpointInput",
            &[touchpoint(taken["externalId"].as_str().unwrap_or_default(), &own)],
        )
        .await;
    assert_eq!(reply.errors()[0]["extensions"]["field"], "externalId", "{}", reply.body);
    // A manager may write on the team's accounts.
    assert_eq!(
        app.ingest_ok(MANAGER, "recordTouchpoints", "TouchpointInput", &[touchpoint("TP-MGR-1", &own)]).await,
        (1, 0, 0)
    );
}

#[tokio::test]
async fn a_csm_reaches_no_other_book_by_any_path() {
    let app = TestApp::with_sample().await;
    let other = "csm02@acme.example";
    let foreign = book(&[other]).into_iter().next().unwrap_or_default();
    let foreign_id = id_of(&app, &foreign).await;
    let other_id = id_in(&app, "users", "email", other).await;
    let growth = id_in(&app, "teams", "name", "Growth").await;
    let own_ids: BTreeSet<String> = book(&[CSM]).into_iter().collect();
    let period = json!({ "from": "2025-01-01", "to": "2026-10-31" });

    // An admin reads the foreign account first: nothing it loads may be served to the CSM.
    app.gql(ADMIN, "query($x: ID) { account(id: $x) { name } }", json!({ "x": foreign_id })).await.data();

    // By id and by externalId: NOT_FOUND.
    for (query, variables) in [
        ("query($x: ID) { account(id: $x) { name mrr } }", json!({ "x": foreign_id })),
        ("query($x: String) { account(externalId: $x) { name } }", json!({ "x": foreign })),
    ] {
        let reply = app.gql(CSM, query, variables).await;
        assert_eq!(reply.codes(), vec!["NOT_FOUND"], "{}", reply.body);
    }
    // Through a scope or a filter naming the other CSM or their team: FORBIDDEN.
    for (query, variables) in [
        (
            "query($p: PeriodInput!, $s: ScopeInput) { mrrMovements(period: $p, scope: $s) { account { externalId } } }",
            json!({ "p": period, "s": { "csmId": other_id } }),
        ),
        (
            "query($p: PeriodInput!, $s: ScopeInput) { kpis(period: $p, scope: $s) { mrr } }",
            json!({ "p": period, "s": { "teamId": growth } }),
        ),
        (
            "query($p: PeriodInput!, $s: ScopeInput) { kpis(period: $p, scope: $s, groupBy: CSM) { group mrr } }",
            json!({ "p": period, "s": { "csmId": other_id } }),
        ),
        (PAGE, json!({ "f": { "csmId": other_id } })),
    ] {
        let reply = app.gql(CSM, query, variables).await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"], "{query}: {}", reply.body);
    }
    // Unscoped, the drill-down holds only the CSM's own accounts ...
    let reply = app
        .gql(
            CSM,
            "query($p: PeriodInput!) { mrrMovements(period: $p) { account { externalId csm { email } } } }",
            json!({ "p": period }),
        )
        .await;
    let movements = reply.data()["mrrMovements"].as_array().cloned().unwrap_or_default();
    assert!(!movements.is_empty());
    assert!(
        movements.iter().all(|m| own_ids.contains(m["account"]["externalId"].as_str().unwrap_or_default())),
        "{}",
        reply.body
    );
    // ... and a grouped report has exactly one group: the CSM's own.
    let own_id = id_in(&app, "users", "email", CSM).await;
    for dimension in ["CSM", "TEAM", "SEGMENT"] {
        let query = format!("query($p: PeriodInput!) {{ kpis(period: $p, groupBy: {dimension}) {{ group mrr }} }}");
        let reply = app.gql(CSM, &query, json!({ "p": period })).await;
        let groups: BTreeSet<String> = reply.data()["kpis"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["group"].as_str().map(str::to_owned))
            .collect();
        if dimension == "CSM" {
            assert_eq!(groups, BTreeSet::from([own_id.clone()]), "{}", reply.body);
        }
        let manager_view = app.gql(MANAGER, &query, json!({ "p": period })).await;
        assert!(groups.len() <= manager_view.data()["kpis"].as_array().map_or(0, Vec::len));
    }
    // The CSM's own book's MRR equals the grouped figure: nothing of another book leaks into it.
    let whole = app.gql(CSM, "query($p: PeriodInput!) { kpis(period: $p) { mrr } }", json!({ "p": period })).await;
    let grouped = app
        .gql(CSM, "query($p: PeriodInput!) { kpis(period: $p, groupBy: CSM) { mrr } }", json!({ "p": period }))
        .await;
    assert_eq!(whole.data()["kpis"], grouped.data()["kpis"]);
    // A team's members are users, never their accounts; the CSM sees only their own team.
    let reply = app.gql(CSM, "{ teams { name members { email team { name } } } }", json!({})).await;
    let teams = reply.data()["teams"].as_array().cloned().unwrap_or_default();
    assert_eq!(teams.len(), 1, "{}", reply.body);
    assert!(teams[0]["members"].as_array().is_some_and(|m| m.iter().any(|u| u["email"] == CSM)));
    let reply = app.gql(CSM, "{ users { email } }", json!({})).await;
    assert!(reply.data()["users"].as_array().into_iter().flatten().all(|u| u["email"] != other), "{}", reply.body);
}
