//! An older Patron started on a database a newer one migrated (an image
//! rolled back) refuses to start, naming the migrations it does not know.
//! diesel only runs what is pending: the older binary started and then
//! failed its requests on the newer schema (a column the newer migrations
//! dropped) with 500s.

use diesel::connection::SimpleConnection;
use diesel::Connection;
use patron::config::Config;
use patron::startup::Application;

use crate::helpers::EmptyPgDatabase;

const FUTURE: &str = "29991231000000";

async fn an_older_patron_refuses_a_newer_schema(url: &str, execute: impl Fn(&str)) {
    let mut config = Config::for_database(url);
    config.webhook_poll_ms = 0;
    config.bind = "127.0.0.1:0".into();
    config.sqlite_locking = patron::db::SqliteLocking::Shared;
    let app = Application::build(config.clone())
        .await
        .expect("the app starts");
    drop(app);
    execute(&format!(
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('{FUTURE}')"
    ));
    let refused = Application::build(config.clone()).await;
    let error = refused.err().unwrap_or_default();
    assert!(error.contains(FUTURE), "{error}");
    assert!(error.contains("newer Patron"), "{error}");

    // The binary it was is fine again once the row is gone.
    execute(&format!(
        "DELETE FROM __diesel_schema_migrations WHERE version = '{FUTURE}'"
    ));
    drop(
        Application::build(config.clone())
            .await
            .expect("the app starts"),
    );

    // A version this repository once had and removed is not a newer
    // Patron's (SQLite's trigram index of 2026-12-02, PostgreSQL's is
    // still ours): the start goes on.
    execute("DELETE FROM __diesel_schema_migrations WHERE version = '20261202000100'");
    execute("INSERT INTO __diesel_schema_migrations (version) VALUES ('20261202000100')");
    drop(
        Application::build(config)
            .await
            .expect("a retired version is no newer Patron's"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_patron_refuses_a_newer_schema_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("newer.db").to_string_lossy().to_string();
    let execute = |sql: &str| {
        let mut conn = crate::helpers::open_sqlite(&path);
        conn.batch_execute(sql).expect("the statement");
    };
    an_older_patron_refuses_a_newer_schema(&format!("sqlite://{path}"), execute).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_patron_refuses_a_newer_schema_postgres() {
    let Some(db) = EmptyPgDatabase::create("newer_schema") else {
        return;
    };
    let execute = |sql: &str| {
        let mut conn = diesel::PgConnection::establish(&db.url).expect("the database");
        conn.batch_execute(sql).expect("the statement");
    };
    an_older_patron_refuses_a_newer_schema(&db.url, execute).await;
}

/// A review: a restart with no migration pending ran diesel's `CREATE TABLE
/// IF NOT EXISTS` in a write transaction, which a read-only PostgreSQL (a
/// full disk on a managed server, a failover) refuses, and the process could
/// not start; on SQLite it waited for another process's write, and failed
/// when that outlasted the timeout. With nothing pending, the start only
/// reads. `lock_writes` makes writes fail, and returns what undoes it.
async fn a_restart_with_nothing_pending_writes_nothing(
    url: &str,
    lock_writes: impl FnOnce() -> Box<dyn FnOnce() + Send>,
) {
    let mut config = Config::for_database(url);
    config.webhook_poll_ms = 0;
    config.bind = "127.0.0.1:0".into();
    config.sqlite_locking = patron::db::SqliteLocking::Shared;
    drop(
        Application::build(config.clone())
            .await
            .expect("the app starts"),
    );
    let unlock = lock_writes();
    let restarted = Application::build(config).await.map(drop);
    unlock();
    assert!(restarted.is_ok(), "{:?}", restarted.err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_nothing_pending_writes_nothing_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("restart.db").to_string_lossy().to_string();
    // Another process's write, held through the start.
    let lock_writes = || crate::helpers::hold_sqlite_write_lock(&path);
    a_restart_with_nothing_pending_writes_nothing(&format!("sqlite://{path}"), lock_writes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_nothing_pending_writes_nothing_postgres() {
    let Some(db) = EmptyPgDatabase::create("restart_read_only") else {
        return;
    };
    let execute = |sql: &str| {
        let mut conn = diesel::PgConnection::establish(&db.url).expect("the database");
        conn.batch_execute(sql).expect("the statement");
    };
    let name = db.url.rsplit('/').next().unwrap_or_default();
    let name = name.split('?').next().unwrap_or_default().to_string();
    let lock_writes = || -> Box<dyn FnOnce() + Send> {
        execute(&format!(
            "ALTER DATABASE {name} SET default_transaction_read_only = on"
        ));
        let url = db.url.clone();
        Box::new(move || {
            let mut conn = diesel::PgConnection::establish(&url).expect("the database");
            // Two statements: in one string they run in one transaction,
            // read-only from its start.
            conn.batch_execute("SET default_transaction_read_only = off")
                .expect("a writing session");
            conn.batch_execute(&format!(
                "ALTER DATABASE {name} RESET default_transaction_read_only"
            ))
            .expect("the reset");
        })
    };
    a_restart_with_nothing_pending_writes_nothing(&db.url, lock_writes).await;
}
