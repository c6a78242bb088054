//! The identity provider's signing keys (PRODUCT.md, "Roles and what each may see"): a JSON Web
//! Key Set fetched from `JWT_JWKS_URL`, or from the `jwks_uri` of `OIDC_ISSUER`'s discovery
//! document (whose `issuer` every token's `iss` must then equal).
//!
//! The set is fetched at start (until then the server is not ready), refreshed every
//! [`RemoteKeys::refresh_every`] (10 minutes by default), and fetched again at once when a token
//! names a `kid` the set does not hold, at most once per [`ON_DEMAND_EVERY`] whatever the number
//! of such tokens, so a rotated key works without a restart and a flood of made-up `kid`s cannot
//! make the server hammer the provider. A failed refresh keeps the last good set.
//!
//! Each key is pinned to the one algorithm its type allows: RS256 for RSA, ES256 for EC P-256,
//! EdDSA for Ed25519; a symmetric (`oct`) key or another curve is ignored, so a token can never
//! choose how it is checked.
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use crate::base::error::{AppError, AppResult};

/// The least time between two fetches caused by unknown `kid`s.
pub const ON_DEMAND_EVERY: Duration = Duration::from_secs(10);
/// The default time between two scheduled refreshes.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(600);
/// How long one request to the provider may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait before trying again while no set was ever loaded.
const RETRY_UNTIL_LOADED: Duration = Duration::from_secs(5);

/// Where the key set comes from.
#[derive(Clone, Debug)]
pub enum KeySetSource {
    /// `JWT_JWKS_URL`.
    Url(String),
    /// `OIDC_ISSUER`: `{issuer}/.well-known/openid-configuration` names the set.
    Issuer(String),
}

/// A verification key of the set and the algorithm it is pinned to.
#[derive(Clone)]
pub struct PinnedKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

/// The set as last loaded.
#[derive(Clone, Default)]
struct Loaded {
    by_kid: HashMap<String, PinnedKey>,
    /// Every usable key, for a token without `kid` (accepted only when there is exactly one).
    all: Vec<PinnedKey>,
    /// The issuer the discovery document names (`None` for `JWT_JWKS_URL`).
    issuer: Option<String>,
}

/// The provider's keys, shared by every request, kept fresh by a task of their own.
pub struct RemoteKeys {
    source: KeySetSource,
    client: reqwest::Client,
    refresh_every: Duration,
    loaded: RwLock<Option<Loaded>>,
    /// Held while fetching, so that requests meeting the same unknown `kid` wait for one fetch;
    /// holds the instant of the last fetch an unknown `kid` caused.
    fetching: Mutex<Option<Instant>>,
}

/// What a discovery document says that we use.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl RemoteKeys {
    pub fn new(source: KeySetSource, refresh_every: Duration) -> AppResult<Arc<RemoteKeys>> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| AppError::internal(format!("HTTP client for the key set: {e}")))?;
        Ok(Arc::new(RemoteKeys {
            source,
            client,
            refresh_every,
            loaded: RwLock::new(None),
            fetching: Mutex::new(None),
        }))
    }

    pub fn refresh_every(&self) -> Duration {
        self.refresh_every
    }

    /// Whether a set was loaded (the server is ready).
    pub async fn is_loaded(&self) -> bool {
        self.loaded.read().await.is_some()
    }

    /// The issuer tokens must name: the discovery document's, once loaded.
    pub async fn issuer(&self) -> Option<String> {
        self.loaded.read().await.as_ref().and_then(|l| l.issuer.clone())
    }

    /// The key a token's header names: by its `kid` (fetching the set again at once when the
    /// `kid` is unknown, at most once per [`ON_DEMAND_EVERY`]), or the only key of the set for
    /// a token without one. `UNAUTHENTICATED` otherwise.
    pub async fn key_for(&self, kid: Option<&str>) -> AppResult<PinnedKey> {
        let Some(kid) = kid else {
            let loaded = self.loaded.read().await;
            let all = loaded.as_ref().map(|l| l.all.as_slice()).unwrap_or_default();
            return match all {
                [only] => Ok(only.clone()),
                [] => Err(not_loaded()),
                _ => Err(AppError::Unauthenticated("the token names no key (kid) and the key set has several".into())),
            };
        };
        if let Some(key) = self.find(kid).await {
            return Ok(key);
        }
        {
            let mut last = self.fetching.lock().await;
            // Another request may have fetched while this one waited.
            if let Some(key) = self.find(kid).await {
                return Ok(key);
            }
            if last.is_none_or(|at| at.elapsed() >= ON_DEMAND_EVERY) {
                *last = Some(Instant::now());
                tracing::info!(kid, "a token names an unknown key: fetching the key set again");
                if let Err(e) = self.fetch_and_store().await {
                    tracing::warn!(error = %e.detail(), "cannot refresh the identity provider's key set");
                }
            }
        }
        self.find(kid).await.ok_or_else(|| AppError::Unauthenticated(format!("no key {kid:?} in the key set")))
    }

    async fn find(&self, kid: &str) -> Option<PinnedKey> {
        self.loaded.read().await.as_ref().and_then(|l| l.by_kid.get(kid).cloned())
    }

    /// Fetches the set (through discovery for an issuer) and stores it; the last good set stays
    /// when this fails.
    pub async fn fetch_and_store(&self) -> AppResult<()> {
        let loaded = self.fetch().await?;
        tracing::info!(keys = loaded.all.len(), "loaded the identity provider's key set");
        *self.loaded.write().await = Some(loaded);
        Ok(())
    }

    async fn fetch(&self) -> AppResult<Loaded> {
        let (url, issuer) = match &self.source {
            KeySetSource::Url(url) => (url.clone(), None),
            KeySetSource::Issuer(issuer) => {
                let discovery_url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
                let discovery: Discovery = self.get_json(&discovery_url).await?;
                if discovery.issuer != *issuer {
                    return Err(AppError::internal(format!(
                        "{discovery_url} names the issuer {:?}, not OIDC_ISSUER {issuer:?}",
                        discovery.issuer
                    )));
                }
                (discovery.jwks_uri, Some(discovery.issuer))
            }
        };
        let set: JwkSet = self.get_json(&url).await?;
        let mut loaded = Loaded { issuer, ..Loaded::default() };
        for jwk in &set.keys {
            let Some(pinned) = pin(jwk) else {
                tracing::debug!(kid = ?jwk.common.key_id, "skipping a key of a type this service does not verify with");
                continue;
            };
            if let Some(kid) = &jwk.common.key_id {
                loaded.by_kid.insert(kid.clone(), pinned.clone());
            }
            loaded.all.push(pinned);
        }
        if loaded.all.is_empty() {
            return Err(AppError::internal(format!("the key set at {url} holds no RSA, P-256 or Ed25519 key")));
        }
        Ok(loaded)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> AppResult<T> {
        let response = self
            .client
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| AppError::internal(format!("GET {url}: {e}")))?;
        response.json::<T>().await.map_err(|e| AppError::internal(format!("GET {url}: {e}")))
    }

    /// Loads the set, trying again every few seconds until it is loaded, then refreshes it every
    /// [`refresh_every`](Self::refresh_every); ends when the keys are dropped.
    pub fn keep_fresh(keys: &Arc<RemoteKeys>) -> tokio::task::JoinHandle<()> {
        let weak: Weak<RemoteKeys> = Arc::downgrade(keys);
        tokio::spawn(async move {
            loop {
                let Some(keys) = weak.upgrade() else { return };
                let pause = match keys.fetch_and_store().await {
                    Ok(()) => keys.refresh_every,
                    Err(e) if keys.is_loaded().await => {
                        tracing::warn!(error = %e.detail(), "cannot refresh the identity provider's key set; keeping the last one");
                        keys.refresh_every
                    }
                    Err(e) => {
                        tracing::warn!(
                            error = %e.detail(),
                            "cannot load the identity provider's key set: /readyz answers 503 and tokens are refused until it is loaded"
                        );
                        RETRY_UNTIL_LOADED
                    }
                };
                drop(keys);
                tokio::time::sleep(pause).await;
            }
        })
    }
}

fn not_loaded() -> AppError {
    AppError::Unauthenticated("the identity provider's key set is not loaded yet".into())
}

/// The decoding key of `jwk` and the one algorithm its type allows, or `None` for a key this
/// service does not verify with (symmetric, another curve, or an `alg` other than its type's).
fn pin(jwk: &Jwk) -> Option<PinnedKey> {
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
        _ => return None,
    };
    if jwk.common.key_algorithm.is_some_and(|declared| declared.to_string() != format!("{algorithm:?}")) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(PinnedKey { key, algorithm })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(json: serde_json::Value) -> Jwk {
        serde_json::from_value(json).unwrap_or_else(|e| panic!("a JWK: {e}"))
    }

    #[test]
    fn each_key_is_pinned_to_its_type_and_symmetric_keys_are_ignored() {
        let ed =
            serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" });
        assert_eq!(pin(&jwk(ed.clone())).map(|p| p.algorithm), Some(Algorithm::EdDSA));
        let mut declared = ed.clone();
        declared["alg"] = "EdDSA".into();
        assert_eq!(pin(&jwk(declared)).map(|p| p.algorithm), Some(Algorithm::EdDSA));
        let mut mismatched = ed;
        mismatched["alg"] = "ES256".into();
        assert!(pin(&jwk(mismatched)).is_none(), "an alg its type does not allow");
        let secret =
            serde_json::json!({ "kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", "alg": "HS256" });
        assert!(pin(&jwk(secret)).is_none(), "a symmetric key never verifies a token");
    }
}
