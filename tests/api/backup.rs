//! `cs-kpi backup FILE`: a copy of a SQLite database taken while batches commit holds each
//! batch whole or not at all, its ledger equals a rebuild, and a copy taken at rest restores
//! every figure; on PostgreSQL the command points to pg_dump.
use std::process::{Command, Output};
use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::json;

use crate::helpers::{INTEGRATION, SECRET, TestApp};
use crate::ledger::rebuild_everything;
use crate::sync::figures;

/// Batches of survey responses the writer pushes during the backup, and their rows.
const BATCHES: usize = 12;
const ROWS: usize = 50;

fn backup(url: &str, file: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cs-kpi"))
        .args(["backup", &file.display().to_string()])
        .env("DATABASE_URL", url)
        .env("JWT_SECRET", SECRET)
        .output()
        .expect("run cs-kpi backup")
}

/// The file of the app's SQLite database.
async fn sqlite_file(app: &TestApp) -> String {
    let list = Statement::from_string(DatabaseBackend::Sqlite, "PRAGMA database_list");
    let rows = app.db.query_all_raw(list).await.expect("the database list");
    rows.iter().find_map(|r| r.try_get::<String>("", "file").ok().filter(|f| !f.is_empty())).expect("a file")
}

fn response(batch: usize, i: usize) -> serde_json::Value {
    json!({ "externalId": format!("FB-BACKUP-{batch}-{i}"), "accountExternalId": "ACC-00001", "kind": "NPS",
        "score": (batch + i) % 11, "comment": "fine", "respondedAt": "2026-06-01T10:00:00Z" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_batches_commit_holds_whole_batches_and_restores_every_figure() {
    let app = Arc::new(TestApp::with_sample().await);
    if app.db.get_database_backend() != DatabaseBackend::Sqlite {
        let url = std::env::var("TEST_DATABASE_URL").expect("the PostgreSQL server");
        let refused = backup(&url, &std::env::temp_dir().join("cs-kpi-never.db"));
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("pg_dump"), "{refused:?}");
        return;
    }
    let url = format!("sqlite://{}", sqlite_file(&app).await);
    let dir = std::env::temp_dir();
    let unique = format!("{}-{}", std::process::id(), rand::random::<u32>());
    let (during, after) =
        (dir.join(format!("backup-during-{unique}.db")), dir.join(format!("backup-after-{unique}.db")));

    let (acknowledged, mut first) = tokio::sync::mpsc::unbounded_channel();
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            for batch in 0..BATCHES {
                let rows: Vec<_> = (0..ROWS).map(|i| response(batch, i)).collect();
                app.ingest_ok(INTEGRATION, "recordFeedback", "FeedbackInput", &rows).await;
                let _ = acknowledged.send(batch);
            }
        })
    };
    // Once two batches are acknowledged, copy the database while the others commit.
    first.recv().await.expect("a batch");
    first.recv().await.expect("a second batch");
    let copy = during.clone();
    let taken = tokio::task::spawn_blocking(move || backup(&url, &copy)).await.expect("the backup ran");
    assert!(taken.status.success(), "{}", String::from_utf8_lossy(&taken.stderr));
    writer.await.expect("the writer");

    let restored = TestApp::spawn_on(&format!("sqlite://{}?mode=rw", during.display())).await;
    for batch in 0..BATCHES {
        let sql = format!("SELECT COUNT(*) AS n FROM feedback WHERE external_id LIKE 'FB-BACKUP-{batch}-%'");
        let row = restored.db.query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, sql)).await;
        let n: i64 = row.expect("a count").expect("a row").try_get("", "n").expect("n");
        assert!(n == 0 || n == ROWS as i64, "batch {batch}: {n} of {ROWS} rows in the copy");
        assert!(batch >= 2 || n == ROWS as i64, "batch {batch} was acknowledged before the backup began");
    }
    let kept = figures(&restored).await;
    rebuild_everything(&restored).await;
    assert_eq!(kept, figures(&restored).await, "the copy's ledger equals a rebuild of its records");

    // At rest, a copy restores every figure.
    let url = format!("sqlite://{}", sqlite_file(&app).await);
    let taken = backup(&url, &after);
    assert!(taken.status.success(), "{}", String::from_utf8_lossy(&taken.stderr));
    let again = backup(&url, &after);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let restored = TestApp::spawn_on(&format!("sqlite://{}?mode=rw", after.display())).await;
    assert_eq!(figures(&restored).await, figures(&app).await);
    for file in [during, after] {
        let _ = std::fs::remove_file(file);
    }
}
