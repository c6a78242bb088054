//! Browsers on other origins (PRODUCT.md, "Browsers"): Debian's Chromium, driven headless by
//! `playwright-core` (`tests/browser/`), loads a page from an allowed origin and one from another
//! origin, each calling the real server with a bearer token.
use std::path::PathBuf;
use std::process::Command;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use cs_kpi::auth::Role;
use cs_kpi::auth::jwt::JwtKeys;
use serde_json::Value;

use crate::helpers::{ADMIN, SECRET, TestApp, outside_client_ready};

/// A page of an origin of its own (`http://127.0.0.1:PORT`).
async fn page_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("address"));
    let page = Router::new().route("/", get(|| async { Html("<!doctype html><title>dashboard</title><p>cs-kpi</p>") }));
    tokio::spawn(async move { axum::serve(listener, page).await });
    origin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_an_allowed_origin_reads_kpis_and_one_of_another_is_blocked() {
    if !outside_client_ready("playwright-core", &["/usr/bin/chromium"]) {
        return;
    }
    let (allowed, other) = (page_server().await, page_server().await);
    let keys = JwtKeys::hs256(SECRET.as_bytes(), None, None).expect("keys");
    let app = TestApp::spawn_with_cors(keys, std::slice::from_ref(&allowed)).await;
    app.user(ADMIN, Role::Admin, None).await;

    // The preflight as a browser sends it: answered for the allowed origin, silent for another.
    for (origin, allows) in [(&allowed, true), (&other, false)] {
        let preflight = app
            .request(reqwest::Method::OPTIONS, "/graphql")
            .header("Origin", origin.as_str())
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization,content-type")
            .send()
            .await
            .expect("a preflight answer");
        let headers = preflight.headers();
        assert_eq!(headers.get("access-control-allow-origin").is_some(), allows, "{origin}: {headers:?}");
        if allows {
            assert_eq!(headers["access-control-allow-origin"], origin.as_str());
            assert_eq!(headers["access-control-max-age"], "600");
            let allowed_headers = headers["access-control-allow-headers"].to_str().unwrap_or_default().to_lowercase();
            assert!(allowed_headers.contains("authorization") && allowed_headers.contains("content-type"));
        }
    }

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/cors.mjs");
    let output = Command::new("node")
        .arg(&script)
        .args([format!("{allowed}/"), format!("{other}/"), app.url("/graphql"), app.token(ADMIN)])
        .output()
        .expect("run node");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let seen: Value = serde_json::from_slice(&output.stdout).expect("the pages' answers as JSON");
    let allowed_page = &seen["allowed"];
    assert_eq!(allowed_page["status"], 200, "{seen}");
    assert_eq!(allowed_page["body"]["data"]["me"]["role"], "ADMIN", "{seen}");
    assert_eq!(allowed_page["body"]["data"]["kpis"].as_array().map(Vec::len), Some(3), "{seen}");
    assert!(allowed_page["requestId"].is_string(), "x-request-id is exposed to the page: {seen}");
    assert!(seen["other"]["blocked"].as_str().is_some_and(|e| e.contains("Failed to fetch")), "{seen}");
}

#[tokio::test]
async fn only_exact_origins_are_accepted() {
    let app = TestApp::spawn().await;
    for bad in ["*", "app.example.com", "https://app.example.com/", "https://app.example.com/path", "ftp://x.example"] {
        let refused = app.state.clone().with_cors_origins(&[bad.to_owned()]).err().map(|e| e.message());
        assert!(refused.is_some_and(|m| m.contains(bad)), "{bad}");
    }
    assert!(app.state.clone().with_cors_origins(&["https://app.example.com:8443".to_owned()]).is_ok());
}
