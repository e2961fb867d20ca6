//! Instants out of the years both engines store alike: a request with one
//! is refused naming the field (it was a 500 on PostgreSQL, which refuses
//! such years, and on SQLite was stored as text that sorts wrongly).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    stored_instants_are_in_the_years_1900_to_9999,
    query_instants_are_in_the_years_0001_to_9999,
    forged_cursors_with_bad_keys_are_refused,
    bounds_finer_than_a_microsecond_compare_exactly,
    leap_seconds_are_refused_naming_the_field,
    dates_and_instants_are_read_only_in_the_rfc_3339_forms,
);

/// Found by a review: chrono reads a second of 60 at any minute; a stored
/// one made SQLite's monthly sales report a 500 (`strftime` gives NULL) and
/// came back in a form clients' RFC 3339 parsers refuse.
async fn leap_seconds_are_refused_naming_the_field(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Leap"}))
        .await
        .id();
    let card = format!("/api/v1/customers/{c}");
    for at in [
        "2025-03-10T08:30:60Z",
        "2016-12-31T23:59:60Z",
        "2025-03-10T08:30:60.5+08:00",
    ] {
        let r = app
            .post(
                &format!("{card}/transactions"),
                &token,
                &json!({"amount_cents": 1, "product": "x", "occurred_at": at}),
            )
            .await;
        r.problem(422);
        assert_eq!(r.code_of("occurred_at"), "leap_second", "{at}: {}", r.text);
        let r = app
            .post(
                &format!("{card}/interactions"),
                &token,
                &json!({"type": "call", "summary": "x", "follow_up_at": at}),
            )
            .await;
        r.problem(422);
        assert_eq!(r.code_of("follow_up_at"), "leap_second", "{at}: {}", r.text);
    }
    let r = app
        .post(
            "/api/v1/transactions/bulk",
            &token,
            &json!({"items": [{"external_id": "LEAP-1", "customer_id": c, "amount_cents": 1,
                               "product": "x", "occurred_at": "2025-03-10T08:30:60Z"}]}),
        )
        .await;
    assert_eq!(r.body["items"][0]["status"], "error", "{}", r.text);
    assert_eq!(
        r.body["items"][0]["errors"][0]["field"], "occurred_at",
        "{}",
        r.text
    );
    for (path, field) in [
        (
            "/api/v1/customers?updated_since=2025-03-10T08:30:60Z",
            "updated_since",
        ),
        ("/api/v1/transactions?from=2025-03-10T08:30:60Z", "from"),
        ("/api/v1/analytics/sales?from=2025-03-10T08:30:60Z", "from"),
        ("/api/v1/analytics/overview?to=2025-03-10T08:30:60Z", "to"),
    ] {
        let r = app.get(path, &token).await;
        r.problem(400);
        assert_eq!(r.code_of(field), "leap_second", "{path}: {}", r.text);
        // Only the parameter sent: a default derived from it is not named.
        assert_eq!(r.error_fields(), [field], "{path}: {}", r.text);
    }
    // Nothing was stored: the report still answers.
    let r = app.get("/api/v1/analytics/sales", &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Instants are stored to the microsecond; a query's bound may be finer. A
/// row stored at `…t` is before a bound `…t + 0.5 µs` on both engines
/// (PostgreSQL truncated the bound to `…t` and took the row).
async fn bounds_finer_than_a_microsecond_compare_exactly(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Fine"}))
        .await
        .id();
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/transactions"),
            &token,
            &json!({"amount_cents": 700, "product": "Tea", "occurred_at": "2026-06-01T10:00:00.123456Z"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let card = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    let updated: chrono::DateTime<chrono::Utc> = card.body["updated_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{}", card.text));
    let at = updated.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    let ids = |r: &crate::helpers::Resp| -> Vec<i64> {
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["items"]
            .as_array()
            .map(|items| items.iter().filter_map(|i| i["id"].as_i64()).collect())
            .unwrap_or_default()
    };
    let list = |since: String| {
        let (app, token) = (&app, &token);
        async move {
            app.get(&format!("/api/v1/customers?updated_since={since}"), token)
                .await
        }
    };
    assert_eq!(ids(&list(format!("{at}Z")).await), [c]);
    assert_eq!(ids(&list(format!("{at}500Z")).await), Vec::<i64>::new());
    assert_eq!(ids(&list(format!("{at}000Z")).await), [c]);

    let revenue = |from: &str, to: &str| {
        let (app, token) = (&app, &token);
        let path = format!("/api/v1/analytics/sales?from={from}&to={to}");
        async move {
            let r = app.get(&path, token).await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["revenue_cents"].as_i64().unwrap_or(-1)
        }
    };
    let (before, sale, half_after, after) = (
        "2026-06-01T09:00:00Z",
        "2026-06-01T10:00:00.123456Z",
        "2026-06-01T10:00:00.1234565Z",
        "2026-06-01T11:00:00Z",
    );
    assert_eq!(revenue(sale, after).await, 700);
    assert_eq!(
        revenue(half_after, after).await,
        0,
        "from is after the sale"
    );
    assert_eq!(
        revenue(before, half_after).await,
        700,
        "to is after the sale"
    );
    assert_eq!(revenue(before, sale).await, 0, "to is exclusive");
    // The same in the lists of records.
    let listed = |query: String| {
        let (app, token) = (&app, &token);
        async move {
            let r = app
                .get(&format!("/api/v1/transactions?{query}"), token)
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["items"].as_array().map_or(0, Vec::len)
        }
    };
    assert_eq!(listed(format!("from={sale}")).await, 1);
    assert_eq!(listed(format!("from={half_after}")).await, 0);
    assert_eq!(listed(format!("to={half_after}")).await, 1);
    assert_eq!(listed(format!("to={sale}")).await, 0);
}

async fn stored_instants_are_in_the_years_1900_to_9999(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Dates"}))
        .await
        .id();
    let sales = format!("/api/v1/customers/{c}/transactions");
    for bad in [
        "-5000-01-01T00:00:00Z",
        "1899-12-31T23:59:59Z",
        "0000-01-01T00:00:00Z",
    ] {
        let r = app
            .post(
                &sales,
                &token,
                &json!({"amount_cents": 1, "product": "x", "occurred_at": bad}),
            )
            .await;
        r.problem(422);
        assert_eq!(r.error_fields(), ["occurred_at"], "{bad}: {}", r.text);
    }
    let r = app
        .post(
            &sales,
            &token,
            &json!({"amount_cents": 1, "product": "x", "occurred_at": "1900-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let contacts = format!("/api/v1/customers/{c}/interactions");
    let r = app
        .post(
            &contacts,
            &token,
            &json!({"type": "call", "summary": "x", "follow_up_at": "+10000-01-01T00:00:00Z",
                    "occurred_at": "-0001-01-01T00:00:00Z"}),
        )
        .await;
    r.problem(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["follow_up_at", "occurred_at"], "{}", r.text);
    let r = app
        .post(&contacts, &token, &json!({"type": "call", "summary": "x"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let one = format!("{contacts}/{}", r.id());
    let r = app
        .patch(
            &one,
            &token,
            &json!({"follow_up_at": "9999-12-31T23:59:59-23:59"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["follow_up_at"], "{}", r.text);

    // A bulk item: its own error; the good item beside it is written.
    let r = app
        .post(
            "/api/v1/transactions/bulk",
            &token,
            &json!({"items": [
                {"external_id": "T-OLD", "customer_id": c, "amount_cents": 1, "product": "x",
                 "occurred_at": "-5000-01-01T00:00:00Z"},
                {"external_id": "T-OK", "customer_id": c, "amount_cents": 1, "product": "x"}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"][0]["status"], "error", "{}", r.text);
    assert_eq!(r.body["items"][0]["errors"][0]["field"], "occurred_at");
    assert_eq!(r.body["items"][1]["status"], "created", "{}", r.text);
    let card = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(card.body["purchase_count"], 2, "{}", card.text);
    assert_eq!(card.body["first_purchase_at"], "1900-01-01T00:00:00Z");
}

async fn query_instants_are_in_the_years_0001_to_9999(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Filters"}))
        .await
        .id();
    // Year 0000, and an instant of 9999 that falls in 10000 in UTC (a year
    // of more than four digits is not the RFC 3339 form: a type error).
    let (old, late) = ("0000-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59");
    let r = app
        .get(
            &format!("/api/v1/customers?updated_since={old}&last_contact_before={late}&last_purchase_after={old}"),
            &token,
        )
        .await;
    r.problem(400);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "last_contact_before",
            "last_purchase_after",
            "updated_since"
        ]
    );
    for (path, fields) in [
        (
            format!("/api/v1/transactions?from={old}&to={late}"),
            vec!["from", "to"],
        ),
        (
            format!("/api/v1/interactions?follow_up_before={late}&updated_since={old}"),
            vec!["follow_up_before", "updated_since"],
        ),
        (
            format!("/api/v1/customers/{c}/contacts?updated_since={old}"),
            vec!["updated_since"],
        ),
        (
            format!("/api/v1/customers/{c}/needs?updated_since={late}"),
            vec!["updated_since"],
        ),
        (
            format!("/api/v1/surveys?updated_since={old}"),
            vec!["updated_since"],
        ),
        (
            format!("/api/v1/users?updated_since={old}"),
            vec!["updated_since"],
        ),
        (
            format!("/api/v1/segments?updated_since={old}"),
            vec!["updated_since"],
        ),
        (
            format!("/api/v1/account-plans?updated_since={old}"),
            vec!["updated_since"],
        ),
    ] {
        let r = app.get(&path, &token).await;
        r.problem(400);
        assert_eq!(r.error_fields(), fields, "{path}: {}", r.text);
    }
    // A report's period is clamped to them instead: "since ever".
    for path in [
        format!("/api/v1/analytics/cpr?from={old}"),
        format!("/api/v1/analytics/sales?from={old}&to={late}"),
    ] {
        let r = app.get(&path, &token).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
    // A `to` in year 1: the default start (12 months before) is clamped to
    // year 1 as well, not answered as year 0.
    for report in ["funnel", "sales", "overview", "churn", "cpr"] {
        let path = format!("/api/v1/analytics/{report}?to=0001-06-01T00:00:00Z");
        let r = app.get(&path, &token).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(r.body["from"], "0001-01-01T00:00:00Z", "{path}: {}", r.text);
    }
    // A `to` at the very start: an empty period, not a 400 blaming a `from`
    // that was not sent.
    let r = app
        .get("/api/v1/analytics/sales?to=0001-01-01T00:00:00Z", &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The first and last four-digit years are fine (0001: "since always").
    let r = app
        .get(
            "/api/v1/customers?updated_since=0001-01-01T00:00:00Z&last_contact_before=9999-12-31T23:59:59Z",
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .get("/api/v1/transactions?from=0001-01-01T00:00:00Z", &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Cursors are opaque, but a client can forge one: a key with a NUL or an
/// instant PostgreSQL refuses is a 400, not a statement that fails.
async fn forged_cursors_with_bad_keys_are_refused(app: TestApp) {
    let token = app.admin_token().await;
    let forge = |list: &str, sort: &str, key: serde_json::Value| {
        let cursor = json!({"l": list, "s": sort, "k": key, "id": 1});
        URL_SAFE_NO_PAD.encode(cursor.to_string())
    };
    for (path, cursor) in [
        (
            "/api/v1/customers?sort=name",
            forge("customers", "name", json!("a\u{0}")),
        ),
        (
            "/api/v1/customers?sort=-updated_at",
            forge("customers", "-updated_at", json!("-5000-01-01T00:00:00")),
        ),
        (
            "/api/v1/transactions?sort=-occurred_at",
            forge(
                "transactions",
                "-occurred_at",
                json!("+10000-01-01T00:00:00"),
            ),
        ),
        (
            "/api/v1/interactions?sort=-occurred_at",
            forge(
                "interactions",
                "-occurred_at",
                json!("-0001-01-01T00:00:00"),
            ),
        ),
    ] {
        let r = app.get(&format!("{path}&cursor={cursor}"), &token).await;
        r.problem(400);
        assert_eq!(r.error_fields(), ["cursor"], "{path}: {}", r.text);
    }
}

/// Found by a review: chrono's readers took `+2026-1-1`, ` 2026-12-31` and
/// `2026-01-05T0:0:0Z` and stored them normalized, while `02026-01-01` was
/// refused. A date is `YYYY-MM-DD`, an instant RFC 3339's `date-time`;
/// anything else is the type error of any malformed value, naming the field
/// (422 in a body or bulk item, 400 in a query).
async fn dates_and_instants_are_read_only_in_the_rfc_3339_forms(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Forms"}))
        .await
        .id();
    let type_error = |r: &crate::helpers::Resp, field: &str, what: &str| {
        assert_eq!(r.code_of(field), "invalid_type", "{what}: {}", r.text);
        assert!(r.text.contains("RFC 3339"), "{what}: {}", r.text);
    };
    let bad_dates = [
        "+2026-1-1",
        "2026-2-3",
        " 2026-12-31",
        "2026-12-31 ",
        "+02026-01-01",
        "02026-01-01",
        "-2026-01-01",
    ];
    for bad in bad_dates {
        let r = app
            .post(
                "/api/v1/customers",
                &token,
                &json!({"kind": "individual", "name": "Born", "birthday": bad.replace("2026", "1990")}),
            )
            .await;
        r.problem(422);
        type_error(&r, "birthday", bad);
        let r = app
            .post(
                "/api/v1/account-plans",
                &token,
                &json!({"customer_id": c, "objective": "r", "period_start": bad,
                        "period_end": bad, "budget_cents": 0}),
            )
            .await;
        r.problem(422);
        type_error(&r, "period_start", bad);
        type_error(&r, "period_end", bad);
        let r = app
            .post(
                "/api/v1/account-plans/1/actions",
                &token,
                &json!({"type": "peak_supply", "due_date": bad}),
            )
            .await;
        r.problem(422);
        type_error(&r, "due_date", bad);
        let r = app
            .patch(
                &format!("/api/v1/customers/{c}"),
                &token,
                &json!({"birthday": bad.replace("2026", "1990")}),
            )
            .await;
        r.problem(422);
        type_error(&r, "birthday", bad);
    }
    let bad_instants = [
        "2026-01-05T0:0:0Z",
        "+2026-01-05T00:00:00Z",
        " 2026-01-05T00:00:00Z",
        "2026-01-05T00:00:00Z ",
        "2026-01-05 00:00:00Z",
        "2026-1-5T00:00:00Z",
        "02026-01-05T00:00:00Z",
        "2026-01-05T00:00:00",
        "2026-01-05T00:00:00UTC",
        "2026-01-05T00:00:00+0800",
        "2026-01-05",
    ];
    let interactions = format!("/api/v1/customers/{c}/interactions");
    let orders = format!("/api/v1/customers/{c}/transactions");
    for bad in bad_instants {
        let r = app
            .post(
                &interactions,
                &token,
                &json!({"type": "call", "summary": "x", "occurred_at": bad, "follow_up_at": bad}),
            )
            .await;
        r.problem(422);
        type_error(&r, "occurred_at", bad);
        type_error(&r, "follow_up_at", bad);
        let r = app
            .post(
                &orders,
                &token,
                &json!({"amount_cents": 1, "product": "x", "occurred_at": bad}),
            )
            .await;
        r.problem(422);
        type_error(&r, "occurred_at", bad);
        let r = app
            .post(
                "/api/v1/transactions/bulk",
                &token,
                &json!({"items": [{"external_id": "F-1", "customer_id": c, "amount_cents": 1,
                                   "product": "x", "occurred_at": bad}]}),
            )
            .await;
        assert_eq!(r.body["items"][0]["status"], "error", "{bad}: {}", r.text);
        assert_eq!(
            r.body["items"][0]["errors"][0]["code"], "invalid_type",
            "{bad}: {}",
            r.text
        );
        let encoded: String = form_urlencoded::byte_serialize(bad.as_bytes()).collect();
        for (path, field) in [
            (format!("/api/v1/analytics/sales?from={encoded}"), "from"),
            (format!("/api/v1/analytics/overview?to={encoded}"), "to"),
            (
                format!("/api/v1/customers?last_purchase_before={encoded}"),
                "last_purchase_before",
            ),
            (
                format!("/api/v1/transactions?updated_since={encoded}"),
                "updated_since",
            ),
        ] {
            let r = app.get(&path, &token).await;
            r.problem(400);
            type_error(&r, field, &path);
        }
    }
    // Nothing of the above was stored.
    let r = app.get(&orders, &token).await;
    assert_eq!(r.body["items"], json!([]), "{}", r.text);

    // The RFC 3339 forms: `t` and `z` in either case, any fraction, an offset.
    for (at, stored) in [
        ("2026-01-05t08:30:00z", "2026-01-05T08:30:00Z"),
        ("2026-01-05T08:30:00.5+08:00", "2026-01-05T00:30:00.500Z"),
    ] {
        let r = app
            .post(
                &orders,
                &token,
                &json!({"amount_cents": 1, "product": "x", "occurred_at": at}),
            )
            .await;
        assert_eq!(r.status, 201, "{at}: {}", r.text);
        assert_eq!(r.body["occurred_at"], stored, "{at}");
    }
    let r = app
        .patch(
            &format!("/api/v1/customers/{c}"),
            &token,
            &json!({"birthday": "1990-02-03"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["birthday"], "1990-02-03");
    let r = app
        .get(
            "/api/v1/analytics/sales?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00%2B08:00",
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A date or time not in the calendar stays `invalid_value`.
    let r = app
        .post(
            &interactions,
            &token,
            &json!({"type": "call", "summary": "x", "occurred_at": "2026-02-30T00:00:00Z",
                    "follow_up_at": "2026-01-05T24:00:00Z"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.code_of("occurred_at"), "invalid_value", "{}", r.text);
    assert_eq!(r.code_of("follow_up_at"), "invalid_value", "{}", r.text);
}
