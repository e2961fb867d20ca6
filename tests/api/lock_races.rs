//! A write that loses a race for rows another transaction holds is a 503
//! problem (retryable), not a 500: PostgreSQL breaks a deadlock by failing
//! one of the two transactions, and grouped writes (`db::group`) lock several
//! customers' rows in one transaction. SQLite has no row locks: its lock
//! race is "database is locked", already a 503 (`sqlite_locking`).

use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};
use patron::error::ApiError;

use crate::helpers::{postgres_admin_url, with_database};

fn exec(conn: &mut PgConnection, sql: &str) -> diesel::QueryResult<usize> {
    diesel::sql_query(sql).execute(conn)
}

#[test]
fn a_deadlock_victim_is_told_to_retry() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let name = format!("patron_lock_race_{}", std::process::id());
    let mut server = PgConnection::establish(&admin).expect("PostgreSQL reachable");
    exec(
        &mut server,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .expect("drop");
    exec(&mut server, &format!("CREATE DATABASE {name}")).expect("create database");
    let url = with_database(&admin, &name);
    let table = "t";
    let mut a = PgConnection::establish(&url).expect("the test database");
    let mut b = PgConnection::establish(&url).expect("the test database");
    exec(
        &mut a,
        &format!("CREATE TABLE {table} (id INT PRIMARY KEY, n INT)"),
    )
    .expect("create");
    exec(
        &mut a,
        &format!("INSERT INTO {table} VALUES (1, 0), (2, 0)"),
    )
    .expect("rows");
    for conn in [&mut a, &mut b] {
        exec(conn, "BEGIN").expect("begin");
    }
    exec(&mut a, &format!("UPDATE {table} SET n = 1 WHERE id = 1")).expect("a locks 1");
    exec(&mut b, &format!("UPDATE {table} SET n = 2 WHERE id = 2")).expect("b locks 2");
    // a waits for row 2 while b, below, waits for row 1: one of them fails.
    let second = format!("UPDATE {table} SET n = 1 WHERE id = 2");
    let waiting = std::thread::spawn(move || {
        let result = exec(&mut a, &second);
        let _ = exec(&mut a, "ROLLBACK");
        (result, a)
    });
    std::thread::sleep(Duration::from_millis(200));
    let b_result = exec(&mut b, &format!("UPDATE {table} SET n = 2 WHERE id = 1"));
    let _ = exec(&mut b, "ROLLBACK");
    let (a_result, a) = waiting.join().expect("the waiting thread");
    let errors: Vec<diesel::result::Error> = [a_result, b_result]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert_eq!(errors.len(), 1, "exactly one victim: {errors:?}");
    let victim = errors.into_iter().next().map(ApiError::from);
    assert!(
        matches!(&victim, Some(ApiError::Unavailable(m)) if m.contains("deadlock")),
        "{victim:?}"
    );
    drop((a, b));
    exec(&mut server, &format!("DROP DATABASE {name} WITH (FORCE)")).expect("drop");
}
