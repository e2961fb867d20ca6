//! A card whose money passes 2^63 cents. Found by a review: 92,234 orders of
//! the largest amount (10^14 cents each, all valid) made the card's sums
//! overflow: every later write of its orders was a 500 ("integer overflow"),
//! and the pyramid and the Pareto view panicked for every user. Sums are now
//! held at the 64-bit range (`db::money_sum`), on the card and in reports.

use chrono::{Duration, Utc};
use serde_json::json;

use crate::backend_tests;
use crate::churn::{customer, sale};
use crate::helpers::TestApp;

backend_tests!(a_card_past_the_64_bit_range_is_held_at_it,);

const MAX: i64 = i64::MAX;

async fn a_card_past_the_64_bit_range_is_held_at_it(app: TestApp) {
    let token = app.admin_token().await;
    let small = customer(&app, &token, "Small").await;
    sale(&app, &token, small, 100_000_000_000_000, 0, 3).await;
    let whale = customer(&app, &token, "Whale").await;
    // 92,300 orders of 10^14 cents: 9.23·10^18, past i64::MAX (9.22·10^18).
    // Written with SQL: through the API this takes minutes.
    let at = (Utc::now() - Duration::days(2)).format("%Y-%m-%d %H:%M:%S");
    app.execute_sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 92300) \
         INSERT INTO transactions (customer_id, occurred_at, amount_cents, cost_cents, currency, \
           product, version, created_at, updated_at) \
         SELECT {whale}, '{at}', 100000000000000, 0, 'CNY', 'p', 1, '{at}', '{at}' FROM n"
    ));
    // The next order is recorded, and refreshes the card's figures.
    let r = app
        .post(
            &format!("/api/v1/customers/{whale}/transactions"),
            &token,
            &json!({"amount_cents": 100_000_000_000_000_i64, "product": "one more"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let card = app.get(&format!("/api/v1/customers/{whale}"), &token).await;
    assert_eq!(card.status, 200, "{}", card.text);
    assert_eq!(card.body["purchase_count"], 92_301, "{}", card.text);
    for figure in [
        "lifetime_revenue_cents",
        "lifetime_profit_cents",
        "revenue_12m_cents",
        "profit_12m_cents",
    ] {
        assert_eq!(card.body[figure], MAX, "{figure}: {}", card.text);
    }
    // The reports answer, held at the range, and the small card keeps its own.
    let r = app
        .post("/api/v1/tiers/recompute", &token, &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let tiers = app.get("/api/v1/tiers", &token).await;
    assert_eq!(tiers.status, 200, "{}", tiers.text);
    let profits: Vec<i64> = tiers.body["tiers"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["profit_cents"].as_i64())
                .collect()
        })
        .unwrap_or_default();
    assert!(profits.contains(&MAX), "{}", tiers.text);
    assert!(profits.iter().all(|p| *p >= 0), "{}", tiers.text);
    for path in [
        "/api/v1/analytics/pareto",
        "/api/v1/analytics/sales",
        "/api/v1/analytics/overview",
        "/api/v1/analytics/cpr",
        "/api/v1/churn/at-risk",
    ] {
        let r = app.get(path, &token).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
    let r = app
        .get(&format!("/api/v1/customers/{whale}/cpr"), &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let card = app.get(&format!("/api/v1/customers/{small}"), &token).await;
    assert_eq!(card.body["lifetime_revenue_cents"], 100_000_000_000_000_i64);
}
