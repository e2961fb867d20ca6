//! Tokens this process has already verified.
//!
//! A client sends the same bearer token with every request, and checking it
//! (base64, HMAC-SHA256, two JSON parses) was 8 % of a card read's CPU
//! (docs/BENCHMARKS.md, session 27). A token byte-for-byte equal to one that
//! passed the check with this process's key is answered from here, until its
//! `exp` with the check's leeway: the answer the check would give at that
//! moment. Revocation is not this cache's business: the user check after it
//! (`auth::user_cache`) compares the token's generation on every request.

use std::collections::HashMap;
use std::sync::RwLock;

use super::jwt::Claims;

/// Entries kept at most; beyond, the cache starts over (a token lives an
/// hour by default, and each client holds one).
const MAX_ENTRIES: usize = 4096;

#[derive(Default)]
pub struct VerifiedTokens {
    entries: RwLock<HashMap<Box<str>, Claims>>,
}

impl VerifiedTokens {
    /// The claims of `token` if it was verified and has not expired at `now`
    /// (`leeway` seconds after its `exp`, as the check allows).
    pub fn get(&self, token: &str, now: i64, leeway: i64) -> Option<Claims> {
        let entries = self.entries.read().ok()?;
        let claims = entries.get(token)?;
        (now <= claims.exp.saturating_add(leeway)).then(|| claims.clone())
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
