//! The HTTP rules around GraphQL: CSRF (mutations only by POST, POST only as JSON), queries by
//! GET, and the production posture (no suggestions, no introspection or GraphiQL without a token,
//! nothing but `data` and `errors` in a response).
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, SECRET, TestApp};

const MUTATION: &str = r#"mutation { upsertTeams(input: [{ name: "Intruders" }]) { created } }"#;

#[tokio::test]
async fn mutations_over_get_are_refused_with_405() {
    let app = TestApp::with_operators().await;
    let request = app.request(Method::GET, "/graphql").bearer_auth(app.token(ADMIN)).query(&[("query", MUTATION)]);
    let reply = app.send(request).await;
    assert_eq!(reply.status, 405, "{}", reply.body);
    assert_eq!(reply.codes(), vec!["BAD_USER_INPUT"]);
    assert_eq!(app.count("teams").await, 0);

    // A query by GET is answered (for the caller its token names).
    let request =
        app.request(Method::GET, "/graphql").bearer_auth(app.token(ADMIN)).query(&[("query", "{ me { email } }")]);
    let reply = app.send(request).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.data()["me"]["email"], ADMIN);
    // ... but not without one.
    let reply = app.send(app.request(Method::GET, "/graphql").query(&[("query", "{ me { email } }")])).await;
    assert_eq!(reply.status, 401);
    app.assert_still_answers(ADMIN).await;
}

#[tokio::test]
async fn only_json_posts_are_accepted() {
    let app = TestApp::with_operators().await;
    let body = json!({ "query": MUTATION }).to_string();
    for content_type in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let request = app
            .request(Method::POST, "/graphql")
            .bearer_auth(app.token(ADMIN))
            .header("content-type", content_type)
            .body(body.clone());
        let reply = app.send(request).await;
        assert_eq!(reply.status, 415, "{content_type}: {}", reply.body);
        assert_eq!(reply.codes(), vec!["BAD_USER_INPUT"]);
    }
    // A form post of the fields a GraphQL client would send, and a post without a content type.
    let form = app.request(Method::POST, "/graphql").bearer_auth(app.token(ADMIN)).form(&[("query", MUTATION)]);
    assert_eq!(app.send(form).await.status, 415);
    let bare = app.request(Method::POST, "/graphql").bearer_auth(app.token(ADMIN)).body(body.clone());
    assert_eq!(app.send(bare).await.status, 415);
    assert_eq!(app.count("teams").await, 0, "nothing was written");

    // The same mutation as JSON (with a charset) is applied.
    let request = app
        .request(Method::POST, "/graphql")
        .bearer_auth(app.token(ADMIN))
        .header("content-type", "application/json; charset=utf-8")
        .body(body);
    assert_eq!(app.send(request).await.data()["upsertTeams"]["created"], 1);
    // A body that is not a GraphQL request.
    let request = app
        .request(Method::POST, "/graphql")
        .bearer_auth(app.token(ADMIN))
        .header("content-type", "application/json")
        .body("{\"query\": ");
    let reply = app.send(request).await;
    assert_eq!((reply.status, reply.codes()), (400, vec!["BAD_USER_INPUT".to_owned()]));
    app.assert_still_answers(ADMIN).await;
}

#[tokio::test]
async fn typos_get_no_suggestions() {
    let app = TestApp::with_operators().await;
    let reply = app.send_touching_no_table(ADMIN, json!({ "query": "{ me { emial } mee { email } }" })).await;
    assert!(!reply.errors().is_empty());
    assert!(reply.codes().iter().all(|c| c == "BAD_USER_INPUT"), "{}", reply.body);
    let text = reply.body.to_string();
    assert!(!text.to_lowercase().contains("did you mean"), "{text}");
    app.assert_still_answers(ADMIN).await;
}

#[tokio::test]
async fn introspection_and_graphiql_need_a_token_outside_development() {
    let app = TestApp::with_operators().await;
    let introspection = json!({ "query": "{ __schema { queryType { name } } }" });
    let reply = app.post(None, introspection.clone()).await;
    assert_eq!((reply.status, reply.codes()), (401, vec!["UNAUTHENTICATED".to_owned()]));
    let reply = app.post(Some(&app.token(ADMIN)), introspection).await;
    assert_eq!(reply.data()["__schema"]["queryType"]["name"], "Query");
    // Nothing but data (and errors) in a response, and its cost (fair use): no tracing or
    // analyzer output.
    let keys: Vec<&String> = reply.body.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys, vec!["data", "extensions"]);
    let extensions: Vec<&String> = reply.body["extensions"].as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(extensions, vec!["cost"]);

    let page = app.send(app.request(Method::GET, "/graphql")).await;
    assert_eq!(page.status, 401, "{}", page.body);
    let page = app.send(app.request(Method::GET, "/graphql").bearer_auth(app.token(ADMIN))).await;
    assert_eq!(page.status, 200);
    assert!(page.body.as_str().is_some_and(|html| html.contains("graphiql")), "GraphiQL");

    let keys = cs_kpi::auth::jwt::JwtKeys::hs256(SECRET.as_bytes(), None, None).expect("keys");
    let dev = TestApp::spawn_configured(keys, cs_kpi::server::Limits::default(), true).await;
    let page = dev.send(dev.request(Method::GET, "/graphql")).await;
    assert_eq!(page.status, 200);
    assert!(matches!(page.body, Value::String(_)));
    app.assert_still_answers(ADMIN).await;
}
