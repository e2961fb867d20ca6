//! A pair of list filters that no record can meet is a 400 naming its lower
//! bound (code `range`), as the period reports refuse `from >= to`; it was an
//! empty page, which a client that swapped the two read as "none". Equal
//! inclusive bounds (counts, satisfaction) and an instant pair a microsecond
//! apart still list. So is a date of what the other filter says a card never
//! had (`never_contacted=true` with a last contact bound, no purchases with a
//! last purchase bound), code `not_allowed`.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(a_pair_of_bounds_that_holds_nothing_is_a_400);

const EARLY: &str = "2026-01-01T00:00:00Z";
const LATE: &str = "2026-02-01T00:00:00Z";
const MICRO_LATER: &str = "2026-01-01T00:00:00.000001Z";

async fn a_pair_of_bounds_that_holds_nothing_is_a_400(app: TestApp) {
    let token = app.admin_token().await;
    let card = app
        .create_customer(&token, json!({"kind": "organization", "name": "Bounds"}))
        .await
        .id();
    let rule = json!({"field": "region", "op": "eq", "value": "Hangzhou"});
    let segment = app
        .post(
            "/api/v1/segments",
            &token,
            &json!({"name": "Bounds", "kind": "dynamic", "rule": rule}),
        )
        .await;
    assert_eq!(segment.status, 201, "{}", segment.text);
    let customer_lists = [
        "/api/v1/customers".to_string(),
        "/api/v1/customers/export".to_string(),
        format!("/api/v1/segments/{}/members", segment.id()),
    ];
    let activity_lists = [
        "/api/v1/interactions".to_string(),
        format!("/api/v1/customers/{card}/interactions"),
        "/api/v1/transactions".to_string(),
        format!("/api/v1/customers/{card}/transactions"),
    ];
    let customer_pairs = [
        (
            "min_purchase_count=3&max_purchase_count=2".to_string(),
            "min_purchase_count",
        ),
        (
            "satisfaction_min=4&satisfaction_max=3".to_string(),
            "satisfaction_min",
        ),
        (
            format!("last_contact_after={LATE}&last_contact_before={EARLY}"),
            "last_contact_after",
        ),
        (
            format!("last_contact_after={EARLY}&last_contact_before={EARLY}"),
            "last_contact_after",
        ),
        (
            format!("last_purchase_after={LATE}&last_purchase_before={EARLY}"),
            "last_purchase_after",
        ),
        (
            format!("last_purchase_after={EARLY}&last_purchase_before={EARLY}"),
            "last_purchase_after",
        ),
    ];
    for list in &customer_lists {
        for (query, field) in &customer_pairs {
            let r = app.get(&format!("{list}?{query}"), &token).await;
            r.problem(400);
            assert_eq!(
                r.error_codes(),
                [(field.to_string(), "range".to_string())],
                "{list}?{query}"
            );
        }
        // A date of what a card never had (a review: an empty page too).
        for (query, field) in [
            (
                format!("never_contacted=true&last_contact_after={EARLY}"),
                "last_contact_after",
            ),
            (
                format!("never_contacted=true&last_contact_before={LATE}"),
                "last_contact_before",
            ),
            (
                format!("max_purchase_count=0&last_purchase_before={LATE}"),
                "last_purchase_before",
            ),
        ] {
            let r = app.get(&format!("{list}?{query}"), &token).await;
            r.problem(400);
            assert_eq!(
                r.error_codes(),
                [(field.to_string(), "not_allowed".to_string())],
                "{list}?{query}"
            );
        }
        for query in [
            format!("never_contacted=false&last_contact_after={EARLY}"),
            format!("max_purchase_count=1&last_purchase_before={LATE}"),
            "min_purchase_count=0&max_purchase_count=0".to_string(),
            "satisfaction_min=3&satisfaction_max=3".to_string(),
            format!("last_contact_after={EARLY}&last_contact_before={MICRO_LATER}"),
            format!("last_purchase_after={EARLY}&last_purchase_before={MICRO_LATER}"),
        ] {
            let r = app.get(&format!("{list}?{query}"), &token).await;
            assert_eq!(r.status, 200, "{list}?{query}: {}", r.text);
        }
    }
    for list in &activity_lists {
        for query in [
            format!("from={LATE}&to={EARLY}"),
            format!("from={EARLY}&to={EARLY}"),
        ] {
            let r = app.get(&format!("{list}?{query}"), &token).await;
            r.problem(400);
            assert_eq!(
                r.error_codes(),
                [("from".to_string(), "range".to_string())],
                "{list}?{query}"
            );
        }
        let r = app
            .get(&format!("{list}?from={EARLY}&to={MICRO_LATER}"), &token)
            .await;
        assert_eq!(r.status, 200, "{list}: {}", r.text);
    }
}
