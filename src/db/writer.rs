//! SQLite writers of this process wait for each other in a queue.
//!
//! SQLite lets one transaction write at a time. A `BEGIN IMMEDIATE` that
//! finds another writer waits in SQLite's busy handler, which sleeps in
//! growing steps (up to 100 ms) and never learns that the writer finished:
//! with two streams of bulk writes one batch waited 3 s of the 5 s busy
//! timeout (docs/BENCHMARKS.md). So each [`Db`](super::Db) has a mutex that
//! the outermost [`write_tx`](super::write_tx) on SQLite holds from BEGIN to
//! COMMIT: the next writer is woken the moment it is released. Writers of
//! other processes on the same file still meet in SQLite's busy handler.
//!
//! The wait is bounded as the busy handler's is ([`WAIT`]): a writer that
//! cannot get its turn in time fails as SQLite's own "database is locked"
//! does (a 503 problem), instead of holding a request for as long as the
//! writers ahead of it take.
//!
//! `Db::run` tells the blocking thread which database's mutex applies
//! (`within`); a connection used outside `Db::run` (migrations, tools,
//! unit tests) writes without it, as before.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error};
use parking_lot::{Mutex, MutexGuard};

/// The longest a writer waits for its turn: SQLite's `busy_timeout`.
pub const WAIT: Duration = Duration::from_millis(super::BUSY_TIMEOUT_MS);

/// The queue of one database's writers.
pub type Queue = Arc<Mutex<()>>;

thread_local! {
    static CURRENT: RefCell<Option<Queue>> = const { RefCell::new(None) };
}

/// Runs `f` with `queue` as this thread's writer queue.
pub(super) fn within<T>(queue: &Queue, f: impl FnOnce() -> T) -> T {
    let before = CURRENT.with(|c| c.replace(Some(queue.clone())));
    let out = f();
    CURRENT.with(|c| *c.borrow_mut() = before);
    out
}

/// This thread's writer queue, if `within` set one.
pub(super) fn current() -> Option<Queue> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Waits at most `wait` for the turn to write; the error is the one SQLite
/// gives when its busy timeout runs out (mapped to 503 like it).
pub(super) fn turn(queue: &Queue, wait: Duration) -> Result<MutexGuard<'_, ()>, Error> {
    queue.try_lock_for(wait).ok_or_else(|| too_long(wait))
}

/// The error of a writer that waited `wait` in vain.
pub(super) fn too_long(wait: Duration) -> Error {
    crate::metrics::queue_timed_out("write");
    Error::DatabaseError(
        DatabaseErrorKind::Unknown,
        Box::new(format!(
            "database is locked: other writers held it for {} ms",
            wait.as_millis()
        )),
    )
}

/// The 503 of a grouped write that no group took within `wait`. On SQLite
/// it is worded as SQLite's own busy error, like every other writer's wait;
/// on PostgreSQL (where only card creates are grouped) nothing is locked:
/// the groups ahead were too many or too slow.
pub(super) fn group_too_long(backend: super::Backend, wait: Duration) -> crate::error::ApiError {
    match backend {
        super::Backend::Sqlite => too_long(wait).into(),
        super::Backend::Postgres => {
            crate::metrics::queue_timed_out("write");
            crate::error::ApiError::Unavailable(format!(
                "too many writes queued: no group took this one within {} ms",
                wait.as_millis()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{write_tx, DbConn};
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    use std::time::Duration;

    fn open(path: &str) -> DbConn {
        let mut c = DbConn::Sqlite(
            diesel::SqliteConnection::establish(path).unwrap_or_else(|e| panic!("{e}")),
        );
        // No busy wait at all: without the queue, the second writer fails.
        c.batch_execute("PRAGMA busy_timeout = 0;")
            .unwrap_or_else(|e| panic!("{e}"));
        c
    }

    /// Two writers at once on one file, the second arriving while the
    /// first is inside its transaction: with the queue both commit; without
    /// it (no busy wait) the second is refused with "database is locked".
    #[test]
    fn a_second_writer_waits_for_the_first() {
        let dir = std::env::temp_dir().join(format!("patron-writer-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("w.db").to_string_lossy().to_string();
        let _ = std::fs::remove_file(&path);
        // Kept open throughout: the last connection to close checkpoints
        // and removes the log under an exclusive lock, which would make the
        // second writer's BEGIN fail for a reason of its own.
        let mut keeper = open(&path);
        keeper
            .batch_execute("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER);")
            .unwrap_or_else(|e| panic!("{e}"));

        let race = |queued: bool| -> Vec<Result<(), String>> {
            let lock: Queue = Arc::default();
            let (inside, entered) = std::sync::mpsc::channel();
            let writer = |n: i64, hold: Duration, signal: Option<std::sync::mpsc::Sender<()>>| {
                let (path, lock) = (path.clone(), lock.clone());
                std::thread::spawn(move || {
                    let mut conn = open(&path);
                    let mut work = || {
                        write_tx(&mut conn, |c| {
                            c.batch_execute(&format!("INSERT INTO t VALUES ({n})"))?;
                            if let Some(s) = &signal {
                                let _ = s.send(());
                            }
                            std::thread::sleep(hold);
                            Ok::<_, diesel::result::Error>(())
                        })
                        .map_err(|e| e.to_string())
                    };
                    if queued {
                        within(&lock, work)
                    } else {
                        work()
                    }
                })
            };
            let first = writer(1, Duration::from_millis(200), Some(inside));
            entered.recv().unwrap_or_else(|e| panic!("{e}"));
            let second = writer(2, Duration::ZERO, None);
            [first, second]
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| panic!("writer panicked")))
                .collect()
        };
        assert_eq!(race(true), vec![Ok(()), Ok(())]);
        let unqueued = race(false);
        assert_eq!(unqueued[0], Ok(()));
        assert!(
            unqueued[1].as_ref().is_err_and(|e| e.contains("locked")),
            "{unqueued:?}"
        );
        drop(keeper);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Writers queued behind a long transaction (through `Db::write`) wait
    /// for their turn without a pooled connection, so a read still gets one.
    /// When they waited inside `write_tx` (through `Db::run`), the queue held
    /// every connection and the read timed out.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_writers_leave_connections_to_readers() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.path().join("q.db").display());
        // The default pool on two workers; a read gives up after 1 s.
        let db = crate::db::Db::connect_with_timeout(&url, 3, 1, Default::default())
            .unwrap_or_else(|e| panic!("{e}"));
        db.run(|c| Ok(c.batch_execute("CREATE TABLE t (n INTEGER)")?))
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let (entered, inside) = std::sync::mpsc::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let long = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |c| {
                    write_tx(c, |c| {
                        c.batch_execute("INSERT INTO t VALUES (0)")?;
                        let _ = entered.send(());
                        let _ = released.recv_timeout(Duration::from_secs(10));
                        Ok::<_, crate::error::ApiError>(())
                    })
                })
                .await
            })
        };
        inside
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"));
        let queued: Vec<_> = (1..=4)
            .map(|n| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(move |c| {
                        write_tx(c, |c| {
                            Ok::<_, crate::error::ApiError>(
                                c.batch_execute(&format!("INSERT INTO t VALUES ({n})"))?,
                            )
                        })
                    })
                    .await
                })
            })
            .collect();
        // Time for the queued writers to take whatever they take while waiting.
        tokio::time::sleep(Duration::from_millis(300)).await;

        let read = db
            .run(|c| Ok(c.batch_execute("SELECT count(*) FROM t")?))
            .await;
        assert!(read.is_ok(), "the read found no free connection: {read:?}");

        let _ = release.send(());
        for writer in std::iter::once(long).chain(queued) {
            let done = writer.await.unwrap_or_else(|e| panic!("{e}"));
            assert!(done.is_ok(), "{done:?}");
        }
    }

    /// A `Db::write` caller whose turn at the gate does not come in time
    /// gets the same 503 as one waiting at the mutex, and writes nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wait_at_the_write_gate_is_bounded() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let db = crate::db::Db::connect_with_timeout(&url, 3, 1, Default::default())
            .unwrap_or_else(|e| panic!("{e}"));
        // Both places at the gate taken, as by two writers in line.
        let held = db
            .write_gate
            .acquire_many(2)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let refused = db
            .write_waiting(Duration::from_millis(50), |_| Ok(()))
            .await;
        assert!(
            matches!(&refused, Err(crate::error::ApiError::Unavailable(m)) if m.contains("database is locked")),
            "{refused:?}"
        );
        drop(held);
        assert!(db
            .write_waiting(Duration::from_millis(50), |_| Ok(()))
            .await
            .is_ok());
    }

    /// A grouped write that no group takes within the wait gets the same
    /// 503 and is withdrawn: the next group does not write it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_grouped_write_no_group_takes_in_time_is_withdrawn() {
        let (_dir, db) = table_t(3).await;
        let held = db
            .write_gate
            .acquire_many(2)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        refused_write(&db, Duration::from_millis(50), "database is locked").await;
        drop(held);
        only_the_next_write_is_there(&db).await;
    }

    #[test]
    fn a_grouped_write_waiting_too_long_is_a_503_worded_for_its_engine() {
        use crate::db::Backend;
        use crate::error::ApiError;
        let wait = Duration::from_millis(5000);
        let counted = || {
            crate::metrics::QUEUE_TIMEOUTS
                .with_label_values(&["write"])
                .get()
        };
        let before = counted();
        let sqlite = group_too_long(Backend::Sqlite, wait);
        assert!(
            matches!(&sqlite, ApiError::Unavailable(m) if m.contains("database is locked") && m.contains("5000 ms")),
            "{sqlite:?}"
        );
        let postgres = group_too_long(Backend::Postgres, wait);
        assert!(
            matches!(&postgres, ApiError::Unavailable(m) if m.contains("queued") && !m.contains("locked") && m.contains("5000 ms")),
            "{postgres:?}"
        );
        // Both counted in /metrics (they showed only as 503s by route).
        assert!(counted() >= before + 2, "{before} → {}", counted());
    }

    /// When the group a caller runs cannot start (here: no connection within
    /// the pool's 1 s), the caller gets that error and its write is
    /// withdrawn, never run later.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_grouped_write_whose_group_cannot_start_is_withdrawn() {
        let (_dir, db) = table_t(2).await;
        let pool = db.pool().clone();
        let taken = tokio::task::spawn_blocking(move || {
            (0..2)
                .map(|_| pool.get().unwrap_or_else(|e| panic!("{e}")))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        refused_write(&db, Duration::from_secs(4), "timed out").await;
        drop(taken);
        only_the_next_write_is_there(&db).await;
    }

    /// A SQLite file database with a table `t (n)`, a pool of `pool`
    /// connections and a 1 s wait for one.
    async fn table_t(pool: u32) -> (tempfile::TempDir, crate::db::Db) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = crate::db::Db::connect_with_timeout(&url, pool, 1, Default::default())
            .unwrap_or_else(|e| panic!("{e}"));
        db.run(|c| Ok(c.batch_execute("CREATE TABLE t (n INTEGER)")?))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (dir, db)
    }

    /// Sends a grouped write of 1 that must be refused within `wait` with a
    /// 503 whose cause mentions `why`.
    async fn refused_write(db: &crate::db::Db, wait: Duration, why: &str) {
        let refused = db
            .write_grouped_waiting(wait, None, |c| {
                Ok(c.batch_execute("INSERT INTO t VALUES (1)")?)
            })
            .await;
        assert!(
            matches!(&refused, Err(crate::error::ApiError::Unavailable(m)) if m.contains(why)),
            "{refused:?}"
        );
    }

    /// Runs a grouped write of 2 and checks that it alone is in `t`: the
    /// refused write of 1 was withdrawn, not left for this group to run.
    async fn only_the_next_write_is_there(db: &crate::db::Db) {
        db.write_grouped(|c| Ok(c.batch_execute("INSERT INTO t VALUES (2)")?))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(count(db, "SELECT count(*) AS n FROM t").await, 1);
        assert_eq!(
            count(db, "SELECT count(*) AS n FROM t WHERE n = 1").await,
            0
        );
    }

    async fn count(db: &crate::db::Db, sql: &'static str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        use diesel::RunQueryDsl;
        db.run(move |c| Ok(diesel::sql_query(sql).get_result::<N>(c)?.n))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A writer whose turn does not come within the wait gets SQLite's
    /// "database is locked" (a 503), not an endless wait.
    #[test]
    fn the_wait_for_a_turn_is_bounded() {
        let queue: Queue = Arc::default();
        let held = queue.lock();
        let started = std::time::Instant::now();
        let refused = turn(&queue, Duration::from_millis(50));
        assert!(started.elapsed() >= Duration::from_millis(50));
        let error = refused.err().unwrap_or_else(|| panic!("got a turn"));
        assert!(error.to_string().contains("database is locked"), "{error}");
        assert!(matches!(
            crate::error::ApiError::from(error),
            crate::error::ApiError::Unavailable(_)
        ));
        drop(held);
        assert!(turn(&queue, Duration::from_millis(50)).is_ok());
    }
}
