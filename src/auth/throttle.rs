//! Failed-login throttling: after `max_failures` failures for one email (or
//! four times as many from one client address) within the window, further
//! attempts get 429 until the window ends. Known and unknown emails are
//! treated alike, so the lock reveals nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginThrottle {
    max_failures: u32,
    window: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

/// One email's or client's failures in the current window, and the attempts
/// still being checked: those count against the limit too, or a burst of
/// guesses sent at once would all be checked before the first failure is
/// recorded.
#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    since: Instant,
    in_flight: u32,
}

const CLIENT_FACTOR: u32 = 4;
const PRUNE_ABOVE: usize = 10_000;

/// An attempt under way (from `LoginThrottle::begin`). Dropped without a
/// verdict (the client went away mid-check), it counts as a failure.
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    keys: [String; 2],
    at: Instant,
    verdict: Option<Verdict>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Failed,
    Succeeded,
    /// Not the caller's doing (the database was down): not counted.
    Void,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window_secs: u64) -> LoginThrottle {
        LoginThrottle {
            max_failures,
            window: Duration::from_secs(window_secs),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Starts an attempt for `email` from `client`, or `Err(seconds to wait)`
    /// when either is locked out (or has as many attempts under way as it
    /// may still fail: then a second).
    pub fn begin(&self, email: &str, client: &str, now: Instant) -> Result<Attempt<'_>, u64> {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > PRUNE_ABOVE {
            let window = self.window;
            map.retain(|_, e| e.in_flight > 0 || now.duration_since(e.since) < window);
        }
        let keys = [email_key(email), client_key(client)];
        let limits = [
            self.max_failures,
            self.max_failures.saturating_mul(CLIENT_FACTOR),
        ];
        let mut wait = 0;
        for (key, max) in keys.iter().zip(limits) {
            let Some(entry) = map.get_mut(key) else {
                continue;
            };
            let elapsed = now.duration_since(entry.since);
            if elapsed >= self.window {
                entry.failures = 0;
                entry.since = now;
            } else if entry.failures >= max {
                wait = wait.max(whole_seconds(self.window - elapsed));
            }
            if wait == 0 && entry.failures + entry.in_flight >= max {
                wait = 1;
            }
        }
        if wait > 0 {
            return Err(wait);
        }
        for key in &keys {
            let entry = map.entry(key.clone()).or_insert(Entry {
                failures: 0,
                since: now,
                in_flight: 0,
            });
            entry.in_flight += 1;
        }
        Ok(Attempt {
            throttle: self,
            keys,
            at: now,
            verdict: None,
        })
    }

    fn end(&self, keys: &[String; 2], verdict: Verdict, now: Instant) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for (i, key) in keys.iter().enumerate() {
            let Some(entry) = map.get_mut(key) else {
                continue;
            };
            entry.in_flight = entry.in_flight.saturating_sub(1);
            match verdict {
                Verdict::Failed => {
                    if now.duration_since(entry.since) >= self.window {
                        entry.failures = 0;
                        entry.since = now;
                    }
                    entry.failures += 1;
                }
                // A success clears the email's failures, not the client's.
                Verdict::Succeeded if i == 0 => entry.failures = 0,
                Verdict::Succeeded | Verdict::Void => {}
            }
            if entry.failures == 0 && entry.in_flight == 0 {
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
        self.throttle.end(&self.keys, verdict, self.at);
    }
}

/// A wait in whole seconds, rounded up: a client that waits that long is
/// let in.
fn whole_seconds(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

fn email_key(email: &str) -> String {
    format!("email:{}", email.trim().to_lowercase())
}

fn client_key(client: &str) -> String {
    format!("client:{client}")
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
        let t = LoginThrottle::new(3, 60);
        let start = Instant::now();
        for _ in 0..2 {
            fail(&t, "a@x.io", "1.2.3.4", start);
        }
        assert!(open(&t, "a@x.io", "1.2.3.4", start));
        fail(&t, "A@x.io", "1.2.3.4", start);
        assert_eq!(t.begin("a@x.io", "9.9.9.9", start).err(), Some(60));
        assert!(open(&t, "b@x.io", "9.9.9.9", start));
        let later = start + Duration::from_secs(61);
        assert!(open(&t, "a@x.io", "1.2.3.4", later));
    }

    #[test]
    fn the_wait_is_rounded_up() {
        let t = LoginThrottle::new(1, 60);
        let start = Instant::now();
        fail(&t, "a@x.io", "c", start);
        let at = start + Duration::from_millis(56_500);
        assert_eq!(t.begin("a@x.io", "c", at).err(), Some(4));
        assert!(open(&t, "a@x.io", "c", start + Duration::from_secs(60)));
    }

    #[test]
    fn success_clears_the_email() {
        let t = LoginThrottle::new(2, 60);
        let now = Instant::now();
        fail(&t, "a@x.io", "c", now);
        t.begin("a@x.io", "c", now).expect("open").succeeded();
        fail(&t, "a@x.io", "c", now);
        assert!(open(&t, "a@x.io", "other", now));
    }

    #[test]
    fn one_client_trying_many_emails_is_locked() {
        let t = LoginThrottle::new(2, 60);
        let now = Instant::now();
        for i in 0..8 {
            fail(&t, &format!("u{i}@x.io"), "evil", now);
        }
        assert!(!open(&t, "fresh@x.io", "evil", now));
    }

    #[test]
    fn attempts_under_way_count_against_the_limit() {
        let t = LoginThrottle::new(3, 60);
        let now = Instant::now();
        let under_way: Vec<_> = (0..3)
            .map(|_| t.begin("a@x.io", "c", now).expect("open"))
            .collect();
        assert_eq!(
            t.begin("a@x.io", "c", now).err(),
            Some(1),
            "a burst is cut at the limit"
        );
        drop(under_way); // no verdict: each counts as a failure
        assert_eq!(t.begin("a@x.io", "c", now).err(), Some(60));
    }

    #[test]
    fn a_void_attempt_is_not_counted() {
        let t = LoginThrottle::new(1, 60);
        let now = Instant::now();
        t.begin("a@x.io", "c", now).expect("open").void();
        let entries = t.entries.lock().map(|m| m.len()).unwrap_or(usize::MAX);
        assert_eq!(entries, 0, "nothing held, nothing counted");
        assert!(open(&t, "a@x.io", "c", now));
    }
}
