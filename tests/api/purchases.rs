//! A purchase is a transaction with an amount above 0: an order refunded by
//! correcting it to 0 and a free after-sales service are recorded, but count
//! in no purchase figure (the card's count and dates, `won`, the CPR stage,
//! loyalty's repeat purchases, the at-risk list, the overview, the sales
//! report's buyers), on the per-item and the bulk path, and migration
//! `2026-12-06-000000` corrects cards written before.

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::sync_bulk::bulk;

backend_tests!(
    an_order_corrected_to_zero_is_no_longer_a_purchase,
    a_free_service_is_not_a_purchase,
    bulk_orders_of_zero_are_not_purchases,
    the_migration_recounts_the_purchases_of_existing_cards,
);

fn iso_days_ago(days: i64) -> String {
    (Utc::now() - Duration::days(days)).to_rfc3339()
}

async fn customer(app: &TestApp, token: &str, name: &str) -> i64 {
    app.create_customer(token, json!({"kind": "individual", "name": name}))
        .await
        .id()
}

/// Records a transaction `days` ago and returns its id.
async fn record(
    app: &TestApp,
    token: &str,
    customer: i64,
    amount: i64,
    cost: i64,
    product: &str,
    days: i64,
) -> i64 {
    let r = app
        .post(
            &format!("/api/v1/customers/{customer}/transactions"),
            token,
            &json!({"amount_cents": amount, "cost_cents": cost, "product": product,
                    "occurred_at": iso_days_ago(days)}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.id()
}

async fn card(app: &TestApp, token: &str, id: i64) -> Value {
    let r = app.get(&format!("/api/v1/customers/{id}"), token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// The overview of the last 30 days.
async fn overview(app: &TestApp, token: &str) -> Value {
    let q = format!(
        "from={}&to={}",
        urlencode(&iso_days_ago(30)),
        urlencode(&iso_days_ago(-1))
    );
    let r = app
        .get(&format!("/api/v1/analytics/overview?{q}"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// The sales of the last 30 days by product: (product, transactions, customers).
async fn sales_by_product(app: &TestApp, token: &str) -> Vec<(String, i64, i64)> {
    let q = format!(
        "from={}&to={}&group_by=product",
        urlencode(&iso_days_ago(30)),
        urlencode(&iso_days_ago(-1))
    );
    let r = app
        .get(&format!("/api/v1/analytics/sales?{q}"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut rows: Vec<(String, i64, i64)> = r.body["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows: {}", r.text))
        .iter()
        .map(|row| {
            (
                row["key"].as_str().unwrap_or_default().to_string(),
                row["transactions"].as_i64().unwrap_or(-1),
                row["customers"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Repeat buyers among the customers at satisfaction level 5.
async fn repeat_buyers_at_level_5(app: &TestApp, token: &str) -> i64 {
    let r = app.get("/api/v1/analytics/loyalty", token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["satisfaction"]
        .as_array()
        .unwrap_or_else(|| panic!("no levels: {}", r.text))
        .iter()
        .find(|l| l["level"] == 5)
        .map(|l| l["repeat_customers"].as_i64().unwrap_or(-1))
        .unwrap_or(0)
}

async fn at_risk_ids(app: &TestApp, token: &str) -> Vec<i64> {
    let r = app.get("/api/v1/churn/at-risk", token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {}", r.text))
        .iter()
        .filter_map(|i| i["customer_id"].as_i64())
        .collect()
}

async fn move_to_won(app: &TestApp, token: &str, id: i64) -> u16 {
    app.patch(
        &format!("/api/v1/customers/{id}"),
        token,
        &json!({"funnel_stage": "won"}),
    )
    .await
    .status
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// The review's example: an order of 5,000.00 fully refunded by correcting
/// it to 0. Before the fix the card kept purchase_count 1 and every figure
/// built on it.
async fn an_order_corrected_to_zero_is_no_longer_a_purchase(app: TestApp) {
    let token = app.admin_token().await;
    let id = customer(&app, &token, "Refunded").await;
    // Very satisfied (set directly: the surveys are not what is tested), so
    // two purchases make the loyalty type `high`.
    app.execute_sql(&format!(
        "UPDATE customers SET satisfaction_overall = 5 WHERE id = {id}"
    ));
    let kept = record(&app, &token, id, 120_000, 80_000, "Tea", 20).await;
    let refunded = record(&app, &token, id, 500_000, 300_000, "X", 10).await;
    let c = card(&app, &token, id).await;
    assert_eq!(c["purchase_count"], 2, "{c}");
    assert_eq!(c["loyalty_type"], "high", "{c}");
    assert_eq!(c["cpr_stage"], "penetration", "{c}");
    let o = overview(&app, &token).await;
    assert_eq!(
        (o["bought"].clone(), o["bought_twice_or_more"].clone()),
        (json!(1), json!(1)),
        "{o}"
    );
    assert_eq!(repeat_buyers_at_level_5(&app, &token).await, 1);
    let first_at = c["first_purchase_at"].clone();

    let r = app
        .patch(
            &format!("/api/v1/customers/{id}/transactions/{refunded}"),
            &token,
            &json!({"amount_cents": 0, "cost_cents": 0}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = card(&app, &token, id).await;
    assert_eq!(c["purchase_count"], 1, "{c}");
    assert_eq!(c["first_purchase_at"], first_at, "{c}");
    assert_eq!(
        c["last_purchase_at"], first_at,
        "the refunded order is not the last purchase: {c}"
    );
    assert_eq!(c["lifetime_revenue_cents"], 120_000, "{c}");
    assert_eq!(
        c["loyalty_type"], "latent",
        "one purchase left in the window: {c}"
    );
    assert_eq!(c["cpr_stage"], "conversion", "{c}");
    let o = overview(&app, &token).await;
    assert_eq!(o["bought"], 1, "{o}");
    assert_eq!(o["bought_twice_or_more"], 0, "{o}");
    assert_eq!(o["bought_once"], 1, "{o}");
    assert_eq!(repeat_buyers_at_level_5(&app, &token).await, 0);
    let r = app
        .get("/api/v1/customers?min_purchase_count=2", &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"], json!([]), "{}", r.text);

    // The other order refunded too: no purchase is left.
    let r = app
        .patch(
            &format!("/api/v1/customers/{id}/transactions/{kept}"),
            &token,
            &json!({"amount_cents": 0, "cost_cents": 0}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = card(&app, &token, id).await;
    assert_eq!(c["purchase_count"], 0, "{c}");
    assert_eq!(c["first_purchase_at"], Value::Null, "{c}");
    assert_eq!(c["last_purchase_at"], Value::Null, "{c}");
    assert_eq!(c["cpr_stage"], "not_started", "{c}");
    assert_eq!(move_to_won(&app, &token, id).await, 409);
    let o = overview(&app, &token).await;
    assert_eq!(o["bought"], 0, "{o}");
    assert!(!at_risk_ids(&app, &token).await.contains(&id));
}

/// Free after-sales services are recorded as transactions of 0 (DOMAIN.md
/// §3 "orders and services delivered"): their cost counts, a purchase not.
async fn a_free_service_is_not_a_purchase(app: TestApp) {
    let token = app.admin_token().await;
    let serviced = customer(&app, &token, "Serviced only").await;
    record(&app, &token, serviced, 0, 3_000, "Free maintenance", 5).await;
    record(&app, &token, serviced, 0, 2_000, "Free maintenance", 3).await;
    let c = card(&app, &token, serviced).await;
    assert_eq!(c["purchase_count"], 0, "{c}");
    assert_eq!(c["first_purchase_at"], Value::Null, "{c}");
    assert_eq!(c["last_purchase_at"], Value::Null, "{c}");
    assert_eq!(c["lifetime_revenue_cents"], 0, "{c}");
    assert_eq!(
        c["lifetime_profit_cents"], -5_000,
        "its cost still counts: {c}"
    );
    assert_eq!(c["cpr_stage"], "not_started", "{c}");
    assert_eq!(move_to_won(&app, &token, serviced).await, 409);

    // A buyer whose one order was followed by a free service bought once.
    let buyer = customer(&app, &token, "Buyer").await;
    let ordered = record(&app, &token, buyer, 90_000, 50_000, "Tea", 10).await;
    record(&app, &token, buyer, 0, 1_000, "Free maintenance", 2).await;
    let c = card(&app, &token, buyer).await;
    assert_eq!(c["purchase_count"], 1, "{c}");
    assert_eq!(c["first_purchase_at"], c["last_purchase_at"], "{c}");
    let r = app
        .get(
            &format!("/api/v1/customers/{buyer}/transactions/{ordered}"),
            &token,
        )
        .await;
    assert_eq!(c["last_purchase_at"], r.body["occurred_at"], "{}", r.text);
    assert_eq!(move_to_won(&app, &token, buyer).await, 200);

    // A customer of long standing (a first order 400 days ago) who last
    // bought just before the period and was only serviced in it left
    // silently.
    let silent = customer(&app, &token, "Old buyer").await;
    record(&app, &token, silent, 40_000, 0, "Tea", 400).await;
    record(&app, &token, silent, 20_000, 0, "Tea", 45).await;
    record(&app, &token, silent, 0, 0, "Free maintenance", 5).await;

    let o = overview(&app, &token).await;
    assert_eq!(o["customers"], 3, "{o}");
    assert_eq!(o["bought"], 1, "{o}");
    assert_eq!(o["bought_twice_or_more"], 0, "{o}");
    assert_eq!(o["silent_losses"], 1, "{o}");
    assert!(at_risk_ids(&app, &token)
        .await
        .iter()
        .all(|i| *i != serviced));
    // The sales report lists every record; its customers are the buyers.
    assert_eq!(
        sales_by_product(&app, &token).await,
        vec![
            ("Free maintenance".to_string(), 4, 0),
            ("Tea".to_string(), 1, 1)
        ]
    );
    // The owner's overview (card by card) agrees with the whole book's.
    let owner = c["owner_id"].as_i64().unwrap();
    let q = format!(
        "from={}&to={}&owner_id={owner}",
        urlencode(&iso_days_ago(30)),
        urlencode(&iso_days_ago(-1))
    );
    let r = app
        .get(&format!("/api/v1/analytics/overview?{q}"), &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["bought"], 1, "{}", r.text);
    assert_eq!(r.body["bought_twice_or_more"], 0, "{}", r.text);
    assert_eq!(r.body["silent_losses"], 1, "{}", r.text);
}

/// The bulk upsert recomputes cards set-based (`stats::refresh_many`): the
/// same rule as the per-item path.
async fn bulk_orders_of_zero_are_not_purchases(app: TestApp) {
    let token = app.admin_token().await;
    let id = customer(&app, &token, "Bulk").await;
    let body = json!({"items": [
        {"external_id": "P-1", "customer_id": id, "amount_cents": 100, "product": "Tea",
         "occurred_at": iso_days_ago(9)},
        {"external_id": "P-2", "customer_id": id, "amount_cents": 0, "product": "Service",
         "occurred_at": iso_days_ago(2)},
    ]});
    let r = bulk(&app, "/api/v1/transactions/bulk", &token, &body, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = card(&app, &token, id).await;
    assert_eq!(c["purchase_count"], 1, "{c}");
    assert_eq!(c["first_purchase_at"], c["last_purchase_at"], "{c}");
    // The ERP resends the order as refunded.
    let body = json!({"items": [
        {"external_id": "P-1", "customer_id": id, "amount_cents": 0, "product": "Tea"},
    ]});
    let r = bulk(&app, "/api/v1/transactions/bulk", &token, &body, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = card(&app, &token, id).await;
    assert_eq!(c["purchase_count"], 0, "{c}");
    assert_eq!(c["last_purchase_at"], Value::Null, "{c}");
}

/// Cards written by the earlier rule (every transaction a purchase): the
/// migration recounts the cards with a transaction of 0 from their
/// purchases, as the writes now do.
async fn the_migration_recounts_the_purchases_of_existing_cards(app: TestApp) {
    let token = app.admin_token().await;
    let mixed = customer(&app, &token, "Mixed").await;
    let serviced = customer(&app, &token, "Serviced").await;
    let buyer = customer(&app, &token, "Buyer").await;
    record(&app, &token, mixed, 70_000, 0, "Tea", 20).await;
    record(&app, &token, mixed, 0, 0, "Refunded", 10).await;
    record(&app, &token, serviced, 0, 500, "Free maintenance", 5).await;
    record(&app, &token, buyer, 10_000, 0, "Tea", 4).await;
    let right: Vec<Value> = {
        let mut v = Vec::new();
        for id in [mixed, serviced, buyer] {
            v.push(card(&app, &token, id).await);
        }
        v
    };
    // As the earlier rule stored them: every transaction counted.
    let old = |id: i64| {
        format!(
            "UPDATE customers SET \
               purchase_count = (SELECT COUNT(*) FROM transactions t WHERE t.customer_id = {id}), \
               first_purchase_at = (SELECT MIN(occurred_at) FROM transactions t WHERE t.customer_id = {id}), \
               last_purchase_at = (SELECT MAX(occurred_at) FROM transactions t WHERE t.customer_id = {id}) \
             WHERE id = {id};"
        )
    };
    app.execute_sql(&[old(mixed), old(serviced), old(buyer)].concat());
    assert_eq!(card(&app, &token, mixed).await["purchase_count"], 2);
    assert_eq!(card(&app, &token, serviced).await["purchase_count"], 1);
    app.execute_sql(match app.backend {
        Backend::Sqlite => {
            include_str!("../../migrations/sqlite/2026-12-06-000000_purchases_above_zero/up.sql")
        }
        Backend::Postgres => {
            include_str!("../../migrations/postgres/2026-12-06-000000_purchases_above_zero/up.sql")
        }
    });
    for (id, want) in [mixed, serviced, buyer].iter().zip(right) {
        let got = card(&app, &token, *id).await;
        for field in ["purchase_count", "first_purchase_at", "last_purchase_at"] {
            assert_eq!(got[field], want[field], "{field} of {id}: {got}");
        }
    }
    assert_eq!(card(&app, &token, mixed).await["purchase_count"], 1);
    assert_eq!(card(&app, &token, serviced).await["purchase_count"], 0);
}
