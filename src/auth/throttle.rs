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
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

const CLIENT_FACTOR: u32 = 4;
const PRUNE_ABOVE: usize = 10_000;

impl LoginThrottle {
    pub fn new(max_failures: u32, window_secs: u64) -> LoginThrottle {
        LoginThrottle {
            max_failures,
            window: Duration::from_secs(window_secs),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` when this email or client is locked out.
    pub fn check(&self, email: &str, client: &str, now: Instant) -> Option<u64> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        [
            (email_key(email), self.max_failures),
            (client_key(client), self.max_failures * CLIENT_FACTOR),
        ]
        .iter()
        .filter_map(|(key, max)| {
            let (count, start) = map.get(key)?;
            let elapsed = now.duration_since(*start);
            (*count >= *max && elapsed < self.window)
                .then(|| (self.window - elapsed).as_secs().max(1))
        })
        .max()
    }

    pub fn record_failure(&self, email: &str, client: &str, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > PRUNE_ABOVE {
            let window = self.window;
            map.retain(|_, (_, start)| now.duration_since(*start) < window);
        }
        for key in [email_key(email), client_key(client)] {
            let entry = map.entry(key).or_insert((0, now));
            if now.duration_since(entry.1) >= self.window {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    pub fn record_success(&self, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&email_key(email));
    }
}

fn email_key(email: &str) -> String {
    format!("email:{}", email.trim().to_lowercase())
}

fn client_key(client: &str) -> String {
    format!("client:{client}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_and_unlocks_after_window() {
        let t = LoginThrottle::new(3, 60);
        let start = Instant::now();
        for _ in 0..2 {
            t.record_failure("a@x.io", "1.2.3.4", start);
        }
        assert_eq!(t.check("a@x.io", "1.2.3.4", start), None);
        t.record_failure("A@x.io", "1.2.3.4", start);
        assert_eq!(t.check("a@x.io", "9.9.9.9", start), Some(60));
        assert_eq!(t.check("b@x.io", "9.9.9.9", start), None);
        assert_eq!(
            t.check("a@x.io", "1.2.3.4", start + Duration::from_secs(61)),
            None
        );
    }

    #[test]
    fn success_clears_the_email() {
        let t = LoginThrottle::new(2, 60);
        let now = Instant::now();
        t.record_failure("a@x.io", "c", now);
        t.record_success("a@x.io");
        t.record_failure("a@x.io", "c", now);
        assert_eq!(t.check("a@x.io", "other", now), None);
    }

    #[test]
    fn one_client_trying_many_emails_is_locked() {
        let t = LoginThrottle::new(2, 60);
        let now = Instant::now();
        for i in 0..8 {
            t.record_failure(&format!("u{i}@x.io"), "evil", now);
        }
        assert!(t.check("fresh@x.io", "evil", now).is_some());
    }
}
