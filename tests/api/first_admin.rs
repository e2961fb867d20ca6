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
