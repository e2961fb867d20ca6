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
    self, rand_core::OsRng, Decimal, Ident, Output, ParamsString, PasswordHash, PasswordHasher,
    PasswordVerifier, Salt, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::error::ApiError;

pub fn hash(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    OwnMappingArgon2
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("password hashing failed: {e}")))
}

pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => OwnMappingArgon2
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Argon2 as the `argon2` crate computes it (same PHC strings, same
/// constant-time comparison, which `PasswordVerifier` brings), but in
/// working memory from `working_memory`.
struct OwnMappingArgon2;

impl PasswordHasher for OwnMappingArgon2 {
    type Params = Params;

    fn hash_password_customized<'a>(
        &self,
        password: &[u8],
        algorithm: Option<Ident<'a>>,
        version: Option<Decimal>,
        params: Params,
        salt: impl Into<Salt<'a>>,
    ) -> password_hash::Result<PasswordHash<'a>> {
        let algorithm = algorithm.map(Algorithm::try_from).transpose()?;
        let algorithm = algorithm.unwrap_or_default();
        let version = version.map(Version::try_from).transpose()?;
        let version = version.unwrap_or_default();
        let salt = salt.into();
        let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
        let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let memory = working_memory(params.block_count());
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let hash = Output::init_with(output_len, |out| {
            Ok(argon2.hash_password_into_with_memory(password, salt_bytes, out, memory)?)
        })?;
        Ok(PasswordHash {
            algorithm: algorithm.ident(),
            version: Some(version.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(salt),
            hash: Some(hash),
        })
    }
}

/// Blocks of 1 KiB reserved for a check, at least: over 32 MiB, glibc's
/// largest mmap threshold on 64-bit, so glibc gives the check's 19 MiB a
/// mapping of its own, returned to the system when the check ends (unless
/// an arena already holds that much free, already resident, memory). The
/// `argon2` crate asks for exactly 19 MiB; once one such block was freed
/// (the start-up `dummy_hash`), glibc raised its threshold past it, and
/// every later check left 19 MiB more resident in the arena of the thread
/// that ran it (docs/BENCHMARKS.md, session 51: 58 MB instead of 42 after a
/// login and 256 connections of card reads).
const RESERVED_BLOCKS: usize = 33 * 1024;

/// `blocks` of working memory, in a reservation of `RESERVED_BLOCKS` or
/// more; only the blocks used are ever touched.
fn working_memory(blocks: usize) -> Vec<Block> {
    let mut memory = Vec::with_capacity(blocks.max(RESERVED_BLOCKS));
    memory.resize(blocks, Block::default());
    memory
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

    /// The same PHC strings as the `argon2` crate's own hasher, both ways.
    #[test]
    fn hashes_are_the_argon2_crates() {
        let ours = hash("correct horse").expect("hashed");
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .expect("hashed")
            .to_string();
        assert!(verify("correct horse", &theirs));
        assert!(!verify("wrong horse", &theirs));
        // Other parameters, as a hash written by another setting would carry.
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x10,
            Params::new(4096, 2, 2, Some(24)).expect("params"),
        );
        let other = argon2i
            .hash_password(b"correct horse", &salt)
            .expect("hashed")
            .to_string();
        assert!(verify("correct horse", &other));
        assert!(!verify("wrong horse", &other));
    }

    /// Checks leave no working memory resident once they end, after the
    /// first one too. Run in a process of its own (this test's executable
    /// again, on this test alone): the other tests' threads allocate too.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn checks_return_their_memory() {
        const CHILD: &str = "PATRON_TEST_PASSWORD_MEMORY_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let rss_kib = || {
                let status = std::fs::read_to_string("/proc/self/status").expect("status");
                let line = status.lines().find(|l| l.starts_with("VmRSS:"));
                let kib = line.and_then(|l| l.split_whitespace().nth(1));
                kib.and_then(|k| k.parse::<u64>().ok()).expect("VmRSS")
            };
            let phc = hash("first").expect("hashed");
            let before = rss_kib();
            for _ in 0..3 {
                let phc = phc.clone();
                std::thread::spawn(move || verify("first", &phc))
                    .join()
                    .expect("checked");
            }
            let grown = rss_kib().saturating_sub(before);
            assert!(grown < 8 * 1024, "{grown} KiB left resident by 3 checks");
            return;
        }
        let exe = std::env::current_exe().expect("test executable");
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "auth::password::tests::checks_return_their_memory",
            ])
            .args(["--test-threads=1", "--nocapture"])
            .env(CHILD, "1")
            // As the container image runs (Dockerfile): threads share arenas.
            .env("MALLOC_ARENA_MAX", "2")
            .output()
            .expect("ran");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
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
