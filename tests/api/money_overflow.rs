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
    // Sales: the whale's orders and the total are held at the range (the
    // sum is 9.23·10^18 before the cap, past 9.2·10^18), not wrapped.
    let r = app.get("/api/v1/analytics/sales", &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["revenue_cents"], MAX, "{}", r.text);
    assert_eq!(r.body["profit_cents"], MAX, "{}", r.text);
    let r = app
        .get("/api/v1/analytics/sales?group_by=product", &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["revenue_cents"], MAX, "{}", r.text);
    let rows = r.body["rows"].as_array().expect("rows");
    let row = |key: &str| {
        rows.iter()
            .find(|row| row["key"] == key)
            .unwrap_or_else(|| panic!("no {key} in {}", r.text))
    };
    // Highest first: the whale's 92,300 orders of `p`.
    assert_eq!(rows[0]["key"], "p", "{}", r.text);
    assert_eq!(row("p")["revenue_cents"], MAX, "{}", r.text);
    assert_eq!(row("p")["profit_cents"], MAX, "{}", r.text);
    assert_eq!(row("p")["transactions"], 92_300, "{}", r.text);
    assert_eq!(row("p")["customers"], 1, "{}", r.text);
    // The other products keep their exact sums.
    for key in ["one more", "Ginseng tea"] {
        assert_eq!(
            row(key)["revenue_cents"],
            100_000_000_000_000_i64,
            "{key}: {}",
            r.text
        );
    }
    // Pareto: the whale's profit held at the range, the small card's its
    // own, the total saturated and every share within 0–1.
    let r = app.get("/api/v1/analytics/pareto", &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["customers"], 2, "{}", r.text);
    assert_eq!(r.body["total_profit_cents"], MAX, "{}", r.text);
    let deciles = r.body["deciles"].as_array().expect("deciles");
    let mut profits: Vec<i64> = deciles
        .iter()
        .filter(|d| d["customers"].as_i64() != Some(0))
        .map(|d| d["profit_cents"].as_i64().unwrap())
        .collect();
    profits.sort_unstable();
    assert_eq!(profits, [100_000_000_000_000, MAX], "{}", r.text);
    assert_eq!(deciles[0]["profit_cents"], MAX, "{}", r.text);
    for d in deciles {
        for share in ["profit_share", "cumulative_share"] {
            let v = d[share].as_f64().unwrap_or(0.0);
            assert!((0.0..=1.0).contains(&v), "{share}: {}", r.text);
        }
    }
    let top = r.body["top20_share"].as_f64().expect("top20_share");
    assert!((0.99..=1.0).contains(&top), "{}", r.text);
    // The card's CPR: its window revenue held at the range, and its stage's
    // revenue in the CPR report too.
    let r = app
        .get(&format!("/api/v1/customers/{whale}/cpr"), &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["revenue_in_window_cents"], MAX, "{}", r.text);
    let stage = r.body["stage"].clone();
    let r = app.get("/api/v1/analytics/cpr", &token).await;
    let revenue = r.body["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["stage"] == stage)
        .map(|s| s["revenue_cents"].clone());
    assert_eq!(revenue, Some(json!(MAX)), "{stage}: {}", r.text);
    let card = app.get(&format!("/api/v1/customers/{small}"), &token).await;
    assert_eq!(card.body["lifetime_revenue_cents"], 100_000_000_000_000_i64);
}
