//! Two instances starting at once on a database that has never been
//! migrated (a first deploy with two replicas, a rolling deploy): both start,
//! and there is one first admin. Without a lock around the migrations the
//! second failed ("relation users already exists", "column ... already
//! exists") and exited; without one around the first admin it could insert
//! a second one and exit on the unique email.

use diesel::{Connection, RunQueryDsl};
use patron::config::Config;
use patron::startup::Application;

use crate::helpers::EmptyPgDatabase;

/// Rounds per engine: the race is not forced, it is made likely.
const ROUNDS: usize = 4;

/// Builds two applications on `url` at once; both must start.
async fn start_two(url: &str) {
    let builds = [Config::for_database(url), Config::for_database(url)].map(|mut config| {
        config.webhook_poll_ms = 0;
        // As two processes may share an SQLite file (by default the first
        // holds it and the second stops, saying so).
        config.sqlite_locking = patron::db::SqliteLocking::Shared;
        tokio::spawn(Application::build(config))
    });
    for build in builds {
        let app = build
            .await
            .expect("the build task")
            .expect("the app starts");
        drop(app);
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

const ADMINS: &str = "SELECT COUNT(*) AS n FROM users WHERE role = 'admin'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_migrate_a_new_database_at_once_sqlite() {
    for _ in 0..ROUNDS {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("race.db").to_string_lossy().to_string();
        start_two(&format!("sqlite://{path}")).await;
        let mut conn = crate::helpers::open_sqlite(&path);
        let admins: Count = diesel::sql_query(ADMINS)
            .get_result(&mut conn)
            .expect("count");
        assert_eq!(admins.n, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_migrate_a_new_database_at_once_postgres() {
    for round in 0..ROUNDS {
        let Some(db) = EmptyPgDatabase::create(&format!("start_race_{round}")) else {
            return;
        };
        start_two(&db.url).await;
        let mut conn = diesel::PgConnection::establish(&db.url).expect("the database");
        let admins: Count = diesel::sql_query(ADMINS)
            .get_result(&mut conn)
            .expect("count");
        assert_eq!(admins.n, 1);
    }
}

/// A review: a start behind another's start lock (its long migration, or a
/// session whose host vanished) waited without a word, and an operator saw a
/// start hang for no reason. It says so, then starts once the lock is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_waiting_for_the_start_lock_says_so_postgres() {
    use diesel::connection::SimpleConnection;
    use std::io::BufRead;
    let Some(db) = EmptyPgDatabase::create("start_lock_wait") else {
        return;
    };
    let mut holder = diesel::PgConnection::establish(&db.url).expect("the database");
    // The start lock ("patron" in ASCII), as another process's start holds it.
    holder
        .batch_execute("BEGIN; SELECT pg_advisory_xact_lock(123563867795310)")
        .expect("the lock");
    let mut command = crate::binary::command(&db.url, "warn");
    command.stderr(std::process::Stdio::piped());
    let bind = crate::binary::bind_of(&command);
    let mut child = command.spawn().expect("the server binary starts");
    let stderr = child.stderr.take().expect("its stderr");
    let (lines, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    let waiting = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match said.recv_timeout(left) {
            Ok(line) if line.contains("waiting for another Patron's start-up work") => break true,
            Ok(line) => seen.push(line),
            Err(_) => break false,
        }
    };
    holder.batch_execute("COMMIT").expect("the lock released");
    let client = reqwest::Client::new();
    let ready_by = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let ready = loop {
        let r = client.get(format!("http://{bind}/readyz")).send().await;
        if r.is_ok_and(|r| r.status().is_success()) {
            break true;
        }
        if std::time::Instant::now() > ready_by {
            break false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(waiting, "no word of the wait: {seen:#?}");
    assert!(ready, "it did not start once the lock was free");
}
