//! Embedded migrations, one set per backend, run at start-up.

use std::collections::HashSet;

use diesel::backend::Backend;
use diesel::migration::MigrationSource;
use diesel::Connection;
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
///
/// A database that holds a migration this binary does not know (a newer
/// Patron migrated it, and the image was rolled back) stops the start:
/// diesel's pending list only subtracts the applied versions, so the older
/// binary started and then failed on what the newer migrations changed
/// (a column dropped, a table renamed) with 500s.
///
/// A database with nothing pending is only read: no transaction, no lock,
/// no `CREATE TABLE IF NOT EXISTS` of diesel's own table, which a read-only
/// PostgreSQL (a full disk on a managed server, a failover) refuses before
/// it looks: a restart then could not start at all, where the running
/// processes served reads (a review).
pub fn run(conn: &mut DbConn) -> Result<(), String> {
    match up_to_date(conn) {
        Ok(true) => return Ok(()),
        Ok(false) => {}
        Err(e) => return Err(format!("migrations failed: {e}")),
    }
    let result = match conn {
        // SQLite's write lock, held from the reading of the list to the
        // last migration (each migration's transaction is a savepoint in
        // it). Another process waits for it as for any writer (the busy
        // timeout).
        DbConn::Sqlite(c) => c.immediate_transaction(|c| run_known(c, SQLITE)),
        // One transaction holding a transaction-level lock, as SQLite's: a
        // session lock taken and released in two statements could be
        // released on another server connection behind a transaction-mode
        // pooler (PgBouncer), and block every later start. PostgreSQL's DDL
        // is transactional; each migration's transaction is a savepoint.
        DbConn::Postgresql(c) => c.transaction::<_, MigrationError, _>(|c| {
            // Not the URL's `statement_timeout` (README suggests one for
            // requests): an index built on ten million orders outlasts it,
            // and the upgrade rolled back at every start. Its `lock_timeout`
            // stays: waiting without one, behind a long read, would queue
            // every other statement on the table behind the migration.
            diesel::connection::SimpleConnection::batch_execute(
                c,
                "SET LOCAL statement_timeout = 0",
            )?;
            take_start_lock(c)?;
            run_known(c, POSTGRES)
        }),
    };
    result.map_err(|e| format!("migrations failed: {e}"))
}

type MigrationError = Box<dyn std::error::Error + Send + Sync>;

/// Versions a Patron of this repository once ran and a later one removed,
/// not a newer Patron's: SQLite's FTS5 trigram index
/// (`2026-12-02-000100_customer_search_trigrams`, added by 3e04696 and taken
/// out by the next commit). A file migrated in between holds the version;
/// refused as unknown, it could not start at all (a review).
const RETIRED: [&str; 1] = ["20261202000100"];

/// True when every migration of this binary is applied, read with a plain
/// `SELECT`; false when one is not or the table cannot be read (a new
/// database: the locked run creates it); the newer-schema error when the
/// database holds one this binary does not know.
fn up_to_date(conn: &mut DbConn) -> Result<bool, MigrationError> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Applied {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let query = diesel::sql_query("SELECT version FROM __diesel_schema_migrations");
    let (applied, ours) = match conn {
        DbConn::Sqlite(c) => (
            query.load::<Applied>(c),
            versions::<diesel::sqlite::Sqlite>(&SQLITE)?,
        ),
        DbConn::Postgresql(c) => (
            query.load::<Applied>(c),
            versions::<diesel::pg::Pg>(&POSTGRES)?,
        ),
    };
    let Ok(applied) = applied else {
        return Ok(false);
    };
    let applied: HashSet<String> = applied.into_iter().map(|a| a.version).collect();
    refuse_unknown(applied.iter().cloned(), &ours)?;
    Ok(ours.is_subset(&applied))
}

/// The newer-schema error when `applied` holds a version neither `ours`
/// nor retired.
fn refuse_unknown(
    applied: impl Iterator<Item = String>,
    ours: &HashSet<String>,
) -> Result<(), MigrationError> {
    let mut unknown: Vec<String> = applied
        .filter(|v| !ours.contains(v) && !RETIRED.contains(&v.as_str()))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort();
    Err(newer_schema(&unknown).into())
}

/// The versions of `known`, as diesel writes them in its table.
fn versions<DB: Backend>(known: &EmbeddedMigrations) -> Result<HashSet<String>, MigrationError>
where
    EmbeddedMigrations: MigrationSource<DB>,
{
    Ok(known
        .migrations()?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect())
}

/// Runs the pending migrations of `known` unless `conn`'s database holds
/// an applied migration that `known` lacks.
fn run_known<C, DB>(conn: &mut C, known: EmbeddedMigrations) -> Result<(), MigrationError>
where
    C: MigrationHarness<DB>,
    DB: Backend,
    EmbeddedMigrations: MigrationSource<DB>,
{
    let ours = versions::<DB>(&known)?;
    let applied = conn.applied_migrations()?;
    refuse_unknown(applied.iter().map(|v| v.to_string()), &ours)?;
    conn.run_pending_migrations(known).map(|_| ())
}

/// The migrations applied to `conn`'s database after the newest this
/// binary knows (a newer Patron migrated it while this one runs: a rolling
/// update), oldest first; `/readyz` answers 503 while there are any, so an
/// old process leaves the load balancer instead of serving a schema it does
/// not know (the start refuses it; a running process never looked again).
pub fn newer_applied(conn: &mut DbConn) -> diesel::QueryResult<Vec<String>> {
    use diesel::RunQueryDsl;
    use std::sync::OnceLock;
    #[derive(diesel::QueryableByName)]
    struct Applied {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    fn newest<DB: Backend>(known: EmbeddedMigrations) -> String
    where
        EmbeddedMigrations: MigrationSource<DB>,
    {
        known
            .migrations()
            .unwrap_or_default()
            .iter()
            .map(|m| m.name().version().to_string())
            .max()
            .unwrap_or_default()
    }
    static NEWEST_SQLITE: OnceLock<String> = OnceLock::new();
    static NEWEST_POSTGRES: OnceLock<String> = OnceLock::new();
    let newest = match conn {
        DbConn::Sqlite(_) => NEWEST_SQLITE.get_or_init(|| newest::<diesel::sqlite::Sqlite>(SQLITE)),
        DbConn::Postgresql(_) => NEWEST_POSTGRES.get_or_init(|| newest::<diesel::pg::Pg>(POSTGRES)),
    };
    // Versions are digits only (a timestamp): no quoting to escape.
    let query = diesel::sql_query(format!(
        "SELECT version FROM __diesel_schema_migrations WHERE version > '{newest}' ORDER BY version"
    ));
    let rows: Vec<Applied> = match conn {
        DbConn::Sqlite(c) => query.load(c)?,
        DbConn::Postgresql(c) => query.load(c)?,
    };
    Ok(rows.into_iter().map(|r| r.version).collect())
}

/// What the operator reads when the database is ahead of this binary.
pub fn newer_schema(unknown: &[String]) -> String {
    format!(
        "the database holds migrations this Patron does not know ({}): a newer Patron \
         migrated it. Run that newer Patron (or a later one) on this database; an older \
         one cannot work on its schema (one Patron version per database, see the README)",
        unknown.join(", ")
    )
}

/// Holds `START_LOCK` until the end of the write transaction `conn` is in
/// (PostgreSQL; SQLite's `BEGIN IMMEDIATE` already holds its write lock),
/// so a second process that counted no user before the first committed its
/// admin waits, then counts again.
pub fn start_lock_in_tx(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        DbConn::Postgresql(c) => take_start_lock(c),
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// Takes `START_LOCK` for the transaction `conn` is in, waiting as long as
/// another process holds it, and saying so in the log every 30 s: a start
/// behind another's long migration (or behind a session whose host vanished,
/// held until the server notices) waited in silence, and an operator saw a
/// start hang for no reason (a review).
fn take_start_lock(conn: &mut diesel::PgConnection) -> diesel::QueryResult<()> {
    use diesel::sql_types::Bool;
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Taken {
        #[diesel(sql_type = Bool)]
        taken: bool,
    }
    let started = std::time::Instant::now();
    let mut said = std::time::Duration::ZERO;
    loop {
        let Taken { taken } = diesel::sql_query(format!(
            "SELECT pg_try_advisory_xact_lock({START_LOCK}) AS taken"
        ))
        .get_result(conn)?;
        if taken {
            return Ok(());
        }
        let waited = started.elapsed();
        if waited >= said {
            log::warn!(
                "waiting for another Patron's start-up work on this database (migrations or the \
                 first admin; waited {} s): its session holds the start lock (PostgreSQL \
                 advisory lock {START_LOCK}, see pg_locks)",
                waited.as_secs()
            );
            said = waited + std::time::Duration::from_secs(30);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    /// libpq answers a script of comments only with "empty query", which
    /// diesel reports as an error: `diesel migration revert` stopped at such
    /// a `down.sql` (an outside review found one).
    #[test]
    fn every_postgres_migration_script_holds_a_statement() -> std::io::Result<()> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
        let mut checked = 0;
        for dir in std::fs::read_dir(&root)? {
            let dir = dir?.path();
            for script in ["up.sql", "down.sql"] {
                let text = std::fs::read_to_string(dir.join(script))?;
                let statement = text.lines().any(|l| {
                    let l = l.trim();
                    !l.is_empty() && !l.starts_with("--")
                });
                assert!(
                    statement,
                    "{} holds no statement",
                    dir.join(script).display()
                );
                checked += 1;
            }
        }
        assert!(
            checked > 20,
            "only {checked} scripts found under {}",
            root.display()
        );
        Ok(())
    }
}
