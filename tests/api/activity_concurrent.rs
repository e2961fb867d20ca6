//! Purchases and interactions of one customer sent at once. On SQLite they
//! are committed in groups (several requests' writes in one transaction, each
//! in a savepoint): one that fails rolls back alone, and the card's figures
//! count every one that was answered 201, once.

use serde_json::json;

use crate::backend_tests;
use crate::changes::read_all;
use crate::helpers::TestApp;

backend_tests!(concurrent_purchases_and_interactions_of_one_customer_all_count);

/// 12 purchases (the last 3 share an external id: 2 conflict) and 12
/// interactions (4 logged for a user who does not exist: 422), all at once.
async fn concurrent_purchases_and_interactions_of_one_customer_all_count(app: TestApp) {
    let admin = app.admin_token().await;
    let c = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Busy"}))
        .await
        .id();
    let (_, start) = read_all(&app, &admin, None, "&types=transaction,interaction", 100).await;
    let purchases: Vec<_> = (0..12)
        .map(|i| {
            let external_id = if i < 9 {
                format!("order-{i}")
            } else {
                "order-shared".into()
            };
            json!({"amount_cents": 1_000 * (i + 1), "cost_cents": 0, "product": "Tea",
                   "external_id": external_id})
        })
        .collect();
    let interactions: Vec<_> = (0..12)
        .map(|i| {
            let mut body = json!({"type": "call", "summary": format!("Call {i}")});
            if i % 3 == 0 {
                body["user_id"] = json!(999_999);
            }
            body
        })
        .collect();
    let (purchases_url, interactions_url) = (
        format!("/api/v1/customers/{c}/transactions"),
        format!("/api/v1/customers/{c}/interactions"),
    );
    let sent_purchases = purchases
        .iter()
        .map(|b| app.post(&purchases_url, &admin, b));
    let sent_interactions = interactions
        .iter()
        .map(|b| app.post(&interactions_url, &admin, b));
    let (purchased, logged) = futures_util::future::join(
        futures_util::future::join_all(sent_purchases),
        futures_util::future::join_all(sent_interactions),
    )
    .await;

    let mut revenue = 0;
    let mut conflicts = 0;
    for (i, r) in purchased.iter().enumerate() {
        match r.status {
            201 => revenue += r.body["amount_cents"].as_i64().unwrap_or_default(),
            409 if i >= 9 => conflicts += 1,
            other => panic!("purchase {i} answered {other}: {}", r.text),
        }
    }
    assert_eq!(conflicts, 2);
    let mut refused = 0;
    for (i, r) in logged.iter().enumerate() {
        match r.status {
            201 => assert_eq!(r.body["summary"], format!("Call {i}"), "{}", r.text),
            422 if i % 3 == 0 => {
                assert!(r.text.contains("user_id"), "{}", r.text);
                refused += 1;
            }
            other => panic!("interaction {i} answered {other}: {}", r.text),
        }
    }
    assert_eq!(refused, 4);

    let card = app.get(&format!("/api/v1/customers/{c}"), &admin).await;
    assert_eq!(card.status, 200, "{}", card.text);
    assert_eq!(
        card.body["revenue_12m_cents"],
        json!(revenue),
        "{}",
        card.text
    );
    for (path, count) in [("transactions", 10), ("interactions", 8)] {
        let r = app
            .get(&format!("/api/v1/customers/{c}/{path}?limit=100"), &admin)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.body["items"].as_array().map(Vec::len),
            Some(count),
            "{path}"
        );
    }
    let (changes, _) = read_all(
        &app,
        &admin,
        Some(&start),
        "&types=transaction,interaction",
        100,
    )
    .await;
    let created = |kind: &str| {
        changes
            .iter()
            .filter(|ch| ch["entity_type"] == kind && ch["operation"] == "created")
            .count()
    };
    assert_eq!((created("transaction"), created("interaction")), (10, 8));
}
