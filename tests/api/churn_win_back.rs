//! A churned customer who buys again is won back (DOMAIN.md §10): a
//! purchase dated after the churn reactivates the card as
//! `POST /customers/{id}/reactivate` does, by whatever path it is recorded
//! (a single write, a correction, the bulk sync); an order dated before the
//! churn (a backfill) does not. Left churned, the card stayed out of the
//! at-risk list and `/analytics/churn` never counted it won back (an
//! outside review).

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::churn::{churn, customer, days_ago, sale};
use crate::helpers::TestApp;
use crate::sync_bulk::bulk;

backend_tests!(
    a_purchase_after_the_churn_wins_the_customer_back,
    a_bulk_sync_wins_back_the_customers_it_sells_to_again,
    only_the_purchase_written_wins_back,
    an_undated_purchase_waiting_behind_a_churn_wins_back,
);

/// An instant just after now (the churn's), written as an ERP writes it:
/// to the second. Within the five minutes ahead a write may be dated.
pub fn just_after_now() -> String {
    (Utc::now() + Duration::seconds(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn day_of(instant: &str) -> &str {
    &instant[..10]
}

pub async fn card(app: &TestApp, token: &str, c: i64) -> Value {
    let r = app.get(&format!("/api/v1/customers/{c}"), token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// The customer's churn records, newest first.
pub async fn records(app: &TestApp, token: &str, c: i64) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/customers/{c}/churn"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().cloned().unwrap_or_default()
}

/// The `reactivated` events of the customer's history: (user, note).
async fn reactivations(app: &TestApp, token: &str, c: i64) -> Vec<(Value, Value)> {
    let r = app
        .get(&format!("/api/v1/customers/{c}/history"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| e["kind"] == "reactivated")
        .map(|e| (e["user_id"].clone(), e["reason"].clone()))
        .collect()
}

pub async fn order(app: &TestApp, token: &str, c: i64, amount: i64, at: &str) -> Value {
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/transactions"),
            token,
            &json!({"amount_cents": amount, "product": "Ginseng tea", "occurred_at": at}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

pub async fn won_back(app: &TestApp, token: &str) -> Value {
    let r = app.get("/api/v1/analytics/churn", token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["total"]["won_back"].clone()
}

async fn a_purchase_after_the_churn_wins_the_customer_back(app: TestApp) {
    let admin = app.admin_token().await;
    let (manager, token) = app.user_with_role("manager").await;
    let c = customer(&app, &admin, "Lost to a rival").await;
    sale(&app, &admin, c, 5_000, 1_000, 30).await;
    assert_eq!(
        churn(&app, &admin, c, "competition", None).await.status,
        201
    );

    // A backfill (dated before the churn) and a free sample after it: no
    // purchase since the churn.
    order(&app, &token, c, 3_000, &days_ago(5)).await;
    let sample = order(&app, &token, c, 0, &just_after_now()).await;
    assert!(card(&app, &admin, c).await["churned_at"].is_string());
    assert_eq!(won_back(&app, &admin).await, 0);
    let version = card(&app, &admin, c).await["version"].clone();

    // Corrected to a paid order: a purchase after the churn.
    let at = sample["occurred_at"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r = app
        .patch(
            &format!("/api/v1/customers/{c}/transactions/{}", sample["id"]),
            &token,
            &json!({"amount_cents": 2_000}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let now = card(&app, &admin, c).await;
    assert!(now["churned_at"].is_null(), "{now}");
    assert!(now["churn_reason"].is_null(), "{now}");
    assert_eq!(now["version"], json!(version.as_i64().unwrap_or(0) + 1));
    let note = format!("purchase on {}", day_of(&at));
    let record = &records(&app, &admin, c).await[0];
    assert!(record["reactivated_at"].is_string(), "{record}");
    assert_eq!(record["reactivated_by"], manager, "the writer: {record}");
    assert_eq!(record["reactivation_note"], note, "{record}");
    assert_eq!(
        reactivations(&app, &admin, c).await,
        [(json!(manager), json!(note))]
    );
    assert_eq!(won_back(&app, &admin).await, 1);
    let active = app.get("/api/v1/customers?churned=false", &admin).await;
    assert!(
        active.text.contains(&format!("\"id\":{c}")),
        "{}",
        active.text
    );

    // Churned again; a new order, dated when it is recorded (the default).
    assert_eq!(churn(&app, &admin, c, "natural", None).await.status, 201);
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/transactions"),
            &token,
            &json!({"amount_cents": 1_000, "product": "Ginseng tea"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(card(&app, &admin, c).await["churned_at"].is_null());
    assert_eq!(won_back(&app, &admin).await, 2);
    let history = records(&app, &admin, c).await;
    assert_eq!(history.len(), 2, "history kept");
    assert!(history.iter().all(|r| r["reactivated_at"].is_string()));
}

async fn a_bulk_sync_wins_back_the_customers_it_sells_to_again(app: TestApp) {
    use crate::changes::read_all;
    let token = app.admin_token().await;
    let (integration, sync) = app.user_with_role("integration").await;
    let mut cards = Vec::new();
    for name in ["Back", "Backfilled", "Back item by item"] {
        let c = customer(&app, &token, name).await;
        sale(&app, &token, c, 5_000, 1_000, 30).await;
        assert_eq!(
            churn(&app, &token, c, "harsh_policies", None).await.status,
            201
        );
        cards.push(c);
    }
    let (back, backfilled, one_by_one) = (cards[0], cards[1], cards[2]);
    let (_, start) = read_all(&app, &token, None, "", 500).await;
    let at = just_after_now();
    let item = |ext: &str, c: i64, at: &str| {
        json!({"external_id": ext, "customer_id": c, "amount_cents": 4_000,
               "product": "Gift set", "occurred_at": at})
    };
    // New orders, settled for the whole batch.
    let body = json!({"items": [item("SO-1", back, &at), item("SO-2", backfilled, &days_ago(3))]});
    let r = bulk(&app, "/api/v1/transactions/bulk", &sync, &body, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // An order named twice: the batch goes item by item.
    let body = json!({"items": [item("SO-3", one_by_one, &at), item("SO-3", one_by_one, &at)]});
    let r = bulk(&app, "/api/v1/transactions/bulk", &sync, &body, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"][0]["status"], "created", "{}", r.text);

    let note = json!(format!("purchase on {}", day_of(&at)));
    for c in [back, one_by_one] {
        assert!(card(&app, &token, c).await["churned_at"].is_null());
        assert_eq!(
            reactivations(&app, &token, c).await,
            [(json!(integration), note.clone())]
        );
    }
    assert!(
        card(&app, &token, backfilled).await["churned_at"].is_string(),
        "an order dated before the churn wins nothing back"
    );
    assert!(reactivations(&app, &token, backfilled).await.is_empty());
    assert_eq!(won_back(&app, &token).await, 2);

    // The win-back is a card change in the feed, as the manual one is.
    let (items, _) = read_all(&app, &token, Some(&start), "&types=customer", 500).await;
    for c in [back, one_by_one] {
        let last = items
            .iter()
            .rfind(|i| i["entity_id"] == c)
            .cloned()
            .unwrap_or_default();
        assert_eq!(last["data"], card(&app, &token, c).await, "{last}");
    }
}

/// Only a purchase the write records wins the customer back, not one the
/// card already had: a card churned before this rule existed, which had
/// bought again meanwhile, was won back by the next write of anything (a
/// free service, a correction of an older order) at that write's date, in
/// the wrong period (an outside review).
async fn only_the_purchase_written_wins_back(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin, "Bought again before the rule").await;
    let old = order(&app, &admin, c, 4_000, &days_ago(40)).await;
    assert_eq!(
        churn(&app, &admin, c, "competition", None).await.status,
        201
    );
    // A purchase after the churn, recorded as the version before the rule
    // left it: no win-back.
    let later = order(&app, &admin, c, 0, &just_after_now()).await;
    app.execute_sql(&format!(
        "UPDATE transactions SET amount_cents = 2500 WHERE id = {}",
        later["id"]
    ));
    // A free service, and a correction of the order before the churn.
    order(&app, &admin, c, 0, &just_after_now()).await;
    let r = app
        .patch(
            &format!("/api/v1/customers/{c}/transactions/{}", old["id"]),
            &admin,
            &json!({"product": "Ginseng tea, large"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(card(&app, &admin, c).await["churned_at"].is_string());
    assert_eq!(won_back(&app, &admin).await, 0);
    // The next order is a purchase written after the churn.
    order(&app, &admin, c, 1_000, &just_after_now()).await;
    assert!(card(&app, &admin, c).await["churned_at"].is_null());
    assert_eq!(won_back(&app, &admin).await, 1);
}

/// A purchase sent without `occurred_at` while the card is held, queued
/// behind a churn sent just before it: the churn commits first, and the
/// purchase, recorded after it, is dated after it and wins the customer
/// back. It was dated when it arrived, before its wait for the card and so
/// before the churn, and the card stayed churned (an outside review).
async fn an_undated_purchase_waiting_behind_a_churn_wins_back(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin, "Churned while we wrote").await;
    sale(&app, &admin, c, 5_000, 1_000, 30).await;
    let held = crate::helpers::hold_the_card(&app, c, std::time::Duration::from_millis(1500)).await;
    let churned = churn(&app, &admin, c, "competition", None);
    let bought = async {
        // Arrives after the churn, which already waits for the card.
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        app.post(
            &format!("/api/v1/customers/{c}/transactions"),
            &admin,
            &json!({"amount_cents": 2_000, "product": "Ginseng tea"}),
        )
        .await
    };
    let (churned, bought) = tokio::join!(churned, bought);
    tokio::task::spawn_blocking(move || held.join().expect("no panic"))
        .await
        .expect("the blocking join");
    assert_eq!(churned.status, 201, "{}", churned.text);
    assert_eq!(bought.status, 201, "{}", bought.text);
    let record = &records(&app, &admin, c).await[0];
    let (churned_at, bought_at) = (
        record["churned_at"].as_str().unwrap_or_default(),
        bought.body["occurred_at"].as_str().unwrap_or_default(),
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(bought_at).ok()
            > chrono::DateTime::parse_from_rfc3339(churned_at).ok(),
        "the purchase ({bought_at}) is dated after the churn ({churned_at})"
    );
    assert!(record["reactivated_at"].is_string(), "{record}");
    assert!(card(&app, &admin, c).await["churned_at"].is_null());
}
