//! `PATRON_SQLITE_LOCKING`: by default the running binary holds its SQLite
//! file for itself (`unix-excl`: no file locks per statement), so another
//! process, a second Patron included, is refused; `shared` lets others in.
//! The test process is that other process.

use std::process::Stdio;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, RunQueryDsl, SqliteConnection};

use crate::binary::{command, Server};

/// The number of users, read from this (another) process.
fn read_from_another_process(path: &str) -> Result<i64, String> {
    let mut conn = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
    // Rides out a write of the server's start-up jobs (`shared`); the held
    // file (`exclusive`) is still refused, after the second.
    conn.batch_execute("PRAGMA busy_timeout = 1000")
        .map_err(|e| e.to_string())?;
    diesel::select(diesel::dsl::sql::<BigInt>("(SELECT COUNT(*) FROM users)"))
        .get_result(&mut conn)
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_server_holds_its_sqlite_file_unless_shared() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("locking.db").to_string_lossy().to_string();
    let url = format!("sqlite://{path}");

    let mut server = Server::start(&url, "warn", Stdio::null()).await;
    let refused = read_from_another_process(&path).expect_err("another process read the file");
    assert!(refused.contains("locked"), "{refused}");

    // A second server on the same file stops with the reason, not a hang.
    let started = Instant::now();
    let second = command(&url, "warn")
        .stderr(Stdio::piped())
        .output()
        .expect("the second server runs");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("locked"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60));

    // Stopped, the file is free again.
    server.terminate();
    assert_eq!(read_from_another_process(&path), Ok(1));

    let mut shared = command(&url, "warn");
    shared
        .env("PATRON_SQLITE_LOCKING", "shared")
        .stderr(Stdio::null());
    let mut server = Server::spawn(shared).await;
    assert_eq!(read_from_another_process(&path), Ok(1));
    server.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_sqlite_locking_mode_stops_the_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let out = command(&url, "warn")
        .env("PATRON_SQLITE_LOCKING", "none")
        .stderr(Stdio::piped())
        .output()
        .expect("the server runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PATRON_SQLITE_LOCKING must be exclusive or shared"),
        "{stderr}"
    );
}
