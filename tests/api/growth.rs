//! Section 8 (engagement depth and the product-led funnel) on hand-made edge cases.
use serde_json::{Value, json};

use crate::helpers::{ADMIN, INTEGRATION, TestApp};

const FIELDS: &str = "periodStart signups activationRate trialConversionRate visitorConversionRate featureAdoptionRate loginsPerActiveUser averageSessionMinutes";

async fn month(app: &TestApp, from: &str) -> Value {
    let query = format!("query($p: PeriodInput!) {{ kpis(period: $p) {{ {FIELDS} }} }}");
    app.gql(ADMIN, &query, json!({ "p": { "from": from, "to": from } })).await.data()["kpis"][0].clone()
}

#[tokio::test]
async fn funnel_and_depth_edge_cases() {
    let app = TestApp::with_operators().await;
    let account = |id: &str, signed: &str, activated: Option<&str>| json!({ "externalId": id, "name": id, "signedUpOn": signed, "activatedOn": activated });
    let accounts = [
        account("G1", "2026-03-01", Some("2026-03-31")), // activated after exactly 30 days
        account("G2", "2026-03-01", Some("2026-04-01")), // after 31 days
        account("G3", "2026-03-10", Some("2026-03-05")), // before signing up: a negative gap counts
        account("G4", "2026-03-02", None),               // paid after exactly 90 days
        account("G5", "2026-03-02", None),               // paid after 91 days
        account("G6", "2026-03-02", None),               // only a free subscription
    ];
    app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &accounts).await;
    let sub = |id: &str, account: &str, mrr: &str, start: &str| json!({ "externalId": id, "accountExternalId": account, "mrr": mrr, "startDate": start });
    let subscriptions =
        [sub("S4", "G4", "10", "2026-05-31"), sub("S5", "G5", "10", "2026-06-01"), sub("S6", "G6", "0", "2026-03-05")];
    app.ingest_ok(INTEGRATION, "upsertSubscriptions", "SubscriptionInput", &subscriptions).await;
    let traffic = [json!({ "month": "2026-02-10", "visitors": 50 }), json!({ "month": "2026-03-01", "visitors": 0 })];
    app.ingest_ok(INTEGRATION, "recordTraffic", "TrafficInput", &traffic).await;
    let usage = [
        json!({ "accountExternalId": "G4", "date": "2026-06-20", "activeUsers": 4, "licensedSeats": 10, "logins": 8, "featuresUsed": 5, "featuresAvailable": 10 }),
        // Later, but without feature counts or logins: left out of those KPIs.
        json!({ "accountExternalId": "G4", "date": "2026-06-25", "activeUsers": 2, "licensedSeats": 10 }),
    ];
    app.ingest_ok(INTEGRATION, "recordUsage", "UsageInput", &usage).await;

    let march = month(&app, "2026-03-01").await;
    assert_eq!(march["signups"], 6);
    assert_eq!(march["activationRate"].as_f64(), Some(2.0 / 6.0), "G1 and G3");
    assert_eq!(march["trialConversionRate"].as_f64(), Some(1.0 / 6.0), "G4 only");
    assert!(march["visitorConversionRate"].is_null(), "a month with zero visitors: {march}");
    let february = month(&app, "2026-02-01").await;
    assert_eq!((february["signups"].as_i64(), february["visitorConversionRate"].as_f64()), (Some(0), Some(0.0)));
    let june = month(&app, "2026-06-01").await;
    assert_eq!(june["featureAdoptionRate"].as_f64(), Some(0.5));
    assert_eq!(june["loginsPerActiveUser"].as_f64(), Some(2.0));
    assert!(june["averageSessionMinutes"].is_null());
}
