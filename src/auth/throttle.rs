//! Login throttling, per email from one client address (an IPv6 client by
//! its /64: `http::client_address::throttle_key`), per email across all
//! addresses, and per client address.
//!
//! Failures: after `max_failures` failures for one email from one client
//! address within any window's length, further attempts for that email from
//! that address get 429 until the oldest of those failures is a window old.
//! The same holds at 20 times as many failures for one email from all
//! addresses together, and at four times as many from one address for all
//! emails. Keyed by the email alone at `max_failures`, anyone who knew an
//! email (the default admin's) could keep its owner out from anywhere with
//! a wrong password every few minutes, and block the password change too
//! (an outside review); the email-wide ceiling still keeps guesses spread
//! over many addresses slow. The window slides: a fixed one, reset a window
//! after its first failure, let a burst through on each side of its end (9
//! failures within 2 s, a review). Known and unknown emails are treated
//! alike, so the lock reveals nothing. A password change's current password
//! is also counted per token from all addresses, at `max_failures`
//! (`begin_password_change`).
//!
//! Successes: at most `max_logins` per email (four times as many per client
//! address) within any minute. Each login costs an Argon2 check (19 MiB and
//! tens of milliseconds of a core); without a limit, one valid account
//! logging in over and over kept that work going for as long as it liked,
//! with no token for the per-user rate limit to count (an outside review).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginThrottle {
    max_failures: u32,
    window: Duration,
    /// Successful logins per email in `LOGINS_WINDOW`; 0: unlimited.
    max_logins: u32,
    entries: Mutex<HashMap<Key, Entry>>,
    /// At most this many keys are held (`MAX_ENTRIES`; less in tests).
    max_entries: usize,
    /// Two SipHash keys, drawn at random for the process.
    hashers: [RandomState; 2],
}

/// A key (an email from a client, an email, a client, a token) as a 128-bit
/// hash: 16 bytes whatever the email's length (up to 254 characters, three
/// keys per attempt), and with keys drawn at random per process, no one can
/// choose two emails of one key; by chance two meet once in 2^64 pairs.
type Key = u128;

/// One key's (email and client, email, or client) failures within the last window, its successes
/// within the last minute, and the attempts still being checked: those count
/// against the limits too, or a burst sent at once would all be checked
/// before the first verdict is recorded.
#[derive(Debug)]
struct Entry {
    /// When each failure's attempt began, oldest first. Only the newest
    /// `limit` can decide a lock, so no more are kept; nor any older than the
    /// window.
    failures: VecDeque<Instant>,
    /// The same for successful logins, over `LOGINS_WINDOW`.
    logins: VecDeque<Instant>,
    in_flight: u32,
    /// The key's limits (the same at every attempt), for the choice of
    /// what a full map forgets.
    limits: Limits,
}

impl Entry {
    fn new(limits: Limits) -> Entry {
        Entry {
            failures: VecDeque::new(),
            logins: VecDeque::new(),
            in_flight: 0,
            limits,
        }
    }

    fn is_idle(&self) -> bool {
        self.in_flight == 0 && self.failures.is_empty() && self.logins.is_empty()
    }

    /// When the entry would be idle (none while an attempt is under way:
    /// its end finds the entry).
    fn ends(&self, window: Duration) -> Option<Instant> {
        if self.in_flight > 0 {
            return None;
        }
        let failures = self.failures.back().map(|f| *f + window);
        let logins = self.logins.back().map(|l| *l + LOGINS_WINDOW);
        failures.max(logins)
    }

    /// How long the entry stays locked, by its failures or its logins (none
    /// when it is not). Expired instants must be gone.
    fn locked_for(&self, now: Instant, window: Duration) -> Option<Duration> {
        let failures = locked_for(&self.failures, self.limits.failures, now, window);
        let logins = (self.limits.logins > 0)
            .then(|| locked_for(&self.logins, self.limits.logins, now, LOGINS_WINDOW))
            .flatten();
        failures.max(logins)
    }

    /// Where a full map forgets the entry, first first: furthest below its
    /// failure limit (as a share of it, in 32-bit fixed point), then soonest
    /// to end. None for an entry kept: locked, or with an attempt under way.
    fn eviction_rank(&self, now: Instant, window: Duration) -> Option<(u64, Instant)> {
        if self.locked_for(now, window).is_some() {
            return None;
        }
        let end = self.ends(window)?;
        let held = u64::try_from(self.failures.len()).unwrap_or(u64::MAX);
        let share = held.saturating_mul(1 << 32) / u64::from(self.limits.failures.max(1));
        Some((share, end))
    }
}

/// Forgets the instants a window old at `now`.
fn expire(instants: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while instants
        .front()
        .is_some_and(|f| now.saturating_duration_since(*f) >= window)
    {
        instants.pop_front();
    }
}

/// How long a key stays locked by `instants`: until the oldest of the newest
/// `max` is a window old (none when fewer are held).
fn locked_for(
    instants: &VecDeque<Instant>,
    max: u32,
    now: Instant,
    window: Duration,
) -> Option<Duration> {
    let held = instants.len();
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    if held == 0 || held < max {
        return None;
    }
    // With a limit of 0 the newest decides.
    let oldest = instants.get(held - max.max(1))?;
    Some(window.saturating_sub(now.saturating_duration_since(*oldest)))
}

/// Records an attempt begun `at`, in order (attempts end out of order),
/// keeping at most `max` (one when the limit is 0).
fn record(instants: &mut VecDeque<Instant>, at: Instant, max: u32) {
    let i = instants.partition_point(|f| *f <= at);
    instants.insert(i, at);
    let keep = usize::try_from(max.max(1)).unwrap_or(usize::MAX);
    while instants.len() > keep {
        instants.pop_front();
    }
}

/// Why an attempt may not begin, and for how many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many failures (or attempts under way).
    Failures(u64),
    /// Too many successful logins within a minute.
    Logins(u64),
}

impl Refused {
    pub fn secs(self) -> u64 {
        match self {
            Refused::Failures(s) | Refused::Logins(s) => s,
        }
    }
}

/// The window of the successful-login limit.
const LOGINS_WINDOW: Duration = Duration::from_secs(60);
const CLIENT_FACTOR: u32 = 4;
/// The failures one email may have from all addresses together, in
/// `max_failures`: 100 with the default 5, so that an attacker needs 20
/// addresses (or /64s) to lock an email out, and one with that many still
/// guesses no faster than 100 times a window.
const EMAIL_FACTOR: u32 = 20;
/// The keys held at most. Each holds up to its limit's instants (16 bytes
/// each): 100,000 keys of the defaults' failures are a few tens of MB at
/// worst. Without a cap, failures from ever new addresses and emails (an
/// IPv6 /48 holds 65,536 /64s) grew the map for a whole window.
const MAX_ENTRIES: usize = 100_000;

/// An attempt under way (from `LoginThrottle::begin`). Dropped without a
/// verdict (the client went away mid-check), it counts as a failure.
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    keys: Vec<(Key, Limits)>,
    at: Instant,
    verdict: Option<Verdict>,
}

/// A key's limits: failures per window, successes per minute (0: none);
/// and whether a success forgets the key's failures.
#[derive(Debug, Clone, Copy)]
struct Limits {
    failures: u32,
    logins: u32,
    cleared_by_success: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Failed,
    Succeeded,
    /// Not the caller's doing (the database was down): not counted.
    Void,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window_secs: u64, max_logins: u32) -> LoginThrottle {
        LoginThrottle {
            max_failures,
            window: Duration::from_secs(window_secs),
            max_logins,
            entries: Mutex::new(HashMap::new()),
            max_entries: MAX_ENTRIES,
            hashers: [RandomState::new(), RandomState::new()],
        }
    }

    /// Starts an attempt for `email` from `client`, or says why not and for
    /// how long: either is locked out by its failures or its logins, or has
    /// as many attempts under way as it may still fail or succeed (then a
    /// second).
    pub fn begin(&self, email: &str, client: &str, now: Instant) -> Result<Attempt<'_>, Refused> {
        self.begin_keys(self.login_keys(email, client), now)
    }

    /// `begin` for the current password of a password change by the user
    /// `user_id` with its token issued at `issued_at` (the token's `iat`):
    /// also counted per token from all addresses together, at
    /// `max_failures`. Only the token's holder gets here, so the addresses
    /// that spread a login's guesses (and save its owner from a stranger's
    /// lock) would only let a stolen token guess 20 times as often, from 20
    /// addresses. Per token, not per user: per user, a thief's five wrong
    /// guesses a window locked the owner's own token out of the change too,
    /// the only self-service way to revoke the thief's (a review). A thief
    /// cannot get another token without the password, so each stolen one
    /// still gets `max_failures` guesses a window. Not under the email's
    /// ceiling across addresses: strangers' wrong logins fill it (20
    /// addresses, or one IPv6 /56), and it would lock the owner's change,
    /// and so the revocation, for as long as they kept it full (a review);
    /// the token key bounds a stolen token's guesses already.
    pub fn begin_password_change(
        &self,
        user_id: i64,
        issued_at: i64,
        email: &str,
        client: &str,
        now: Instant,
    ) -> Result<Attempt<'_>, Refused> {
        let email_wide = self.email_key(email);
        let mut keys = self.login_keys(email, client);
        keys.retain(|(key, _)| *key != email_wide);
        keys.push((
            self.key(("token", user_id, issued_at)),
            Limits {
                failures: self.max_failures,
                logins: 0,
                cleared_by_success: true,
            },
        ));
        // The user's changes succeed at most as often as its logins: with
        // the email's key went its limit on successes, and one account (a
        // viewer's) ran two Argon2 checks per change, 120 a minute from
        // one address (a review). Its failures are the token key's.
        keys.push((
            self.key(("change", user_id)),
            Limits {
                failures: u32::MAX,
                logins: self.max_logins,
                cleared_by_success: false,
            },
        ));
        self.begin_keys(keys, now)
    }

    /// The keys a login counts under, with their limits.
    fn login_keys(&self, email: &str, client: &str) -> Vec<(Key, Limits)> {
        vec![
            // Successes are limited per email (below), not per pair; a
            // success forgets the failures of this email from this address,
            // so a user who mistyped is not left near the lock.
            (
                self.pair_key(email, client),
                Limits {
                    failures: self.max_failures,
                    logins: 0,
                    cleared_by_success: true,
                },
            ),
            // Not cleared by a success: an attack spread over many
            // addresses would get a fresh ceiling at each of the owner's
            // logins.
            (
                self.email_key(email),
                Limits {
                    failures: self.max_failures.saturating_mul(EMAIL_FACTOR),
                    logins: self.max_logins,
                    cleared_by_success: false,
                },
            ),
            (
                self.client_key(client),
                Limits {
                    failures: self.max_failures.saturating_mul(CLIENT_FACTOR),
                    logins: self.max_logins.saturating_mul(CLIENT_FACTOR),
                    cleared_by_success: false,
                },
            ),
        ]
    }

    fn begin_keys(&self, keys: Vec<(Key, Limits)>, now: Instant) -> Result<Attempt<'_>, Refused> {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let fresh =
            |map: &HashMap<Key, Entry>| keys.iter().filter(|(k, _)| !map.contains_key(k)).count();
        if map.len() + fresh(&map) > self.max_entries {
            let wanted = fresh(&map);
            self.make_room(&mut map, now, wanted);
            if map.len() + fresh(&map) > self.max_entries {
                return Err(Refused::Failures(self.full_for(&map, now)));
            }
        }
        let mut refused: Option<Refused> = None;
        let mut refuse = |r: Refused| {
            if refused.is_none_or(|old| r.secs() > old.secs()) {
                refused = Some(r);
            }
        };
        for (key, max) in &keys {
            let Some(entry) = map.get_mut(key) else {
                continue;
            };
            expire(&mut entry.failures, now, self.window);
            expire(&mut entry.logins, now, LOGINS_WINDOW);
            if let Some(left) = locked_for(&entry.failures, max.failures, now, self.window) {
                refuse(Refused::Failures(whole_seconds(left)));
            }
            let held = u32::try_from(entry.failures.len()).unwrap_or(u32::MAX);
            if held.saturating_add(entry.in_flight) >= max.failures {
                refuse(Refused::Failures(1));
            }
            if max.logins == 0 {
                continue;
            }
            if let Some(left) = locked_for(&entry.logins, max.logins, now, LOGINS_WINDOW) {
                refuse(Refused::Logins(whole_seconds(left)));
            }
            let held = u32::try_from(entry.logins.len()).unwrap_or(u32::MAX);
            if held.saturating_add(entry.in_flight) >= max.logins {
                refuse(Refused::Logins(1));
            }
        }
        if let Some(refused) = refused {
            return Err(refused);
        }
        for (key, max) in &keys {
            map.entry(*key)
                .or_insert_with(|| Entry::new(*max))
                .in_flight += 1;
        }
        Ok(Attempt {
            throttle: self,
            keys,
            at: now,
            verdict: None,
        })
    }

    fn end(&self, attempt: &Attempt<'_>, verdict: Verdict) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for (key, max) in &attempt.keys {
            let Some(entry) = map.get_mut(key) else {
                continue;
            };
            entry.in_flight = entry.in_flight.saturating_sub(1);
            match verdict {
                Verdict::Failed => record(&mut entry.failures, attempt.at, max.failures),
                Verdict::Succeeded => {
                    if max.cleared_by_success {
                        entry.failures.clear();
                    }
                    if max.logins > 0 {
                        record(&mut entry.logins, attempt.at, max.logins);
                    }
                }
                Verdict::Void => {}
            }
            if entry.is_idle() {
                map.remove(key);
            }
        }
    }
}

impl Attempt<'_> {
    pub fn failed(mut self) {
        self.verdict = Some(Verdict::Failed);
    }

    pub fn succeeded(mut self) {
        self.verdict = Some(Verdict::Succeeded);
    }

    pub fn void(mut self) {
        self.verdict = Some(Verdict::Void);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let verdict = self.verdict.unwrap_or(Verdict::Failed);
        self.throttle.end(self, verdict);
    }
}

/// A wait in whole seconds, rounded up: a client that waits that long is
/// let in.
fn whole_seconds(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

impl LoginThrottle {
    /// Hashes `parts` (a tuple led by the key's kind: a `str` hashes with
    /// its length, so no two tuples of different parts meet but by chance).
    fn key(&self, parts: impl Hash) -> Key {
        let [high, low] = &self.hashers;
        (u128::from(high.hash_one(&parts)) << 64) | u128::from(low.hash_one(&parts))
    }

    fn email_key(&self, email: &str) -> Key {
        self.key(("email", crate::domain::email::normalize(email)))
    }

    fn client_key(&self, client: &str) -> Key {
        self.key(("client", client))
    }

    /// An email from one client.
    fn pair_key(&self, email: &str, client: &str) -> Key {
        self.key(("pair", client, email.trim().to_lowercase()))
    }

    /// Forgets what has expired and, if that leaves too little room for
    /// `wanted` new keys, the keys furthest below their failure limit (one
    /// failure, or successes only, first; of those alike, the soonest to
    /// end), so that the map with the new keys holds nine tenths of the cap:
    /// a full map is scanned once per tenth of the cap's new keys, not at
    /// every attempt. A key forgotten early loses its counts. A locked key
    /// is never forgotten before its lock ends, nor one whose attempt is
    /// under way: forgetting the soonest to end first (a review), an
    /// attacker flooding the map with new keys (new /64s, new emails)
    /// forgot its own oldest locks first. The map may be left fuller than
    /// wanted (`full_for`).
    fn make_room(&self, map: &mut HashMap<Key, Entry>, now: Instant, wanted: usize) {
        let window = self.window;
        map.retain(|_, e| {
            expire(&mut e.failures, now, window);
            expire(&mut e.logins, now, LOGINS_WINDOW);
            !e.is_idle()
        });
        let room = (self.max_entries - self.max_entries / 10).saturating_sub(wanted);
        let Some(excess) = map.len().checked_sub(room).filter(|n| *n > 0) else {
            return;
        };
        let mut ranks: Vec<(u64, Instant)> = map
            .values()
            .filter_map(|e| e.eviction_rank(now, window))
            .collect();
        let Some(last) = excess.min(ranks.len()).checked_sub(1) else {
            return;
        };
        let (_, cutoff, _) = ranks.select_nth_unstable(last);
        let cutoff = *cutoff;
        let mut left = last + 1;
        map.retain(|_, e| {
            let evict = left > 0 && e.eviction_rank(now, window).is_some_and(|r| r <= cutoff);
            left -= usize::from(evict);
            !evict
        });
    }

    /// The wait for a new key when the map is full of keys it keeps (locks
    /// and attempts under way, after `make_room`): until the soonest lock
    /// ends (a second while attempts are all that is held). The attempt is
    /// refused rather than a lock forgotten: filling 100,000 keys with locks
    /// takes 5 failed Argon2 checks each (the defaults) within a window, and
    /// a lock forgotten gives its guesser a fresh count; keys already held
    /// (an email and address with counts) are still let in.
    fn full_for(&self, map: &HashMap<Key, Entry>, now: Instant) -> u64 {
        map.values()
            .filter_map(|e| e.locked_for(now, self.window))
            .min()
            .map_or(1, whole_seconds)
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn fail(t: &LoginThrottle, email: &str, client: &str, now: Instant) {
        t.begin(email, client, now).expect("not locked").failed();
    }

    /// Whether an attempt may begin (the probe itself is not counted).
    fn open(t: &LoginThrottle, email: &str, client: &str, now: Instant) -> bool {
        t.begin(email, client, now).map(Attempt::void).is_ok()
    }

    #[test]
    fn locks_after_max_failures_and_unlocks_after_window() {
        let t = LoginThrottle::new(3, 60, 0);
        let start = Instant::now();
        for _ in 0..2 {
            fail(&t, "a@x.io", "1.2.3.4", start);
        }
        assert!(open(&t, "a@x.io", "1.2.3.4", start));
        fail(&t, "A@x.io", "1.2.3.4", start);
        assert_eq!(
            t.begin("a@x.io", "1.2.3.4", start).err().map(Refused::secs),
            Some(60)
        );
        assert!(open(&t, "b@x.io", "1.2.3.4", start));
        let later = start + Duration::from_secs(61);
        assert!(open(&t, "a@x.io", "1.2.3.4", later));
    }

    /// Found by an outside review: keyed by the email alone, anyone's wrong
    /// passwords locked its owner out everywhere. One address's failures
    /// lock that address only; the owner's login from elsewhere leaves it
    /// locked.
    #[test]
    fn one_clients_failures_do_not_lock_the_email_for_another() {
        let t = LoginThrottle::new(3, 60, 0);
        let now = Instant::now();
        for _ in 0..3 {
            fail(&t, "a@x.io", "evil", now);
        }
        assert_eq!(
            t.begin("a@x.io", "evil", now).err(),
            Some(Refused::Failures(60))
        );
        t.begin("A@x.io", "home", now).expect("open").succeeded();
        assert_eq!(
            t.begin("a@x.io", "evil", now).err(),
            Some(Refused::Failures(60))
        );
    }

    /// Guesses spread over many addresses still meet a limit: 20 times the
    /// per-address one for the email, which a success does not clear.
    #[test]
    fn the_email_is_locked_across_addresses_at_twenty_times_the_limit() {
        let t = LoginThrottle::new(2, 60, 0);
        let now = Instant::now();
        for i in 0..39 {
            fail(&t, "a@x.io", &format!("10.0.0.{}", i / 2), now);
        }
        assert!(open(&t, "a@x.io", "fresh", now));
        t.begin("a@x.io", "home", now).expect("open").succeeded();
        fail(&t, "a@x.io", "10.0.0.19", now);
        assert_eq!(
            t.begin("a@x.io", "fresh", now).err(),
            Some(Refused::Failures(60))
        );
        assert!(open(&t, "b@x.io", "fresh", now));
        let held = t
            .entries
            .lock()
            .map(|m| {
                m.get(&t.email_key("a@x.io"))
                    .map_or(0, |e| e.failures.len())
            })
            .unwrap_or(usize::MAX);
        assert_eq!(held, 40);
    }

    #[test]
    fn the_wait_is_rounded_up() {
        let t = LoginThrottle::new(1, 60, 0);
        let start = Instant::now();
        fail(&t, "a@x.io", "c", start);
        let at = start + Duration::from_millis(56_500);
        assert_eq!(t.begin("a@x.io", "c", at).err().map(Refused::secs), Some(4));
        assert!(open(&t, "a@x.io", "c", start + Duration::from_secs(60)));
    }

    /// A success forgets the email's failures from its address: a user who
    /// mistyped is not left near the lock.
    #[test]
    fn success_clears_the_email_from_its_address() {
        let t = LoginThrottle::new(2, 60, 0);
        let now = Instant::now();
        fail(&t, "a@x.io", "c", now);
        t.begin("a@x.io", "c", now).expect("open").succeeded();
        fail(&t, "a@x.io", "c", now);
        assert!(open(&t, "a@x.io", "c", now));
    }

    #[test]
    fn one_client_trying_many_emails_is_locked() {
        let t = LoginThrottle::new(2, 60, 0);
        let now = Instant::now();
        for i in 0..8 {
            fail(&t, &format!("u{i}@x.io"), "evil", now);
        }
        assert!(!open(&t, "fresh@x.io", "evil", now));
    }

    #[test]
    fn attempts_under_way_count_against_the_limit() {
        let t = LoginThrottle::new(3, 60, 0);
        let now = Instant::now();
        let under_way: Vec<_> = (0..3)
            .map(|_| t.begin("a@x.io", "c", now).expect("open"))
            .collect();
        assert_eq!(
            t.begin("a@x.io", "c", now).err().map(Refused::secs),
            Some(1),
            "a burst is cut at the limit"
        );
        drop(under_way); // no verdict: each counts as a failure
        assert_eq!(
            t.begin("a@x.io", "c", now).err().map(Refused::secs),
            Some(60)
        );
    }

    #[test]
    fn a_void_attempt_is_not_counted() {
        let t = LoginThrottle::new(1, 60, 0);
        let now = Instant::now();
        t.begin("a@x.io", "c", now).expect("open").void();
        let entries = t.entries.lock().map(|m| m.len()).unwrap_or(usize::MAX);
        assert_eq!(entries, 0, "nothing held, nothing counted");
        assert!(open(&t, "a@x.io", "c", now));
    }

    /// Found by a review: a fixed window let a burst through on each side
    /// of its end. Failures straddling where a fixed window would reset are
    /// still counted, and the lock lasts until the oldest of the last
    /// `max` failures is a window old.
    #[test]
    fn the_window_slides() {
        let t = LoginThrottle::new(5, 20, 0);
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        fail(&t, "a@x.io", "c", at(0));
        for _ in 0..4 {
            fail(&t, "a@x.io", "c", at(19_000));
        }
        assert_eq!(
            t.begin("a@x.io", "c", at(19_500)).err().map(Refused::secs),
            Some(1)
        );
        // The first failure is a window old: one more may be tried, not five.
        fail(&t, "a@x.io", "c", at(21_000));
        assert_eq!(
            t.begin("a@x.io", "c", at(21_000)).err().map(Refused::secs),
            Some(18)
        );
        assert_eq!(
            t.begin("a@x.io", "c", at(38_500)).err().map(Refused::secs),
            Some(1)
        );
        // The four of 19 s are a window old at 39 s.
        assert!(open(&t, "a@x.io", "c", at(39_000)));
        for _ in 0..4 {
            fail(&t, "a@x.io", "c", at(39_000));
        }
        assert_eq!(
            t.begin("a@x.io", "c", at(39_000)).err().map(Refused::secs),
            Some(2)
        );
    }

    #[test]
    fn the_client_window_slides_too() {
        let t = LoginThrottle::new(2, 60, 0);
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        for i in 0..8 {
            fail(&t, &format!("u{i}@x.io"), "evil", at(10 * (i / 4)));
        }
        assert_eq!(
            t.begin("fresh@x.io", "evil", at(30))
                .err()
                .map(Refused::secs),
            Some(30)
        );
        // The four of 0 s are a window old; the four of 10 s still count.
        for i in 8..12 {
            fail(&t, &format!("u{i}@x.io"), "evil", at(60));
        }
        assert_eq!(
            t.begin("fresh@x.io", "evil", at(60))
                .err()
                .map(Refused::secs),
            Some(10)
        );
        assert!(open(&t, "fresh@x.io", "evil", at(70)));
    }

    /// Attempts end out of order; each failure counts from when its attempt
    /// began, so the older one leaves the window first.
    #[test]
    fn failures_ending_out_of_order_expire_in_order() {
        let t = LoginThrottle::new(2, 10, 0);
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let first = t.begin("a@x.io", "c", at(0)).expect("open");
        let second = t.begin("a@x.io", "c", at(5)).expect("open");
        second.failed();
        first.failed();
        assert_eq!(
            t.begin("a@x.io", "c", at(6)).err().map(Refused::secs),
            Some(4)
        );
        assert!(open(&t, "a@x.io", "c", at(10)));
        fail(&t, "a@x.io", "c", at(10));
        assert_eq!(
            t.begin("a@x.io", "c", at(10)).err().map(Refused::secs),
            Some(5)
        );
    }

    /// No key holds more failure instants than its limit, however many
    /// failures it had; nor any a window old.
    #[test]
    fn a_key_holds_no_more_than_its_limit() {
        let t = LoginThrottle::new(3, 10, 0);
        let start = Instant::now();
        for s in 0..100 {
            let now = start + Duration::from_secs(s);
            if let Ok(attempt) = t.begin("a@x.io", "c", now) {
                attempt.failed();
            }
        }
        let held = |key: Key| {
            let map = t.entries.lock().unwrap_or_else(|p| p.into_inner());
            map.get(&key).map_or(0, |e| e.failures.len())
        };
        let (pair, email) = (t.pair_key("a@x.io", "c"), t.email_key("a@x.io"));
        assert_eq!(held(pair), 3);
        assert!(held(email) <= 3, "{}", held(email));
        assert!(held(t.client_key("c")) <= 12, "{}", held(t.client_key("c")));
        // A window after the last failure, a new attempt forgets them all.
        assert!(open(&t, "a@x.io", "c", start + Duration::from_secs(110)));
        assert_eq!(held(pair), 0);
        assert_eq!(held(email), 0);
    }

    /// A password change's wrong current passwords lock the token at
    /// `max_failures` from all addresses together; its user's logins, its
    /// user's other tokens and other users are not locked by them. Found by
    /// a review: counted per user, a stolen token's guesses locked the
    /// owner's own token out of the change.
    #[test]
    fn a_password_change_is_locked_per_token_across_addresses() {
        let t = LoginThrottle::new(3, 60, 0);
        let now = Instant::now();
        for i in 0..3 {
            t.begin_password_change(7, 1000, "a@x.io", &format!("10.0.0.{i}"), now)
                .expect("open")
                .failed();
        }
        assert_eq!(
            t.begin_password_change(7, 1000, "a@x.io", "fresh", now)
                .err(),
            Some(Refused::Failures(60))
        );
        assert!(open(&t, "a@x.io", "fresh", now));
        assert!(t
            .begin_password_change(7, 1001, "a@x.io", "home", now)
            .is_ok());
        assert!(t
            .begin_password_change(8, 1000, "b@x.io", "fresh", now)
            .is_ok());
    }

    /// The email locked across addresses by strangers' wrong logins does
    /// not lock its owner's password change (the only self-service way to
    /// revoke a stolen token); the change's own keys still count.
    #[test]
    fn strangers_locking_the_email_do_not_lock_its_password_change() {
        let t = LoginThrottle::new(2, 60, 0);
        let now = Instant::now();
        for i in 0..40 {
            fail(&t, "a@x.io", &format!("10.0.0.{}", i / 2), now);
        }
        assert_eq!(
            t.begin("a@x.io", "home", now).err(),
            Some(Refused::Failures(60))
        );
        t.begin_password_change(7, 1000, "a@x.io", "home", now)
            .expect("open")
            .succeeded();
        for _ in 0..2 {
            t.begin_password_change(7, 1000, "a@x.io", "home", now)
                .expect("open")
                .failed();
        }
        assert!(t
            .begin_password_change(7, 1000, "a@x.io", "home", now)
            .is_err());
    }

    /// Found by a review: the map had no bound but the window, and past
    /// 10,000 keys every attempt scanned it all under the lock. At its cap
    /// the keys furthest below their failure limit are forgotten first (of
    /// those alike, the soonest to end), down to nine tenths of the cap (so
    /// the next scan is a tenth of the cap's keys away); a lock is kept,
    /// older though it is, and so is a key under way.
    #[test]
    fn the_map_is_capped_and_forgets_what_is_furthest_from_a_lock() {
        let mut t = LoginThrottle::new(3, 60, 0);
        t.max_entries = 30;
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let len = |t: &LoginThrottle| t.entries.lock().map(|m| m.len()).unwrap_or(usize::MAX);
        let filler = |i: usize| (format!("u{i}@x.io"), format!("10.0.0.{i}"));
        // A lock ending at 60 s (its email and address 3 of 60 and 12), and
        // an attempt under way since 0 s.
        for _ in 0..3 {
            fail(&t, "a@x.io", "c", at(0));
        }
        let under_way = t.begin("w@x.io", "10.9.9.9", at(0)).expect("open");
        // Eight failures of three keys each (1 of 3, 60 and 12), ending at
        // 70 s to 77 s, fill the map; the next makes room for itself.
        for i in 0..8 {
            let (email, client) = filler(i);
            fail(&t, &email, &client, at(10 + i as u64));
        }
        assert_eq!(len(&t), 30);
        let (email, client) = filler(8);
        fail(&t, &email, &client, at(20));
        assert_eq!(len(&t), 27, "nine tenths of 30, its own keys included");
        let map_holds = |key: Key| t.entries.lock().is_ok_and(|m| m.contains_key(&key));
        // Six went: the emails of one failure in 60, soonest ending first.
        for i in 0..6 {
            assert!(!map_holds(t.email_key(&filler(i).0)), "{i}");
        }
        for i in 6..9 {
            assert!(map_holds(t.email_key(&filler(i).0)), "{i}");
        }
        for i in 0..9 {
            let (email, client) = filler(i);
            assert!(map_holds(t.client_key(&client)), "{i}");
            assert!(map_holds(t.pair_key(&email, &client)), "{i}");
        }
        assert!(
            map_holds(t.email_key("a@x.io")),
            "3 of 60 is nearer its limit"
        );
        assert!(map_holds(t.pair_key("w@x.io", "10.9.9.9")));
        assert_eq!(
            t.begin("a@x.io", "c", at(20)).err(),
            Some(Refused::Failures(40)),
            "the older lock holds"
        );
        under_way.void();
        // However many new keys come, the map stays within its cap.
        for i in 9..200 {
            let (email, client) = filler(i);
            fail(&t, &email, &client, at(30));
            assert!(len(&t) <= 30, "{}", len(&t));
        }
    }

    /// Found by a review: forgetting the keys that end soonest, a flood of
    /// new keys (new /64s, new emails, one failure each) forgot the oldest
    /// locks first, the flooder's own among them. A lock outlasts any flood.
    #[test]
    fn a_lock_survives_a_flood_of_single_failure_keys() {
        let mut t = LoginThrottle::new(3, 60, 0);
        t.max_entries = 30;
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        for _ in 0..3 {
            fail(&t, "a@x.io", "c", at(0));
        }
        for i in 0..500 {
            fail(
                &t,
                &format!("u{i}@x.io"),
                &format!("10.0.{}.{}", i / 256, i % 256),
                at(10),
            );
        }
        assert_eq!(
            t.begin("a@x.io", "c", at(30)).err(),
            Some(Refused::Failures(30))
        );
        assert!(open(&t, "a@x.io", "c", at(60)));
    }

    /// A map full of keys it keeps (locks, attempts under way) refuses a
    /// new key's attempt until the soonest lock ends, rather than forget a
    /// lock; keys it holds are still let in.
    #[test]
    fn a_map_full_of_locks_refuses_new_keys() {
        let mut t = LoginThrottle::new(1, 60, 0);
        t.max_entries = 4;
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        // A lock (the pair, 1 of 1); its email and address are 1 of 20, 4.
        fail(&t, "a@x.io", "c", at(0));
        let under_way = t.begin("b@x.io", "c", at(10)).expect("open");
        // b@x.io's two new keys fit once a@x.io's email (1 of 20) is
        // forgotten; n@x.io's three do not: the pair is locked, and the rest
        // are under way.
        assert_eq!(
            t.begin("n@x.io", "d", at(10)).err(),
            Some(Refused::Failures(50))
        );
        assert_eq!(
            t.begin("a@x.io", "c", at(10)).err(),
            Some(Refused::Failures(50)),
            "the lock holds"
        );
        under_way.void();
        assert!(open(&t, "n@x.io", "d", at(10)));
        fail(&t, "a@x.io", "e", at(10));
    }

    fn succeed(t: &LoginThrottle, email: &str, client: &str, now: Instant) {
        t.begin(email, client, now).expect("not locked").succeeded();
    }

    /// Found by an outside review: successes were never limited, so one
    /// valid account could keep Argon2 running without end.
    #[test]
    fn successful_logins_are_limited_per_minute() {
        let t = LoginThrottle::new(5, 300, 3);
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        succeed(&t, "a@x.io", "c", at(0));
        succeed(&t, "a@x.io", "c", at(10));
        succeed(&t, "a@x.io", "c", at(20));
        assert_eq!(
            t.begin("a@x.io", "c", at(30)).err(),
            Some(Refused::Logins(30))
        );
        // Another email from the client is let in (its limit is 4 × 3).
        assert!(open(&t, "b@x.io", "c", at(30)));
        // The first login is a minute old: one more.
        succeed(&t, "a@x.io", "c", at(60));
        assert_eq!(
            t.begin("a@x.io", "c", at(60)).err(),
            Some(Refused::Logins(10))
        );
    }

    #[test]
    fn one_client_logging_in_as_many_emails_is_limited() {
        let t = LoginThrottle::new(5, 300, 2);
        let now = Instant::now();
        for i in 0..8 {
            succeed(&t, &format!("u{i}@x.io"), "busy", now);
        }
        assert_eq!(
            t.begin("fresh@x.io", "busy", now).err(),
            Some(Refused::Logins(60))
        );
        assert!(open(&t, "fresh@x.io", "other", now));
    }

    /// Logins under way count against the login limit too, as against the
    /// failure limit; and failures are counted as before beside it.
    #[test]
    fn logins_under_way_count_and_failures_still_lock() {
        let t = LoginThrottle::new(3, 300, 2);
        let now = Instant::now();
        succeed(&t, "a@x.io", "c", now);
        let under_way = t.begin("a@x.io", "c", now).expect("open");
        assert_eq!(t.begin("a@x.io", "c", now).err(), Some(Refused::Logins(1)));
        under_way.void();
        for _ in 0..3 {
            fail(&t, "b@x.io", "c", now);
        }
        assert_eq!(
            t.begin("b@x.io", "c", now).err(),
            Some(Refused::Failures(300))
        );
    }

    #[test]
    fn zero_logins_is_unlimited() {
        let t = LoginThrottle::new(5, 300, 0);
        let now = Instant::now();
        for _ in 0..100 {
            succeed(&t, "a@x.io", "c", now);
        }
        let entries = t.entries.lock().map(|m| m.len()).unwrap_or(usize::MAX);
        assert_eq!(entries, 0, "nothing held");
    }
}
