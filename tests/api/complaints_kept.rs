//! A complaint stays on the customer's record: a sales user may resolve a
//! complaint on its card and correct its text, but deleting it or making it
//! another type is for managers, admins and integrations. Either took it out
//! of the card's `open_complaints` and the at-risk signal with no trace, so
//! the card's rep could make a customer's complaints disappear (an outside
//! review).

use serde_json::{json, Value};

use crate::activity_interactions::{customer, interact, interactions_of};
use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    a_sales_user_neither_deletes_nor_reclassifies_a_complaint,
    managers_and_integrations_remove_complaints,
    a_stale_if_match_does_not_hide_the_complaint_refusal,
    an_archived_card_does_not_hide_the_complaint_refusal,
);

async fn open_complaints(app: &TestApp, token: &str, card: i64) -> Value {
    let r = app.get(&format!("/api/v1/customers/{card}"), token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["open_complaints"].clone()
}

async fn a_sales_user_neither_deletes_nor_reclassifies_a_complaint(app: TestApp) {
    let (_, manager) = app.user_with_role("manager").await;
    let (_, rep) = app.user_with_role("sales").await;
    let card = customer(&app, &rep, "Unhappy").await;
    // Logged by the rep itself and by the service desk (a manager).
    let own = interact(
        &app,
        &rep,
        card,
        json!({"type": "complaint", "summary": "Broken lids"}),
    )
    .await
    .id();
    let desk = interact(
        &app,
        &manager,
        card,
        json!({"type": "complaint", "summary": "Late delivery"}),
    )
    .await
    .id();
    assert_eq!(open_complaints(&app, &rep, card).await, 2);

    for id in [own, desk] {
        let one = format!("{}/{id}", interactions_of(card));
        let r = app.delete(&one, &rep).await;
        let detail = r.problem(403)["detail"].as_str().unwrap().to_string();
        assert!(detail.contains("complaint"), "{detail}");
        for body in [
            json!({"type": "call"}),
            json!({"type": "call", "complaint_status": null}),
            json!({"type": "care", "summary": "Called to apologise"}),
        ] {
            let r = app.patch(&one, &rep, &body).await;
            let detail = r.problem(403)["detail"].as_str().unwrap().to_string();
            assert!(detail.contains("complaint"), "{body}: {detail}");
        }
        // Nothing of the refused requests was stored.
        let r = app.get(&one, &rep).await;
        assert_eq!(r.body["type"], "complaint", "{}", r.text);
        assert_eq!(r.body["version"], 1, "{}", r.text);
    }
    assert_eq!(open_complaints(&app, &rep, card).await, 2);

    // The rep still works the complaint: corrects its text, keeps its type,
    // resolves it.
    let one = format!("{}/{desk}", interactions_of(card));
    let r = app
        .patch(
            &one,
            &rep,
            &json!({"type": "complaint", "summary": "Late delivery (two weeks)"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .patch(&one, &rep, &json!({"complaint_status": "resolved"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["complaint_status"], "resolved");
    assert_eq!(open_complaints(&app, &rep, card).await, 1);
    // A resolved complaint is still a complaint.
    app.delete(&one, &rep).await.problem(403);

    // Other contacts stay the rep's to correct, and a call may become a
    // complaint (that adds one, it hides none).
    let call = interact(
        &app,
        &rep,
        card,
        json!({"type": "call", "summary": "hello"}),
    )
    .await
    .id();
    let call = format!("{}/{call}", interactions_of(card));
    let r = app.patch(&call, &rep, &json!({"type": "visit"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.patch(&call, &rep, &json!({"type": "complaint"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(open_complaints(&app, &rep, card).await, 2);
    let mistake = interact(
        &app,
        &rep,
        card,
        json!({"type": "email", "summary": "typo"}),
    )
    .await
    .id();
    let r = app
        .delete(&format!("{}/{mistake}", interactions_of(card)), &rep)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
}

async fn managers_and_integrations_remove_complaints(app: TestApp) {
    let (_, manager) = app.user_with_role("manager").await;
    let (_, integration) = app.user_with_role("integration").await;
    let admin = app.admin_token().await;
    let (_, rep) = app.user_with_role("sales").await;
    let card = customer(&app, &rep, "Corrected").await;
    let complaint = |summary: &str| json!({"type": "complaint", "summary": summary});
    let a = interact(
        &app,
        &rep,
        card,
        complaint("logged as a complaint by mistake"),
    )
    .await
    .id();
    let b = interact(&app, &rep, card, complaint("duplicate"))
        .await
        .id();
    let c = interact(&app, &rep, card, complaint("synced twice"))
        .await
        .id();
    let d = interact(&app, &rep, card, complaint("another duplicate"))
        .await
        .id();
    assert_eq!(open_complaints(&app, &rep, card).await, 4);
    let path = |id: i64| format!("{}/{id}", interactions_of(card));

    let r = app
        .patch(&path(a), &manager, &json!({"type": "call"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["complaint_status"], Value::Null);
    assert_eq!(app.delete(&path(b), &manager).await.status, 204);
    assert_eq!(app.delete(&path(c), &integration).await.status, 204);
    assert_eq!(app.delete(&path(d), &admin).await.status, 204);
    assert_eq!(open_complaints(&app, &rep, card).await, 0);
}

/// The complaint check comes before `If-Match`, as the owner and ERP key
/// checks: a sales user's stale delete or reclassification got a 412, then
/// a 403 on the resend with the fresh version.
async fn a_stale_if_match_does_not_hide_the_complaint_refusal(app: TestApp) {
    let (_, rep) = app.user_with_role("sales").await;
    let card = customer(&app, &rep, "Unhappy").await;
    let id = interact(
        &app,
        &rep,
        card,
        json!({"type": "complaint", "summary": "Lids"}),
    )
    .await
    .id();
    let one = format!("{}/{id}", interactions_of(card));
    let stale = "\"999\"";
    let r = app
        .send(
            app.client
                .delete(app.url(&one))
                .bearer_auth(&rep)
                .header("If-Match", stale),
        )
        .await;
    r.problem(403);
    let r = app
        .patch_if_match(&one, &rep, stale, &json!({"type": "call"}))
        .await;
    r.problem(403);
    // Keeping it a complaint is allowed: the version check answers.
    app.patch_if_match(&one, &rep, stale, &json!({"summary": "Lids (two)"}))
        .await
        .problem(412);
}

/// On an archived card a sales user's complaint delete is the 403 at once,
/// as its PATCH is: the archived 409 came first, and the rep restored the
/// card (back in every list, a change in the feed) only to get the 403 (a
/// review). Its other records still get the 409.
async fn an_archived_card_does_not_hide_the_complaint_refusal(app: TestApp) {
    let (_, rep) = app.user_with_role("sales").await;
    let card = customer(&app, &rep, "Unhappy, archived").await;
    let complaint = interact(
        &app,
        &rep,
        card,
        json!({"type": "complaint", "summary": "Lids"}),
    )
    .await
    .id();
    let call = interact(
        &app,
        &rep,
        card,
        json!({"type": "call", "summary": "Hello"}),
    )
    .await
    .id();
    let admin = app.admin_token().await;
    let r = app
        .delete(&format!("/api/v1/customers/{card}"), &admin)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app
        .delete(&format!("{}/{complaint}", interactions_of(card)), &rep)
        .await;
    r.problem(403);
    let r = app
        .delete(&format!("{}/{call}", interactions_of(card)), &rep)
        .await;
    assert_eq!(
        r.problem(409)["errors"][0]["code"],
        "archived",
        "{}",
        r.text
    );
}
