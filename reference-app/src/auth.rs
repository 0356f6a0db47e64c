//! Bearer tokens (`Claims`, `TokenVerifier`): HS256 JWTs whose signature and expiry are verified
//! before any claim is believed.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::faults::{Fault, Faults};

/// What a token asserts: a user, the tenant it acts for, its role, and when it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub tenant_id: Uuid,
    pub role: String,
    /// Seconds since the epoch.
    pub exp: u64,
}

impl Claims {
    /// Claims valid for `ttl_secs` from now.
    pub fn new(user: Uuid, tenant: Uuid, role: &str, ttl_secs: u64) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            sub: user,
            tenant_id: tenant,
            role: role.to_owned(),
            exp: now + ttl_secs,
        }
    }

    /// Signs with HS256 (tests and tenantprobe mint tokens this way).
    pub fn sign(&self, secret: &[u8]) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            self,
            &EncodingKey::from_secret(secret),
        )
    }
}

/// Verifies tokens with the app's secret.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
    faults: Faults,
}

impl TokenVerifier {
    pub fn new(secret: &SecretString, faults: Faults) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5;
        Self {
            key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
            faults,
        }
    }

    /// The claims of a valid token; anything else (malformed, wrongly signed, `alg: none`, expired,
    /// missing claims) is 401 without saying which.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        if self.faults.has(Fault::JwtNoVerify) {
            // FAULT(jwt-no-verify): the claims are read without checking the signature, the
            // algorithm or the expiry, so anyone can mint a token for any tenant.
            return jsonwebtoken::dangerous::insecure_decode_claims::<Claims>(token)
                .map_err(|_| ApiError::Unauthorized);
        }
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                tracing::debug!(reason = %e, "token rejected");
                ApiError::Unauthorized
            })
    }
}
