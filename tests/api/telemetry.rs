//! What an operator sees (PRODUCT.md, "Running it"): `/metrics` on a listener of its own, read
//! with a real Prometheus text-format parser, and the `x-request-id` that ties a request to its
//! log lines and `INTERNAL` errors.
use prometheus_parse::{Sample, Scrape, Value as Metric};
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{ADMIN, INTEGRATION, TestApp};

async fn scrape(url: &str) -> Vec<Sample> {
    let response = reqwest::get(url).await.expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap_or_default().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.expect("text");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    Scrape::parse(lines).expect("the Prometheus text format").samples
}

/// The samples of `family` whose labels include every `(label, value)` of `labels`.
fn find<'s>(samples: &'s [Sample], family: &str, labels: &[(&str, &str)]) -> Vec<&'s Sample> {
    samples.iter().filter(|s| s.metric == family && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))).collect()
}

fn counted(samples: &[Sample], family: &str, labels: &[(&str, &str)]) -> f64 {
    find(samples, family, labels)
        .iter()
        .map(|s| match s.value {
            Metric::Counter(v) | Metric::Gauge(v) | Metric::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_show_requests_operations_errors_rows_ledger_and_pool() {
    let app = TestApp::with_operators().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/metrics", listener.local_addr().expect("address"));
    let router = cs_kpi::server::metrics_router(app.state.clone()).expect("a metrics router");
    tokio::spawn(async move { axum::serve(listener, router).await });

    let accounts = [json!({ "externalId": "ACC-T1", "name": "Telemetry One" })];
    app.ingest_ok(INTEGRATION, "upsertAccounts", "AccountInput", &accounts).await;
    let named = app.gql(ADMIN, "query DashboardOfTelemetry { me { email } }", json!({})).await;
    named.data();
    let forbidden = app.gql(INTEGRATION, "{ me { email } teams { name } }", json!({})).await;
    assert_eq!(forbidden.codes().first().map(String::as_str), Some("FORBIDDEN"), "{}", forbidden.body);

    let samples = scrape(&url).await;
    assert!(
        counted(&samples, "http_requests_total", &[("route", "/graphql"), ("method", "POST"), ("status", "200")])
            >= 3.0
    );
    let durations = find(&samples, "http_request_duration_seconds", &[("route", "/graphql"), ("method", "POST")]);
    assert!(
        durations
            .iter()
            .any(|s| matches!(&s.value, Metric::Histogram(buckets) if buckets.iter().any(|b| b.count >= 1.0))),
        "a histogram of durations: {durations:?}"
    );
    assert!(
        counted(&samples, "graphql_operations_total", &[("type", "query"), ("name", "DashboardOfTelemetry")]) >= 1.0
    );
    assert!(counted(&samples, "graphql_operations_total", &[("type", "mutation")]) >= 1.0);
    assert!(counted(&samples, "graphql_errors_total", &[("code", "FORBIDDEN")]) >= 1.0);
    assert!(counted(&samples, "ingested_rows_total", &[("kind", "accounts"), ("outcome", "created")]) >= 1.0);
    let ledger = find(&samples, "ledger_apply_seconds", &[]);
    assert!(ledger.iter().any(|s| matches!(&s.value, Metric::Histogram(_))), "{ledger:?}");
    for state in ["in_use", "idle"] {
        assert_eq!(find(&samples, "db_pool_connections", &[("state", state)]).len(), 1, "{state}");
    }
    assert_eq!(counted(&samples, "graphql_reads_waiting", &[]), 0.0);

    // Operation names past the cap are counted as `other`.
    for i in 0..=cs_kpi::base::telemetry::MAX_OPERATION_NAMES {
        app.gql(ADMIN, &format!("query Probe{i} {{ me {{ email }} }}"), json!({})).await.data();
    }
    let samples = scrape(&url).await;
    let names = find(&samples, "graphql_operations_total", &[]).len();
    assert!(names <= cs_kpi::base::telemetry::MAX_OPERATION_NAMES + 4, "{names} label sets");
    assert!(counted(&samples, "graphql_operations_total", &[("name", "other")]) >= 1.0);
}

#[tokio::test]
async fn the_request_id_is_returned_and_names_an_internal_error() {
    let app = TestApp::with_operators().await;
    let request = |id: &str| {
        app.request(reqwest::Method::POST, "/graphql")
            .bearer_auth(app.token(ADMIN))
            .header("x-request-id", id)
            .json(&json!({ "query": "{ kpis(period: { from: \"2026-01-01\", to: \"2026-01-31\" }) { visitorConversionRate } }" }))
    };
    let response = request("trace-42").send().await.expect("a response");
    assert_eq!(response.headers()["x-request-id"], "trace-42");
    // A header that is no id (too long) is replaced by one of the server's.
    let response = request(&"x".repeat(200)).send().await.expect("a response");
    let generated = response.headers()["x-request-id"].to_str().expect("text").to_owned();
    assert_eq!(generated.len(), 16, "{generated}");

    app.db.execute_unprepared("DROP TABLE traffic").await.expect("break the database");
    let reply = app.send(request("trace-43")).await;
    assert_eq!(reply.codes(), ["INTERNAL"], "{}", reply.body);
    assert_eq!(reply.errors()[0]["extensions"]["correlationId"], "trace-43");
}
