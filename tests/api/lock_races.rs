//! A write that loses a race for rows another transaction holds is a 503
//! problem (retryable), not a 500: PostgreSQL breaks a deadlock by failing
//! one of the two transactions, and fails a serializable transaction whose
//! reads another one's commit made stale. SQLite has no row locks: its lock
//! race is "database is locked", already a 503 (`sqlite_locking`).
//! PostgreSQL only, each test in a scratch database of its own.

use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};
use patron::error::ApiError;

use crate::helpers::{postgres_admin_url, with_database};

fn exec(conn: &mut PgConnection, sql: &str) -> diesel::QueryResult<usize> {
    diesel::sql_query(sql).execute(conn)
}

/// A scratch database with a table `t` of rows (1, 0) and (2, 0), two
/// connections to it, and the server connection that drops it afterwards.
struct Scratch {
    server: PgConnection,
    name: String,
}

impl Scratch {
    fn new(name: &str) -> Option<(Scratch, PgConnection, PgConnection)> {
        let admin = postgres_admin_url()?;
        let name = format!("patron_{name}_{}", std::process::id());
        let mut server = PgConnection::establish(&admin).expect("PostgreSQL reachable");
        exec(
            &mut server,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .expect("drop");
        exec(&mut server, &format!("CREATE DATABASE {name}")).expect("create database");
        let url = with_database(&admin, &name);
        let mut a = PgConnection::establish(&url).expect("the test database");
        let b = PgConnection::establish(&url).expect("the test database");
        exec(&mut a, "CREATE TABLE t (id INT PRIMARY KEY, n INT)").expect("create");
        exec(&mut a, "INSERT INTO t VALUES (1, 0), (2, 0)").expect("rows");
        Some((Scratch { server, name }, a, b))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = exec(
            &mut self.server,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// The one error of `results`, as the API maps it.
fn the_victim(results: [diesel::QueryResult<usize>; 2]) -> ApiError {
    let errors: Vec<diesel::result::Error> = results.into_iter().filter_map(Result::err).collect();
    assert_eq!(errors.len(), 1, "exactly one victim: {errors:?}");
    errors
        .into_iter()
        .map(ApiError::from)
        .next()
        .expect("one error")
}

#[test]
fn a_deadlock_victim_is_told_to_retry() {
    let Some((_scratch, mut a, mut b)) = Scratch::new("lock_race") else {
        return;
    };
    for conn in [&mut a, &mut b] {
        exec(conn, "BEGIN").expect("begin");
    }
    exec(&mut a, "UPDATE t SET n = 1 WHERE id = 1").expect("a locks 1");
    exec(&mut b, "UPDATE t SET n = 2 WHERE id = 2").expect("b locks 2");
    // a waits for row 2 while b, below, waits for row 1: one of them fails.
    let waiting = std::thread::spawn(move || {
        let result = exec(&mut a, "UPDATE t SET n = 1 WHERE id = 2");
        let _ = exec(&mut a, "ROLLBACK");
        result
    });
    std::thread::sleep(Duration::from_millis(200));
    let b_result = exec(&mut b, "UPDATE t SET n = 2 WHERE id = 1");
    let _ = exec(&mut b, "ROLLBACK");
    let a_result = waiting.join().expect("the waiting thread");
    let victim = the_victim([a_result, b_result]);
    assert!(
        matches!(&victim, ApiError::Unavailable(m) if m.contains("deadlock")),
        "{victim:?}"
    );
}

#[test]
fn a_serialization_failure_is_told_to_retry() {
    let Some((_scratch, mut a, mut b)) = Scratch::new("serialization_race") else {
        return;
    };
    // Each reads both rows, then writes the row the other read: whichever
    // commits second would have decided on a state that no longer holds.
    for conn in [&mut a, &mut b] {
        exec(conn, "BEGIN ISOLATION LEVEL SERIALIZABLE").expect("begin");
        exec(conn, "SELECT sum(n) FROM t").expect("read");
    }
    exec(&mut a, "UPDATE t SET n = 1 WHERE id = 1").expect("a writes 1");
    exec(&mut b, "UPDATE t SET n = 2 WHERE id = 2").expect("b writes 2");
    let a_result = exec(&mut a, "COMMIT");
    let b_result = exec(&mut b, "COMMIT");
    let victim = the_victim([a_result, b_result]);
    assert!(
        matches!(&victim, ApiError::Unavailable(m) if m.contains("serializ")),
        "{victim:?}"
    );
}
