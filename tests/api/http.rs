//! GraphQL over HTTP, exactly (the spec's `application/json` and
//! `application/graphql-response+json`): the official `graphql-http` audit passes with no error
//! and no warning, the content type follows `Accept`, and a field error leaves `null` at its path.
use std::path::PathBuf;
use std::process::Command;

use cs_kpi::auth::Role;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, TestApp, outside_client_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graphql_http_audit_reports_no_error_and_no_warning() {
    if !outside_client_ready("graphql-http", &[]) {
        return;
    }
    let app = TestApp::spawn().await;
    app.user(ADMIN, Role::Admin, None).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/audit.mjs");
    let output =
        Command::new("node").arg(script).args([app.url("/graphql"), app.token(ADMIN)]).output().expect("run node");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).expect("the audits as JSON");
    assert!(results.len() > 50, "{} audits", results.len());
    let failed: Vec<&Value> = results.iter().filter(|r| r["status"] == "error" || r["status"] == "warn").collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

async fn post(app: &TestApp, accept: Option<&str>, query: &str) -> (u16, String, Value) {
    let mut request = app.request(reqwest::Method::POST, "/graphql").bearer_auth(app.token(ADMIN));
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let response = request.json(&json!({ "query": query })).send().await.expect("a response");
    let content_type = response.headers()["content-type"].to_str().unwrap_or_default().to_owned();
    (response.status().as_u16(), content_type, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn the_content_type_follows_accept_and_a_request_that_never_ran_has_no_data() {
    let app = TestApp::spawn().await;
    app.user(ADMIN, Role::Admin, None).await;
    for (accept, content_type) in [
        (None, "application/json"),
        (Some("*/*"), "application/json"),
        (Some("application/json"), "application/json"),
        (Some("application/graphql-response+json"), "application/graphql-response+json"),
        (Some("application/graphql-response+json, application/json;q=0.9"), "application/graphql-response+json"),
        (Some("application/json, application/graphql-response+json"), "application/json"),
    ] {
        let (status, got, body) = post(&app, accept, "{ me { email } }").await;
        assert_eq!((status, got.as_str()), (200, content_type), "{accept:?}");
        assert_eq!(body["data"]["me"]["email"], ADMIN);
    }
    // A document that does not parse, or does not validate.
    for query in ["{ me { email ", "{ me { colour } }"] {
        let (status, _, body) = post(&app, Some("application/graphql-response+json"), query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.get("data").is_none() && body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", "{body}");
        let (status, _, body) = post(&app, Some("application/json"), query).await;
        assert_eq!(status, 200, "{query}: {body}");
    }
}

#[tokio::test]
async fn a_field_refused_by_role_is_null_at_its_path() {
    let app = TestApp::spawn().await;
    app.user("csm@acme.example", Role::Csm, None).await;
    let query = r#"{ kpis(period: { from: "2026-01-01", to: "2026-02-28" }) { periodStart cac mrr ltvToCac } }"#;
    let reply = app.gql("csm@acme.example", query, json!({})).await;
    let rows = reply.body["data"]["kpis"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2, "{}", reply.body);
    for row in &rows {
        let mut fields: Vec<&String> = row.as_object().expect("a row").keys().collect();
        fields.sort();
        assert_eq!(fields, ["cac", "ltvToCac", "mrr", "periodStart"], "the query's shape");
        assert!(row["cac"].is_null() && row["ltvToCac"].is_null() && row["mrr"].is_string());
    }
    let paths: Vec<Value> = reply.errors().iter().map(|e| e["path"].clone()).collect();
    assert_eq!(
        paths,
        [
            json!(["kpis", 0, "cac"]),
            json!(["kpis", 0, "ltvToCac"]),
            json!(["kpis", 1, "cac"]),
            json!(["kpis", 1, "ltvToCac"])
        ]
    );
}
