//! The lock order of a recompute chunk against a card write, with a settings
//! save queued between them (PostgreSQL). A chunk takes the CPR settings'
//! shared advisory lock (`settings::version_kept`), then the rows of the
//! cards it moves; a purchase takes its card's row, then the same shared
//! lock (`settings::get_kept`); a `PUT /settings/cpr` asks for the lock
//! exclusively. With the PUT queued behind the chunk, the purchase's shared
//! request queues behind the PUT, and the chunk then waits for the
//! purchase's card: a cycle. A review asked whether that is a deadlock (a
//! 500 for one of them). It is not: the purchase waits only behind another
//! waiter (a "soft" edge), and PostgreSQL's deadlock check, after
//! `deadlock_timeout` (1 s by default), moves it ahead of the PUT in the
//! lock's queue. The price is that one second, in a rare interleaving, so
//! the order is kept. The three take their locks through Patron's own
//! functions (`settings::keep`, `settings::lock`, `row_lock::lock_all`).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use patron::db::row_lock::{lock_all, Locked};
use patron::db::settings::{self, CPR};
use patron::db::DbConn;

use crate::helpers::EmptyPgDatabase;

fn connect(url: &str) -> DbConn {
    DbConn::Postgresql(PgConnection::establish(url).expect("connect"))
}

/// Waits until `n` sessions wait for an advisory lock of this database.
fn until_waiting(url: &str, n: i64) {
    #[derive(QueryableByName)]
    struct Waiting {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut c = connect(url);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let w: Waiting = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM pg_locks WHERE NOT granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .get_result(&mut c)
        .expect("pg_locks");
        if w.n >= n {
            return;
        }
        assert!(Instant::now() < deadline, "fewer than {n} sessions wait");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `steps` on `conn` on a thread of its own; the result comes on the
/// returned channel.
fn in_background(
    mut conn: DbConn,
    steps: impl FnOnce(&mut DbConn) -> diesel::QueryResult<()> + Send + 'static,
) -> mpsc::Receiver<Result<(), String>> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(steps(&mut conn).map_err(|e| e.to_string()));
    });
    receive
}

/// The card's stage set to `stage`, and the transaction committed.
fn set_stage_and_commit(conn: &mut DbConn, stage: &str) -> diesel::QueryResult<()> {
    conn.batch_execute(&format!(
        "UPDATE customers SET cpr_stage = '{stage}' WHERE id = 1; COMMIT"
    ))
}

#[test]
fn postgres_a_chunk_a_card_write_and_a_settings_save_between_them_do_not_deadlock() {
    let Some(db) = EmptyPgDatabase::create("lock_order") else {
        return;
    };
    let url = db.url.clone();
    let mut chunk = connect(&url);
    chunk
        .batch_execute(
            "CREATE TABLE customers (id BIGINT PRIMARY KEY, cpr_stage TEXT NOT NULL); \
             INSERT INTO customers VALUES (1, 'retention');",
        )
        .expect("a card");
    chunk.batch_execute("BEGIN").expect("a transaction");
    settings::keep(&mut chunk, CPR).expect("the chunk keeps the settings");
    let mut purchase = connect(&url);
    purchase.batch_execute("BEGIN").expect("a transaction");
    lock_all(&mut purchase, Locked::Customers, &[1]).expect("the purchase locks its card");
    let save = in_background(connect(&url), |conn| {
        conn.batch_execute("BEGIN")?;
        settings::lock(conn, CPR)?;
        conn.batch_execute("COMMIT")
    });
    until_waiting(&url, 1);
    let purchase_done = in_background(purchase, |conn| {
        settings::keep(conn, CPR)?;
        set_stage_and_commit(conn, "penetration")
    });
    until_waiting(&url, 2);

    let asked = Instant::now();
    let moved = lock_all(&mut chunk, Locked::Customers, &[1])
        .and_then(|()| set_stage_and_commit(&mut chunk, "not_started"));
    let waited = asked.elapsed();
    let wait = Duration::from_secs(10);
    let purchased = purchase_done.recv_timeout(wait).expect("the purchase ends");
    let saved = save.recv_timeout(wait).expect("the save ends");
    assert_eq!(moved.map_err(|e| e.to_string()), Ok(()), "the chunk");
    assert_eq!(purchased, Ok(()), "the purchase");
    assert_eq!(saved, Ok(()), "the save");
    // The deadlock check's delay (`deadlock_timeout`, 1 s), not a wait for
    // good cut off by a timeout.
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}
