//! An item's `version` in `POST /customers/bulk` (and `/transactions/bulk`):
//! a record changed since the client read it is not overwritten.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::TestApp;
use crate::sync_bulk::{bulk, statuses};

const CUSTOMERS: &str = "/api/v1/customers/bulk";

/// Cards K and L from the ERP (version 1), then a salesperson's edit of K's
/// phone (version 2), which the ERP has not read. Returns K's id.
async fn edited_card(app: &TestApp, token: &str) -> i64 {
    let body = json!({"items": [
        {"external_id": "K", "kind": "individual", "name": "王芳", "phone": "+86 138 0000 0001"},
        {"external_id": "L", "kind": "individual", "name": "李雷"}
    ]});
    let r = bulk(app, CUSTOMERS, token, &body, None).await;
    assert_eq!(statuses(&r), ["created", "created"], "{}", r.text);
    let id = r.body["items"][0]["id"].as_i64().unwrap();
    let edit = app
        .patch(
            &format!("/api/v1/customers/{id}"),
            token,
            &json!({"phone": "+86 138 0000 0002"}),
        )
        .await;
    assert_eq!(edit.status, 200, "{}", edit.text);
    assert_eq!(edit.body["version"], 2);
    id
}

async fn card(app: &TestApp, token: &str, id: i64) -> Value {
    let r = app.get(&format!("/api/v1/customers/{id}"), token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// The review's case: the ERP sends K's old phone for version 1; the edit
/// stays, the item is its error, the batch's other items apply.
async fn a_stale_item_is_refused_and_the_others_apply(app: TestApp) {
    let token = app.admin_token().await;
    let k = edited_card(&app, &token).await;
    let body = json!({"items": [
        {"external_id": "K", "phone": "+86 138 0000 0001", "version": 1},
        {"external_id": "L", "region": "Hangzhou", "version": 1},
        {"external_id": "M", "kind": "individual", "name": "张伟"}
    ]});
    let r = bulk(&app, CUSTOMERS, &token, &body, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(statuses(&r), ["error", "updated", "created"], "{}", r.text);
    let error = &r.body["items"][0]["errors"][0];
    assert_eq!(error["field"], "version", "{}", r.text);
    assert_eq!(error["code"], "conflict");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("version 1") && message.contains("version 2"),
        "{message}"
    );
    let k = card(&app, &token, k).await;
    assert_eq!(k["phone"], "+86 138 0000 0002");
    assert_eq!(k["version"], 2);
    assert_eq!(r.body["items"][1]["version"], 2);
}

/// The card's own version applies the item; a stale one that changes
/// nothing is `unchanged` (nothing is undone).
async fn the_current_version_updates_and_a_stale_resend_is_unchanged(app: TestApp) {
    let token = app.admin_token().await;
    let k = edited_card(&app, &token).await;
    let same = json!({"items": [{"external_id": "K", "phone": "+86 138 0000 0002", "version": 1}]});
    let r = bulk(&app, CUSTOMERS, &token, &same, None).await;
    assert_eq!(statuses(&r), ["unchanged"], "{}", r.text);
    assert_eq!(r.body["items"][0]["version"], 2);
    let current =
        json!({"items": [{"external_id": "K", "phone": "+86 138 0000 0003", "version": 2}]});
    let r = bulk(&app, CUSTOMERS, &token, &current, None).await;
    assert_eq!(statuses(&r), ["updated"], "{}", r.text);
    assert_eq!(r.body["items"][0]["version"], 3);
    assert_eq!(card(&app, &token, k).await["phone"], "+86 138 0000 0003");
    // No version, null: no check (last writer wins, as before).
    let blind =
        json!({"items": [{"external_id": "K", "phone": "+86 138 0000 0001", "version": null}]});
    let r = bulk(&app, CUSTOMERS, &token, &blind, None).await;
    assert_eq!(statuses(&r), ["updated"], "{}", r.text);
}

/// With `all_or_none`, a stale item rejects the batch: nothing applied.
async fn a_stale_item_rejects_an_all_or_none_batch(app: TestApp) {
    let token = app.admin_token().await;
    let k = edited_card(&app, &token).await;
    let body = json!({"items": [
        {"external_id": "L", "region": "Hangzhou", "version": 1},
        {"external_id": "K", "phone": "+86 138 0000 0001", "version": 1}
    ]});
    let r = bulk(
        &app,
        &format!("{CUSTOMERS}?all_or_none=true"),
        &token,
        &body,
        None,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.body["errors"][0]["field"], "items[1].version",
        "{}",
        r.text
    );
    assert_eq!(r.body["errors"][0]["code"], "conflict");
    assert_eq!(statuses(&r), ["skipped", "error"]);
    assert_eq!(card(&app, &token, k).await["phone"], "+86 138 0000 0002");
    let l = app.get("/api/v1/customers?external_id=L", &token).await;
    assert!(!l.text.contains("Hangzhou"), "{}", l.text);
}

/// A `version` on an item that creates is ignored, as the CSV import's
/// cell; one that is not a whole number is the item's error.
async fn a_create_ignores_version_and_a_bad_one_is_refused(app: TestApp) {
    let token = app.admin_token().await;
    let body = json!({"items": [
        {"external_id": "N", "kind": "individual", "name": "赵敏", "version": 7},
        {"external_id": "O", "kind": "individual", "name": "周芷若", "version": "1"},
        {"external_id": "P", "kind": "individual", "name": "小昭", "version": 1.5},
        {"external_id": "Q", "kind": "individual", "name": "殷离", "version": 1e20},
        {"external_id": "R", "kind": "individual", "name": "杨不悔", "version": 9_223_372_036_854_775_808u64},
        {"external_id": "S", "kind": "individual", "name": "纪晓芙", "version": 2.0}
    ]});
    let r = bulk(&app, CUSTOMERS, &token, &body, None).await;
    assert_eq!(
        statuses(&r),
        ["created", "error", "error", "error", "error", "created"],
        "{}",
        r.text
    );
    assert_eq!(r.body["items"][0]["version"], 1);
    // Past 64 bits it is the range, as for any integer field of a body.
    for (i, code) in [
        (1, "invalid_type"),
        (2, "invalid_type"),
        (3, "range"),
        (4, "range"),
    ] {
        let error = &r.body["items"][i]["errors"][0];
        assert_eq!(error["field"], "version", "{}", r.text);
        assert_eq!(error["code"], code, "{}", r.text);
    }
}

/// A batch naming the card twice (the in-order path): both items are
/// checked against the version the card had before the batch.
async fn items_of_one_card_are_checked_against_its_version_before_the_batch(app: TestApp) {
    let token = app.admin_token().await;
    let k = edited_card(&app, &token).await;
    let body = json!({"items": [
        {"external_id": "K", "region": "Hangzhou", "version": 2},
        {"external_id": "K", "email": "k@example.com", "version": 2},
        {"external_id": "K", "phone": "+86 138 0000 0001", "version": 1}
    ]});
    let r = bulk(&app, CUSTOMERS, &token, &body, None).await;
    assert_eq!(statuses(&r), ["updated", "updated", "error"], "{}", r.text);
    let k = card(&app, &token, k).await;
    assert_eq!(k["version"], 4);
    assert_eq!(k["phone"], "+86 138 0000 0002");
    assert_eq!(k["email"], "k@example.com");
}

const ORDERS: &str = "/api/v1/transactions/bulk";

/// Orders O-1 and O-2 of card C from the ERP (version 1), then a user's
/// correction of O-1's amount (version 2). Returns the card's and O-1's ids.
async fn corrected_order(app: &TestApp, token: &str) -> (i64, i64) {
    let card = app
        .create_customer(
            token,
            json!({"kind": "individual", "name": "王芳", "external_id": "C"}),
        )
        .await;
    let card = card.body["id"].as_i64().unwrap();
    let body = json!({"items": [
        {"external_id": "O-1", "customer_external_id": "C", "amount_cents": 1000, "product": "Tea"},
        {"external_id": "O-2", "customer_external_id": "C", "amount_cents": 2000, "product": "Tea"}
    ]});
    let r = bulk(app, ORDERS, token, &body, None).await;
    assert_eq!(statuses(&r), ["created", "created"], "{}", r.text);
    let order = r.body["items"][0]["id"].as_i64().unwrap();
    let fix = app
        .patch(
            &format!("/api/v1/customers/{card}/transactions/{order}"),
            token,
            &json!({"amount_cents": 1500}),
        )
        .await;
    assert_eq!(fix.status, 200, "{}", fix.text);
    assert_eq!(fix.body["version"], 2);
    (card, order)
}

async fn order(app: &TestApp, token: &str, card: i64, id: i64) -> Value {
    let r = app
        .get(
            &format!("/api/v1/customers/{card}/transactions/{id}"),
            token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// The same for orders: a stale correction is refused, the others apply
/// (set-based and per item), a stale resend is `unchanged`, the current
/// version applies, a create ignores it, all_or_none rejects.
async fn a_stale_order_item_is_refused(app: TestApp) {
    let token = app.admin_token().await;
    let (card, o1) = corrected_order(&app, &token).await;
    let body = json!({"items": [
        {"external_id": "O-1", "amount_cents": 1000, "version": 1},
        {"external_id": "O-2", "amount_cents": 2500, "version": 1},
        {"external_id": "O-3", "customer_id": card, "amount_cents": 10, "product": "Cup", "version": 9}
    ]});
    let r = bulk(&app, ORDERS, &token, &body, None).await;
    assert_eq!(statuses(&r), ["error", "updated", "created"], "{}", r.text);
    assert_eq!(r.body["items"][0]["errors"][0]["field"], "version");
    assert_eq!(r.body["items"][0]["errors"][0]["code"], "conflict");
    assert_eq!(r.body["items"][2]["version"], 1);
    let o = order(&app, &token, card, o1).await;
    assert_eq!(
        (o["amount_cents"].clone(), o["version"].clone()),
        (json!(1500), json!(2))
    );

    let atomic = json!({"items": [
        {"external_id": "O-2", "amount_cents": 2600, "version": 2},
        {"external_id": "O-1", "amount_cents": 1000, "version": 1}
    ]});
    let r = bulk(
        &app,
        &format!("{ORDERS}?all_or_none=true"),
        &token,
        &atomic,
        None,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.body["errors"][0]["field"], "items[1].version",
        "{}",
        r.text
    );

    let resend = json!({"items": [{"external_id": "O-1", "amount_cents": 1500, "version": 1}]});
    let r = bulk(&app, ORDERS, &token, &resend, None).await;
    assert_eq!(statuses(&r), ["unchanged"], "{}", r.text);
    assert_eq!(r.body["items"][0]["version"], 2);
    // A batch naming O-1 twice goes item by item: the same answers.
    let twice = json!({"items": [
        {"external_id": "O-1", "amount_cents": 1000, "version": 1},
        {"external_id": "O-1", "amount_cents": 1700, "version": 2}
    ]});
    let r = bulk(&app, ORDERS, &token, &twice, None).await;
    assert_eq!(statuses(&r), ["error", "updated"], "{}", r.text);
    assert_eq!(r.body["items"][1]["version"], 3);
    let o = order(&app, &token, card, o1).await;
    assert_eq!(o["amount_cents"], 1700);
    // A stale item that is wrong in itself gets its own error, not "read
    // it and send it again" (review).
    let wrong = json!({"items": [{"external_id": "O-1", "amount_cents": "x", "version": 1}]});
    let r = bulk(&app, ORDERS, &token, &wrong, None).await;
    assert_eq!(statuses(&r), ["error"], "{}", r.text);
    assert_eq!(
        r.body["items"][0]["errors"][0]["field"], "amount_cents",
        "{}",
        r.text
    );
}

/// A stale card item that is wrong in itself gets its own error, not "read
/// it and send it again" whose resend gets that error (a review): a bad
/// email, and a sales user's change to a card it does not own. Through the
/// CSV import's `version` column too. Nothing is written.
async fn a_stale_card_item_wrong_in_itself_gets_its_own_error(app: TestApp) {
    let token = app.admin_token().await;
    let id = edited_card(&app, &token).await;
    let bad = json!({"items": [{"external_id": "K", "email": "not-an-email", "version": 1}]});
    let r = bulk(&app, CUSTOMERS, &token, &bad, None).await;
    assert_eq!(statuses(&r), ["error"], "{}", r.text);
    assert_eq!(
        r.body["items"][0]["errors"][0]["field"], "email",
        "{}",
        r.text
    );
    let (_, rep) = app.user_with_role("sales").await;
    let theirs = json!({"items": [{"external_id": "K", "name": "X", "version": 1}]});
    let r = bulk(&app, CUSTOMERS, &rep, &theirs, None).await;
    assert_eq!(statuses(&r), ["error"], "{}", r.text);
    assert_ne!(
        r.body["items"][0]["errors"][0]["field"], "version",
        "{}",
        r.text
    );
    // Its bad field before its sender's rights, with a stale version as
    // without one (QA: `forbidden` with, `email` without), as a PATCH reads
    // the request before the record.
    for version in [json!(1), json!(null)] {
        let both =
            json!({"items": [{"external_id": "K", "email": "not-an-email", "version": version}]});
        let r = bulk(&app, CUSTOMERS, &rep, &both, None).await;
        assert_eq!(
            r.body["items"][0]["errors"][0]["field"], "email",
            "{version}: {}",
            r.text
        );
    }
    let r = app
        .patch(
            &format!("/api/v1/customers/{id}"),
            &rep,
            &json!({"email": "not-an-email"}),
        )
        .await;
    assert_eq!(r.error_fields(), ["email"], "{}", r.text);
    // A valid stale change still gets the version's error, and writes nothing.
    let stale = json!({"items": [{"external_id": "K", "name": "Y", "version": 1}]});
    let r = bulk(&app, CUSTOMERS, &token, &stale, None).await;
    assert_eq!(statuses(&r), ["error"], "{}", r.text);
    assert_eq!(
        r.body["items"][0]["errors"][0]["field"], "version",
        "{}",
        r.text
    );
    // A refusal that comes from what was stored since is the version's: the
    // card moved to `key` meanwhile, and the ERP's `prospect` from version
    // 1 would be a move back (a review: it got the funnel's 409, which
    // a re-read clears).
    let r = app
        .patch(
            &format!("/api/v1/customers/{id}"),
            &token,
            &json!({"funnel_stage": "key"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let back = json!({"items": [{"external_id": "K", "funnel_stage": "lead", "version": 1}]});
    let r = bulk(&app, CUSTOMERS, &token, &back, None).await;
    assert_eq!(statuses(&r), ["error"], "{}", r.text);
    assert_eq!(
        r.body["items"][0]["errors"][0]["field"], "version",
        "{}",
        r.text
    );
    let csv = format!("id,version,email\n{id},1,not-an-email\n");
    let r = crate::sync_csv::import(&app, &token, "", &csv).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["items"][0]["errors"][0]["field"], "email",
        "{}",
        r.text
    );
    let k = card(&app, &token, id).await;
    assert_eq!(
        (k["name"].as_str(), k["version"].as_i64()),
        (Some("王芳"), Some(3)),
        "{k}"
    );
    assert!(k["email"].is_null(), "{k}");
}

/// A stale item whose sender's role refuses it (a rep reassigning its own
/// card) gets the 403's error at once, as a PATCH does: the version's "read
/// it and send it again" led to a resend that got the 403 (a review).
async fn a_stale_item_its_sender_may_not_send_gets_that_error(app: TestApp) {
    let (colleague, _) = app.user_with_role("sales").await;
    let (_, rep) = app.user_with_role("sales").await;
    let id = app
        .create_customer(
            &rep,
            json!({"kind": "individual", "name": "Mine", "external_id": "R-K"}),
        )
        .await
        .id();
    for name in ["Mine 2", "Mine 3"] {
        let r = app
            .patch(
                &format!("/api/v1/customers/{id}"),
                &rep,
                &json!({"name": name}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let item = json!({"items": [{"external_id": "R-K", "owner_id": colleague, "version": 1}]});
    let r = bulk(&app, CUSTOMERS, &rep, &item, None).await;
    assert_eq!(statuses(&r), ["error"], "{}", r.text);
    assert_eq!(
        r.body["items"][0]["errors"][0]["code"], "forbidden",
        "{}",
        r.text
    );
    let csv = format!("id,version,owner_id\n{id},1,{colleague}\n");
    let r = crate::sync_csv::import(&app, &rep, "", &csv).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["items"][0]["errors"][0]["code"], "forbidden",
        "{}",
        r.text
    );
    let k = card(&app, &rep, id).await;
    assert_eq!(k["version"], 3, "{k}");
}

backend_tests!(
    a_stale_item_its_sender_may_not_send_gets_that_error,
    a_stale_card_item_wrong_in_itself_gets_its_own_error,
    a_stale_order_item_is_refused,
    a_stale_item_is_refused_and_the_others_apply,
    the_current_version_updates_and_a_stale_resend_is_unchanged,
    a_stale_item_rejects_an_all_or_none_batch,
    a_create_ignores_version_and_a_bad_one_is_refused,
    an_unknown_field_is_told_version_and_change_reason,
    a_version_ahead_of_the_record_is_not_called_a_change,
    items_of_one_card_are_checked_against_its_version_before_the_batch,
);

/// An unknown field's message lists the fields an item takes: serde's
/// listed the card's only, without `version` (taken out before) or a new
/// card's `change_reason`, and an ERP developer read it as the whole list
/// (a QA review).
async fn an_unknown_field_is_told_version_and_change_reason(app: TestApp) {
    let token = app.admin_token().await;
    let body = json!({"items": [{"external_id": "T-1", "kind": "individual", "nmae": "x"}]});
    let r = bulk(&app, CUSTOMERS, &token, &body, None).await;
    let message = |r: &crate::helpers::Resp| {
        let error = &r.body["items"][0]["errors"][0];
        assert_eq!(error["code"], "unknown_field", "{}", r.text);
        error["message"].as_str().unwrap_or_default().to_string()
    };
    let created = message(&r);
    for name in ["`name`", "`change_reason`", "`version`"] {
        assert!(created.contains(name), "{name}: {created}");
    }
    let body = json!({"items": [{"external_id": "T-1", "kind": "individual", "name": "x"}]});
    let r = bulk(&app, CUSTOMERS, &token, &body, None).await;
    assert_eq!(statuses(&r), ["created"], "{}", r.text);
    let body = json!({"items": [{"external_id": "T-1", "regoin": "x"}]});
    let r = bulk(&app, CUSTOMERS, &token, &body, None).await;
    let updated = message(&r);
    for name in ["`region`", "`change_reason`", "`version`"] {
        assert!(updated.contains(name), "{name}: {updated}");
    }
}

/// A version the record never had (ahead of it) was told "changed since"
/// (a QA review): the item's error and a PATCH's 412 say what is true.
async fn a_version_ahead_of_the_record_is_not_called_a_change(app: TestApp) {
    let token = app.admin_token().await;
    let body = json!({"items": [{"external_id": "A-1", "kind": "individual", "name": "x"}]});
    let r = bulk(&app, CUSTOMERS, &token, &body, None).await;
    let id = r.body["items"][0]["id"].as_i64().unwrap_or_default();
    let body = json!({"items": [{"external_id": "A-1", "region": "Hangzhou", "version": 9}]});
    let r = bulk(&app, CUSTOMERS, &token, &body, None).await;
    let message = r.body["items"][0]["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("was at version 1 when this batch began"),
        "{}",
        r.text
    );
    assert!(!message.contains("changed since"), "{}", r.text);
    let r = app
        .send(
            app.client
                .patch(app.url(&format!("/api/v1/customers/{id}")))
                .bearer_auth(&token)
                .header("If-Match", "\"9\"")
                .json(&json!({"region": "Hangzhou"})),
        )
        .await;
    let problem = r.problem(412);
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("it is at 1"), "{detail}");
    assert!(!detail.contains("changed since"), "{detail}");
}
