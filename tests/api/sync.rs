//! CRM sync (PRODUCT.md, "Deleting and merging"): `deleteRecords` and `mergeAccounts` over HTTP
//! with real tokens. After deletes and merges every figure equals that of a company loaded
//! from scratch with the resulting data; references are cleared, externalIds freed, comments
//! erased, aliases followed; roles, visibility and bad rows are refused at the row with
//! nothing written; overlapping merges and pushes end as if one ran after the other.
use std::sync::Arc;

use serde_json::{Value, json};

use crate::helpers::{ADMIN, INTEGRATION, TestApp};

const CSM: &str = "csm10@acme.example";
const FINANCE: &str = "finance@acme.example";

const DELETE: &str = "mutation($input: [DeleteInput!]!) { deleteRecords(input: $input) { deleted missing cascaded } }";
const MERGE: &str = "mutation($input: [MergeInput!]!) { mergeAccounts(input: $input) { merged recordsMoved } }";

/// Every figure a dashboard shows for the sample's last two years, without ids (which differ
/// between two databases).
pub(crate) async fn figures(app: &TestApp) -> Value {
    let query = "{ kpis(period: { from: \"2024-11-01\", to: \"2026-10-31\" }, groupBy: CSM) { \
        periodStart group mrr activeCustomers newMrr expansionMrr contractionMrr churnedMrr reactivationMrr \
        netNewMrr newCustomers churnedCustomers logoChurnRate netRevenueRetention grossRevenueRetention \
        netRevenueRetentionTtm renewalRate renewalDollarRate arpa ltv nps csat ces ticketsOpened \
        firstContactResolutionRate medianFirstResponseHours medianResolutionHours medianTimeToFirstValueDays \
        onboardingCompletionRate seatUtilization engagementRate executiveRelationships referrals \
        averageHealthScore loginsPerActiveUser averageSessionMinutes featureAdoptionRate advocacyActivities \
        advocates featureRequestsOpened featureRequestsShipped signups activationRate dataCompleteness } \
        mrrMovements(period: { from: \"2024-11-01\", to: \"2026-10-31\" }) { account { externalId } month kind amount } \
        csmScorecards(period: { from: \"2026-07-01\", to: \"2026-09-30\", granularity: QUARTER }) { \
        csm { email } accounts bookMrr nps csat touchpoints averageHealthScore dataCompleteness attainment } \
        featureRequests(period: { from: \"2024-11-01\", to: \"2026-10-31\" }, first: 100) { title accounts mrrAtStake } \
        cohorts(from: \"2024-01-01\", to: \"2025-10-31\", metric: NET_MRR, months: 12) { cohort size startMrr retention } \
        accounts(first: 500) { totalCount edges { node { externalId mrr(on: \"2026-10-31\") \
        health(on: \"2026-10-31\") { score status } } } } }";
    app.gql(ADMIN, query, json!({})).await.data().clone()
}

async fn delete(app: &TestApp, email: &str, rows: Value) -> crate::helpers::Reply {
    app.gql(email, DELETE, json!({ "input": rows })).await
}

fn of_account(rows: &[Value], account: &str) -> usize {
    rows.iter().filter(|r| r["accountExternalId"] == account).count()
}

#[tokio::test]
async fn deletes_leave_every_figure_as_a_load_without_those_records() {
    let app = TestApp::with_sample().await;
    let subscriptions = crate::helpers::rows("subscriptions.json");
    // A subscription that another renews, a survey response, a usage record, and an account
    // that referred another, with everything of it.
    let renewed = subscriptions.iter().find_map(|s| s["renewsExternalId"].as_str()).unwrap().to_owned();
    let renewal = subscriptions.iter().find(|s| s["renewsExternalId"] == renewed.as_str()).unwrap().clone();
    let accounts = crate::helpers::rows("accounts.json");
    let referrer = accounts.iter().find_map(|a| a["referredByExternalId"].as_str()).unwrap().to_owned();
    let feedback = crate::helpers::rows("feedback.json");
    let response = feedback.iter().find(|f| f["accountExternalId"] != referrer.as_str()).unwrap().clone();
    let usage = crate::helpers::rows("usage.json");
    let day = usage.iter().find(|u| u["accountExternalId"] != referrer.as_str()).unwrap().clone();
    let cascaded: usize = crate::helpers::SAMPLE_RECORDS
        .iter()
        .map(|(file, ..)| of_account(&crate::helpers::rows(file), &referrer))
        .sum();
    assert!(cascaded > 0, "the account has records");

    let rows = json!([
        { "kind": "SUBSCRIPTION", "externalId": renewed },
        { "kind": "FEEDBACK", "externalId": response["externalId"] },
        { "kind": "USAGE", "accountExternalId": day["accountExternalId"], "date": day["date"] },
        { "kind": "ACCOUNT", "externalId": referrer },
        { "kind": "FEEDBACK", "externalId": response["externalId"] },
        { "kind": "TRAFFIC", "date": "1999-01-15" },
        { "kind": "EXCHANGE_RATE", "currency": "EUR", "date": "2026-01-01" },
    ]);
    let reply = delete(&app, INTEGRATION, rows.clone()).await;
    let counts = &reply.data()["deleteRecords"];
    let cascaded_subscription = usize::from(renewed_of(&subscriptions, &renewed) == referrer);
    assert_eq!(
        (counts["deleted"].as_i64(), counts["missing"].as_i64(), counts["cascaded"].as_i64()),
        (Some(4), Some(3), Some((cascaded - cascaded_subscription) as i64)),
        "applied in order: the second delete of the response finds nothing"
    );
    let again = delete(&app, INTEGRATION, rows).await;
    assert_eq!(again.data()["deleteRecords"]["missing"], 7, "a retried delete is safe");

    // The same company loaded from scratch without those records (and the references to them).
    let fresh = TestApp::with_operators().await;
    fresh
        .load_sample_edited(|file, rows| {
            rows.into_iter()
                .filter(|r| match file {
                    "accounts.json" => r["externalId"] != referrer.as_str(),
                    "subscriptions.json" => r["externalId"] != renewed.as_str(),
                    "feedback.json" => r["externalId"] != response["externalId"],
                    "usage.json" => (&r["accountExternalId"], &r["date"]) != (&day["accountExternalId"], &day["date"]),
                    _ => true,
                })
                .filter(|r| r["accountExternalId"] != referrer.as_str())
                .map(|mut r| {
                    if r["referredByExternalId"] == referrer.as_str() {
                        r["referredByExternalId"] = Value::Null;
                    }
                    let renews = r["renewsExternalId"].as_str().unwrap_or_default();
                    if renews == renewed || renewed_of(&subscriptions, renews) == referrer {
                        r["renewsExternalId"] = Value::Null;
                    }
                    r
                })
                .collect()
        })
        .await;
    assert_eq!(figures(&app).await, figures(&fresh).await, "the figures of a load without the deleted records");

    let query = "query($e: String!) { account(externalId: $e) { subscriptions { externalId renewsExternalId } } }";
    let renewing = app.gql(ADMIN, query, json!({ "e": renewal["accountExternalId"] })).await;
    let subs = renewing.data()["account"]["subscriptions"].as_array().cloned().unwrap_or_default();
    let cleared = subs.iter().find(|s| s["externalId"] == renewal["externalId"]);
    if let Some(cleared) = cleared {
        assert!(cleared["renewsExternalId"].is_null(), "the renewal of a deleted subscription renews nothing");
    }
    let gone = app.gql(ADMIN, query, json!({ "e": referrer })).await;
    assert_eq!(gone.codes(), ["NOT_FOUND"]);
    let audited = app.count("audit_log").await;
    assert!(audited > 0);

    // A freed externalId creates a new record.
    let back = json!({ "externalId": referrer, "name": "Back again" });
    assert_eq!(app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &[back]).await, (1, 0, 0));
}

/// The account of subscription `external_id` (empty when there is none).
fn renewed_of(subscriptions: &[Value], external_id: &str) -> String {
    let s = subscriptions.iter().find(|s| s["externalId"] == external_id);
    s.and_then(|s| s["accountExternalId"].as_str()).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_deleted_comment_is_erased_from_the_audit_log() {
    let app = TestApp::with_sample().await;
    let account = crate::helpers::rows("accounts.json")[0]["externalId"].clone();
    let secret = "the CFO is leaving in March";
    for (id, score) in [("FB-ERASE-1", 3), ("FB-ERASE-1", 4), ("FB-ERASE-2", 5)] {
        let row = json!({ "externalId": id, "accountExternalId": account, "kind": "NPS", "score": score,
            "comment": secret, "respondedAt": "2026-05-01T10:00:00Z" });
        app.ingest_ok(INTEGRATION, "recordFeedback", "FeedbackInput", &[row]).await;
    }
    let copies = || async {
        let sql =
            format!("SELECT COUNT(*) AS n FROM audit_log WHERE before LIKE '%{secret}%' OR after LIKE '%{secret}%'");
        let rows = crate::ledger::by_definition(&app, &sql, Vec::new()).await;
        rows[0].try_get::<i64>("", "n").unwrap()
    };
    assert_eq!(copies().await, 3, "created, updated, created");
    let reply = delete(&app, INTEGRATION, json!([{ "kind": "FEEDBACK", "externalId": "FB-ERASE-1" }])).await;
    assert_eq!(reply.data()["deleteRecords"]["deleted"], 1);
    assert_eq!(copies().await, 1, "only the response still stored keeps its comment in the log");
    let erased = "SELECT COUNT(*) AS n FROM audit_log WHERE record_key = 'FB-ERASE-1' AND \
        (before LIKE '%[erased]%' OR after LIKE '%[erased]%')";
    let rows = crate::ledger::by_definition(&app, erased, Vec::new()).await;
    assert_eq!(rows[0].try_get::<i64>("", "n").unwrap(), 3, "both writes and the delete itself");
    // Deleting the account erases the comments of its responses too.
    delete(&app, INTEGRATION, json!([{ "kind": "ACCOUNT", "externalId": account }])).await.data();
    assert_eq!(copies().await, 0);
}

#[tokio::test]
async fn roles_visibility_and_bad_rows_are_refused_and_write_nothing() {
    let app = TestApp::with_sample().await;
    let feedback = crate::helpers::rows("feedback.json");
    let books = crate::ledger::by_definition(
        &app,
        "SELECT a.external_id AS account, u.email AS csm FROM accounts a JOIN users u ON u.id = a.csm_id",
        Vec::new(),
    )
    .await;
    let csm_of = |account: &Value| {
        books.iter().find_map(|r| {
            (r.try_get::<String>("", "account").ok()? == account.as_str()?)
                .then(|| r.try_get::<String>("", "csm").ok())?
        })
    };
    let own = feedback.iter().find(|f| csm_of(&f["accountExternalId"]).as_deref() == Some(CSM)).unwrap();
    let other = feedback.iter().find(|f| csm_of(&f["accountExternalId"]).is_some_and(|c| c != CSM)).unwrap();

    let refused = delete(
        &app,
        CSM,
        json!([{ "kind": "FEEDBACK", "externalId": own["externalId"] }, { "kind": "FEEDBACK", "externalId": other["externalId"] }]),
    )
    .await;
    assert_eq!(refused.codes(), ["NOT_FOUND"], "{}", refused.body);
    assert_eq!(refused.errors()[0]["extensions"]["row"], 1);
    let stored = |id: &Value| {
        let id = id.as_str().unwrap().to_owned();
        let app = &app;
        async move {
            let sql = "SELECT COUNT(*) AS n FROM feedback WHERE external_id = ?";
            crate::ledger::by_definition(app, sql, vec![id.into()]).await[0].try_get::<i64>("", "n").unwrap()
        }
    };
    assert_eq!(stored(&own["externalId"]).await, 1, "the batch wrote nothing");
    let mine = delete(&app, CSM, json!([{ "kind": "FEEDBACK", "externalId": own["externalId"] }])).await;
    assert_eq!(mine.data()["deleteRecords"]["deleted"], 1, "a CSM deletes in their book");

    let forbidden = delete(&app, CSM, json!([{ "kind": "ACCOUNT", "externalId": "ACC-00001" }])).await;
    assert_eq!(forbidden.codes(), ["FORBIDDEN"]);
    let cost = crate::helpers::rows("costs.json")[0]["externalId"].clone();
    let finance = delete(&app, FINANCE, json!([{ "kind": "COST", "externalId": cost }])).await;
    assert_eq!(finance.data()["deleteRecords"]["deleted"], 1, "FINANCE writes costs, so deletes them");

    let bad = json!([
        { "kind": "TICKET", "externalId": "T-1", "date": "2026-01-01" },
        { "kind": "USAGE", "accountExternalId": "ACC-00001" },
        { "kind": "SUBSCRIPTION" },
        { "kind": "EXCHANGE_RATE", "currency": "euro", "date": "2026-01-01" },
        { "kind": "ACCOUNT", "externalId": "  " },
        { "kind": "FEEDBACK", "externalId": other["externalId"] },
    ]);
    let reply = delete(&app, INTEGRATION, bad).await;
    let errors = reply.errors();
    let mut at: Vec<(Value, Value)> =
        errors.iter().map(|e| (e["extensions"]["row"].clone(), e["extensions"]["field"].clone())).collect();
    at.sort_by_key(|(row, _)| row.as_i64());
    assert_eq!(
        at,
        [
            (json!(0), json!("date")),
            (json!(1), json!("date")),
            (json!(2), json!("externalId")),
            (json!(3), json!("currency")),
            (json!(4), json!("externalId")),
        ],
        "{errors:?}"
    );
    assert!(errors.iter().all(|e| e["extensions"]["code"] == "BAD_USER_INPUT"));
    assert_eq!(stored(&other["externalId"]).await, 1, "the good row of a refused batch wrote nothing");
}

#[tokio::test]
async fn a_merge_moves_everything_and_leaves_an_alias_that_later_writes_follow() {
    let app = TestApp::with_sample().await;
    let accounts = crate::helpers::rows("accounts.json");
    let usage = crate::helpers::rows("usage.json");
    let subscriptions = crate::helpers::rows("subscriptions.json");
    // Two accounts that both have subscriptions and usage: `from` moves into `into`.
    // (`from` refers nobody, so that the load from scratch needs no other order of accounts;
    // the ledger's property test merges referrers.)
    let referrers: Vec<Value> = accounts.iter().map(|a| a["referredByExternalId"].clone()).collect();
    let with = |a: &Value| {
        let id = a.as_str().unwrap();
        of_account(&subscriptions, id) > 0 && of_account(&usage, id) > 0 && !referrers.contains(a)
    };
    let mut candidates = accounts.iter().map(|a| a["externalId"].clone()).filter(with);
    let (into, from) = (candidates.next().unwrap(), candidates.next().unwrap());
    let (into, from) = (into.as_str().unwrap().to_owned(), from.as_str().unwrap().to_owned());
    let days_of = |account: &str| -> Vec<Value> {
        usage.iter().filter(|u| u["accountExternalId"] == account).map(|u| u["date"].clone()).collect()
    };
    let collisions = days_of(&from).iter().filter(|d| days_of(&into).contains(d)).count();
    let moved: usize =
        crate::helpers::SAMPLE_RECORDS.iter().map(|(file, ..)| of_account(&crate::helpers::rows(file), &from)).sum();

    let reply =
        app.gql(INTEGRATION, MERGE, json!({ "input": [{ "intoExternalId": into, "fromExternalId": from }] })).await;
    assert_eq!(reply.data()["mergeAccounts"], json!({ "merged": 1, "recordsMoved": moved - collisions }));

    // The same company loaded with `from`'s records under `into` from the start.
    let fresh = TestApp::with_operators().await;
    let (into_key, from_key) = (into.clone(), from.clone());
    fresh
        .load_sample_edited(move |file, rows| {
            let into_days: Vec<Value> = rows
                .iter()
                .filter(|r| file == "usage.json" && r["accountExternalId"] == into_key.as_str())
                .map(|r| r["date"].clone())
                .collect();
            rows.into_iter()
                .filter(|r| !(file == "accounts.json" && r["externalId"] == from_key.as_str()))
                .filter(|r| !(r["accountExternalId"] == from_key.as_str() && into_days.contains(&r["date"])))
                .map(|mut r| {
                    if r["accountExternalId"] == from_key.as_str() {
                        r["accountExternalId"] = json!(into_key);
                    }
                    if r["referredByExternalId"] == from_key.as_str() {
                        r["referredByExternalId"] =
                            if r["externalId"] == into_key.as_str() { Value::Null } else { json!(into_key) };
                    }
                    r
                })
                .collect()
        })
        .await;
    assert_eq!(figures(&app).await, figures(&fresh).await, "the figures of a load with the records under `into`");

    // The alias: read, written through, refused as an account of its own, refused as `from`.
    let query = "query($e: String!) { account(externalId: $e) { externalId } }";
    assert_eq!(app.gql(ADMIN, query, json!({ "e": from })).await.data()["account"]["externalId"], into.as_str());
    let later = json!({ "externalId": "SUB-AFTER-MERGE", "accountExternalId": from, "mrr": "10.00", "startDate": "2026-01-01" });
    assert_eq!(app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &[later]).await, (1, 0, 0));
    let owner = "SELECT a.external_id AS key FROM subscriptions s JOIN accounts a ON a.id = s.account_id WHERE s.external_id = 'SUB-AFTER-MERGE'";
    let rows = crate::ledger::by_definition(&app, owner, Vec::new()).await;
    assert_eq!(rows[0].try_get::<String>("", "key").unwrap(), into);
    let again = json!({ "externalId": from, "name": "Resurrected" });
    let refused = app.ingest(INTEGRATION, "upsertAccounts", "AccountInput", &[again]).await;
    assert_eq!(refused.codes(), ["BAD_USER_INPUT"]);
    assert!(refused.errors()[0]["message"].as_str().unwrap().contains(&into), "names the account: {}", refused.body);
    for (input, field) in [
        (json!({ "intoExternalId": into, "fromExternalId": from }), "fromExternalId"),
        (json!({ "intoExternalId": from, "fromExternalId": into }), "intoExternalId"),
        (json!({ "intoExternalId": into, "fromExternalId": "ACC-NOPE" }), "fromExternalId"),
        (json!({ "intoExternalId": "ACC-NOPE", "fromExternalId": into }), "intoExternalId"),
    ] {
        let reply = app.gql(INTEGRATION, MERGE, json!({ "input": [input] })).await;
        assert_eq!(reply.codes(), ["BAD_USER_INPUT"], "{input}");
        assert_eq!(reply.errors()[0]["extensions"]["field"], field, "{input}");
    }
    let forbidden = app.gql(CSM, MERGE, json!({ "input": [{ "intoExternalId": into, "fromExternalId": from }] })).await;
    assert_eq!(forbidden.codes(), ["FORBIDDEN"]);

    // A chain: `into` merged into a third account; `from` names that one now.
    let third = accounts.iter().map(|a| a["externalId"].as_str().unwrap()).find(|a| *a != into && *a != from).unwrap();
    let reply =
        app.gql(INTEGRATION, MERGE, json!({ "input": [{ "intoExternalId": third, "fromExternalId": into }] })).await;
    assert_eq!(reply.data()["mergeAccounts"]["merged"], 1);
    assert_eq!(app.gql(ADMIN, query, json!({ "e": from })).await.data()["account"]["externalId"], third);
    let delete_by_alias = delete(&app, INTEGRATION, json!([{ "kind": "ACCOUNT", "externalId": from }])).await;
    assert_eq!(delete_by_alias.data()["deleteRecords"]["deleted"], 1, "an alias deletes its account");
    assert_eq!(app.count("account_aliases").await, 0, "and every alias of it");
}

#[tokio::test]
async fn merges_and_pushes_at_once_end_as_if_one_ran_after_the_other() {
    let app = Arc::new(TestApp::with_sample().await);
    let accounts: Vec<String> =
        crate::helpers::rows("accounts.json").iter().map(|a| a["externalId"].as_str().unwrap().to_owned()).collect();
    for round in 0..4 {
        let (a, b) = (accounts[2 * round].clone(), accounts[2 * round + 1].clone());
        let mut tasks = tokio::task::JoinSet::new();
        for (into, from) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
            let app = app.clone();
            tasks.spawn(async move {
                app.gql(INTEGRATION, MERGE, json!({ "input": [{ "intoExternalId": into, "fromExternalId": from }] }))
                    .await
            });
        }
        for i in 0..3 {
            let app = app.clone();
            let row = json!({ "externalId": format!("FB-RACE-{round}-{i}"), "accountExternalId": b, "kind": "NPS",
                "score": 9, "respondedAt": "2026-06-01T10:00:00Z" });
            tasks.spawn(async move { app.ingest(INTEGRATION, "recordFeedback", "FeedbackInput", &[row]).await });
        }
        let replies = tasks.join_all().await;
        assert!(
            replies.iter().all(|r| !r.codes().contains(&"INTERNAL".to_owned())),
            "round {round}: {:?}",
            replies.iter().map(|r| &r.body).collect::<Vec<_>>()
        );
        let merged: i64 = replies.iter().filter_map(|r| r.body["data"]["mergeAccounts"]["merged"].as_i64()).sum();
        assert_eq!(merged, 1, "one of two merges into each other, the other finds an alias");
        let pushed = replies.iter().filter(|r| r.body["data"]["recordFeedback"]["created"] == 1).count();
        assert_eq!(pushed, 3, "round {round}: a push to either account lands, before the merge or through the alias");
        let sql =
            format!("SELECT COUNT(DISTINCT account_id) AS n FROM feedback WHERE external_id LIKE 'FB-RACE-{round}-%'");
        let owners = crate::ledger::by_definition(&app, &sql, Vec::new()).await;
        assert_eq!(owners[0].try_get::<i64>("", "n").unwrap(), 1, "every response on the account that remains");
    }
}
