//! Verifying and minting JWT bearer tokens.
//!
//! The algorithm is pinned to the key: HS256 with `JWT_SECRET`, RS256 or ES256 with a
//! `JWT_PUBLIC_KEY` PEM, and for the keys of an identity provider (`JWT_JWKS_URL` or
//! `OIDC_ISSUER`, see [`super::jwks`]) the one algorithm each key's type allows, the key chosen
//! by the token's `kid`. `exp` is required; `iss` and `aud` are enforced when configured (with
//! `OIDC_ISSUER`, `iss` must be the issuer its discovery document names). The user's email is
//! the claim `JWT_IDENTITY_CLAIM` names (`sub` by default; `email` for most providers).
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};

use super::jwks::{PinnedKey, RemoteKeys};
use crate::base::error::{AppError, AppResult};

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// The claim that holds the user's email unless `JWT_IDENTITY_CLAIM` names another.
pub const DEFAULT_IDENTITY_CLAIM: &str = "sub";

/// The keys tokens are checked with.
#[derive(Clone)]
enum Keys {
    /// One configured key (a secret or a PEM).
    Fixed(PinnedKey),
    /// The identity provider's key set.
    Remote(Arc<RemoteKeys>),
}

/// Where tokens are verified (and, for HS256, minted).
#[derive(Clone)]
pub struct JwtKeys {
    keys: Keys,
    /// Present for HS256 only: this service can mint tokens for its own secret.
    encoding: Option<EncodingKey>,
    issuer: Option<String>,
    audience: Option<String>,
    identity_claim: String,
}

/// The shortest HS256 secret accepted (RFC 7518 asks for a key as long as the hash).
pub const MIN_SECRET_BYTES: usize = 32;

impl JwtKeys {
    pub fn hs256(secret: &[u8], issuer: Option<String>, audience: Option<String>) -> AppResult<Self> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(AppError::bad_input(format!("JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")));
        }
        Ok(JwtKeys {
            keys: Keys::Fixed(PinnedKey { key: DecodingKey::from_secret(secret), algorithm: Algorithm::HS256 }),
            encoding: Some(EncodingKey::from_secret(secret)),
            issuer,
            audience,
            identity_claim: DEFAULT_IDENTITY_CLAIM.to_owned(),
        })
    }

    /// An RSA (RS256) or EC P-256 (ES256) public key in PEM.
    pub fn public_key(pem: &[u8], issuer: Option<String>, audience: Option<String>) -> AppResult<Self> {
        let (decoding, algorithm) = match DecodingKey::from_rsa_pem(pem) {
            Ok(key) => (key, Algorithm::RS256),
            Err(_) => match DecodingKey::from_ec_pem(pem) {
                Ok(key) => (key, Algorithm::ES256),
                Err(_) => {
                    return Err(AppError::bad_input("JWT_PUBLIC_KEY is neither an RSA nor an EC public key in PEM"));
                }
            },
        };
        let keys = Keys::Fixed(PinnedKey { key: decoding, algorithm });
        Ok(JwtKeys { keys, encoding: None, issuer, audience, identity_claim: DEFAULT_IDENTITY_CLAIM.to_owned() })
    }

    /// The keys of an identity provider (see [`super::jwks`]); `issuer` is required of every
    /// token when given (with `OIDC_ISSUER`, the discovery document's issuer is).
    pub fn remote(keys: Arc<RemoteKeys>, issuer: Option<String>, audience: Option<String>) -> Self {
        JwtKeys {
            keys: Keys::Remote(keys),
            encoding: None,
            issuer,
            audience,
            identity_claim: DEFAULT_IDENTITY_CLAIM.to_owned(),
        }
    }

    /// The algorithm of a fixed key (`None` with an identity provider's set, pinned per key).
    pub fn algorithm(&self) -> Option<Algorithm> {
        match &self.keys {
            Keys::Fixed(pinned) => Some(pinned.algorithm),
            Keys::Remote(_) => None,
        }
    }

    /// Reads the user's email from `claim` instead of `sub`.
    pub fn with_identity_claim(mut self, claim: &str) -> Self {
        claim.clone_into(&mut self.identity_claim);
        self
    }

    /// The identity provider's keys, when tokens are checked with them.
    pub fn remote_keys(&self) -> Option<&Arc<RemoteKeys>> {
        match &self.keys {
            Keys::Remote(keys) => Some(keys),
            Keys::Fixed(_) => None,
        }
    }

    /// Whether tokens can be checked: always with a fixed key; once the set is loaded with an
    /// identity provider's.
    pub async fn is_ready(&self) -> bool {
        match &self.keys {
            Keys::Fixed(_) => true,
            Keys::Remote(keys) => keys.is_loaded().await,
        }
    }

    /// The verified user's email (the identity claim), or `UNAUTHENTICATED`.
    pub async fn verify(&self, token: &str) -> AppResult<String> {
        let invalid = |e: jsonwebtoken::errors::Error| AppError::Unauthenticated(format!("invalid token: {e}"));
        let (pinned, issuer) = match &self.keys {
            Keys::Fixed(pinned) => (pinned.clone(), self.issuer.clone()),
            Keys::Remote(keys) => {
                let header = decode_header(token).map_err(invalid)?;
                let pinned = keys.key_for(header.kid.as_deref()).await?;
                (pinned, keys.issuer().await.or_else(|| self.issuer.clone()))
            }
        };
        let mut validation = Validation::new(pinned.algorithm);
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 30;
        validation.validate_nbf = true;
        match &issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                validation.required_spec_claims.insert("iss".into());
            }
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }
        let claims = decode::<serde_json::Map<String, serde_json::Value>>(token, &pinned.key, &validation)
            .map_err(invalid)?
            .claims;
        match claims.get(&self.identity_claim).and_then(serde_json::Value::as_str) {
            Some(email) if !email.is_empty() => Ok(email.to_owned()),
            _ => Err(AppError::Unauthenticated(format!("the token has no {:?} claim", self.identity_claim))),
        }
    }

    /// Signs a token for `email`, valid for `ttl_seconds` (HS256 only).
    pub fn mint(&self, email: &str, ttl_seconds: u64) -> AppResult<String> {
        let key = self
            .encoding
            .as_ref()
            .ok_or_else(|| AppError::bad_input("tokens can only be minted with JWT_SECRET (HS256)"))?;
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: email.to_owned(),
            exp: now + ttl_seconds,
            iat: Some(now),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, key).map_err(AppError::internal)
    }
}
