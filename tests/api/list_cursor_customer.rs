//! `/interactions?customer_id=5` and `/customers/5/interactions` list the
//! same rows: their cursors are one list's, and another customer's cursor is
//! refused. The cursor was named by the path's customer only, so a cursor of
//! `?customer_id=5` was taken by `?customer_id=6` (silently skipping its rows
//! before the position), and one of `/customers/5/...` refused by
//! `?customer_id=5`. The same for transactions, and for the two lists that
//! are only filtered by customer: account plans and a survey's responses
//! (their cursors named the whole list, so a cursor of one customer's page
//! or of the unfiltered list silently skipped another customer's rows).

use serde_json::json;

use crate::account_plans::{key_customer, plan_body};
use crate::backend_tests;
use crate::helpers::TestApp;
use crate::surveys::{open_survey, respond};

backend_tests!(
    interaction_cursors_follow_the_customer_listed,
    transaction_cursors_follow_the_customer_listed,
    plan_cursors_follow_the_customer_filtered,
    survey_response_cursors_follow_the_customer_filtered,
    customer_list_cursors_follow_their_filters,
);

/// The customer list's cursor is its filters' list: `owner_id=A`'s cursor
/// taken by `owner_id=B` resumed at its position in B's list and silently
/// skipped B's cards before it (a review). Changing nothing but the page
/// size still reads on.
async fn customer_list_cursors_follow_their_filters(app: TestApp) {
    let token = app.admin_token().await;
    let mut owners = Vec::new();
    for _ in 0..2 {
        let (id, rep) = app.user_with_role("sales").await;
        for n in 0..2 {
            let r = app
                .create_customer(
                    &rep,
                    json!({"kind": "individual", "name": format!("Card {n}")}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
        owners.push(id);
    }
    let list = "/api/v1/customers";
    filtered_cursors_are_their_own(&app, &token, list, "owner_id", owners[0], owners[1]).await;
    let first = app
        .get(&format!("{list}?owner_id={}&limit=1", owners[0]), &token)
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap_or_default();
    for same in [
        format!("{list}?owner_id={}&limit=5&cursor={cursor}", owners[0]),
        format!("{list}?cursor={cursor}&owner_id={}", owners[0]),
    ] {
        let r = app.get(&same, &token).await;
        assert_eq!(r.status, 200, "{same}: {}", r.text);
        assert_eq!(
            r.body["items"].as_array().map(Vec::len),
            Some(1),
            "{}",
            r.text
        );
    }
    let r = app
        .get(
            &format!(
                "{list}?owner_id={}&q=card&limit=1&cursor={cursor}",
                owners[0]
            ),
            &token,
        )
        .await;
    r.problem(400);
    assert_eq!(r.error_fields(), ["cursor"], "{}", r.text);
}

async fn plan_cursors_follow_the_customer_filtered(app: TestApp) {
    let token = app.admin_token().await;
    let key = key_customer(&app, &token).await;
    for _ in 0..3 {
        let r = app
            .post("/api/v1/account-plans", &token, &plan_body(key))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let other = app
        .create_customer(&token, json!({"kind": "individual", "name": "Other"}))
        .await
        .id();
    let list = "/api/v1/account-plans";
    filtered_cursors_are_their_own(&app, &token, list, "customer_id", key, other).await;
}

async fn survey_response_cursors_follow_the_customer_filtered(app: TestApp) {
    let token = app.admin_token().await;
    let (survey, qs) = open_survey(&app, &token, json!({"allow_multiple_responses": true})).await;
    let mut cards = Vec::new();
    for name in ["Five", "Six"] {
        let card = app
            .create_customer(&token, json!({"kind": "individual", "name": name}))
            .await
            .id();
        for _ in 0..3 {
            let r = respond(
                &app,
                &token,
                survey,
                card,
                &[(qs[0], json!(4)), (qs[1], json!(5))],
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
        cards.push(card);
    }
    let list = format!("/api/v1/surveys/{survey}/responses");
    filtered_cursors_are_their_own(&app, &token, &list, "customer_id", cards[0], cards[1]).await;
}

/// `list` has two or more rows of `five` and more rows than one page
/// unfiltered: a cursor of `?{filter}=five` pages it, and is refused by the
/// unfiltered list and by `six`'s; the unfiltered list's cursor is refused
/// by `five`'s.
pub async fn filtered_cursors_are_their_own(
    app: &TestApp,
    token: &str,
    list: &str,
    filter: &str,
    five: i64,
    six: i64,
) {
    let next = |path: String| async move {
        let r = app.get(&path, token).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        let cursor = r.body["next_cursor"].as_str().map(str::to_string);
        (r.body["items"].as_array().map_or(0, Vec::len), cursor)
    };
    let (n, cursor) = next(format!("{list}?{filter}={five}&limit=1")).await;
    assert_eq!(n, 1);
    let cursor = cursor.unwrap_or_else(|| panic!("{list}: no next_cursor"));
    let (n, _) = next(format!("{list}?{filter}={five}&limit=1&cursor={cursor}")).await;
    assert_eq!(n, 1);
    let (_, whole) = next(format!("{list}?limit=1")).await;
    let whole = whole.unwrap_or_else(|| panic!("{list}: no next_cursor"));
    for path in [
        format!("{list}?{filter}={six}&limit=1&cursor={cursor}"),
        format!("{list}?limit=1&cursor={cursor}"),
        format!("{list}?{filter}={five}&limit=1&cursor={whole}"),
    ] {
        let r = app.get(&path, token).await;
        r.problem(400);
        assert_eq!(r.error_fields(), ["cursor"], "{path}: {}", r.text);
    }
}

async fn interaction_cursors_follow_the_customer_listed(app: TestApp) {
    cursors_follow_the_customer(
        app,
        "interactions",
        json!({"type": "call", "summary": "hello"}),
    )
    .await;
}

async fn transaction_cursors_follow_the_customer_listed(app: TestApp) {
    cursors_follow_the_customer(
        app,
        "transactions",
        json!({"amount_cents": 500, "product": "Tea"}),
    )
    .await;
}

async fn cursors_follow_the_customer(app: TestApp, list: &str, item: serde_json::Value) {
    let token = app.admin_token().await;
    let mut cards = Vec::new();
    for name in ["Five", "Six"] {
        let card = app
            .create_customer(&token, json!({"kind": "individual", "name": name}))
            .await
            .id();
        for _ in 0..2 {
            let r = app
                .post(&format!("/api/v1/customers/{card}/{list}"), &token, &item)
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
        cards.push(card);
    }
    let (five, six) = (cards[0], cards[1]);
    let nested = format!("/api/v1/customers/{five}/{list}?limit=1");
    let across = format!("/api/v1/{list}?customer_id={five}&limit=1");
    let page = |path: String| {
        let (app, token) = (&app, &token);
        async move {
            let r = app.get(&path, token).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            let ids: Vec<i64> = r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap())
                .collect();
            (
                ids,
                r.body["next_cursor"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        }
    };
    let (first, _) = page(nested.clone()).await;
    let (second, _) = page(format!("{nested}&cursor=")).await;
    assert_eq!(first, second);
    // Either way of naming customer 5 takes the other's cursor.
    let (_, nested_cursor) = page(nested.clone()).await;
    let (rest, _) = page(format!("{across}&cursor={nested_cursor}")).await;
    let (_, across_cursor) = page(across.clone()).await;
    let (rest_nested, _) = page(format!("{nested}&cursor={across_cursor}")).await;
    assert_eq!(rest, rest_nested);
    assert_eq!(rest.len(), 1);
    assert_ne!(rest, first);
    // Customer 5's cursor is not customer 6's list, however either is named.
    for path in [
        format!("/api/v1/{list}?customer_id={six}&limit=1&cursor={across_cursor}"),
        format!("/api/v1/{list}?customer_id={six}&limit=1&cursor={nested_cursor}"),
        format!("/api/v1/customers/{six}/{list}?limit=1&cursor={across_cursor}"),
        format!("/api/v1/{list}?limit=1&cursor={across_cursor}"),
    ] {
        let r = app.get(&path, &token).await;
        r.problem(400);
        assert_eq!(r.error_fields(), ["cursor"], "{path}: {}", r.text);
    }
    // Two customers named is a 400 reported with the query's other faults,
    // so that a client fixes them in one go (it came alone on interactions).
    let both = app
        .get(
            &format!(
                "/api/v1/customers/{five}/{list}?customer_id={six}\
                 &from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"
            ),
            &token,
        )
        .await;
    both.problem(400);
    let mut fields = both.error_fields();
    fields.sort();
    assert_eq!(fields, ["customer_id", "from"], "{list}: {}", both.text);
    // The query's errors come before the page's, on both lists (transactions
    // answered the limit first, interactions the two customers).
    let r = app
        .get(
            &format!("/api/v1/customers/{five}/{list}?customer_id={six}&limit=0"),
            &token,
        )
        .await;
    r.problem(400);
    assert_eq!(r.error_fields(), ["customer_id"], "{list}: {}", r.text);
}
