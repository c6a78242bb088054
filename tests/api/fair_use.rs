//! Fair use: every answer reports its cost (`extensions.cost`, Shopify's shape) and the
//! `RateLimit-*` headers; a user over their budget of query cost or written rows gets 429
//! `RATE_LIMITED` with `Retry-After`, nothing runs or is written, and other users are not
//! touched; `--rate-limit off` charges nothing.
use cs_kpi::auth::budget::{Bucket, Budgets, RoleBudget};
use serde_json::json;

use crate::helpers::{ADMIN, INTEGRATION, TestApp};

const REPORT: &str = "{ kpis(period: { from: \"2026-01-01\", to: \"2026-03-31\" }) { mrr } }";

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

#[tokio::test]
async fn every_answer_reports_its_cost_and_its_bucket() {
    let app = TestApp::with_sample().await;
    let (status, headers, body) = app.ask(ADMIN, REPORT).await;
    assert_eq!(status, 200, "{body}");
    let cost = &body["extensions"]["cost"];
    let requested = cost["requested"].as_u64().expect("a cost");
    assert!(requested > 1_000, "a report costs its surcharge: {cost}");
    assert_eq!(cost["actual"], cost["requested"]);
    let status = &cost["throttleStatus"];
    assert_eq!(status["maximumAvailable"], 500_000);
    assert_eq!(status["restoreRate"], 100_000);
    let available = status["currentlyAvailable"].as_u64().expect("what is left");
    assert_eq!(cost["remaining"], available);
    assert!(available < 500_000 && available >= 500_000 - requested, "{cost}");
    assert_eq!(header(&headers, "ratelimit-limit"), Some(500_000));
    assert_eq!(header(&headers, "ratelimit-remaining"), Some(available));
    assert_eq!(header(&headers, "ratelimit-reset"), Some(1), "a second refills what one report took");
}

#[tokio::test]
async fn a_user_over_budget_is_refused_with_retry_after_and_nothing_runs() {
    let small =
        |_| RoleBudget { reads: Bucket { per_second: 1, burst: 3_000 }, rows: Bucket { per_second: 1, burst: 10 } };
    let app = TestApp::spawn_with_budgets(Some(Budgets::new(small))).await;
    app.user(ADMIN, cs_kpi::auth::Role::Admin, None).await;
    app.user(INTEGRATION, cs_kpi::auth::Role::Integration, None).await;
    app.user("other@acme.example", cs_kpi::auth::Role::Admin, None).await;

    // Reports until the bucket is short: each passes while it fits, then 429.
    let mut passed = 0;
    let refused = loop {
        let (status, headers, body) = app.ask(ADMIN, REPORT).await;
        if status != 200 {
            break (status, headers, body);
        }
        passed += 1;
        assert!(passed < 5, "a bucket of 3,000 points holds at most four reports");
    };
    assert!(passed >= 1);
    let (status, headers, body) = refused;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    let retry = header(&headers, "retry-after").expect("Retry-After");
    assert!(retry >= 1 && body["errors"][0]["extensions"]["retryAfter"] == retry, "{body}");
    assert!(body.get("data").is_none() || body["data"].is_null(), "nothing ran: {body}");
    let (status, ..) = app.ask("other@acme.example", REPORT).await;
    assert_eq!(status, 200, "another user's bucket is their own");
    let export = app
        .request(reqwest::Method::GET, "/export/kpis.csv?from=2026-01-01&to=2026-03-31")
        .bearer_auth(app.token(ADMIN))
        .send()
        .await
        .expect("request");
    assert_eq!(export.status().as_u16(), 429, "an export is charged as a request");
    assert!(export.headers().get("retry-after").is_some());

    // Rows: a batch that fits, then one that does not, which writes nothing.
    let teams = |names: &[&str]| names.iter().map(|n| json!({ "name": n })).collect::<Vec<_>>();
    let fits = app.ingest(INTEGRATION, "upsertTeams", "TeamInput", &teams(&["A", "B", "C", "D", "E", "F"])).await;
    assert_eq!(fits.data()["upsertTeams"]["created"], 6);
    let over = app.ingest(INTEGRATION, "upsertTeams", "TeamInput", &teams(&["G", "H", "I", "J", "K"])).await;
    assert_eq!((over.status, over.codes()), (429, vec!["RATE_LIMITED".to_owned()]), "{}", over.body);
    assert_eq!(app.count("teams").await, 6, "the refused batch wrote nothing");
}

#[tokio::test]
async fn with_the_rate_limit_off_nothing_is_charged() {
    let app = TestApp::spawn_with_budgets(None).await;
    app.user(ADMIN, cs_kpi::auth::Role::Admin, None).await;
    for _ in 0..3 {
        let (status, headers, body) = app.ask(ADMIN, REPORT).await;
        assert_eq!(status, 200);
        assert!(body["extensions"]["cost"].is_null() && headers.get("ratelimit-limit").is_none(), "{body}");
    }
}
