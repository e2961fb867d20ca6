//! The ranges of `PUT /settings/churn`, each field one past either end and
//! at the end itself, and the length of `POST /customers/{id}/reactivate`'s
//! note. (`tests/api/churn.rs` covers the rule and the endpoints otherwise.)

use serde_json::{json, Value};

use crate::backend_tests;
use crate::churn::churn;
use crate::helpers::TestApp;
use crate::limits::{assert_refused, text};
use crate::settings::put;

backend_tests!(
    churn_settings_refuse_each_field_past_its_range,
    reactivate_note_takes_2000_characters
);

const CHURN: &str = "/api/v1/settings/churn";

/// Every field, as the schema's example: sent whole so the test holds
/// whether or not a field may be left out.
fn full_body() -> Value {
    json!({"no_contact_days": 90, "share_window_days": 90, "share_drop_pct": 50,
        "no_purchase_days": 180, "low_satisfaction_below": 3.0, "min_open_complaints": 1,
        "weight_no_contact": 30, "weight_falling_share": 25, "weight_no_purchase": 25,
        "weight_low_satisfaction": 20, "weight_open_complaints": 15, "weight_owner_inactive": 10,
        "min_score": 1})
}

async fn churn_settings_refuse_each_field_past_its_range(app: TestApp) {
    let admin = app.admin_token().await;
    // (field, one below, lowest, highest, one above), as src/domain/churn.rs
    // and the README state them.
    let cases: &[(&str, Value, Value, Value, Value)] = &[
        (
            "no_contact_days",
            json!(0),
            json!(1),
            json!(3650),
            json!(3651),
        ),
        (
            "share_window_days",
            json!(6),
            json!(7),
            json!(1830),
            json!(1831),
        ),
        ("share_drop_pct", json!(0), json!(1), json!(100), json!(101)),
        (
            "no_purchase_days",
            json!(0),
            json!(1),
            json!(3650),
            json!(3651),
        ),
        (
            "min_open_complaints",
            json!(0),
            json!(1),
            json!(1000),
            json!(1001),
        ),
        (
            "weight_no_contact",
            json!(-1),
            json!(0),
            json!(100),
            json!(101),
        ),
        (
            "weight_falling_share",
            json!(-1),
            json!(0),
            json!(100),
            json!(101),
        ),
        (
            "weight_no_purchase",
            json!(-1),
            json!(0),
            json!(100),
            json!(101),
        ),
        (
            "weight_low_satisfaction",
            json!(-1),
            json!(0),
            json!(100),
            json!(101),
        ),
        (
            "weight_open_complaints",
            json!(-1),
            json!(0),
            json!(100),
            json!(101),
        ),
        (
            "weight_owner_inactive",
            json!(-1),
            json!(0),
            json!(100),
            json!(101),
        ),
        ("min_score", json!(0), json!(1), json!(600), json!(601)),
        (
            "low_satisfaction_below",
            json!(0.99),
            json!(1.0),
            json!(5.0),
            json!(5.01),
        ),
    ];
    for (field, below, low, high, above) in cases {
        for bound in [low, high] {
            let mut body = full_body();
            body[*field] = bound.clone();
            let r = put(&app, CHURN, &admin, None, &body).await;
            assert_eq!(r.status, 200, "{field} = {bound}: {}", r.text);
            assert_eq!(
                r.body[*field].as_f64(),
                bound.as_f64(),
                "{field}: {}",
                r.text
            );
        }
        for out in [below, above] {
            let mut body = full_body();
            body[*field] = out.clone();
            let r = put(&app, CHURN, &admin, None, &body).await;
            assert_refused(&r, field, "range");
            // Refused whole: the last accepted value (the highest) stays.
            let stored = app.get(CHURN, &admin).await;
            assert_eq!(stored.body[*field].as_f64(), high.as_f64(), "{field}");
        }
    }
}

async fn reactivate_note_takes_2000_characters(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "organization", "name": "Lapsed"}))
        .await
        .id();
    let r = churn(&app, &token, c, "competition", None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let path = format!("/api/v1/customers/{c}/reactivate");
    let r = app.post(&path, &token, &json!({"note": text(2001)})).await;
    assert_refused(&r, "note", "length");
    // Refused before the write: the customer is still churned, and the
    // longest note is taken.
    let r = app.post(&path, &token, &json!({"note": text(2000)})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["reactivation_note"]
            .as_str()
            .map(|s| s.chars().count()),
        Some(2000),
        "{}",
        r.text
    );
}
