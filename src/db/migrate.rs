//! Embedded migrations, one set per backend, run at start-up.

use diesel::connection::SimpleConnection;
use diesel::PgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::DbConn;

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The PostgreSQL advisory lock that start-up work shared by every process
/// on the database takes: the migrations and the first admin ("patron" in
/// ASCII).
const START_LOCK: i64 = 0x7061_7472_6f6e;

/// Runs the pending migrations, one process at a time. diesel reads the
/// pending list once and runs each migration in its own transaction, with
/// no lock: two processes starting together on a database missing a
/// migration both ran it, and the second failed ("relation users already
/// exists", "column ... already exists") and stopped. With the lock the
/// second waits for the first, then finds nothing pending.
pub fn run(conn: &mut DbConn) -> Result<(), String> {
    let result = match conn {
        // SQLite's write lock, held from the reading of the list to the
        // last migration (each migration's transaction is a savepoint in
        // it). Another process waits for it as for any writer (the busy
        // timeout).
        DbConn::Sqlite(c) => {
            c.immediate_transaction(|c| c.run_pending_migrations(SQLITE).map(|_| ()))
        }
        // A session lock, not a transaction's: each migration still commits
        // by itself, and the lock goes with the session if the process dies.
        DbConn::Postgresql(c) => {
            with_start_lock(c, |c| c.run_pending_migrations(POSTGRES).map(|_| ()))
        }
    };
    result.map_err(|e| format!("migrations failed: {e}"))
}

/// Runs `f` holding `START_LOCK` (waiting for it, however long another
/// process's migrations take).
fn with_start_lock<T>(
    c: &mut PgConnection,
    f: impl FnOnce(&mut PgConnection) -> diesel::migration::Result<T>,
) -> diesel::migration::Result<T> {
    c.batch_execute(&format!("SELECT pg_advisory_lock({START_LOCK})"))?;
    let result = f(c);
    // Failing, the session is closed with the set-up connection, which
    // releases the lock as well.
    let unlocked = c.batch_execute(&format!("SELECT pg_advisory_unlock({START_LOCK})"));
    let value = result?;
    unlocked?;
    Ok(value)
}

/// Holds `START_LOCK` until the end of the write transaction `conn` is in
/// (PostgreSQL; SQLite's `BEGIN IMMEDIATE` already holds its write lock),
/// so a second process that counted no user before the first committed its
/// admin waits, then counts again.
pub fn start_lock_in_tx(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        DbConn::Postgresql(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_xact_lock({START_LOCK})"))
        }
        DbConn::Sqlite(_) => Ok(()),
    }
}
