//! `POST /customers/bulk`: upsert by external_id, partial and atomic modes.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp};

pub async fn bulk(app: &TestApp, path: &str, token: &str, body: &Value, key: Option<&str>) -> Resp {
    let mut req = app.client.post(app.url(path)).bearer_auth(token).json(body);
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    app.send(req).await
}

/// Each bulk item's `status`, in order.
pub fn statuses(r: &Resp) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {}", r.text))
        .iter()
        .map(|i| i["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn customer_count(app: &TestApp, token: &str) -> usize {
    let r = app.get("/api/v1/customers?limit=500", token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().map(Vec::len).unwrap_or_default()
}

async fn creates_updates_and_leaves_unchanged(app: TestApp) {
    let token = app.admin_token().await;
    let body = json!({"items": [
        {"external_id": "ERP-1", "kind": "organization", "name": "杭州华康贸易有限公司", "tags": ["b", "a"]},
        {"external_id": "ERP-2", "kind": "individual", "name": "王芳"}
    ]});
    let r = bulk(&app, "/api/v1/customers/bulk", &token, &body, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(statuses(&r), ["created", "created"]);
    assert_eq!(r.body["items"][1]["index"], 1);
    assert_eq!(r.body["items"][0]["version"], 1);
    let id0 = r.body["items"][0]["id"].as_i64().unwrap();
    let card = app.get(&format!("/api/v1/customers/{id0}"), &token).await;
    assert_eq!(card.body["name"], "杭州华康贸易有限公司");
    assert_eq!(card.body["external_id"], "ERP-1");
    assert_eq!(card.body["tags"], json!(["a", "b"]));
    let history = app
        .get(&format!("/api/v1/customers/{id0}/history"), &token)
        .await;

    // The same state again: nothing written, no version bump.
    let again = bulk(&app, "/api/v1/customers/bulk", &token, &body, None).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(statuses(&again), ["unchanged", "unchanged"]);
    assert_eq!(again.body["items"][0]["id"], id0);
    assert_eq!(again.body["items"][0]["version"], 1);
    let card2 = app.get(&format!("/api/v1/customers/{id0}"), &token).await;
    assert_eq!(card2.body["version"], 1);
    assert_eq!(card2.body["updated_at"], card.body["updated_at"]);
    let history2 = app
        .get(&format!("/api/v1/customers/{id0}/history"), &token)
        .await;
    assert_eq!(
        history2.body, history.body,
        "no history event for unchanged"
    );

    // Only the fields sent change; a changed one updates with a new version.
    let change = json!({"items": [
        {"external_id": "ERP-1", "region": "Hangzhou"},
        {"external_id": "ERP-2", "name": "王芳"},
        {"external_id": "ERP-3", "kind": "individual", "name": "李雷"}
    ]});
    let r = bulk(&app, "/api/v1/customers/bulk", &token, &change, None).await;
    assert_eq!(
        statuses(&r),
        ["updated", "unchanged", "created"],
        "{}",
        r.text
    );
    assert_eq!(r.body["items"][0]["version"], 2);
    let card3 = app.get(&format!("/api/v1/customers/{id0}"), &token).await;
    assert_eq!(card3.body["region"], "Hangzhou");
    assert_eq!(card3.body["name"], "杭州华康贸易有限公司");
    assert_eq!(card3.body["version"], 2);
    assert_eq!(customer_count(&app, &token).await, 3);
}

async fn later_item_updates_what_an_earlier_created(app: TestApp) {
    let token = app.admin_token().await;
    let body = json!({"items": [
        {"external_id": "DUP", "kind": "individual", "name": "First"},
        {"external_id": "DUP", "name": "Second"}
    ]});
    let r = bulk(&app, "/api/v1/customers/bulk", &token, &body, None).await;
    assert_eq!(statuses(&r), ["created", "updated"], "{}", r.text);
    assert_eq!(r.body["items"][0]["id"], r.body["items"][1]["id"]);
    let id = r.body["items"][0]["id"].as_i64().unwrap();
    let card = app.get(&format!("/api/v1/customers/{id}"), &token).await;
    assert_eq!(card.body["name"], "Second");
    assert_eq!(card.body["version"], 2);
}

async fn bad_items_fail_alone(app: TestApp) {
    let token = app.admin_token().await;
    let body = json!({"items": [
        {"external_id": "G-1", "kind": "individual", "name": "Good one"},
        {"external_id": "B-1", "kind": "individual", "name": "  ", "email": "not-an-email"},
        {"external_id": "G-2", "kind": "organization", "name": "Good two"},
        {"kind": "individual", "name": "No key"},
        {"external_id": "B-2", "kind": "alien", "name": "Bad kind"},
        {"external_id": "B-3", "kind": "individual", "name": "x", "shoe_size": 42},
        "not an object",
        {"external_id": "B-4", "kind": "individual", "name": "Bad owner", "owner_id": 99999},
        {"external_id": 17, "kind": "individual", "name": "Numeric key"},
        {"external_id": "B-5", "kind": "individual", "name": "Bad link", "gender": "x", "acquisition_source": "referral"},
        {"external_id": "B-6", "kind": "individual", "name": "Bell\u{7}", "tags": ["ok", "esc\u{1b}"], "employees": "many"}
    ]});
    let r = bulk(&app, "/api/v1/customers/bulk", &token, &body, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        statuses(&r),
        [
            "created", "error", "created", "error", "error", "error", "error", "error", "error",
            "error", "error"
        ]
    );
    let fields = |i: usize| -> Vec<String> {
        r.body["items"][i]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(fields(1), ["email", "name"]);
    assert_eq!(fields(3), ["external_id"]);
    assert_eq!(fields(4), ["kind"]);
    assert_eq!(fields(5), ["shoe_size"]);
    assert_eq!(fields(6), ["item"]);
    assert_eq!(fields(7), ["owner_id"]);
    assert_eq!(fields(8), ["external_id"]);
    assert_eq!(fields(9), ["gender", "source_customer_id"]);
    // A control character is the item's error, with its other errors.
    assert_eq!(fields(10), ["employees", "name", "tags[1]"]);
    assert!(r.body["items"][1]["id"].is_null());
    assert_eq!(r.body["items"][1]["index"], 1);
    assert_eq!(customer_count(&app, &token).await, 2);
}

async fn all_or_none_applies_nothing_on_failure(app: TestApp) {
    let token = app.admin_token().await;
    let first = json!({"items": [{"external_id": "A-1", "kind": "individual", "name": "Before"}]});
    let r = bulk(&app, "/api/v1/customers/bulk", &token, &first, None).await;
    let id = r.body["items"][0]["id"].as_i64().unwrap();
    let body = json!({"items": [
        {"external_id": "A-1", "name": "After"},
        {"external_id": "A-2", "kind": "individual", "name": "New"},
        {"external_id": "A-3", "kind": "individual", "name": ""}
    ]});
    let r = bulk(
        &app,
        "/api/v1/customers/bulk?all_or_none=true",
        &token,
        &body,
        None,
    )
    .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["items[2].name"]);
    assert_eq!(statuses(&r), ["skipped", "skipped", "error"]);
    assert_eq!(r.body["items"][2]["errors"][0]["field"], "name");
    assert!(r.body["items"][1]["id"].is_null());
    let card = app.get(&format!("/api/v1/customers/{id}"), &token).await;
    assert_eq!(card.body["name"], "Before");
    assert_eq!(card.body["version"], 1);
    assert_eq!(customer_count(&app, &token).await, 1);
    // An item wrong as a whole is `items[i]` (it was `items[1].item`, a
    // field no item has; a review); a body wrong as a whole is "the body".
    let whole = json!({"items": [{"external_id": "A-1", "name": "After"}, 5]});
    let w = bulk(
        &app,
        "/api/v1/customers/bulk?all_or_none=true",
        &token,
        &whole,
        None,
    )
    .await;
    w.problem(422);
    assert_eq!(w.error_fields(), ["items[1]"], "{}", w.text);
    let w = bulk(&app, "/api/v1/customers/bulk", &token, &json!([]), None).await;
    let problem = w.problem(422);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("the body is invalid: ")),
        "{}",
        w.text
    );
    // The same batch fixed goes through atomically.
    let fixed = json!({"items": [
        {"external_id": "A-1", "name": "After"},
        {"external_id": "A-2", "kind": "individual", "name": "New"}
    ]});
    let r = bulk(
        &app,
        "/api/v1/customers/bulk?all_or_none=true",
        &token,
        &fixed,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(statuses(&r), ["updated", "created"]);
    assert_eq!(customer_count(&app, &token).await, 2);
}

async fn request_rules(app: TestApp) {
    let token = app.admin_token().await;
    let path = "/api/v1/customers/bulk";
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"external_id": format!("X-{i}"), "kind": "individual", "name": "x"}))
        .collect();
    bulk(&app, path, &token, &json!({"items": many}), None)
        .await
        .problem(413);
    let r = bulk(&app, path, &token, &json!({"items": []}), None).await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["items"]);
    let r = bulk(&app, path, &token, &json!({"things": []}), None).await;
    r.problem(422);
    let r = bulk(
        &app,
        &format!("{path}?all_or_none=maybe"),
        &token,
        &json!({"items": [{}]}),
        None,
    )
    .await;
    r.problem(400);
    assert_eq!(r.error_fields(), ["all_or_none"]);
    app.post_raw(path, &token, "text/plain", "{}")
        .await
        .problem(415);
    app.post_raw(path, &token, "application/json", "{\"items\": [")
        .await
        .problem(400);
    let huge = "x".repeat(9 * 1024 * 1024);
    app.post_raw(path, &token, "application/json", &huge)
        .await
        .problem(413);
    // Values are counted before the body is parsed into memory: 250,000
    // tiny items (0.5 MB) were 250,000 values built before the item cap, or
    // before the unknown field's 422 (a review), on either bulk endpoint.
    let tiny = format!("{{\"items\": [{}0], \"bogus\": 1}}", "0,".repeat(249_999));
    // A byte order mark first, which the parse skips, is skipped by the
    // count too (a review: the count stopped at it and let the body by).
    let marked = format!("{}{tiny}", '\u{feff}');
    for (path, tiny) in [
        (path, &tiny),
        ("/api/v1/transactions/bulk", &tiny),
        (path, &marked),
    ] {
        let r = app.post_raw(path, &token, "application/json", tiny).await;
        let problem = r.problem(413);
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("more than 200000 JSON values")),
            "{path}: {}",
            r.text
        );
    }
    let orders: Vec<Value> = (0..1001)
        .map(|i| json!({"external_id": format!("O-{i}"), "customer_external_id": "C", "amount_cents": 1, "product": "x"}))
        .collect();
    bulk(
        &app,
        "/api/v1/transactions/bulk",
        &token,
        &json!({"items": orders}),
        None,
    )
    .await
    .problem(413);
    let (_, viewer) = app.user_with_role("viewer").await;
    bulk(
        &app,
        path,
        &viewer,
        &json!({"items": [{"external_id": "V", "kind": "individual", "name": "v"}]}),
        None,
    )
    .await
    .problem(403);
    bulk(&app, path, "", &json!({"items": []}), None)
        .await
        .problem(401);
    assert_eq!(customer_count(&app, &token).await, 0);
    // Exactly 1,000 is fine.
    let thousand: Vec<Value> = (0..1000)
        .map(|i| json!({"external_id": format!("T-{i}"), "kind": "individual", "name": format!("n{i}")}))
        .collect();
    let r = bulk(&app, path, &token, &json!({"items": thousand}), None).await;
    assert_eq!(r.status, 200, "{}", &r.text[..200.min(r.text.len())]);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1000);
}

async fn sales_users_write_only_their_own(app: TestApp) {
    let admin = app.admin_token().await;
    let (sales_id, sales) = app.user_with_role("sales").await;
    let theirs = bulk(
        &app,
        "/api/v1/customers/bulk",
        &admin,
        &json!({"items": [{"external_id": "OTHER", "kind": "individual", "name": "Admin's"}]}),
        None,
    )
    .await;
    assert_eq!(statuses(&theirs), ["created"]);
    let r = bulk(
        &app,
        "/api/v1/customers/bulk",
        &sales,
        &json!({"items": [
            {"external_id": "MINE", "kind": "individual", "name": "Mine"},
            {"external_id": "OTHER", "name": "Taken over"}
        ]}),
        None,
    )
    .await;
    assert_eq!(statuses(&r), ["created", "error"], "{}", r.text);
    assert_eq!(r.body["items"][1]["errors"][0]["code"], "forbidden");
    let id = r.body["items"][0]["id"].as_i64().unwrap();
    let card = app.get(&format!("/api/v1/customers/{id}"), &admin).await;
    assert_eq!(card.body["owner_id"], sales_id);

    // A colleague's card sent back as it is (an export re-imported) is
    // `unchanged`, on the set-based pass and on the per-item one (a batch
    // naming a key twice); only a change is `forbidden`.
    let same = json!({"external_id": "OTHER", "kind": "individual", "name": "Admin's"});
    let r = bulk(
        &app,
        "/api/v1/customers/bulk",
        &sales,
        &json!({"items": [same]}),
        None,
    )
    .await;
    assert_eq!(statuses(&r), ["unchanged"], "{}", r.text);
    let r = bulk(
        &app,
        "/api/v1/customers/bulk",
        &sales,
        &json!({"items": [same, same]}),
        None,
    )
    .await;
    assert_eq!(statuses(&r), ["unchanged", "unchanged"], "{}", r.text);
    let changed = json!({"external_id": "OTHER", "tags": ["mine now"]});
    let r = bulk(
        &app,
        "/api/v1/customers/bulk",
        &sales,
        &json!({"items": [changed, same]}),
        None,
    )
    .await;
    assert_eq!(statuses(&r), ["error", "unchanged"], "{}", r.text);
    assert_eq!(r.body["items"][0]["errors"][0]["code"], "forbidden");
    let csv = "external_id,kind,name\nOTHER,individual,Admin's\n";
    let r = app
        .post_raw("/api/v1/customers/import", &sales, "text/csv", csv)
        .await;
    assert_eq!(statuses(&r), ["unchanged"], "{}", r.text);
}

backend_tests!(
    creates_updates_and_leaves_unchanged,
    later_item_updates_what_an_earlier_created,
    bad_items_fail_alone,
    all_or_none_applies_nothing_on_failure,
    request_rules,
    sales_users_write_only_their_own,
    a_failed_item_leaves_nothing_in_the_feed,
    keys_with_control_characters_fail_their_item_alone,
    a_resend_with_nulls_for_defaulted_fields_is_unchanged,
    a_new_card_takes_a_change_reason,
    a_key_given_twice_in_an_item_is_refused,
    a_colleagues_order_resent_as_it_is_is_unchanged,
);

/// An item that fails after part of it was written (the card saved, then
/// the funnel move refused) is rolled back to its savepoint, and so is its
/// entry in the change feed: the feed has only the good item's changes.
async fn a_failed_item_leaves_nothing_in_the_feed(app: TestApp) {
    let token = app.admin_token().await;
    let first = json!({"items": [{"external_id": "F-1", "kind": "individual", "name": "Before"}]});
    let r = bulk(&app, "/api/v1/customers/bulk", &token, &first, None).await;
    assert_eq!(statuses(&r), ["created"], "{}", r.text);
    let failing = r.body["items"][0]["id"].as_i64().unwrap();
    let head = app.get("/api/v1/changes/head", &token).await;
    assert_eq!(head.status, 200, "{}", head.text);
    let cursor = head.body["cursor"].as_str().unwrap().to_string();

    // `won` needs a purchase: refused after the card's new name was saved.
    let body = json!({"items": [
        {"external_id": "F-1", "kind": "individual", "name": "After", "funnel_stage": "won"},
        {"external_id": "F-2", "kind": "individual", "name": "Good"}
    ]});
    let r = bulk(&app, "/api/v1/customers/bulk", &token, &body, None).await;
    assert_eq!(statuses(&r), ["error", "created"], "{}", r.text);
    // The rule's field, not `external_id` (every conflict was blamed on it).
    assert_eq!(
        r.body["items"][0]["errors"][0]["field"], "funnel_stage",
        "{}",
        r.text
    );
    assert_eq!(r.body["items"][0]["errors"][0]["code"], "conflict");
    let good = r.body["items"][1]["id"].as_i64().unwrap();
    let card = app
        .get(&format!("/api/v1/customers/{failing}"), &token)
        .await;
    assert_eq!(card.body["name"], "Before", "{}", card.text);
    assert_eq!(card.body["version"], 1, "{}", card.text);

    let feed = app
        .get(&format!("/api/v1/changes?after={cursor}&limit=100"), &token)
        .await;
    assert_eq!(feed.status, 200, "{}", feed.text);
    let entries: Vec<(String, i64, String)> = feed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["entity_type"].as_str().unwrap().to_string(),
                c["entity_id"].as_i64().unwrap(),
                c["operation"].as_str().unwrap().to_string(),
            )
        })
        .filter(|(t, _, _)| t == "customer")
        .collect();
    assert_eq!(
        entries,
        [("customer".to_string(), good, "created".to_string())]
    );
}

async fn transactions_bulk_upserts_and_refreshes_figures(app: TestApp) {
    let token = app.admin_token().await;
    let c = bulk(
        &app,
        "/api/v1/customers/bulk",
        &token,
        &json!({"items": [
            {"external_id": "C-1", "kind": "organization", "name": "Huakang"},
            {"external_id": "C-2", "kind": "individual", "name": "Wang"}
        ]}),
        None,
    )
    .await;
    let c1 = c.body["items"][0]["id"].as_i64().unwrap();
    let c2 = c.body["items"][1]["id"].as_i64().unwrap();
    let body = json!({"items": [
        {"external_id": "SO-1", "customer_external_id": "C-1", "amount_cents": 1000, "cost_cents": 600, "product": "Tea"},
        {"external_id": "SO-2", "customer_id": c1, "amount_cents": 500, "product": "Cups"},
        {"external_id": "SO-3", "customer_external_id": "C-2", "amount_cents": 200, "product": "Gift"},
        {"external_id": "SO-4", "customer_external_id": "NOPE", "amount_cents": 1, "product": "x"},
        {"external_id": "SO-5", "amount_cents": 1, "product": "x"},
        {"external_id": "SO-6", "customer_id": c1, "customer_external_id": "C-1", "amount_cents": 1, "product": "x"},
        {"external_id": "SO-7", "customer_id": c2, "amount_cents": -5, "product": "", "currency": "USD"}
    ]});
    let r = bulk(&app, "/api/v1/transactions/bulk", &token, &body, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        statuses(&r),
        ["created", "created", "created", "error", "error", "error", "error"]
    );
    let field = |i: usize| {
        r.body["items"][i]["errors"][0]["field"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(field(3), "customer_external_id");
    assert_eq!(field(4), "customer_id");
    assert_eq!(field(5), "customer_external_id");
    let mut bad: Vec<&str> = r.body["items"][6]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    bad.dedup();
    assert_eq!(bad, ["amount_cents", "product"]);
    let card = app.get(&format!("/api/v1/customers/{c1}"), &token).await;
    assert_eq!(card.body["purchase_count"], 2);
    assert_eq!(card.body["lifetime_revenue_cents"], 1500);
    assert_eq!(card.body["lifetime_profit_cents"], 900);
    let card2 = app.get(&format!("/api/v1/customers/{c2}"), &token).await;
    assert_eq!(card2.body["purchase_count"], 1);

    // Same again: unchanged; a correction updates and the figures follow.
    let again = bulk(&app, "/api/v1/transactions/bulk", &token, &json!({"items": [
        {"external_id": "SO-1", "customer_external_id": "C-1", "amount_cents": 1000, "cost_cents": 600, "product": "Tea"},
        {"external_id": "SO-2", "amount_cents": 700},
        {"external_id": "SO-3", "customer_id": c1, "amount_cents": 1}
    ]}), None).await;
    assert_eq!(
        statuses(&again),
        ["unchanged", "updated", "error"],
        "{}",
        again.text
    );
    assert_eq!(again.body["items"][1]["version"], 2);
    assert_eq!(again.body["items"][2]["errors"][0]["code"], "immutable");
    let card = app.get(&format!("/api/v1/customers/{c1}"), &token).await;
    assert_eq!(card.body["lifetime_revenue_cents"], 1700);
    let list = app
        .get(&format!("/api/v1/customers/{c2}/transactions"), &token)
        .await;
    assert_eq!(list.body["items"][0]["amount_cents"], 200);
}

async fn transactions_all_or_none(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Li"}))
        .await
        .id();
    let body = json!({"items": [
        {"external_id": "T-1", "customer_id": c, "amount_cents": 100, "product": "ok"},
        {"external_id": "T-2", "customer_id": c, "product": "no amount"}
    ]});
    let r = bulk(
        &app,
        "/api/v1/transactions/bulk?all_or_none=true",
        &token,
        &body,
        None,
    )
    .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["items[1].amount_cents"]);
    let card = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(card.body["purchase_count"], 0);
    let list = app
        .get(&format!("/api/v1/customers/{c}/transactions"), &token)
        .await;
    assert_eq!(list.body["items"], json!([]));
}

backend_tests!(
    transactions_bulk_upserts_and_refreshes_figures,
    transactions_all_or_none,
    an_order_of_an_unknown_customer_id_fails_alone,
    a_bad_key_comes_with_the_items_other_errors,
);

/// QA: a bulk item's key error hid its other errors (an ERP needed a
/// round for the keys, one for the types, one for the rules), and a key of
/// another type was "must be a string" where every other field says what it
/// got. Each item names every bad field at once, as a single write does;
/// what only a create requires is not told without a key.
async fn a_bad_key_comes_with_the_items_other_errors(app: TestApp) {
    let token = app.admin_token().await;
    let pair = |field: &str, code: &str| (field.to_string(), code.to_string());
    let r = app
        .post(
            "/api/v1/customers/bulk",
            &token,
            &json!({"items": [
                {"external_id": "  ", "name": "", "kind": "robot"},
                {"name": "No key", "email": "not an email"},
                {"external_id": 5, "kind": "individual", "name": "Typed"},
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        item_errors(&r, 0),
        [
            pair("external_id", "blank"),
            pair("kind", "invalid_value"),
            pair("name", "blank")
        ],
        "{}",
        r.text
    );
    assert_eq!(
        item_errors(&r, 1),
        [pair("email", "email"), pair("external_id", "required")]
    );
    assert_eq!(item_errors(&r, 2), [pair("external_id", "invalid_type")]);
    assert_eq!(
        r.body["items"][2]["errors"][0]["message"], "expected a string, got integer `5`",
        "{}",
        r.text
    );
    let r = app
        .post(
            "/api/v1/transactions/bulk",
            &token,
            &json!({"items": [
                {"external_id": 5, "customer_external_id": 7, "amount_cents": "x", "product": 3},
                {"customer_id": 1, "customer_external_id": "C-1", "amount_cents": -1, "product": "Tea"},
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        item_errors(&r, 0),
        [
            pair("amount_cents", "invalid_type"),
            pair("customer_external_id", "invalid_type"),
            pair("external_id", "invalid_type"),
            pair("product", "invalid_type"),
        ],
        "{}",
        r.text
    );
    assert_eq!(
        item_errors(&r, 1),
        [
            pair("amount_cents", "range"),
            pair("customer_external_id", "not_allowed"),
            pair("external_id", "required"),
        ],
        "{}",
        r.text
    );
    // A reference with an invisible character says so (QA: "no customer has
    // this external_id" for a card in plain sight).
    let r = app
        .post(
            "/api/v1/customers/bulk",
            &token,
            &json!({"items": [{"external_id": "C-1", "kind": "individual", "name": "Seen"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            "/api/v1/transactions/bulk",
            &token,
            &json!({"items": [{"external_id": "T-1", "customer_external_id": "\u{feff}C-1", "amount_cents": 100, "product": "Tea"}]}),
        )
        .await;
    assert_eq!(
        item_errors(&r, 0),
        [pair("customer_external_id", "unknown_customer")]
    );
    let message = r.body["items"][0]["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("invisible character (U+FEFF)"),
        "{}",
        r.text
    );
    // An item that is no object is that one error; the errors of an item
    // are listed by field, as every 422's.
    let r = app
        .post(
            "/api/v1/transactions/bulk",
            &token,
            &json!({"items": ["x", {"product": 3, "customer_external_id": 7, "customer_id": "one"}]}),
        )
        .await;
    assert_eq!(
        item_errors(&r, 0),
        [pair("item", "invalid_type")],
        "{}",
        r.text
    );
    let fields: Vec<&str> = r.body["items"][1]["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        fields,
        [
            "customer_external_id",
            "customer_id",
            "external_id",
            "product"
        ],
        "{}",
        r.text
    );
}

/// Both bulk paths match items to rows by external id. The lookup must step
/// down the unique index on either engine, whatever the table's size and
/// statistics: SQLite once scanned the table under a bound `IN` list, and
/// PostgreSQL hash-joined a `VALUES` list against a scan of every card.
async fn external_id_lookups_step_down_the_unique_index(app: TestApp) {
    app.execute_sql(match app.backend {
        Backend::Sqlite => {
            "CREATE TABLE lookup (id INTEGER PRIMARY KEY, external_id TEXT UNIQUE, pad TEXT); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
               INSERT INTO lookup (external_id, pad) SELECT 'erp-' || i, hex(randomblob(100)) FROM n; \
             ANALYZE lookup;"
        }
        Backend::Postgres => {
            "CREATE TABLE lookup (id BIGSERIAL PRIMARY KEY, external_id TEXT UNIQUE, pad TEXT); \
             INSERT INTO lookup (external_id, pad) \
               SELECT 'erp-' || i, repeat(md5(i::text), 6) FROM generate_series(1, 100000) i; \
             ANALYZE lookup;"
        }
    });
    let mut keys: Vec<String> = (1..=1000).map(|i| format!("erp-{}", i * 7)).collect();
    keys.push("not-there".into());
    let db = patron::db::Db::connect(&app.database_url, 1).unwrap();
    let mut conn = db.pool().get().unwrap();
    // A batch of 1,000 keys against 100,000 rows as wide as the sync
    // bench's cards: the size at which PostgreSQL chose the scan.
    let plan = patron::db::batch::external_ids_plan(&mut conn, "lookup", &keys).unwrap();
    // The key list is printed in the plan: only the message is cut short.
    let shown: String = plan.chars().take(400).collect();
    assert!(
        !plan.contains("Seq Scan") && !plan.contains("SCAN lookup") && !plan.contains("SCAN t"),
        "{shown}"
    );
    assert!(
        plan.contains("lookup_external_id_key") || plan.contains("COVERING INDEX"),
        "{shown}"
    );
    let mut found = patron::db::batch::external_ids(&mut conn, "lookup", &keys).unwrap();
    found.sort_by_key(|(_, id)| *id);
    assert_eq!(found.len(), 1000);
    assert_eq!(found[0], ("erp-7".to_string(), 7));
    assert_eq!(found[999], ("erp-7000".to_string(), 7000));
}

backend_tests!(external_id_lookups_step_down_the_unique_index);

const CARDS: &str = "/api/v1/customers/bulk";
const ORDERS: &str = "/api/v1/transactions/bulk";

/// A bulk call of `items`, without an idempotency key.
async fn send(app: &TestApp, path: &str, token: &str, items: &[Value]) -> Resp {
    bulk(app, path, token, &json!({ "items": items }), None).await
}

/// An item's key holding a NUL (or another control character) names no
/// record: its item fails with `invalid_character` and the batch goes on.
/// PostgreSQL refuses a NUL in a bind, and the batch's lookup of every
/// item's key failed the whole call with a 500 (an outside review).
async fn keys_with_control_characters_fail_their_item_alone(app: TestApp) {
    let token = app.admin_token().await;
    let cards = json!({"items": [
        {"external_id": "NUL\u{0}1", "kind": "individual", "name": "a"},
        {"external_id": "K-OK", "kind": "individual", "name": "b"},
        {"external_id": "  ", "kind": "individual", "name": "c"}
    ]});
    let r = bulk(&app, "/api/v1/customers/bulk", &token, &cards, None).await;
    assert_eq!(statuses(&r), ["error", "created", "error"], "{}", r.text);
    assert_eq!(r.body["items"][0]["errors"][0]["field"], "external_id");
    assert_eq!(r.body["items"][0]["errors"][0]["code"], "invalid_character");
    assert_eq!(r.body["items"][2]["errors"][0]["code"], "blank");

    let orders = json!({"items": [
        {"external_id": "O\u{0}1", "customer_external_id": "K-OK", "amount_cents": 1, "product": "p"},
        {"external_id": "O-2", "customer_external_id": "K\u{0}OK", "amount_cents": 1, "product": "p"},
        {"external_id": "O-3", "customer_external_id": "K-OK", "amount_cents": 1, "product": "p"},
        {"external_id": "", "customer_external_id": "K-OK", "amount_cents": 1, "product": "p"}
    ]});
    let r = bulk(&app, "/api/v1/transactions/bulk", &token, &orders, None).await;
    assert_eq!(
        statuses(&r),
        ["error", "error", "created", "error"],
        "{}",
        r.text
    );
    let first = |i: usize| {
        let e = &r.body["items"][i]["errors"][0];
        (
            e["field"].as_str().unwrap_or_default().to_string(),
            e["code"].as_str().unwrap_or_default().to_string(),
        )
    };
    assert_eq!(first(0), ("external_id".into(), "invalid_character".into()));
    assert_eq!(
        first(1),
        ("customer_external_id".into(), "invalid_character".into())
    );
    assert_eq!(first(3), ("external_id".into(), "blank".into()));

    let csv = "external_id,name,kind\nNU\u{0}L,ab,individual\nCSV-OK,ok,individual\n";
    let r = app
        .post_raw("/api/v1/customers/import", &token, "text/csv", csv)
        .await;
    assert_eq!(statuses(&r), ["error", "created"], "{}", r.text);
    assert_eq!(r.body["items"][0]["errors"][0]["code"], "invalid_character");
    let listed = app
        .get("/api/v1/customers?external_id=CSV-OK", &token)
        .await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.text
    );
}

/// A field a create fills in when it is null (a card's currency, funnel
/// stage and owner; an order's cost, currency and date) is left as it is by
/// a null on an existing record: an ERP whose serializer writes nulls re-sent
/// each item exactly as it first sent it and got item errors ("must not be
/// null") instead of `unchanged` (an outside review).
async fn a_resend_with_nulls_for_defaulted_fields_is_unchanged(app: TestApp) {
    let token = app.admin_token().await;
    let card = json!({"external_id": "N-1", "kind": "individual", "name": "n",
        "currency": null, "funnel_stage": null, "owner_id": null});
    let usd = json!({"external_id": "N-2", "kind": "individual", "name": "u", "currency": "USD"});
    let first = send(&app, CARDS, &token, &[card.clone(), usd]).await;
    assert_eq!(statuses(&first), ["created", "created"], "{}", first.text);
    let id = first.body["items"][0]["id"].as_i64().unwrap_or_default();
    let before = app.get(&format!("/api/v1/customers/{id}"), &token).await;

    let usd_with_null =
        json!({"external_id": "N-2", "kind": "individual", "name": "u", "currency": null});
    let again = send(&app, CARDS, &token, &[card, usd_with_null]).await;
    assert_eq!(
        statuses(&again),
        ["unchanged", "unchanged"],
        "{}",
        again.text
    );

    // A change beside the nulls goes the per-item way: the nulls keep theirs.
    let renamed = json!({"external_id": "N-1", "kind": "individual", "name": "m",
        "currency": null, "funnel_stage": null, "owner_id": null});
    let r = send(&app, CARDS, &token, &[renamed]).await;
    assert_eq!(statuses(&r), ["updated"], "{}", r.text);
    let after = app.get(&format!("/api/v1/customers/{id}"), &token).await;
    assert_eq!(after.body["name"], "m");
    for field in ["currency", "funnel_stage", "owner_id"] {
        assert_eq!(after.body[field], before.body[field], "{field}");
    }
    let usd_card = app.get("/api/v1/customers?external_id=N-2", &token).await;
    assert_eq!(
        usd_card.body["items"][0]["currency"], "USD",
        "{}",
        usd_card.text
    );

    let order = json!({"external_id": "NO-1", "customer_external_id": "N-1", "amount_cents": 500,
        "product": "p", "cost_cents": null, "occurred_at": null, "currency": null, "notes": null});
    let r = send(&app, ORDERS, &token, std::slice::from_ref(&order)).await;
    assert_eq!(statuses(&r), ["created"], "{}", r.text);
    let first_order = app
        .get("/api/v1/transactions?external_id=NO-1", &token)
        .await;
    let r = send(&app, ORDERS, &token, std::slice::from_ref(&order)).await;
    assert_eq!(statuses(&r), ["unchanged"], "{}", r.text);
    let mut more = order.clone();
    more["amount_cents"] = json!(700);
    let r = send(&app, ORDERS, &token, &[more]).await;
    assert_eq!(statuses(&r), ["updated"], "{}", r.text);
    let stored = app
        .get("/api/v1/transactions?external_id=NO-1", &token)
        .await;
    let (was, now) = (&first_order.body["items"][0], &stored.body["items"][0]);
    assert_eq!(now["amount_cents"], 700, "{}", stored.text);
    for field in ["occurred_at", "cost_cents", "currency"] {
        assert_eq!(now[field], was[field], "{field}");
    }
}

/// The reasons in a card's history, oldest first.
async fn reasons(app: &TestApp, token: &str, external_id: &str) -> Vec<Value> {
    let card = app
        .get(
            &format!("/api/v1/customers?external_id={external_id}"),
            token,
        )
        .await;
    let id = card.body["items"][0]["id"].as_i64().unwrap_or_default();
    let r = app
        .get(&format!("/api/v1/customers/{id}/history?limit=100"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut items = r.body["items"].as_array().cloned().unwrap_or_default();
    items.reverse();
    items.into_iter().map(|e| e["reason"].clone()).collect()
}

/// The (field, code) pairs of bulk item `i`'s errors, sorted.
fn item_errors(r: &Resp, i: usize) -> Vec<(String, String)> {
    let mut errors: Vec<(String, String)> = r.body["items"][i]["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().into(),
                e["code"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    errors.sort();
    errors
}

/// `change_reason` is a field of an update item; a client of an upsert
/// cannot know whether its item creates, so a new card takes it too (it was
/// an unknown field there, and a CSV with the column failed every new row),
/// and keeps it as the reason of its first funnel event.
async fn a_new_card_takes_a_change_reason(app: TestApp) {
    let token = app.admin_token().await;
    let items = json!({"items": [
        {"external_id": "R-1", "kind": "individual", "name": "a", "change_reason": "met at the fair"},
        {"external_id": "R-2", "kind": "individual", "name": "b", "change_reason": null},
        {"external_id": "R-3", "kind": "alien", "name": "c", "change_reason": "x".repeat(501)},
        {"external_id": "R-4", "kind": "individual", "name": "d", "change_reason": 5},
        {"external_id": "R-7", "kind": "individual", "name": "g", "change_reason": ""},
        {"external_id": "R-8", "kind": "individual", "name": "h", "change_reason": "   "},
        {"external_id": "R-9", "kind": "individual", "name": "i", "change_reason": format!("{} ", "x".repeat(500))}
    ]});
    let r = bulk(&app, "/api/v1/customers/bulk", &token, &items, None).await;
    // The 500 characters and a trailing space are 501 as sent (the spec's
    // maxLength), as an existing card's reason is.
    assert_eq!(
        statuses(&r),
        ["created", "created", "error", "error", "error", "error", "error"],
        "{}",
        r.text
    );
    let pair = |field: &str, code: &str| (field.to_string(), code.to_string());
    assert_eq!(
        item_errors(&r, 2),
        [
            pair("change_reason", "length"),
            pair("kind", "invalid_value")
        ],
        "{}",
        r.text
    );
    // Empty and blank are refused as on PATCH /customers/{id}, not stored
    // as "no reason".
    assert_eq!(
        item_errors(&r, 4),
        [pair("change_reason", "blank")],
        "{}",
        r.text
    );
    assert_eq!(
        item_errors(&r, 5),
        [pair("change_reason", "blank")],
        "{}",
        r.text
    );
    assert_eq!(
        item_errors(&r, 6),
        [pair("change_reason", "length")],
        "{}",
        r.text
    );
    assert_eq!(
        r.body["items"][3]["errors"][0]["field"], "change_reason",
        "{}",
        r.text
    );
    assert_eq!(
        reasons(&app, &token, "R-1").await,
        [json!("met at the fair")]
    );
    assert_eq!(reasons(&app, &token, "R-2").await, [Value::Null]);

    // The per-item path (a batch naming one key twice) and the CSV import.
    let twice = json!({"items": [
        {"external_id": "R-5", "kind": "individual", "name": "e", "change_reason": "referral"},
        {"external_id": "R-5", "name": "e2"}
    ]});
    let r = bulk(&app, "/api/v1/customers/bulk", &token, &twice, None).await;
    assert_eq!(statuses(&r), ["created", "updated"], "{}", r.text);
    assert_eq!(reasons(&app, &token, "R-5").await, [json!("referral")]);
    let csv =
        "external_id,kind,name,funnel_stage,change_reason\nR-6,individual,f,lead,from the ERP\n";
    let r = app
        .post_raw("/api/v1/customers/import", &token, "text/csv", csv)
        .await;
    assert_eq!(statuses(&r), ["created"], "{}", r.text);
    assert_eq!(reasons(&app, &token, "R-6").await, [json!("from the ERP")]);
}

/// A key twice in one item is refused as in a single write's body (serde's
/// `Value` kept the last: `"external_id": "DK2", "external_id": "DK3"`
/// upserted DK3 with no word), naming it at its path; nothing is written.
async fn a_key_given_twice_in_an_item_is_refused(app: TestApp) {
    let token = app.admin_token().await;
    let cards = r#"{"items": [{"external_id": "DK1", "kind": "individual", "name": "a"},
        {"external_id": "DK2", "external_id": "DK3", "kind": "individual", "name": "b"}]}"#;
    let r = app
        .post_raw("/api/v1/customers/bulk", &token, "application/json", cards)
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.error_codes(),
        [("items[1].external_id".to_string(), "duplicate".to_string())]
    );
    let listed = app.get("/api/v1/customers", &token).await;
    assert_eq!(listed.body["items"], json!([]), "{}", listed.text);

    let orders = r#"{"items": [{"external_id": "O-1", "customer_external_id": "X",
        "amount_cents": 1, "amount_cents": 2, "product": "p"}]}"#;
    let r = app
        .post_raw(
            "/api/v1/transactions/bulk",
            &token,
            "application/json",
            orders,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.error_codes(),
        [("items[0].amount_cents".to_string(), "duplicate".to_string())]
    );
}

/// An order of a colleague's card re-sent as it is by a sales user is
/// `unchanged`, as the card itself is; a change of it is `forbidden`. Both
/// the set-based pass and the per-item path (a batch naming a key twice).
async fn a_colleagues_order_resent_as_it_is_is_unchanged(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, sales) = app.user_with_role("sales").await;
    let card = json!({"external_id": "THEIRS", "kind": "individual", "name": "Admin's"});
    assert_eq!(
        statuses(&send(&app, CARDS, &admin, &[card]).await),
        ["created"]
    );
    let order = json!({"external_id": "SO-1", "customer_external_id": "THEIRS",
        "amount_cents": 900, "product": "Tea", "occurred_at": "2026-01-05T10:00:00Z"});
    let r = send(&app, ORDERS, &admin, std::slice::from_ref(&order)).await;
    assert_eq!(statuses(&r), ["created"], "{}", r.text);
    let r = send(&app, ORDERS, &sales, std::slice::from_ref(&order)).await;
    assert_eq!(statuses(&r), ["unchanged"], "{}", r.text);
    let r = send(&app, ORDERS, &sales, &[order.clone(), order.clone()]).await;
    assert_eq!(statuses(&r), ["unchanged", "unchanged"], "{}", r.text);
    let mut more = order.clone();
    more["amount_cents"] = json!(1_000);
    for batch in [vec![more.clone()], vec![more.clone(), order.clone()]] {
        let r = send(&app, ORDERS, &sales, &batch).await;
        assert_eq!(r.body["items"][0]["status"], "error", "{}", r.text);
        assert_eq!(
            r.body["items"][0]["errors"][0]["code"], "forbidden",
            "{}",
            r.text
        );
    }
}

/// An order naming a `customer_id` no card has fails alone with
/// `customer_id` `unknown_customer` (as `customer_external_id` does for an
/// unknown external id); the batch's other orders are recorded and their
/// card's figures follow. With `all_or_none`, the batch is a 422 naming the
/// item's field, and nothing is written.
async fn an_order_of_an_unknown_customer_id_fails_alone(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Li"}))
        .await
        .id();
    let unknown = 987_654_321_i64;
    let order = |ext: &str, customer: i64, amount: i64| json!({"external_id": ext, "customer_id": customer, "amount_cents": amount, "product": "Tea"});
    let r = send(
        &app,
        ORDERS,
        &token,
        &[
            order("U-1", c, 1_000),
            order("U-2", unknown, 500),
            order("U-3", c, 300),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(statuses(&r), ["created", "error", "created"], "{}", r.text);
    assert_eq!(
        item_errors(&r, 1),
        [("customer_id".to_string(), "unknown_customer".to_string())],
        "{}",
        r.text
    );
    assert!(r.body["items"][1]["id"].is_null(), "{}", r.text);
    let card = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(card.body["purchase_count"], 2, "{}", card.text);
    assert_eq!(card.body["lifetime_revenue_cents"], 1_300, "{}", card.text);
    // No order was recorded for the unknown card: its external id is free.
    let r = send(&app, ORDERS, &token, &[order("U-2", c, 500)]).await;
    assert_eq!(statuses(&r), ["created"], "{}", r.text);

    // The per-item path (a batch naming a key twice) answers the same.
    let r = send(
        &app,
        ORDERS,
        &token,
        &[
            order("U-4", unknown, 1),
            order("U-5", c, 10),
            order("U-5", c, 10),
        ],
    )
    .await;
    assert_eq!(
        statuses(&r),
        ["error", "created", "unchanged"],
        "{}",
        r.text
    );
    assert_eq!(
        item_errors(&r, 0),
        [("customer_id".to_string(), "unknown_customer".to_string())],
        "{}",
        r.text
    );

    // All or none: the whole batch refused, the item's field named.
    let r = bulk(
        &app,
        "/api/v1/transactions/bulk?all_or_none=true",
        &token,
        &json!({"items": [order("U-6", c, 100), order("U-7", unknown, 100)]}),
        None,
    )
    .await;
    r.problem(422);
    assert_eq!(
        r.error_codes(),
        [(
            "items[1].customer_id".to_string(),
            "unknown_customer".to_string()
        )],
        "{}",
        r.text
    );
    let card = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(card.body["purchase_count"], 4, "{}", card.text);
}
