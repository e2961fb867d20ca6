//! The access log of the real binary, whose stderr is a file here (as under a
//! service manager): the lines then go through the log's buffer
//! (`patron::logging`), which must neither hold them back while the server
//! idles nor lose the buffered ones when it stops.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::binary::Server;

fn log_text(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).expect("the log file")
}

async fn status_of(client: &reqwest::Client, url: &str) -> u16 {
    client
        .get(url)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

/// The binary on a fresh SQLite database in `dir`, its stderr in a file
/// there (returned), with `RUST_LOG` set to `rust_log`.
async fn logging_server(dir: &tempfile::TempDir, rust_log: &str) -> (Server, PathBuf) {
    let db = dir.path().join("log.db");
    let log = dir.path().join("stderr.log");
    let file = std::fs::File::create(&log).expect("log file");
    let server = Server::start(
        &format!("sqlite://{}", db.to_string_lossy()),
        rust_log,
        Stdio::from(file),
    )
    .await;
    (server, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_lines_reach_stderr_while_running_and_at_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut server, log) = logging_server(&dir, "info").await;
    let client = reqwest::Client::new();

    // While the server idles, the flusher writes what it was given.
    let url = format!("{}/api/v1/customers", server.base);
    assert_eq!(status_of(&client, &url).await, 401);
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
    let url = format!("{}/api/v1/no-such-resource", server.base);
    for _ in 0..burst {
        assert_eq!(status_of(&client, &url).await, 404);
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

/// An empty `RUST_LOG` (a deploy template's) is the default filter, as an
/// empty value of every other setting is: env_logger read it as "errors
/// only", and the access log and the start-up warnings were gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_log_filter_keeps_the_access_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut server, log) = logging_server(&dir, "").await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/customers", server.base);
    assert_eq!(status_of(&client, &url).await, 401);
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");
    let text = log_text(&log);
    assert!(
        text.contains("GET /api/v1/customers 401"),
        "no access-log line with RUST_LOG empty:\n{text}"
    );
}
