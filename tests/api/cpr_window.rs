//! The window `GET /customers/{id}/cpr` reports is the one its figures were
//! computed over. The view took `window_months` (and the wallet scaled to
//! it) from the settings at read time, beside the revenue and share stored
//! by the card's last refresh: after a window change that the recompute had
//! not yet brought to the card (a walk under way, stopped, or the PUT's
//! 503), it showed 12 months of revenue as 6 months', and the share was not
//! the revenue ÷ the wallet shown. The tests store the new settings without
//! a recompute, as such a card sees them.

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    a_card_not_yet_recomputed_shows_the_window_of_its_figures,
    the_recompute_brings_the_window_even_when_the_figures_stay,
    the_recompute_stores_the_window_a_card_from_before_it_lacks,
);

async fn customer(app: &TestApp, token: &str, wallet: i64) -> i64 {
    app.create_customer(
        token,
        json!({"kind": "organization", "name": "Window", "wallet_size_cents": wallet}),
    )
    .await
    .id()
}

/// A purchase of `amount` cents on card `c`, `days_ago` days back.
pub async fn buy(app: &TestApp, token: &str, c: i64, amount: i64, days_ago: i64) {
    let at = (Utc::now() - Duration::days(days_ago)).format("%Y-%m-%dT%H:%M:%SZ");
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/transactions"),
            token,
            &json!({"amount_cents": amount, "cost_cents": 0, "product": "Ginseng tea",
                    "occurred_at": at.to_string()}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn cpr(app: &TestApp, token: &str, c: i64) -> Value {
    let r = app.get(&format!("/api/v1/customers/{c}/cpr"), token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// (window_months, revenue, wallet in the window, share) of a CPR view.
fn figures(v: &Value) -> (i64, i64, i64, f64) {
    (
        v["window_months"].as_i64().unwrap(),
        v["revenue_in_window_cents"].as_i64().unwrap(),
        v["wallet_in_window_cents"].as_i64().unwrap(),
        v["share_of_wallet"].as_f64().unwrap(),
    )
}

/// A 6-month window stored as a PUT stores it, without the recompute that
/// follows (as a card the walk has not reached sees it).
fn six_months_not_applied(app: &TestApp) {
    app.execute_sql(
        "INSERT INTO settings (name, value, version, updated_at) VALUES ('cpr', \
         '{\"window_months\":6,\"conversion_share_max\":0.1,\"retention_share_min\":0.8,\
           \"retention_min_tenure_days\":180,\"retention_min_purchases\":4}', \
         1, '2026-01-01 00:00:00')",
    );
}

async fn recompute(app: &TestApp, token: &str) {
    let r = app.post("/api/v1/cpr/recompute", token, &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn a_card_not_yet_recomputed_shows_the_window_of_its_figures(app: TestApp) {
    let admin = app.admin_token().await;
    // 1,200.00 a year; 300.00 yesterday and 300.00 nine months ago.
    let c = customer(&app, &admin, 120_000).await;
    buy(&app, &admin, c, 30_000, 1).await;
    buy(&app, &admin, c, 30_000, 270).await;
    assert_eq!(
        figures(&cpr(&app, &admin, c).await),
        (12, 60_000, 120_000, 0.5)
    );

    six_months_not_applied(&app);
    // Still the 12-month figures, and said to be: not 12 months of revenue
    // over 6 months of wallet (the view said 6 and 60,000 beside a share of 0.5).
    assert_eq!(
        figures(&cpr(&app, &admin, c).await),
        (12, 60_000, 120_000, 0.5)
    );
    // A card without figures yet is every window's: the settings' is shown.
    let new = customer(&app, &admin, 24_000).await;
    assert_eq!(figures(&cpr(&app, &admin, new).await), (6, 0, 12_000, 0.0));

    recompute(&app, &admin).await;
    assert_eq!(
        figures(&cpr(&app, &admin, c).await),
        (6, 30_000, 60_000, 0.5)
    );
    assert_eq!(figures(&cpr(&app, &admin, new).await), (6, 0, 12_000, 0.0));
    // A purchase refreshes the card under the window in force, and says so.
    buy(&app, &admin, new, 3_000, 1).await;
    assert_eq!(
        figures(&cpr(&app, &admin, new).await),
        (6, 3_000, 12_000, 0.25)
    );
}

/// A card whose revenue and share are the same under both windows (all its
/// revenue recent, the share capped at 1) was not rewritten by the
/// recompute, which compared those figures only: it would have kept saying
/// 12 months for good.
async fn the_recompute_brings_the_window_even_when_the_figures_stay(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin, 12_000).await;
    buy(&app, &admin, c, 20_000, 1).await;
    assert_eq!(
        figures(&cpr(&app, &admin, c).await),
        (12, 20_000, 12_000, 1.0)
    );
    six_months_not_applied(&app);
    assert_eq!(
        figures(&cpr(&app, &admin, c).await),
        (12, 20_000, 12_000, 1.0)
    );
    recompute(&app, &admin).await;
    assert_eq!(
        figures(&cpr(&app, &admin, c).await),
        (6, 20_000, 6_000, 1.0)
    );
}

/// A card with window revenue and no stored window: computed before the
/// window was stored (the upgrade stores none). It shows the settings'
/// window, and a recompute stores it even when the figures stay: left NULL,
/// the card would show whatever window the settings say next, beside
/// figures of the old one.
async fn the_recompute_stores_the_window_a_card_from_before_it_lacks(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin, 12_000).await;
    buy(&app, &admin, c, 20_000, 1).await;
    app.execute_sql(&format!(
        "UPDATE customers SET cpr_window_months = NULL WHERE id = {c}"
    ));
    assert_eq!(
        figures(&cpr(&app, &admin, c).await),
        (12, 20_000, 12_000, 1.0)
    );
    recompute(&app, &admin).await;
    six_months_not_applied(&app);
    assert_eq!(
        figures(&cpr(&app, &admin, c).await),
        (12, 20_000, 12_000, 1.0),
        "the recompute under 12 months stored its window"
    );
}
