//! A graceful stop (SIGTERM) ends the start-up / hourly CPR recompute after
//! the chunk under way: the process could not exit while the recompute ran
//! (minutes at a million cards on a first run), so `docker stop` ended in
//! SIGKILL. The stopped round gives its claim (`job_rounds`) back, and the
//! next start recomputes the cards it did not reach. The real binary, so that the signal and the exit are real.
//!
//! PostgreSQL only: the test holds row locks on the cards of the second and
//! third chunks so that the recompute is surely in its second chunk when the
//! signal comes, and would wait on the third forever if it went on. SQLite
//! has no row locks to hold one chunk back; `db::chunks`' unit tests check
//! the same stop on it, chunk by chunk.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};

use crate::binary::{command, Server};
use crate::helpers::EmptyPgDatabase;

/// One card in each of the recompute's first three chunks (50,000 ids
/// each), each with a stage its empty record does not give ("retention"
/// without a purchase: "not_started").
const CARDS: [i64; 3] = [1, 50_001, 100_001];

#[derive(QueryableByName)]
struct Stage {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    cpr_stage: String,
}

fn stages(url: &str) -> Vec<(i64, String)> {
    let mut c = PgConnection::establish(url).expect("connect");
    diesel::sql_query("SELECT id, cpr_stage FROM customers ORDER BY id")
        .load::<Stage>(&mut c)
        .expect("stages")
        .into_iter()
        .map(|s| (s.id, s.cpr_stage))
        .collect()
}

/// An open transaction holding the card `id`'s row lock.
fn hold(url: &str, id: i64) -> PgConnection {
    let mut c = PgConnection::establish(url).expect("connect");
    c.batch_execute(&format!(
        "BEGIN; SELECT id FROM customers WHERE id = {id} FOR UPDATE"
    ))
    .expect("lock");
    c
}

/// Waits until one of the database's sessions waits for a row lock.
fn until_blocked(url: &str) {
    #[derive(QueryableByName)]
    struct Waiting {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut c = PgConnection::establish(url).expect("connect");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let w: Waiting = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .get_result(&mut c)
        .expect("pg_stat_activity");
        if w.n > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the recompute never reached the locked card"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The lines of `server`'s stderr, as they come.
fn lines(server: &mut Server) -> mpsc::Receiver<String> {
    let stderr = server.take_stderr().expect("stderr piped");
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    receive
}

/// Reads lines until one contains `text`; every line read.
fn until_line(lines: &mpsc::Receiver<String>, text: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(text);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no log line with {text:?} in {seen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_cpr_recompute_after_its_chunk_and_the_next_start_finishes_it() {
    let Some(db) = EmptyPgDatabase::create("recompute_stop") else {
        return;
    };
    let url = db.url.clone();
    // A first start migrates the database and creates the admin who owns
    // the cards.
    let mut first = Server::start(&url, "warn", Stdio::null()).await;
    assert!(first.terminate().success());
    let mut c = PgConnection::establish(&url).expect("connect");
    // Its round claimed the period (`job_rounds`): as if an hour had passed,
    // so that the next start's round walks.
    c.batch_execute("UPDATE job_rounds SET started_at = '2001-01-01 00:00:00'")
        .expect("a due round");
    for id in CARDS {
        c.batch_execute(&format!(
            "INSERT INTO customers (id, kind, name, owner_id, created_at, updated_at, cpr_stage) \
             VALUES ({id}, 'individual', 'card {id}', (SELECT MIN(id) FROM users), \
                     '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'retention')"
        ))
        .expect("a card");
    }
    let mut second_chunk = hold(&url, CARDS[1]);
    let mut third_chunk = hold(&url, CARDS[2]);

    let mut start = command(&url, "info");
    start
        .stderr(Stdio::piped())
        .env("PATRON_WEBHOOK_POLL_MS", "0");
    let mut server = Server::spawn(start).await;
    let log = lines(&mut server);
    until_blocked(&url);
    assert_eq!(
        stages(&url)[0].1,
        "not_started",
        "the first chunk committed"
    );

    server.send_term();
    until_line(&log, "stopping (graceful)");
    // The stop is asked right after that line is logged (and lines reach
    // stderr up to 100 ms late): the chunk under way now ends the walk.
    std::thread::sleep(Duration::from_millis(300));
    second_chunk.batch_execute("COMMIT").expect("unlock");
    let exited = server.exit_within(Duration::from_secs(8));
    // Released either way, so that a failure does not leave the server
    // waiting on it.
    third_chunk.batch_execute("COMMIT").expect("unlock");
    let status = exited.expect("the process did not exit: the recompute went on to the next chunk");
    assert!(status.success(), "{status:?}");
    until_line(&log, "CPR recompute stopped after 2 chunks");
    assert_eq!(
        stages(&url),
        vec![
            (CARDS[0], "not_started".to_string()),
            (CARDS[1], "not_started".to_string()),
            (CARDS[2], "retention".to_string()),
        ],
        "the recompute ended after the chunk under way"
    );

    // The next start's recompute reaches the card the stopped one did not:
    // the stopped round gave its claim back.
    let mut next = Server::start(&url, "warn", Stdio::null()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stages(&url)[2].1 != "not_started" {
        assert!(
            Instant::now() < deadline,
            "the next start did not finish the recompute"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(next.terminate().success());
}

/// Found by a review: when a blocking task outlived the graceful stop's 8 s
/// (here a `POST /cpr/recompute` waiting on a card another session holds;
/// request-driven recomputes are never cut short), the process logged
/// "Patron stopped" and then hung in the runtime's drop, which waits for
/// every blocking task, with the signal handlers still installed: only
/// SIGKILL ended it. It now exits a moment after the stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_exits_though_a_request_still_waits_in_the_database() {
    use serde_json::{json, Value};
    let Some(db) = EmptyPgDatabase::create("stop_blocked") else {
        return;
    };
    let url = db.url.clone();
    let mut start = command(&url, "warn,patron::jobs=debug");
    start
        .stderr(Stdio::piped())
        .env("PATRON_WEBHOOK_POLL_MS", "0");
    let mut server = Server::spawn(start).await;
    // The start-up round first: run after the card's insert, it moved the
    // card itself, and the request then had nothing to wait for.
    let log = lines(&mut server);
    until_line(&log, "loyalty recompute:");
    // A card whose stored stage the recompute will move (no purchase:
    // "not_started"), held by another session.
    let mut c = PgConnection::establish(&url).expect("connect");
    c.batch_execute(
        "INSERT INTO customers (id, kind, name, owner_id, created_at, updated_at, cpr_stage) \
         VALUES (7, 'individual', 'held', (SELECT MIN(id) FROM users), \
                 '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'retention')",
    )
    .expect("a card");
    let mut held = hold(&url, 7);
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{}/api/v1/auth/token", server.base))
        .json(&json!({"email": crate::binary::ADMIN_EMAIL, "password": crate::binary::ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("a token").to_string();
    let recompute = client
        .post(format!("{}/api/v1/cpr/recompute", server.base))
        .bearer_auth(token)
        .send();
    let waiting = tokio::spawn(recompute);
    until_blocked(&url);

    let started = Instant::now();
    server.send_term();
    // The drain waits at most 8 s for the request; then the process exits.
    let exited = server.exit_within(Duration::from_secs(14));
    held.batch_execute("COMMIT").expect("unlock");
    let status = exited.expect("the process did not exit while the request waited on the card");
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
    let _ = waiting.await;
}
