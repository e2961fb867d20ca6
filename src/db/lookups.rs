//! The lookup lane: where reads of one record by key run on SQLite.
//!
//! Each HTTP worker hands its database calls to its own blocking pool, and
//! tokio wakes a sleeping thread of that pool for every call while one is
//! idle: on a card read that hand-off (a futex wake-up and a context switch,
//! then one back) was a fifth of the server's CPU. A lookup on SQLite is a
//! few tens of microseconds of CPU in this process, so a lane of few threads
//! shared by all workers keeps them busy under load: a thread that finishes
//! takes the next lookup from the queue without sleeping, and none is woken.
//! On 2 cores, card reads at 64 connections: 38,200–38,900/s on a lane of one
//! thread, 31,800–35,900/s on two, 29,800–34,300/s on the workers' pools
//! (docs/BENCHMARKS.md, #7 session 24). Slow calls (lists, reports, writes,
//! exports) stay on the workers' pools, so a lookup never waits for a thread
//! behind them; it still takes its connection from the shared pool, and its
//! wait for the lane counts against the pool's timeout (`checked_out`).
//!
//! The lane assumes that SQLite's pages are in memory (its cache or the
//! operating system's): a database much larger than the machine's memory,
//! or on a network disk, makes each lookup wait on a read, and a lane of one
//! thread then reads one record at a time. Give it more threads there, or
//! none (`PATRON_SQLITE_LOOKUP_THREADS=0`).
//!
//! PostgreSQL has no lane: there a lookup waits on a round trip, and a lane
//! of few threads capped the rate (7,800/s on one thread, 11,100/s on two,
//! 12,100/s on the workers' pools). Its card reads share statements instead
//! (`card_reads`).

use super::{checked_out, Db, DbConn};
use crate::error::ApiError;

/// The lane's threads: a tokio runtime used only for its blocking pool.
pub struct Lane(Option<tokio::runtime::Runtime>);

impl Lane {
    pub fn new(threads: usize) -> Result<Lane, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(threads.max(1))
            .thread_name("patron-lookup")
            .build()
            .map_err(|e| format!("cannot start the lookup threads: {e}"))?;
        Ok(Lane(Some(runtime)))
    }
}

impl Drop for Lane {
    /// Without blocking: the last `Db` may be dropped on an async worker,
    /// where dropping a runtime the usual way panics.
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Db {
    /// Gives this SQLite database a lookup lane of `threads` threads; 0, or a
    /// PostgreSQL database, leaves it without one (`lookup` is then `run`).
    pub fn with_lookup_threads(mut self, threads: usize) -> Result<Db, String> {
        self.lookups = match (self.backend, threads) {
            (super::Backend::Sqlite, 1..) => Some(std::sync::Arc::new(Lane::new(threads)?)),
            _ => None,
        };
        Ok(self)
    }

    /// As `run`, for a read of one record by key and what hangs on it, in
    /// bounded number (a card with its tags, a contact, a user): on the
    /// lookup lane when the database has one. Nothing that can take long
    /// belongs here: a slow call holds up every lookup queued behind it, and
    /// the token's user check is one of them. `f` runs outside any async
    /// runtime's reach: no `tokio::spawn` or timers in it.
    pub async fn lookup<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let Some(handle) = self
            .lookups
            .as_ref()
            .and_then(|lane| lane.0.as_ref())
            .map(|runtime| runtime.handle().clone())
        else {
            return self.run(f).await;
        };
        let (pool, writer) = (self.pool.clone(), self.writer.clone());
        let called = std::time::Instant::now();
        handle
            .spawn_blocking(move || checked_out(&pool, &writer, called, f))
            .await
            .map_err(|e| ApiError::Internal(format!("lookup task failed: {e}")))?
    }
}
