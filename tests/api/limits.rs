//! Abusive queries: each is refused with `QUERY_TOO_COMPLEX` or `BAD_USER_INPUT` before any
//! resolver runs (no SQL beyond authenticating the caller), and the server answers normally after.
use serde_json::{Value, json};

use crate::helpers::{ADMIN, TestApp};

/// `me { team { members { team { members ... { id } } } } }`, `depth` fields deep.
fn nested_selection(depth: usize) -> String {
    let fields = std::iter::once("me").chain(["team", "members"].into_iter().cycle()).take(depth);
    let opening: String = fields.map(|field| format!("{field} {{ ")).collect();
    format!("{{ {opening}id{} }}", " }".repeat(depth))
}

/// Asserts the refusal: one error with `code`, no data.
fn assert_refused(reply: &crate::helpers::Reply, code: &str) {
    assert_eq!(reply.codes(), vec![code], "{}", reply.body);
    assert!(reply.body["data"].is_null(), "no data: {}", reply.body);
}

#[tokio::test]
async fn deep_selections_are_refused() {
    let app = TestApp::with_operators().await;
    // Within the limits the same shape is answered.
    let reply = app.gql(ADMIN, &nested_selection(6), json!({})).await;
    assert_eq!(reply.data()["me"]["team"], Value::Null);
    for depth in [40, 50, 100] {
        let reply = app.send_touching_no_table(ADMIN, json!({ "query": nested_selection(depth) })).await;
        assert_refused(&reply, "QUERY_TOO_COMPLEX");
    }
    app.assert_still_answers(ADMIN).await;
}

#[tokio::test]
async fn fragment_chains_and_cycles_are_refused() {
    let app = TestApp::with_operators().await;
    // 1,000 fragments, each spreading the next.
    let mut query = String::from("query { ...F0 }\n");
    for i in 0..1000 {
        query.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1));
    }
    query.push_str("fragment F1000 on Query { me { email } }\n");
    let reply = app.send_touching_no_table(ADMIN, json!({ "query": query })).await;
    assert_refused(&reply, "QUERY_TOO_COMPLEX");

    // A fragment spreading itself.
    let query = "query { ...Loop } fragment Loop on Query { me { email } ...Loop }";
    let reply = app.send_touching_no_table(ADMIN, json!({ "query": query })).await;
    let codes = reply.codes();
    assert!(
        !codes.is_empty() && codes.iter().all(|c| c == "QUERY_TOO_COMPLEX" || c == "BAD_USER_INPUT"),
        "{}",
        reply.body
    );
    assert!(reply.body["data"].is_null());
    app.assert_still_answers(ADMIN).await;
}

#[tokio::test]
async fn deeply_nested_variables_are_refused() {
    let app = TestApp::with_operators().await;
    let token = app.token(ADMIN);
    // 10,000 levels: refused while reading the JSON.
    let body = format!(
        r#"{{"query":"query($x: [String!]) {{ __typename }}","variables":{{"x":{}{}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let request = app
        .request(reqwest::Method::POST, "/graphql")
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body);
    let reply = app.send(request).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.codes(), vec!["BAD_USER_INPUT"]);

    // 100 levels: valid JSON, but not a value of the variable's type.
    let mut nested = json!("x");
    for _ in 0..100 {
        nested = json!([nested]);
    }
    let reply = app
        .send_touching_no_table(
            ADMIN,
            json!({ "query": "query($x: AccountFilter) { accounts(filter: $x) { totalCount } }", "variables": { "x": { "search": nested } } }),
        )
        .await;
    assert_refused(&reply, "BAD_USER_INPUT");
    app.assert_still_answers(ADMIN).await;
}

#[tokio::test]
async fn aliases_pay_for_what_they_select() {
    let app = TestApp::with_operators().await;
    // 500 aliased reports: refused by complexity.
    let reports: String = (0..500)
        .map(|i| {
            format!(
                "r{i}: kpis(period: {{ granularity: MONTH, from: \"2026-01-01\", to: \"2026-01-31\" }}) {{ mrr }}\n"
            )
        })
        .collect();
    let reply = app.send_touching_no_table(ADMIN, json!({ "query": format!("{{ {reports} }}") })).await;
    assert_refused(&reply, "QUERY_TOO_COMPLEX");
    // 500 aliased pages of accounts: refused as well.
    let pages: String = (0..500).map(|i| format!("p{i}: accounts(first: 50) {{ totalCount }}\n")).collect();
    let reply = app.send_touching_no_table(ADMIN, json!({ "query": format!("{{ {pages} }}") })).await;
    assert_refused(&reply, "QUERY_TOO_COMPLEX");
    // 500 aliases of a field that costs nothing to answer are fine.
    let cheap: String = (0..500).map(|i| format!("m{i}: me {{ email }}\n")).collect();
    let reply = app.gql(ADMIN, &format!("{{ {cheap} }}"), json!({})).await;
    assert_eq!(reply.data()["m499"]["email"], ADMIN);
    app.assert_still_answers(ADMIN).await;
}

#[tokio::test]
async fn directives_are_capped_per_field() {
    let app = TestApp::with_operators().await;
    let directives = "@include(if: true) ".repeat(1000);
    let reply =
        app.send_touching_no_table(ADMIN, json!({ "query": format!("{{ me {directives} {{ email }} }}") })).await;
    assert_refused(&reply, "QUERY_TOO_COMPLEX");
    // A couple are fine.
    let reply = app.gql(ADMIN, "{ me @include(if: true) @skip(if: false) { email } }", json!({})).await;
    assert_eq!(reply.data()["me"]["email"], ADMIN);
    app.assert_still_answers(ADMIN).await;
}

#[tokio::test]
async fn page_sizes_are_capped_at_500() {
    let app = TestApp::with_operators().await;
    let reply = app
        .send_touching_no_table(
            ADMIN,
            json!({ "query": "{ accounts(first: 100000000) { totalCount edges { node { id } } } }" }),
        )
        .await;
    assert_eq!(reply.codes(), vec!["BAD_USER_INPUT"], "{}", reply.body);
    assert_eq!(reply.errors()[0]["extensions"]["field"], "first");
    let reply = app.gql(ADMIN, "{ accounts(first: 500) { totalCount } }", json!({})).await;
    assert_eq!(reply.data()["accounts"]["totalCount"], 0);
    app.assert_still_answers(ADMIN).await;
}

#[tokio::test]
async fn batches_are_capped() {
    let app = TestApp::with_operators().await;
    let token = app.token(ADMIN);
    let operation = json!({ "query": "{ me { email } }" });
    let batch = Value::Array(vec![operation.clone(); 1000]);
    let before = app.count("audit_log").await;
    let reply = app.post(Some(&token), batch).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.codes(), vec!["QUERY_TOO_COMPLEX"]);
    assert_eq!(app.count("audit_log").await, before);
    // A small batch is answered, one response per operation.
    let reply = app.post(Some(&token), Value::Array(vec![operation; 3])).await;
    let answers = reply.body.as_array().cloned().unwrap_or_default();
    assert_eq!(answers.len(), 3, "{}", reply.body);
    assert!(answers.iter().all(|a| a["data"]["me"]["email"] == ADMIN));
    app.assert_still_answers(ADMIN).await;
}

#[tokio::test]
async fn huge_bodies_are_refused() {
    let app = TestApp::with_operators().await;
    let padding = "x".repeat(50 * 1024 * 1024);
    let body = format!(r#"{{"query":"{{ me {{ email }} }}","variables":{{"padding":"{padding}"}}}}"#);
    let request = app
        .request(reqwest::Method::POST, "/graphql")
        .bearer_auth(app.token(ADMIN))
        .header("content-type", "application/json")
        .body(body);
    let reply = app.send(request).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(reply.codes(), vec!["BAD_USER_INPUT"]);
    app.assert_still_answers(ADMIN).await;
}

#[tokio::test]
async fn a_body_that_trickles_in_is_cut_off_at_the_request_timeout() {
    use std::io::{Read, Write};
    let keys = cs_kpi::auth::jwt::JwtKeys::hs256(crate::helpers::SECRET.as_bytes(), None, None).expect("keys");
    let limits =
        cs_kpi::server::Limits { request_timeout: std::time::Duration::from_millis(300), ..Default::default() };
    let app = TestApp::spawn_configured(keys, limits, false).await;
    app.user(ADMIN, cs_kpi::auth::Role::Admin, None).await;
    let (address, token) = (app.url("").trim_start_matches("http://").to_owned(), app.token(ADMIN));
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).expect("connect");
        let head = format!(
            "POST /graphql HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"query\":"
        );
        stream.write_all(head.as_bytes()).expect("head");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response");
        response
    })
    .await
    .expect("client");
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("BAD_USER_INPUT"), "{response}");
    let reply = app.gql(ADMIN, "{ __typename }", json!({})).await;
    assert_eq!(reply.data()["__typename"], "Query");
}
