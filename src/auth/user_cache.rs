//! A moment's memory of the user check behind every authenticated request.
//!
//! Every request with a token must know that its user is still active, has
//! the role the handler checks and has not had its tokens revoked (password
//! change, deactivation). Reading the user row for that costs a database
//! round trip on the blocking pool before the handler's own: on a card read
//! it is half the work. This cache keeps the answer for `ttl` (default 1 s,
//! `PATRON_AUTH_CACHE_MS`; 0 turns it off).
//!
//! Revocation stays immediate in this process: every write to `users`
//! (`db::users::update` and `insert`, and the user handler once more after
//! its commit) moves a process-wide epoch (`db::users::epoch`), and an entry is only used while the epoch is
//! the one read *before* its row was fetched. A row read just before a
//! concurrent change commits is therefore never kept past that commit.
//! Another Patron process on the same database sees a change after at most
//! `ttl` (its cache is its own).
//!
//! An entry older than the token it checks is not used to refuse it: a
//! token of a later generation than the entry's, or of the generation a
//! disabled user had when found disabled (a deactivation moves it, and no
//! token is issued while disabled, so such a token came after a
//! reactivation), was issued after a change this process has not seen
//! (another Patron process changed the password, or reactivated the user),
//! and the row is read again. Refused, a fresh login was a 401 "revoked"
//! on the other process until its entry aged out (a review).
//!
//! A user found disabled (or gone) is remembered as such, under the same
//! rule: a disabled user's token, still unexpired, is refused before the
//! per-user rate limit can count it, and unremembered each request with it
//! cost a database read, as many as the holder cared to send (an outside
//! review). Reactivating the user is a write to `users`, which forgets it.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use super::extract::AuthUser;
use crate::db::users::epoch;

/// Entries kept at most; beyond, the cache starts over (users are few).
const MAX_ENTRIES: usize = 10_000;

/// What is known of a user.
#[derive(Debug, Clone)]
pub enum Known {
    /// Active, with its token generation.
    Active(AuthUser, i64),
    /// Disabled, with its token generation then, or no such user (`None`).
    Disabled { generation: Option<i64> },
}

struct Entry {
    known: Known,
    epoch: u64,
    at: Instant,
}

pub struct UserCache {
    ttl: Duration,
    entries: RwLock<HashMap<i64, Entry>>,
}

impl UserCache {
    pub fn new(ttl: Duration) -> UserCache {
        UserCache {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// What is known of user `id`, if known and fresh.
    pub fn get(&self, id: i64) -> Option<Known> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        let e = entries.get(&id)?;
        (e.epoch == epoch() && e.at.elapsed() < self.ttl).then(|| e.known.clone())
    }

    /// Remembers an active user read after `epoch` was taken.
    pub fn put(&self, user: AuthUser, token_generation: i64, epoch: u64) {
        self.keep(user.id, Known::Active(user, token_generation), epoch);
    }

    /// Remembers that user `id`, read after `epoch` was taken, is disabled
    /// or gone.
    pub fn put_disabled(&self, id: i64, generation: Option<i64>, epoch: u64) {
        self.keep(id, Known::Disabled { generation }, epoch);
    }

    fn keep(&self, id: i64, known: Known, epoch: u64) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(
                id,
                Entry {
                    known,
                    epoch,
                    at: Instant::now(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::users::changed;
    use crate::domain::codes::Role;

    fn user(id: i64) -> AuthUser {
        AuthUser {
            id,
            role: Role::Sales,
            email: format!("u{id}@example.com"),
            token_generation: 0,
        }
    }

    #[test]
    fn a_fresh_entry_is_used_until_the_users_change() {
        let cache = UserCache::new(Duration::from_secs(60));
        let before = epoch();
        cache.put(user(7), 3, before);
        // Other tests move the epoch too: only assert while it stood still.
        if epoch() == before {
            assert!(matches!(cache.get(7), Some(Known::Active(u, 3)) if u.id == 7));
        }
        assert!(cache.get(8).is_none());
        changed();
        assert!(cache.get(7).is_none());
    }

    #[test]
    fn an_entry_read_before_a_change_is_never_used() {
        let cache = UserCache::new(Duration::from_secs(60));
        let before = epoch();
        changed();
        cache.put(user(7), 0, before);
        assert!(cache.get(7).is_none());
    }

    #[test]
    fn entries_expire_and_zero_turns_the_cache_off() {
        let cache = UserCache::new(Duration::from_millis(20));
        cache.put(user(1), 0, epoch());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get(1).is_none());
        let off = UserCache::new(Duration::ZERO);
        off.put(user(1), 0, epoch());
        assert!(off.get(1).is_none());
    }

    #[test]
    fn a_disabled_user_is_remembered_until_the_users_change() {
        let cache = UserCache::new(Duration::from_secs(60));
        let before = epoch();
        cache.put_disabled(9, Some(2), before);
        if epoch() == before {
            assert!(matches!(cache.get(9), Some(Known::Disabled { .. })));
        }
        changed();
        assert!(cache.get(9).is_none());
        let before = epoch();
        changed();
        cache.put_disabled(9, None, before);
        assert!(cache.get(9).is_none(), "read before a change: not kept");
    }
}
