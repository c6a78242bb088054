//! Tokens of the company's identity provider (PRODUCT.md, "Roles and what each may see"): an
//! identity provider of the test's own (OIDC discovery and a key set it changes during the test,
//! keys made in the test, tokens signed with them) behind `OIDC_ISSUER` or `JWT_JWKS_URL`.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Parser;
use cs_kpi::auth::Role;
use cs_kpi::auth::jwks::{KeySetSource, RemoteKeys};
use cs_kpi::auth::jwt::JwtKeys;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::helpers::TestApp;

const ME: &str = "{ me { email role } }";
const EMAIL: &str = "grace@acme.example";
const AUDIENCE: &str = "cs-kpi";

/// A key made in the test, and its public half as a JWK named `kid`.
struct TestKey {
    kid: String,
    algorithm: Algorithm,
    signing: EncodingKey,
}

impl TestKey {
    fn new(kid: &str, algorithm: Algorithm) -> TestKey {
        use p256::pkcs8::EncodePrivateKey as _;
        let signing = match algorithm {
            Algorithm::ES256 => {
                let secret = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()).expect("a P-256 key");
                EncodingKey::from_ec_der(secret.to_pkcs8_der().expect("PKCS#8").as_bytes())
            }
            Algorithm::EdDSA => {
                // RFC 8410's PKCS#8 (v1) of an Ed25519 seed: a fixed prefix, then the 32 bytes.
                let mut der = vec![
                    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
                ];
                der.extend(rand::random::<[u8; 32]>());
                EncodingKey::from_ed_der(&der)
            }
            // RSA keys take seconds to make in a debug build: the fixture's.
            _ => EncodingKey::from_rsa_pem(&fixture("rs256-private.pem")).expect("an RSA key"),
        };
        TestKey { kid: kid.to_owned(), algorithm, signing }
    }

    fn jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.signing, self.algorithm).expect("a JWK");
        jwk.common.key_id = Some(self.kid.clone());
        jwk
    }

    /// A token with `claims` signed by this key, its header naming `kid`.
    fn sign_as(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = kid.map(str::to_owned);
        encode(&header, claims, &self.signing).expect("sign")
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(Some(&self.kid), claims)
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt").join(name))
        .expect("key fixture")
}

/// The identity provider: its discovery document and key set, how often each was fetched, and
/// whether it answers at all.
#[derive(Clone)]
struct Provider {
    issuer: String,
    keys: Arc<Mutex<Vec<Jwk>>>,
    set_fetches: Arc<AtomicUsize>,
    up: Arc<AtomicBool>,
}

impl Provider {
    async fn start() -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer = format!("http://{}/tenant", listener.local_addr().expect("address"));
        let provider =
            Provider { issuer, keys: Arc::default(), set_fetches: Arc::default(), up: Arc::new(AtomicBool::new(true)) };
        let routes = Router::new()
            .route("/tenant/.well-known/openid-configuration", get(discovery))
            .route("/tenant/keys", get(key_set))
            .with_state(provider.clone());
        tokio::spawn(async move { axum::serve(listener, routes).await });
        provider
    }

    async fn publish(&self, keys: &[&TestKey]) {
        *self.keys.lock().await = keys.iter().map(|k| k.jwk()).collect();
    }

    fn fetches(&self) -> usize {
        self.set_fetches.load(Ordering::SeqCst)
    }

    /// The app verifying with this provider's keys through discovery, refreshing every
    /// `refresh`, the email in the `email` claim.
    async fn app(&self, source: KeySetSource, refresh: Duration) -> TestApp {
        let keys = RemoteKeys::new(source, refresh).expect("remote keys");
        let app =
            TestApp::spawn_with(JwtKeys::remote(keys, None, Some(AUDIENCE.into())).with_identity_claim("email")).await;
        app.user(EMAIL, Role::Csm, None).await;
        app
    }

    fn claims(&self) -> Value {
        json!({ "sub": "00u1opaque", "email": EMAIL, "iss": self.issuer, "aud": AUDIENCE, "exp": now() + 600 })
    }
}

async fn discovery(State(provider): State<Provider>) -> Response {
    if !provider.up.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let keys = format!("{}/keys", provider.issuer);
    axum::Json(json!({ "issuer": provider.issuer, "jwks_uri": keys })).into_response()
}

async fn key_set(State(provider): State<Provider>) -> Response {
    if !provider.up.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    provider.set_fetches.fetch_add(1, Ordering::SeqCst);
    axum::Json(JwkSet { keys: provider.keys.lock().await.clone() }).into_response()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn answer(app: &TestApp, token: &str) -> (u16, Value) {
    let reply = app.post(Some(token), json!({ "query": ME })).await;
    (reply.status, reply.body)
}

async fn assert_accepted(app: &TestApp, token: &str, what: &str) {
    let (status, body) = answer(app, token).await;
    assert_eq!(status, 200, "{what}: {body}");
    assert_eq!(body["data"]["me"], json!({ "email": EMAIL, "role": "CSM" }), "{what}");
}

async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let (status, body) = answer(app, token).await;
    assert_eq!(status, 401, "{what}: {body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{what}: {body}");
}

/// Waits until `/readyz` answers 200 (the key set is loaded), at most `seconds`.
async fn until_ready(app: &TestApp, seconds: u64) {
    for _ in 0..seconds * 10 {
        if app.send(app.request(reqwest::Method::GET, "/readyz")).await.status == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not ready after {seconds} s");
}

#[tokio::test]
async fn tokens_of_the_provider_are_checked_with_its_current_keys_by_kid() {
    let provider = Provider::start().await;
    let (rsa, ec, ed) = (
        TestKey::new("rsa-1", Algorithm::RS256),
        TestKey::new("ec-1", Algorithm::ES256),
        TestKey::new("ed-1", Algorithm::EdDSA),
    );
    provider.publish(&[&rsa, &ec]).await;
    let app = provider.app(KeySetSource::Issuer(provider.issuer.clone()), Duration::from_secs(600)).await;
    until_ready(&app, 10).await;
    let claims = provider.claims();
    assert_accepted(&app, &rsa.sign(&claims), "RS256").await;
    assert_accepted(&app, &ec.sign(&claims), "ES256").await;

    // A new key, published and used before the next refresh: accepted at once.
    provider.publish(&[&rsa, &ec, &ed]).await;
    let before = provider.fetches();
    assert_accepted(&app, &ed.sign(&claims), "EdDSA, a key published since the last refresh").await;
    assert_eq!(provider.fetches(), before + 1, "one fetch for the unknown kid");

    // A flood of made-up kids causes at most a couple of fetches.
    let before = provider.fetches();
    let forged: Vec<String> = (0..1_000).map(|i| ec.sign_as(Some(&format!("made-up-{i}")), &claims)).collect();
    let mut refusals = tokio::task::JoinSet::new();
    for token in forged {
        let (url, client) = (app.url("/graphql"), reqwest::Client::new());
        refusals.spawn(async move {
            let reply = client.post(url).bearer_auth(token).json(&json!({ "query": ME })).send().await;
            reply.expect("an answer").status().as_u16()
        });
    }
    let statuses = refusals.join_all().await;
    assert!(statuses.iter().all(|s| *s == 401), "every made-up kid is refused");
    assert!(provider.fetches() - before <= 2, "{} fetches for 1,000 made-up kids", provider.fetches() - before);

    // Each key checks only its own algorithm: HS256 signed with the RSA key's public PEM, a
    // token without kid when the set has several keys, and the wrong issuer, audience, expiry
    // or identity claim are all refused.
    let public_pem = fixture("rs256-public.pem");
    let mut confused = Header::new(Algorithm::HS256);
    confused.kid = Some(rsa.kid.clone());
    let confusion = encode(&confused, &claims, &EncodingKey::from_secret(&public_pem)).expect("sign");
    assert_refused(&app, &confusion, "HS256 with the public key's bytes").await;
    assert_refused(&app, &ec.sign_as(None, &claims), "no kid among several keys").await;
    assert_refused(&app, &ec.sign_as(Some(&rsa.kid), &claims), "an ES256 token naming the RSA key").await;
    let with = |field: &str, value: Value| {
        let mut claims = claims.clone();
        claims[field] = value;
        claims
    };
    assert_refused(&app, &ec.sign(&with("iss", json!("https://evil.example/tenant"))), "another issuer").await;
    assert_refused(&app, &ec.sign(&with("aud", json!("another-api"))), "another audience").await;
    assert_refused(&app, &ec.sign(&with("exp", json!(now() - 3_600))), "expired").await;
    assert_refused(&app, &ec.sign(&with("email", Value::Null)), "no email claim (the sub is opaque)").await;
    assert_accepted(&app, &ec.sign(&claims), "the same token, untouched").await;
}

#[tokio::test]
async fn a_removed_key_is_refused_after_the_refresh_and_a_lone_key_needs_no_kid() {
    let provider = Provider::start().await;
    let (old, new) = (TestKey::new("old", Algorithm::ES256), TestKey::new("new", Algorithm::EdDSA));
    provider.publish(&[&old]).await;
    let url = format!("{}/keys", provider.issuer);
    let app = provider.app(KeySetSource::Url(url), Duration::from_secs(1)).await;
    until_ready(&app, 10).await;
    let claims = provider.claims();
    assert_accepted(&app, &old.sign(&claims), "the current key").await;
    assert_accepted(&app, &old.sign_as(None, &claims), "no kid, the set's only key").await;

    // The provider rotates: the old key is gone from the set.
    provider.publish(&[&new]).await;
    let fetched = provider.fetches();
    for _ in 0..50 {
        if provider.fetches() >= fetched + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(provider.fetches() >= fetched + 2, "refreshed on schedule");
    assert_refused(&app, &old.sign(&claims), "a removed key").await;
    assert_accepted(&app, &new.sign(&claims), "the key it was rotated to").await;
}

#[tokio::test]
async fn the_server_is_ready_only_once_the_provider_answered() {
    let provider = Provider::start().await;
    let key = TestKey::new("k", Algorithm::RS256);
    provider.publish(&[&key]).await;
    provider.up.store(false, Ordering::SeqCst);
    let app = provider.app(KeySetSource::Issuer(provider.issuer.clone()), Duration::from_secs(600)).await;
    for _ in 0..3 {
        let ready = app.send(app.request(reqwest::Method::GET, "/readyz")).await;
        assert_eq!(ready.status, 503, "{}", ready.body);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_refused(&app, &key.sign(&provider.claims()), "no key set yet").await;
    provider.up.store(true, Ordering::SeqCst);
    until_ready(&app, 15).await;
    assert_accepted(&app, &key.sign(&provider.claims()), "once loaded").await;
}

#[test]
fn two_ways_of_verifying_tokens_are_refused_naming_both() {
    for (flags, named) in [
        (
            ["--jwt-secret", "a-secret-that-is-long-enough-for-hs256!!", "--oidc-issuer", "https://idp.example"],
            ["JWT_SECRET", "OIDC_ISSUER"],
        ),
        (
            ["--jwt-jwks-url", "https://idp.example/keys", "--oidc-issuer", "https://idp.example"],
            ["JWT_JWKS_URL", "OIDC_ISSUER"],
        ),
    ] {
        let cli = cs_kpi::cli::Cli::try_parse_from(["cs-kpi"].into_iter().chain(flags)).expect("flags");
        let error = cli.config.jwt_keys().err().expect("refused").message();
        assert!(named.iter().all(|n| error.contains(n)), "{error}");
    }
}
