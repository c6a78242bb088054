//! Authentication: only a valid token of a known user gets through; everything else is a 401
//! with `UNAUTHENTICATED` and nothing more.
use cs_kpi::auth::Role;
use cs_kpi::auth::jwt::JwtKeys;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::helpers::{SECRET, TestApp};

const ME: &str = "{ me { email role team { name } } }";
const EMAIL: &str = "ada@acme.example";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn hs256(claims: Value, secret: &str) -> String {
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).expect("encode")
}

fn fixture_key(name: &str) -> Vec<u8> {
    std::fs::read(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt").join(name))
        .expect("key fixture")
}

async fn assert_unauthenticated(app: &TestApp, token: Option<&str>) {
    let reply = app.post(token, json!({ "query": ME })).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.codes(), vec!["UNAUTHENTICATED"], "{}", reply.body);
    assert!(reply.body.get("data").is_none(), "nothing else is returned: {}", reply.body);
}

#[tokio::test]
async fn a_valid_token_names_the_caller_whose_role_comes_from_the_database() {
    let app = TestApp::spawn().await;
    app.user(EMAIL, Role::Csm, None).await;
    let token = app.token(EMAIL);
    let reply = app.post(Some(&token), json!({ "query": ME })).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.data()["me"], json!({ "email": EMAIL, "role": "CSM", "team": null }));

    // A role change takes effect on the next request with the same token.
    app.user(EMAIL, Role::Finance, None).await;
    let reply = app.post(Some(&token), json!({ "query": ME })).await;
    assert_eq!(reply.data()["me"]["role"], "FINANCE");
}

#[tokio::test]
async fn bad_tokens_are_unauthenticated() {
    let app = TestApp::spawn().await;
    app.user(EMAIL, Role::Admin, None).await;
    let valid = json!({ "sub": EMAIL, "exp": now() + 600 });

    assert_unauthenticated(&app, None).await;
    assert_unauthenticated(&app, Some("not-a-jwt")).await;
    // Signed with another secret.
    assert_unauthenticated(&app, Some(&hs256(valid.clone(), "another-secret-that-is-also-long-enough"))).await;
    // Expired (beyond the leeway).
    assert_unauthenticated(&app, Some(&hs256(json!({ "sub": EMAIL, "exp": now() - 3600 }), SECRET))).await;
    // Without exp.
    assert_unauthenticated(&app, Some(&hs256(json!({ "sub": EMAIL }), SECRET))).await;
    // exp as a string.
    assert_unauthenticated(&app, Some(&hs256(json!({ "sub": EMAIL, "exp": (now() + 600).to_string() }), SECRET))).await;
    // Not valid yet.
    assert_unauthenticated(
        &app,
        Some(&hs256(json!({ "sub": EMAIL, "exp": now() + 7200, "nbf": now() + 3600 }), SECRET)),
    )
    .await;
    // An unknown user.
    assert_unauthenticated(&app, Some(&hs256(json!({ "sub": "nobody@acme.example", "exp": now() + 600 }), SECRET)))
        .await;
    // Tampered payload: the signature of a valid token on another subject.
    let genuine = hs256(valid.clone(), SECRET);
    let parts: Vec<&str> = genuine.split('.').collect();
    let forged_payload = hs256(json!({ "sub": "other@acme.example", "exp": now() + 600 }), SECRET);
    let forged = format!("{}.{}.{}", parts[0], forged_payload.split('.').nth(1).unwrap_or_default(), parts[2]);
    assert_unauthenticated(&app, Some(&forged)).await;
    // Tampered signature: one character of it changed.
    let mut tampered = genuine.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    assert_unauthenticated(&app, Some(&String::from_utf8(tampered).expect("ascii"))).await;
    // alg: none.
    use base64_url::encode as b64;
    let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&valid.to_string()));
    assert_unauthenticated(&app, Some(&none)).await;
    // A wrong algorithm for the configured key (RS256 presented to an HS256 server).
    let rsa = EncodingKey::from_rsa_pem(&fixture_key("rs256-private.pem")).expect("rsa key");
    assert_unauthenticated(&app, Some(&encode(&Header::new(Algorithm::RS256), &valid, &rsa).expect("encode"))).await;

    // The genuine token still works.
    assert_eq!(app.post(Some(&genuine), json!({ "query": ME })).await.status, 200);
}

mod base64_url {
    /// Unpadded base64url, enough to forge an `alg: none` token.
    pub fn encode(input: &str) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bytes = input.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}

#[tokio::test]
async fn public_keys_pin_their_algorithm_and_reject_hmac_forgeries() {
    for (public, private, algorithm) in [
        ("rs256-public.pem", "rs256-private.pem", Algorithm::RS256),
        ("es256-public.pem", "es256-private.pem", Algorithm::ES256),
    ] {
        let keys =
            JwtKeys::public_key(&fixture_key(public), Some("https://idp.acme.example".into()), Some("cs-kpi".into()))
                .expect("public key");
        assert_eq!(keys.algorithm(), Some(algorithm));
        let app = TestApp::spawn_with(keys).await;
        app.user(EMAIL, Role::Manager, None).await;
        let signing = match algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&fixture_key(private)),
            _ => EncodingKey::from_ec_pem(&fixture_key(private)),
        }
        .expect("private key");
        let sign = |claims: Value| encode(&Header::new(algorithm), &claims, &signing).expect("encode");
        let good = json!({ "sub": EMAIL, "exp": now() + 600, "iss": "https://idp.acme.example", "aud": "cs-kpi" });

        let reply = app.post(Some(&sign(good.clone())), json!({ "query": ME })).await;
        assert_eq!(reply.data()["me"]["role"], "MANAGER");
        // Wrong audience, wrong issuer, missing audience.
        assert_unauthenticated(
            &app,
            Some(&sign(json!({ "sub": EMAIL, "exp": now() + 600, "iss": "https://idp.acme.example", "aud": "other" }))),
        )
        .await;
        assert_unauthenticated(
            &app,
            Some(&sign(json!({ "sub": EMAIL, "exp": now() + 600, "iss": "https://evil.example", "aud": "cs-kpi" }))),
        )
        .await;
        assert_unauthenticated(
            &app,
            Some(&sign(json!({ "sub": EMAIL, "exp": now() + 600, "iss": "https://idp.acme.example" }))),
        )
        .await;
        // HS256 "signed" with the public key's text: the classic algorithm-confusion forgery.
        let public_text = String::from_utf8(fixture_key(public)).expect("utf8");
        assert_unauthenticated(&app, Some(&hs256(good.clone(), &public_text))).await;
        // The genuine token still works after all of that.
        assert_eq!(app.post(Some(&sign(good)), json!({ "query": ME })).await.data()["me"]["email"], EMAIL);
    }
}

#[test]
fn short_secrets_are_refused() {
    assert!(JwtKeys::hs256(b"too-short", None, None).is_err());
    assert!(JwtKeys::hs256(SECRET.as_bytes(), None, None).is_ok());
}
