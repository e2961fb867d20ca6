//! SQLite only: the checkpoint job (`jobs::spawn_checkpointer`) copies the
//! write-ahead log into the database file off the write path. PostgreSQL has
//! no such log to copy (the job ends at its first round there).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_reaches_the_database_file_without_a_writer_copying_it() {
    crate::helpers::run(log_reaches_the_file, Backend::Sqlite).await;
}

/// A committed card sits in the `-wal` file until a checkpoint copies its
/// page into the database file. The writers' own automatic checkpoint starts
/// only past `wal::AUTOCHECKPOINT_PAGES` (far more than this test writes), so
/// finding the card's bytes in the database file shows the job ran.
async fn log_reaches_the_file(app: TestApp) {
    let token = app.admin_token().await;
    let marker = format!("wal-marker-{}", std::process::id());
    let r = app
        .create_customer(&token, json!({"kind": "individual", "name": marker}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let path = app
        .database_url
        .strip_prefix("sqlite://")
        .unwrap_or_else(|| panic!("not a SQLite url: {}", app.database_url))
        .to_string();
    let in_file = || {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        bytes.windows(marker.len()).any(|w| w == marker.as_bytes())
    };
    let in_log = std::fs::read(format!("{path}-wal"))
        .map(|b| b.windows(marker.len()).any(|w| w == marker.as_bytes()))
        .unwrap_or(false);
    assert!(
        in_log || in_file(),
        "the card is neither in the log nor in the file"
    );
    // The job checks every second when idle, every 100 ms while commits come.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !in_file() {
        assert!(
            Instant::now() < deadline,
            "the card's page never reached {path}: is the checkpoint job running?"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
