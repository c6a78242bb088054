//! Crash safety: the real `cs-kpi` binary serving a database is killed with SIGKILL while
//! writers push batches, round after round. After each restart no batch is half there, every
//! batch a writer saw acknowledged is there, and in the end the ledger equals a rebuild and
//! pushing every batch again leaves counts that add up.
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cs_kpi::auth::jwt::JwtKeys;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{ADMIN, SECRET, TestApp, fresh_database_url};
use crate::ledger::rebuild_everything;

const WRITER: &str = "crm@crash.example";
const WRITERS: usize = 3;
const ROUNDS: usize = 3;
/// Survey responses a batch carries with its account.
const RESPONSES: usize = 20;

/// The `cs-kpi` server on `url`, on a free port of its own; and its address.
fn start(url: &str) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("an address").port();
    let server = Command::new(env!("CARGO_BIN_EXE_cs-kpi"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", url)
        .env("JWT_SECRET", SECRET)
        .env("RATE_LIMIT", "off")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cs-kpi");
    (server, format!("http://127.0.0.1:{port}"))
}

async fn ready(client: &reqwest::Client, base: &str) {
    for _ in 0..300 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not become ready");
}

/// Batch `n` of writer `w`: a new account and its survey responses, in one `ingest`.
fn batch(w: usize, n: usize) -> Value {
    let account = format!("CRASH-{w}-{n}");
    let feedback: Vec<Value> = (0..RESPONSES)
        .map(|i| {
            json!({ "externalId": format!("{account}-F{i}"), "accountExternalId": account, "kind": "NPS",
                "score": (n + i) % 11, "respondedAt": "2026-05-01T10:00:00Z" })
        })
        .collect();
    json!({ "accounts": [{ "externalId": account, "name": account, "segment": "SMB" }], "feedback": feedback })
}

const INGEST: &str = "mutation($input: IngestInput!) { ingest(input: $input) { total { created updated unchanged } } }";

/// Sends a batch; its total counts, or `None` when no answer came (the server died).
async fn push(client: &reqwest::Client, base: &str, token: &str, input: &Value) -> Option<Value> {
    let response = client
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": INGEST, "variables": { "input": input } }))
        .send()
        .await
        .ok()?;
    let body: Value = response.json().await.ok()?;
    assert!(body.get("errors").is_none(), "a batch is refused only by a crash: {body}");
    Some(body["data"]["ingest"]["total"].clone())
}

/// How many rows of batch `(w, n)` the database holds: its account and its responses.
async fn rows_of(db: &sea_orm::DatabaseConnection, w: usize, n: usize) -> (i64, i64) {
    let count = |sql: String| async move {
        let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await;
        row.expect("a count").expect("a row").try_get::<i64>("", "n").expect("n")
    };
    let accounts = count(format!("SELECT COUNT(*) AS n FROM accounts WHERE external_id = 'CRASH-{w}-{n}'")).await;
    let responses =
        count(format!("SELECT COUNT(*) AS n FROM feedback WHERE external_id LIKE 'CRASH-{w}-{n}-F%'")).await;
    (accounts, responses)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_survive_sigkill_whole_or_not_at_all() {
    let url = fresh_database_url().await;
    let user = Command::new(env!("CARGO_BIN_EXE_cs-kpi"))
        .args(["user", "--email", WRITER, "--name", "CRM", "--role", "INTEGRATION"])
        .env("DATABASE_URL", &url)
        .output()
        .expect("create the writer");
    assert!(user.status.success(), "{}", String::from_utf8_lossy(&user.stderr));
    let token = JwtKeys::hs256(SECRET.as_bytes(), None, None).expect("keys").mint(WRITER, 3600).expect("a token");
    let client = reqwest::Client::new();
    let acknowledged: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let sent = Arc::new(Mutex::new(vec![0usize; WRITERS]));
    let db = cs_kpi::startup::open(&url).await.expect("open the database");

    for round in 0..ROUNDS {
        let (mut server, base) = start(&url);
        ready(&client, &base).await;
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..WRITERS {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            let (acknowledged, sent) = (acknowledged.clone(), sent.clone());
            writers.spawn(async move {
                loop {
                    let n = {
                        let mut sent = sent.lock().expect("the counters");
                        sent[w] += 1;
                        sent[w] - 1
                    };
                    match push(&client, &base, &token, &batch(w, n)).await {
                        Some(_) => acknowledged.lock().expect("the list").push((w, n)),
                        None => return,
                    }
                }
            });
        }
        // Killed at a random moment in the middle of the pushes (the assertions name it).
        let after = 200 + rand::random::<u64>() % 700;
        tokio::time::sleep(Duration::from_millis(after)).await;
        let round = format!("round {round} (killed after {after} ms)");
        server.kill().expect("SIGKILL");
        server.wait().expect("the server ended");
        writers.join_all().await;

        let total = *sent.lock().expect("the counters").iter().max().unwrap_or(&0);
        let acked = acknowledged.lock().expect("the list").clone();
        assert!(acked.len() >= WRITERS, "round {round}: batches went through before the kill");
        for w in 0..WRITERS {
            for n in 0..total {
                let (accounts, responses) = rows_of(&db, w, n).await;
                let whole = (accounts, responses) == (1, RESPONSES as i64);
                assert!(whole || (accounts, responses) == (0, 0), "round {round}: batch {w}-{n} is half there");
                assert!(whole || !acked.contains(&(w, n)), "round {round}: acknowledged batch {w}-{n} is lost");
            }
        }
    }

    // Every batch again, as a client unsure of the last ones would: nothing twice, all there.
    let (server, base) = start(&url);
    ready(&client, &base).await;
    let sent = sent.lock().expect("the counters").clone();
    for (w, &count) in sent.iter().enumerate() {
        for n in 0..count {
            let total = push(&client, &base, &token, &batch(w, n)).await.expect("an answer");
            let rows: i64 = ["created", "updated", "unchanged"].iter().map(|k| total[k].as_i64().unwrap_or(0)).sum();
            assert_eq!(rows, 1 + RESPONSES as i64, "every row counted once: {total}");
            assert_eq!(total["updated"], 0, "a batch that was there is unchanged");
        }
    }
    let mut server = server;
    server.kill().expect("stop");
    server.wait().expect("the server ended");

    let app = TestApp::spawn_on(&url).await;
    app.user(ADMIN, cs_kpi::auth::Role::Admin, None).await;
    let kept = crate::sync::figures(&app).await;
    rebuild_everything(&app).await;
    assert_eq!(kept, crate::sync::figures(&app).await, "the ledger equals a rebuild after the crashes");
}
