//! Reads of one record by key run on SQLite's lookup lane (`db::lookups`),
//! everything else on the blocking pool of the caller's runtime; PostgreSQL
//! has no lane. Both engines: the lane exists where it should and nowhere
//! else (also in the app as started), a lookup's wait for the lane counts
//! against the pool's timeout, a panicking lookup is a 500 that leaves the
//! lane working, and a `Db` with a lane can be dropped on an async worker.

use std::time::{Duration, Instant};

use patron::db::Db;
use patron::error::ApiError;
use patron::startup::Application;

use crate::helpers::{hold_a_connection, Backend, TestApp};

const LANE: &str = "patron-lookup";

/// The name of the thread a lookup of `db` ran on.
async fn lookup_thread(db: &Db) -> Option<String> {
    db.lookup(|_| Ok(std::thread::current().name().map(String::from)))
        .await
        .expect("a lookup")
}

async fn run_thread(db: &Db) -> Option<String> {
    db.run(|_| Ok(std::thread::current().name().map(String::from)))
        .await
        .expect("a call")
}

/// A `Db` of its own on the test's database with a lane of `lane` threads.
async fn open(app: &TestApp, pool_size: u32, timeout_secs: u64, lane: usize) -> Db {
    app.open_db(pool_size, timeout_secs)
        .await
        .with_lookup_threads(lane)
        .expect("the lane")
}

async fn lookups_run_on_sqlite_lane_only(app: TestApp) {
    let db = open(&app, 2, 5, 1).await;
    let lane = Some(LANE.to_string());
    match app.backend {
        Backend::Sqlite => assert_eq!(lookup_thread(&db).await, lane),
        Backend::Postgres => assert_ne!(lookup_thread(&db).await, lane),
    }
    assert_ne!(run_thread(&db).await, lane, "other calls stay off the lane");
    // A lane's threads are stopped without blocking: dropping a tokio
    // runtime on an async worker the usual way panics.
    drop(db);

    let without = open(&app, 2, 5, 0).await;
    assert_ne!(lookup_thread(&without).await, lane, "0 threads: no lane");
}

/// The server as `main` builds it (`Config` → `Application`) has the lane.
async fn the_started_app_has_its_lane(app: TestApp) {
    let mut config = app.config.clone();
    config.sqlite_lookup_threads = 1;
    let started = Application::build(config).await.expect("starts");
    let on = lookup_thread(&started.db).await;
    match app.backend {
        Backend::Sqlite => assert_eq!(on.as_deref(), Some(LANE)),
        Backend::Postgres => assert_ne!(on.as_deref(), Some(LANE)),
    }
}

/// Three lookups queued while the pool's only connection is taken all get
/// their 503 within about one timeout: the second and third waited for the
/// lane's thread during the first one's wait, and that counts.
async fn queued_lookups_answer_within_one_timeout(app: TestApp) {
    let db = open(&app, 1, 1, 1).await;
    let held = hold_a_connection(&db).await;
    let started = Instant::now();
    let (a, b, c) = tokio::join!(
        db.lookup(|_| Ok(())),
        db.lookup(|_| Ok(())),
        db.lookup(|_| Ok(()))
    );
    let took = started.elapsed();
    for outcome in [a, b, c] {
        assert!(
            matches!(outcome, Err(ApiError::Unavailable(_))),
            "{outcome:?}"
        );
    }
    assert!(
        took < Duration::from_millis(1800),
        "three queued lookups took {took:?} to fail: each waited a timeout of its own"
    );
    drop(held);
    db.lookup(|_| Ok(()))
        .await
        .expect("a lookup once the connection is back");
}

async fn a_panicking_lookup_is_a_500_and_the_lane_goes_on(app: TestApp) {
    let db = open(&app, 2, 5, 1).await;
    let failed = db
        .lookup(|_| -> Result<(), ApiError> { panic!("a bug in a lookup") })
        .await;
    assert!(matches!(failed, Err(ApiError::Internal(_))), "{failed:?}");
    let lane = Some(LANE.to_string());
    match app.backend {
        Backend::Sqlite => assert_eq!(lookup_thread(&db).await, lane),
        Backend::Postgres => assert_ne!(lookup_thread(&db).await, lane),
    }
}

crate::backend_tests!(
    lookups_run_on_sqlite_lane_only,
    the_started_app_has_its_lane,
    queued_lookups_answer_within_one_timeout,
    a_panicking_lookup_is_a_500_and_the_lane_goes_on
);
