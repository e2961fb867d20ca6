//! A survey's panel is frozen as it opens: the response rate is measured
//! against the target segment's active members at that moment, not against
//! the segment as its rule or member list reads later (the survey's own
//! responses move the satisfaction and loyalty a rule may test).

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::TestApp;
use crate::surveys::{open_survey, respond};

backend_tests!(
    responses_do_not_shrink_a_panel_chosen_by_loyalty,
    a_static_panel_ignores_later_member_edits,
    the_target_is_frozen_once_open,
    a_survey_opened_before_panels_follows_its_segment,
    an_archived_respondent_leaves_every_figure,
);

const SURVEYS: &str = "/api/v1/surveys";

async fn customers(app: &TestApp, token: &str, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let r = app
            .create_customer(
                token,
                json!({"kind": "individual", "name": format!("P{i}")}),
            )
            .await;
        ids.push(r.id());
    }
    ids
}

async fn segment(app: &TestApp, token: &str, body: Value) -> i64 {
    let r = app.post("/api/v1/segments", token, &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.id()
}

async fn results(app: &TestApp, token: &str, id: i64) -> Value {
    let r = app.get(&format!("{SURVEYS}/{id}/results"), token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// Ten new cards (loyalty `unknown`), a dynamic segment of the `unknown`,
/// a survey of it; four respond, which rates them and moves their loyalty
/// off `unknown`. The rate is 4 of the 10 asked (it was 0 of the 6 left).
async fn responses_do_not_shrink_a_panel_chosen_by_loyalty(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customers(&app, &admin, 10).await;
    for rule in [
        json!({"field": "loyalty_type", "op": "eq", "value": "unknown"}),
        json!({"field": "satisfaction_overall", "op": "is_null"}),
    ] {
        let seg = segment(
            &app,
            &admin,
            json!({"name": format!("Unrated {rule}"), "kind": "dynamic", "rule": rule}),
        )
        .await;
        let (id, q) = open_survey(&app, &admin, json!({"segment_id": seg})).await;
        let s = app.get(&format!("{SURVEYS}/{id}"), &admin).await;
        assert!(s.body["panel_frozen_at"].is_string(), "{}", s.text);
        // The first rule's survey rates c0–c3; the second's (of the six
        // cards still unrated) c4–c7.
        let start = if rule["field"] == "loyalty_type" {
            0
        } else {
            4
        };
        let before = if start == 0 { 10 } else { 6 };
        let b = results(&app, &admin, id).await;
        assert_eq!(b["target_customers"], before, "{b}");
        assert_eq!(b["response_rate"], 0.0, "{b}");
        for cust in &c[start..start + 4] {
            let r = respond(
                &app,
                &admin,
                id,
                *cust,
                &[(q[0], json!(4)), (q[1], json!(5))],
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
        let card = app
            .get(&format!("/api/v1/customers/{}", c[start]), &admin)
            .await;
        assert_ne!(card.body["loyalty_type"], "unknown", "{}", card.text);
        let b = results(&app, &admin, id).await;
        assert_eq!(b["target_customers"], before, "{b}");
        assert_eq!(b["responses"], 4, "{b}");
        let rate = 4.0 / f64::from(before);
        let rate = (rate * 10_000.0).round() / 10_000.0;
        assert_eq!(b["response_rate"], rate, "{b}");
        assert_eq!(b["periods"][0]["response_rate"], rate, "{b}");
    }
}

/// A static segment [a, b, c]: d and e added after the survey opened are not
/// asked (d's response does not count), b removed stays in the panel, c archived
/// leaves it (as archived cards leave every count) and returns restored.
async fn a_static_panel_ignores_later_member_edits(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customers(&app, &admin, 5).await;
    let (a, b, archived, d, e) = (c[0], c[1], c[2], c[3], c[4]);
    let seg = segment(
        &app,
        &admin,
        json!({"name": "Panel", "kind": "static", "member_ids": [a, b, archived]}),
    )
    .await;
    let (id, q) = open_survey(&app, &admin, json!({"segment_id": seg})).await;
    let members = format!("/api/v1/segments/{seg}/members");
    let r = app
        .post(&members, &admin, &json!({"customer_ids": [d, e]}))
        .await;
    assert!(r.status < 300, "{}", r.text);
    let r = app.delete(&format!("{members}/{b}"), &admin).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app
        .delete(&format!("/api/v1/customers/{archived}"), &admin)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    for cust in [b, d] {
        let r = respond(
            &app,
            &admin,
            id,
            cust,
            &[(q[0], json!(3)), (q[1], json!(3))],
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let body = results(&app, &admin, id).await;
    assert_eq!(body["target_customers"], 2, "{body}");
    assert_eq!(body["responses"], 2, "{body}");
    assert_eq!(body["response_rate"], 0.5, "{body}");
    // Deleting the segment takes the target off the survey; the panel,
    // who was asked, stays.
    let r = app.delete(&format!("/api/v1/segments/{seg}"), &admin).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let s = app.get(&format!("{SURVEYS}/{id}"), &admin).await;
    assert!(s.body["segment_id"].is_null(), "{}", s.text);
    let after = results(&app, &admin, id).await;
    assert_eq!(after["target_customers"], 2, "{after}");
    assert_eq!(after["response_rate"], 0.5, "{after}");
    let r = app
        .post(
            &format!("/api/v1/customers/{archived}/restore"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let restored = results(&app, &admin, id).await;
    assert_eq!(restored["target_customers"], 3, "{restored}");
}

/// Once open, the target (with the questions) is frozen: another segment,
/// or none, is a 409; sending the same one changes nothing.
async fn the_target_is_frozen_once_open(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customers(&app, &admin, 2).await;
    let one = segment(
        &app,
        &admin,
        json!({"name": "One", "kind": "static", "member_ids": [c[0]]}),
    )
    .await;
    let two = segment(
        &app,
        &admin,
        json!({"name": "Two", "kind": "static", "member_ids": c}),
    )
    .await;
    let (id, _) = open_survey(&app, &admin, json!({"segment_id": one})).await;
    let url = format!("{SURVEYS}/{id}");
    for target in [json!(two), json!(null)] {
        app.patch(&url, &admin, &json!({ "segment_id": target }))
            .await
            .problem(409);
    }
    let same = app.patch(&url, &admin, &json!({"segment_id": one})).await;
    assert_eq!(same.status, 200, "{}", same.text);
    assert_eq!(same.body["segment_id"], one);
    // A survey opened without a target stays without one.
    let (plain, _) = open_survey(&app, &admin, json!({})).await;
    let r = app.get(&format!("{SURVEYS}/{plain}"), &admin).await;
    assert!(r.body["panel_frozen_at"].is_null(), "{}", r.text);
    app.patch(
        &format!("{SURVEYS}/{plain}"),
        &admin,
        &json!({ "segment_id": two }),
    )
    .await
    .problem(409);
    assert!(results(&app, &admin, plain).await["target_customers"].is_null());
    // A draft's target changes freely, and its results preview the segment
    // as it is now.
    let draft = crate::surveys::create(&app, &admin, json!({"title": "Draft", "segment_id": one}))
        .await
        .id();
    let r = app
        .patch(
            &format!("{SURVEYS}/{draft}"),
            &admin,
            &json!({ "segment_id": two }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(results(&app, &admin, draft).await["target_customers"], 2);
}

/// A survey opened before panels were frozen has none (`panel_frozen_at`
/// null, as the migration leaves it): its rate follows the segment as it
/// is now, as it always did.
async fn a_survey_opened_before_panels_follows_its_segment(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customers(&app, &admin, 3).await;
    let seg = segment(
        &app,
        &admin,
        json!({"name": "Old", "kind": "static", "member_ids": [c[0]]}),
    )
    .await;
    let (id, _) = open_survey(&app, &admin, json!({"segment_id": seg})).await;
    app.execute_sql(&format!(
        "UPDATE surveys SET panel_frozen_at = NULL WHERE id = {id}; \
         DELETE FROM survey_panel WHERE survey_id = {id};"
    ));
    let r = app
        .post(
            &format!("/api/v1/segments/{seg}/members"),
            &admin,
            &json!({"customer_ids": [c[1], c[2]]}),
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    let s = app.get(&format!("{SURVEYS}/{id}"), &admin).await;
    assert!(s.body["panel_frozen_at"].is_null(), "{}", s.text);
    assert_eq!(results(&app, &admin, id).await["target_customers"], 3);
}

/// Two members respond (ratings 5 and 1, NPS 10 and 0); the second is
/// archived: its answers leave the counts, CSAT, NPS and months as it leaves
/// the panel (the rate stayed 1 of 1 while CSAT still read 50 %), and come
/// back with its restore.
async fn an_archived_respondent_leaves_every_figure(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customers(&app, &admin, 2).await;
    let seg = segment(
        &app,
        &admin,
        json!({"name": "Both", "kind": "static", "member_ids": c}),
    )
    .await;
    let (id, q) = open_survey(&app, &admin, json!({"segment_id": seg})).await;
    for (cust, rating, nps) in [(c[0], 5, 10), (c[1], 1, 0)] {
        let r = respond(
            &app,
            &admin,
            id,
            cust,
            &[
                (q[0], json!(rating)),
                (q[1], json!(rating)),
                (q[2], json!(nps)),
            ],
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let both = results(&app, &admin, id).await;
    assert_eq!(both["responses"], 2, "{both}");
    assert_eq!(both["csat"], 50.0, "{both}");
    assert_eq!(both["nps"], 0.0, "{both}");
    let r = app
        .delete(&format!("/api/v1/customers/{}", c[1]), &admin)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let one = results(&app, &admin, id).await;
    assert_eq!(one["target_customers"], 1, "{one}");
    assert_eq!(one["responses"], 1, "{one}");
    assert_eq!(one["response_rate"], 1.0, "{one}");
    assert_eq!(one["csat"], 100.0, "{one}");
    assert_eq!(one["nps"], 100.0, "{one}");
    assert_eq!(one["periods"][0]["responses"], 1, "{one}");
    assert_eq!(one["dimensions"][0]["csat"], 100.0, "{one}");
    let r = app
        .post(
            &format!("/api/v1/customers/{}/restore", c[1]),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(results(&app, &admin, id).await, both);
}
