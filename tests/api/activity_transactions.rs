//! `/customers/{id}/transactions` and `/transactions`: create with defaults,
//! validation, `external_id` uniqueness (409), read/PATCH/DELETE, filters,
//! sorts, cursor pagination while inserting, and role rules.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{ids_of, Resp, TestApp};

backend_tests!(
    create_answers_201_with_location_etag_and_defaults,
    create_uses_the_card_currency_by_default,
    create_validation_names_every_bad_field,
    currency_other_than_the_card_is_422_naming_currency,
    external_id_clash_is_409_on_create_across_customers,
    external_id_clash_is_409_on_patch,
    get_patch_with_if_match_and_delete,
    patch_validation_and_currency_rules,
    wrong_or_unknown_customer_is_404,
    list_per_customer_only_lists_its_transactions,
    list_all_filters_by_customer_owner_product_and_period,
    sorts_order_the_list,
    paginated_walk_has_no_duplicates_or_losses_while_inserting,
    bad_query_parameters_are_400,
    role_rules_for_transactions,
);

fn txs(customer_id: i64) -> String {
    format!("/api/v1/customers/{customer_id}/transactions")
}

fn tx(customer_id: i64, id: i64) -> String {
    format!("/api/v1/customers/{customer_id}/transactions/{id}")
}

/// URL-encodes one query value.
fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn instant(v: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")))
        .unwrap()
}

/// An RFC 3339 instant `days` days (and `secs` seconds) before now, whole seconds.
fn days_ago(days: i64, secs: i64) -> String {
    let t = Utc::now() - Duration::days(days) - Duration::seconds(secs);
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The problem names `field`: in `errors`, or (for an unknown field, which
/// has no path of its own) in the message.
fn names(r: &Resp, field: &str) -> bool {
    r.error_fields().iter().any(|f| f == field) || r.text.contains(&format!("`{field}`"))
}

fn assert_422_naming(r: &Resp, field: &str) {
    r.problem(422);
    assert!(names(r, field), "expected {field} in {}", r.text);
}

fn assert_400_naming(r: &Resp, field: &str) {
    r.problem(400);
    assert!(names(r, field), "expected {field} in {}", r.text);
}

/// The ids listed at `path_and_query` (one page of up to 500).
async fn listed(app: &TestApp, token: &str, path_and_query: &str) -> Vec<i64> {
    let sep = if path_and_query.contains('?') {
        '&'
    } else {
        '?'
    };
    let r = app
        .get(&format!("{path_and_query}{sep}limit=500"), token)
        .await;
    assert!(r.body["next_cursor"].is_null(), "{}", r.text);
    ids_of(&r)
}

async fn customer(app: &TestApp, token: &str, body: Value) -> i64 {
    app.create_customer(token, body).await.id()
}

/// Records a transaction and returns its id.
async fn record(app: &TestApp, token: &str, customer_id: i64, body: Value) -> i64 {
    let r = app.post(&txs(customer_id), token, &body).await;
    assert_eq!(r.status, 201, "transaction creation failed: {}", r.text);
    r.id()
}

async fn create_answers_201_with_location_etag_and_defaults(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin, json!({"kind": "individual", "name": "王芳"})).await;
    let before = Utc::now() - Duration::seconds(5);
    let r = app
        .post(
            &txs(c),
            &admin,
            &json!({"amount_cents": 128_000, "cost_cents": 91_000, "product": "  Ginseng tea  ",
                    "notes": "first order"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.id();
    assert_eq!(r.header("location"), Some(tx(c, id)));
    assert_eq!(r.etag_version(), Some(1));
    let t = &r.body;
    assert_eq!(t["customer_id"], json!(c));
    assert_eq!(t["amount_cents"], json!(128_000));
    assert_eq!(t["cost_cents"], json!(91_000));
    assert_eq!(t["profit_cents"], json!(37_000));
    assert_eq!(t["currency"], json!("CNY"));
    assert_eq!(t["product"], json!("Ginseng tea"));
    assert_eq!(t["external_id"], Value::Null);
    assert_eq!(t["notes"], json!("first order"));
    assert_eq!(t["version"], json!(1));
    // occurred_at defaults to now.
    let at = instant(&t["occurred_at"]);
    let after = Utc::now() + Duration::seconds(5);
    assert!(
        at >= before && at <= after,
        "occurred_at {at} is not now ({before}..{after})"
    );

    // cost defaults to 0: the profit is the whole amount.
    let r = app
        .post(
            &txs(c),
            &admin,
            &json!({"amount_cents": 500, "product": "Sample"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["cost_cents"], json!(0));
    assert_eq!(r.body["profit_cents"], json!(500));

    // The Location answers with the same transaction and its ETag.
    let g = app.get(&tx(c, id), &admin).await;
    assert_eq!(g.status, 200, "{}", g.text);
    assert_eq!(g.etag_version(), Some(1));
    assert_eq!(g.body, as_listed(&app, &admin, c, id).await);
    assert_eq!(g.body["profit_cents"], json!(37_000));

    // The card's figures follow.
    let card = app.get(&format!("/api/v1/customers/{c}"), &admin).await;
    assert_eq!(card.body["purchase_count"], json!(2), "{}", card.text);
    assert_eq!(card.body["lifetime_revenue_cents"], json!(128_500));
    assert_eq!(card.body["lifetime_profit_cents"], json!(37_500));
}

/// The transaction as listed for its customer (the list and the read agree).
async fn as_listed(app: &TestApp, token: &str, c: i64, id: i64) -> Value {
    let r = app.get(&format!("{}?limit=500", txs(c)), token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == json!(id))
        .cloned()
        .unwrap_or_else(|| panic!("{id} not listed: {}", r.text))
}

async fn create_uses_the_card_currency_by_default(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(
        &app,
        &admin,
        json!({"kind": "organization", "name": "Acme Inc", "currency": "USD"}),
    )
    .await;
    let r = app
        .post(
            &txs(c),
            &admin,
            &json!({"amount_cents": 10_000, "product": "Widgets"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["currency"], json!("USD"));
    // Sending the card's currency explicitly is fine too.
    let r = app
        .post(
            &txs(c),
            &admin,
            &json!({"amount_cents": 10_000, "product": "Widgets", "currency": "USD"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["currency"], json!("USD"));
    // An explicit past occurred_at is kept.
    let when = days_ago(30, 0);
    let r = app
        .post(
            &txs(c),
            &admin,
            &json!({"amount_cents": 1, "product": "Widgets", "occurred_at": when}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        instant(&r.body["occurred_at"]),
        DateTime::parse_from_rfc3339(&when).unwrap()
    );
}

async fn create_validation_names_every_bad_field(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin, json!({"kind": "individual", "name": "Li"})).await;

    // Missing required fields.
    let r = app.post(&txs(c), &admin, &json!({})).await;
    assert_422_naming(&r, "amount_cents");
    assert_422_naming(&r, "product");

    // Every bad field at once.
    let future = (Utc::now() + Duration::days(2)).to_rfc3339();
    let r = app
        .post(
            &txs(c),
            &admin,
            &json!({"amount_cents": -1, "cost_cents": -5, "product": "   ", "currency": "usd",
                    "occurred_at": future, "external_id": "", "notes": "x".repeat(2001)}),
        )
        .await;
    r.problem(422);
    let fields = r.error_fields();
    for field in [
        "amount_cents",
        "cost_cents",
        "currency",
        "external_id",
        "notes",
        "occurred_at",
        "product",
    ] {
        assert!(
            fields.iter().any(|f| f == field),
            "expected {field} in {}",
            r.text
        );
    }
    assert_eq!(r.body["type"], json!("/problems/validation"));
    for e in r.body["errors"].as_array().unwrap() {
        assert!(e["code"].is_string() && e["message"].is_string(), "{e}");
    }

    // Each rule alone.
    for (body, field) in [
        (json!({"product": "Tea"}), "amount_cents"),
        (
            json!({"amount_cents": -1, "product": "Tea"}),
            "amount_cents",
        ),
        (
            json!({"amount_cents": 1, "cost_cents": -1, "product": "Tea"}),
            "cost_cents",
        ),
        (json!({"amount_cents": 1}), "product"),
        (json!({"amount_cents": 1, "product": " "}), "product"),
        // Blank was stored as "no key": a re-sent order then counted twice.
        (
            json!({"amount_cents": 1, "product": "Tea", "external_id": "   "}),
            "external_id",
        ),
        (
            json!({"amount_cents": 1, "product": "x".repeat(201)}),
            "product",
        ),
        (
            json!({"amount_cents": 1, "product": "Tea", "currency": "CNYY"}),
            "currency",
        ),
        (
            json!({"amount_cents": 1, "product": "Tea", "currency": "cny"}),
            "currency",
        ),
        (
            json!({"amount_cents": 1, "product": "Tea", "occurred_at": future}),
            "occurred_at",
        ),
        (
            json!({"amount_cents": "a lot", "product": "Tea"}),
            "amount_cents",
        ),
        (
            json!({"amount_cents": 1, "product": "Tea", "occurred_at": "yesterday"}),
            "occurred_at",
        ),
        (
            json!({"amount_cents": 1, "product": "Tea", "colour": "red"}),
            "colour",
        ),
    ] {
        let r = app.post(&txs(c), &admin, &body).await;
        assert_422_naming(&r, field);
    }
    // A body that is not JSON is a 400.
    let r = app
        .post_raw(&txs(c), &admin, "application/json", "{\"amount_cents\": 1,")
        .await;
    r.problem(400);
    // Nothing was recorded.
    assert!(listed(&app, &admin, &txs(c)).await.is_empty());
}

async fn currency_other_than_the_card_is_422_naming_currency(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin, json!({"kind": "individual", "name": "Li"})).await;
    let r = app
        .post(
            &txs(c),
            &admin,
            &json!({"amount_cents": 100, "product": "Tea", "currency": "USD"}),
        )
        .await;
    assert_422_naming(&r, "currency");
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("CNY")),
        "the message names the card's currency: {}",
        r.text
    );
    assert!(listed(&app, &admin, &txs(c)).await.is_empty());

    // Nor can the card's currency change under its transactions (found by a
    // probe: the card showed USD over sums of CNY amounts).
    let card = format!("/api/v1/customers/{c}");
    let r = app.patch(&card, &admin, &json!({"currency": "USD"})).await;
    assert_eq!(r.status, 200, "no transaction yet: {}", r.text);
    let r = app.patch(&card, &admin, &json!({"currency": "CNY"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    record(
        &app,
        &admin,
        c,
        json!({"amount_cents": 100, "product": "Tea"}),
    )
    .await;
    let r = app.patch(&card, &admin, &json!({"currency": "USD"})).await;
    assert_422_naming(&r, "currency");
    assert_eq!(r.body["errors"][0]["code"], "immutable");
    assert_eq!(app.get(&card, &admin).await.body["currency"], "CNY");
    let r = app
        .patch(
            &card,
            &admin,
            &json!({"currency": "CNY", "notes": "same currency"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn external_id_clash_is_409_on_create_across_customers(app: TestApp) {
    let admin = app.admin_token().await;
    let a = customer(&app, &admin, json!({"kind": "individual", "name": "A"})).await;
    let b = customer(&app, &admin, json!({"kind": "individual", "name": "B"})).await;
    let order = json!({"amount_cents": 1000, "product": "Tea", "external_id": "SO-2026-0042"});
    let first = record(&app, &admin, a, order.clone()).await;

    // The ERP re-sends the same order: refused, never counted twice.
    let r = app.post(&txs(a), &admin, &order).await;
    let p = r.problem(409);
    assert_eq!(p["type"], json!("/problems/conflict"));
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("SO-2026-0042")),
        "{}",
        r.text
    );
    // Also under another customer.
    let r = app.post(&txs(b), &admin, &order).await;
    r.problem(409);

    assert_eq!(listed(&app, &admin, &txs(a)).await, vec![first]);
    assert!(listed(&app, &admin, &txs(b)).await.is_empty());
    let card = app.get(&format!("/api/v1/customers/{a}"), &admin).await;
    assert_eq!(card.body["purchase_count"], json!(1));
    assert_eq!(card.body["lifetime_revenue_cents"], json!(1000));

    // Another key is fine, and transactions without a key never clash.
    record(
        &app,
        &admin,
        b,
        json!({"amount_cents": 1, "product": "Tea", "external_id": "SO-2026-0043"}),
    )
    .await;
    record(
        &app,
        &admin,
        b,
        json!({"amount_cents": 1, "product": "Tea"}),
    )
    .await;
    record(
        &app,
        &admin,
        b,
        json!({"amount_cents": 1, "product": "Tea"}),
    )
    .await;
    assert_eq!(listed(&app, &admin, &txs(b)).await.len(), 3);
}

async fn external_id_clash_is_409_on_patch(app: TestApp) {
    let admin = app.admin_token().await;
    let a = customer(&app, &admin, json!({"kind": "individual", "name": "A"})).await;
    let b = customer(&app, &admin, json!({"kind": "individual", "name": "B"})).await;
    let first = record(
        &app,
        &admin,
        a,
        json!({"amount_cents": 1, "product": "Tea", "external_id": "ERP-1"}),
    )
    .await;
    let same_customer = record(
        &app,
        &admin,
        a,
        json!({"amount_cents": 2, "product": "Tea"}),
    )
    .await;
    let other_customer = record(
        &app,
        &admin,
        b,
        json!({"amount_cents": 3, "product": "Tea", "external_id": "ERP-2"}),
    )
    .await;

    let r = app
        .patch(
            &tx(a, same_customer),
            &admin,
            &json!({"external_id": "ERP-1"}),
        )
        .await;
    r.problem(409);
    let r = app
        .patch(
            &tx(b, other_customer),
            &admin,
            &json!({"external_id": "ERP-1"}),
        )
        .await;
    r.problem(409);
    assert_eq!(r.code_of("external_id"), "conflict", "{}", r.text);
    // A blank key is refused, not taken for null (which unlinks the order).
    let r = app
        .patch(
            &tx(b, other_customer),
            &admin,
            &json!({"external_id": " \u{3000} "}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.code_of("external_id"), "blank", "{}", r.text);
    // Nothing changed.
    let g = app.get(&tx(b, other_customer), &admin).await;
    assert_eq!(g.body["external_id"], json!("ERP-2"));
    assert_eq!(g.body["version"], json!(1));

    // Re-sending its own key is not a clash.
    let r = app
        .patch(
            &tx(a, first),
            &admin,
            &json!({"external_id": "ERP-1", "notes": "checked"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["external_id"], json!("ERP-1"));

    // Clearing the key frees it for another transaction.
    let r = app
        .patch(&tx(a, first), &admin, &json!({"external_id": null}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["external_id"], Value::Null);
    let r = app
        .patch(
            &tx(b, other_customer),
            &admin,
            &json!({"external_id": "ERP-1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["external_id"], json!("ERP-1"));
    // And creating with the freed key ERP-2 works.
    record(
        &app,
        &admin,
        a,
        json!({"amount_cents": 1, "product": "Tea", "external_id": "ERP-2"}),
    )
    .await;
}

async fn get_patch_with_if_match_and_delete(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin, json!({"kind": "individual", "name": "Li"})).await;
    let when = days_ago(10, 0);
    let id = record(
        &app,
        &admin,
        c,
        json!({"amount_cents": 1000, "cost_cents": 400, "product": "Tea", "occurred_at": when,
               "notes": "n"}),
    )
    .await;

    let g = app.get(&tx(c, id), &admin).await;
    assert_eq!(g.status, 200, "{}", g.text);
    assert_eq!(g.etag_version(), Some(1));
    assert_eq!(g.body["profit_cents"], json!(600));

    // Only the fields sent change; profit follows.
    let r = app
        .patch_if_match(
            &tx(c, id),
            &admin,
            "\"1\"",
            &json!({"amount_cents": 1500, "notes": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(2));
    assert_eq!(r.body["version"], json!(2));
    assert_eq!(r.body["amount_cents"], json!(1500));
    assert_eq!(r.body["cost_cents"], json!(400));
    assert_eq!(r.body["profit_cents"], json!(1100));
    assert_eq!(r.body["notes"], Value::Null);
    assert_eq!(r.body["product"], json!("Tea"));
    assert_eq!(r.body["currency"], json!("CNY"));
    assert_eq!(
        instant(&r.body["occurred_at"]),
        DateTime::parse_from_rfc3339(&when).unwrap()
    );
    let card = app.get(&format!("/api/v1/customers/{c}"), &admin).await;
    assert_eq!(card.body["lifetime_revenue_cents"], json!(1500));
    assert_eq!(card.body["lifetime_profit_cents"], json!(1100));

    // A stale ETag is refused and changes nothing.
    let r = app
        .patch_if_match(&tx(c, id), &admin, "\"1\"", &json!({"amount_cents": 1}))
        .await;
    r.problem(412);
    let g = app.get(&tx(c, id), &admin).await;
    assert_eq!(g.body["amount_cents"], json!(1500));
    assert_eq!(g.body["version"], json!(2));

    // The current one works; so does a weak one and `*`.
    let r = app
        .patch_if_match(
            &tx(c, id),
            &admin,
            "W/\"2\"",
            &json!({"product": "Green tea", "cost_cents": 0}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], json!(3));
    assert_eq!(r.body["profit_cents"], json!(1500));
    let r = app
        .patch_if_match(&tx(c, id), &admin, "*", &json!({"notes": "again"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], json!(4));
    // Sent again, it changes nothing: no new version.
    let r = app
        .patch_if_match(&tx(c, id), &admin, "*", &json!({"notes": "again"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], json!(4));
    // A garbage If-Match is a 400, not a 412 or 500.
    let r = app
        .patch_if_match(&tx(c, id), &admin, "yesterday", &json!({"notes": "x"}))
        .await;
    r.problem(400);

    // Delete; then it is gone and the card's figures follow.
    let r = app.delete(&tx(c, id), &admin).await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.get(&tx(c, id), &admin).await.problem(404);
    app.delete(&tx(c, id), &admin).await.problem(404);
    app.patch(&tx(c, id), &admin, &json!({"notes": "x"}))
        .await
        .problem(404);
    assert!(listed(&app, &admin, &txs(c)).await.is_empty());
    let card = app.get(&format!("/api/v1/customers/{c}"), &admin).await;
    assert_eq!(card.body["purchase_count"], json!(0));
    assert_eq!(card.body["lifetime_revenue_cents"], json!(0));
}

async fn patch_validation_and_currency_rules(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin, json!({"kind": "individual", "name": "Li"})).await;
    let id = record(
        &app,
        &admin,
        c,
        json!({"amount_cents": 10, "product": "Tea"}),
    )
    .await;
    let future = (Utc::now() + Duration::days(1)).to_rfc3339();
    let r = app
        .patch(
            &tx(c, id),
            &admin,
            &json!({"amount_cents": -1, "cost_cents": -1, "product": " ", "currency": "xx",
                    "occurred_at": future, "external_id": ""}),
        )
        .await;
    r.problem(422);
    let fields = r.error_fields();
    for field in [
        "amount_cents",
        "cost_cents",
        "currency",
        "external_id",
        "occurred_at",
        "product",
    ] {
        assert!(
            fields.iter().any(|f| f == field),
            "expected {field} in {}",
            r.text
        );
    }
    // A currency other than the card's.
    let r = app
        .patch(&tx(c, id), &admin, &json!({"currency": "EUR"}))
        .await;
    assert_422_naming(&r, "currency");
    // Required fields cannot be cleared: null is named, every one at once.
    let r = app
        .patch(
            &tx(c, id),
            &admin,
            &json!({"amount_cents": null, "cost_cents": null, "currency": null,
                    "product": null, "occurred_at": null}),
        )
        .await;
    r.problem(422);
    assert_eq!(
        r.error_fields(),
        vec![
            "amount_cents",
            "cost_cents",
            "currency",
            "occurred_at",
            "product"
        ],
        "{}",
        r.text
    );
    // Unknown fields.
    let r = app
        .patch(&tx(c, id), &admin, &json!({"customer_id": 99}))
        .await;
    assert_422_naming(&r, "customer_id");
    // Nothing changed.
    let g = app.get(&tx(c, id), &admin).await;
    assert_eq!(g.body["version"], json!(1));
    assert_eq!(g.body["currency"], json!("CNY"));
    assert_eq!(g.body["amount_cents"], json!(10));
}

async fn wrong_or_unknown_customer_is_404(app: TestApp) {
    let admin = app.admin_token().await;
    let a = customer(&app, &admin, json!({"kind": "individual", "name": "A"})).await;
    let b = customer(&app, &admin, json!({"kind": "individual", "name": "B"})).await;
    let id = record(
        &app,
        &admin,
        a,
        json!({"amount_cents": 10, "product": "Tea"}),
    )
    .await;

    // The transaction exists, but not under customer B.
    app.get(&tx(b, id), &admin).await.problem(404);
    app.patch(&tx(b, id), &admin, &json!({"notes": "x"}))
        .await
        .problem(404);
    app.delete(&tx(b, id), &admin).await.problem(404);
    // Untouched.
    let g = app.get(&tx(a, id), &admin).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["version"], json!(1));

    // Unknown customer and unknown transaction.
    let body = json!({"amount_cents": 10, "product": "Tea"});
    app.post(&txs(999_999), &admin, &body).await.problem(404);
    app.get(&txs(999_999), &admin).await.problem(404);
    app.get(&tx(a, 999_999), &admin).await.problem(404);
    // Ids that are not numbers.
    app.get("/api/v1/customers/abc/transactions", &admin)
        .await
        .problem(404);
    app.get(&format!("{}/xyz", txs(a)), &admin)
        .await
        .problem(404);
}

async fn list_per_customer_only_lists_its_transactions(app: TestApp) {
    let admin = app.admin_token().await;
    let a = customer(&app, &admin, json!({"kind": "individual", "name": "A"})).await;
    let b = customer(&app, &admin, json!({"kind": "individual", "name": "B"})).await;
    let a_old = record(
        &app,
        &admin,
        a,
        json!({"amount_cents": 1, "product": "Tea", "occurred_at": days_ago(5, 0)}),
    )
    .await;
    let a_new = record(
        &app,
        &admin,
        a,
        json!({"amount_cents": 2, "product": "Tea", "occurred_at": days_ago(1, 0)}),
    )
    .await;
    let b_one = record(
        &app,
        &admin,
        b,
        json!({"amount_cents": 3, "product": "Tea"}),
    )
    .await;

    // Newest first by default.
    assert_eq!(listed(&app, &admin, &txs(a)).await, vec![a_new, a_old]);
    assert_eq!(listed(&app, &admin, &txs(b)).await, vec![b_one]);
    // A customer_id in the query cannot widen a customer's list: another
    // customer's id there is refused.
    assert_400_naming(
        &app.get(&format!("{}?customer_id={b}", txs(a)), &admin)
            .await,
        "customer_id",
    );
    // Reported with the query's other faults, not alone: a client fixes
    // them in one go (the period was unreported while customer_id was).
    let both = app
        .get(
            &format!(
                "{}?customer_id={b}&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
                txs(a)
            ),
            &admin,
        )
        .await;
    both.problem(400);
    let mut fields = both.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["customer_id", "from"], "{}", both.text);
    // The items are full transactions.
    let r = app.get(&txs(a), &admin).await;
    let first = &r.body["items"][0];
    for field in [
        "id",
        "customer_id",
        "occurred_at",
        "amount_cents",
        "cost_cents",
        "profit_cents",
        "currency",
        "product",
        "external_id",
        "notes",
        "version",
        "created_at",
        "updated_at",
    ] {
        assert!(first.get(field).is_some(), "no {field} in {first}");
    }
    assert!(r.body["next_cursor"].is_null());
}

async fn list_all_filters_by_customer_owner_product_and_period(app: TestApp) {
    let admin = app.admin_token().await;
    let (rep1, _) = app.user_with_role("sales").await;
    let (rep2, _) = app.user_with_role("sales").await;
    let a = customer(
        &app,
        &admin,
        json!({"kind": "individual", "name": "A", "owner_id": rep1}),
    )
    .await;
    let b = customer(
        &app,
        &admin,
        json!({"kind": "individual", "name": "B", "owner_id": rep1}),
    )
    .await;
    let c = customer(
        &app,
        &admin,
        json!({"kind": "individual", "name": "C", "owner_id": rep2}),
    )
    .await;
    let t_a_tea_old = record(
        &app,
        &admin,
        a,
        json!({"amount_cents": 1, "product": "Tea", "occurred_at": days_ago(40, 0)}),
    )
    .await;
    let t_a_cups = record(
        &app,
        &admin,
        a,
        json!({"amount_cents": 1, "product": "Cups", "occurred_at": days_ago(20, 0)}),
    )
    .await;
    let t_b_tea = record(
        &app,
        &admin,
        b,
        json!({"amount_cents": 1, "product": "Tea", "occurred_at": days_ago(10, 0)}),
    )
    .await;
    let t_c_tea = record(
        &app,
        &admin,
        c,
        json!({"amount_cents": 1, "product": "Tea", "occurred_at": days_ago(5, 0)}),
    )
    .await;
    let t_c_pot = record(
        &app,
        &admin,
        c,
        json!({"amount_cents": 1, "product": "Tea pot", "occurred_at": days_ago(1, 0)}),
    )
    .await;
    let all = "/api/v1/transactions";

    assert_eq!(
        listed(&app, &admin, all).await,
        vec![t_c_pot, t_c_tea, t_b_tea, t_a_cups, t_a_tea_old]
    );
    assert_eq!(
        listed(&app, &admin, &format!("{all}?customer_id={a}")).await,
        vec![t_a_cups, t_a_tea_old]
    );
    assert_eq!(
        listed(&app, &admin, &format!("{all}?owner_id={rep1}")).await,
        vec![t_b_tea, t_a_cups, t_a_tea_old]
    );
    assert_eq!(
        listed(&app, &admin, &format!("{all}?owner_id={rep2}")).await,
        vec![t_c_pot, t_c_tea]
    );
    // The product filter is exact.
    assert_eq!(
        listed(&app, &admin, &format!("{all}?product=Tea")).await,
        vec![t_c_tea, t_b_tea, t_a_tea_old]
    );
    assert_eq!(
        listed(&app, &admin, &format!("{all}?product={}", enc("Tea pot"))).await,
        vec![t_c_pot]
    );
    // Trimmed, as products are stored; blank is no filter (it matched none).
    assert_eq!(
        listed(&app, &admin, &format!("{all}?product={}", enc(" Tea pot "))).await,
        vec![t_c_pot]
    );
    assert_eq!(
        listed(&app, &admin, &format!("{all}?product=")).await,
        vec![t_c_pot, t_c_tea, t_b_tea, t_a_cups, t_a_tea_old]
    );
    assert_eq!(
        listed(&app, &admin, &format!("{all}?product=%20%20")).await,
        vec![t_c_pot, t_c_tea, t_b_tea, t_a_cups, t_a_tea_old]
    );
    // The period: from inclusive, to exclusive.
    let from = days_ago(25, 0);
    let to = days_ago(3, 0);
    assert_eq!(
        listed(
            &app,
            &admin,
            &format!("{all}?from={}&to={}", enc(&from), enc(&to))
        )
        .await,
        vec![t_c_tea, t_b_tea, t_a_cups]
    );
    let exact = app.get(&tx(b, t_b_tea), &admin).await.body["occurred_at"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        listed(&app, &admin, &format!("{all}?from={}", enc(&exact))).await,
        vec![t_c_pot, t_c_tea, t_b_tea]
    );
    assert_eq!(
        listed(&app, &admin, &format!("{all}?to={}", enc(&exact))).await,
        vec![t_a_cups, t_a_tea_old]
    );
    // Filters combine.
    assert_eq!(
        listed(
            &app,
            &admin,
            &format!("{all}?owner_id={rep1}&product=Tea&from={}", enc(&from))
        )
        .await,
        vec![t_b_tea]
    );
    assert_eq!(
        listed(&app, &admin, &format!("{all}?customer_id={c}&product=Tea")).await,
        vec![t_c_tea]
    );
    // Filters that match nothing give an empty page, not an error.
    assert!(listed(&app, &admin, &format!("{all}?owner_id=999999"))
        .await
        .is_empty());
    assert!(listed(&app, &admin, &format!("{all}?customer_id=999999"))
        .await
        .is_empty());
    assert!(listed(&app, &admin, &format!("{all}?product=Coffee"))
        .await
        .is_empty());
}

async fn sorts_order_the_list(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin, json!({"kind": "individual", "name": "A"})).await;
    // Ids grow while occurred_at goes back and forth.
    let t1 = record(
        &app,
        &admin,
        c,
        json!({"amount_cents": 1, "product": "Tea", "occurred_at": days_ago(2, 0)}),
    )
    .await;
    let t2 = record(
        &app,
        &admin,
        c,
        json!({"amount_cents": 1, "product": "Tea", "occurred_at": days_ago(9, 0)}),
    )
    .await;
    let t3 = record(
        &app,
        &admin,
        c,
        json!({"amount_cents": 1, "product": "Tea", "occurred_at": days_ago(5, 0)}),
    )
    .await;
    let path = txs(c);
    assert_eq!(
        listed(&app, &admin, &format!("{path}?sort=occurred_at")).await,
        vec![t2, t3, t1]
    );
    assert_eq!(
        listed(&app, &admin, &format!("{path}?sort=-occurred_at")).await,
        vec![t1, t3, t2]
    );
    assert_eq!(
        listed(&app, &admin, &format!("{path}?sort=id")).await,
        vec![t1, t2, t3]
    );
    assert_eq!(
        listed(&app, &admin, &format!("{path}?sort=-id")).await,
        vec![t3, t2, t1]
    );
    assert_eq!(
        listed(&app, &admin, "/api/v1/transactions?sort=occurred_at").await,
        vec![t2, t3, t1]
    );
}

/// Walks `path` (with `sort`) in pages of 2; `insert`, when given, is
/// recorded (for the customer of `path`) after the first page. Returns every
/// id seen, in order.
async fn walk(
    app: &TestApp,
    token: &str,
    path: &str,
    sort: &str,
    insert: Option<Value>,
) -> Vec<i64> {
    let customer_id: i64 = path
        .trim_start_matches("/api/v1/customers/")
        .split('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?sort={sort}&limit=2&cursor={}", enc(c)),
            None => format!("{path}?sort={sort}&limit=2"),
        };
        let r = app.get(&url, token).await;
        let ids = ids_of(&r);
        assert!(ids.len() <= 2, "{}", r.text);
        seen.extend(ids);
        pages += 1;
        assert!(pages < 50, "the walk does not end");
        if pages == 1 {
            if let Some(body) = &insert {
                record(app, token, customer_id, body.clone()).await;
            }
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    seen
}

async fn paginated_walk_has_no_duplicates_or_losses_while_inserting(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin, json!({"kind": "individual", "name": "A"})).await;
    // Seven transactions, three of them at the very same instant.
    let same = days_ago(3, 0);
    let mut ids = Vec::new();
    for when in [
        days_ago(8, 0),
        same.clone(),
        days_ago(1, 0),
        same.clone(),
        days_ago(6, 0),
        same.clone(),
        days_ago(2, 0),
    ] {
        ids.push(
            record(
                &app,
                &admin,
                c,
                json!({"amount_cents": 1, "product": "Tea", "occurred_at": when}),
            )
            .await,
        );
    }
    let path = txs(c);
    for sort in ["-occurred_at", "occurred_at", "id", "-id"] {
        let full = listed(&app, &admin, &format!("{path}?sort={sort}")).await;
        // Without inserts, the walk is exactly the full list.
        let walked = walk(&app, &admin, &path, sort, None).await;
        assert_eq!(walked, full, "walk of {sort}");
        // With an insert after the first page (one older and one newer than
        // everything, alternately), nothing is lost or repeated.
        let when = if sort.contains("id") {
            days_ago(0, 60)
        } else {
            days_ago(20, 0)
        };
        let walked = walk(
            &app,
            &admin,
            &path,
            sort,
            Some(json!({"amount_cents": 1, "product": "Tea", "occurred_at": when})),
        )
        .await;
        let mut unique = walked.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            walked.len(),
            "duplicates in {sort}: {walked:?}"
        );
        for id in &full {
            assert!(walked.contains(id), "{id} lost in {sort}: {walked:?}");
        }
        // The walk keeps the order of the list.
        let after = listed(&app, &admin, &format!("{path}?sort={sort}")).await;
        let in_order: Vec<i64> = after
            .iter()
            .copied()
            .filter(|i| walked.contains(i))
            .collect();
        assert_eq!(walked, in_order, "order of {sort}");
    }
    // The same on /transactions.
    let walked = walk(&app, &admin, "/api/v1/transactions", "-occurred_at", None).await;
    assert_eq!(
        walked,
        listed(&app, &admin, "/api/v1/transactions?sort=-occurred_at").await
    );
    assert_eq!(walked.len(), ids.len() + 4);
}

async fn bad_query_parameters_are_400(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin, json!({"kind": "individual", "name": "A"})).await;
    record(
        &app,
        &admin,
        c,
        json!({"amount_cents": 1, "product": "Tea"}),
    )
    .await;
    record(
        &app,
        &admin,
        c,
        json!({"amount_cents": 1, "product": "Tea"}),
    )
    .await;
    for path in [txs(c), "/api/v1/transactions".to_string()] {
        for (query, field) in [
            ("sort=amount", "sort"),
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("limit=ten", "limit"),
            ("from=yesterday", "from"),
            ("to=2026-13-01", "to"),
            ("owner_id=me", "owner_id"),
            ("customer_id=x", "customer_id"),
            ("cursor=garbage", "cursor"),
            ("colour=red", "colour"),
        ] {
            let r = app.get(&format!("{path}?{query}"), &admin).await;
            assert_400_naming(&r, field);
        }
        // A cursor made for another sort.
        let r = app.get(&format!("{path}?limit=1&sort=id"), &admin).await;
        let cursor = r.body["next_cursor"].as_str().unwrap().to_string();
        let r = app
            .get(
                &format!("{path}?limit=1&sort=-occurred_at&cursor={}", enc(&cursor)),
                &admin,
            )
            .await;
        assert_400_naming(&r, "cursor");
    }
}

async fn role_rules_for_transactions(app: TestApp) {
    let admin = app.admin_token().await;
    let (rep_id, rep) = app.user_with_role("sales").await;
    let (_, other_rep) = app.user_with_role("sales").await;
    let (_, viewer) = app.user_with_role("viewer").await;
    let (_, manager) = app.user_with_role("manager").await;
    let mine = customer(
        &app,
        &admin,
        json!({"kind": "individual", "name": "Mine", "owner_id": rep_id}),
    )
    .await;
    let body = json!({"amount_cents": 100, "product": "Tea"});
    let t = record(&app, &admin, mine, body.clone()).await;

    // No token: 401.
    app.get(&txs(mine), "").await.problem(401);
    app.get("/api/v1/transactions", "").await.problem(401);
    app.post(&txs(mine), "", &body).await.problem(401);

    // A viewer reads but never writes.
    assert_eq!(app.get(&txs(mine), &viewer).await.status, 200);
    assert_eq!(app.get("/api/v1/transactions", &viewer).await.status, 200);
    assert_eq!(app.get(&tx(mine, t), &viewer).await.status, 200);
    app.post(&txs(mine), &viewer, &body).await.problem(403);
    app.patch(&tx(mine, t), &viewer, &json!({"notes": "x"}))
        .await
        .problem(403);
    app.delete(&tx(mine, t), &viewer).await.problem(403);

    // A sales rep writes only for the customers they own.
    let own = record(&app, &rep, mine, body.clone()).await;
    let r = app
        .patch(&tx(mine, own), &rep, &json!({"notes": "ok"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.post(&txs(mine), &other_rep, &body).await.problem(403);
    app.patch(&tx(mine, t), &other_rep, &json!({"notes": "x"}))
        .await
        .problem(403);
    app.delete(&tx(mine, t), &other_rep).await.problem(403);
    // ... and reads everyone's.
    assert_eq!(app.get(&tx(mine, t), &other_rep).await.status, 200);
    assert_eq!(listed(&app, &other_rep, &txs(mine)).await.len(), 2);

    // A manager writes for any customer.
    let r = app
        .patch(&tx(mine, t), &manager, &json!({"notes": "m"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Nothing the refused calls tried was recorded.
    let g = app.get(&tx(mine, t), &admin).await;
    assert_eq!(g.body["notes"], json!("m"));
    assert_eq!(g.body["version"], json!(2));
    let r = app.delete(&tx(mine, own), &rep).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(listed(&app, &admin, &txs(mine)).await, vec![t]);
}
