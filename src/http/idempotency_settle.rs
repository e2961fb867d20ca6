//! Settling a claim (storing its response, or freeing it) when the database
//! refused the first try.
//!
//! A keyed POST settles its claim right after its handler: `complete` stores
//! a success, `release` frees the claim of a failure. Both wait for the write
//! turn like any write, at most `writer::WAIT`, and a failure was only
//! logged. So under load a 503 (the handler's write timed out in the queue)
//! was followed by a release timing out in the same queue, and the client's
//! retries got 409 "still being processed" for the 60 s lease; worse, a 2xx
//! whose response was not stored left the key a 409 in-flight, then
//! `idempotency-applied` for good, never the stored answer (an outside
//! review).
//!
//! Now a settling that fails is remembered in this process and retried in
//! the background with backoff, for a bounded time, each failure logged.
//! Meanwhile a retry with the key is answered from the memory: the response
//! of a completed run is replayed; the claim of a released one is free
//! (`db::idempotency::claim` takes it over at once). Another process still
//! sees the claim row: its retries get the 409 until the settling lands or
//! the lease ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::db::idempotency::{self, Stored};
use crate::db::{self, Db};

/// How long a failed release is retried: after the lease, a claim never
/// applied is taken over and one applied reads as applied, without it.
const RELEASE_FOR: Duration = Duration::from_secs(super::idempotency::IN_FLIGHT_LEASE_SECS as u64);
/// How long a failed store of a response is retried (and the response
/// replayed from memory): beyond, the key answers `idempotency-applied`.
const COMPLETE_FOR: Duration = Duration::from_secs(300);
const FIRST_PAUSE: Duration = Duration::from_millis(200);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// What a run left unsettled, by (user, key).
#[derive(Debug, Clone)]
pub enum Pending {
    /// Its response, to be stored for the request of `hash`.
    Completed {
        token: String,
        hash: String,
        stored: Stored,
    },
    /// Its claim, to be freed.
    Released { token: String },
}

impl Pending {
    fn token(&self) -> &str {
        match self {
            Pending::Completed { token, .. } | Pending::Released { token } => token,
        }
    }
}

/// The claims of this process waiting to be settled.
#[derive(Debug, Clone, Default)]
pub struct Unsettled {
    pending: Arc<Mutex<HashMap<(i64, String), Pending>>>,
}

impl Unsettled {
    /// What the last run with this key left unsettled, if anything.
    pub fn get(&self, user_id: i64, key: &str) -> Option<Pending> {
        self.pending
            .lock()
            .get(&(user_id, key.to_string()))
            .cloned()
    }

    /// Forgets the entry of `token` (settled, given up, or taken over by a
    /// retry); a newer run's entry stays.
    pub fn forget(&self, user_id: i64, key: &str, token: &str) {
        let mut pending = self.pending.lock();
        let id = (user_id, key.to_string());
        if pending.get(&id).is_some_and(|p| p.token() == token) {
            pending.remove(&id);
        }
    }

    fn holds(&self, user_id: i64, key: &str, token: &str) -> bool {
        self.get(user_id, key).is_some_and(|p| p.token() == token)
    }

    /// Remembers `pending` and retries it in the background until it is
    /// written, a retry took the claim over, or its time is up.
    pub fn retry(&self, db: Db, user_id: i64, key: String, pending: Pending) {
        let token = pending.token().to_string();
        self.pending
            .lock()
            .insert((user_id, key.clone()), pending.clone());
        let unsettled = self.clone();
        let settle_for = match pending {
            Pending::Completed { .. } => COMPLETE_FOR,
            Pending::Released { .. } => RELEASE_FOR,
        };
        tokio::spawn(async move {
            let until = Instant::now() + settle_for;
            let mut pause = FIRST_PAUSE;
            loop {
                tokio::time::sleep(pause).await;
                if !unsettled.holds(user_id, &key, &token) {
                    return; // a retry took the claim over
                }
                match settle(&db, user_id, &key, &pending).await {
                    Ok(()) => break,
                    Err(e) if Instant::now() >= until => {
                        log::error!(
                            "idempotency claim of user {user_id} left unsettled after {}s: {e}",
                            settle_for.as_secs()
                        );
                        break;
                    }
                    Err(e) => log::warn!("idempotency claim not settled yet, retrying: {e}"),
                }
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
            unsettled.forget(user_id, &key, &token);
        });
    }
}

/// One try at writing what `pending` left to write.
pub async fn settle(
    db: &Db,
    user_id: i64,
    key: &str,
    pending: &Pending,
) -> Result<(), crate::error::ApiError> {
    let (key, pending) = (key.to_string(), pending.clone());
    db.write_grouped(move |conn| match &pending {
        Pending::Completed { token, stored, .. } => {
            Ok(idempotency::complete(conn, user_id, &key, token, stored)?)
        }
        Pending::Released { token } => {
            // Stale at once for a retry, kept for the key's whole retention.
            let stale_at =
                db::now() - chrono::Duration::seconds(super::idempotency::IN_FLIGHT_LEASE_SECS + 1);
            Ok(idempotency::release(conn, user_id, &key, token, stale_at)?)
        }
    })
    .await
}
