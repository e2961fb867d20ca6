//! Storage: one connection type over SQLite and PostgreSQL, an r2d2 pool, and
//! the helper that runs diesel work on the blocking pool.

pub mod account_plans;
pub mod analytics;
pub mod batch;
mod card_reads;
pub mod changes;
pub mod chunks;
pub mod churn;
pub mod churn_risk;
pub mod contacts;
pub mod cpr;
pub mod customer_list;
pub mod customers;
pub mod events;
mod group;
pub mod idempotency;
pub mod interactions;
pub mod job_rounds;
mod json_ids;
mod lookups;
pub mod loyalty;
pub mod migrate;
pub mod needs;
pub mod page;
mod pg_url;
pub use pg_url::with_database;
mod reports;
pub mod request_key;
pub mod row_lock;
pub use reports::snapshot;
pub mod schema;
pub mod segments;
pub mod settings;
mod stamp;
pub mod statistics;
pub mod stats;
pub mod surveys;
pub mod tiers;
pub mod transactions;
pub mod users;
pub mod wal;
pub mod webhooks;
mod writer;

#[cfg(test)]
pub(crate) mod testing;

use std::time::Duration;

use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{ManageConnection, Pool, PooledConnection};
use diesel::{Connection, PgConnection, SqliteConnection};

use crate::error::ApiError;

/// How long a SQLite writer waits for another to finish before it fails
/// with "database is locked" (503): SQLite's busy timeout, and the bound of
/// this process's writer queue (`writer::WAIT`).
const BUSY_TIMEOUT_MS: u64 = 5000;

/// A connection to whichever backend `DATABASE_URL` names.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs a diesel query on the backend's own connection instead of through the
/// `MultiConnection` wrapper, which renders a statement's whole SQL text twice
/// on every execution (to decide whether it may be cached, and again while
/// collecting its binds) even when the statement is already prepared: an
/// eighth of a card read's CPU (docs/BENCHMARKS.md, #7). The expression is
/// compiled once per backend; use it for the hot read paths.
///
/// `native!(conn, |c| table.find(id).first(c))`
macro_rules! native {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Postgresql($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}
pub(crate) use native;

/// Which engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// SQLite wants a path, not a URL: `sqlite://patron.db` → `patron.db`,
/// `sqlite:///data/patron.db` → `/data/patron.db`.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

/// Whether an SQLite path (or `file:` URI) names an in-memory database or
/// none: SQLite gives each connection a private one, so the migrations ran
/// on one and requests on others ("no such table: users"), the URI forms
/// (`file::memory:`, `?mode=memory`) included (a review).
fn names_no_file(path: &str) -> bool {
    if matches!(path, "" | ":memory:") {
        return true;
    }
    let Some(uri) = path.strip_prefix("file:") else {
        return false;
    };
    let (file, query) = uri.split_once('?').unwrap_or((uri, ""));
    let file = file.split('#').next().unwrap_or_default();
    matches!(file, "" | ":memory:")
        || query
            .split('&')
            .any(|pair| pair.eq_ignore_ascii_case("mode=memory"))
}

/// Switches a new SQLite file to WAL. SQLite answers "database is locked" at
/// once, without its busy timeout, while another connection holds the file
/// in the middle of the same switch or of its first transaction: two
/// processes starting on a new file at once (tests/api/startup_races.rs)
/// failed so now and then (once in a CI run). The switch is retried until
/// `timeout`.
fn to_wal(conn: &mut DbConn, timeout: Duration) -> Result<(), String> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match conn.batch_execute("PRAGMA journal_mode = WAL;") {
            Ok(()) => return Ok(()),
            Err(e) if e.to_string().contains("locked") && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("cannot switch SQLite to WAL: {e}")),
        }
    }
}

/// A connection. PostgreSQL's is retried until `timeout` passes (a server
/// that is still starting), with the last error if none came, the URL's
/// password masked. SQLite's is not: a file that cannot be opened now will
/// not open in 5 s either, and its error names the path and why.
fn first_connection(manager: &Manager, timeout: Duration) -> Result<DbConn, String> {
    if Backend::of_url(&manager.url) == Some(Backend::Sqlite) {
        let path = sqlite_path(&manager.url);
        if !path.starts_with("file:") {
            create_private(path);
        }
        return manager.connect().map_err(|e| {
            let why = sqlite_open_problem(path).unwrap_or_else(|| e.to_string());
            format!("cannot open the SQLite database {path}: {why}")
        });
    }
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match manager.connect() {
            Ok(conn) => return Ok(conn),
            Err(e) if std::time::Instant::now() >= deadline => {
                let e = pg_url::redact(&manager.url, &e.to_string());
                return Err(format!("cannot open the database: {e}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// A database file Patron creates is readable by its owner only: it holds
/// password hashes, webhook secrets and customers' personal data, and
/// SQLite made it 0644 (any local user could read it, and sign webhooks).
/// Created empty with that mode before SQLite opens it (made by SQLite and
/// then changed, it could be opened in between, and an open file stays
/// readable); its `-wal` and `-shm` files take their mode from it. A file
/// that is there is left as its owner set it; a failure here is left to
/// SQLite's open to report. `file:` URIs are SQLite's to create.
fn create_private(path: &str) {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let _ = options.open(path);
}

/// Why SQLite cannot open `path`, where the file system can tell (SQLite
/// says only "unable to open the database file"): no such directory, a
/// directory, no permission. None when it cannot tell (an SQLite URI).
fn sqlite_open_problem(path: &str) -> Option<String> {
    use std::io::ErrorKind;
    use std::path::Path;
    if path.starts_with("file:") {
        return None;
    }
    let file = Path::new(path);
    match std::fs::metadata(file) {
        Ok(m) if m.is_dir() => Some("it is a directory".into()),
        Ok(_) => std::fs::File::open(file).err().map(|e| e.to_string()),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            let dir = file
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            match std::fs::metadata(dir) {
                // Most likely no permission to create it: tried, and the
                // file removed again if that worked after all.
                Ok(m) if m.is_dir() => {
                    match std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(file)
                    {
                        Ok(_) => {
                            let _ = std::fs::remove_file(file);
                            None
                        }
                        Err(e) => Some(format!("cannot create it in {}: {e}", dir.display())),
                    }
                }
                Ok(_) => Some(format!("{} is not a directory", dir.display())),
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    Some(format!("the directory {} does not exist", dir.display()))
                }
                Err(e) => Some(format!("the directory {}: {e}", dir.display())),
            }
        }
        Err(e) => Some(e.to_string()),
    }
}

/// Whether the running Patron holds its SQLite file for itself
/// (`PATRON_SQLITE_LOCKING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteLocking {
    /// Through SQLite's `unix-excl` VFS: the process takes the file's lock
    /// once and keeps the WAL index in its own memory, where the default VFS
    /// took and released POSIX locks (`fcntl`) on the file and on the `-shm`
    /// index around every statement: 13 % of a card read's CPU
    /// (docs/BENCHMARKS.md, session 21). While Patron runs, another process
    /// (a second Patron, the `sqlite3` shell) gets "database is locked".
    #[default]
    Exclusive,
    /// SQLite's default: other processes may open the file meanwhile.
    Shared,
}

/// `path` as an SQLite URI that selects the `unix-excl` VFS. A path that is
/// already an SQLite URI (`file:…`) keeps its parameters and gains the VFS
/// unless it names one.
pub fn exclusive_uri(path: &str) -> String {
    if path.starts_with("file:") {
        return if path.contains("vfs=") {
            path.to_string()
        } else if path.contains('?') {
            format!("{path}&vfs=unix-excl")
        } else {
            format!("{path}?vfs=unix-excl")
        };
    }
    let mut uri = String::with_capacity(path.len() + 24);
    // An absolute path after an empty authority: `file:///data/p.db`. (After
    // `file:` alone, a path starting `//` would be read as a host name.)
    uri.push_str(if path.starts_with('/') {
        "file://"
    } else {
        "file:"
    });
    for c in path.chars() {
        match c {
            // The characters a URI path cannot hold as they are.
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?vfs=unix-excl");
    uri
}

/// Picks the backend from the URL scheme so a bad password reports the real
/// error (the derived `establish` tries every backend and hides the cause).
#[derive(Debug, Clone)]
pub struct Manager {
    url: String,
    locking: SqliteLocking,
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        match Backend::of_url(&self.url) {
            Some(Backend::Postgres) => {
                let mut conn = PgConnection::establish(&self.url)?;
                // JIT compilation costs ~50 ms on every query over many rows
                // (a segment preview scanning the cards took 330 ms with it,
                // 276 ms without); Patron's queries gain nothing from it.
                // READ COMMITTED whatever the database's default: every
                // write locks its rows and then reads them, which needs each
                // statement to see what committed before its lock was
                // granted. Under REPEATABLE READ (`ALTER DATABASE … SET
                // default_transaction_isolation`) a second writer of a card
                // failed "could not serialize access" (a 503) instead of
                // waiting for the first.
                conn.batch_execute(
                    "SET jit = off; SET default_transaction_isolation = 'read committed'",
                )
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Postgresql(conn))
            }
            Some(Backend::Sqlite) => {
                let path = sqlite_path(&self.url);
                let mut conn = match self.locking {
                    SqliteLocking::Exclusive => SqliteConnection::establish(&exclusive_uri(path))?,
                    SqliteLocking::Shared => SqliteConnection::establish(path)?,
                };
                // Per connection: these pragmas do not persist in the file.
                // The log is checkpointed by a job (`db::wal`); this
                // connection's own checkpoint is only a backstop.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = {};",
                    wal::AUTOCHECKPOINT_PAGES,
                    wal::SIZE_LIMIT_BYTES
                ))
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                segments::register_unicode_lower(&mut conn)
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Sqlite(conn))
            }
            None => Err(diesel::ConnectionError::InvalidConnectionUrl(
                "DATABASE_URL must start with sqlite:// (or sqlite:), postgres:// or postgresql://"
                    .into(),
            )),
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        match conn {
            DbConn::Postgresql(c) => {
                <AnsiTransactionManager as TransactionManager<PgConnection>>::is_broken_transaction_manager(c)
            }
            DbConn::Sqlite(c) => {
                <AnsiTransactionManager as TransactionManager<SqliteConnection>>::is_broken_transaction_manager(c)
            }
        }
    }
}

pub type DbPool = Pool<Manager>;
pub type PooledConn = PooledConnection<Manager>;

/// The database handle shared by all handlers.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    backend: Backend,
    /// SQLite's writers of this database queue on it (see `writer`).
    writer: writer::Queue,
    /// Where `write` callers (on SQLite) and grouped writes wait for their
    /// turn before they take a connection and a blocking thread (see
    /// `write`, `write_grouped`). Two permits: one
    /// writer in its transaction and the next one ready behind it, so the
    /// turn passes without a thread hop (with one permit, creates under a
    /// mixed load ran 690/s, with two 960/s; reads were unaffected).
    write_gate: std::sync::Arc<tokio::sync::Semaphore>,
    /// Writes waiting to be committed together (see `write_grouped`).
    group: group::Queue,
    /// Where reports wait for one of their connections (see `reports`).
    report_slots: std::sync::Arc<tokio::sync::Semaphore>,
    /// With SQLite, the set-up connection, open as long as the `Db`: the pool
    /// closes idle and old connections and opens its first in the background,
    /// so the process may have none open for a moment, and then `unix-excl`
    /// (`SqliteLocking::Exclusive`) would release the file's lock to any other
    /// process, and the last connection's close would checkpoint and remove
    /// the log and its index.
    _sqlite_open: Option<std::sync::Arc<std::sync::Mutex<DbConn>>>,
    /// Where `lookup` runs (SQLite, see `lookups`); `None`: on `run`'s threads.
    lookups: Option<std::sync::Arc<lookups::Lane>>,
    /// Card reads waiting to share a statement (PostgreSQL, see `card_reads`).
    card_reads: Option<card_reads::Queue>,
    /// The runtime that opened the database (the main one), whose blocking
    /// pool runs the calls that hold a process-wide turn: a card reader
    /// (counted when queued) and a write holding a `write_gate` permit.
    /// Each HTTP worker has its own small blocking pool (`startup`: pool /
    /// workers + 1 threads, 1 on PostgreSQL from 11 workers): a turn taken
    /// on a worker whose threads were all busy (a long report) waited there
    /// for one, and two such turns held up every card read (or write) of
    /// the process until they timed out with 503. Turns are few (two
    /// readers, two permits), so they add at most four threads here.
    home: Option<tokio::runtime::Handle>,
}

/// Runs `f` with a connection from `pool`, on the calling (blocking) thread.
/// `called` is when the request asked: the wait for a thread counts against
/// the pool's timeout too, so a call queued behind others for a thread still
/// gets its 503 within `PATRON_DB_TIMEOUT_SECS`, not that long again per call
/// ahead of it (on a lookup lane of one thread, the k-th queued lookup would
/// otherwise wait k timeouts). A connection free when the time is up is
/// still taken.
fn checked_out<T>(
    pool: &DbPool,
    writer: &writer::Queue,
    called: std::time::Instant,
    f: impl FnOnce(&mut DbConn) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let left = pool.connection_timeout().saturating_sub(called.elapsed());
    let checkout = pool.get_timeout(left);
    crate::metrics::POOL_WAIT.observe(called.elapsed().as_secs_f64());
    let mut conn = checkout.map_err(|e| {
        crate::metrics::POOL_TIMEOUTS.inc();
        ApiError::Unavailable(e.to_string())
    })?;
    let result = writer::within(writer, || f(&mut conn));
    if matches!(result, Err(ApiError::Unavailable(_))) {
        evict_dead(pool, &mut conn);
    }
    result
}

/// After a statement failed as the database being unavailable: if the
/// connection's server is gone (a restart, a failover, a cut network), the
/// pool drops it, and every idle connection with it that is dead too.
/// diesel marks a PostgreSQL connection broken only when a transaction
/// fails, so a dead connection used outside one went back to the pool and
/// was handed out again (the most recently returned first): after a restart
/// `/readyz` and the reads stayed 503 for ~20 s, until the dead connections
/// happened to be used in transactions (tests/api/outage.rs). A restart
/// kills every connection at once, hence the sweep of the idle ones; it
/// costs a `SELECT 1` per idle connection, only after such a failure.
fn evict_dead(pool: &DbPool, conn: &mut DbConn) {
    if !is_dead(conn) {
        return; // a deadlock, a lock timeout: the connection is fine
    }
    mark_broken(conn);
    let idle: Vec<PooledConn> = std::iter::from_fn(|| pool.try_get())
        .take(pool.max_size() as usize)
        .collect();
    for mut other in idle {
        if is_dead(&mut other) {
            mark_broken(&mut other);
        }
    }
}

/// Whether the connection no longer reaches its server (PostgreSQL; an
/// SQLite connection is a file in the process).
fn is_dead(conn: &mut DbConn) -> bool {
    matches!(conn, DbConn::Postgresql(_)) && conn.batch_execute("SELECT 1").is_err()
}

/// Makes the pool close the connection when it comes back (`has_broken`).
fn mark_broken(conn: &mut DbConn) {
    if let DbConn::Postgresql(c) = conn {
        <AnsiTransactionManager as TransactionManager<PgConnection>>::transaction_manager_status_mut(c)
            .set_in_error();
    }
}

impl Db {
    /// Switches SQLite to WAL once, runs the migrations, and builds the pool.
    pub fn connect(url: &str, pool_size: u32) -> Result<Db, String> {
        Db::connect_with_timeout(url, pool_size, 5, SqliteLocking::default())
    }

    /// As `connect`, waiting at most `timeout_secs` for a connection.
    pub fn connect_with_timeout(
        url: &str,
        pool_size: u32,
        timeout_secs: u64,
        locking: SqliteLocking,
    ) -> Result<Db, String> {
        let backend = Backend::of_url(url).ok_or_else(|| {
            "DATABASE_URL must start with sqlite:// (or sqlite:), postgres:// or postgresql://"
                .to_string()
        })?;
        if backend == Backend::Sqlite && names_no_file(sqlite_path(url)) {
            return Err(
                "DATABASE_URL names no SQLite file (an in-memory database is one per connection, or gone at exit): give its path, sqlite://patron.db or sqlite:///abs/path/patron.db"
                    .into(),
            );
        }
        let timeout = Duration::from_secs(timeout_secs.max(1));
        let url = match backend {
            Backend::Postgres => {
                pg_url::with_defaults(url, timeout.as_secs(), |n| std::env::var_os(n).is_some())
            }
            Backend::Sqlite => url.to_string(),
        };
        let manager = Manager { url, locking };
        // Set up on a connection outside the pool (kept for the `Db`'s life
        // with SQLite, see `_sqlite_open`): what stops the start (a
        // wrong password, an SQLite file another process holds) is reported
        // as it is, where the pool only says that it timed out waiting for a
        // connection.
        let mut setup = first_connection(&manager, timeout)?;
        if backend == Backend::Sqlite {
            // Set once, not per connection: concurrent switches race ("database is locked").
            to_wal(&mut setup, timeout)?;
        }
        migrate::run(&mut setup)?;
        // Unchecked: the set-up connection has just shown that the database
        // answers, and waiting here for the pool's first connection as well
        // made a database that went away in between cost a second timeout.
        // The pool opens its connections in the background, and a request
        // that finds none gets a 503 after `timeout`, as during an outage.
        let pool = Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(1))
            .connection_timeout(timeout)
            .test_on_check_out(false)
            .build_unchecked(manager);
        let sqlite_open =
            (backend == Backend::Sqlite).then(|| std::sync::Arc::new(std::sync::Mutex::new(setup)));
        Ok(Db {
            pool,
            backend,
            writer: Default::default(),
            write_gate: std::sync::Arc::new(tokio::sync::Semaphore::new(2)),
            group: Default::default(),
            report_slots: std::sync::Arc::new(tokio::sync::Semaphore::new(reports::slots(
                pool_size,
            ))),
            _sqlite_open: sqlite_open,
            lookups: None,
            card_reads: None,
            home: tokio::runtime::Handle::try_current().ok(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Runs `f` with a pooled connection on the blocking thread pool, so no
    /// async worker ever waits on the database or holds a connection across
    /// an await.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_keyed(request_key::of_task(), f).await
    }

    /// `run` for the request keyed `key` (`request_key`): a write transaction
    /// of `f` marks the key applied.
    async fn run_keyed<T, F>(
        &self,
        key: Option<request_key::RequestKey>,
        f: F,
    ) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let (pool, writer) = (self.pool.clone(), self.writer.clone());
        let called = std::time::Instant::now();
        actix_web::web::block(move || {
            request_key::on_thread(key, || checked_out(&pool, &writer, called, f))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
    }

    /// `run_keyed` for a call that holds a process-wide turn: on the home
    /// runtime's blocking pool (see `home`), not the calling worker's.
    async fn run_keyed_in_turn<T, F>(
        &self,
        key: Option<request_key::RequestKey>,
        f: F,
    ) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let (pool, writer) = (self.pool.clone(), self.writer.clone());
        let called = std::time::Instant::now();
        self.spawn_in_turn(move || {
            request_key::on_thread(key, || checked_out(&pool, &writer, called, f))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
    }

    /// Spawns `f` on the home runtime's blocking pool (see `home`).
    fn spawn_in_turn<T, F>(&self, f: F) -> tokio::task::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match &self.home {
            Some(home) => home.spawn_blocking(f),
            None => tokio::task::spawn_blocking(f),
        }
    }

    /// As `run`, for a call that writes. On SQLite, where one transaction
    /// writes at a time, the call first waits its turn here, holding neither a
    /// connection nor a blocking thread: a writer that waited inside
    /// `write_tx` held both, so while writes queued, reads queued behind them
    /// for a thread and ran at the write rate (docs/BENCHMARKS.md, #7 session
    /// 14: 1,900 → 20,500 card reads/s beside 32 connections of creates). The
    /// wait is bounded like the writer queue's, with the same 503. Writers
    /// that use `run` still queue inside `write_tx`, as before.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.write_waiting(writer::WAIT, f).await
    }

    /// As `write`, for a small write that may share its transaction with
    /// others (group commit, see `group`): on SQLite `f` is queued, and the
    /// caller that gets the turn runs every queued write in one transaction,
    /// each in a savepoint. `f` must touch nothing but the database. It
    /// runs in a write transaction, its own or its savepoint in the group's:
    /// it needs no `write_tx` (one would only add a savepoint, two round
    /// trips on PostgreSQL). The wait for a group to take the write is
    /// bounded like `write`'s, with the same 503; once taken, the call waits
    /// for its group's COMMIT. On PostgreSQL it is `write` of `f` in a
    /// `write_tx` (see `write_grouped_insert`).
    pub async fn write_grouped<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        if self.backend != Backend::Sqlite {
            return self.run(move |conn| write_tx(conn, f)).await;
        }
        self.write_grouped_waiting(writer::WAIT, None, f).await
    }

    /// `write_grouped` on both engines, for a write that only adds rows and
    /// waits for no other transaction's row lock (creating a card). On
    /// PostgreSQL a group lasts as long as its slowest write: one waiting for
    /// a row another transaction holds (a card's figures during a window
    /// refresh or a bulk upsert) would hold up every write of its group and
    /// of the groups behind it, where alone it holds up only itself. Grouped,
    /// creates share the feed counter's row lock, the WAL flush and the round
    /// trips of one commit (docs/BENCHMARKS.md, #7 session 22). `key`: the
    /// unique key the write inserts, if any (a card's external id): a group
    /// inserts its keys in key order (see `group::Queue::push`), as another
    /// transaction's uncommitted insert of the same key makes it wait.
    pub async fn write_grouped_insert<T, F>(&self, key: Option<String>, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.write_grouped_waiting(writer::WAIT, key, f).await
    }

    /// `write_grouped`, waiting at most `wait` for a group to take the write.
    async fn write_grouped_waiting<T, F>(
        &self,
        wait: std::time::Duration,
        order: Option<String>,
        f: F,
    ) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, mut outcome) = tokio::sync::oneshot::channel();
        let id = self.group.push(f, request_key::of_task(), order, reply);
        let _withdraw = group::Withdraw {
            queue: &self.group,
            id,
        };
        let lost = || ApiError::Internal("a grouped write lost its group".into());
        let turns = async {
            loop {
                tokio::select! {
                    biased;
                    result = &mut outcome => return Some(result.unwrap_or_else(|_| Err(lost()))),
                    permit = self.write_gate.acquire() => {
                        let _permit = permit;
                        if !self.group.is_pending(id) {
                            // A group took it: its outcome comes with that group's COMMIT.
                            return None;
                        }
                        if let Err(e) = self.run_group().await {
                            if self.group.withdraw(id) {
                                return Some(Err(e));
                            }
                        }
                    }
                }
            }
        };
        match tokio::time::timeout(wait, turns).await {
            Ok(Some(result)) => result,
            Ok(None) => (&mut outcome).await.unwrap_or_else(|_| Err(lost())),
            Err(_) if self.group.withdraw(id) => Err(writer::group_too_long(self.backend, wait)),
            Err(_) => (&mut outcome).await.unwrap_or_else(|_| Err(lost())),
        }
    }

    /// Runs the writes queued for a group in one transaction (see `group`).
    async fn run_group(&self) -> Result<(), ApiError> {
        let queue = self.group.clone();
        // The group holds other requests' writes: each job marks its own key.
        self.run_keyed_in_turn(None, move |conn| {
            queue.run(conn).map_err(ApiError::Unavailable)
        })
        .await
    }

    /// `write`, waiting at most `wait` for the turn.
    async fn write_waiting<T, F>(&self, wait: std::time::Duration, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        if self.backend != Backend::Sqlite {
            return self.run(f).await;
        }
        let _turn = match tokio::time::timeout(wait, self.write_gate.acquire()).await {
            Ok(Ok(permit)) => permit,
            // The semaphore is never closed; a timeout is the queue being too long.
            _ => return Err(writer::too_long(wait).into()),
        };
        self.run_keyed_in_turn(request_key::of_task(), f).await
    }
}

/// A write transaction. On SQLite it starts with `BEGIN IMMEDIATE`: a deferred
/// transaction that reads and then writes fails at once with SQLITE_BUSY when
/// another writer got there first, without waiting for the busy timeout; and
/// it first waits its turn behind this process's other writers (`writer`).
/// Every write transaction ends by sealing the changes it recorded for the
/// change feed (`changes::seal`), the last work before COMMIT.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let depth = match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::transaction_manager_status_mut(c),
        DbConn::Postgresql(c) => AnsiTransactionManager::transaction_manager_status_mut(c),
    }
    .transaction_depth()?;
    if depth.is_some() {
        // Inside another write transaction (a group commit's): a savepoint;
        // the outermost transaction seals the feed and commits.
        return savepoint(conn, f);
    }
    // Declared before the guard, so it outlives it. Only the outermost
    // transaction queues: the lock is not reentrant.
    let queue = match conn {
        DbConn::Sqlite(_) => writer::current(),
        DbConn::Postgresql(_) => None,
    };
    let _turn = match &queue {
        Some(queue) => Some(writer::turn(queue, writer::WAIT)?),
        None => None,
    };
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Postgresql(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    changes::begin();
    match f(conn).and_then(|value| {
        request_key::mark_applied(conn)?;
        changes::seal(conn)?;
        Ok(value)
    }) {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => match <DbConn as Connection>::TransactionManager::rollback_transaction(conn) {
            // The connection died inside the transaction (a restart, a
            // failover): diesel marks it broken and refuses the rollback.
            // The statement's own error says what happened (a 503); the
            // rollback's turned it into a 500 (an outside review). As
            // diesel's own `transaction` does.
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// A `savepoint` whose changes are rendered for the feed when it succeeds,
/// not at commit: a later write of the same transaction changes the same
/// record (a bulk batch naming it twice), and each change must show the
/// state its own write left (as in a group, `db::group`).
pub fn savepoint_rendered<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let from = changes::mark();
    savepoint(conn, |conn| {
        let value = f(conn)?;
        changes::render_since(conn, from)?;
        Ok(value)
    })
}

/// A savepoint inside a [`write_tx`] (diesel's nested `transaction`): when
/// `f` fails, its writes are rolled back and so are the changes it recorded
/// for the feed, which are only written at the outer transaction's seal.
/// Use this, never `conn.transaction`, inside a `write_tx`.
pub fn savepoint<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let mark = changes::mark();
    let result = conn.transaction(f);
    if result.is_err() {
        changes::forget_since(mark);
    }
    result
}

/// The SQL condition that the transaction row `alias` (`"t"`, or `""` for
/// an unqualified column) is a purchase: an amount above 0. A transaction
/// corrected to 0 (the README's way to record a refund) and a free
/// after-sales service are records, not purchases: counted as purchases,
/// a refunded order kept the card's purchase count, its `won` move, its
/// repeat purchases and the overview's buyers. Every count and date that
/// means "purchase" uses this; sums need not (a 0 amount adds nothing, and
/// a free service's cost is still a cost).
pub fn purchase(alias: &str) -> String {
    if alias.is_empty() {
        "amount_cents > 0".to_string()
    } else {
        format!("{alias}.amount_cents > 0")
    }
}

/// `SUM(expr)` of cents over many customers as BIGINT, 0 when there are no
/// rows, held at the 64-bit range instead of failing past it (SQLite's SUM
/// raises "integer overflow", PostgreSQL's cast "bigint out of range": a
/// 500 for every report over the data). Summed in floating point, exact up to
/// 2^53 cents (~9·10^13 yuan); a sum of that size is not a real business's.
pub fn money_sum(expr: &str) -> String {
    let sum = format!("SUM(CAST({expr} AS DOUBLE PRECISION))");
    format!(
        "(CASE WHEN {sum} IS NULL THEN 0 \
           WHEN {sum} >= 9.2e18 THEN 9223372036854775807 \
           WHEN {sum} <= -9.2e18 THEN -9223372036854775807 \
           ELSE CAST({sum} AS BIGINT) END)"
    )
}

/// Now, truncated to microseconds: PostgreSQL keeps microseconds and SQLite
/// nanoseconds, and both backends must return the same value.
pub fn now() -> NaiveDateTime {
    micros(Utc::now().naive_utc())
}

/// The clock that leases (webhook leases, `Idempotency-Key` claims) and
/// retry times are set and compared by. PostgreSQL:
/// the database's, so that replicas whose clocks differ agree on when a lease
/// ends (with each process's own, one running ahead saw the others' live
/// leases as expired and delivered beside them, and one running behind
/// wrote leases that had ended already). Inside a transaction it is the
/// transaction's start. SQLite is a file on one host, whose processes share
/// that host's clock: this process's, in microseconds like every stored
/// instant (SQLite's own `CURRENT_TIMESTAMP` has whole seconds).
pub fn clock(conn: &mut DbConn) -> diesel::QueryResult<NaiveDateTime> {
    use diesel::RunQueryDsl;
    match conn {
        // UTC wall time whatever the session's TimeZone: the columns hold
        // UTC without a zone.
        DbConn::Postgresql(c) => diesel::select(diesel::dsl::sql::<diesel::sql_types::Timestamp>(
            "now() AT TIME ZONE 'UTC'",
        ))
        .get_result(c),
        DbConn::Sqlite(_) => Ok(now()),
    }
}

/// Truncates a client-sent instant to what both backends keep.
pub fn micros(t: NaiveDateTime) -> NaiveDateTime {
    t.trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use diesel::{sql_query, sql_types::Text, Connection, QueryableByName, RunQueryDsl};

    use crate::error::ApiError;

    /// A database file Patron creates, and its log, are its owner's only
    /// (SQLite made them 0644: password hashes and webhook secrets for any
    /// local user); one that was there keeps its mode.
    #[cfg(unix)]
    #[test]
    fn a_new_sqlite_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let url = format!("sqlite://{}", dir.path().join("new.db").display());
        let db = super::Db::connect_with_timeout(&url, 1, 1, Default::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mode("new.db"), 0o600);
        assert_eq!(mode("new.db-wal"), 0o600);
        drop(db);
        let shared = dir.path().join("shared.db");
        std::fs::write(&shared, b"").unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640))
            .unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", shared.display());
        let db = super::Db::connect_with_timeout(&url, 1, 1, Default::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mode("shared.db"), 0o640);
        drop(db);
    }

    /// A PostgreSQL connection that dies inside a write transaction is the
    /// 503 of a database unavailable, as one dead before it: the rollback
    /// diesel refuses then (the connection is marked broken) does not make
    /// it an internal error.
    #[test]
    fn a_connection_lost_inside_a_write_is_unavailable() {
        let Some(mut db) = super::testing::postgres() else {
            return;
        };
        let result: Result<(), ApiError> = super::write_tx(&mut db, |conn| {
            sql_query("SELECT pg_terminate_backend(pg_backend_pid())").execute(conn)?;
            Ok(())
        });
        match result {
            Err(ApiError::Unavailable(_)) => {}
            other => panic!("expected unavailable, got {other:?}"),
        }
    }

    /// SQLite says "unable to open the database file" for all of these.
    #[test]
    fn why_an_sqlite_file_cannot_be_opened_is_told() {
        use super::sqlite_open_problem as problem;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path().display().to_string();
        assert_eq!(problem(&root), Some("it is a directory".into()));
        assert_eq!(
            problem(&format!("{root}/missing/p.db")),
            Some(format!("the directory {root}/missing does not exist"))
        );
        std::fs::write(dir.path().join("file"), "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            problem(&format!("{root}/file/p.db")),
            Some(format!("{root}/file is not a directory"))
        );
        // Nothing the file system can tell: SQLite's own words are kept
        // (and no file is left behind).
        assert_eq!(problem(&format!("{root}/new.db")), None);
        assert!(!dir.path().join("new.db").exists());
        assert_eq!(problem(&format!("{root}/file")), None);
        assert_eq!(problem("file:missing/p.db?mode=rw"), None);
    }

    #[derive(QueryableByName)]
    struct CompileOption {
        #[diesel(sql_type = Text)]
        compile_options: String,
    }

    /// The bundled SQLite is built with `.cargo/config.toml`'s flags: losing
    /// one of them silently costs a large share of every request's CPU.
    #[test]
    fn bundled_sqlite_build_options() {
        let mut conn =
            diesel::SqliteConnection::establish(":memory:").unwrap_or_else(|e| panic!("{e}"));
        let options: Vec<String> = sql_query("PRAGMA compile_options")
            .load::<CompileOption>(&mut conn)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|o| o.compile_options)
            .collect();
        for wanted in ["ENABLE_QPSG", "DEFAULT_MEMSTATUS=0", "THREADSAFE=2"] {
            assert!(
                options.iter().any(|o| o == wanted),
                "{wanted} missing: {options:?}"
            );
        }
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
    }

    /// A database that does not answer stops the start after the timeout,
    /// with its own error (not the pool's "timed out").
    #[test]
    fn an_unreachable_database_is_reported_as_it_is_after_the_timeout() {
        use super::{Db, SqliteLocking};
        let started = std::time::Instant::now();
        let error = Db::connect_with_timeout(
            "postgres://patron:patron@127.0.0.1:1/patron",
            2,
            1,
            SqliteLocking::default(),
        )
        .err()
        .unwrap_or_default();
        assert!(error.starts_with("cannot open the database: "), "{error}");
        assert!(error.to_lowercase().contains("refused"), "{error}");
        assert!(
            started.elapsed() >= std::time::Duration::from_secs(1),
            "not retried"
        );
    }

    /// A server that takes the connection and never answers (a hung
    /// PostgreSQL, a proxy in front of a dead one) stops the start after the
    /// timeout: libpq by itself waits for its first byte forever.
    #[test]
    fn a_server_that_never_answers_is_given_up_on_after_the_timeout() {
        use super::{Db, SqliteLocking};
        use std::time::{Duration, Instant};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().collect();
            drop(held);
        });
        let started = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let url = format!("postgres://patron:patron@127.0.0.1:{port}/patron");
            let _ = tx.send(Db::connect_with_timeout(&url, 2, 2, SqliteLocking::default()).err());
        });
        let error = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("still connecting after 30 s"))
            .unwrap_or_default();
        assert!(error.starts_with("cannot open the database: "), "{error}");
        assert!(error.contains("timeout"), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn in_memory_databases_name_no_file() {
        use super::names_no_file;
        for path in [
            "",
            ":memory:",
            "file::memory:",
            "file::memory:?cache=shared",
            "file:x.db?mode=memory",
            "file:x.db?cache=shared&mode=memory",
            "file:",
        ] {
            assert!(names_no_file(path), "{path}");
        }
        for path in [
            "patron.db",
            "/data/p.db",
            "file:x.db",
            "file:///data/p.db?mode=rwc",
            "memory.db",
        ] {
            assert!(!names_no_file(path), "{path}");
        }
    }

    #[test]
    fn exclusive_uris() {
        use super::exclusive_uri;
        for (path, uri) in [
            ("patron.db", "file:patron.db?vfs=unix-excl"),
            ("/data/p.db", "file:///data/p.db?vfs=unix-excl"),
            ("//data/p.db", "file:////data/p.db?vfs=unix-excl"),
            ("/d/a?b#c%d.db", "file:///d/a%3fb%23c%25d.db?vfs=unix-excl"),
            ("file:x.db", "file:x.db?vfs=unix-excl"),
            ("file:x.db?mode=rwc", "file:x.db?mode=rwc&vfs=unix-excl"),
            ("file:x.db?vfs=unix", "file:x.db?vfs=unix"),
        ] {
            assert_eq!(exclusive_uri(path), uri, "{path}");
        }
    }

    /// `unix-excl` keeps the WAL index in the process's memory, so no `-shm`
    /// file appears beside a database written in WAL mode; the default VFS
    /// makes one. A path with the characters a URI must escape opens the
    /// file of that very name.
    #[test]
    fn exclusive_locking_keeps_the_wal_index_in_memory() {
        use super::{Db, SqliteLocking};
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for (locking, shm_file) in [
            (SqliteLocking::Exclusive, false),
            (SqliteLocking::Shared, true),
        ] {
            let path = dir.path().join(format!("a b?c#d%25e 名 {locking:?}.db"));
            // `sqlite:////abs` (a path starting `//`) is the same file.
            let url = format!("sqlite:///{}", path.display());
            let db =
                Db::connect_with_timeout(&url, 2, 1, locking).unwrap_or_else(|e| panic!("{e}"));
            assert!(path.is_file(), "{} was not created", path.display());
            let shm = format!("{}-shm", path.display());
            assert_eq!(std::path::Path::new(&shm).exists(), shm_file, "{locking:?}");
            drop(db);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
            .filter(|n| n.ends_with(".db"))
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
