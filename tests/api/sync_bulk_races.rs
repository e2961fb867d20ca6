//! A bulk item whose new external id another writer records while the
//! batch runs: the item was only late, and updates what the other writer
//! made. On PostgreSQL the other insert is still uncommitted when the batch
//! reads its keys, the item's insert waits on the unique index and fails
//! once it commits; it answered `conflict`. On SQLite the other writer holds
//! the database until it commits, so the batch sees the record and the
//! answer is the same.

use std::sync::mpsc;
use std::time::Duration;

use diesel::RunQueryDsl;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};
use crate::sync_bulk::bulk;

backend_tests!(
    a_card_another_writer_creates_meanwhile_is_updated,
    a_csv_row_whose_card_another_writer_creates_meanwhile_updates_it,
    an_order_another_writer_records_meanwhile_on_its_card_is_updated,
);

/// Runs `sql` in a write transaction of another connection and keeps it
/// open 1.5 s after the insert; returns once the insert is done.
async fn another_writer(app: &TestApp, sql: String) -> std::thread::JoinHandle<()> {
    let db = app.open_db(1, 10).await;
    let (held, is_held) = mpsc::channel();
    let writer = std::thread::spawn(move || {
        let mut conn = db.pool().get().expect("a connection");
        patron::db::write_tx(&mut conn, |c| {
            diesel::sql_query(sql).execute(c)?;
            held.send(()).expect("the test waits");
            std::thread::sleep(Duration::from_millis(1500));
            Ok::<_, diesel::result::Error>(())
        })
        .expect("the other writer");
    });
    tokio::task::spawn_blocking(move || is_held.recv().expect("held"))
        .await
        .expect("the wait");
    writer
}

fn outcomes(r: &Resp) -> Vec<(Value, Value)> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {}", r.text))
        .iter()
        .map(|i| (i["status"].clone(), i["errors"][0]["code"].clone()))
        .collect()
}

fn updated_twice() -> Vec<(Value, Value)> {
    vec![
        (json!("updated"), Value::Null),
        (json!("updated"), Value::Null),
    ]
}

async fn new_card_sql(app: &TestApp, token: &str, key: &str) -> String {
    let owner = app
        .create_customer(token, json!({"kind": "individual", "name": "Owner's"}))
        .await
        .body["owner_id"]
        .clone();
    format!(
        "INSERT INTO customers (kind, name, owner_id, external_id, created_at, updated_at) \
         VALUES ('organization', 'From A', {owner}, '{key}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
}

async fn card_by_key(app: &TestApp, token: &str, key: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/customers?external_id={key}"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().cloned().unwrap_or_default()
}

/// A batch naming the key twice goes item by item (its keys read once).
async fn a_card_another_writer_creates_meanwhile_is_updated(app: TestApp) {
    let token = app.admin_token().await;
    let writer = another_writer(&app, new_card_sql(&app, &token, "RACE-1").await).await;
    let r = bulk(
        &app,
        "/api/v1/customers/bulk",
        &token,
        &json!({"items": [
            {"external_id": "RACE-1", "kind": "organization", "name": "From B"},
            {"external_id": "RACE-1", "region": "East"},
        ]}),
        None,
    )
    .await;
    writer.join().expect("no panic");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(outcomes(&r), updated_twice(), "{}", r.text);
    let cards = card_by_key(&app, &token, "RACE-1").await;
    assert_eq!(cards.len(), 1, "{cards:?}");
    assert_eq!(
        (&cards[0]["name"], &cards[0]["region"]),
        (&json!("From B"), &json!("East"))
    );
}

async fn a_csv_row_whose_card_another_writer_creates_meanwhile_updates_it(app: TestApp) {
    let token = app.admin_token().await;
    let writer = another_writer(&app, new_card_sql(&app, &token, "RACE-2").await).await;
    let req = app
        .client
        .post(app.url("/api/v1/customers/import"))
        .bearer_auth(&token)
        .header("Content-Type", "text/csv")
        .body("external_id,kind,name,region\nRACE-2,organization,From B,\nRACE-2,organization,From B,East\n");
    let r = app.send(req).await;
    writer.join().expect("no panic");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(outcomes(&r), updated_twice(), "{}", r.text);
    let cards = card_by_key(&app, &token, "RACE-2").await;
    assert_eq!(cards.len(), 1, "{cards:?}");
    assert_eq!(
        (&cards[0]["name"], &cards[0]["region"]),
        (&json!("From B"), &json!("East"))
    );
}

/// The other writer records the order on the card the batch names: the
/// batch's lock on the card lets an insert that references it go ahead.
async fn an_order_another_writer_records_meanwhile_on_its_card_is_updated(app: TestApp) {
    let token = app.admin_token().await;
    let card = app
        .create_customer(&token, json!({"kind": "individual", "name": "Buyer"}))
        .await
        .id();
    let writer = another_writer(
        &app,
        format!(
            "INSERT INTO transactions (customer_id, occurred_at, amount_cents, cost_cents, currency, \
             product, external_id, version, created_at, updated_at) VALUES ({card}, \
             CURRENT_TIMESTAMP, 500, 0, 'CNY', 'Tea', 'RACE-3', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ),
    )
    .await;
    let r = bulk(
        &app,
        "/api/v1/transactions/bulk",
        &token,
        &json!({"items": [
            {"external_id": "RACE-3", "customer_id": card, "amount_cents": 700, "product": "Tea"},
            {"external_id": "RACE-3", "amount_cents": 900},
        ]}),
        None,
    )
    .await;
    writer.join().expect("no panic");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(outcomes(&r), updated_twice(), "{}", r.text);
    let read = app.get(&format!("/api/v1/customers/{card}"), &token).await;
    assert_eq!(read.body["purchase_count"], 1, "{}", read.text);
    assert_eq!(read.body["lifetime_revenue_cents"], 900, "{}", read.text);
}
