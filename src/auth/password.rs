//! Argon2id password hashes (PHC strings).
//!
//! A hash or a check takes 19 MiB and tens of milliseconds of a core. The
//! server runs them with `verify_off_pool` and `hash_off_pool`: on threads of
//! their own, never more at once than the machine has cores. On the blocking
//! pool, where every database call runs, a loop of logins (each with the
//! right password, so never throttled as failures) held its few threads
//! hashing while every other request's query waited (an outside review).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

use crate::error::ApiError;

pub fn hash(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("password hashing failed: {e}")))
}

pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// `verify`, off the blocking pool and bounded (see the module's note).
pub async fn verify_off_pool(password: String, phc: String) -> Result<bool, ApiError> {
    off_pool(move || verify(&password, &phc)).await
}

/// `hash`, off the blocking pool and bounded (see the module's note).
pub async fn hash_off_pool(password: String) -> Result<String, ApiError> {
    off_pool(move || hash(&password)).await?
}

/// The hash of `new` when `current` matches `phc`, None when it does not: a
/// password change's two steps in one turn of the bounded checks.
pub async fn verify_then_hash_off_pool(
    current: String,
    phc: String,
    new: String,
) -> Result<Option<String>, ApiError> {
    off_pool(move || verify(&current, &phc).then(|| hash(&new)).transpose()).await?
}

/// Runs `f` on a thread of its own once one of `permits()` is free. The
/// permit goes with the thread, so a request dropped while its check runs
/// does not let another start before it ends. A thread per call costs tens
/// of microseconds beside the hash's tens of milliseconds.
async fn off_pool<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    off_pool_in(permits(), waiting(), cores() * WAITING_PER_CORE, f).await
}

/// Checks waiting for a core, at most, per core: about two seconds of
/// checks. Past it a login or a password write is a 429 at once: a flood
/// of logins with unknown emails (each a full check, by design) queued
/// every login behind it without bound (a review).
const WAITING_PER_CORE: usize = 48;

/// `off_pool` with its semaphore, waiting count and bound given.
async fn off_pool_in<T, F>(
    permits: &Arc<Semaphore>,
    waiting: &'static AtomicUsize,
    most_waiting: usize,
    f: F,
) -> Result<T, ApiError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let failed = |e: &dyn std::fmt::Display| ApiError::Internal(format!("password check: {e}"));
    // Counted out again however the wait ends (a request dropped too).
    struct Waiting(&'static AtomicUsize);
    impl Drop for Waiting {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let ahead = waiting.fetch_add(1, Ordering::SeqCst);
    let queued = Waiting(waiting);
    if ahead >= most_waiting {
        return Err(ApiError::TooManyRequests {
            detail: "too many password checks are waiting; retry in 2 s".into(),
            retry_after_secs: 2,
        });
    }
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| failed(&e))?;
    drop(queued);
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("patron-argon2".into())
        .spawn(move || {
            let _ = tx.send(f());
            drop(permit);
        })
        .map_err(|e| failed(&e))?;
    rx.await.map_err(|e| failed(&e))
}

fn waiting() -> &'static AtomicUsize {
    static WAITING: AtomicUsize = AtomicUsize::new(0);
    &WAITING
}

/// As many as the machine has cores: each check keeps one busy.
fn permits() -> &'static Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS.get_or_init(|| Arc::new(Semaphore::new(cores())))
}

/// Read once: on Linux each read looks at the cgroup's files.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A hash of nothing in particular, verified against when the email is
/// unknown so that both cases take the same time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("patron-dummy-password").unwrap_or_default())
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Never more checks at once than cores, however many are asked for.
    #[tokio::test]
    async fn checks_off_the_pool_are_bounded_by_the_cores() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let calls = (0..3 * cores + 2).map(|_| {
            let (running, most) = (running.clone(), most.clone());
            off_pool(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
            })
        });
        for done in futures_util::future::join_all(calls).await {
            done.expect("ran");
        }
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=cores).contains(&most),
            "{most} at once on {cores} cores"
        );
    }

    /// Past the bound of checks waiting, a call is a 429 at once, and the
    /// count goes down as the waits end.
    #[tokio::test]
    async fn checks_waiting_past_the_bound_are_refused() {
        static WAITING: AtomicUsize = AtomicUsize::new(0);
        let permits = Arc::new(Semaphore::new(1));
        let slow = || std::thread::sleep(Duration::from_millis(200));
        // One runs, two wait, two are refused.
        let calls = (0..5).map(|_| off_pool_in(&permits, &WAITING, 2, slow));
        let results = futures_util::future::join_all(calls).await;
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(ApiError::TooManyRequests { .. })))
            .count();
        assert_eq!((results.len() - refused, refused), (3, 2));
        assert_eq!(WAITING.load(Ordering::SeqCst), 0);
        assert!(off_pool_in(&permits, &WAITING, 2, slow).await.is_ok());
    }

    #[tokio::test]
    async fn off_pool_checks_answer_as_the_plain_ones() {
        let h = hash_off_pool("correct horse".into()).await.expect("hashed");
        assert!(verify_off_pool("correct horse".into(), h.clone())
            .await
            .expect("ran"));
        assert!(!verify_off_pool("wrong horse".into(), h.clone())
            .await
            .expect("ran"));
        let changed =
            verify_then_hash_off_pool("correct horse".into(), h.clone(), "new horse".into())
                .await
                .expect("ran")
                .expect("the current password matched");
        assert!(verify("new horse", &changed));
        assert_eq!(
            verify_then_hash_off_pool("wrong horse".into(), h, "new horse".into())
                .await
                .expect("ran"),
            None
        );
    }

    #[test]
    fn hash_then_verify() {
        let h = hash("correct horse").unwrap_or_default();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("x", "not a hash"));
    }
}
