//! `GET /churn/at-risk` pages: the pages after the first score as of its
//! instant (`as_of`, carried by the cursor) under the same churn settings.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::churn::{customer, sale, set_churn};
use crate::helpers::{Resp, TestApp};
use crate::list_cursor_customer::filtered_cursors_are_their_own;

backend_tests!(
    at_risk_later_pages_score_as_of_the_first,
    at_risk_cursor_is_refused_once_the_settings_changed,
    at_risk_tampered_cursors_are_400_naming_cursor,
    at_risk_cursors_follow_the_owner_filtered,
);

/// Cards created 500 days ago that first bought 400 days ago, again 10 days
/// ago, and were never contacted: the no-contact signal alone (30), listed
/// in id order.
async fn silent_cards(app: &TestApp, token: &str, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let c = customer(app, token, &format!("Silent {i}")).await;
        sale(app, token, c, 1_000, 0, 400).await;
        sale(app, token, c, 1_000, 0, 10).await;
        ids.push(c);
    }
    crate::churn::created_days_ago(app, &ids, 500);
    ids
}

async fn at_risk(app: &TestApp, token: &str, query: &str) -> Resp {
    app.get(&format!("/api/v1/churn/at-risk?{query}"), token)
        .await
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {page}"))
        .iter()
        .map(|i| i["customer_id"].as_i64().unwrap())
        .collect()
}

fn as_of(page: &Value) -> DateTime<Utc> {
    page["as_of"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("no as_of in {page}"))
        .with_timezone(&Utc)
}

/// A card contacted one second after the first page's no-contact cutoff
/// is not at risk as of that page, and is once "now" has moved two seconds
/// on: the second page, read after that, still leaves it out and lists the
/// next card (scored at its own "now" it listed the card, which the first
/// page had not: a card gained between pages without any write).
async fn at_risk_later_pages_score_as_of_the_first(app: TestApp) {
    let token = app.admin_token().await;
    set_churn(&app, &token, json!({})).await;
    let cards = silent_cards(&app, &token, 3).await;
    let first = at_risk(&app, &token, "limit=1").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(ids(&first.body), vec![cards[0]]);
    let t = as_of(&first.body);
    assert!(t <= Utc::now() && t > Utc::now() - Duration::minutes(5));
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();

    let contacted = (t - Duration::days(90) + Duration::seconds(1)).naive_utc();
    app.execute_sql(&format!(
        "UPDATE customers SET last_contact_at = '{}' WHERE id = {}",
        contacted.format("%F %T%.f"),
        cards[1]
    ));
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;

    let second = at_risk(&app, &token, &format!("limit=1&cursor={cursor}")).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(ids(&second.body), vec![cards[2]], "{}", second.text);
    assert_eq!(as_of(&second.body), t);
    assert!(second.body["next_cursor"].is_null());
    // Read afresh, now is past the card's cutoff: it is at risk.
    let fresh = at_risk(&app, &token, "").await;
    assert_eq!(ids(&fresh.body), cards);
    assert!(as_of(&fresh.body) >= t + Duration::seconds(2));
}

/// Other weights reorder the whole list: a cursor of the old order is a
/// 400 naming `cursor`, and the list starts again without one.
async fn at_risk_cursor_is_refused_once_the_settings_changed(app: TestApp) {
    let token = app.admin_token().await;
    set_churn(&app, &token, json!({})).await;
    let cards = silent_cards(&app, &token, 2).await;
    let first = at_risk(&app, &token, "limit=1").await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    // Unchanged settings: the cursor reads on.
    let again = at_risk(&app, &token, &format!("limit=1&cursor={cursor}")).await;
    assert_eq!(ids(&again.body), vec![cards[1]], "{}", again.text);

    set_churn(&app, &token, json!({"weight_no_contact": 31})).await;
    let stale = at_risk(&app, &token, &format!("limit=1&cursor={cursor}")).await;
    stale.problem(400);
    assert_eq!(stale.error_fields(), vec!["cursor"]);
    assert!(
        stale.text.contains("churn settings changed"),
        "{}",
        stale.text
    );
    let restart = at_risk(&app, &token, "limit=1").await;
    assert_eq!(ids(&restart.body), vec![cards[0]]);
    assert_eq!(restart.body["items"][0]["score"], 31);
}

/// A cursor whose key was altered (instant, version, score) or holds the
/// score alone (as before pages kept their instant) is a 400 naming
/// `cursor`, not a 500 or a page scored at a forged basis.
async fn at_risk_tampered_cursors_are_400_naming_cursor(app: TestApp) {
    let token = app.admin_token().await;
    set_churn(&app, &token, json!({})).await;
    silent_cards(&app, &token, 2).await;
    let first = at_risk(&app, &token, "limit=1").await;
    let raw = first.body["next_cursor"].as_str().unwrap();
    let cursor: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(raw).unwrap()).unwrap();
    let key = cursor["k"].clone();
    assert_eq!(key.as_array().map(Vec::len), Some(3), "{cursor}");
    let forged = |k: Value| {
        let mut c = cursor.clone();
        c["k"] = k;
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap())
    };
    for k in [
        json!(30),
        json!([30, "not an instant", key[2]]),
        json!([30, "0000-01-01T00:00:00.000000", key[2]]),
        // Echoed back as `as_of`: only instants the server writes there.
        json!([30, "2026-12-31T23:59:60.500000", key[2]]),
        json!([30, "2026-12-01T10:00:00.123456789", key[2]]),
        json!([30, key[1], "1"]),
        json!([30.5, key[1], key[2]]),
        json!([30, key[1]]),
        json!([30, key[1], key[2], 4]),
        json!({"score": 30}),
    ] {
        let r = at_risk(&app, &token, &format!("cursor={}", forged(k.clone()))).await;
        r.problem(400);
        assert_eq!(r.error_fields(), vec!["cursor"], "{k}: {}", r.text);
    }
    let good = at_risk(&app, &token, &format!("cursor={}", forged(key))).await;
    assert_eq!(good.status, 200, "{}", good.text);
}

/// One owner's cursor resumes that owner's list only: taken by another
/// owner's list or the whole list it skipped the rows before its position
/// there (the cursor named the whole list, whatever the `owner_id`).
async fn at_risk_cursors_follow_the_owner_filtered(app: TestApp) {
    let token = app.admin_token().await;
    set_churn(&app, &token, json!({})).await;
    let (a, rep_a) = app.user_with_role("sales").await;
    let (b, rep_b) = app.user_with_role("sales").await;
    silent_cards(&app, &rep_a, 2).await;
    silent_cards(&app, &rep_b, 2).await;
    let list = "/api/v1/churn/at-risk";
    filtered_cursors_are_their_own(&app, &token, list, "owner_id", a, b).await;
}
