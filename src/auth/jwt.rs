//! Verifying and minting JWT bearer tokens.
//!
//! The algorithm is pinned to the configured key: HS256 with `JWT_SECRET`, RS256 or ES256 with a
//! `JWT_PUBLIC_KEY` PEM. `exp` is required; `iss` and `aud` are enforced when configured.
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

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

/// Where tokens are verified (and, for HS256, minted).
#[derive(Clone)]
pub struct JwtKeys {
    decoding: DecodingKey,
    /// Present for HS256 only: this service can mint tokens for its own secret.
    encoding: Option<EncodingKey>,
    algorithm: Algorithm,
    issuer: Option<String>,
    audience: Option<String>,
}

/// The shortest HS256 secret accepted (RFC 7518 asks for a key as long as the hash).
pub const MIN_SECRET_BYTES: usize = 32;

impl JwtKeys {
    pub fn hs256(secret: &[u8], issuer: Option<String>, audience: Option<String>) -> AppResult<Self> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(AppError::bad_input(format!("JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")));
        }
        Ok(JwtKeys {
            decoding: DecodingKey::from_secret(secret),
            encoding: Some(EncodingKey::from_secret(secret)),
            algorithm: Algorithm::HS256,
            issuer,
            audience,
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
        Ok(JwtKeys { decoding, encoding: None, algorithm, issuer, audience })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The verified `sub` (a user's email), or `UNAUTHENTICATED`.
    pub fn verify(&self, token: &str) -> AppResult<String> {
        let mut validation = Validation::new(self.algorithm);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 30;
        validation.validate_nbf = true;
        match &self.issuer {
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
        decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims.sub)
            .map_err(|e| AppError::Unauthenticated(format!("invalid token: {e}")))
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
        encode(&Header::new(self.algorithm), &claims, key).map_err(AppError::internal)
    }
}
