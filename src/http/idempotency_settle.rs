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
//! Now a settling that fails for a passing cause (`ApiError::Unavailable`:
//! the database busy, locked, unreachable, a deadlock) is remembered in this
//! process and retried in the background with backoff until the claim's
//! lease ends, each failure logged. Meanwhile a retry with the key is
//! answered from the memory: the response of a completed run is replayed;
//! the claim of a released one is free (`db::idempotency::claim` takes it
//! over at once). Another process still sees the claim row: its retries get
//! the 409 until the settling lands or the lease ends.
//!
//! Bounded, since a completed entry holds its whole response: past the
//! lease an entry is ignored (its task may have died), and past
//! `MAX_ENTRIES` or `MAX_BODY_BYTES` a failure is only logged, as before.
//! The lease is the limit because another process judges the claim by it:
//! past it, an applied claim answers `idempotency-applied` "for good", and a
//! response stored after that (it was retried for 5 minutes) turned the
//! answer into a replay. Any other failure is not retried: it would fail
//! the same way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::db::idempotency::{self, Stored};
use crate::db::{self, Db};
use crate::error::ApiError;

/// How long a claim is held: settling is retried, and a response replayed
/// from memory, until this long after the claim.
pub const LEASE: Duration = Duration::from_secs(super::idempotency::IN_FLIGHT_LEASE_SECS as u64);
/// Most entries kept at once.
const MAX_ENTRIES: usize = 10_000;
/// Most response bytes kept at once (over the entries).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
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

    /// The bytes it holds, as counted against `MAX_BODY_BYTES`.
    fn size(&self) -> usize {
        match self {
            Pending::Completed { stored, .. } => stored.body.len() + stored.headers.len(),
            Pending::Released { .. } => 0,
        }
    }
}

/// Is a settling that failed so worth trying again?
pub fn passing(e: &ApiError) -> bool {
    matches!(e, ApiError::Unavailable(_))
}

#[derive(Debug)]
struct Entry {
    pending: Pending,
    /// The end of the claim's lease: past it, the entry no longer answers.
    until: Instant,
}

#[derive(Debug, Default)]
struct Memory {
    entries: HashMap<(i64, String), Entry>,
    bytes: usize,
}

impl Memory {
    fn remove(&mut self, id: &(i64, String)) {
        if let Some(entry) = self.entries.remove(id) {
            self.bytes -= entry.pending.size();
        }
    }

    fn sweep(&mut self, now: Instant) {
        let expired: Vec<(i64, String)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.until <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.remove(&id);
        }
    }
}

/// The claims of this process waiting to be settled.
#[derive(Debug, Clone, Default)]
pub struct Unsettled {
    memory: Arc<Mutex<Memory>>,
}

impl Unsettled {
    /// What the last run with this key left unsettled, if anything, and its
    /// lease is not over.
    pub fn get(&self, user_id: i64, key: &str) -> Option<Pending> {
        let mut memory = self.memory.lock();
        let id = (user_id, key.to_string());
        match memory.entries.get(&id) {
            Some(entry) if entry.until > Instant::now() => Some(entry.pending.clone()),
            Some(_) => {
                memory.remove(&id);
                None
            }
            None => None,
        }
    }

    /// Forgets the entry of `token` (settled, given up, or taken over by a
    /// retry); a newer run's entry stays.
    pub fn forget(&self, user_id: i64, key: &str, token: &str) {
        let mut memory = self.memory.lock();
        let id = (user_id, key.to_string());
        if memory
            .entries
            .get(&id)
            .is_some_and(|e| e.pending.token() == token)
        {
            memory.remove(&id);
        }
    }

    /// At a graceful stop, once the workers are gone (their runtimes took
    /// the background retries with them): tries each entry left until it is
    /// written, given up as any retry would, or `bound` passes, and logs
    /// what stays unsettled. Dropped with the workers, a response not yet
    /// stored left its key a 409 after the restart, then
    /// `idempotency-applied` for good, instead of its replay. Returns how
    /// many are left.
    pub async fn settle_left(&self, db: &Db, bound: Duration) -> usize {
        // One bound over every try: a try waits for a pooled connection or
        // the write turn (seconds each while the database is down), and a
        // deadline checked between passes let the stop run past Docker's
        // grace, unlogged (a review).
        if tokio::time::timeout(bound, self.settle_all(db))
            .await
            .is_ok()
        {
            return 0;
        }
        self.log_left("at the stop: the database stayed busy")
    }

    /// Logs how many entries are still waiting, and returns it.
    pub fn log_left(&self, why: &str) -> usize {
        let left = self.left();
        if left > 0 {
            log::error!(
                "{left} idempotency claim(s) left unsettled {why}; their keys answer 409 until \
                 their lease ends"
            );
        }
        left
    }

    async fn settle_all(&self, db: &Db) {
        loop {
            let entries: Vec<((i64, String), Pending)> = {
                let mut memory = self.memory.lock();
                memory.sweep(Instant::now());
                let entries = memory.entries.iter();
                entries
                    .map(|(id, e)| (id.clone(), e.pending.clone()))
                    .collect()
            };
            let mut left = 0;
            for ((user_id, key), pending) in entries {
                match settle(db, user_id, &key, &pending).await {
                    Err(e) if passing(&e) => left += 1,
                    Err(e) => {
                        log::error!("idempotency claim of user {user_id} left unsettled: {e}");
                        self.forget(user_id, &key, pending.token());
                    }
                    Ok(()) => self.forget(user_id, &key, pending.token()),
                }
            }
            if left == 0 {
                return;
            }
            tokio::time::sleep(FIRST_PAUSE).await;
        }
    }

    /// How many entries are waiting (their lease not over).
    fn left(&self) -> usize {
        let mut memory = self.memory.lock();
        memory.sweep(Instant::now());
        memory.entries.len()
    }

    fn holds(&self, user_id: i64, key: &str, token: &str) -> bool {
        self.get(user_id, key).is_some_and(|p| p.token() == token)
    }

    /// Keeps `pending` until `until`, unless the memory is full.
    fn remember(&self, user_id: i64, key: &str, pending: &Pending, until: Instant) -> bool {
        let mut memory = self.memory.lock();
        let id = (user_id, key.to_string());
        memory.remove(&id);
        let fits = |m: &Memory| {
            m.entries.len() < MAX_ENTRIES && m.bytes + pending.size() <= MAX_BODY_BYTES
        };
        if !fits(&memory) {
            memory.sweep(Instant::now());
        }
        if !fits(&memory) {
            return false;
        }
        memory.bytes += pending.size();
        memory.entries.insert(
            id,
            Entry {
                pending: pending.clone(),
                until,
            },
        );
        true
    }

    /// Remembers `pending` and retries it in the background until it is
    /// written, a retry took the claim over, or the claim's lease ends at
    /// `until`. Past the memory's bounds it is only logged.
    pub fn retry(&self, db: Db, user_id: i64, key: String, pending: Pending, until: Instant) {
        if Instant::now() >= until {
            log::error!("idempotency claim of user {user_id} left unsettled: its lease is over");
            return;
        }
        if !self.remember(user_id, &key, &pending, until) {
            log::error!(
                "idempotency claim of user {user_id} left unsettled: too many unsettled claims \
                 are kept already"
            );
            return;
        }
        let token = pending.token().to_string();
        let unsettled = self.clone();
        tokio::spawn(async move {
            let mut pause = FIRST_PAUSE;
            loop {
                tokio::time::sleep(pause).await;
                if !unsettled.holds(user_id, &key, &token) {
                    if why_gone(&pending, Instant::now(), until) == Gone::LeaseOver {
                        lease_over(user_id, &pending);
                    }
                    return;
                }
                match settle(&db, user_id, &key, &pending).await {
                    Ok(()) => break,
                    Err(e) if !passing(&e) || Instant::now() >= until => {
                        log::error!("idempotency claim of user {user_id} left unsettled: {e}");
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

/// Why a pending settling found its entry gone from the memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gone {
    /// A retry took the released claim over (and forgot the entry).
    TakenOver,
    /// The claim's lease ended first.
    LeaseOver,
}

fn why_gone(pending: &Pending, now: Instant, until: Instant) -> Gone {
    match pending {
        // A retry is answered a completed run's response, never takes its
        // claim over: only the lease's end drops it.
        Pending::Completed { .. } => Gone::LeaseOver,
        Pending::Released { .. } if now >= until => Gone::LeaseOver,
        Pending::Released { .. } => Gone::TakenOver,
    }
}

/// A settling the lease ended before the database took it: a lost response
/// is an error (the key answers `idempotency-applied` where its 2xx was
/// given), a claim not freed only a warning (past the lease any process
/// takes over a claim never applied).
fn lease_over(user_id: i64, pending: &Pending) {
    match pending {
        Pending::Completed { stored, .. } => log::error!(
            "idempotency response ({}) of user {user_id} lost: the claim's lease ended before \
             the database took it; its retries are answered idempotency-applied",
            stored.status
        ),
        Pending::Released { .. } => log::warn!(
            "idempotency claim of user {user_id} not freed before its lease ended; \
             it is taken over as stale"
        ),
    }
}

/// One try at writing what `pending` left to write. A response is stored
/// only while the claim's lease lasts, the first try included: past it,
/// another process may have answered `idempotency-applied`, for good.
pub async fn settle(db: &Db, user_id: i64, key: &str, pending: &Pending) -> Result<(), ApiError> {
    let (key, pending) = (key.to_string(), pending.clone());
    db.write_grouped(move |conn| {
        let lease = chrono::Duration::seconds(super::idempotency::IN_FLIGHT_LEASE_SECS);
        match &pending {
            Pending::Completed { token, stored, .. } => {
                let claimed_after = db::clock(conn)? - lease;
                Ok(idempotency::complete(
                    conn,
                    user_id,
                    &key,
                    token,
                    stored,
                    claimed_after,
                )?)
            }
            Pending::Released { token } => {
                // Stale at once for a retry, kept for the key's whole retention.
                let stale_at = db::clock(conn)? - lease - chrono::Duration::seconds(1);
                Ok(idempotency::release(conn, user_id, &key, token, stale_at)?)
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completed(token: &str, body_len: usize) -> Pending {
        Pending::Completed {
            token: token.into(),
            hash: "h".into(),
            stored: Stored {
                status: 201,
                headers: String::new(),
                body: "x".repeat(body_len),
            },
        }
    }

    #[test]
    fn an_entry_past_its_lease_is_not_answered() {
        let unsettled = Unsettled::default();
        let past = Instant::now() - Duration::from_millis(1);
        assert!(unsettled.remember(1, "k", &completed("t", 10), past));
        assert!(unsettled.get(1, "k").is_none());
        assert_eq!(unsettled.memory.lock().bytes, 0, "removed with its bytes");
        let later = Instant::now() + LEASE;
        assert!(unsettled.remember(1, "k", &completed("t", 10), later));
        assert!(unsettled.get(1, "k").is_some());
    }

    #[test]
    fn the_memory_keeps_at_most_its_bytes_and_entries() {
        let unsettled = Unsettled::default();
        let until = Instant::now() + LEASE;
        let half = MAX_BODY_BYTES / 2;
        assert!(unsettled.remember(1, "a", &completed("a", half), until));
        assert!(unsettled.remember(1, "b", &completed("b", half - 10), until));
        assert!(!unsettled.remember(1, "c", &completed("c", 100), until));
        assert!(unsettled.get(1, "c").is_none());
        // Replacing an entry gives its bytes back first.
        assert!(unsettled.remember(1, "b", &completed("b2", 100), until));
        unsettled.forget(1, "a", "a");
        assert_eq!(unsettled.memory.lock().bytes, 100);
        for i in 1..MAX_ENTRIES {
            let key = format!("k{i}");
            assert!(unsettled.remember(2, &key, &Pending::Released { token: key.clone() }, until));
        }
        let full = Pending::Released { token: "z".into() };
        assert!(!unsettled.remember(3, "z", &full, until));
        // Expired entries make room.
        let gone = Instant::now() - Duration::from_millis(1);
        unsettled
            .memory
            .lock()
            .entries
            .values_mut()
            .for_each(|e| e.until = gone);
        assert!(unsettled.remember(3, "z", &full, until));
        assert_eq!(unsettled.memory.lock().entries.len(), 1);
    }

    #[test]
    fn a_completed_entry_gone_is_a_lost_response_a_released_one_a_takeover_until_the_lease_ends() {
        let now = Instant::now();
        let (before, after) = (now + Duration::from_secs(1), now - Duration::from_millis(1));
        assert_eq!(why_gone(&completed("t", 1), now, before), Gone::LeaseOver);
        assert_eq!(why_gone(&completed("t", 1), now, after), Gone::LeaseOver);
        let released = Pending::Released { token: "t".into() };
        assert_eq!(why_gone(&released, now, before), Gone::TakenOver);
        assert_eq!(why_gone(&released, now, after), Gone::LeaseOver);
    }

    #[test]
    fn only_passing_failures_are_retried() {
        assert!(passing(&ApiError::Unavailable("database is locked".into())));
        assert!(!passing(&ApiError::Internal("refused by a trigger".into())));
    }
}
