//! Writes of many cards that must write only the cards they locked. Each
//! test stops the write at a chosen point (an advisory lock or a row lock
//! the test holds), commits another writer's change meanwhile, and lets it
//! go. PostgreSQL only: SQLite's writers run one at a time, so nothing can
//! commit inside another write there.

use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use serde_json::json;

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_first_purchase_during_a_full_window_move_keeps_its_figures() {
    crate::helpers::run(first_purchase_during_a_full_window_move, Backend::Postgres).await;
}

/// Held by the test while the window move waits inside its grouped scan.
const HOLD: i64 = 0x7769_6e64;

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<N>(conn)
        .expect("a count")
        .n
}

/// How many sessions of the test's database wait for the session `pid`.
fn waiting_for(conn: &mut PgConnection, pid: i64) -> i64 {
    count(
        conn,
        &format!(
            "SELECT COUNT(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND {pid} = ANY(pg_blocking_pids(pid))"
        ),
    )
}

/// Waits (at most `limit`) until a session waits for `pid`; whether one did.
async fn until_waiting_for(conn: &mut PgConnection, pid: i64, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if waiting_for(conn, pid) > 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// A connection with an open transaction, and its backend's pid.
fn holder(app: &TestApp, begin: &str) -> (PgConnection, i64) {
    let mut conn = PgConnection::establish(&app.database_url).unwrap();
    let pid = count(&mut conn, "SELECT CAST(pg_backend_pid() AS BIGINT) AS n");
    conn.batch_execute(&format!("BEGIN; {begin}")).unwrap();
    (conn, pid)
}

async fn buy(app: &TestApp, token: &str, c: i64, amount: i64) {
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/transactions"),
            token,
            &json!({"amount_cents": amount, "cost_cents": 0, "product": "Ginseng tea",
                    "occurred_at": Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// The full window move (no window mark) locks the cards with 12-month
/// figures and those with a purchase in the window, sums the window into a
/// table, then writes every card whose figures differ. A card with neither
/// whose first purchase committed between the sums and the write had no
/// sum, and was set to 0 although the purchase had refreshed it under its
/// own lock; nothing corrected it until the card's next write. The move is
/// stopped inside its grouped scan (a row security policy on transactions
/// that waits for an advisory lock the test holds, only in that statement).
async fn first_purchase_during_a_full_window_move(app: TestApp) {
    let admin = app.admin_token().await;
    let card = |name: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            app.create_customer(admin, json!({"kind": "individual", "name": name}))
                .await
                .id()
        }
    };
    let buyer = card("Regular").await;
    buy(&app, &admin, buyer, 100).await;
    let first = card("First-timer").await;

    let mut watcher = PgConnection::establish(&app.database_url).unwrap();
    watcher
        .batch_execute(&format!(
            "CREATE FUNCTION hold_the_window() RETURNS boolean AS $$ BEGIN \
               IF current_query() LIKE '%CREATE TEMPORARY TABLE window_calc%' THEN \
                 PERFORM pg_advisory_xact_lock_shared({HOLD}); \
               END IF; RETURN true; END $$ LANGUAGE plpgsql; \
             CREATE POLICY every_row ON transactions USING (true) WITH CHECK (true); \
             CREATE POLICY hold_the_window ON transactions AS RESTRICTIVE FOR SELECT \
               USING (hold_the_window()); \
             ALTER TABLE transactions ENABLE ROW LEVEL SECURITY; \
             ALTER TABLE transactions FORCE ROW LEVEL SECURITY; \
             DELETE FROM settings WHERE name = 'stats_window';"
        ))
        .unwrap();
    let (mut held, pid) = holder(&app, &format!("SELECT pg_advisory_xact_lock({HOLD});"));

    let recompute = async {
        let r = app.post("/api/v1/cpr/recompute", &admin, &json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
    };
    let purchase_meanwhile = async {
        assert!(
            until_waiting_for(&mut watcher, pid, Duration::from_secs(30)).await,
            "the window move never reached its grouped scan"
        );
        buy(&app, &admin, first, 500).await;
        held.batch_execute("COMMIT").unwrap();
    };
    tokio::join!(recompute, purchase_meanwhile);

    let figures = count(
        &mut watcher,
        &format!("SELECT revenue_12m_cents AS n FROM customers WHERE id = {first}"),
    );
    assert_eq!(figures, 500, "the first purchase's 12-month revenue");
    let figures = count(
        &mut watcher,
        &format!("SELECT revenue_12m_cents AS n FROM customers WHERE id = {buyer}"),
    );
    assert_eq!(figures, 100, "a locked card is still recomputed");
}
