//! HS256 access tokens: `sub` (user id), `role`, `iat`, `exp`.

use std::sync::Arc;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::verified_tokens::VerifiedTokens;

use crate::error::ApiError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
    /// The user's token generation: changing the password or deactivating
    /// the user bumps it, which revokes every token issued before.
    #[serde(default)]
    pub gen: i64,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    verified: Arc<VerifiedTokens>,
    pub ttl_secs: i64,
}

const LEEWAY_SECS: u64 = 30;

impl JwtKeys {
    pub fn new(secret: &str, ttl_secs: i64) -> JwtKeys {
        // Only HS256: a token claiming `none` or any other algorithm is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        JwtKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            verified: Arc::default(),
            ttl_secs,
        }
    }

    pub fn issue(
        &self,
        user_id: i64,
        role: &str,
        generation: i64,
        now: i64,
    ) -> Result<String, ApiError> {
        let claims = Claims {
            sub: user_id.to_string(),
            role: role.to_string(),
            iat: now,
            exp: now + self.ttl_secs,
            gen: generation,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("token signing failed: {e}")))
    }

    /// Checks signature, algorithm, `exp`, and that `iat` is not in the future
    /// (once per token: `auth::verified_tokens`).
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, ApiError> {
        if let Some(claims) = self.verified.get(token, now, LEEWAY_SECS as i64) {
            return Ok(claims);
        }
        let claims = self.check(token, now)?;
        self.verified.put(token, &claims);
        Ok(claims)
    }

    fn check(&self, token: &str, now: i64) -> Result<Claims, ApiError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| ApiError::Unauthorized(format!("invalid token: {e}")))?;
        if data.claims.iat > now + LEEWAY_SECS as i64 {
            return Err(ApiError::Unauthorized(
                "invalid token: issued in the future".into(),
            ));
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn issued_tokens_verify() {
        let keys = JwtKeys::new(SECRET, 60);
        let now = chrono::Utc::now().timestamp();
        let token = keys.issue(7, "sales", 0, now).unwrap_or_default();
        let claims = keys.verify(&token, now + 10);
        assert_eq!(claims.ok().map(|c| c.sub), Some("7".to_string()));
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires() {
        let keys = JwtKeys::new(SECRET, 60);
        let leeway = LEEWAY_SECS as i64;
        let now = chrono::Utc::now().timestamp();
        // Expires (leeway included) one second from now.
        let token = keys
            .issue(7, "sales", 0, now - 60 - leeway + 1)
            .unwrap_or_default();
        let first = keys.verify(&token, now);
        assert_eq!(first.ok().map(|c| c.sub), Some("7".to_string()));
        assert_eq!(keys.verified.len(), 1);
        let again = keys.verify(&token, now);
        assert_eq!(again.ok().map(|c| c.sub), Some("7".to_string()));
        // Another string (one character of the signature changed) is checked.
        let mut forged = token.clone();
        let last = if forged.ends_with('A') { "B" } else { "A" };
        forged.replace_range(forged.len() - 1.., last);
        assert!(keys.verify(&forged, now).is_err());
        assert_eq!(keys.verified.len(), 1, "a refused token is not kept");
        // Past exp + leeway the remembered token is refused, as the check
        // (which reads the clock itself) refuses it.
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let later = chrono::Utc::now().timestamp();
        assert!(keys.verified.get(&token, later, leeway).is_none());
        assert!(keys.verify(&token, later).is_err());
    }

    #[test]
    fn expired_tokens_fail() {
        let keys = JwtKeys::new(SECRET, 60);
        let now = chrono::Utc::now().timestamp();
        let token = keys.issue(7, "sales", 0, now - 3600).unwrap_or_default();
        assert!(keys.verify(&token, now).is_err());
    }

    #[test]
    fn future_iat_fails() {
        let keys = JwtKeys::new(SECRET, 3600);
        let now = chrono::Utc::now().timestamp();
        let token = keys.issue(7, "sales", 0, now + 600).unwrap_or_default();
        assert!(keys.verify(&token, now).is_err());
    }

    #[test]
    fn other_secret_fails() {
        let a = JwtKeys::new(SECRET, 60);
        let b = JwtKeys::new("another-secret-another-secret-xx", 60);
        let now = chrono::Utc::now().timestamp();
        let token = a.issue(1, "admin", 0, now).unwrap_or_default();
        assert!(b.verify(&token, now).is_err());
    }

    #[test]
    fn alg_none_fails() {
        let keys = JwtKeys::new(SECRET, 60);
        let now = chrono::Utc::now().timestamp();
        let payload = format!(
            r#"{{"sub":"1","role":"admin","iat":{now},"exp":{}}}"#,
            now + 60
        );
        let token = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&payload)
        );
        assert!(keys.verify(&token, now).is_err());
    }

    #[test]
    fn missing_iat_fails() {
        let keys = JwtKeys::new(SECRET, 60);
        let now = chrono::Utc::now().timestamp();
        #[derive(Serialize)]
        struct NoIat {
            sub: String,
            exp: i64,
        }
        let token = encode(
            &Header::new(Algorithm::HS256),
            &NoIat {
                sub: "1".into(),
                exp: now + 60,
            },
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap_or_default();
        assert!(keys.verify(&token, now).is_err());
    }

    #[test]
    fn hs512_is_refused() {
        let keys = JwtKeys::new(SECRET, 60);
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "1".into(),
            role: "admin".into(),
            iat: now,
            exp: now + 60,
            gen: 0,
        };
        let token = encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap_or_default();
        assert!(keys.verify(&token, now).is_err());
    }
}
