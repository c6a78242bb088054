//! The benchmark as a smoke test: a small synthetic company loads through HTTP, every scenario
//! answers without an error, and the dashboard's MRR movements equal the hand-written SQL's.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "a failed expectation is a failed test")]
use std::time::Duration;

use cs_kpi_bench::{BenchConfig, Company};

/// The server's test helpers, for a fresh database per test (SQLite, or PostgreSQL when
/// `TEST_DATABASE_URL` names one); the benchmark uses few of them.
#[allow(dead_code)]
#[path = "../../tests/api/helpers.rs"]
mod helpers;

/// A benchmark of `accounts` accounts over 24 months, each scenario run once.
fn small(accounts: usize, per_kind: bool) -> BenchConfig {
    BenchConfig {
        company: Company { accounts, months: 24 },
        runs: 1,
        warmup: 0,
        clients: 4,
        mixed_load: Duration::from_secs(1),
        per_kind,
        // More than the default, so that several batches of the load write at once.
        writers: 4,
        soak: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_benchmark_completes_and_agrees_with_the_sql_floor() {
    let url = crate::helpers::fresh_database_url().await;
    let config = small(150, false);
    let report = cs_kpi_bench::run(&url, &config).await.unwrap_or_else(|e| panic!("{}", e.detail()));
    assert!(report.ingest.rows > 150 * 35, "{report:?}");
    let ingested = report.ingest.by_mutation.iter().find(|m| m.mutation == "ingest").map(|m| m.rows);
    assert!(ingested.is_some_and(|rows| rows > 150 * 35), "accounts and records go through `ingest`: {report:?}");
    assert_eq!(report.ingest.repush_rows, 1_500);
    let names: Vec<&str> = report.scenarios.iter().map(|s| s.name).collect();
    let dashboards = ["portfolio_dashboard", "csm_dashboard", "grouped", "accounts_page", "scorecards"];
    assert_eq!(names, [&dashboards[..], &["cohorts", "renewals_page"]].concat());
    assert!(report.scenarios.iter().all(|s| s.runs == 1 && s.p50_ms > 0.0));
    assert_eq!(report.mixed_load.errors, 0, "{report:?}");
    assert!(report.mixed_load.requests > 0);
    let by_scenario: Vec<&str> = report.mixed_load.by_scenario.iter().map(|s| s.name).collect();
    assert_eq!(by_scenario, dashboards, "the mixed load runs the dashboards");
    let answered: usize = report.mixed_load.by_scenario.iter().map(|s| s.requests).sum();
    assert_eq!(answered, report.mixed_load.requests, "{report:?}");
    if std::path::Path::new("/proc/stat").exists() {
        assert!(report.scenarios.iter().all(|s| s.cpu_ms.is_some()), "the machine's processor time: {report:?}");
        assert!(report.mixed_load.cpu_ms_per_request.is_some(), "{report:?}");
    }
    assert!(report.movements_match_floor, "the API's movements differ from the SQL floor");
    assert!(report.table().contains("portfolio_dashboard"));
    // Every target of the issue is checked against the run, in the table and the JSON.
    let targets = report.targets();
    assert_eq!(targets.len(), 15, "{targets:?}");
    let verdict = |start: &str| targets.iter().find(|v| v.target.starts_with(start)).map(|v| v.met);
    assert_eq!(verdict("mixed_load: no errors"), Some(true), "{targets:?}");
    assert_eq!(verdict("peak RSS"), Some(true), "{targets:?}");
    assert_eq!(report.export.rows, 150, "the export holds every account: {report:?}");
    assert_eq!(verdict("exporting every account"), Some(true), "{targets:?}");
    assert!(report.table().contains(&format!("| {} | {} |", targets[0].target, targets[0].measured)));
    assert_eq!(report.json()["targets"].as_array().map(Vec::len), Some(15));
    // A second run on the same database is refused: the company is loaded once.
    assert!(cs_kpi_bench::run(&url, &config).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_benchmark_pushing_one_kind_per_request_agrees_with_the_sql_floor() {
    let url = crate::helpers::fresh_database_url().await;
    let config = small(60, true);
    let report = cs_kpi_bench::run(&url, &config).await.unwrap_or_else(|e| panic!("{}", e.detail()));
    let pushed: Vec<&str> = report.ingest.by_mutation.iter().map(|m| m.mutation).collect();
    assert!(pushed.contains(&"recordTickets") && !pushed.contains(&"ingest"), "{pushed:?}");
    assert!(report.movements_match_floor, "the API's movements differ from the SQL floor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_reads_and_writes_without_errors_and_keeps_the_ledger_exact() {
    let url = crate::helpers::fresh_database_url().await;
    let config = BenchConfig { soak: Some(Duration::from_secs(4)), ..small(60, false) };
    let report = cs_kpi_bench::run(&url, &config).await.unwrap_or_else(|e| panic!("{}", e.detail()));
    let soak = report.soak.as_ref().expect("the soak ran");
    assert_eq!(soak.minutes.len(), 1, "{soak:?}");
    let minute = &soak.minutes[0];
    assert!(minute.reads > 0 && minute.rows_pushed > 0 && minute.rss_mb > 0.0, "{soak:?}");
    assert_eq!(soak.errors(), 0, "{soak:?}");
    assert!(soak.ledger_matches_rebuild, "re-pushed subscriptions kept the ledger exact");
    let targets = report.targets();
    assert_eq!(targets.len(), 19, "the soak adds its four targets: {targets:?}");
    assert!(report.table().contains("| minute | reads |"));
}
