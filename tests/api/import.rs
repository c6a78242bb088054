//! `cs-kpi import` (PRODUCT.md, "Importing files"): the sample company's records written as CSV
//! load to the same KPIs as the GraphQL load; bad rows are named by file and line, their batch
//! writes nothing, and the exit status says so.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cs_kpi::auth::Role;
use cs_kpi::import::{ImportKind, import};
use serde_json::Value;

use crate::helpers::{INTEGRATION, TestApp, accounts_in_reference_order, fresh_database_url, rows};

/// Writes `records` as CSV (with the `csv` crate: quoting as RFC 4180 asks) under `dir`.
fn write_csv(dir: &Path, name: &str, records: &[Value]) -> PathBuf {
    let mut columns: Vec<String> = records.iter().flat_map(|r| r.as_object().unwrap().keys().cloned()).collect();
    columns.sort();
    columns.dedup();
    let path = dir.join(format!("{name}.csv"));
    let mut writer = csv::Writer::from_path(&path).expect("a CSV file");
    writer.write_record(&columns).expect("header");
    for record in records {
        let cells = columns.iter().map(|c| match &record[c] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        writer.write_record(cells).expect("record");
    }
    writer.flush().expect("flush");
    path
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cs-kpi-import-{test}-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

#[tokio::test]
async fn the_sample_imported_from_csv_gives_the_expected_kpis() {
    let app = TestApp::with_operators().await;
    let dir = scratch("sample");
    let teams = rows("teams.json");
    let names: Vec<Value> = teams.iter().map(|t| serde_json::json!({ "name": t["name"] })).collect();
    let files = [
        (ImportKind::Teams, write_csv(&dir, "team-names", &names)),
        (ImportKind::Users, write_csv(&dir, "users", &rows("users.json"))),
        (ImportKind::Teams, write_csv(&dir, "teams", &teams)),
        (ImportKind::Accounts, write_csv(&dir, "accounts", &accounts_in_reference_order())),
        (ImportKind::Subscriptions, write_csv(&dir, "subscriptions", &rows("subscriptions.json"))),
        (ImportKind::Costs, write_csv(&dir, "costs", &rows("costs.json"))),
        (ImportKind::Feedback, write_csv(&dir, "feedback", &rows("feedback.json"))),
        (ImportKind::Tickets, write_csv(&dir, "tickets", &rows("tickets.json"))),
        (ImportKind::Usage, write_csv(&dir, "usage", &rows("usage.json"))),
        (ImportKind::Touchpoints, write_csv(&dir, "touchpoints", &rows("touchpoints.json"))),
        (ImportKind::Advocacy, write_csv(&dir, "advocacy", &rows("advocacy.json"))),
        (ImportKind::FeatureRequests, write_csv(&dir, "feature-requests", &rows("feature_requests.json"))),
        (ImportKind::Traffic, write_csv(&dir, "traffic", &rows("traffic.json"))),
    ];
    for (kind, path) in &files {
        let report = import(&app.db, *kind, path, INTEGRATION, false).await.expect("imported");
        assert!(report.refused.is_empty(), "{}: {:?}", path.display(), report.refused);
    }
    // Tickets and usage span several batches of 1,000 rows.
    assert_eq!(app.count("tickets").await, 2_259);
    crate::kpis::expected_values_hold(&app).await;

    // Re-running a file is safe: every row unchanged.
    let (kind, path) = &files[7];
    let again = import(&app.db, *kind, path, INTEGRATION, false).await.expect("imported again");
    assert_eq!((again.rows, again.created, again.updated, again.unchanged), (2_259, 0, 0, 2_259));
    std::fs::remove_dir_all(dir).ok();
}

fn cs_kpi_import(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cs-kpi"))
        .arg("import")
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run cs-kpi import")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_are_named_by_line_and_their_batch_writes_nothing() {
    let url = fresh_database_url().await;
    let db = cs_kpi::startup::open(&url).await.expect("open the database");
    let app_user = |email: &str, role: Role| cs_kpi::api::org::UserInput {
        email: email.into(),
        name: email.into(),
        role,
        team_name: None,
    };
    for (email, role) in [(INTEGRATION, Role::Integration), ("csm@acme.example", Role::Csm)] {
        let batch = cs_kpi::ingest::Batch::command_line(&db, "cli user").await.expect("a batch");
        cs_kpi::api::org::upsert_user_directly(batch, app_user(email, role)).await.expect("a user");
    }
    let dir = scratch("bad-rows");
    let file = |name: &str, text: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let count = |table: &'static str| {
        let db = db.clone();
        async move {
            use sea_orm::ConnectionTrait;
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT COUNT(*) AS n FROM {table}"),
                ))
                .await
                .expect("count")
                .expect("a row");
            cs_kpi::base::sql::count(&row, "n").expect("n")
        }
    };

    // A BOM, quoted fields with commas and a newline: all read as written.
    let accounts = file(
        "accounts.csv",
        "\u{feff}externalId,name,segment\nACC-1,\"Acme, Inc.\",SMB\nACC-2,\"Globex\nEurope\",\n".as_bytes(),
    );
    let output = cs_kpi_import(&url, &["accounts", &accounts, "--as", INTEGRATION]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(count("accounts").await, 2);

    // Line 2 is fine, the record of lines 3-4 has a newline in a quoted comment and a score
    // that is no number, line 5 names an unknown account: both named, and nothing written.
    let feedback = file(
        "feedback.csv",
        b"externalId,accountExternalId,kind,score,respondedAt,comment\n\
          FB-1,ACC-1,NPS,9,2026-01-05T10:00:00Z,fine\n\
          FB-2,ACC-1,NPS,ten,2026-01-06T10:00:00Z,\"two\nlines, one comma\"\n\
          FB-3,ACC-404,CSAT,4,2026-01-07T10:00:00Z,\n",
    );
    let output = cs_kpi_import(&url, &["feedback", &feedback, "--as", INTEGRATION]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("{feedback}:3: score: \"ten\" is not a whole number")), "{stderr}");
    assert!(stderr.contains(&format!("{feedback}:5: accountExternalId: ")), "{stderr}");
    assert_eq!(count("feedback").await, 0, "the refused batch wrote nothing");

    // Checked before anything is written: an unknown column, a missing required one, a file that
    // is not UTF-8, a writer other than INTEGRATION or ADMIN.
    let unknown = file("unknown.csv", b"externalId,name,colour\nACC-3,Initech,red\n");
    let missing = file("missing.csv", b"externalId\nACC-3\n");
    let latin1 = file("latin1.csv", b"externalId,name\nACC-3,Soci\xe9t\xe9\n");
    for (path, as_whom, says) in [
        (&unknown, INTEGRATION, "unknown column \"colour\""),
        (&missing, INTEGRATION, "the required column \"name\" is missing"),
        (&latin1, INTEGRATION, "not UTF-8"),
        (&accounts, "csm@acme.example", "CSM may not import files"),
    ] {
        let output = cs_kpi_import(&url, &["accounts", path, "--as", as_whom]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(says), "{path}: {stderr}");
    }
    assert_eq!(count("accounts").await, 2);

    // --dry-run checks every row against the database and writes nothing.
    let good = file(
        "good.csv",
        b"externalId,accountExternalId,kind,score,respondedAt\nFB-1,ACC-2,CSAT,5,2026-02-01T09:00:00Z\n",
    );
    let output = cs_kpi_import(&url, &["feedback", &good, "--as", INTEGRATION, "--dry-run"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 created"));
    assert_eq!((count("feedback").await, count("audit_log").await > 0), (0, true));
    let output = cs_kpi_import(&url, &["feedback", &good, "--as", INTEGRATION]);
    assert!(output.status.success() && String::from_utf8_lossy(&output.stderr).contains("1 rows"));
    assert_eq!(count("feedback").await, 1);
    db.close().await.expect("close");
    std::fs::remove_dir_all(dir).ok();
}
