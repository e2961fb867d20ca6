//! Tokens this process has already decoded.
//!
//! A client sends the same bearer token with every request, and checking it
//! (base64, HMAC-SHA256, two JSON parses) was 8 % of a card read's CPU
//! (docs/BENCHMARKS.md, session 27). The signature and the claims are a
//! function of the token's text and the key alone, so a token that passed
//! once is remembered here, byte for byte, with its claims; the checks that
//! depend on the time (`exp`, `iat`) still run on every request
//! (`JwtKeys::verify`), and revocation is the user check's, after it
//! (`auth::user_cache`).

use std::collections::HashMap;
use std::sync::RwLock;

use super::jwt::Claims;

/// Entries kept at most; beyond, the cache starts over (a token lives an
/// hour by default, each client holds one, and only tokens still in time
/// are kept).
const MAX_ENTRIES: usize = 4096;

#[derive(Default)]
pub struct VerifiedTokens {
    entries: RwLock<HashMap<Box<str>, Claims>>,
}

impl VerifiedTokens {
    /// The claims of `token` if it passed the check before.
    pub fn get(&self, token: &str) -> Option<Claims> {
        self.entries.read().ok()?.get(token).cloned()
    }

    /// Remembers a token that passed the check.
    pub fn put(&self, token: &str, claims: &Claims) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(token.into(), claims.clone());
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or_default()
    }
}
