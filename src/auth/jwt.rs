//! HS256 access tokens: `sub` (user id), `role`, `iat`, `exp`, `gen`, and
//! `aud`, the database's installation id (`db::settings::installation_id`).
//! User ids and generations start alike in every database: without `aud`,
//! a token of a staging server (or of a database since recreated) sharing
//! the secret was taken as the user with the same id, usually the first
//! admin (a review).

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
    /// The installation id of the database the token was issued for
    /// (required by the validation, which then names it missing).
    #[serde(default)]
    pub aud: String,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    verified: Arc<VerifiedTokens>,
    installation: String,
    pub ttl_secs: i64,
}

const LEEWAY_SECS: u64 = 30;

impl JwtKeys {
    pub fn new(secret: &str, ttl_secs: i64, installation: &str) -> JwtKeys {
        // Only HS256: a token claiming `none` or any other algorithm is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        // `exp` is required but checked by `in_time`, against the caller's
        // clock like `iat`: the decoding's own check reads the clock itself,
        // and a remembered token must get the answer a decoded one gets.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "iat", "sub", "aud"]);
        validation.set_audience(&[installation]);
        JwtKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            verified: Arc::default(),
            installation: installation.to_string(),
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
            exp: now.saturating_add(self.ttl_secs),
            gen: generation,
            aud: self.installation.clone(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("token signing failed: {e}")))
    }

    /// Checks signature, algorithm, `exp`, and that `iat` is not in the future.
    /// The signature is checked once per token (`auth::verified_tokens`); the
    /// times at every call.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, ApiError> {
        if let Some(claims) = self.verified.get(token) {
            in_time(&claims, now)?;
            return Ok(claims);
        }
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| ApiError::InvalidToken(refusal(&e).into()))?
            .claims;
        in_time(&claims, now)?;
        self.verified.put(token, &claims);
        Ok(claims)
    }
}

/// Why a token was refused, in our words: the library's own text listed
/// its algorithms and internals (a review).
fn refusal(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidSignature => "invalid token: the signature does not match",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "invalid token: only HS256 tokens issued by POST /auth/token are accepted"
        }
        ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => {
            "invalid token: issued before tokens named their database (log in again)"
        }
        ErrorKind::MissingRequiredClaim(_) => "invalid token: a required claim is missing",
        ErrorKind::InvalidAudience => {
            "invalid token: issued for another Patron database (log in to this one)"
        }
        _ => "invalid token: not a token issued by POST /auth/token",
    }
}

/// Not expired at `now` and not issued after it, both with the leeway.
fn in_time(claims: &Claims, now: i64) -> Result<(), ApiError> {
    let leeway = LEEWAY_SECS as i64;
    if claims.exp.saturating_add(leeway) < now {
        return Err(ApiError::InvalidToken("invalid token: expired".into()));
    }
    if claims.iat > now.saturating_add(leeway) {
        return Err(ApiError::InvalidToken(
            "invalid token: issued in the future".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const HERE: &str = "installation-a";

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn issued_tokens_verify() {
        let keys = JwtKeys::new(SECRET, 60, HERE);
        let now = chrono::Utc::now().timestamp();
        let token = keys.issue(7, "sales", 0, now).unwrap_or_default();
        let claims = keys.verify(&token, now + 10);
        assert_eq!(claims.ok().map(|c| c.sub), Some("7".to_string()));
    }

    #[test]
    fn a_remembered_token_gets_the_answer_a_decoded_one_gets() {
        let keys = JwtKeys::new(SECRET, 60, HERE);
        let leeway = LEEWAY_SECS as i64;
        let now = chrono::Utc::now().timestamp();
        let token = keys.issue(7, "sales", 0, now).unwrap_or_default();
        assert!(keys.verify(&token, now).is_ok());
        assert!(keys.verified.get(&token).is_some(), "remembered");
        // At each instant, the remembered token and a process that never saw
        // it (a fresh key, same secret) answer alike.
        for (at, ok) in [
            (now - leeway - 1, false), // issued in the future
            (now - leeway, true),
            (now, true),
            (now + 60 + leeway, true),
            (now + 60 + leeway + 1, false), // expired
        ] {
            let fresh = JwtKeys::new(SECRET, 60, HERE);
            assert_eq!(fresh.verify(&token, at).is_ok(), ok, "decoded at {at}");
            assert_eq!(keys.verify(&token, at).is_ok(), ok, "remembered at {at}");
        }
        assert_eq!(keys.verified.len(), 1);
        // A token out of time when first seen is not kept.
        let old = keys.issue(8, "sales", 0, now - 3600).unwrap_or_default();
        assert!(keys.verify(&old, now).is_err());
        assert!(keys.verified.get(&old).is_none());
        // One character changed in the middle of the signature: refused by
        // the HMAC, not kept.
        let (head, signature) = token.rsplit_once('.').unwrap_or_default();
        let mut forged: Vec<char> = signature.chars().collect();
        let middle = forged.len() / 2;
        forged[middle] = if forged[middle] == 'A' { 'B' } else { 'A' };
        let forged = format!("{head}.{}", forged.into_iter().collect::<String>());
        assert!(keys.verify(&forged, now).is_err());
        assert_eq!(keys.verified.len(), 1, "a refused token is not kept");
    }

    #[test]
    fn expired_tokens_fail() {
        let keys = JwtKeys::new(SECRET, 60, HERE);
        let now = chrono::Utc::now().timestamp();
        let token = keys.issue(7, "sales", 0, now - 3600).unwrap_or_default();
        assert!(keys.verify(&token, now).is_err());
    }

    #[test]
    fn future_iat_fails() {
        let keys = JwtKeys::new(SECRET, 3600, HERE);
        let now = chrono::Utc::now().timestamp();
        let token = keys.issue(7, "sales", 0, now + 600).unwrap_or_default();
        assert!(keys.verify(&token, now).is_err());
    }

    #[test]
    fn other_secret_fails() {
        let a = JwtKeys::new(SECRET, 60, HERE);
        let b = JwtKeys::new("another-secret-another-secret-xx", 60, HERE);
        let now = chrono::Utc::now().timestamp();
        let token = a.issue(1, "admin", 0, now).unwrap_or_default();
        assert!(b.verify(&token, now).is_err());
    }

    /// The same secret, another database: its user ids and generations
    /// start alike, so only `aud` tells its tokens apart.
    #[test]
    fn another_installations_token_fails() {
        let here = JwtKeys::new(SECRET, 60, HERE);
        let staging = JwtKeys::new(SECRET, 60, "installation-b");
        let now = chrono::Utc::now().timestamp();
        let token = staging.issue(1, "admin", 0, now).unwrap_or_default();
        assert!(staging.verify(&token, now).is_ok());
        match here.verify(&token, now) {
            Err(ApiError::InvalidToken(why)) => {
                assert!(why.contains("another Patron database"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn alg_none_fails() {
        let keys = JwtKeys::new(SECRET, 60, HERE);
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
        let keys = JwtKeys::new(SECRET, 60, HERE);
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
        let keys = JwtKeys::new(SECRET, 60, HERE);
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "1".into(),
            role: "admin".into(),
            iat: now,
            exp: now + 60,
            gen: 0,
            aud: HERE.into(),
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
