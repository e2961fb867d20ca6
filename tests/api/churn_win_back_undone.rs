//! A win-back by a purchase is undone when that purchase goes: deleted (as
//! "recorded by mistake"), corrected to 0 or to a date before the churn, by
//! a single write or the bulk sync, with no other purchase after the churn
//! left, the churn record is open again and the card churned as before.
//! Left won back, an order recorded on the wrong card and deleted kept the
//! customer un-churned and counted as won back (an outside review). A
//! manual `/reactivate` is final, and so is a win-back a later churn
//! followed.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::churn::{churn, customer, days_ago, sale};
use crate::churn_win_back::{card, just_after_now, order, records, won_back};
use crate::helpers::TestApp;
use crate::sync_bulk::bulk;

backend_tests!(
    deleting_the_purchase_reopens_the_churn,
    a_win_back_moved_to_another_purchase_names_its_day,
    correcting_the_purchase_away_reopens_the_churn,
    a_manual_reactivation_and_a_later_churn_stay,
    an_order_zeroed_in_its_own_batch_wins_nothing_back,
    a_fix_of_an_order_already_bought_after_the_churn_wins_nothing_back,
    a_backfill_keeps_the_purchase_that_won_back,
);

/// A churned customer (reason `competition`) and its churn's instant.
async fn churned(app: &TestApp, token: &str, name: &str) -> (i64, Value) {
    let c = customer(app, token, name).await;
    sale(app, token, c, 5_000, 1_000, 30).await;
    let r = churn(app, token, c, "competition", Some("Went to a rival")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    (c, r.body["churned_at"].clone())
}

/// The card is churned as it was by the churn at `at`, its record open.
async fn assert_reopened(app: &TestApp, token: &str, c: i64, at: &Value) {
    let now = card(app, token, c).await;
    assert_eq!(now["churned_at"], *at, "{now}");
    assert_eq!(now["churn_reason"], "competition", "{now}");
    let record = &records(app, token, c).await[0];
    for field in [
        "reactivated_at",
        "reactivated_by",
        "reactivation_note",
        "reactivated_by_transaction_id",
    ] {
        assert!(record[field].is_null(), "{field}: {record}");
    }
}

async fn assert_won_back(app: &TestApp, token: &str, c: i64, by: &Value) {
    assert!(card(app, token, c).await["churned_at"].is_null());
    let record = &records(app, token, c).await[0];
    assert_eq!(record["reactivated_by_transaction_id"], *by, "{record}");
}

async fn churned_events(app: &TestApp, token: &str, c: i64) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/customers/{c}/history"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["kind"] == "churned")
        .map(|e| e["reason"].clone())
        .collect()
}

async fn deleting_the_purchase_reopens_the_churn(app: TestApp) {
    let admin = app.admin_token().await;
    let (c, at) = churned(&app, &admin, "Wrong card").await;
    let wrong = order(&app, &admin, c, 3_000, &just_after_now()).await;
    assert_won_back(&app, &admin, c, &wrong["id"]).await;
    assert_eq!(won_back(&app, &admin).await, 1);
    let version = card(&app, &admin, c).await["version"].as_i64().unwrap_or(0);

    let r = app
        .delete(
            &format!("/api/v1/customers/{c}/transactions/{}", wrong["id"]),
            &admin,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_reopened(&app, &admin, c, &at).await;
    assert_eq!(won_back(&app, &admin).await, 0);
    assert_eq!(
        card(&app, &admin, c).await["version"],
        json!(version + 1),
        "a card write"
    );
    assert_eq!(records(&app, &admin, c).await.len(), 1, "the same record");
    assert_eq!(
        churned_events(&app, &admin, c).await,
        [
            json!("win-back undone: no purchase after the churn is left"),
            json!("Went to a rival")
        ]
    );
    // A free service is no purchase: nothing wins it back.
    order(&app, &admin, c, 0, &just_after_now()).await;
    assert_reopened(&app, &admin, c, &at).await;

    // Two purchases after the churn: deleting the one that won it back
    // leaves the other, which keeps the win-back.
    let first = order(&app, &admin, c, 1_000, &just_after_now()).await;
    let second = order(&app, &admin, c, 2_000, &just_after_now()).await;
    assert_won_back(&app, &admin, c, &first["id"]).await;
    let r = app
        .delete(
            &format!("/api/v1/customers/{c}/transactions/{}", first["id"]),
            &admin,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_won_back(&app, &admin, c, &second["id"]).await;
}

/// The win-back moved to the purchase left after the churn says that
/// purchase's day (review: it kept the day of the purchase gone).
async fn a_win_back_moved_to_another_purchase_names_its_day(app: TestApp) {
    let admin = app.admin_token().await;
    let (c, _) = churned(&app, &admin, "Moved").await;
    let ten_days_back = days_ago(10).replace('T', " ").replace('Z', "");
    for table in ["churn_records", "customers"] {
        let column = if table == "customers" {
            "id"
        } else {
            "customer_id"
        };
        app.execute_sql(&format!(
            "UPDATE {table} SET churned_at = '{ten_days_back}' WHERE {column} = {c}"
        ));
    }
    let first = order(&app, &admin, c, 1_000, &days_ago(5)).await;
    let second = order(&app, &admin, c, 2_000, &days_ago(2)).await;
    assert_won_back(&app, &admin, c, &first["id"]).await;
    let note = |day: &str| json!(format!("purchase on {day}"));
    let record = &records(&app, &admin, c).await[0];
    assert_eq!(
        record["reactivation_note"],
        note(&days_ago(5)[..10]),
        "{record}"
    );
    let r = app
        .delete(
            &format!("/api/v1/customers/{c}/transactions/{}", first["id"]),
            &admin,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_won_back(&app, &admin, c, &second["id"]).await;
    let record = &records(&app, &admin, c).await[0];
    assert_eq!(
        record["reactivation_note"],
        note(&days_ago(2)[..10]),
        "{record}"
    );
    // Its own date corrected, still the earliest after the churn: the note follows.
    let r = app
        .patch(
            &format!("/api/v1/customers/{c}/transactions/{}", second["id"]),
            &admin,
            &json!({"occurred_at": days_ago(1)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_won_back(&app, &admin, c, &second["id"]).await;
    let record = &records(&app, &admin, c).await[0];
    assert_eq!(
        record["reactivation_note"],
        note(&days_ago(1)[..10]),
        "{record}"
    );
}

async fn correcting_the_purchase_away_reopens_the_churn(app: TestApp) {
    let admin = app.admin_token().await;
    let (c, at) = churned(&app, &admin, "Corrected").await;
    let t = order(&app, &admin, c, 3_000, &just_after_now()).await;
    let path = format!("/api/v1/customers/{c}/transactions/{}", t["id"]);
    assert_won_back(&app, &admin, c, &t["id"]).await;

    // To 0 (a refund): no purchase after the churn.
    let r = app.patch(&path, &admin, &json!({"amount_cents": 0})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_reopened(&app, &admin, c, &at).await;
    // Paid again: won back again, by the same order.
    let r = app
        .patch(&path, &admin, &json!({"amount_cents": 3_000}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_won_back(&app, &admin, c, &t["id"]).await;
    // Dated before the churn: a backfill, no win-back.
    let r = app
        .patch(&path, &admin, &json!({"occurred_at": days_ago(3)}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_reopened(&app, &admin, c, &at).await;
    assert_eq!(won_back(&app, &admin).await, 0);

    // The bulk sync's correction of an order by its key.
    let (_, sync) = app.user_with_role("integration").await;
    let (d, d_at) = churned(&app, &admin, "Corrected by the ERP").await;
    let item = |amount: i64| {
        json!({"items": [{"external_id": "SO-9", "customer_id": d, "amount_cents": amount,
               "product": "Gift set", "occurred_at": just_after_now()}]})
    };
    let r = bulk(&app, "/api/v1/transactions/bulk", &sync, &item(4_000), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(card(&app, &admin, d).await["churned_at"].is_null());
    let r = bulk(&app, "/api/v1/transactions/bulk", &sync, &item(0), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"][0]["status"], "updated", "{}", r.text);
    assert_reopened(&app, &admin, d, &d_at).await;
}

async fn a_manual_reactivation_and_a_later_churn_stay(app: TestApp) {
    let admin = app.admin_token().await;
    // Won back by hand, then an order that is deleted: still won back.
    let (c, _) = churned(&app, &admin, "Won back by a visit").await;
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/reactivate"),
            &admin,
            &json!({"note": "executive visit"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body["reactivated_by_transaction_id"].is_null(),
        "{}",
        r.text
    );
    let t = order(&app, &admin, c, 3_000, &just_after_now()).await;
    let r = app
        .delete(
            &format!("/api/v1/customers/{c}/transactions/{}", t["id"]),
            &admin,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(card(&app, &admin, c).await["churned_at"].is_null());
    assert!(records(&app, &admin, c).await[0]["reactivated_at"].is_string());

    // Won back by an order, churned again later: deleting the order leaves
    // both records as they are (the later churn is the card's state).
    let (d, _) = churned(&app, &admin, "Churned twice").await;
    let t = order(&app, &admin, d, 3_000, &just_after_now()).await;
    let again = churn(&app, &admin, d, "natural", None).await;
    assert_eq!(again.status, 201, "{}", again.text);
    let r = app
        .delete(
            &format!("/api/v1/customers/{d}/transactions/{}", t["id"]),
            &admin,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let now = card(&app, &admin, d).await;
    assert_eq!(now["churn_reason"], "natural", "{now}");
    assert_eq!(now["churned_at"], again.body["churned_at"], "{now}");
    let history = records(&app, &admin, d).await;
    assert!(history[0]["reactivated_at"].is_null());
    assert_eq!(history[1]["reactivated_by_transaction_id"], t["id"]);
}

/// One bulk batch records an order after the churn and then corrects it to
/// 0 (the ERP's refund, sent with the sale): the batch leaves no purchase
/// after the churn, so nothing is won back. Judged by the order as first
/// written, the batch won the customer back and its end undid that at once:
/// a `reactivated` and a `churned` event in the history, and two card
/// changes in the feed, for a win-back that never was.
async fn an_order_zeroed_in_its_own_batch_wins_nothing_back(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, sync) = app.user_with_role("integration").await;
    let (c, at) = churned(&app, &admin, "Refunded in the same sync").await;
    let before = card(&app, &admin, c).await;
    let head = app.get("/api/v1/changes/head", &admin).await;
    let cursor = head.body["cursor"].as_str().unwrap_or_default().to_string();
    let item = |amount: i64| {
        json!({"external_id": "SO-7", "customer_id": c, "amount_cents": amount,
               "product": "Gift set", "occurred_at": just_after_now()})
    };
    let r = bulk(
        &app,
        "/api/v1/transactions/bulk",
        &sync,
        &json!({"items": [item(4_000), item(0)]}),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        crate::sync_bulk::statuses(&r),
        ["created", "updated"],
        "{}",
        r.text
    );
    assert_reopened(&app, &admin, c, &at).await;
    assert_eq!(records(&app, &admin, c).await.len(), 1, "the same record");
    assert_eq!(
        churned_events(&app, &admin, c).await,
        [json!("Went to a rival")]
    );
    let history = app
        .get(&format!("/api/v1/customers/{c}/history"), &admin)
        .await;
    assert!(
        !history.text.contains("\"reactivated\""),
        "no win-back in the history: {}",
        history.text
    );
    let after = card(&app, &admin, c).await;
    assert_eq!(after["purchase_count"], before["purchase_count"], "{after}");
    assert_eq!(won_back(&app, &admin).await, 0);
    let feed = app
        .get(
            &format!("/api/v1/changes?after={cursor}&types=customer"),
            &admin,
        )
        .await;
    assert_eq!(feed.status, 200, "{}", feed.text);
    let cards: Vec<&Value> = feed.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["entity_id"] == json!(c))
        .collect();
    assert!(cards.is_empty(), "no card change in the feed: {cards:?}");
    assert_eq!(after["version"], before["version"], "{after}");
}

/// An order that already was a purchase after the churn (kept from before
/// the win-back rule; or dated a few minutes ahead when the churn was
/// recorded) is not made one by a fix of its notes, cost or date: by a
/// PATCH, a bulk batch's set-based pass or its in-order pass, such a fix
/// won the customer back at the fix's date (a review).
async fn a_fix_of_an_order_already_bought_after_the_churn_wins_nothing_back(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, sync) = app.user_with_role("integration").await;
    let (c, at) = churned(&app, &admin, "Bought before the rule").await;
    let item = |amount: i64, notes: &str| {
        json!({"external_id": "SO-L", "customer_id": c, "amount_cents": amount,
               "cost_cents": 100, "product": "Gift set", "notes": notes,
               "occurred_at": just_after_now()})
    };
    let r = bulk(
        &app,
        "/api/v1/transactions/bulk",
        &sync,
        &json!({"items": [item(0, "free")]}),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.body["items"][0]["id"].clone();
    // As the version before the rule left it: a purchase after the churn,
    // the card still churned.
    app.execute_sql("UPDATE transactions SET amount_cents = 2500 WHERE external_id = 'SO-L'");
    assert_reopened(&app, &admin, c, &at).await;

    let r = app
        .patch(
            &format!("/api/v1/customers/{c}/transactions/{id}"),
            &admin,
            &json!({"notes": "gift wrapped", "occurred_at": just_after_now()}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_reopened(&app, &admin, c, &at).await;
    for batch in [
        vec![item(2_500, "cost fixed")],
        vec![item(2_500, "in order 1"), item(2_500, "in order 2")],
    ] {
        let r = bulk(
            &app,
            "/api/v1/transactions/bulk",
            &sync,
            &json!({"items": batch}),
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            r.body["items"].as_array().is_some_and(|items| items
                .iter()
                .all(|i| i["status"] == "updated" && i["id"] == id)),
            "{}",
            r.text
        );
        assert_reopened(&app, &admin, c, &at).await;
    }
    assert_eq!(won_back(&app, &admin).await, 0);
    // A purchase written after the churn still wins it back: created and
    // corrected in one batch, it is judged as created (the correction's
    // "before" is the batch's own purchase, not one the card had).
    let new = |amount: i64| {
        json!({"external_id": "SO-N", "customer_id": c, "amount_cents": amount,
               "product": "Gift set", "occurred_at": just_after_now()})
    };
    let r = bulk(
        &app,
        "/api/v1/transactions/bulk",
        &sync,
        &json!({"items": [new(1_000), new(1_200)]}),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_won_back(&app, &admin, c, &r.body["items"][0]["id"]).await;
}

/// Orders backfilled between the churn and the purchase that won the
/// customer back leave the record naming that purchase, whatever path
/// records them and whatever the card's next write: the bulk batch's end
/// relinked it to the earliest at once, and after a single POST (which did
/// not) the next write of any order did (a review).
async fn a_backfill_keeps_the_purchase_that_won_back(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, sync) = app.user_with_role("integration").await;
    let (c, _) = churned(&app, &admin, "Backfilled").await;
    let ten_days_back = days_ago(10).replace('T', " ").replace('Z', "");
    app.execute_sql(&format!(
        "UPDATE churn_records SET churned_at = '{ten_days_back}' WHERE customer_id = {c}; \
         UPDATE customers SET churned_at = '{ten_days_back}' WHERE id = {c};"
    ));
    let bought = order(&app, &admin, c, 2_000, &days_ago(2)).await;
    let day = bought["occurred_at"].as_str().unwrap_or_default();
    let note = json!(format!("purchase on {}", day.get(..10).unwrap_or_default()));
    let assert_kept = || async {
        assert_won_back(&app, &admin, c, &bought["id"]).await;
        let record = &records(&app, &admin, c).await[0];
        assert_eq!(record["reactivation_note"], note, "{record}");
    };
    assert_kept().await;
    let single = order(&app, &admin, c, 1_000, &days_ago(6)).await;
    assert_kept().await;
    let r = bulk(
        &app,
        "/api/v1/transactions/bulk",
        &sync,
        &json!({"items": [{"external_id": "SO-B", "customer_id": c, "amount_cents": 1_500,
                           "product": "Gift set", "occurred_at": days_ago(5)}]}),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_kept().await;
    let r = app
        .patch(
            &format!("/api/v1/customers/{c}/transactions/{}", single["id"]),
            &admin,
            &json!({"product": "Ginseng tea, large"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_kept().await;
}
