//! Loyalty: thresholds in `/settings/loyalty`, the type kept current on
//! survey responses, transaction and wallet writes and settings changes
//! (each change in the history), and `/analytics/loyalty`.

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::TestApp;
use crate::settings::put;
use crate::surveys::{open_survey, respond};

backend_tests!(
    loyalty_settings_rules,
    loyalty_type_follows_satisfaction_and_purchases,
    loyalty_follows_a_change_of_the_cpr_window,
    a_churned_customer_is_no_repeat_buyer,
    a_walk_begun_before_a_response_or_a_win_back_leaves_its_type,
);

const LOYALTY: &str = "/api/v1/settings/loyalty";

fn defaults() -> Value {
    json!({"attitude_min_satisfaction": 4.0, "window_months": 12, "repeat_min_purchases": 2, "share_of_wallet_min": 0.5})
}

async fn loyalty_settings_rules(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, sales) = app.user_with_role("sales").await;
    let r = app.get(LOYALTY, &sales).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, defaults());
    assert_eq!(r.etag_version(), Some(0));
    put(&app, LOYALTY, &sales, None, &defaults())
        .await
        .problem(403);
    let r = put(&app, LOYALTY, &admin, None, &json!({"window_months": 6})).await;
    r.problem(422);
    assert_eq!(
        r.error_fields(),
        vec![
            "attitude_min_satisfaction",
            "repeat_min_purchases",
            "share_of_wallet_min"
        ]
    );
    let r = put(
        &app,
        LOYALTY,
        &admin,
        None,
        &json!({"attitude_min_satisfaction": 0.5, "window_months": 61, "repeat_min_purchases": 1, "share_of_wallet_min": 1.5}),
    )
    .await;
    r.problem(422);
    assert_eq!(
        r.error_fields(),
        vec![
            "attitude_min_satisfaction",
            "window_months",
            "repeat_min_purchases",
            "share_of_wallet_min"
        ]
    );
    put(&app, LOYALTY, &admin, None, &json!({"colour": 1}))
        .await
        .problem(422);
    // Past the other end of each range: each field named, `range`.
    let r = put(
        &app,
        LOYALTY,
        &admin,
        None,
        &json!({"attitude_min_satisfaction": 5.01, "window_months": 0, "repeat_min_purchases": 1001, "share_of_wallet_min": -0.1}),
    )
    .await;
    r.problem(422);
    let range = |f: &str| (f.to_string(), "range".to_string());
    assert_eq!(
        r.error_codes(),
        vec![
            range("attitude_min_satisfaction"),
            range("window_months"),
            range("repeat_min_purchases"),
            range("share_of_wallet_min")
        ],
        "{}",
        r.text
    );
    // A window of no months or fewer, or past a u32, is out of range too.
    for months in [json!(-1), json!(4_294_967_297_i64)] {
        let mut body = defaults();
        body["window_months"] = months;
        let r = put(&app, LOYALTY, &admin, None, &body).await;
        r.problem(422);
        assert_eq!(r.error_codes(), vec![range("window_months")], "{}", r.text);
    }
    // Nothing was stored by a refusal.
    let r = app.get(LOYALTY, &admin).await;
    assert_eq!(r.body, defaults(), "{}", r.text);
    assert_eq!(r.etag_version(), Some(0));
    let edge = json!({"attitude_min_satisfaction": 5.0, "window_months": 60, "repeat_min_purchases": 1000, "share_of_wallet_min": 0.0});
    let r = put(&app, LOYALTY, &admin, Some("\"0\""), &edge).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(1));
    assert_eq!(app.get(LOYALTY, &admin).await.body, edge);
    put(&app, LOYALTY, &admin, Some("\"0\""), &defaults())
        .await
        .problem(412);
    // The other end of each range is taken too.
    let low = json!({"attitude_min_satisfaction": 1.0, "window_months": 1, "repeat_min_purchases": 2, "share_of_wallet_min": 1.0});
    let r = put(&app, LOYALTY, &admin, Some("\"1\""), &low).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, low, "{}", r.text);
    assert_eq!(r.etag_version(), Some(2));
    assert_eq!(app.get(LOYALTY, &admin).await.body, low);
    let (_, manager) = app.user_with_role("manager").await;
    let r = put(&app, LOYALTY, &manager, Some("\"2\""), &defaults()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get(LOYALTY, &admin).await.body, defaults());
}

fn days_ago(days: i64) -> String {
    (Utc::now() - Duration::days(days))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

async fn sale(app: &TestApp, token: &str, c: i64, days: i64) {
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/transactions"),
            token,
            &json!({"amount_cents": 1000, "cost_cents": 400, "product": "Tea", "occurred_at": days_ago(days)}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn loyalty_of(app: &TestApp, token: &str, c: i64) -> String {
    let r = app.get(&format!("/api/v1/customers/{c}"), token).await;
    r.body["loyalty_type"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The (from, to) of a customer's `loyalty_changed` events, oldest first.
async fn changes(app: &TestApp, token: &str, c: i64) -> Vec<(String, String)> {
    let r = app
        .get(
            &format!("/api/v1/customers/{c}/history?kind=loyalty_changed"),
            token,
        )
        .await;
    let mut out: Vec<(String, String)> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_string(),
                e["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.reverse();
    out
}

async fn loyalty_type_follows_satisfaction_and_purchases(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, q) = open_survey(&app, &admin, json!({})).await;
    let mut c = Vec::new();
    for name in ["A", "B", "C", "D", "E"] {
        c.push(
            app.create_customer(&admin, json!({"kind": "individual", "name": name}))
                .await
                .id(),
        );
    }
    let (a, b, cc, d, e) = (c[0], c[1], c[2], c[3], c[4]);
    // Satisfaction: A 5, B 2, C 4, E 5; D never asked.
    for (cust, level) in [(a, 5), (b, 2), (cc, 4), (e, 5)] {
        let r = respond(
            &app,
            &admin,
            id,
            cust,
            &[(q[0], json!(level)), (q[1], json!(level))],
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    assert_eq!(loyalty_of(&app, &admin, a).await, "latent");
    assert_eq!(loyalty_of(&app, &admin, b).await, "none");
    assert_eq!(loyalty_of(&app, &admin, d).await, "unknown");
    // Purchases: two recent ones make A high and B inertial; C's second is
    // outside the 12-month window.
    sale(&app, &admin, a, 10).await;
    assert_eq!(loyalty_of(&app, &admin, a).await, "latent");
    sale(&app, &admin, a, 5).await;
    assert_eq!(loyalty_of(&app, &admin, a).await, "high");
    sale(&app, &admin, b, 10).await;
    sale(&app, &admin, b, 20).await;
    assert_eq!(loyalty_of(&app, &admin, b).await, "inertial");
    sale(&app, &admin, cc, 10).await;
    sale(&app, &admin, cc, 400).await;
    assert_eq!(loyalty_of(&app, &admin, cc).await, "latent");
    // Purchases alone do not make a type.
    sale(&app, &admin, d, 1).await;
    sale(&app, &admin, d, 2).await;
    assert_eq!(loyalty_of(&app, &admin, d).await, "unknown");
    assert_eq!(
        changes(&app, &admin, a).await,
        vec![
            ("unknown".into(), "latent".into()),
            ("latent".into(), "high".into())
        ]
    );
    // Each change is in the change feed too (a stage change of kind
    // loyalty_changed), so a sync sees derived state move.
    let feed = app
        .get("/api/v1/changes?limit=1000&types=stage_change", &admin)
        .await;
    assert_eq!(feed.status, 200, "{}", feed.text);
    let in_feed: Vec<(String, String)> = feed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["data"])
        .filter(|d| d["kind"] == "loyalty_changed" && d["customer_id"] == a)
        .map(|d| {
            (
                d["from"].as_str().unwrap().to_string(),
                d["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(in_feed, changes(&app, &admin, a).await);

    // An archived repeat buyer, very satisfied, counts nowhere.
    let f = app
        .create_customer(&admin, json!({"kind": "individual", "name": "F"}))
        .await
        .id();
    let r = respond(&app, &admin, id, f, &[(q[0], json!(5)), (q[1], json!(5))]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    sale(&app, &admin, f, 3).await;
    sale(&app, &admin, f, 4).await;
    assert_eq!(loyalty_of(&app, &admin, f).await, "high");
    let r = app.delete(&format!("/api/v1/customers/{f}"), &admin).await;
    assert_eq!(r.status, 204, "{}", r.text);

    // Satisfaction against repeat purchase, and the counts per type.
    let r = app.get("/api/v1/analytics/loyalty", &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let types: Vec<(String, i64)> = r.body["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["loyalty_type"].as_str().unwrap().to_string(),
                t["customers"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        types,
        vec![
            ("high".into(), 1),
            ("latent".into(), 2),
            ("inertial".into(), 1),
            ("none".into(), 0),
            ("unknown".into(), 1)
        ]
    );
    let levels = r.body["satisfaction"].as_array().unwrap();
    assert_eq!(levels.len(), 5);
    assert_eq!(
        levels[1],
        json!({"level": 2, "code": "dissatisfied", "customers": 1, "repeat_customers": 1, "repeat_purchase_rate": 1.0})
    );
    assert_eq!(levels[2]["customers"], 0);
    assert!(levels[2]["repeat_purchase_rate"].is_null());
    assert_eq!(
        levels[3],
        json!({"level": 4, "code": "satisfied", "customers": 1, "repeat_customers": 0, "repeat_purchase_rate": 0.0})
    );
    assert_eq!(
        levels[4],
        json!({"level": 5, "code": "very_satisfied", "customers": 2, "repeat_customers": 1, "repeat_purchase_rate": 0.5})
    );
    assert_eq!(r.body["unrated_customers"], 1);

    // A known share of wallet below the threshold makes behaviour low:
    // 2,000 of a 10,000 wallet is 0.2.
    let p = app
        .patch(
            &format!("/api/v1/customers/{a}"),
            &admin,
            &json!({"wallet_size_cents": 10000}),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(loyalty_of(&app, &admin, a).await, "latent");
    let p = app
        .patch(
            &format!("/api/v1/customers/{a}"),
            &admin,
            &json!({"wallet_size_cents": 4000}),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(loyalty_of(&app, &admin, a).await, "high");

    // New thresholds recompute everyone at once.
    let r = put(
        &app,
        LOYALTY,
        &admin,
        None,
        &json!({"attitude_min_satisfaction": 4.5, "window_months": 24, "repeat_min_purchases": 2, "share_of_wallet_min": 0.5}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // C (4 < 4.5) with two purchases in 24 months: inertial. A, E stay.
    assert_eq!(loyalty_of(&app, &admin, cc).await, "inertial");
    assert_eq!(loyalty_of(&app, &admin, a).await, "high");
    assert_eq!(loyalty_of(&app, &admin, e).await, "latent");
    assert_eq!(
        changes(&app, &admin, cc).await,
        vec![
            ("unknown".into(), "latent".into()),
            ("latent".into(), "inertial".into())
        ]
    );
    let list = app
        .get("/api/v1/customers?loyalty_type=inertial", &admin)
        .await;
    let ids: Vec<i64> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![b, cc]);
}

/// Loyalty reads the share of wallet; a new CPR window (or a CPR
/// recompute) changes the shares, and the types follow at once, not at the
/// next hourly job.
async fn loyalty_follows_a_change_of_the_cpr_window(app: TestApp) {
    use crate::settings::{default_cpr, set_cpr};
    let admin = app.admin_token().await;
    let (id, q) = open_survey(&app, &admin, json!({})).await;
    let c = app
        .create_customer(
            &admin,
            json!({"kind": "individual", "name": "Wallet", "wallet_size_cents": 2500}),
        )
        .await
        .id();
    let r = respond(&app, &admin, id, c, &[(q[0], json!(5)), (q[1], json!(5))]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Two sales of 1,000 four and five months ago: a share of 0.8 in 12 months.
    sale(&app, &admin, c, 120).await;
    sale(&app, &admin, c, 150).await;
    assert_eq!(loyalty_of(&app, &admin, c).await, "high");
    // A 3-month window holds neither sale: share 0, below the 0.5 minimum.
    let mut cpr = default_cpr();
    cpr["window_months"] = json!(3);
    set_cpr(&app, &admin, cpr).await;
    let card = app.get(&format!("/api/v1/customers/{c}"), &admin).await;
    assert_eq!(card.body["share_of_wallet"], 0.0, "{}", card.text);
    assert_eq!(card.body["loyalty_type"], "latent", "{}", card.text);
    // Back to 12 months through the recompute endpoint's path as well.
    set_cpr(&app, &admin, default_cpr()).await;
    assert_eq!(loyalty_of(&app, &admin, c).await, "high");
}

/// A churned customer used to buy and no longer does (DOMAIN.md §10): a
/// satisfied repeat buyer lost reads `latent`, not `high`, and counts as no
/// repeat buyer in `/analytics/loyalty`; won back, it is `high` again. A
/// churned card counted among the highly loyal (a review).
async fn a_churned_customer_is_no_repeat_buyer(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, q) = open_survey(&app, &admin, json!({})).await;
    let c = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Lost"}))
        .await
        .id();
    let r = respond(&app, &admin, id, c, &[(q[0], json!(5)), (q[1], json!(5))]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    sale(&app, &admin, c, 10).await;
    sale(&app, &admin, c, 5).await;
    assert_eq!(loyalty_of(&app, &admin, c).await, "high");
    let r = crate::churn::churn(&app, &admin, c, "competition", None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(loyalty_of(&app, &admin, c).await, "latent");
    let report = app.get("/api/v1/analytics/loyalty", &admin).await;
    assert_eq!(report.status, 200, "{}", report.text);
    let high = report.body["types"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["loyalty_type"] == "high")
        .map(|t| t["customers"].clone());
    assert_eq!(high, Some(json!(0)), "{}", report.text);
    let repeat: i64 = report.body["satisfaction"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["repeat_customers"].as_i64())
        .sum();
    assert_eq!(repeat, 0, "{}", report.text);
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/reactivate"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(loyalty_of(&app, &admin, c).await, "high");
}

/// A walk of every card (the hourly job) runs at one `now`. A survey
/// response or a win-back after that `now` set the card's loyalty type at
/// its own instant, without marking the card's figures as of it: the walk,
/// reaching the card later, judged it at its older `now` (when a purchase
/// since gone out of the window was still in it) and undid the type, with an
/// event dated before the one it undid (a review). Both now refresh and mark
/// the card's figures, and the walk leaves it. Here the walk's `now` is 30
/// days back: purchases 380 and 40 days back are two in its window, one in
/// today's; the card's figures were last marked 50 days back.
async fn a_walk_begun_before_a_response_or_a_win_back_leaves_its_type(app: TestApp) {
    let admin = app.admin_token().await;
    let (survey, q) = open_survey(&app, &admin, json!({"allow_multiple_responses": true})).await;
    let mut cards = Vec::new();
    for name in ["Answered", "Won back"] {
        let c = crate::churn::customer(&app, &admin, name).await;
        for days in [380, 40] {
            crate::churn::sale(&app, &admin, c, 1_000, 0, days).await;
        }
        cards.push(c);
    }
    let (answered, won_back) = (cards[0], cards[1]);
    let five = [(q[0], json!(5)), (q[1], json!(5))];
    let r = respond(&app, &admin, survey, won_back, &five).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = crate::churn::churn(&app, &admin, won_back, "competition", None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let fifty_days_back = (Utc::now() - Duration::days(50)).naive_utc();
    app.execute_sql(&format!(
        "UPDATE customers SET stats_at = '{}'",
        fifty_days_back.format("%Y-%m-%d %H:%M:%S")
    ));
    let r = respond(&app, &admin, survey, answered, &five).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            &format!("/api/v1/customers/{won_back}/reactivate"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let loyalty_of = |c: i64| {
        let app = &app;
        let admin = &admin;
        async move {
            let r = app.get(&format!("/api/v1/customers/{c}"), admin).await;
            r.body["loyalty_type"].clone()
        }
    };
    // Satisfied, one purchase in today's window: latent.
    for c in [answered, won_back] {
        assert_eq!(loyalty_of(c).await, "latent", "card {c}");
    }
    let db = app.open_db(1, 10).await;
    let mut conn = db.pool().get().unwrap_or_else(|e| panic!("{e}"));
    let walk_now = (Utc::now() - Duration::days(30)).naive_utc();
    let (settings, version) =
        patron::db::settings::get::<patron::domain::loyalty::LoyaltySettings>(
            &mut conn,
            patron::db::settings::LOYALTY,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
    patron::db::loyalty::refresh_all(&mut conn, &settings, version, walk_now)
        .unwrap_or_else(|e| panic!("{e}"));
    for c in [answered, won_back] {
        assert_eq!(
            loyalty_of(c).await,
            "latent",
            "card {c}: undone by the walk"
        );
    }
}
