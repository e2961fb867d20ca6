//! The db layer's unit tests run on both engines: a test declared with
//! [`db_tests!`] runs once on an in-memory SQLite database and once on a
//! PostgreSQL database of its own, both migrated and opened as the server
//! opens its connections (`Manager`: SQLite's foreign keys on, PostgreSQL's
//! session settings). The PostgreSQL server is the one the API tests use
//! (`PATRON_TEST_POSTGRES_URL`, see `scripts/test`); without it the
//! PostgreSQL half is skipped, unless `PATRON_TEST_REQUIRE_POSTGRES=1` (CI),
//! where it fails.

use std::sync::atomic::{AtomicU32, Ordering};

use diesel::r2d2::ManageConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};

use super::{migrate, with_database, DbConn, Manager, SqliteLocking};

/// Declares tests that run on both engines: for each `name`, the fn
/// `name(conn: &mut DbConn)` runs as `name::sqlite` and `name::postgres`.
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    super::$name(&mut $crate::db::testing::sqlite());
                }

                #[test]
                fn postgres() {
                    if let Some(mut db) = $crate::db::testing::postgres() {
                        super::$name(&mut db);
                    }
                }
            }
        )*
    };
}
pub(crate) use db_tests;

fn connect(url: &str) -> DbConn {
    let manager = Manager {
        url: url.to_string(),
        locking: SqliteLocking::Shared,
    };
    let mut conn = manager.connect().unwrap_or_else(|e| panic!("{url}: {e}"));
    migrate::run(&mut conn).unwrap_or_else(|e| panic!("{e}"));
    conn
}

/// A migrated in-memory SQLite database.
pub(crate) fn sqlite() -> DbConn {
    connect("sqlite::memory:")
}

/// Whether `conn` is PostgreSQL's, for the few statements the engines
/// spell differently (a test's own tables and triggers).
pub(crate) fn is_postgres(conn: &DbConn) -> bool {
    matches!(conn, DbConn::Postgresql(_))
}

/// The user (id 1, active) that a test's cards belong to.
pub(crate) const OWNER: &str =
    "INSERT INTO users (id, email, name, role, password_hash, active, created_at, updated_at) \
     VALUES (1, 'owner@x.io', 'Owner', 'admin', 'x', TRUE, '2026-01-01 00:00:00', '2026-01-01 00:00:00')";

/// `INSERT INTO {into} VALUES` the `rows` (each `(…)`), 500 to a
/// statement: SQLite's limit of terms in a compound SELECT.
pub(crate) fn insert_rows(conn: &mut DbConn, into: &str, rows: impl IntoIterator<Item = String>) {
    use diesel::connection::SimpleConnection;
    let rows: Vec<String> = rows.into_iter().collect();
    for chunk in rows.chunks(500) {
        conn.batch_execute(&format!("INSERT INTO {into} VALUES {}", chunk.join(", ")))
            .unwrap_or_else(|e| panic!("{into}: {e}"));
    }
}

/// The URL of a role that may create databases, or None (and a note) when
/// none is set. With PATRON_TEST_REQUIRE_POSTGRES=1 a missing URL fails.
fn admin_url() -> Option<String> {
    match std::env::var("PATRON_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("PATRON_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("PATRON_TEST_REQUIRE_POSTGRES=1 but PATRON_TEST_POSTGRES_URL is not set");
            }
            eprintln!("PostgreSQL SKIPPED: PATRON_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// A migrated PostgreSQL database of one test's own, dropped with the value
/// (also when the test fails).
pub(crate) struct PgTestDb {
    conn: Option<DbConn>,
    admin: String,
    name: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh PostgreSQL database, or None when no server is configured (a
/// failure under PATRON_TEST_REQUIRE_POSTGRES=1). Named after the process
/// and a counter, so that tests running at once, in one process or several,
/// never share one.
pub(crate) fn postgres() -> Option<PgTestDb> {
    let admin = admin_url()?;
    let name = format!(
        "patron_unit_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let mut server = PgConnection::establish(&admin).unwrap_or_else(|e| {
        panic!("PATRON_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {e}")
    });
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut server)
        .unwrap_or_else(|e| panic!("create {name}: {e}"));
    // From here on the value drops the database, also if migrating fails.
    let mut db = PgTestDb {
        conn: None,
        admin: admin.clone(),
        name,
    };
    db.conn = Some(connect(&with_database(&admin, &db.name)));
    Some(db)
}

impl std::ops::Deref for PgTestDb {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        self.conn
            .as_ref()
            .unwrap_or_else(|| panic!("no connection"))
    }
}

impl std::ops::DerefMut for PgTestDb {
    fn deref_mut(&mut self) -> &mut DbConn {
        self.conn
            .as_mut()
            .unwrap_or_else(|| panic!("no connection"))
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        // Closed first: a database cannot be dropped while connected to.
        self.conn = None;
        // FORCE cannot end an autovacuum worker (the role has no
        // pg_signal_backend), so a drop can fail for a moment: retried.
        for _ in 0..10 {
            let dropped = PgConnection::establish(&self.admin).is_ok_and(|mut c| {
                diesel::sql_query(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .execute(&mut c)
                .is_ok()
            });
            if dropped {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        // Said, not failed: a drop cannot fail the test that passed, but a
        // silent leftover database piles up on the test server unseen.
        eprintln!(
            "warning: test database {} not dropped after 10 tries; drop it by hand",
            self.name
        );
    }
}
