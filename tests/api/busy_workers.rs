//! A process-wide turn (a PostgreSQL card reader, an SQLite write permit)
//! taken on an HTTP worker whose blocking threads are all busy does not
//! hold up the other workers (an outside review). Each worker has its own
//! small blocking pool (pool / workers + 1 threads: 1 on PostgreSQL from 11
//! workers); a reader or a permit taken there waited for that worker's long
//! report to end, and with two of them every card read (every write) of the
//! process waited until it timed out with 503. The turns now run on the
//! runtime that opened the database.

use std::time::Duration;

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(a_worker_with_its_only_thread_busy_holds_up_no_other);

async fn a_worker_with_its_only_thread_busy_holds_up_no_other(app: TestApp) {
    let admin = app.admin_token().await;
    let id = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Busy"}))
        .await
        .id();
    let db = app.open_db(4, 5).await.with_card_readers(2);
    let (release, held) = std::sync::mpsc::channel::<()>();
    let worker_db = db.clone();
    // A worker as actix makes one: a runtime of its own with one blocking
    // thread, which a long call keeps busy until the test releases it.
    let worker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let busy = worker_db.clone();
            let long = tokio::spawn(async move {
                busy.run(move |_| {
                    let _ = held.recv_timeout(Duration::from_secs(30));
                    Ok(())
                })
                .await
            });
            tokio::time::sleep(Duration::from_millis(200)).await;
            // Two turns taken on this worker: both card readers (PostgreSQL),
            // both write permits (SQLite).
            let mut turns = Vec::new();
            for _ in 0..2 {
                let (a, b) = (worker_db.clone(), worker_db.clone());
                turns.push(tokio::spawn(async move { a.card(id).await.map(|_| ()) }));
                turns.push(tokio::spawn(async move { b.write(|_| Ok(())).await }));
            }
            for turn in turns {
                let _ = turn.await;
            }
            let _ = long.await;
        });
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Another worker's card read and write are answered meanwhile.
    let card = tokio::time::timeout(Duration::from_secs(3), db.card(id)).await;
    let write = tokio::time::timeout(Duration::from_secs(3), db.write(|_| Ok(()))).await;
    drop(release);
    worker.join().expect("the worker");
    assert!(
        matches!(card, Ok(Ok(Some(_)))),
        "the card read waited for the busy worker"
    );
    assert!(
        matches!(write, Ok(Ok(()))),
        "the write waited for the busy worker"
    );
}
