//! Graceful shutdown of the real binary: on SIGTERM it stops accepting connections, lets the
//! request in flight finish, gives up on a stalled one after the grace period, and exits cleanly.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cs_kpi::api::org::{UserInput, upsert_user_directly};
use cs_kpi::auth::Role;
use cs_kpi::ingest::Batch;
use serde_json::json;

use crate::helpers::{ADMIN, SECRET};

/// Kills the server if the test fails before it exits.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

fn wait_until_listening(address: SocketAddr) {
    let start = Instant::now();
    while TcpStream::connect(address).is_err() {
        assert!(start.elapsed() < Duration::from_secs(60), "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Opens a connection and sends a GraphQL POST whose body stops after `sent` bytes.
fn partial_request(address: SocketAddr, token: &str, body: &str, sent: usize) -> TcpStream {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(&body.as_bytes()[..sent]).expect("partial body");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_within_the_grace_period() {
    let url = crate::helpers::fresh_database_url().await;
    let db = cs_kpi::startup::open(&url).await.expect("database");
    let admin = UserInput { email: ADMIN.into(), name: "Admin".into(), role: Role::Admin, team_name: None };
    upsert_user_directly(Batch::command_line(&db, "cli user").await.expect("a batch"), admin)
        .await
        .unwrap_or_else(|e| panic!("{}", e.detail()));
    db.close().await.expect("close");

    let address: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("address");
    let child = Command::new(env!("CARGO_BIN_EXE_cs-kpi"))
        .args(["serve", "--listen", &address.to_string(), "--shutdown-grace", "3"])
        .env("DATABASE_URL", &url)
        .env("JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cs-kpi");
    let mut server = Server(child);
    let pid = server.0.id().to_string();

    tokio::task::spawn_blocking(move || {
        wait_until_listening(address);
        let keys = cs_kpi::auth::jwt::JwtKeys::hs256(SECRET.as_bytes(), None, None).expect("keys");
        let token = keys.mint(ADMIN, 600).expect("token");
        let body = json!({ "query": "{ me { email } }" }).to_string();
        // One request in flight (half its body sent), one that will never finish.
        let mut in_flight = partial_request(address, &token, &body, body.len() / 2);
        let _stalled = partial_request(address, &token, &body, 1);
        std::thread::sleep(Duration::from_millis(300));

        let terminated = Instant::now();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
        std::thread::sleep(Duration::from_millis(500));
        assert!(TcpStream::connect(address).is_err(), "no new connections after SIGTERM");

        // The request in flight completes normally.
        in_flight.write_all(&body.as_bytes()[body.len() / 2..]).expect("rest of the body");
        let mut response = Vec::new();
        let mut buffer = [0u8; 4096];
        while !String::from_utf8_lossy(&response).contains("\"email\"") {
            let n = in_flight.read(&mut buffer).expect("response");
            assert!(n > 0, "connection closed early: {}", String::from_utf8_lossy(&response));
            response.extend_from_slice(&buffer[..n]);
        }
        let text = String::from_utf8_lossy(&response);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.contains(ADMIN), "{text}");

        // The stalled one does not hold the process beyond the grace period.
        let status = loop {
            if let Some(status) = server.0.try_wait().expect("wait") {
                break status;
            }
            assert!(terminated.elapsed() < Duration::from_secs(15), "still running after the grace period");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "exit status {status}");
        assert!(terminated.elapsed() >= Duration::from_secs(3), "waited for the grace period");
    })
    .await
    .expect("shutdown scenario");
}
