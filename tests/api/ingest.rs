//! Ingest (PRODUCT.md, "Writing data"): upserts by natural key, atomic batches with one error
//! per invalid row, references to earlier rows, roles, and the audit log.
use cs_kpi::auth::Role;
use sea_orm::{QueryOrder, QuerySelect};
use serde_json::{Value, json};

use crate::helpers::{ADMIN, INTEGRATION, TestApp, fixture, rows};

#[tokio::test]
async fn the_whole_sample_loads_and_a_replay_changes_nothing() {
    let app = TestApp::with_operators().await;
    let first = app.load_sample().await;
    let counts = &fixture("meta.json")["counts"];
    let created: std::collections::HashMap<&str, i64> = first.iter().map(|(m, (c, _, _))| (m.as_str(), *c)).collect();
    for (mutation, key) in [
        ("upsertAccounts", "accounts"),
        ("upsertSubscriptions", "subscriptions"),
        ("recordFeedback", "feedback"),
        ("recordTickets", "tickets"),
        ("recordUsage", "usage"),
        ("recordTouchpoints", "touchpoints"),
        ("recordCosts", "costs"),
        ("recordAdvocacy", "advocacy"),
        ("recordFeatureRequests", "feature_requests"),
        ("recordTraffic", "traffic"),
    ] {
        assert_eq!(Some(created[mutation]), counts[key].as_i64(), "{mutation}");
    }
    // The operators existed already: the users batch creates the other 16 and leaves them alone.
    assert_eq!(first[1].1, (16, 0, 2));
    // The second teams push only sets the managers.
    assert_eq!(first[2].1, (0, 3, 0));
    assert_eq!(app.count("subscriptions").await, 285);
    assert_eq!(app.count("usage_records").await, 2104);

    let audited = app.count("audit_log").await;
    let changes: i64 = first.iter().map(|(_, (c, u, _))| c + u).sum::<i64>() + 2; // + the two operators
    assert_eq!(audited, changes, "one audit row per accepted change");

    for (mutation, (created, updated, unchanged)) in app.load_sample().await {
        assert_eq!((created, updated), (0, 0), "{mutation} changed something on replay");
        assert!(unchanged > 0, "{mutation}");
    }
    assert_eq!(app.count("audit_log").await, audited, "a replay audits nothing");
}

/// An app with the sample's organisation and accounts, but no other records.
async fn with_accounts() -> TestApp {
    let app = TestApp::with_operators().await;
    let teams = rows("teams.json");
    let bare: Vec<Value> = teams.iter().map(|t| json!({ "name": t["name"] })).collect();
    app.ingest_ok(INTEGRATION, "upsertTeams", "TeamInput", &bare).await;
    app.ingest_ok(INTEGRATION, "upsertUsers", "UserInput", &rows("users.json")).await;
    app.ingest_ok(INTEGRATION, "upsertTeams", "TeamInput", &teams).await;
    app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &crate::helpers::accounts_in_reference_order()).await;
    app
}

fn subscription(id: &str, mrr: &str, start: &str, end: Option<&str>) -> Value {
    json!({ "externalId": id, "accountExternalId": "ACC-00001", "plan": "Pro", "mrr": mrr, "startDate": start, "endDate": end })
}

#[tokio::test]
async fn a_batch_with_bad_rows_writes_nothing_and_names_each_row() {
    let app = with_accounts().await;
    let audited = app.count("audit_log").await;
    let batch = vec![
        subscription("S-1", "100", "2026-01-01", None),
        subscription("S-2", "100", "2026-01-01", None),
        subscription("S-3", "-5", "2026-01-01", None),
        subscription("S-4", "100", "2026-01-01", None),
        subscription("S-5", "100", "2026-02-01", Some("2026-02-01")),
    ];
    let reply = app.ingest(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &batch).await;
    let errors = reply.errors();
    assert_eq!(errors.len(), 2, "{}", reply.body);
    let mut named: Vec<(i64, String, String)> = errors
        .iter()
        .map(|e| {
            let ext = &e["extensions"];
            (
                ext["row"].as_i64().unwrap_or(-1),
                ext["field"].as_str().unwrap_or_default().to_owned(),
                ext["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    named.sort();
    assert_eq!(named, vec![(2, "mrr".into(), "BAD_USER_INPUT".into()), (4, "endDate".into(), "BAD_USER_INPUT".into())]);
    assert_eq!(app.count("subscriptions").await, 0);
    assert_eq!(app.count("audit_log").await, audited);
}

/// `base` with the fields of `extra` set over it.
fn merged(mut base: Value, extra: Value) -> Value {
    if let (Some(row), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        row.extend(extra.clone());
    }
    base
}

/// One invalid row per rule of PRODUCT.md: (mutation, input type, row, the field named).
fn invalid_rows() -> Vec<(&'static str, &'static str, Value, &'static str)> {
    let long = "x".repeat(1001);
    let account = |extra: Value| merged(json!({ "externalId": "ACC-NEW", "name": "New Co" }), extra);
    let ticket = |extra: Value| {
        merged(
            json!({ "externalId": "T-1", "accountExternalId": "ACC-00001", "openedAt": "2026-03-01T10:00:00Z" }),
            extra,
        )
    };
    let usage = |extra: Value| {
        merged(
            json!({ "accountExternalId": "ACC-00001", "date": "2026-03-01", "activeUsers": 5, "licensedSeats": 10 }),
            extra,
        )
    };
    let feedback = |kind: &str, score: i64| json!({ "externalId": "F-1", "accountExternalId": "ACC-00001", "kind": kind, "score": score, "respondedAt": "2026-03-01T10:00:00Z" });
    vec![
        ("upsertAccounts", "AccountInput", account(json!({ "externalId": "" })), "externalId"),
        ("upsertAccounts", "AccountInput", account(json!({ "name": long })), "name"),
        ("upsertAccounts", "AccountInput", account(json!({ "csmEmail": "finance@acme.example" })), "csmEmail"),
        ("upsertAccounts", "AccountInput", account(json!({ "csmEmail": "nobody@acme.example" })), "csmEmail"),
        (
            "upsertAccounts",
            "AccountInput",
            account(json!({ "referredByExternalId": "ACC-NOPE" })),
            "referredByExternalId",
        ),
        ("upsertSubscriptions", "SubscriptionInput", subscription("S-1", "-0.01", "2026-01-01", None), "mrr"),
        ("upsertSubscriptions", "SubscriptionInput", subscription("S-1", "1.00001", "2026-01-01", None), "mrr"),
        (
            "upsertSubscriptions",
            "SubscriptionInput",
            subscription("S-1", "1000000000000000", "2026-01-01", None),
            "mrr",
        ),
        (
            "upsertSubscriptions",
            "SubscriptionInput",
            subscription("S-1", "10", "2026-01-02", Some("2026-01-01")),
            "endDate",
        ),
        (
            "upsertSubscriptions",
            "SubscriptionInput",
            json!({ "externalId": "S-1", "accountExternalId": "ACC-NOPE", "mrr": "1", "startDate": "2026-01-01" }),
            "accountExternalId",
        ),
        (
            "upsertSubscriptions",
            "SubscriptionInput",
            json!({ "externalId": "S-1", "accountExternalId": "ACC-00001", "mrr": "1", "startDate": "2026-01-01", "renewsExternalId": "S-1" }),
            "renewsExternalId",
        ),
        (
            "upsertSubscriptions",
            "SubscriptionInput",
            json!({ "externalId": "S-1", "accountExternalId": "ACC-00001", "mrr": "1", "startDate": "2026-01-01", "renewsExternalId": "S-NOPE" }),
            "renewsExternalId",
        ),
        ("recordFeedback", "FeedbackInput", feedback("NPS", 11), "score"),
        ("recordFeedback", "FeedbackInput", feedback("NPS", -1), "score"),
        ("recordFeedback", "FeedbackInput", feedback("CSAT", 0), "score"),
        ("recordFeedback", "FeedbackInput", feedback("CES", 8), "score"),
        (
            "recordFeedback",
            "FeedbackInput",
            {
                let mut f = feedback("NPS", 9);
                f["comment"] = json!("y".repeat(10_001));
                f
            },
            "comment",
        ),
        (
            "recordTickets",
            "TicketInput",
            ticket(json!({ "firstResponseAt": "2026-03-01T09:59:59Z" })),
            "firstResponseAt",
        ),
        ("recordTickets", "TicketInput", ticket(json!({ "resolvedAt": "2026-02-28T10:00:00Z" })), "resolvedAt"),
        ("recordUsage", "UsageInput", usage(json!({ "activeUsers": -1 })), "activeUsers"),
        ("recordUsage", "UsageInput", usage(json!({ "licensedSeats": 0 })), "licensedSeats"),
        ("recordUsage", "UsageInput", usage(json!({ "featuresUsed": -1 })), "featuresUsed"),
        ("recordUsage", "UsageInput", usage(json!({ "featuresAvailable": 0 })), "featuresAvailable"),
        (
            "recordTouchpoints",
            "TouchpointInput",
            json!({ "externalId": "TP-1", "accountExternalId": "ACC-00001", "kind": "CALL", "occurredAt": "2026-03-01T10:00:00Z", "csmEmail": "manager1@acme.example" }),
            "csmEmail",
        ),
        (
            "recordCosts",
            "CostInput",
            json!({ "externalId": "C-1", "month": "2026-03-15", "category": "CS_TOOLS", "amount": "-1" }),
            "amount",
        ),
        (
            "recordAdvocacy",
            "AdvocacyInput",
            json!({ "externalId": "", "accountExternalId": "ACC-00001", "kind": "REVIEW", "occurredOn": "2026-03-01" }),
            "externalId",
        ),
        (
            "recordFeatureRequests",
            "FeatureRequestInput",
            json!({ "externalId": "FR-1", "accountExternalId": "ACC-00001", "title": "Dark mode", "status": "SHIPPED", "requestedAt": "2026-03-01T10:00:00Z", "shippedAt": "2026-02-01T10:00:00Z" }),
            "shippedAt",
        ),
        (
            "recordFeatureRequests",
            "FeatureRequestInput",
            json!({ "externalId": "FR-1", "accountExternalId": "ACC-00001", "title": " ", "status": "OPEN", "requestedAt": "2026-03-01T10:00:00Z" }),
            "title",
        ),
        ("recordTraffic", "TrafficInput", json!({ "month": "2026-03-01", "visitors": -1 }), "visitors"),
        (
            "upsertUsers",
            "UserInput",
            json!({ "email": "new@acme.example", "name": "New", "role": "CSM", "teamName": "Nope" }),
            "teamName",
        ),
        (
            "upsertTeams",
            "TeamInput",
            json!({ "name": "Enterprise", "managerEmail": "csm01@acme.example" }),
            "managerEmail",
        ),
    ]
}

#[tokio::test]
async fn every_validation_rule_refuses_its_row() {
    let app = with_accounts().await;
    let audited = app.count("audit_log").await;
    for (mutation, input_type, row, field) in invalid_rows() {
        let reply = app.ingest(ADMIN, mutation, input_type, std::slice::from_ref(&row)).await;
        let errors = reply.errors();
        assert_eq!(errors.len(), 1, "{mutation} {row}: {}", reply.body);
        let ext = &errors[0]["extensions"];
        assert_eq!(ext["code"], "BAD_USER_INPUT", "{mutation} {row}");
        assert_eq!(ext["row"], 0, "{mutation} {row}");
        assert_eq!(ext["field"], field, "{mutation} {row}: {}", reply.body);
    }
    assert_eq!(app.count("audit_log").await, audited, "nothing was written");
    assert_eq!(app.count("subscriptions").await + app.count("feedback").await + app.count("tickets").await, 0);
}

#[tokio::test]
async fn batches_over_5000_rows_are_refused_whole() {
    let app = TestApp::with_operators().await;
    let batch: Vec<Value> =
        (0..5001).map(|i| json!({ "month": format!("{}-01-01", 2000 + i % 20), "visitors": 1 })).collect();
    let reply = app.ingest(INTEGRATION, "recordTraffic", "TrafficInput", &batch).await;
    assert_eq!(reply.codes(), vec!["BAD_USER_INPUT"]);
    assert_eq!(reply.errors()[0]["extensions"]["field"], "input");
    assert_eq!(app.count("traffic").await, 0);
}

#[tokio::test]
async fn rows_may_reference_earlier_rows_of_the_batch_but_not_later_ones() {
    let app = with_accounts().await;
    // A renewal after the subscription it renews, in one batch.
    let renewed = subscription("S-OLD", "100", "2025-01-01", Some("2026-01-01"));
    let mut renewal = subscription("S-NEW", "120", "2026-01-01", None);
    renewal["renewsExternalId"] = json!("S-OLD");
    assert_eq!(
        app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &[renewed.clone(), renewal.clone()])
            .await,
        (2, 0, 0)
    );
    let reply = app
        .gql(
            ADMIN,
            r#"{ account(externalId: "ACC-00001") { subscriptions { externalId renewsExternalId } } }"#,
            json!({}),
        )
        .await;
    let subs = reply.data()["account"]["subscriptions"].as_array().cloned().unwrap_or_default();
    assert!(subs.contains(&json!({ "externalId": "S-NEW", "renewsExternalId": "S-OLD" })), "{subs:?}");

    // The reverse order: the renewal names a subscription that only a later row creates.
    let mut early = subscription("S-B", "1", "2026-01-01", None);
    early["renewsExternalId"] = json!("S-A");
    let reply = app
        .ingest(
            INTEGRATION,
            "upsertSubscriptions",
            "SubscriptionInput",
            &[early, subscription("S-A", "1", "2025-01-01", None)],
        )
        .await;
    assert_eq!(reply.errors().len(), 1);
    assert_eq!(reply.errors()[0]["extensions"]["row"], 0);
    assert_eq!(reply.errors()[0]["extensions"]["field"], "renewsExternalId");

    // Accounts: a referrer earlier in the batch works, a later one does not.
    let referrer = json!({ "externalId": "ACC-R1", "name": "Referrer" });
    let referred = json!({ "externalId": "ACC-R2", "name": "Referred", "referredByExternalId": "ACC-R1" });
    let reply = app.ingest(INTEGRATION, "upsertAccounts", "AccountInput", &[referred.clone(), referrer.clone()]).await;
    assert_eq!(reply.errors()[0]["extensions"]["row"], 0, "{}", reply.body);
    assert_eq!(app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &[referrer, referred]).await, (2, 0, 0));
}

#[tokio::test]
async fn new_content_updates_and_is_audited_with_before_and_after() {
    let app = with_accounts().await;
    app.ingest_ok(
        INTEGRATION,
        "upsertSubscriptions",
        "SubscriptionInput",
        &[subscription("S-1", "100.5", "2026-01-01", None)],
    )
    .await;
    let changed = subscription("S-1", "250.25", "2026-01-01", None);
    assert_eq!(
        app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", std::slice::from_ref(&changed)).await,
        (0, 1, 0)
    );
    assert_eq!(app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &[changed]).await, (0, 0, 1));

    let rows = <entity::audit_log::Entity as sea_orm::EntityTrait>::find()
        .order_by_asc(entity::audit_log::Column::Id)
        .all(&app.db)
        .await
        .expect("audit rows");
    let update = rows.iter().rfind(|r| r.entity == "subscriptions").expect("an audit row for the subscription");
    assert_eq!(
        (update.action.as_str(), update.record_key.as_str(), update.actor_email.as_str()),
        ("upsertSubscriptions", "S-1", INTEGRATION)
    );
    let before: Value = serde_json::from_str(update.before.as_deref().unwrap_or("null")).expect("before");
    let after: Value = serde_json::from_str(update.after.as_deref().unwrap_or("null")).expect("after");
    assert_eq!((before["mrr"].as_str(), after["mrr"].as_str()), (Some("100.5"), Some("250.25")));
    let audited: Vec<_> = rows.iter().filter(|r| r.entity == "subscriptions").collect();
    assert_eq!(audited.len(), 2, "the creation, then the update; the replay audits nothing");
    assert_eq!(audited[0].before, None, "a new record has nothing before");
    assert!(audited[0].after.as_deref().is_some_and(|a| a.contains("100.5")));
    assert!(audited[0].actor_id.is_some() && audited[0].actor_id == update.actor_id);
}

#[tokio::test]
async fn money_is_exact_to_the_last_place() {
    let app = with_accounts().await;
    let subs = [
        subscription("S-1", "0.1", "2026-01-01", None),
        subscription("S-2", "0.2", "2026-01-01", None),
        subscription("S-3", "999999999999999.9999", "2026-01-01", None),
        subscription("S-4", "12.3456", "2026-01-01", None),
    ];
    app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &subs).await;
    let reply = app
        .gql(
            ADMIN,
            r#"{ account(externalId: "ACC-00001") { mrr(on: "2026-06-01") subscriptions { externalId mrr } } }"#,
            json!({}),
        )
        .await;
    let account = &reply.data()["account"];
    assert_eq!(account["mrr"], "1000000000000012.6455");
    let mrrs: Vec<&str> =
        account["subscriptions"].as_array().into_iter().flatten().filter_map(|s| s["mrr"].as_str()).collect();
    assert_eq!(mrrs, vec!["0.10", "0.20", "999999999999999.9999", "12.3456"]);
}

#[tokio::test]
async fn writers_are_limited_by_role() {
    let app = with_accounts().await;
    let cost = json!({ "externalId": "C-1", "month": "2026-03-15", "category": "CS_TOOLS", "amount": "1200.50" });
    assert_eq!(app.ingest_ok("finance@acme.example", "recordCosts", "CostInput", &[cost]).await, (1, 0, 0));
    for (email, mutation, input_type, row) in [
        ("finance@acme.example", "upsertAccounts", "AccountInput", json!({ "externalId": "ACC-X", "name": "X" })),
        (
            "csm01@acme.example",
            "recordTickets",
            "TicketInput",
            json!({ "externalId": "T-1", "accountExternalId": "ACC-00001", "openedAt": "2026-03-01T10:00:00Z" }),
        ),
        (
            "manager1@acme.example",
            "upsertUsers",
            "UserInput",
            json!({ "email": "x@acme.example", "name": "X", "role": "CSM" }),
        ),
        (
            "csm01@acme.example",
            "recordCosts",
            "CostInput",
            json!({ "externalId": "C-2", "month": "2026-03-15", "category": "CS_TOOLS", "amount": "1" }),
        ),
    ] {
        let reply = app.ingest(email, mutation, input_type, &[row]).await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"], "{email} {mutation}: {}", reply.body);
    }
}

#[tokio::test]
async fn an_integration_never_creates_changes_or_demotes_an_admin() {
    let app = TestApp::with_operators().await;
    let admin = json!({ "email": ADMIN, "name": "Alex Admin", "role": "ADMIN" });
    let csm = json!({ "email": "new@acme.example", "name": "New", "role": "CSM" });
    // Replaying the admin unchanged is fine.
    assert_eq!(app.ingest_ok(INTEGRATION, "upsertUsers", "UserInput", std::slice::from_ref(&admin)).await, (0, 0, 1));
    for forbidden in [
        json!({ "email": "root@acme.example", "name": "Root", "role": "ADMIN" }),
        json!({ "email": ADMIN, "name": "Renamed", "role": "ADMIN" }),
        json!({ "email": ADMIN, "name": "Alex Admin", "role": "FINANCE" }),
    ] {
        let reply = app.ingest(INTEGRATION, "upsertUsers", "UserInput", &[csm.clone(), forbidden.clone()]).await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"], "{forbidden}: {}", reply.body);
    }
    assert_eq!(app.count("users").await, 2, "the whole batch was refused");
    // An ADMIN may.
    assert_eq!(
        app.ingest_ok(
            ADMIN,
            "upsertUsers",
            "UserInput",
            &[json!({ "email": "root@acme.example", "name": "Root", "role": "ADMIN" })]
        )
        .await,
        (1, 0, 0)
    );
    app.user("ops@acme.example", Role::Admin, None).await;
    assert_eq!(app.count("users").await, 4);
}

#[tokio::test]
async fn a_large_batch_repeating_and_referring_to_its_own_rows_is_written_exactly() {
    let app = TestApp::with_operators().await;
    app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &[json!({ "externalId": "ACC-1", "name": "One" })])
        .await;
    // 1,200 subscriptions: more than one multi-row INSERT. Row 1,100 renews row 3 (written by
    // then); row 1,150 repeats row 1,120's externalId (not written yet) with another MRR; row
    // 1,199 repeats row 0's.
    let mut batch: Vec<Value> = (0..1200)
        .map(|i| json!({ "externalId": format!("S-{i}"), "accountExternalId": "ACC-1", "mrr": format!("{i}.25"), "startDate": "2026-01-01" }))
        .collect();
    batch[1100]["renewsExternalId"] = json!("S-3");
    batch[1150]["externalId"] = json!("S-1120");
    batch[1150]["mrr"] = json!("7.5");
    batch[1199]["externalId"] = json!("S-0");
    batch[1199]["mrr"] = json!("1.75");
    let audited = app.count("audit_log").await;
    assert_eq!(app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &batch).await, (1198, 2, 0));
    assert_eq!(app.count("subscriptions").await, 1198);
    assert_eq!(app.count("audit_log").await - audited, 1200, "one audit row per accepted change");

    let reply = app
        .gql(
            ADMIN,
            r#"{ account(externalId: "ACC-1") { subscriptions { externalId mrr renewsExternalId } } }"#,
            json!({}),
        )
        .await;
    let stored = reply.data()["account"]["subscriptions"].as_array().cloned().unwrap_or_default();
    let find = |id: &str| stored.iter().find(|s| s["externalId"] == id).cloned().unwrap_or_default();
    assert_eq!(find("S-0")["mrr"], "1.75");
    assert_eq!(find("S-1120")["mrr"], "7.50");
    assert_eq!(find("S-1100")["renewsExternalId"], "S-3");
    assert_eq!(find("S-999")["mrr"], "999.25");
    // New records after the batch get fresh ids: nothing collides with the reserved ones.
    let next = app
        .ingest_ok(
            INTEGRATION,
            "upsertSubscriptions",
            "SubscriptionInput",
            &[json!({ "externalId": "S-NEXT", "accountExternalId": "ACC-1", "mrr": "1", "startDate": "2026-02-01" })],
        )
        .await;
    assert_eq!(next, (1, 0, 0));
    // A replay applies the rows in order again: each repeated externalId changes twice (to its
    // first row's MRR and back), everything else is unchanged.
    assert_eq!(app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &batch).await, (0, 4, 1196));
}

/// `ingest`: several kinds in one batch, written in dependency order, counted per kind; one
/// bad row of any kind and nothing of any kind is written.
#[tokio::test]
async fn one_ingest_writes_several_kinds_as_one_batch() {
    let app = with_accounts().await;
    let audited = app.count("audit_log").await;
    let account = json!({ "externalId": "ACC-NEW", "name": "New Co", "csmEmail": "csm01@acme.example" });
    let ticket = json!({ "externalId": "T-NEW", "accountExternalId": "ACC-NEW", "openedAt": "2026-03-01T10:00:00Z" });
    let bad_ticket = merged(ticket.clone(), json!({ "externalId": "T-BAD", "resolvedAt": "2026-02-01T10:00:00Z" }));
    let mut sub = subscription("S-NEW", "250.00", "2026-01-01", None);
    sub["accountExternalId"] = json!("ACC-NEW");

    // The account, its subscription and its tickets are written in that order whatever the
    // input's order, so the records may name the account of the same call; a bad ticket
    // refuses them all, and its error names its list.
    let input = json!({ "tickets": [ticket, bad_ticket], "subscriptions": [sub], "accounts": [account] });
    let reply = app.ingest_kinds(INTEGRATION, &input).await;
    let errors = reply.errors();
    assert_eq!(errors.len(), 1, "{}", reply.body);
    assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(errors[0]["extensions"]["field"], "tickets.resolvedAt");
    assert_eq!(errors[0]["extensions"]["row"], 1);
    for table in ["subscriptions", "tickets"] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }
    assert_eq!(app.count("audit_log").await, audited, "nothing was written");

    let input = json!({ "tickets": [input["tickets"][0]], "subscriptions": input["subscriptions"], "accounts": input["accounts"] });
    let reply = app.ingest_kinds(INTEGRATION, &input).await;
    let result = &reply.data()["ingest"];
    let counts = |kind: &str| result[kind].clone();
    assert_eq!(counts("accounts"), json!({ "created": 1, "updated": 0, "unchanged": 0 }), "{}", reply.body);
    assert_eq!(counts("subscriptions"), json!({ "created": 1, "updated": 0, "unchanged": 0 }));
    assert_eq!(counts("tickets"), json!({ "created": 1, "updated": 0, "unchanged": 0 }));
    assert_eq!(counts("total"), json!({ "created": 3, "updated": 0, "unchanged": 0 }));
    assert!(counts("usage").is_null() && counts("teams").is_null(), "kinds not sent are null");
    assert_eq!(app.count("audit_log").await, audited + 3, "one audit row per change");
    let newest = <entity::audit_log::Entity as sea_orm::EntityTrait>::find()
        .order_by_desc(entity::audit_log::Column::Id)
        .limit(3)
        .all(&app.db)
        .await
        .expect("audit rows");
    let logged: Vec<(&str, &str, &str, bool)> = newest
        .iter()
        .rev()
        .map(|r| (r.action.as_str(), r.entity.as_str(), r.record_key.as_str(), r.before.is_none()))
        .collect();
    assert_eq!(
        logged,
        [
            ("ingest", "accounts", "ACC-NEW", true),
            ("ingest", "subscriptions", "S-NEW", true),
            ("ingest", "tickets", "T-NEW", true)
        ],
        "audited in the order written"
    );
    // The account is active with the subscription's MRR, as if each kind had come alone.
    let page = r#"{ accounts(filter: { search: "New Co" }) { edges { node { externalId mrr } } } }"#;
    let reply = app.gql(ADMIN, page, json!({})).await;
    let nodes = &reply.data()["accounts"]["edges"];
    assert_eq!(nodes, &json!([{ "node": { "externalId": "ACC-NEW", "mrr": "250.00" } }]), "{}", reply.body);

    let reply = app.ingest_kinds(INTEGRATION, &input).await;
    assert_eq!(reply.data()["ingest"]["total"], json!({ "created": 0, "updated": 0, "unchanged": 3 }));
}

/// The caller of `ingest` needs, for each kind it sends, a role of that kind's own mutation; the
/// row limit counts the rows of every kind.
#[tokio::test]
async fn ingest_checks_the_role_of_every_kind_and_counts_every_row() {
    let app = with_accounts().await;
    let csm = "csm01@acme.example";
    let own = rows("accounts.json").into_iter().find(|a| a["csmEmail"] == csm).expect("an account of csm01");
    let response = json!({ "externalId": "F-NEW", "accountExternalId": own["externalId"], "kind": "NPS", "score": 9, "respondedAt": "2026-03-01T10:00:00Z" });
    let ticket =
        json!({ "externalId": "T-NEW", "accountExternalId": own["externalId"], "openedAt": "2026-03-01T10:00:00Z" });

    // A CSM records feedback for their own account, but may not push tickets: the whole call is
    // refused, the feedback too.
    let reply = app.ingest_kinds(csm, &json!({ "feedback": [response.clone()], "tickets": [ticket] })).await;
    assert_eq!(reply.codes(), ["FORBIDDEN"], "{}", reply.body);
    assert!(reply.errors()[0]["message"].as_str().is_some_and(|m| m.contains("recordTickets")), "{}", reply.body);
    assert_eq!(app.count("feedback").await, 0);
    let reply = app.ingest_kinds(csm, &json!({ "feedback": [response] })).await;
    assert_eq!(reply.data()["ingest"]["feedback"]["created"], 1, "{}", reply.body);

    // FINANCE may record costs, through `ingest` as through `recordCosts`.
    let cost = json!({ "externalId": "C-NEW", "month": "2026-03-01", "category": "CS_TOOLS", "amount": "10.00" });
    let reply = app.ingest_kinds("finance@acme.example", &json!({ "costs": [cost] })).await;
    assert_eq!(reply.data()["ingest"]["costs"]["created"], 1, "{}", reply.body);

    // 2,501 usage records and 2,500 touchpoints: each list is within the limit, not their sum.
    let day =
        |n: u64| chrono::NaiveDate::from_ymd_opt(2020, 1, 1).and_then(|d| d.checked_add_days(chrono::Days::new(n)));
    let usage: Vec<Value> = (0..2_501)
        .map(
            |n| json!({ "accountExternalId": own["externalId"], "date": day(n), "activeUsers": 1, "licensedSeats": 2 }),
        )
        .collect();
    let touchpoints: Vec<Value> = (0..2_500)
        .map(|n| json!({ "externalId": format!("P-{n}"), "accountExternalId": own["externalId"], "kind": "CALL", "occurredAt": "2026-03-01T10:00:00Z" }))
        .collect();
    let reply = app.ingest_kinds(INTEGRATION, &json!({ "usage": usage, "touchpoints": touchpoints })).await;
    assert_eq!(reply.codes(), ["BAD_USER_INPUT"], "5,001 rows in all are refused: {}", reply.body);
    assert_eq!(app.count("usage_records").await + app.count("touchpoints").await, 0);
}
