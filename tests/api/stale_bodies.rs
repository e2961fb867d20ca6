//! A `PATCH` checks its body before it compares versions: a bad body is a
//! 422 even with a stale `If-Match`, and a 412 means the body was valid
//! (README, "Versions"). The checks that need the stored record (a latent
//! type on an actual need, a complaint status on a call, a plan's period, a
//! static segment's rule, a card's owner, an action's owner, a survey's
//! target or status move, a card's or an order's currency) came after the
//! comparison: a client got a 412, re-read, resent, and only then learnt the
//! body could never be taken (outside reviews). So did the 409 of a change
//! to an archived card or its order, and of a funnel move the rules refuse.

use serde_json::json;

use crate::account_plans::{key_customer, plan_body};
use crate::activity_interactions::{customer, interact, interactions_of};
use crate::archived::item_is_archived;
use crate::backend_tests;
use crate::helpers::TestApp;
use crate::segments::create_segment;
use crate::surveys::{create, open_survey, questions};
use crate::sync_bulk::bulk;

backend_tests!(
    record_rules_come_before_the_version_check,
    card_and_segment_rules_come_before_the_version_check,
    action_and_survey_checks_come_before_the_version_check,
    an_archived_cards_records_refuse_a_change_before_the_version_check,
);

/// Not the version of anything here.
const STALE: &str = "\"999\"";

async fn record_rules_come_before_the_version_check(app: TestApp) {
    let admin = app.admin_token().await;
    let card = customer(&app, &admin, "Stale bodies").await;

    let needs = format!("/api/v1/customers/{card}/needs");
    let r = app
        .post(
            &needs,
            &admin,
            &json!({"kind": "actual", "description": "Tea"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let need = format!("{needs}/{}", r.id());
    let bad = json!({"latent_type": "product_shortage"});
    let r = app.patch_if_match(&need, &admin, STALE, &bad).await;
    r.problem(422);
    assert_eq!(r.code_of("latent_type"), "not_allowed", "{}", r.text);
    // A valid body with the stale version: the version check answers, also
    // for a body that changes nothing (the check stays before the no-op's
    // answer).
    for good in [
        json!({"description": "Green tea"}),
        json!({"description": "Tea"}),
    ] {
        app.patch_if_match(&need, &admin, STALE, &good)
            .await
            .problem(412);
    }

    let call = interact(&app, &admin, card, json!({"type": "call", "summary": "Hi"}))
        .await
        .id();
    let one = format!("{}/{call}", interactions_of(card));
    for (bad, field, code) in [
        (
            json!({"complaint_status": "open"}),
            "complaint_status",
            "not_allowed",
        ),
        (
            json!({"follow_up_done": true}),
            "follow_up_done",
            "no_follow_up",
        ),
    ] {
        let r = app.patch_if_match(&one, &admin, STALE, &bad).await;
        r.problem(422);
        assert_eq!(r.code_of(field), code, "{bad}: {}", r.text);
    }
    app.patch_if_match(&one, &admin, STALE, &json!({"summary": "Hello"}))
        .await
        .problem(412);

    let key = key_customer(&app, &admin).await;
    let r = app
        .post("/api/v1/account-plans", &admin, &plan_body(key))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let plan = format!("/api/v1/account-plans/{}", r.id());
    // Before the stored period_start (60 days ago).
    let bad = json!({"period_end": "2001-01-01"});
    let r = app.patch_if_match(&plan, &admin, STALE, &bad).await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["period_end"], "{}", r.text);
    app.patch_if_match(&plan, &admin, STALE, &json!({"budget_cents": 1}))
        .await
        .problem(412);
}

async fn card_and_segment_rules_come_before_the_version_check(app: TestApp) {
    let admin = app.admin_token().await;
    let card = app
        .create_customer(
            &admin,
            json!({"kind": "individual", "name": "Stale card", "wallet_size_cents": 100_000}),
        )
        .await
        .id();
    let path = format!("/api/v1/customers/{card}");
    let r = app
        .patch_if_match(&path, &admin, STALE, &json!({"owner_id": 999_999}))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["owner_id"], "{}", r.text);
    // Another currency without the wallet size restated in it.
    let r = app
        .patch_if_match(&path, &admin, STALE, &json!({"currency": "USD"}))
        .await;
    r.problem(422);
    assert_eq!(r.code_of("currency"), "not_restated", "{}", r.text);
    for good in [json!({"region": "Hangzhou"}), json!({"name": "Stale card"})] {
        app.patch_if_match(&path, &admin, STALE, &good)
            .await
            .problem(412);
    }
    // Funnel moves the rules refuse: won without a purchase, down without a
    // reason (a review: they were the 409 only after the version check).
    let r = app
        .patch(&path, &admin, &json!({"funnel_stage": "key"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for refused in [
        json!({"funnel_stage": "won"}),
        json!({"funnel_stage": "lead"}),
    ] {
        let r = app.patch_if_match(&path, &admin, STALE, &refused).await;
        r.problem(409);
        assert_eq!(r.error_fields(), ["funnel_stage"], "{refused}: {}", r.text);
    }
    app.patch_if_match(
        &path,
        &admin,
        STALE,
        &json!({"funnel_stage": "lead", "change_reason": "budget frozen"}),
    )
    .await
    .problem(412);

    // An order in another currency than its card's.
    let r = app
        .post(
            &format!("{path}/transactions"),
            &admin,
            &json!({"amount_cents": 5_000, "product": "Tea"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let order = format!("{path}/transactions/{}", r.id());
    let r = app
        .patch_if_match(&order, &admin, STALE, &json!({"currency": "USD"}))
        .await;
    r.problem(422);
    assert_eq!(r.code_of("currency"), "currency_mismatch", "{}", r.text);
    app.patch_if_match(&order, &admin, STALE, &json!({"amount_cents": 6_000}))
        .await
        .problem(412);

    // An archived card and its orders are read-only until it is restored:
    // a change is the 409 before the version check; a body that changes
    // nothing is still compared (412), then answered.
    let r = app.delete(&path, &admin).await;
    assert_eq!(r.status, 204, "{}", r.text);
    for (one, change, same) in [
        (
            &path,
            json!({"region": "Shanghai"}),
            json!({"name": "Stale card"}),
        ),
        (
            &order,
            json!({"amount_cents": 7_000}),
            json!({"amount_cents": 5_000}),
        ),
    ] {
        archived_before_stale(&app, &admin, one, &change, &same).await;
        let r = app.get(one, &admin).await;
        let etag = r.header("etag").unwrap_or_default();
        let r = app.patch_if_match(one, &admin, &etag, &same).await;
        assert_eq!(r.status, 200, "{one}: {}", r.text);
    }

    let segment = create_segment(
        &app,
        &admin,
        json!({"name": "Hand-picked", "kind": "static"}),
    )
    .await
    .id();
    let path = format!("/api/v1/segments/{segment}");
    for (bad, field, code) in [
        (json!({"kind": "dynamic"}), "kind", "immutable"),
        (
            json!({"rule": {"field": "region", "op": "eq", "value": "Hangzhou"}}),
            "rule",
            "not_allowed",
        ),
    ] {
        let r = app.patch_if_match(&path, &admin, STALE, &bad).await;
        r.problem(422);
        assert_eq!(r.code_of(field), code, "{bad}: {}", r.text);
    }
    app.patch_if_match(&path, &admin, STALE, &json!({"name": "Picked"}))
        .await
        .problem(412);
}

async fn action_and_survey_checks_come_before_the_version_check(app: TestApp) {
    let admin = app.admin_token().await;
    let key = key_customer(&app, &admin).await;
    let r = app
        .post("/api/v1/account-plans", &admin, &plan_body(key))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let actions = format!("/api/v1/account-plans/{}/actions", r.id());
    let r = app
        .post(
            &actions,
            &admin,
            &json!({"type": "executive_visit", "due_date": "2030-06-01"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let action = format!("{actions}/{}", r.id());
    let r = app
        .patch_if_match(&action, &admin, STALE, &json!({"owner_id": 999_999}))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["owner_id"], "{}", r.text);
    app.patch_if_match(&action, &admin, STALE, &json!({"cost_cents": 5}))
        .await
        .problem(412);

    let draft = create(&app, &admin, json!({"title": "Draft"})).await.id();
    let path = format!("/api/v1/surveys/{draft}");
    let r = app
        .patch_if_match(&path, &admin, STALE, &json!({"segment_id": 999_999}))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["segment_id"], "{}", r.text);
    // Opening without questions, or with the questions sent emptied.
    for body in [
        json!({"status": "open"}),
        json!({"status": "open", "questions": []}),
    ] {
        app.patch_if_match(&path, &admin, STALE, &body)
            .await
            .problem(409);
    }
    let opening = json!({"status": "open", "questions": questions()});
    app.patch_if_match(&path, &admin, STALE, &opening)
        .await
        .problem(412);
    // Nothing was written by the refused requests.
    let r = app.get(&path, &admin).await;
    assert_eq!(r.body["status"], "draft", "{}", r.text);
    assert_eq!(r.body["questions"], json!([]), "{}", r.text);

    let (open, _) = open_survey(&app, &admin, json!({})).await;
    let path = format!("/api/v1/surveys/{open}");
    for body in [
        json!({"status": "draft"}),
        json!({"questions": questions()}),
    ] {
        app.patch_if_match(&path, &admin, STALE, &body)
            .await
            .problem(409);
    }
    app.patch_if_match(&path, &admin, STALE, &json!({"status": "closed"}))
        .await
        .problem(412);
}

/// The records of an archived card are read-only until it is restored, as
/// the card and its orders are (above): a change is the 409 before the
/// version check, a body that changes nothing is still compared (412). A
/// bulk item with an old version names the card's 409 too, not its version.
async fn an_archived_cards_records_refuse_a_change_before_the_version_check(app: TestApp) {
    let admin = app.admin_token().await;
    let key = key_customer(&app, &admin).await;
    let card = format!("/api/v1/customers/{key}");
    let r = app
        .patch(&card, &admin, &json!({"external_id": "K-ARCHIVED"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let created = |path: String, body: serde_json::Value| {
        let app = &app;
        let admin = &admin;
        async move {
            let r = app.post(&path, admin, &body).await;
            assert_eq!(r.status, 201, "{path}: {}", r.text);
            format!("{path}/{}", r.id())
        }
    };
    let need = created(
        format!("{card}/needs"),
        json!({"kind": "actual", "description": "Tea"}),
    )
    .await;
    let contact = created(format!("{card}/contacts"), json!({"name": "Assistant"})).await;
    let call = created(
        interactions_of(key),
        json!({"type": "call", "summary": "Hi"}),
    )
    .await;
    let plan = created("/api/v1/account-plans".into(), plan_body(key)).await;
    let action = created(
        format!("{plan}/actions"),
        json!({"type": "executive_visit", "due_date": "2030-06-01"}),
    )
    .await;
    let r = app.delete(&card, &admin).await;
    assert_eq!(r.status, 204, "{}", r.text);
    for (one, change, same) in [
        (
            &need,
            json!({"description": "Green tea"}),
            json!({"description": "Tea"}),
        ),
        (
            &contact,
            json!({"name": "Secretary"}),
            json!({"name": "Assistant"}),
        ),
        (&call, json!({"summary": "Hello"}), json!({"summary": "Hi"})),
        (
            &plan,
            json!({"budget_cents": 1}),
            json!({"budget_cents": 20_000}),
        ),
        (
            &action,
            json!({"cost_cents": 5}),
            json!({"due_date": "2030-06-01"}),
        ),
    ] {
        archived_before_stale(&app, &admin, one, &change, &same).await;
    }
    let body =
        json!({"items": [{"external_id": "K-ARCHIVED", "version": 1, "region": "Hangzhou"}]});
    let r = bulk(&app, "/api/v1/customers/bulk", &admin, &body, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    item_is_archived(&r, 0);
    // A sales user's item for a card not theirs: the 403 first (they could
    // not restore it either).
    let (_, sales) = app.user_with_role("sales").await;
    let r = bulk(&app, "/api/v1/customers/bulk", &sales, &body, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["items"][0]["errors"][0]["code"], "forbidden",
        "{}",
        r.text
    );
}

/// With a stale `If-Match`, `change` to the archived card's record at `one`
/// is the 409 `archived`, and `same` (changing nothing) the 412.
async fn archived_before_stale(
    app: &TestApp,
    admin: &str,
    one: &str,
    change: &serde_json::Value,
    same: &serde_json::Value,
) {
    let r = app.patch_if_match(one, admin, STALE, change).await;
    r.problem(409);
    assert_eq!(r.code_of("customer_id"), "archived", "{one}: {}", r.text);
    app.patch_if_match(one, admin, STALE, same)
        .await
        .problem(412);
}
