//! `POST /transactions/bulk`: the set-based pass (new orders and resent
//! unchanged ones settled for the whole batch) must answer and write
//! exactly what the per-item path would: the same rules, the same figures,
//! the same change feed.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::TestApp;
use crate::sync_bulk::bulk;

backend_tests!(
    an_archived_card_named_by_its_external_id_is_named_so,
    bulk_orders_keep_the_single_writes_rules,
    bulk_orders_refresh_figures_stages_and_the_feed,
    an_order_named_twice_in_a_batch_is_created_then_updated,
    an_order_another_writer_records_meanwhile_is_not_counted_twice,
    a_bulk_gives_a_card_the_figures_single_writes_give,
    an_archived_cards_orders_resent_as_they_are_are_unchanged,
    an_unknown_field_is_told_the_customer_reference_too,
    a_customer_id_written_as_a_float_names_the_card,
);

fn results(r: &crate::helpers::Resp) -> Vec<(String, String)> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {}", r.text))
        .iter()
        .map(|i| {
            let code = i["errors"][0]["code"].as_str().unwrap_or_default();
            (
                i["status"].as_str().unwrap_or_default().to_string(),
                code.to_string(),
            )
        })
        .collect()
}

/// Sends `items` to `POST /transactions/bulk` as `token` and checks each
/// item's status and first error code.
async fn send_orders(
    app: &TestApp,
    token: &str,
    items: Value,
    expected: &[(&str, &str)],
) -> crate::helpers::Resp {
    let body = json!({ "items": items });
    let r = bulk(app, "/api/v1/transactions/bulk", token, &body, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(results(&r), pairs(expected), "{}", r.text);
    r
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(s, c)| (s.to_string(), c.to_string()))
        .collect()
}

async fn bulk_orders_keep_the_single_writes_rules(app: TestApp) {
    let admin = app.admin_token().await;
    let card = |body: Value| {
        let (app, admin) = (&app, &admin);
        async move { app.create_customer(admin, body).await.id() }
    };
    let cny = card(json!({"kind": "individual", "name": "Yuan"})).await;
    let usd = card(json!({"kind": "individual", "name": "Dollar", "currency": "USD"})).await;
    let archived = card(json!({"kind": "individual", "name": "Gone"})).await;
    let r = app
        .delete(&format!("/api/v1/customers/{archived}"), &admin)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let (sales_id, sales) = app.user_with_role("sales").await;
    let own = app
        .create_customer(
            &sales,
            json!({"kind": "individual", "name": "Mine", "owner_id": sales_id}),
        )
        .await
        .id();
    send_orders(
        &app,
        &admin,
        json!([
            {"external_id": "O-1", "customer_id": cny, "amount_cents": 100, "product": "Tea"},
            {"external_id": "O-6", "customer_id": cny, "amount_cents": 100, "product": "Tea"},
            {"external_id": "O-7", "customer_id": cny, "amount_cents": 100, "product": "Tea"},
        ]),
        &[("created", ""), ("created", ""), ("created", "")],
    )
    .await;

    // Each external id once: a batch naming one twice goes item by item.
    let r = send_orders(
        &app,
        &admin,
        json!([
            {"external_id": "O-2", "customer_id": usd, "amount_cents": 100, "product": "Tea"},
            {"external_id": "O-3", "customer_id": usd, "amount_cents": 100, "product": "Tea", "currency": "CNY"},
            {"external_id": "O-4", "customer_id": archived, "amount_cents": 100, "product": "Tea"},
            {"external_id": "O-5", "customer_id": cny, "amount_cents": 100, "product": "Tea", "occurred_at": "2999-01-01T00:00:00Z"},
            {"external_id": "O-1", "customer_id": usd, "amount_cents": 100, "product": "Tea"},
            {"external_id": "O-6", "amount_cents": 100, "product": "Tea"},
            {"external_id": "O-7", "currency": "USD"},
        ]),
        &[
            ("created", ""),
            ("error", "currency_mismatch"),
            ("error", "archived"),
            ("error", "range"),
            ("error", "immutable"),
            ("unchanged", ""),
            ("error", "currency_mismatch"),
        ],
    )
    .await;
    let o2 = r.body["items"][0]["id"].as_i64().unwrap_or_default();
    let read = app
        .get(
            &format!("/api/v1/customers/{usd}/transactions/{o2}"),
            &admin,
        )
        .await;
    assert_eq!(
        read.body["currency"], "USD",
        "the card's currency: {}",
        read.text
    );
    assert_eq!(r.body["items"][5]["version"], 1);

    // A sales user writes to its own card only; an order of another card
    // re-sent as it is, is `unchanged` (it changes nothing, and every role
    // reads every order).
    send_orders(
        &app,
        &sales,
        json!([
            {"external_id": "S-1", "customer_id": own, "amount_cents": 100, "product": "Tea"},
            {"external_id": "S-2", "customer_id": cny, "amount_cents": 100, "product": "Tea"},
            {"external_id": "O-1", "customer_id": cny, "amount_cents": 100, "product": "Tea"},
        ]),
        &[("created", ""), ("error", "forbidden"), ("unchanged", "")],
    )
    .await;
}

/// New orders written set-based: the cards' figures and CPR stage follow
/// in the same call, and the feed carries each order as the API returns it.
async fn bulk_orders_refresh_figures_stages_and_the_feed(app: TestApp) {
    let token = app.admin_token().await;
    let mut cards = Vec::new();
    for name in ["One", "Two", "Three"] {
        let id = app
            .create_customer(&token, json!({"kind": "individual", "name": name}))
            .await
            .id();
        cards.push(id);
    }
    let head = app.get("/api/v1/changes/head", &token).await;
    let cursor = head.body["cursor"].as_str().unwrap_or_default().to_string();
    // One order for the first card, two for the second, none for the third.
    let r = send_orders(
        &app,
        &token,
        json!([
            {"external_id": "F-1", "customer_id": cards[0], "amount_cents": 1000, "cost_cents": 400, "product": "Tea"},
            {"external_id": "F-2", "customer_id": cards[1], "amount_cents": 200, "product": "Cups", "notes": "gift"},
            {"external_id": "F-3", "customer_id": cards[1], "amount_cents": 300, "product": "Pot"},
        ]),
        &[("created", ""), ("created", ""), ("created", "")],
    )
    .await;
    let expected = [
        (1, 1000, 600, "conversion"),
        (2, 500, 500, "penetration"),
        (0, 0, 0, "not_started"),
    ];
    for (id, (count, revenue, profit, stage)) in cards.iter().zip(expected) {
        let card = app.get(&format!("/api/v1/customers/{id}"), &token).await;
        assert_eq!(card.body["purchase_count"], count, "{}", card.text);
        assert_eq!(
            card.body["lifetime_revenue_cents"], revenue,
            "{}",
            card.text
        );
        assert_eq!(card.body["lifetime_profit_cents"], profit, "{}", card.text);
        assert_eq!(card.body["cpr_stage"], stage, "{}", card.text);
    }
    let feed = app
        .get(&format!("/api/v1/changes?after={cursor}"), &token)
        .await;
    assert_eq!(feed.status, 200, "{}", feed.text);
    let items = feed.body["items"].as_array().cloned().unwrap_or_default();
    let orders: Vec<&Value> = items
        .iter()
        .filter(|c| c["entity_type"] == "transaction")
        .collect();
    assert_eq!(orders.len(), 3, "{}", feed.text);
    for (change, item) in orders
        .iter()
        .zip(r.body["items"].as_array().into_iter().flatten())
    {
        assert_eq!(change["entity_id"], item["id"]);
        assert_eq!(change["operation"], "created");
        let customer = change["data"]["customer_id"].as_i64().unwrap_or_default();
        let read = app
            .get(
                &format!("/api/v1/customers/{customer}/transactions/{}", item["id"]),
                &token,
            )
            .await;
        assert_eq!(
            change["data"], read.body,
            "the feed's data is the order as read"
        );
    }
    let stages: Vec<(i64, String)> = items
        .iter()
        .filter(|c| c["entity_type"] == "stage_change" && c["data"]["kind"] == "cpr_stage_changed")
        .map(|c| {
            (
                c["data"]["customer_id"].as_i64().unwrap_or_default(),
                c["data"]["to"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            (cards[0], "conversion".to_string()),
            (cards[1], "penetration".to_string())
        ],
        "{}",
        feed.text
    );

    // Corrections, also set-based: new versions, the figures follow, and
    // the feed carries each order as corrected.
    let cursor = feed.body["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r = send_orders(
        &app,
        &token,
        json!([
            {"external_id": "F-1", "amount_cents": 1500},
            {"external_id": "F-2", "notes": null, "product": "Tea cups"},
            {"external_id": "F-3", "customer_id": cards[1], "amount_cents": 300, "product": "Pot"},
        ]),
        &[("updated", ""), ("updated", ""), ("unchanged", "")],
    )
    .await;
    assert_eq!(r.body["items"][0]["version"], 2);
    let card = app
        .get(&format!("/api/v1/customers/{}", cards[0]), &token)
        .await;
    assert_eq!(card.body["lifetime_revenue_cents"], 1500, "{}", card.text);
    assert_eq!(card.body["lifetime_profit_cents"], 1100, "{}", card.text);
    let feed = app
        .get(&format!("/api/v1/changes?after={cursor}"), &token)
        .await;
    let updates: Vec<&Value> = feed.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["entity_type"] == "transaction")
        .collect();
    assert_eq!(updates.len(), 2, "{}", feed.text);
    for change in updates {
        assert_eq!(change["operation"], "updated");
        assert_eq!(change["version"], 2);
        let read = app
            .get(
                &format!(
                    "/api/v1/customers/{}/transactions/{}",
                    change["data"]["customer_id"], change["entity_id"]
                ),
                &token,
            )
            .await;
        assert_eq!(
            change["data"], read.body,
            "the feed's data is the order as read"
        );
    }
    let read = app
        .get(
            &format!(
                "/api/v1/customers/{}/transactions/{}",
                cards[1], r.body["items"][1]["id"]
            ),
            &token,
        )
        .await;
    assert_eq!(read.body["product"], "Tea cups");
    assert_eq!(read.body["notes"], Value::Null);
}

/// The same external id twice in one batch: the second item updates what
/// the first created, in order (the batch goes item by item).
async fn an_order_named_twice_in_a_batch_is_created_then_updated(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Twice"}))
        .await
        .id();
    let r = send_orders(
        &app,
        &token,
        json!([
            {"external_id": "D-1", "customer_id": c, "amount_cents": 100, "product": "Tea"},
            {"external_id": "D-1", "amount_cents": 250},
        ]),
        &[("created", ""), ("updated", "")],
    )
    .await;
    assert_eq!(r.body["items"][1]["version"], 2);
    let card = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(card.body["purchase_count"], 1);
    assert_eq!(card.body["lifetime_revenue_cents"], 250);
}

/// Another writer records one of the batch's orders (on another card) while
/// the batch runs. On PostgreSQL it commits between the batch's look-up of
/// its external ids and its insert: the set-based insert meets the unique
/// index, and the batch goes item by item, which reads that order again and
/// refuses it as a move to another card, and creates the others. (On SQLite
/// the other writer holds the database until it commits, so the batch sees
/// the order from the start: the same answer.)
async fn an_order_another_writer_records_meanwhile_is_not_counted_twice(app: TestApp) {
    use diesel::RunQueryDsl;
    use std::sync::mpsc;
    use std::time::Duration;
    let token = app.admin_token().await;
    let mine = app
        .create_customer(&token, json!({"kind": "individual", "name": "Batch"}))
        .await
        .id();
    let other = app
        .create_customer(&token, json!({"kind": "individual", "name": "Other"}))
        .await
        .id();
    let db = app.open_db(1, 10).await;
    let (held, is_held) = mpsc::channel();
    let writer = std::thread::spawn(move || {
        let mut conn = db.pool().get().expect("a connection");
        patron::db::write_tx(&mut conn, |c| {
            diesel::sql_query(format!(
                "INSERT INTO transactions (customer_id, occurred_at, amount_cents, cost_cents, currency, \
                 product, external_id, version, created_at, updated_at) VALUES ({other}, \
                 CURRENT_TIMESTAMP, 500, 0, 'CNY', 'Elsewhere', 'R-2', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ))
            .execute(c)?;
            held.send(()).expect("the test waits");
            std::thread::sleep(Duration::from_millis(1500));
            Ok::<_, diesel::result::Error>(())
        })
        .expect("the other writer");
    });
    tokio::task::spawn_blocking(move || is_held.recv().expect("held"))
        .await
        .expect("the wait");
    let r = bulk(
        &app,
        "/api/v1/transactions/bulk",
        &token,
        &json!({"items": [
            {"external_id": "R-1", "customer_id": mine, "amount_cents": 100, "product": "Tea"},
            {"external_id": "R-2", "customer_id": mine, "amount_cents": 100, "product": "Tea"},
            {"external_id": "R-3", "customer_id": mine, "amount_cents": 100, "product": "Tea"},
        ]}),
        None,
    )
    .await;
    writer.join().expect("no panic");
    assert_eq!(
        results(&r),
        pairs(&[("created", ""), ("error", "immutable"), ("created", "")]),
        "{}",
        r.text
    );
    let card = app.get(&format!("/api/v1/customers/{mine}"), &token).await;
    assert_eq!(card.body["purchase_count"], 2, "{}", card.text);
    let list = app
        .get(&format!("/api/v1/customers/{mine}/transactions"), &token)
        .await;
    let mut keys: Vec<&str> = list.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["external_id"].as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["R-1", "R-3"], "{}", list.text);
}

/// The batch's figure refresh (one grouped pass over the touched cards) must
/// give what the single writes' per-card refresh gives: the same orders and
/// contacts on two cards, one through `POST`s, one through a bulk, then
/// every derived figure compared (an order outside the 12-month window, a
/// contact, an open and a resolved complaint, a known wallet).
async fn a_bulk_gives_a_card_the_figures_single_writes_give(app: TestApp) {
    let token = app.admin_token().await;
    let card = json!({"kind": "organization", "name": "Twin", "wallet_size_cents": 100_000});
    let single = app.create_customer(&token, card.clone()).await.id();
    let batched = app.create_customer(&token, card).await.id();
    let old = (chrono::Utc::now() - chrono::Duration::days(400)).to_rfc3339();
    let recent = (chrono::Utc::now() - chrono::Duration::days(30)).to_rfc3339();
    let orders = [
        json!({"amount_cents": 70_000, "cost_cents": 20_000, "product": "Tea", "occurred_at": old}),
        json!({"amount_cents": 25_000, "cost_cents": 5_000, "product": "Cups", "occurred_at": recent}),
        json!({"amount_cents": 9_000, "product": "Pot"}),
    ];
    for id in [single, batched] {
        for contact in [
            json!({"type": "call", "summary": "Checked in", "occurred_at": recent}),
            json!({"type": "complaint", "summary": "Late"}),
            json!({"type": "complaint", "summary": "Broken", "complaint_status": "resolved"}),
        ] {
            let r = app
                .post(
                    &format!("/api/v1/customers/{id}/interactions"),
                    &token,
                    &contact,
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    }
    for order in &orders {
        let r = app
            .post(
                &format!("/api/v1/customers/{single}/transactions"),
                &token,
                order,
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let items: Vec<Value> = orders
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let mut item = o.clone();
            item["external_id"] = json!(format!("TW-{i}"));
            item["customer_id"] = json!(batched);
            item
        })
        .collect();
    let r = bulk(
        &app,
        "/api/v1/transactions/bulk",
        &token,
        &json!({"items": items}),
        None,
    )
    .await;
    assert_eq!(
        results(&r),
        pairs(&[("created", ""), ("created", ""), ("created", "")]),
        "{}",
        r.text
    );
    let a = app
        .get(&format!("/api/v1/customers/{single}"), &token)
        .await;
    let b = app
        .get(&format!("/api/v1/customers/{batched}"), &token)
        .await;
    assert_eq!(a.body["purchase_count"], 3, "{}", a.text);
    assert_eq!(a.body["revenue_12m_cents"], 34_000, "{}", a.text);
    assert_eq!(a.body["open_complaints"], 1, "{}", a.text);
    for field in [
        "purchase_count",
        "lifetime_revenue_cents",
        "lifetime_profit_cents",
        "revenue_12m_cents",
        "profit_12m_cents",
        "open_complaints",
        "share_of_wallet",
        "cpr_stage",
        "loyalty_type",
    ] {
        assert_eq!(
            a.body[field], b.body[field],
            "{field}: {} / {}",
            a.text, b.text
        );
    }
    // Instants: the orders' own, and each card's latest contact.
    assert!(a.body["first_purchase_at"].is_string());
    for field in ["first_purchase_at", "last_contact_at"] {
        let instant = |r: &crate::helpers::Resp| {
            chrono::DateTime::parse_from_rfc3339(r.body[field].as_str().unwrap_or_default())
                .map(|t| t.timestamp())
                .unwrap_or_default()
        };
        assert!(
            (instant(&a) - instant(&b)).abs() <= 5,
            "{field}: {} / {}",
            a.text,
            b.text
        );
    }
}

/// An ERP re-sends its orders on every sync: those of a card archived since
/// are `unchanged` when they change nothing (in the set-based pass and item
/// by item), while a change, a new order or a single PATCH is refused.
async fn an_archived_cards_orders_resent_as_they_are_are_unchanged(app: TestApp) {
    let admin = app.admin_token().await;
    let gone = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Gone"}))
        .await
        .id();
    let orders = json!([
        {"external_id": "A-1", "customer_id": gone, "amount_cents": 100, "product": "Tea"},
        {"external_id": "A-2", "customer_id": gone, "amount_cents": 200, "product": "Tea"},
    ]);
    let r = send_orders(
        &app,
        &admin,
        orders.clone(),
        &[("created", ""), ("created", "")],
    )
    .await;
    let a1 = r.body["items"][0]["id"].as_i64().unwrap_or_default();
    let r = app
        .delete(&format!("/api/v1/customers/{gone}"), &admin)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let feed_before = app.get("/api/v1/changes?limit=500", &admin).await;

    send_orders(
        &app,
        &admin,
        orders,
        &[("unchanged", ""), ("unchanged", "")],
    )
    .await;
    // A-1 named twice: the whole batch goes item by item.
    send_orders(
        &app,
        &admin,
        json!([
            {"external_id": "A-1", "amount_cents": 100},
            {"external_id": "A-1", "customer_id": gone, "product": "Tea"},
            {"external_id": "A-2", "amount_cents": 250},
            {"external_id": "A-3", "customer_id": gone, "amount_cents": 100, "product": "Tea"},
        ]),
        &[
            ("unchanged", ""),
            ("unchanged", ""),
            ("error", "archived"),
            ("error", "archived"),
        ],
    )
    .await;
    // In the set-based pass too: a change is refused, the rest unchanged.
    send_orders(
        &app,
        &admin,
        json!([
            {"external_id": "A-1", "amount_cents": 100},
            {"external_id": "A-2", "amount_cents": 250},
        ]),
        &[("unchanged", ""), ("error", "archived")],
    )
    .await;
    let feed_after = app.get("/api/v1/changes?limit=500", &admin).await;
    assert_eq!(
        feed_before.body["items"], feed_after.body["items"],
        "nothing written"
    );
    let one = format!("/api/v1/customers/{gone}/transactions/{a1}");
    let r = app.get(&one, &admin).await;
    assert_eq!(r.body["version"], 1, "{}", r.text);
    // A single PATCH that changes nothing writes nothing, as the card's own
    // (archived.rs); one that changes the order is refused.
    let r = app.patch(&one, &admin, &json!({"amount_cents": 100})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], 1, "{}", r.text);
    let r = app.patch(&one, &admin, &json!({"amount_cents": 150})).await;
    r.problem(409);
    assert_eq!(r.code_of("customer_id"), "archived", "{}", r.text);
}

/// A typo of `customer_id` was told the transaction's fields only, without
/// the two that name the customer (a review): for a new order and for an
/// update of a known one.
async fn an_unknown_field_is_told_the_customer_reference_too(app: TestApp) {
    let token = app.admin_token().await;
    let id = app
        .create_customer(&token, json!({"kind": "individual", "name": "Typo"}))
        .await
        .id();
    let send = |item: Value| {
        let token = token.clone();
        let app = &app;
        async move {
            app.post(
                "/api/v1/transactions/bulk",
                &token,
                &json!({"items": [item]}),
            )
            .await
        }
    };
    let told_all = |r: &crate::helpers::Resp| {
        let error = &r.body["items"][0]["errors"][0];
        assert_eq!(error["field"], "custmer_id", "{}", r.text);
        assert_eq!(error["code"], "unknown_field", "{}", r.text);
        let message = error["message"].as_str().unwrap_or_default();
        for name in [
            "`customer_id`",
            "`customer_external_id`",
            "`amount_cents`",
            "`version`",
        ] {
            assert!(message.contains(name), "{name}: {message}");
        }
    };
    let r =
        send(json!({"external_id": "TYPO-1", "custmer_id": id, "amount_cents": 5, "product": "p"}))
            .await;
    told_all(&r);
    let r = send(
        json!({"external_id": "TYPO-1", "customer_id": id, "amount_cents": 5, "product": "p"}),
    )
    .await;
    assert_eq!(r.body["items"][0]["status"], "created", "{}", r.text);
    let r = send(
        json!({"external_id": "TYPO-1", "customer_id": id, "amount_cents": 6, "custmer_id": 1}),
    )
    .await;
    told_all(&r);
}

/// `customer_id` reads as every integer field of a body: a whole number
/// written as a float is that integer (it was `invalid_type`), past the
/// 64-bit range is `range` (it was `invalid_type`). Both paths: the
/// set-based one, and item by item (a batch naming a key twice).
async fn a_customer_id_written_as_a_float_names_the_card(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Floats"}))
        .await
        .id();
    #[allow(clippy::cast_precision_loss)]
    let float = c as f64;
    let beyond = json!(9_223_372_036_854_775_808u64);
    send_orders(
        &app,
        &token,
        json!([
            {"external_id": "F-1", "customer_id": float, "amount_cents": 100, "product": "Tea"},
            {"external_id": "F-2", "customer_id": beyond, "amount_cents": 100, "product": "Tea"},
            {"external_id": "F-3", "customer_id": "one", "amount_cents": 100, "product": "Tea"},
        ]),
        &[
            ("created", ""),
            ("error", "range"),
            ("error", "invalid_type"),
        ],
    )
    .await;
    let r = send_orders(
        &app,
        &token,
        json!([
            {"external_id": "F-4", "customer_id": float, "amount_cents": 100, "product": "Tea"},
            {"external_id": "F-4", "customer_id": float, "amount_cents": 300},
            {"external_id": "F-1", "customer_id": float, "amount_cents": 200},
            {"external_id": "F-5", "customer_id": beyond, "amount_cents": 100, "product": "Tea"},
        ]),
        &[
            ("created", ""),
            ("updated", ""),
            ("updated", ""),
            ("error", "range"),
        ],
    )
    .await;
    assert_eq!(
        r.body["items"][3]["errors"][0]["field"], "customer_id",
        "{}",
        r.text
    );
    let card = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(card.body["purchase_count"], 2, "{}", card.text);
    assert_eq!(card.body["lifetime_revenue_cents"], 500, "{}", card.text);
}

/// Found by a review: an order naming its card by `customer_external_id`
/// got its archived card's error at `customer_id`, a field it did not send.
async fn an_archived_card_named_by_its_external_id_is_named_so(app: TestApp) {
    let admin = app.admin_token().await;
    let gone = app
        .create_customer(
            &admin,
            json!({"kind": "individual", "name": "Gone", "external_id": "GONE-1"}),
        )
        .await
        .id();
    let r = app
        .delete(&format!("/api/v1/customers/{gone}"), &admin)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = bulk(
        &app,
        "/api/v1/transactions/bulk",
        &admin,
        &json!({"items": [
            {"external_id": "G-1", "customer_external_id": "GONE-1", "amount_cents": 100, "product": "Tea"},
            {"external_id": "G-2", "customer_id": gone, "amount_cents": 100, "product": "Tea"}
        ]}),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for (i, field) in [(0, "customer_external_id"), (1, "customer_id")] {
        let item = &r.body["items"][i];
        assert_eq!(item["status"], "error", "{}", r.text);
        assert_eq!(item["errors"][0]["field"], field, "{}", r.text);
        assert_eq!(item["errors"][0]["code"], "archived", "{}", r.text);
    }
}
