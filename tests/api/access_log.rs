//! The access log of the real binary, whose stderr is a file here (as under a
//! service manager): stderr then goes through the log's writer thread
//! (`patron::logging`), which must neither hold lines back while the server
//! idles nor lose the ones queued when it stops.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::binary::Server;

fn log_text(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).expect("the log file")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_lines_reach_stderr_while_running_and_at_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("log.db");
    let log = dir.path().join("stderr.log");
    let file = std::fs::File::create(&log).expect("log file");
    let mut server = Server::start(
        &format!("sqlite://{}", db.to_string_lossy()),
        "info",
        Stdio::from(file),
    )
    .await;
    let client = reqwest::Client::new();

    // While the server runs: an idle writer has written what it was given.
    let r = client
        .get(format!("{}/api/v1/customers?probe=running", server.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log_text(&log).contains("GET /api/v1/customers 401") {
        assert!(
            Instant::now() < deadline,
            "no access-log line after 10 s:\n{}",
            log_text(&log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A burst right before SIGTERM: every line is in the file after the exit.
    let burst = 300;
    for _ in 0..burst {
        let r = client
            .get(format!("{}/api/v1/no-such-resource", server.base))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 404);
    }
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");
    let text = log_text(&log);
    let lines = text
        .lines()
        .filter(|l| l.contains("GET /api/v1/no-such-resource 404"))
        .count();
    assert_eq!(lines, burst, "access-log lines of the burst:\n{text}");
    // Written just before the process exits: only the final flush writes it.
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.contains("Patron stopped"),
        "the log does not end with the shutdown line:\n{text}"
    );
}
