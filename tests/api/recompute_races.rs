//! A card write that commits while a recompute of every card (CPR stages,
//! loyalty types) is writing the card's chunk. A chunk records the moves as
//! events and then updates the cards, two statements; PostgreSQL reads each
//! statement afresh, so a purchase committed between the two left an event
//! for a move the update then did not make (the purchase had moved the card
//! itself). The chunk now locks the cards it moves before either statement:
//! the purchase waits for the chunk's commit and moves the card from the
//! recomputed value. The test stops the recompute right after its events (a
//! trigger waiting for an advisory lock the test holds), so it runs on
//! PostgreSQL only: SQLite's writers run one at a time, and nothing can
//! commit inside a chunk there.

use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use serde_json::json;

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_purchase_inside_a_cpr_chunk_keeps_events_and_stage_agreeing() {
    crate::helpers::run(purchase_inside_a_cpr_chunk, Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_purchase_inside_a_loyalty_chunk_keeps_events_and_type_agreeing() {
    crate::helpers::run(purchase_inside_a_loyalty_chunk, Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_purchase_under_way_keeps_its_window_revenue_through_a_recompute() {
    crate::helpers::run(
        purchase_under_way_keeps_its_window_revenue,
        Backend::Postgres,
    )
    .await;
}

/// Held by the test while the recompute waits after its events.
const HOLD: i64 = 0x686f_6c64;

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Event {
    #[diesel(sql_type = Nullable<Text>)]
    from_value: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    to_value: Option<String>,
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Text)]
    v: String,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<N>(conn)
        .expect("a count")
        .n
}

/// Counts the lock waits `condition` (over `pg_locks l`) in the test's own
/// database: other tests run beside it on the same server.
fn waiting(condition: &str) -> String {
    format!(
        "SELECT COUNT(*) AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE {condition} AND NOT l.granted AND a.datname = current_database()"
    )
}

async fn buy(app: &TestApp, token: &str, c: i64) {
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/transactions"),
            token,
            &json!({"amount_cents": 100, "cost_cents": 0, "product": "Ginseng tea",
                    "occurred_at": Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn purchase_inside_a_cpr_chunk(app: TestApp) {
    let admin = app.admin_token().await;
    let c = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Busy"}))
        .await
        .id();
    buy(&app, &admin, c).await;
    // A stage the recompute moves back to `conversion` (one purchase), as
    // new settings leave the cards until their recompute.
    app.execute_sql(&format!(
        "UPDATE customers SET cpr_stage = 'retention' WHERE id = {c}"
    ));
    // The second purchase makes it `penetration`.
    let chain = purchase_inside_a_chunk(
        &app,
        &admin,
        c,
        ("cpr_stage_changed", "retention", "conversion"),
        "cpr_stage",
    )
    .await;
    assert_eq!(
        chain,
        vec![
            ("retention".to_string(), "conversion".to_string()),
            ("conversion".to_string(), "penetration".to_string())
        ]
    );
}

async fn purchase_inside_a_loyalty_chunk(app: TestApp) {
    let admin = app.admin_token().await;
    let c = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Busy"}))
        .await
        .id();
    buy(&app, &admin, c).await;
    // Satisfied with one purchase is `latent`: a survey's figure, and a
    // type the recompute corrects, as new settings leave it.
    app.execute_sql(&format!(
        "UPDATE customers SET satisfaction_overall = 5, loyalty_type = 'none' WHERE id = {c}"
    ));
    // The second purchase makes it `high` (a repeat buyer without a wallet).
    let chain = purchase_inside_a_chunk(
        &app,
        &admin,
        c,
        ("loyalty_changed", "none", "latent"),
        "loyalty_type",
    )
    .await;
    assert_eq!(
        chain,
        vec![
            ("none".to_string(), "latent".to_string()),
            ("latent".to_string(), "high".to_string())
        ]
    );
}

/// Runs `POST /cpr/recompute` (stages, then loyalty types), holds it once it
/// has recorded the event `(kind, from, to)` for card `c`, posts a purchase
/// for `c`, and lets the recompute go once the purchase waits for the card
/// (or after 3 s: it did not wait). Returns the card's events of `kind`
/// since then, oldest first, after checking that each starts where the one
/// before ended and the last ends at the card's `column`.
async fn purchase_inside_a_chunk(
    app: &TestApp,
    admin: &str,
    c: i64,
    (kind, from, to): (&str, &str, &str),
    column: &str,
) -> Vec<(String, String)> {
    let mut watcher = PgConnection::establish(&app.database_url).unwrap();
    let mark = count(
        &mut watcher,
        "SELECT COALESCE(MAX(id), 0) AS n FROM customer_events",
    );
    watcher
        .batch_execute(&format!(
            "CREATE FUNCTION hold_the_recompute() RETURNS trigger AS $$ \
             BEGIN PERFORM pg_advisory_xact_lock_shared({HOLD}); RETURN NULL; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER hold_the_recompute AFTER INSERT ON customer_events FOR EACH ROW \
             WHEN (NEW.customer_id = {c} AND NEW.kind = '{kind}' \
                   AND NEW.from_value = '{from}' AND NEW.to_value = '{to}') \
             EXECUTE FUNCTION hold_the_recompute();"
        ))
        .unwrap();
    let mut holder = PgConnection::establish(&app.database_url).unwrap();
    holder
        .batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({HOLD});"))
        .unwrap();

    let recompute = async {
        let r = app.post("/api/v1/cpr/recompute", admin, &json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
    };
    let purchase_meanwhile = async {
        let held = Instant::now();
        while count(&mut watcher, &waiting("l.locktype = 'advisory'")) == 0 {
            assert!(held.elapsed() < Duration::from_secs(30), "never held");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let release = async {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(3)
                && count(&mut watcher, &waiting("l.locktype <> 'advisory'")) == 0
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            holder.batch_execute("COMMIT").unwrap();
        };
        tokio::join!(buy(app, admin, c), release);
    };
    tokio::join!(recompute, purchase_meanwhile);

    let events = diesel::sql_query(format!(
        "SELECT from_value, to_value FROM customer_events \
         WHERE customer_id = {c} AND kind = '{kind}' AND id > {mark} ORDER BY id"
    ))
    .load::<Event>(&mut watcher)
    .unwrap();
    let chain: Vec<(String, String)> = events
        .into_iter()
        .map(|e| {
            (
                e.from_value.unwrap_or_default(),
                e.to_value.unwrap_or_default(),
            )
        })
        .collect();
    let shown = diesel::sql_query(format!(
        "SELECT {column} AS v FROM customers WHERE id = {c}"
    ))
    .get_result::<Value>(&mut watcher)
    .unwrap()
    .v;
    let mut at = from.to_string();
    for (f, t) in &chain {
        assert_eq!(f, &at, "each event starts where the card was: {chain:?}");
        at = t.clone();
    }
    assert_eq!(
        at, shown,
        "the card shows the last event's value: {chain:?}"
    );
    chain
}

/// With a window other than 12 months, a chunk sums each card's window from
/// the transactions. A purchase that had updated card `c` but not yet
/// committed when the chunk read them made the chunk's UPDATE wait for the
/// card; PostgreSQL then re-checked the row against the sum read before the
/// purchase: the purchase's revenue differed from it, so the stale sum
/// (without the purchase) was written over it. The chunk now locks the
/// cards it will update first and sums afresh once it has them. The test
/// holds the purchase just after its own window update (a trigger waiting
/// for an advisory lock), runs the recompute until it waits for the card,
/// then lets the purchase commit.
async fn purchase_under_way_keeps_its_window_revenue(app: TestApp) {
    let admin = app.admin_token().await;
    let c = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Busy"}))
        .await
        .id();
    // An old purchase, out of a 6-month window.
    let old = (Utc::now() - chrono::Duration::days(240)).format("%Y-%m-%dT%H:%M:%SZ");
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/transactions"),
            &admin,
            &json!({"amount_cents": 500, "cost_cents": 0, "product": "Old tea",
                    "occurred_at": old.to_string()}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mut six = crate::settings::default_cpr();
    six["window_months"] = json!(6);
    crate::settings::set_cpr(&app, &admin, six).await;
    // A figure the recompute corrects (as a window moved by time leaves it).
    app.execute_sql(&format!(
        "UPDATE customers SET cpr_revenue_window_cents = 999 WHERE id = {c}"
    ));

    let mut watcher = PgConnection::establish(&app.database_url).unwrap();
    watcher
        .batch_execute(&format!(
            "CREATE FUNCTION hold_the_purchase() RETURNS trigger AS $$ \
             BEGIN PERFORM pg_advisory_xact_lock_shared({HOLD}); RETURN NULL; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER hold_the_purchase AFTER UPDATE ON customers FOR EACH ROW \
             WHEN (NEW.id = {c} AND NEW.cpr_revenue_window_cents = 100 \
                   AND OLD.cpr_revenue_window_cents <> 100) \
             EXECUTE FUNCTION hold_the_purchase();"
        ))
        .unwrap();
    let mut holder = PgConnection::establish(&app.database_url).unwrap();
    holder
        .batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({HOLD});"))
        .unwrap();

    let recompute_meanwhile = async {
        let held = Instant::now();
        while count(&mut watcher, &waiting("l.locktype = 'advisory'")) == 0 {
            assert!(held.elapsed() < Duration::from_secs(30), "never held");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let recompute = async {
            let r = app.post("/api/v1/cpr/recompute", &admin, &json!({})).await;
            assert_eq!(r.status, 200, "{}", r.text);
        };
        let release = async {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(3)
                && count(&mut watcher, &waiting("l.locktype <> 'advisory'")) == 0
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            holder.batch_execute("COMMIT").unwrap();
        };
        tokio::join!(recompute, release);
    };
    tokio::join!(buy(&app, &admin, c), recompute_meanwhile);

    let shown = diesel::sql_query(format!(
        "SELECT cpr_revenue_window_cents AS n FROM customers WHERE id = {c}"
    ))
    .get_result::<N>(&mut watcher)
    .unwrap()
    .n;
    assert_eq!(shown, 100, "the purchase's window revenue is kept");
    let stage = diesel::sql_query(format!(
        "SELECT cpr_stage AS v FROM customers WHERE id = {c}"
    ))
    .get_result::<Value>(&mut watcher)
    .unwrap()
    .v;
    assert_eq!(stage, "penetration", "two purchases, one in the window");
}
