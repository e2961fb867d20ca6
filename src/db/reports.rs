//! Reports take turns for a few of the pool's connections.
//!
//! A report reads every card (0.3–5 s at a million cards, docs/BENCHMARKS.md
//! session 19) and holds its connection that long. SQLite's pool has one
//! connection per core plus one (3 here): three managers opening a dashboard
//! at once held them all, and every card read, list and write waited behind
//! them until the pool's timeout, a 503. So reports first wait for a slot,
//! holding neither a connection nor a blocking thread; the rest of the pool
//! stays with the short requests.

use std::time::Duration;

use super::{Db, DbConn};
use crate::error::ApiError;

/// How long a report waits for a slot before it gets a 503 (a dashboard of
/// several reports, each under a second or two, queues well within this).
pub const WAIT: Duration = Duration::from_secs(30);

/// Slots for reports in a pool of `pool_size`: all but two connections,
/// and at least one.
pub fn slots(pool_size: u32) -> usize {
    pool_size.saturating_sub(2).max(1) as usize
}

impl Db {
    /// As `run`, for a report (a read over every card or every purchase):
    /// it first waits for one of the report slots (`slots`).
    pub async fn report<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.report_waiting(WAIT, f).await
    }

    /// Up to `want` report slots that are free now, taken without waiting
    /// (held until the permits drop): for a request that spreads its reads
    /// over several connections (the segment preview's parts), one extra
    /// connection per slot it gets. Beside a running report a preview took
    /// its parts' connections anyway, and on SQLite's default pool of three
    /// the card reads, lists and writes waited for them (a review).
    pub fn spare_report_slots(&self, want: usize) -> Vec<tokio::sync::OwnedSemaphorePermit> {
        (0..want)
            .map_while(|_| self.report_slots.clone().try_acquire_owned().ok())
            .collect()
    }

    /// `report`, waiting at most `wait` for a slot.
    async fn report_waiting<T, F>(&self, wait: Duration, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let _slot = match tokio::time::timeout(wait, self.report_slots.acquire()).await {
            Ok(Ok(permit)) => permit,
            // The semaphore is never closed; a timeout is the queue being too long.
            _ => {
                crate::metrics::queue_timed_out("report");
                return Err(ApiError::Unavailable(format!(
                    "no report slot within {} s",
                    wait.as_secs_f64()
                )));
            }
        };
        self.run(f).await
    }
}

/// Runs `f`'s reads in one read-only transaction, so that figures from
/// several statements (a count and the rows counted, customers and repeat
/// buyers per level) come from the same state of the data: on PostgreSQL
/// at `REPEATABLE READ` (its default gives each statement its own
/// snapshot); on SQLite a transaction reads one snapshot of the WAL anyway.
/// Call it outside any transaction: inside one it would be a savepoint,
/// where PostgreSQL refuses to set the isolation level.
pub fn snapshot<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::{Connection, RunQueryDsl};
    conn.transaction(|conn| {
        if let DbConn::Postgresql(pg) = conn {
            diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(pg)?;
        }
        f(conn)
    })
}

/// Hands each row of `query` to `f` as it is read, for reports over every
/// card: on PostgreSQL row by row (by default libpq holds the whole result
/// until the last row is read: 199 MB for the funnel at a million cards).
pub fn each_row<R>(
    conn: &mut DbConn,
    query: diesel::query_builder::SqlQuery,
    mut f: impl FnMut(R),
) -> diesel::QueryResult<()>
where
    R: diesel::QueryableByName<diesel::pg::Pg> + diesel::QueryableByName<diesel::sqlite::Sqlite>,
    R: 'static,
{
    use diesel::RunQueryDsl;
    match conn {
        DbConn::Postgresql(pg) => {
            for row in query.load_iter::<R, diesel::pg::PgRowByRowLoadingMode>(pg)? {
                f(row?);
            }
        }
        DbConn::Sqlite(lite) => {
            for row in query.load_iter::<R, diesel::connection::DefaultLoadingMode>(lite)? {
                f(row?);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn short_requests_keep_two_connections() {
        assert_eq!(
            [1, 2, 3, 4, 10].map(slots),
            [1, 1, 1, 2, 8],
            "pool sizes 1, 2, 3, 4, 10"
        );
    }

    /// SQLite's default pool on two workers (3 connections), in a fresh
    /// file; a read gives up after 1 s. Keep the directory while `Db` lives.
    fn default_sqlite_pool() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.path().join("reports.db").display());
        let db = Db::connect_with_timeout(&url, 3, 1, Default::default())
            .unwrap_or_else(|e| panic!("{e}"));
        (dir, db)
    }

    /// A report that holds its connection until told to finish.
    fn held_report(
        db: &Db,
        entered: mpsc::Sender<()>,
        release: mpsc::Receiver<()>,
    ) -> tokio::task::JoinHandle<Result<(), ApiError>> {
        let db = db.clone();
        tokio::spawn(async move {
            db.report(move |_conn| {
                let _ = entered.send(());
                let _ = release.recv_timeout(Duration::from_secs(10));
                Ok(())
            })
            .await
        })
    }

    /// Three reports at once on SQLite's default pool of three: one runs,
    /// two wait without a connection, and a card read still gets one at
    /// once. Without the slots, the read times out (the pool is all reports).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_reports_leave_connections_to_reads() {
        let (_dir, db) = default_sqlite_pool();
        let (entered, inside) = mpsc::channel();
        let mut releases = Vec::new();
        let mut reports = Vec::new();
        for _ in 0..3 {
            let (release, released) = mpsc::channel();
            releases.push(release);
            reports.push(held_report(&db, entered.clone(), released));
        }
        inside
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("no report started: {e}"));
        // Time for the others to take whatever they take while waiting.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            inside.try_recv().is_err(),
            "a second report runs beside the first"
        );

        let read = db.run(|_conn| Ok(())).await;
        assert!(read.is_ok(), "the read found no connection: {read:?}");

        for release in &releases {
            let _ = release.send(());
        }
        for report in reports {
            let done = report.await.unwrap_or_else(|e| panic!("{e}"));
            assert!(done.is_ok(), "{done:?}");
        }
    }

    /// Spare slots are the free ones, none while a report runs on the
    /// default pool's only slot.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spare_slots_are_only_the_free_ones() {
        let (_dir, db) = default_sqlite_pool();
        let spare = db.spare_report_slots(3);
        assert_eq!(spare.len(), 1, "one slot in a pool of three");
        assert!(db.spare_report_slots(1).is_empty(), "taken until dropped");
        drop(spare);
        let (entered, inside) = mpsc::channel();
        let (release, released) = mpsc::channel();
        let report = held_report(&db, entered, released);
        inside
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(db.spare_report_slots(1).is_empty(), "the report holds it");
        let _ = release.send(());
        let done = report.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(done.is_ok(), "{done:?}");
        assert_eq!(db.spare_report_slots(1).len(), 1);
    }

    /// A report that finds every slot taken for longer than its wait gets
    /// the 503 and never runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wait_for_a_slot_is_bounded() {
        let (_dir, db) = default_sqlite_pool();
        let (entered, inside) = mpsc::channel();
        let (release, released) = mpsc::channel();
        let first = held_report(&db, entered, released);
        inside
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"));

        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let late = db
            .report_waiting(Duration::from_millis(200), move |_conn| {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert!(
            matches!(late, Err(ApiError::Unavailable(_))),
            "expected a 503, got {late:?}"
        );
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));

        let _ = release.send(());
        let done = first.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(done.is_ok(), "{done:?}");
    }
}
