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
use crate::sync_bulk::bulk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_first_purchase_during_a_full_window_move_keeps_its_figures() {
    crate::helpers::run(first_purchase_during_a_full_window_move, Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_card_created_while_a_bulk_waits_is_locked_before_it_is_read() {
    crate::helpers::run(card_created_while_a_bulk_waits, Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_import_locks_its_cards_in_the_order_a_bulk_does() {
    crate::helpers::run(import_and_bulk_lock_in_one_order, Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_cpr_recompute_locks_its_cards_in_the_order_a_bulk_does() {
    crate::helpers::run(cpr_recompute_and_bulk_lock_in_one_order, Backend::Postgres).await;
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

/// A new card named `name`; its id.
async fn card(app: &TestApp, admin: &str, name: &str) -> i64 {
    app.create_customer(admin, json!({"kind": "individual", "name": name}))
        .await
        .id()
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
    let buyer = card(&app, &admin, "Regular").await;
    buy(&app, &admin, buyer, 100).await;
    let first = card(&app, &admin, "First-timer").await;

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

/// `POST /transactions/bulk` locks the cards it names, then reads them
/// again to plan the batch. A card created with a named external id while
/// the batch waited for its locks was found by the second read but not
/// locked: a currency change committed meanwhile left an order in the old
/// currency on the card (the order read the card before the change, its
/// card update waited for the change and then went ahead). The batch is
/// stopped at its locks by a card the test holds; the new card's currency
/// is changed by a transaction the test holds open (as a `PATCH` would,
/// between its write and its commit) and commits once the batch waits for it.
async fn card_created_while_a_bulk_waits(app: TestApp) {
    let admin = app.admin_token().await;
    let busy = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Busy"}))
        .await
        .id();
    let (mut first, first_pid) = holder(
        &app,
        &format!("SELECT id FROM customers WHERE id = {busy} FOR UPDATE;"),
    );
    let mut watcher = PgConnection::establish(&app.database_url).unwrap();

    let body = json!({"items": [
        {"external_id": "SO-1", "customer_id": busy, "amount_cents": 100, "product": "Tea"},
        {"external_id": "SO-2", "customer_external_id": "ERP-99", "amount_cents": 200,
         "product": "Tea"},
    ]});
    let batch = async {
        let r = bulk(&app, "/api/v1/transactions/bulk", &admin, &body, None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r
    };
    let meanwhile = async {
        assert!(
            until_waiting_for(&mut watcher, first_pid, Duration::from_secs(30)).await,
            "the batch never waited for its cards"
        );
        let late = app
            .create_customer(
                &admin,
                json!({"kind": "individual", "name": "Late", "external_id": "ERP-99"}),
            )
            .await
            .id();
        let (mut second, second_pid) = holder(
            &app,
            &format!("UPDATE customers SET currency = 'USD' WHERE id = {late};"),
        );
        first.batch_execute("COMMIT").unwrap();
        // Locked first, the batch waits before it reads the card; unlocked,
        // it waits at the card's update, after planning with the old currency.
        until_waiting_for(&mut watcher, second_pid, Duration::from_secs(3)).await;
        second.batch_execute("COMMIT").unwrap();
    };
    let (r, ()) = tokio::join!(batch, meanwhile);

    let mixed = count(
        &mut watcher,
        "SELECT COUNT(*) AS n FROM transactions t JOIN customers c ON c.id = t.customer_id \
         WHERE t.currency <> c.currency",
    );
    assert_eq!(
        mixed, 0,
        "an order in another currency than its card's: {}",
        r.text
    );
    let orders = count(&mut watcher, "SELECT COUNT(*) AS n FROM transactions");
    assert_eq!(orders, 2, "{}", r.text);
}

/// A CSV import whose rows name one card by `id` and another by key, and a
/// `POST /customers/bulk` naming both by key at the same time. The import
/// locked the card named by id first and the key's card later; the bulk
/// locks both in id order. With the key's card below the id's, each held
/// the card the other waited for: PostgreSQL's deadlock check failed one
/// of them after a second (a 503). The test is the bulk, staged: it holds
/// the lower card (the first the bulk locks) until the import waits for
/// it, then takes the higher one, as the bulk's next lock would. Now the
/// import locks both at once, in id order: it waits for the lower card
/// holding nothing, and both go through.
async fn import_and_bulk_lock_in_one_order(app: TestApp) {
    let admin = app.admin_token().await;
    let r = bulk(
        &app,
        "/api/v1/customers/bulk",
        &admin,
        &json!({"items": [
            {"external_id": "ERP-1-LO", "kind": "individual", "name": "Low"},
            {"external_id": "ERP-2-HI", "kind": "individual", "name": "High"},
        ]}),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (low, high) = (
        r.body["items"][0]["id"].as_i64().unwrap(),
        r.body["items"][1]["id"].as_i64().unwrap(),
    );
    // A batch's new cards are created in key order.
    assert!(low < high);
    let (mut the_bulk, pid) = holder(
        &app,
        &format!("SELECT id FROM customers WHERE id = {low} FOR NO KEY UPDATE;"),
    );
    let mut watcher = PgConnection::establish(&app.database_url).unwrap();

    let csv = format!("id,external_id,region\n{high},,East\n,ERP-1-LO,West\n");
    let import = crate::sync_csv::import(&app, &admin, "", &csv);
    let meanwhile = then_the_higher_card(&mut watcher, &mut the_bulk, pid, high, "the import");
    let (r, next) = tokio::join!(import, meanwhile);
    assert!(next.is_ok(), "the bulk's second lock failed: {next:?}");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        crate::sync_bulk::statuses(&r),
        ["updated", "updated"],
        "{}",
        r.text
    );
    let region =
        |id: i64| format!("SELECT COUNT(*) AS n FROM customers WHERE id = {id} AND region = ");
    assert_eq!(count(&mut watcher, &format!("{}'East'", region(high))), 1);
    assert_eq!(count(&mut watcher, &format!("{}'West'", region(low))), 1);
}

/// The staged bulk's next lock: once `what` waits for the lower card that
/// `the_bulk` (session `pid`) holds, it takes the higher card and commits
/// (rolls back when that failed, a deadlock); how that lock went.
async fn then_the_higher_card(
    watcher: &mut PgConnection,
    the_bulk: &mut PgConnection,
    pid: i64,
    high: i64,
    what: &str,
) -> diesel::QueryResult<()> {
    assert!(
        until_waiting_for(watcher, pid, Duration::from_secs(30)).await,
        "{what} never waited for the lower card"
    );
    let next = the_bulk.batch_execute(&format!(
        "SELECT id FROM customers WHERE id = {high} FOR NO KEY UPDATE"
    ));
    let _ = the_bulk.batch_execute(if next.is_ok() { "COMMIT" } else { "ROLLBACK" });
    next
}

/// A CPR recompute (`POST /cpr/recompute`, `PUT /settings/cpr`, the hourly
/// round) locked a chunk's cards with figures to write, wrote them, and
/// then locked the cards whose stage moves. With a moving card below a
/// stale one, a bulk batch holding the moving card and waiting for the
/// stale one deadlocked with it: PostgreSQL failed one of the two after a
/// second (a 503; an outside review). The test is the bulk, staged: it
/// holds the lower card until the recompute waits for it, then takes the
/// higher one, as the bulk's next lock would. Now the recompute locks both
/// at once, in id order: it waits for the lower card holding nothing.
async fn cpr_recompute_and_bulk_lock_in_one_order(app: TestApp) {
    let admin = app.admin_token().await;
    let (low, high) = (
        card(&app, &admin, "Moving").await,
        card(&app, &admin, "Stale").await,
    );
    assert!(low < high);
    let mut watcher = PgConnection::establish(&app.database_url).unwrap();
    // Out of step as a recompute finds cards after a change of its rules:
    // the lower card's stage is not the one its figures give (no purchase:
    // not started), the higher card's window revenue is not its 12-month one.
    watcher
        .batch_execute(&format!(
            "UPDATE customers SET cpr_stage = 'penetration' WHERE id = {low}; \
             UPDATE customers SET revenue_12m_cents = 5000 WHERE id = {high};"
        ))
        .unwrap();
    let (mut the_bulk, pid) = holder(
        &app,
        &format!("SELECT id FROM customers WHERE id = {low} FOR NO KEY UPDATE;"),
    );

    let empty = json!({});
    let recompute = app.post("/api/v1/cpr/recompute", &admin, &empty);
    let meanwhile = then_the_higher_card(&mut watcher, &mut the_bulk, pid, high, "the recompute");
    let (r, next) = tokio::join!(recompute, meanwhile);
    assert!(next.is_ok(), "the bulk's second lock failed: {next:?}");
    assert_eq!(r.status, 200, "{}", r.text);
    let moved = format!(
        "SELECT COUNT(*) AS n FROM customers WHERE id = {low} AND cpr_stage = 'not_started'"
    );
    assert_eq!(count(&mut watcher, &moved), 1, "the lower card's stage");
    let written = format!("SELECT cpr_revenue_window_cents AS n FROM customers WHERE id = {high}");
    assert_eq!(
        count(&mut watcher, &written),
        5000,
        "the higher card's window"
    );
}
