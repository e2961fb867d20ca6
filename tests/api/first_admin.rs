//! The first admin's generated password is printed once, by the start that
//! created it: a start that cannot listen must not create it. It did, and
//! the password it committed was never shown (an outside review). Nor may
//! it migrate the database: the image rolled back to then refused the newer
//! schema (a review).

use diesel::{Connection, RunQueryDsl};
use patron::auth::bootstrap::FirstAdmin;
use patron::config::Config;
use patron::startup::Application;

use crate::helpers::EmptyPgDatabase;

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

const USERS: &str = "SELECT COUNT(*) AS n FROM users";

/// A start on a taken port, or on a bad address, fails and leaves the
/// database as it was (no table, so no user); the next start, on a free
/// port, creates the admin and hands out its generated password. `users`
/// counts the users, None when there is no table of them.
async fn a_start_that_cannot_listen_creates_no_admin(url: &str, users: impl Fn() -> Option<i64>) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("its address").port();
    let mut config = Config::for_database(url);
    config.webhook_poll_ms = 0;
    config.admin_password = None;
    for bind in [format!("127.0.0.1:{port}"), "127.0.0.1:80800".to_string()] {
        config.bind = bind.clone();
        let refused = Application::build(config.clone()).await;
        let error = refused.err().unwrap_or_default();
        assert!(
            error.starts_with(&format!("cannot listen on {bind}")),
            "{error}"
        );
        assert_eq!(users(), None, "{bind}: not migrated, no admin");
    }

    config.bind = "127.0.0.1:0".into();
    let app = Application::build(config).await.expect("the app starts");
    let FirstAdmin::Generated { email, password } = app.first_admin.clone() else {
        panic!("no generated admin: {:?}", app.first_admin);
    };
    assert_eq!(email, "admin@example.com");
    assert_eq!(password.chars().count(), 20, "{password}");
    assert_eq!(users(), Some(1));
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_cannot_listen_creates_no_admin_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("first.db").to_string_lossy().to_string();
    let users = || {
        // Waits for locks: the failed start's pool closes its connections in
        // the background, and the last one to close takes the file for its
        // checkpoint (this read failed with "database is locked" in a CI run).
        let mut conn = crate::helpers::open_sqlite(&path);
        let c: Option<Count> = diesel::sql_query(USERS).get_result(&mut conn).ok();
        c.map(|c| c.n)
    };
    a_start_that_cannot_listen_creates_no_admin(&format!("sqlite://{path}"), users).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_cannot_listen_creates_no_admin_postgres() {
    let Some(db) = EmptyPgDatabase::create("first_admin") else {
        return;
    };
    let users = || {
        let mut conn = diesel::PgConnection::establish(&db.url).expect("the database");
        let c: Option<Count> = diesel::sql_query(USERS).get_result(&mut conn).ok();
        c.map(|c| c.n)
    };
    a_start_that_cannot_listen_creates_no_admin(&db.url, users).await;
}

/// A review: listening before the database was ready let a TCP probe or
/// load balancer take a migrating process for a ready one (connections
/// waited in the backlog). The port is taken first but refuses connections
/// until the start is done. `hold` keeps the migrations waiting (another
/// writer, another process's start lock) until its returned release runs.
async fn the_port_refuses_connections_until_the_database_is_ready(
    url: &str,
    hold: impl FnOnce() -> Box<dyn FnOnce() + Send>,
) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut config = Config::for_database(url);
    config.webhook_poll_ms = 0;
    config.bind = format!("127.0.0.1:{port}");
    // The start waits for the release, however late a loaded machine runs
    // this test (with 5 s, SQLite's switch to WAL gave up first).
    config.db_timeout_secs = 60;
    let release = hold();
    let start = tokio::spawn(Application::build(config));
    // Long enough for the start to have bound the port and be waiting.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let early = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(!start.is_finished(), "the start did not wait");
    tokio::task::spawn_blocking(release)
        .await
        .expect("the release");
    let app = start.await.expect("the task").expect("the app starts");
    assert!(
        early.is_err(),
        "a connection was taken before the database was ready"
    );
    // Listening once ready (the server runs when polled; here the socket
    // alone is checked).
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_port_refuses_connections_until_the_database_is_ready_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("waiting.db").to_string_lossy().to_string();
    // Another process's write, held through the start.
    let hold = || crate::helpers::hold_sqlite_write_lock(&path);
    the_port_refuses_connections_until_the_database_is_ready(&format!("sqlite://{path}"), hold)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_port_refuses_connections_until_the_database_is_ready_postgres() {
    use diesel::connection::SimpleConnection;
    let Some(db) = EmptyPgDatabase::create("port_waits") else {
        return;
    };
    let url = db.url.clone();
    // Another process's start: the start lock held in a transaction.
    let hold = move || -> Box<dyn FnOnce() + Send> {
        let mut conn = diesel::PgConnection::establish(&url).expect("the database");
        conn.batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({});",
            0x7061_7472_6f6e_i64
        ))
        .expect("the start lock");
        Box::new(move || conn.batch_execute("COMMIT").expect("the commit"))
    };
    the_port_refuses_connections_until_the_database_is_ready(&db.url, hold).await;
}
