//! Reads of one record by key run on SQLite's lookup lane (`db::lookups`),
//! everything else on the blocking pool of the caller's runtime; PostgreSQL
//! has no lane. Both engines: the lane exists where it should and nowhere
//! else, and a `Db` with a lane can be dropped on an async worker.

use patron::db::Db;

use crate::helpers::{Backend, TestApp};

/// The name of the thread a call of `db` ran on.
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

async fn lookups_run_on_sqlite_lane_only(app: TestApp) {
    let db = Db::connect(&app.database_url, 2)
        .unwrap()
        .with_lookup_threads(1)
        .unwrap();
    let lane = Some("patron-lookup".to_string());
    match app.backend {
        Backend::Sqlite => assert_eq!(lookup_thread(&db).await, lane),
        Backend::Postgres => assert_ne!(lookup_thread(&db).await, lane),
    }
    assert_ne!(run_thread(&db).await, lane, "other calls stay off the lane");
    // A lane's threads are stopped without blocking: dropping a tokio
    // runtime on an async worker the usual way panics.
    drop(db);

    let without = Db::connect(&app.database_url, 2)
        .unwrap()
        .with_lookup_threads(0)
        .unwrap();
    assert_ne!(lookup_thread(&without).await, lane, "0 threads: no lane");
}

crate::backend_tests!(lookups_run_on_sqlite_lane_only);
