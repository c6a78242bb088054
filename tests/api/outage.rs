//! Database outages (PostgreSQL): the server reaches PostgreSQL through a TCP proxy of the
//! test's own, which cuts every connection and refuses new ones, then lets them through again,
//! while clients keep asking. The server stays up; while PostgreSQL is out of reach every answer
//! is 503 `UNAVAILABLE` with `Retry-After` (never `INTERNAL`), `/readyz` is 503, and once it is
//! back the next requests succeed with no restart. (The shared cluster is never stopped.)
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::helpers::{ADMIN, TestApp, fresh_database_url};

/// A TCP proxy to `upstream` that can cut every connection and refuse new ones.
struct Proxy {
    port: u16,
    upstream: String,
    open: Arc<AtomicBool>,
    tasks: Arc<tokio::sync::Mutex<JoinSet<()>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let proxy = Proxy { port, upstream, open: Arc::new(AtomicBool::new(true)), tasks: Arc::default() };
        proxy.accept(listener);
        proxy
    }

    /// Forwards each connection while the proxy is open.
    fn accept(&self, listener: TcpListener) {
        let (upstream, open, tasks) = (self.upstream.clone(), self.open.clone(), self.tasks.clone());
        tokio::spawn(async move {
            while open.load(Ordering::SeqCst) {
                let Ok(Ok((mut client, _))) = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await
                else {
                    continue;
                };
                let upstream = upstream.clone();
                tasks.lock().await.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
            // The listener is dropped here: new connections are refused.
        });
    }

    /// Cuts every connection and refuses new ones, as a stopped PostgreSQL would.
    async fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.tasks.lock().await.abort_all();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    /// Lets connections through again, on the same port.
    async fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.expect("the same port again");
        self.accept(listener);
    }
}

const QUERY: &str = "{ kpis(period: { from: \"2026-01-01\", to: \"2026-03-31\" }) { mrr nps } }";

async fn ask(app: &TestApp) -> (u16, Option<String>, Value) {
    let (status, headers, body) = app.ask(ADMIN, QUERY).await;
    let retry = headers.get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, retry, body)
}

fn code(body: &Value) -> Value {
    body["errors"][0]["extensions"]["code"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_is_answered_unavailable_and_the_return_needs_no_restart() {
    let url = fresh_database_url().await;
    let Some(rest) = url.strip_prefix("postgres://") else {
        eprintln!("skipping: the outage test runs on PostgreSQL (TEST_DATABASE_URL)");
        return;
    };
    let (credentials, rest) = rest.split_once('@').expect("user@host");
    let (host, database) = rest.split_once('/').expect("host/database");
    let proxy = Proxy::start(host.to_owned()).await;
    let app = TestApp::spawn_on(&format!("postgres://{credentials}@127.0.0.1:{}/{database}", proxy.port)).await;
    app.user(ADMIN, cs_kpi::auth::Role::Admin, None).await;
    assert_eq!(ask(&app).await.0, 200);

    // Clients keep asking through the outage.
    let app = Arc::new(app);
    let asking = Arc::new(AtomicBool::new(true));
    let mut clients = JoinSet::new();
    for _ in 0..4 {
        let (app, asking) = (app.clone(), asking.clone());
        clients.spawn(async move {
            let mut answers = Vec::new();
            while asking.load(Ordering::SeqCst) {
                let (status, retry, body) = ask(&app).await;
                answers.push((status, retry, code(&body)));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            answers
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.cut().await;

    // The first answers of the outage may wait for the pool's connection attempts; then every
    // answer is an immediate 503.
    let mut first = ask(&app).await;
    for _ in 0..20 {
        if first.0 == 503 {
            break;
        }
        first = ask(&app).await;
    }
    assert_eq!((first.0, first.1.as_deref(), code(&first.2)), (503, Some("1"), json!("UNAVAILABLE")), "{}", first.2);
    let started = std::time::Instant::now();
    let again = ask(&app).await;
    assert_eq!((again.0, code(&again.2)), (503, json!("UNAVAILABLE")));
    assert!(started.elapsed() < Duration::from_secs(5), "answered at once, not after a timeout");
    let ready = app.request(reqwest::Method::GET, "/readyz").send().await.expect("an answer");
    assert_eq!(ready.status().as_u16(), 503);

    proxy.restore().await;
    let mut back = ask(&app).await;
    for _ in 0..100 {
        if back.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        back = ask(&app).await;
    }
    assert_eq!(back.0, 200, "the server recovered without a restart: {}", back.2);
    assert!(back.2["data"]["kpis"].is_array());
    let ready = app.request(reqwest::Method::GET, "/readyz").send().await.expect("an answer");
    assert_eq!(ready.status().as_u16(), 200);

    asking.store(false, Ordering::SeqCst);
    let answers: Vec<_> = clients.join_all().await.into_iter().flatten().collect();
    assert!(answers.iter().any(|a| a.0 == 503) && answers.iter().any(|a| a.0 == 200), "the load met the outage");
    for (status, retry, code) in &answers {
        let fine = *status == 200 || (*status == 503 && retry.as_deref() == Some("1") && code == "UNAVAILABLE");
        assert!(fine, "every answer is a success or a retryable 503: {status} {retry:?} {code}");
    }
}
