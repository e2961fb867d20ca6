//! SQLite's write-ahead log, checkpointed off the write path.
//!
//! By default the connection whose COMMIT takes the log past 1,000 pages
//! copies the log back into the database file before its request returns:
//! under a stream of bulk writes that was nearly every batch, and a tenth of
//! the bulk upsert's time (docs/BENCHMARKS.md). A job (`jobs::spawn`) calls
//! [`checkpoint`] instead, on another thread: a PASSIVE checkpoint runs
//! beside the writer without blocking it. Each connection keeps an automatic
//! checkpoint at [`AUTOCHECKPOINT_PAGES`] as a backstop, should the job
//! fall behind.

use diesel::prelude::*;
use diesel::sql_types::Integer;

use super::DbConn;

/// The per-connection backstop (`PRAGMA wal_autocheckpoint`), in pages of
/// 4 KiB: about 40 MB of log.
pub const AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// The size the `-wal` file is cut back to when a writer restarts the log
/// (`PRAGMA journal_size_limit`), in bytes. A long read (an export, a
/// report) keeps checkpoints from passing its snapshot, so the log grows
/// with every commit meanwhile; without a limit the file kept its peak size
/// until the process stopped (a review).
pub const SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// Where a checkpoint left the log: its size in frames and how many of
/// them are in the database file (equal when all are).
#[derive(QueryableByName, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    #[diesel(sql_type = Integer)]
    pub busy: i32,
    #[diesel(sql_type = Integer)]
    pub log: i32,
    #[diesel(sql_type = Integer)]
    pub checkpointed: i32,
}

/// Copies what it can of the log into the database file without waiting
/// for readers or writers (`PRAGMA wal_checkpoint(PASSIVE)`). None on
/// PostgreSQL. A log the same size as at the previous call has had no
/// commit in between (writers restart it from the beginning once it has
/// all been copied, which changes its size too).
pub fn checkpoint(conn: &mut DbConn) -> QueryResult<Option<Progress>> {
    match conn {
        DbConn::Sqlite(c) => diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)")
            .get_result(c)
            .map(Some),
        DbConn::Postgresql(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;

    #[test]
    fn a_checkpoint_copies_the_log_and_then_has_nothing_to_do() {
        let dir = std::env::temp_dir().join(format!("patron-wal-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("wal.db");
        let _ = std::fs::remove_file(&path);
        let mut conn = DbConn::Sqlite(
            diesel::SqliteConnection::establish(&path.to_string_lossy())
                .unwrap_or_else(|e| panic!("{e}")),
        );
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; \
             CREATE TABLE t (x TEXT); INSERT INTO t VALUES (hex(randomblob(20000)));",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let first = checkpoint(&mut conn)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("SQLite"));
        assert_eq!(first.busy, 0);
        assert!(first.log > 0, "{first:?}");
        assert_eq!(first.checkpointed, first.log, "{first:?}");
        // No commit since: the same log, nothing new to copy.
        let again = checkpoint(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, Some(first));
        // A commit restarts the fully copied log: its size changes.
        conn.batch_execute("INSERT INTO t VALUES ('x')")
            .unwrap_or_else(|e| panic!("{e}"));
        let after = checkpoint(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(after.map(|p| p.log), Some(first.log), "{after:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every connection of the pool cuts the log back (the pragma does not
    /// persist in the file).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pooled_connections_cut_the_log_back() {
        #[derive(QueryableByName)]
        struct Limit {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            journal_size_limit: i64,
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.path().join("limit.db").display());
        let db = crate::db::Db::connect_with_timeout(&url, 2, 1, Default::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let limit = db
            .run(|conn| match conn {
                DbConn::Sqlite(c) => Ok(diesel::sql_query("PRAGMA journal_size_limit")
                    .get_result::<Limit>(c)?
                    .journal_size_limit),
                DbConn::Postgresql(_) => Ok(0),
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u64::try_from(limit).ok(), Some(SIZE_LIMIT_BYTES));
    }
}
