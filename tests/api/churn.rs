//! Churn: `POST /customers/{id}/churn` and `/reactivate` (records, card,
//! list filter, history, timeline), `GET /churn/at-risk` with its signals and
//! `/settings/churn`, and `/analytics/churn`.

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};
use crate::settings::put;

backend_tests!(
    churn_and_win_back_keep_records_card_history_and_timeline,
    churn_and_win_back_are_card_changes_in_the_feed,
    churn_validation_and_roles,
    at_risk_ranks_by_score_with_signals,
    at_risk_falling_share_boundary_and_pages,
    at_risk_with_revenue_whose_hundredfold_passes_64_bits,
    at_risk_keeps_a_lapse_listed_after_the_share_windows_empty,
    churn_settings_rules,
    churn_settings_stored_before_no_purchase_still_read,
    churn_settings_put_without_the_no_purchase_fields_takes_their_defaults,
    churn_report_by_reason_and_period,
    churn_report_totals_are_held_at_the_64_bit_range,
);

pub fn days_ago(days: i64) -> String {
    (Utc::now() - Duration::days(days))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub async fn customer(app: &TestApp, token: &str, name: &str) -> i64 {
    app.create_customer(token, json!({"kind": "individual", "name": name}))
        .await
        .id()
}

pub async fn sale(app: &TestApp, token: &str, c: i64, amount: i64, cost: i64, days: i64) {
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/transactions"),
            token,
            &json!({"amount_cents": amount, "cost_cents": cost, "product": "Ginseng tea",
                    "occurred_at": days_ago(days)}),
        )
        .await;
    assert_eq!(r.status, 201, "transaction failed: {}", r.text);
}

pub async fn contact(app: &TestApp, token: &str, c: i64, kind: &str, days: i64) {
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/interactions"),
            token,
            &json!({"type": kind, "summary": "touch", "occurred_at": days_ago(days)}),
        )
        .await;
    assert_eq!(r.status, 201, "interaction failed: {}", r.text);
}

pub async fn churn(app: &TestApp, token: &str, c: i64, reason: &str, note: Option<&str>) -> Resp {
    app.post(
        &format!("/api/v1/customers/{c}/churn"),
        token,
        &json!({"reason": reason, "note": note}),
    )
    .await
}

pub async fn reactivate(app: &TestApp, token: &str, c: i64) -> Resp {
    app.post(
        &format!("/api/v1/customers/{c}/reactivate"),
        token,
        &json!({"note": "won back"}),
    )
    .await
}

fn ids(page: &Value, key: &str) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {page}"))
        .iter()
        .map(|i| i[key].as_i64().unwrap())
        .collect()
}

async fn churn_and_win_back_keep_records_card_history_and_timeline(app: TestApp) {
    let token = app.admin_token().await;
    let c = customer(&app, &token, "Leaving").await;
    let other = customer(&app, &token, "Staying").await;
    sale(&app, &token, c, 5_000, 1_000, 10).await;
    sale(&app, &token, c, 7_000, 1_000, 400).await;

    let r = churn(&app, &token, c, "competition", Some("Moved to a rival")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["reason"], "competition");
    assert_eq!(r.body["note"], "Moved to a rival");
    assert_eq!(
        r.body["lost_revenue_cents"], 5_000,
        "only the 12 months before"
    );
    assert!(r.body["reactivated_at"].is_null());

    let card = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(card.body["churn_reason"], "competition");
    assert!(card.body["churned_at"].is_string());
    assert_eq!(card.body["version"], 2, "churning changes the card");

    let churned = app.get("/api/v1/customers?churned=true", &token).await;
    assert_eq!(ids(&churned.body, "id"), vec![c]);
    let active = app.get("/api/v1/customers?churned=false", &token).await;
    assert_eq!(ids(&active.body, "id"), vec![other]);

    churn(&app, &token, c, "natural", None).await.problem(409);

    let r = reactivate(&app, &token, c).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["reactivated_at"].is_string());
    assert_eq!(r.body["reactivation_note"], "won back");
    let card = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert!(card.body["churned_at"].is_null() && card.body["churn_reason"].is_null());
    reactivate(&app, &token, c).await.problem(409);
    reactivate(&app, &token, other).await.problem(409);

    assert_eq!(churn(&app, &token, c, "integrity", None).await.status, 201);
    let history = app
        .get(&format!("/api/v1/customers/{c}/churn"), &token)
        .await;
    let reasons: Vec<&str> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["integrity", "competition"], "newest first");
    // The shape of every list: the whole list is its last page.
    assert_eq!(
        history.body.get("next_cursor"),
        Some(&Value::Null),
        "{}",
        history.text
    );

    let events = app
        .get(&format!("/api/v1/customers/{c}/history"), &token)
        .await;
    let kinds: Vec<(String, Value)> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "churned" || e["kind"] == "reactivated")
        .map(|e| (e["kind"].as_str().unwrap().to_string(), e["to"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("churned".to_string(), json!("integrity")),
            ("reactivated".to_string(), Value::Null),
            ("churned".to_string(), json!("competition")),
        ]
    );
    let timeline = app
        .get(
            &format!("/api/v1/customers/{c}/timeline?types=event"),
            &token,
        )
        .await;
    assert_eq!(timeline.status, 200, "{}", timeline.text);
    assert!(timeline.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["event"]["kind"] == "reactivated"));
}

/// A churn and a win-back change the card (its version, `churned_at`), so
/// the feed carries each as an update with the card as it then was: an
/// integrator syncing from the feed or a webhook would miss them otherwise.
async fn churn_and_win_back_are_card_changes_in_the_feed(app: TestApp) {
    use crate::changes::read_all;
    let token = app.admin_token().await;
    let c = customer(&app, &token, "Leaving").await;
    let (_, start) = read_all(&app, &token, None, "", 100).await;
    assert_eq!(
        churn(&app, &token, c, "competition", None).await.status,
        201
    );
    assert_eq!(reactivate(&app, &token, c).await.status, 200);
    let card = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(card.body["version"], 3, "{}", card.text);
    let (items, _) = read_all(&app, &token, Some(&start), "&types=customer", 100).await;
    let seen: Vec<(i64, String, i64, Value)> = items
        .iter()
        .map(|i| {
            (
                i["entity_id"].as_i64().unwrap_or_default(),
                i["operation"].as_str().unwrap_or_default().to_string(),
                i["version"].as_i64().unwrap_or_default(),
                i["data"]["churn_reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (c, "updated".to_string(), 2, json!("competition")),
            (c, "updated".to_string(), 3, Value::Null),
        ]
    );
    assert_eq!(
        items[1]["data"], card.body,
        "the feed's last state is the card"
    );
}

async fn churn_validation_and_roles(app: TestApp) {
    let token = app.admin_token().await;
    let c = customer(&app, &token, "Validated").await;
    let path = format!("/api/v1/customers/{c}/churn");
    let r = app.post(&path, &token, &json!({"note": "x"})).await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["reason"]);
    let r = app
        .post(
            &path,
            &token,
            &json!({"reason": "bored", "note": "x".repeat(2001)}),
        )
        .await;
    r.problem(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["note", "reason"]);
    assert!(r.text.contains("invalid_value"), "{}", r.text);
    app.post(&path, &token, &json!({"reason": "natural", "extra": 1}))
        .await
        .problem(422);
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/reactivate"),
            &token,
            &json!({"note": 5}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["note"]);
    churn(&app, &token, 999_999, "natural", None)
        .await
        .problem(404);

    let (_, viewer) = app.user_with_role("viewer").await;
    churn(&app, &viewer, c, "natural", None).await.problem(403);
    let (_, sales) = app.user_with_role("sales").await;
    churn(&app, &sales, c, "natural", None).await.problem(403);
    let own = customer(&app, &sales, "Mine").await;
    assert_eq!(churn(&app, &sales, own, "natural", None).await.status, 201);
    assert_eq!(reactivate(&app, &sales, own).await.status, 200);
    app.post(&path, "", &json!({"reason": "natural"}))
        .await
        .problem(401);

    // An archived card cannot be churned.
    assert_eq!(
        app.delete(&format!("/api/v1/customers/{c}"), &token)
            .await
            .status,
        204
    );
    churn(&app, &token, c, "natural", None).await.problem(409);
}

/// Dates the cards' creation `days` back: the silence of a card never
/// contacted counts from it at the latest.
pub fn created_days_ago(app: &TestApp, cards: &[i64], days: i64) {
    let at = (Utc::now() - Duration::days(days)).naive_utc();
    let ids: Vec<String> = cards.iter().map(i64::to_string).collect();
    app.execute_sql(&format!(
        "UPDATE customers SET created_at = '{}' WHERE id IN ({})",
        at.format("%Y-%m-%d %H:%M:%S"),
        ids.join(", ")
    ));
}

pub async fn set_churn(app: &TestApp, token: &str, changes: Value) {
    let mut body = json!({"no_contact_days": 90, "share_window_days": 90, "share_drop_pct": 50,
        "no_purchase_days": 180, "low_satisfaction_below": 3.0, "min_open_complaints": 1,
        "weight_no_contact": 30, "weight_falling_share": 25, "weight_no_purchase": 25,
        "weight_low_satisfaction": 20, "weight_open_complaints": 15, "weight_owner_inactive": 10,
        "min_score": 1});
    for (k, v) in changes.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = put(app, "/api/v1/settings/churn", token, None, &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

fn entry(page: &Value, c: i64) -> Value {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["customer_id"] == c)
        .cloned()
        .unwrap_or_else(|| panic!("{c} not at risk: {page}"))
}

async fn at_risk_ranks_by_score_with_signals(app: TestApp) {
    let token = app.admin_token().await;
    let (rep, rep_token) = app.user_with_role("sales").await;
    // Calm: bought and contacted recently.
    let calm = customer(&app, &token, "Calm").await;
    sale(&app, &token, calm, 1_000, 0, 10).await;
    contact(&app, &token, calm, "visit", 1).await;
    // Silent: a customer for 400 days, buying still, never contacted.
    let silent = customer(&app, &token, "Silent").await;
    sale(&app, &token, silent, 1_000, 0, 400).await;
    sale(&app, &token, silent, 1_000, 0, 10).await;
    // Falling with an open complaint: 10,000 before, 1,000 recently.
    let falling = customer(&app, &token, "Falling").await;
    sale(&app, &token, falling, 10_000, 0, 150).await;
    sale(&app, &token, falling, 1_000, 0, 10).await;
    // Before both windows (180 days back): in neither figure.
    sale(&app, &token, falling, 50_000, 0, 400).await;
    contact(&app, &token, falling, "complaint", 1).await;
    // Owner left: the rep is deactivated; never contacted.
    let orphan = app
        .create_customer(&rep_token, json!({"kind": "individual", "name": "Orphan"}))
        .await
        .id();
    sale(&app, &rep_token, orphan, 1_000, 0, 400).await;
    sale(&app, &rep_token, orphan, 1_000, 0, 10).await;
    // New: first bought 10 days ago, not contacted yet: no long silence
    // (counted from "never", every new buyer was listed at once; a review).
    let new = customer(&app, &token, "New").await;
    sale(&app, &token, new, 1_000, 0, 10).await;
    // Imported: an ERP load of years of orders today, not contacted yet:
    // no long silence either (a review of the first fix).
    let imported = customer(&app, &token, "Imported").await;
    sale(&app, &token, imported, 1_000, 0, 400).await;
    sale(&app, &token, imported, 1_000, 0, 10).await;
    // The cards are older than any day counted here; New's is as old as
    // its first order.
    created_days_ago(&app, &[calm, silent, falling, orphan], 500);
    created_days_ago(&app, &[new], 10);
    let r = app
        .patch(
            &format!("/api/v1/users/{rep}"),
            &token,
            &json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Never bought, and churned: not listed.
    let prospect = customer(&app, &token, "Prospect").await;
    let gone = customer(&app, &token, "Gone").await;
    sale(&app, &token, gone, 1_000, 0, 10).await;
    assert_eq!(churn(&app, &token, gone, "natural", None).await.status, 201);

    let page = app.get("/api/v1/churn/at-risk", &token).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(
        ids(&page.body, "customer_id"),
        vec![falling, orphan, silent]
    );
    let f = entry(&page.body, falling);
    assert_eq!(f["score"], 40);
    assert_eq!(
        f["signals"],
        json!({"no_contact": false, "falling_share": true, "no_purchase": false,
               "low_satisfaction": false, "open_complaints": true, "owner_inactive": false})
    );
    assert_eq!(f["revenue_recent_cents"], 1_000);
    assert_eq!(f["revenue_before_cents"], 10_000);
    assert_eq!(f["open_complaints"], 1);
    // One owner's list sums each card's purchases by itself (the full list
    // groups all purchases at once): the same figures.
    let owner = app
        .get(&format!("/api/v1/customers/{falling}"), &token)
        .await;
    let owner = &owner.body["owner_id"];
    let mine = app
        .get(&format!("/api/v1/churn/at-risk?owner_id={owner}"), &token)
        .await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    assert_eq!(entry(&mine.body, falling), f);
    let o = entry(&page.body, orphan);
    assert_eq!(o["score"], 40);
    assert_eq!(o["signals"]["owner_inactive"], true);
    assert_eq!(o["signals"]["no_contact"], true);
    let s = entry(&page.body, silent);
    assert_eq!(s["score"], 30);
    assert_eq!(s["last_contact_at"], Value::Null);
    let card = app
        .get(&format!("/api/v1/customers/{silent}"), &token)
        .await;
    assert_eq!(s["silent_since"], card.body["first_purchase_at"], "{s}");
    let _ = (prospect, imported);

    // Weights are settings: without the no-contact weight, silent drops out.
    set_churn(&app, &token, json!({"weight_no_contact": 0})).await;
    let page = app.get("/api/v1/churn/at-risk", &token).await;
    assert_eq!(ids(&page.body, "customer_id"), vec![falling, orphan]);
    assert_eq!(entry(&page.body, orphan)["score"], 10);
    // The no-contact threshold: the calm customer was contacted 1 day ago,
    // the new one first bought 10 days ago.
    set_churn(&app, &token, json!({"no_contact_days": 1, "min_score": 30})).await;
    let page = app.get("/api/v1/churn/at-risk", &token).await;
    assert_eq!(
        ids(&page.body, "customer_id"),
        vec![falling, orphan, calm, silent, new]
    );
    let c = entry(&page.body, calm);
    assert_eq!(c["silent_since"], c["last_contact_at"], "{c}");
    assert_eq!(entry(&page.body, falling)["score"], 70);
    set_churn(&app, &token, json!({"no_contact_days": 11})).await;
    let page = app.get("/api/v1/churn/at-risk", &token).await;
    assert_eq!(
        ids(&page.body, "customer_id"),
        vec![falling, orphan, silent]
    );
    // Owner filter.
    let page = app
        .get(&format!("/api/v1/churn/at-risk?owner_id={rep}"), &token)
        .await;
    assert_eq!(ids(&page.body, "customer_id"), vec![orphan]);
    app.get("/api/v1/churn/at-risk?limit=0", &token)
        .await
        .problem(400);
    app.get("/api/v1/churn/at-risk?cursor=nope", &token)
        .await
        .problem(400);
    app.get("/api/v1/churn/at-risk?bogus=1", &token)
        .await
        .problem(400);
}

async fn at_risk_falling_share_boundary_and_pages(app: TestApp) {
    let token = app.admin_token().await;
    // Contacted today so only the share signal can fire; 50% drop threshold.
    let mut at_half = Vec::new();
    for (name, recent) in [("Half", 500), ("Just above half", 501), ("Half again", 500)] {
        let c = customer(&app, &token, name).await;
        sale(&app, &token, c, 1_000, 0, 120).await;
        sale(&app, &token, c, recent, 0, 5).await;
        contact(&app, &token, c, "call", 0).await;
        if recent == 500 {
            at_half.push(c);
        }
    }
    let page = app.get("/api/v1/churn/at-risk", &token).await;
    assert_eq!(ids(&page.body, "customer_id"), at_half);
    // Pages of one, in order, with a stable cursor.
    let first = app.get("/api/v1/churn/at-risk?limit=1", &token).await;
    assert_eq!(ids(&first.body, "customer_id"), vec![at_half[0]]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let second = app
        .get(
            &format!("/api/v1/churn/at-risk?limit=1&cursor={cursor}"),
            &token,
        )
        .await;
    assert_eq!(ids(&second.body, "customer_id"), vec![at_half[1]]);
    assert!(second.body["next_cursor"].is_null());
}

/// The falling-share test multiplies revenues by 100: a customer with
/// 10^17 cents in the recent window (1,000 sales at the largest amount) is
/// compared, not a 500 (PostgreSQL's bigint overflowed).
async fn at_risk_with_revenue_whose_hundredfold_passes_64_bits(app: TestApp) {
    let token = app.admin_token().await;
    let whale = customer(&app, &token, "Whale").await;
    sale(&app, &token, whale, 1_000, 0, 120).await;
    contact(&app, &token, whale, "call", 0).await;
    let items: Vec<Value> = (0..1000)
        .map(|i| {
            json!({"external_id": format!("W-{i}"), "customer_id": whale,
                   "amount_cents": 100_000_000_000_000_i64, "product": "Ships", "occurred_at": days_ago(5)})
        })
        .collect();
    let r = app
        .post(
            "/api/v1/transactions/bulk",
            &token,
            &json!({"items": items}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["items"][999]["status"],
        "created",
        "{}",
        &r.text[..600.min(r.text.len())]
    );
    let falling = customer(&app, &token, "Falling").await;
    sale(&app, &token, falling, 1_000, 0, 120).await;
    contact(&app, &token, falling, "call", 0).await;
    let page = app.get("/api/v1/churn/at-risk", &token).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(
        ids(&page.body, "customer_id"),
        vec![falling],
        "{}",
        page.text
    );
}

/// The review's case: monthly purchases until the lapse, the rep still
/// calling. Lapsed 100 days, the falling share lists the customer; lapsed
/// 200 days both share windows are empty, and the customer scored 0 and left
/// the list as the lapse grew. `no_purchase` keeps it listed.
async fn at_risk_keeps_a_lapse_listed_after_the_share_windows_empty(app: TestApp) {
    let token = app.admin_token().await;
    let mut lapsed = Vec::new();
    for (name, lapse) in [("Lapsed 100 days", 100), ("Lapsed 200 days", 200)] {
        let c = customer(&app, &token, name).await;
        for month in 0..12 {
            sale(&app, &token, c, 1_000, 0, lapse + 30 * month).await;
        }
        contact(&app, &token, c, "call", 20).await;
        lapsed.push(c);
    }
    let (hundred, two_hundred) = (lapsed[0], lapsed[1]);
    // Still buying monthly: no signal.
    let buying = customer(&app, &token, "Buying").await;
    for month in 0..12 {
        sale(&app, &token, buying, 1_000, 0, 5 + 30 * month).await;
    }
    contact(&app, &token, buying, "call", 20).await;

    let page = app.get("/api/v1/churn/at-risk", &token).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(ids(&page.body, "customer_id"), vec![hundred, two_hundred]);
    let h = entry(&page.body, hundred);
    assert_eq!(h["signals"]["falling_share"], true);
    assert_eq!(h["signals"]["no_purchase"], false);
    assert_eq!(h["score"], 25);
    let t = entry(&page.body, two_hundred);
    assert_eq!(
        t["signals"],
        json!({"no_contact": false, "falling_share": false, "no_purchase": true,
               "low_satisfaction": false, "open_complaints": false, "owner_inactive": false})
    );
    assert_eq!(t["score"], 25);
    assert_eq!(t["revenue_recent_cents"], 0);
    assert_eq!(t["revenue_before_cents"], 0);
    assert!(t["last_purchase_at"].is_string(), "{t}");
    // One owner's list (card by card) agrees with the full list.
    let owner = app
        .get(&format!("/api/v1/customers/{two_hundred}"), &token)
        .await;
    let mine = app
        .get(
            &format!("/api/v1/churn/at-risk?owner_id={}", owner.body["owner_id"]),
            &token,
        )
        .await;
    assert_eq!(entry(&mine.body, two_hundred), t);

    // The threshold and the weight are settings.
    set_churn(&app, &token, json!({"no_purchase_days": 201})).await;
    let page = app.get("/api/v1/churn/at-risk", &token).await;
    assert_eq!(ids(&page.body, "customer_id"), vec![hundred]);
    set_churn(
        &app,
        &token,
        json!({"no_purchase_days": 90, "weight_no_purchase": 40}),
    )
    .await;
    let page = app.get("/api/v1/churn/at-risk", &token).await;
    assert_eq!(ids(&page.body, "customer_id"), vec![hundred, two_hundred]);
    assert_eq!(entry(&page.body, hundred)["score"], 65);
    assert_eq!(entry(&page.body, two_hundred)["score"], 40);
    set_churn(&app, &token, json!({"weight_no_purchase": 0})).await;
    let page = app.get("/api/v1/churn/at-risk", &token).await;
    assert_eq!(ids(&page.body, "customer_id"), vec![hundred]);
}

/// Settings saved before `no_purchase` existed lack its two fields: they
/// read with its defaults (an unreadable document was a 500).
async fn churn_settings_stored_before_no_purchase_still_read(app: TestApp) {
    let token = app.admin_token().await;
    let old = r#"{"no_contact_days":60,"share_window_days":90,"share_drop_pct":50,"low_satisfaction_below":3.0,"min_open_complaints":1,"weight_no_contact":30,"weight_falling_share":25,"weight_low_satisfaction":20,"weight_open_complaints":15,"weight_owner_inactive":10,"min_score":1}"#;
    app.execute_sql(&format!(
        "INSERT INTO settings (name, value, version, updated_at) \
         VALUES ('churn', '{old}', 3, CURRENT_TIMESTAMP)"
    ));
    let r = app.get("/api/v1/settings/churn", &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(3));
    assert_eq!(r.body["no_contact_days"], 60);
    assert_eq!(r.body["no_purchase_days"], 180);
    assert_eq!(r.body["weight_no_purchase"], 25);
    let c = customer(&app, &token, "Long gone").await;
    sale(&app, &token, c, 1_000, 0, 400).await;
    contact(&app, &token, c, "call", 1).await;
    let page = app.get("/api/v1/churn/at-risk", &token).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(entry(&page.body, c)["signals"]["no_purchase"], true);
}

/// The body a client wrote before `no_purchase` existed (the eleven older
/// fields) still saves: the two new fields, absent or `null`, take their
/// defaults, as stored settings without them read (it was a 422 naming
/// both). Sent, they are kept and range-checked as before.
async fn churn_settings_put_without_the_no_purchase_fields_takes_their_defaults(app: TestApp) {
    let token = app.admin_token().await;
    let path = "/api/v1/settings/churn";
    let mut full = app.get(path, &token).await.body;
    full["no_contact_days"] = json!(60);
    full["no_purchase_days"] = json!(200);
    full["weight_no_purchase"] = json!(40);
    let r = put(&app, path, &token, Some("\"0\""), &full).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(1));
    let r = app.get(path, &token).await;
    assert_eq!(
        (
            r.body["no_purchase_days"].clone(),
            r.body["weight_no_purchase"].clone()
        ),
        (json!(200), json!(40))
    );

    // The older body replaces the whole document: the two are the defaults.
    let mut older = full.clone();
    let object = older.as_object_mut().unwrap();
    object.remove("no_purchase_days");
    object.remove("weight_no_purchase");
    assert_eq!(object.len(), 11);
    let r = put(&app, path, &token, Some("\"1\""), &older).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(2));
    assert_eq!(r.body["no_purchase_days"], 180, "{}", r.text);
    assert_eq!(r.body["weight_no_purchase"], 25, "{}", r.text);
    let read = app.get(path, &token).await;
    assert_eq!(read.body, r.body);
    assert_eq!(read.header("etag"), r.header("etag"));
    assert_eq!(read.body["no_contact_days"], 60);
    // A stale If-Match is refused as before, the older body too.
    put(&app, path, &token, Some("\"1\""), &older)
        .await
        .problem(412);

    // null is absent: the defaults again, which are stored, so no change.
    let mut nulls = older.clone();
    nulls["no_purchase_days"] = Value::Null;
    nulls["weight_no_purchase"] = Value::Null;
    let r = put(&app, path, &token, Some("\"2\""), &nulls).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(2));
    assert_eq!(r.body, read.body);

    // Sent alone, each is range-checked and named on its own.
    for (field, value) in [
        ("no_purchase_days", json!(0)),
        ("no_purchase_days", json!(3651)),
        ("weight_no_purchase", json!(-1)),
        ("weight_no_purchase", json!(101)),
    ] {
        let mut b = older.clone();
        b[field] = value;
        let r = put(&app, path, &token, None, &b).await;
        r.problem(422);
        assert_eq!(r.error_fields(), [field], "{}", r.text);
    }
    let mut b = older.clone();
    b["weight_no_purchase"] = json!(0);
    let r = put(&app, path, &token, Some("\"2\""), &b).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.body["no_purchase_days"].clone(),
            r.body["weight_no_purchase"].clone()
        ),
        (json!(180), json!(0))
    );
}

/// The spec says so: the PUT body has the two optional with their defaults,
/// the GET (and the PUT's answer) always carries them.
#[test]
fn the_spec_shows_the_no_purchase_fields_optional_only_in_the_put_body() {
    let spec = serde_json::to_value(patron::openapi::spec()).expect("spec as JSON");
    let op = &spec["paths"]["/api/v1/settings/churn"];
    let schema = |r: &Value| {
        let name = r["$ref"].as_str().unwrap_or_default();
        let name = name.rsplit('/').next().unwrap_or_default();
        spec["components"]["schemas"][name].clone()
    };
    let body = schema(&op["put"]["requestBody"]["content"]["application/json"]["schema"]);
    let get = schema(&op["get"]["responses"]["200"]["content"]["application/json"]["schema"]);
    let answer = schema(&op["put"]["responses"]["200"]["content"]["application/json"]["schema"]);
    let required = |s: &Value| -> Vec<String> {
        let list = s["required"].as_array().cloned().unwrap_or_default();
        list.iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect()
    };
    for (field, default) in [("no_purchase_days", 180), ("weight_no_purchase", 25)] {
        assert!(!required(&body).contains(&field.to_string()), "{body}");
        assert_eq!(body["properties"][field]["default"], default, "{body}");
        assert!(required(&get).contains(&field.to_string()), "{get}");
        assert!(required(&answer).contains(&field.to_string()), "{answer}");
    }
    assert_eq!(required(&body).len(), 11, "{body}");
    assert_eq!(required(&get).len(), 13, "{get}");
}

async fn churn_settings_rules(app: TestApp) {
    let token = app.admin_token().await;
    let r = app.get("/api/v1/settings/churn", &token).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.etag_version(), Some(0));
    assert_eq!(r.body["no_contact_days"], 90);
    assert_eq!(r.body["min_score"], 1);
    let mut body = r.body.clone();

    let (_, sales) = app.user_with_role("sales").await;
    put(&app, "/api/v1/settings/churn", &sales, None, &body)
        .await
        .problem(403);
    let r = put(
        &app,
        "/api/v1/settings/churn",
        &token,
        None,
        &json!({"min_score": 0}),
    )
    .await;
    r.problem(422);
    // The eleven required fields; the two optional ones are not named.
    let fields = r.error_fields();
    assert_eq!(fields.len(), 11, "{fields:?}");
    assert!(fields.contains(&"min_score".to_string()));
    assert!(!fields.contains(&"no_purchase_days".to_string()));
    assert!(!fields.contains(&"weight_no_purchase".to_string()));
    // The no-purchase fields' ranges, and a score of every signal (600).
    for (no_purchase_days, weight, min_score, bad) in [
        (0, 0, 1, vec!["no_purchase_days"]),
        (
            3651,
            101,
            601,
            vec!["min_score", "no_purchase_days", "weight_no_purchase"],
        ),
        (1, -1, 1, vec!["weight_no_purchase"]),
    ] {
        let mut b = body.clone();
        b["no_purchase_days"] = json!(no_purchase_days);
        b["weight_no_purchase"] = json!(weight);
        b["min_score"] = json!(min_score);
        let r = put(&app, "/api/v1/settings/churn", &token, None, &b).await;
        r.problem(422);
        let mut fields = r.error_fields();
        fields.sort();
        assert_eq!(fields, bad);
    }
    body["share_drop_pct"] = json!(0);
    body["low_satisfaction_below"] = json!(5.1);
    body["weight_open_complaints"] = json!(101);
    let r = put(&app, "/api/v1/settings/churn", &token, None, &body).await;
    r.problem(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "low_satisfaction_below",
            "share_drop_pct",
            "weight_open_complaints"
        ]
    );
    body["share_drop_pct"] = json!(100);
    body["low_satisfaction_below"] = json!(5.0);
    body["weight_open_complaints"] = json!(100);
    // The upper edges of the no-purchase fields, and a score needing every signal.
    body["no_purchase_days"] = json!(3650);
    body["weight_no_purchase"] = json!(100);
    body["min_score"] = json!(600);
    let (_, manager) = app.user_with_role("manager").await;
    let r = put(
        &app,
        "/api/v1/settings/churn",
        &manager,
        Some("\"0\""),
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(1));
    put(
        &app,
        "/api/v1/settings/churn",
        &manager,
        Some("\"0\""),
        &body,
    )
    .await
    .problem(412);
    let r = app.get("/api/v1/settings/churn", &sales).await;
    assert_eq!(r.body["weight_open_complaints"], 100);
    assert_eq!(r.body["no_purchase_days"], 3650);
    assert_eq!(r.body["weight_no_purchase"], 100);
    assert_eq!(r.body["min_score"], 600);
}

/// Two churns whose lost revenue passes 2^63 cents together, under two
/// reasons: each cell is held at the 64-bit range in SQL, and so is the
/// report's total (it wrapped to a negative sum in release builds).
async fn churn_report_totals_are_held_at_the_64_bit_range(app: TestApp) {
    let token = app.admin_token().await;
    let a = customer(&app, &token, "A").await;
    let b = customer(&app, &token, "B").await;
    for (id, reason) in [(a, "competition"), (b, "natural")] {
        // One order of 6·10^18 cents each, past what the API takes (10^14).
        let at = (Utc::now() - Duration::days(2)).format("%Y-%m-%d %H:%M:%S");
        app.execute_sql(&format!(
            "INSERT INTO transactions (customer_id, occurred_at, amount_cents, cost_cents, \
               currency, product, version, created_at, updated_at) \
             VALUES ({id}, '{at}', 6000000000000000000, 0, 'CNY', 'p', 1, '{at}', '{at}')"
        ));
        assert_eq!(churn(&app, &token, id, reason, None).await.status, 201);
    }
    let r = app.get("/api/v1/analytics/churn", &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["total"]["lost_revenue_cents"],
        i64::MAX,
        "{}",
        r.text
    );
    let periods = r.body["by_period"].as_array().unwrap();
    assert_eq!(periods[0]["lost_revenue_cents"], i64::MAX, "{}", r.text);
}

async fn churn_report_by_reason_and_period(app: TestApp) {
    let token = app.admin_token().await;
    let a = customer(&app, &token, "A").await;
    let b = customer(&app, &token, "B").await;
    let c = customer(&app, &token, "C").await;
    sale(&app, &token, a, 10_000, 0, 30).await;
    sale(&app, &token, b, 4_000, 0, 30).await;
    sale(&app, &token, b, 9_000, 0, 500).await;
    for (id, reason) in [
        (a, "competition"),
        (b, "competition"),
        (c, "staff_turnover"),
    ] {
        assert_eq!(churn(&app, &token, id, reason, None).await.status, 201);
    }
    assert_eq!(reactivate(&app, &token, c).await.status, 200);

    let r = app.get("/api/v1/analytics/churn", &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["total"],
        json!({"churned": 3, "lost_revenue_cents": 14_000, "won_back": 1})
    );
    let reasons = r.body["by_reason"].as_array().unwrap();
    assert_eq!(reasons.len(), 8, "every reason, zeros included");
    let comp = reasons
        .iter()
        .find(|x| x["reason"] == "competition")
        .unwrap();
    assert_eq!(comp["churned"], 2);
    assert_eq!(comp["lost_revenue_cents"], 14_000);
    let staff = reasons
        .iter()
        .find(|x| x["reason"] == "staff_turnover")
        .unwrap();
    assert_eq!(
        (staff["churned"].clone(), staff["won_back"].clone()),
        (json!(1), json!(1))
    );
    let month = Utc::now().format("%Y-%m").to_string();
    let periods = r.body["by_period"].as_array().unwrap();
    assert_eq!(periods.len(), 1);
    assert_eq!(periods[0]["period"], month);
    assert_eq!(periods[0]["churned"], 3);
    // In the order of the totals' `by_reason` (`/reference/churn-reasons`),
    // not the codes' alphabetical order (a review).
    let in_period: Vec<&Value> = periods[0]["by_reason"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| &x["reason"])
        .collect();
    assert_eq!(in_period, [&json!("staff_turnover"), &json!("competition")]);

    let r = app.get("/api/v1/analytics/churn?period=year", &token).await;
    assert_eq!(
        r.body["by_period"][0]["period"],
        Utc::now().format("%Y").to_string()
    );
    let past = app
        .get(
            "/api/v1/analytics/churn?from=2020-01-01T00:00:00Z&to=2021-01-01T00:00:00Z",
            &token,
        )
        .await;
    assert_eq!(past.body["total"]["churned"], 0);
    app.get("/api/v1/analytics/churn?period=week", &token)
        .await
        .problem(400);
    app.get(
        "/api/v1/analytics/churn?from=2021-01-01T00:00:00Z&to=2020-01-01T00:00:00Z",
        &token,
    )
    .await
    .problem(400);
}
