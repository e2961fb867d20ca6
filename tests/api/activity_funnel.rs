//! The sales funnel rules on `PATCH /customers/{id}` and the history they
//! leave in `/customers/{id}/history`: every stage and grade change is kept
//! (from, to, who, when, why); illegal moves are 409 problems.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

backend_tests!(
    creating_a_customer_records_the_initial_stage,
    creating_with_a_stage_and_grade_records_both,
    a_reason_sent_with_a_new_card_is_kept_in_its_first_event,
    a_handover_is_kept_in_the_history,
    forward_moves_record_who_when_and_why,
    skipping_stages_forward_is_allowed,
    won_needs_a_recorded_transaction,
    creating_a_customer_directly_as_won_is_409,
    moving_back_down_needs_a_change_reason,
    grade_changes_are_recorded,
    change_reason_is_validated,
    stale_if_match_records_nothing,
    history_filters_by_kind_and_pages,
    role_rules_for_funnel_moves,
);

const STAGE: &str = "funnel_stage_changed";
const GRADE: &str = "prospect_grade_changed";

fn card(id: i64) -> String {
    format!("/api/v1/customers/{id}")
}

fn history(id: i64) -> String {
    format!("/api/v1/customers/{id}/history")
}

fn instant(v: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")))
        .unwrap()
}

/// The customer's events of `kind`, newest first.
async fn events(app: &TestApp, token: &str, id: i64, kind: &str) -> Vec<Value> {
    let r = app
        .get(&format!("{}?kind={kind}&limit=500", history(id)), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["next_cursor"].is_null());
    let items = r.body["items"].as_array().unwrap().clone();
    assert!(items.iter().all(|e| e["kind"] == json!(kind)), "{}", r.text);
    items
}

/// (from, to) of each event, newest first.
fn moves(events: &[Value]) -> Vec<(Value, Value)> {
    events
        .iter()
        .map(|e| (e["from"].clone(), e["to"].clone()))
        .collect()
}

fn mv(from: Option<&str>, to: Option<&str>) -> (Value, Value) {
    (json!(from), json!(to))
}

async fn new_customer(app: &TestApp, token: &str, extra: Value) -> Resp {
    let mut body = json!({"kind": "organization", "name": "华康贸易"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    app.create_customer(token, body).await
}

async fn move_to(app: &TestApp, token: &str, id: i64, body: Value) -> Resp {
    app.patch(&card(id), token, &body).await
}

async fn record_transaction(app: &TestApp, token: &str, id: i64) {
    let r = app
        .post(
            &format!("/api/v1/customers/{id}/transactions"),
            token,
            &json!({"amount_cents": 100_000, "product": "Ginseng tea"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn creating_a_customer_records_the_initial_stage(app: TestApp) {
    let (manager_id, manager) = app.user_with_role("manager").await;
    let before = Utc::now() - Duration::seconds(5);
    let c = new_customer(&app, &manager, json!({})).await;
    assert_eq!(c.body["funnel_stage"], json!("lead"));
    let id = c.id();
    let stage = events(&app, &manager, id, STAGE).await;
    assert_eq!(moves(&stage), vec![mv(None, Some("lead"))]);
    let e = &stage[0];
    assert_eq!(e["customer_id"], json!(id));
    assert_eq!(e["user_id"], json!(manager_id));
    assert_eq!(e["reason"], Value::Null);
    assert_eq!(e["subject_id"], Value::Null);
    assert!(e["id"].is_i64());
    let at = instant(&e["at"]);
    assert!(
        at >= before && at <= Utc::now() + Duration::seconds(5),
        "{at}"
    );
    // No grade given: no grade event.
    assert!(events(&app, &manager, id, GRADE).await.is_empty());
}

/// `POST /customers` takes `change_reason` as a bulk item creating a card
/// does, kept in the first event (it was a 422 `unknown_field` there while
/// the bulk path stored it: a QA review); trimmed, not blank, at most 500.
async fn a_reason_sent_with_a_new_card_is_kept_in_its_first_event(app: TestApp) {
    let token = app.admin_token().await;
    let c = new_customer(
        &app,
        &token,
        json!({"funnel_stage": "key", "change_reason": "  carried over from the old CRM "}),
    )
    .await;
    assert_eq!(c.status, 201, "{}", c.text);
    assert!(
        c.body.get("change_reason").is_none(),
        "not a card field: {}",
        c.text
    );
    let stage = events(&app, &token, c.id(), STAGE).await;
    assert_eq!(moves(&stage), vec![mv(None, Some("key"))]);
    assert_eq!(stage[0]["reason"], "carried over from the old CRM");
    for (reason, code) in [(json!("  "), "blank"), (json!("x".repeat(501)), "length")] {
        let r = app
            .post(
                "/api/v1/customers",
                &token,
                &json!({"kind": "individual", "name": "R", "change_reason": reason}),
            )
            .await;
        r.problem(422);
        assert_eq!(
            r.error_codes(),
            [("change_reason".to_string(), code.to_string())]
        );
    }
}

/// Who owned the customer when was nowhere (a QA review): a change of
/// owner is an `owner_changed` event, by PATCH and by bulk item alike, with
/// the reason sent with it; a PATCH that keeps the owner records none.
async fn a_handover_is_kept_in_the_history(app: TestApp) {
    let admin = app.admin_token().await;
    let (rep_a, _) = app.user_with_role("sales").await;
    let (rep_b, _) = app.user_with_role("sales").await;
    let c = new_customer(
        &app,
        &admin,
        json!({"owner_id": rep_a, "external_id": "HAND-1"}),
    )
    .await;
    let id = c.id();
    let r = move_to(
        &app,
        &admin,
        id,
        json!({"owner_id": rep_b, "change_reason": "rep A left"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = move_to(&app, &admin, id, json!({"notes": "same owner"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = json!({"items": [{"external_id": "HAND-1", "owner_id": rep_a}]});
    let r = app.post("/api/v1/customers/bulk", &admin, &body).await;
    assert_eq!(r.body["items"][0]["status"], "updated", "{}", r.text);
    let handovers = events(&app, &admin, id, "owner_changed").await;
    let (a, b) = (rep_a.to_string(), rep_b.to_string());
    assert_eq!(
        moves(&handovers),
        vec![mv(Some(&b), Some(&a)), mv(Some(&a), Some(&b))]
    );
    assert_eq!(handovers[1]["reason"], "rep A left");
    assert_eq!(handovers[0]["reason"], Value::Null);
    assert!(
        handovers.iter().all(|e| e["user_id"].is_i64()),
        "{handovers:?}"
    );
}

async fn creating_with_a_stage_and_grade_records_both(app: TestApp) {
    let (rep_id, rep) = app.user_with_role("sales").await;
    let c = new_customer(
        &app,
        &rep,
        json!({"funnel_stage": "prospect", "prospect_grade": "A"}),
    )
    .await;
    let id = c.id();
    assert_eq!(c.body["funnel_stage"], json!("prospect"));
    assert_eq!(c.body["prospect_grade"], json!("A"));
    let stage = events(&app, &rep, id, STAGE).await;
    assert_eq!(moves(&stage), vec![mv(None, Some("prospect"))]);
    assert_eq!(stage[0]["user_id"], json!(rep_id));
    let grade = events(&app, &rep, id, GRADE).await;
    assert_eq!(moves(&grade), vec![mv(None, Some("A"))]);
    assert_eq!(grade[0]["user_id"], json!(rep_id));
    // A new customer may start further down the funnel (a walk-in buyer).
    let c = new_customer(&app, &rep, json!({"funnel_stage": "key"})).await;
    assert_eq!(
        moves(&events(&app, &rep, c.id(), STAGE).await),
        vec![mv(None, Some("key"))]
    );
}

async fn forward_moves_record_who_when_and_why(app: TestApp) {
    let admin = app.admin_token().await;
    let (manager_id, manager) = app.user_with_role("manager").await;
    let (rep_id, rep) = app.user_with_role("sales").await;
    let id = new_customer(&app, &admin, json!({"owner_id": rep_id}))
        .await
        .id();

    let before = Utc::now() - Duration::seconds(5);
    let r = move_to(
        &app,
        &rep,
        id,
        json!({"funnel_stage": "prospect", "change_reason": "Qualified at the trade show"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["funnel_stage"], json!("prospect"));
    assert_eq!(r.body["version"], json!(2));
    let r = move_to(&app, &manager, id, json!({"funnel_stage": "ordinary"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = move_to(
        &app,
        &manager,
        id,
        json!({"funnel_stage": "key", "change_reason": "Big annual contract in view"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["funnel_stage"], json!("key"));

    let stage = events(&app, &admin, id, STAGE).await;
    assert_eq!(
        moves(&stage),
        vec![
            mv(Some("ordinary"), Some("key")),
            mv(Some("prospect"), Some("ordinary")),
            mv(Some("lead"), Some("prospect")),
            mv(None, Some("lead")),
        ]
    );
    assert_eq!(stage[0]["user_id"], json!(manager_id));
    assert_eq!(stage[0]["reason"], json!("Big annual contract in view"));
    assert_eq!(stage[1]["user_id"], json!(manager_id));
    assert_eq!(stage[1]["reason"], Value::Null);
    assert_eq!(stage[2]["user_id"], json!(rep_id));
    assert_eq!(stage[2]["reason"], json!("Qualified at the trade show"));
    // When: in order, and now.
    let ats: Vec<_> = stage.iter().map(|e| instant(&e["at"])).collect();
    assert!(ats.windows(2).all(|w| w[0] >= w[1]), "{ats:?}");
    assert!(ats[2] >= before && ats[0] <= Utc::now() + Duration::seconds(5));

    // A PATCH that leaves the stage as it is records nothing.
    let r = move_to(
        &app,
        &manager,
        id,
        json!({"funnel_stage": "key", "notes": "still key"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = move_to(&app, &manager, id, json!({"notes": "other change"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(events(&app, &admin, id, STAGE).await.len(), 4);
}

async fn skipping_stages_forward_is_allowed(app: TestApp) {
    let admin = app.admin_token().await;
    let id = new_customer(&app, &admin, json!({})).await.id();
    let r = move_to(&app, &admin, id, json!({"funnel_stage": "key"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["funnel_stage"], json!("key"));
    assert_eq!(
        moves(&events(&app, &admin, id, STAGE).await),
        vec![mv(Some("lead"), Some("key")), mv(None, Some("lead"))]
    );
}

async fn won_needs_a_recorded_transaction(app: TestApp) {
    let admin = app.admin_token().await;
    let id = new_customer(&app, &admin, json!({"funnel_stage": "key"}))
        .await
        .id();

    for body in [
        json!({"funnel_stage": "won"}),
        json!({"funnel_stage": "won", "change_reason": "They said yes"}),
    ] {
        let r = move_to(&app, &admin, id, body).await;
        let p = r.problem(409);
        assert_eq!(p["type"], json!("/problems/conflict"));
        assert_eq!(p["errors"][0]["field"], json!("funnel_stage"), "{p}");
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains("won") && detail.contains("transaction"),
            "the detail explains the rule: {detail}"
        );
    }
    // Nothing changed, nothing recorded.
    let g = app.get(&card(id), &admin).await;
    assert_eq!(g.body["funnel_stage"], json!("key"));
    assert_eq!(g.body["version"], json!(1));
    assert_eq!(events(&app, &admin, id, STAGE).await.len(), 1);

    // Once they have bought, they are won.
    record_transaction(&app, &admin, id).await;
    let r = move_to(&app, &admin, id, json!({"funnel_stage": "won"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["funnel_stage"], json!("won"));
    assert_eq!(
        moves(&events(&app, &admin, id, STAGE).await),
        vec![mv(Some("key"), Some("won")), mv(None, Some("key"))]
    );
    // A lead with a transaction may jump straight to won.
    let lead = new_customer(&app, &admin, json!({})).await.id();
    record_transaction(&app, &admin, lead).await;
    let r = move_to(&app, &admin, lead, json!({"funnel_stage": "won"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn creating_a_customer_directly_as_won_is_409(app: TestApp) {
    let admin = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/customers",
            &admin,
            &json!({"kind": "individual", "name": "Instant win", "funnel_stage": "won"}),
        )
        .await;
    let p = r.problem(409);
    assert!(
        p["detail"].as_str().unwrap().contains("transaction"),
        "{}",
        r.text
    );
    // Nothing was created.
    let r = app.get("/api/v1/customers?limit=500", &admin).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != json!("Instant win")),
        "{}",
        r.text
    );
}

async fn moving_back_down_needs_a_change_reason(app: TestApp) {
    let admin = app.admin_token().await;
    let (manager_id, manager) = app.user_with_role("manager").await;
    let id = new_customer(&app, &admin, json!({"funnel_stage": "key"}))
        .await
        .id();
    record_transaction(&app, &admin, id).await;
    let r = move_to(&app, &admin, id, json!({"funnel_stage": "won"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let version = r.body["version"].clone();

    for body in [
        json!({"funnel_stage": "key"}),
        json!({"funnel_stage": "lead"}),
    ] {
        let r = move_to(&app, &manager, id, body).await;
        let p = r.problem(409);
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains("change_reason") && detail.contains("won"),
            "the detail names the move and the missing reason: {detail}"
        );
    }
    let g = app.get(&card(id), &admin).await;
    assert_eq!(g.body["funnel_stage"], json!("won"));
    assert_eq!(g.body["version"], version);
    assert_eq!(events(&app, &admin, id, STAGE).await.len(), 2);

    let r = move_to(
        &app,
        &manager,
        id,
        json!({"funnel_stage": "key", "change_reason": "  Order cancelled; back to nurturing  "}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["funnel_stage"], json!("key"));
    let stage = events(&app, &admin, id, STAGE).await;
    assert_eq!(stage[0]["from"], json!("won"));
    assert_eq!(stage[0]["to"], json!("key"));
    assert_eq!(
        stage[0]["reason"],
        json!("Order cancelled; back to nurturing")
    );
    assert_eq!(stage[0]["user_id"], json!(manager_id));
    // Several steps back at once, with a reason.
    let r = move_to(
        &app,
        &manager,
        id,
        json!({"funnel_stage": "lead", "change_reason": "Company restructured"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        moves(&events(&app, &admin, id, STAGE).await)[0],
        mv(Some("key"), Some("lead"))
    );
}

async fn grade_changes_are_recorded(app: TestApp) {
    let admin = app.admin_token().await;
    let (manager_id, manager) = app.user_with_role("manager").await;
    let id = new_customer(
        &app,
        &admin,
        json!({"funnel_stage": "prospect", "prospect_grade": "A"}),
    )
    .await
    .id();

    let r = move_to(
        &app,
        &manager,
        id,
        json!({"prospect_grade": "B", "change_reason": "Budget postponed; nurture"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["prospect_grade"], json!("B"));
    let grade = events(&app, &admin, id, GRADE).await;
    assert_eq!(
        moves(&grade),
        vec![mv(Some("A"), Some("B")), mv(None, Some("A"))]
    );
    assert_eq!(grade[0]["reason"], json!("Budget postponed; nurture"));
    assert_eq!(grade[0]["user_id"], json!(manager_id));
    // A grade change alone records no stage event.
    assert_eq!(events(&app, &admin, id, STAGE).await.len(), 1);

    // Up again without a reason; then cleared.
    let r = move_to(&app, &manager, id, json!({"prospect_grade": "A"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = move_to(&app, &manager, id, json!({"prospect_grade": null})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["prospect_grade"], Value::Null);
    assert_eq!(
        moves(&events(&app, &admin, id, GRADE).await),
        vec![
            mv(Some("A"), None),
            mv(Some("B"), Some("A")),
            mv(Some("A"), Some("B")),
            mv(None, Some("A")),
        ]
    );
    // The same grade again records nothing.
    let r = move_to(&app, &manager, id, json!({"prospect_grade": null})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(events(&app, &admin, id, GRADE).await.len(), 4);

    // Stage and grade in one PATCH: both recorded, with the same reason and time.
    let r = move_to(
        &app,
        &manager,
        id,
        json!({"funnel_stage": "ordinary", "prospect_grade": "C", "change_reason": "First visit done"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let stage = events(&app, &admin, id, STAGE).await;
    let grade = events(&app, &admin, id, GRADE).await;
    assert_eq!(stage[0]["to"], json!("ordinary"));
    assert_eq!(grade[0]["to"], json!("C"));
    assert_eq!(stage[0]["reason"], json!("First visit done"));
    assert_eq!(grade[0]["reason"], json!("First visit done"));
    assert_eq!(instant(&stage[0]["at"]), instant(&grade[0]["at"]));
    // An unknown grade is a 422, and changes nothing.
    let r = move_to(&app, &manager, id, json!({"prospect_grade": "D"})).await;
    r.problem(422);
    assert_eq!(r.error_fields(), vec!["prospect_grade"]);
    assert_eq!(events(&app, &admin, id, GRADE).await.len(), 5);
}

async fn change_reason_is_validated(app: TestApp) {
    let admin = app.admin_token().await;
    let id = new_customer(&app, &admin, json!({"funnel_stage": "key"}))
        .await
        .id();
    // Blank: a 422 naming it (it was taken for none: a 409 asking for one).
    let r = move_to(
        &app,
        &admin,
        id,
        json!({"funnel_stage": "ordinary", "change_reason": " \t "}),
    )
    .await;
    assert_eq!(r.code_of("change_reason"), "blank", "{}", r.text);
    for reason in [json!(""), json!("x".repeat(501)), json!(42)] {
        let r = move_to(
            &app,
            &admin,
            id,
            json!({"funnel_stage": "ordinary", "change_reason": reason}),
        )
        .await;
        r.problem(422);
        assert!(
            r.error_fields().contains(&"change_reason".to_string()),
            "{}",
            r.text
        );
    }
    // Every bad field at once.
    let r = move_to(
        &app,
        &admin,
        id,
        json!({"funnel_stage": "closed", "prospect_grade": "Z", "change_reason": ""}),
    )
    .await;
    r.problem(422);
    assert_eq!(
        r.error_fields(),
        vec!["change_reason", "funnel_stage", "prospect_grade"],
        "{}",
        r.text
    );
    // funnel_stage cannot be cleared.
    let r = move_to(&app, &admin, id, json!({"funnel_stage": null})).await;
    r.problem(422);
    assert_eq!(r.error_fields(), vec!["funnel_stage"]);
    // The longest reason is fine.
    let r = move_to(
        &app,
        &admin,
        id,
        json!({"funnel_stage": "ordinary", "change_reason": "x".repeat(500)}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let stage = events(&app, &admin, id, STAGE).await;
    assert_eq!(stage.len(), 2);
    assert_eq!(stage[0]["reason"].as_str().map(str::len), Some(500));
}

async fn stale_if_match_records_nothing(app: TestApp) {
    let admin = app.admin_token().await;
    let id = new_customer(&app, &admin, json!({})).await.id();
    let r = app
        .patch_if_match(
            &card(id),
            &admin,
            "\"1\"",
            &json!({"funnel_stage": "prospect"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .patch_if_match(&card(id), &admin, "\"1\"", &json!({"funnel_stage": "key"}))
        .await;
    r.problem(412);
    assert_eq!(
        moves(&events(&app, &admin, id, STAGE).await),
        vec![mv(Some("lead"), Some("prospect")), mv(None, Some("lead"))]
    );
}

async fn history_filters_by_kind_and_pages(app: TestApp) {
    let admin = app.admin_token().await;
    let id = new_customer(
        &app,
        &admin,
        json!({"funnel_stage": "lead", "prospect_grade": "C"}),
    )
    .await
    .id();
    for body in [
        json!({"funnel_stage": "prospect", "prospect_grade": "B"}),
        json!({"prospect_grade": "A"}),
        json!({"funnel_stage": "ordinary"}),
        json!({"funnel_stage": "key", "prospect_grade": "B", "change_reason": "Contract"}),
    ] {
        let r = move_to(&app, &admin, id, body).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let need = app
        .post(
            &format!("/api/v1/customers/{id}/needs"),
            &admin,
            &json!({"kind": "latent", "latent_type": "product_shortage", "description": "Tea"}),
        )
        .await;
    assert_eq!(need.status, 201, "{}", need.text);
    let r = app
        .patch(
            &format!("/api/v1/customers/{id}/needs/{}", need.id()),
            &admin,
            &json!({"kind": "actual"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A purchase moves its CPR stage, and the recompute its tier: events of
    // the two kinds the service records, asked for by kind below.
    record_transaction(&app, &admin, id).await;
    // Another customer's events never show.
    new_customer(&app, &admin, json!({"prospect_grade": "A"})).await;
    crate::tiers::recompute(&app, &admin).await;

    let stage = events(&app, &admin, id, STAGE).await;
    assert_eq!(stage.len(), 4);
    let grade = events(&app, &admin, id, GRADE).await;
    assert_eq!(grade.len(), 4);
    assert_eq!(events(&app, &admin, id, "need_converted").await.len(), 1);

    let all = app.get(&format!("{}?limit=500", history(id)), &admin).await;
    assert_eq!(all.status, 200, "{}", all.text);
    let all: Vec<Value> = all.body["items"].as_array().unwrap().clone();
    assert!(all.len() >= 9, "{all:?}");
    assert!(all.iter().all(|e| e["customer_id"] == json!(id)));
    // Newest first, ties broken by id.
    for w in all.windows(2) {
        let (a, b) = (instant(&w[0]["at"]), instant(&w[1]["at"]));
        assert!(
            a > b || (a == b && w[0]["id"].as_i64() > w[1]["id"].as_i64()),
            "out of order: {} then {}",
            w[0],
            w[1]
        );
    }

    // Pages of one walk the whole history exactly once, in order.
    for kind in [None, Some(STAGE)] {
        let mut seen: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}?limit=1", history(id));
            if let Some(k) = kind {
                url.push_str(&format!("&kind={k}"));
            }
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let r = app.get(&url, &admin).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let items = r.body["items"].as_array().unwrap();
            assert!(items.len() <= 1);
            seen.extend(items.iter().cloned());
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
            assert!(seen.len() <= all.len(), "the walk does not end");
        }
        let expected: Vec<Value> = match kind {
            None => all.clone(),
            Some(_) => stage.clone(),
        };
        assert_eq!(seen, expected, "walk of {kind:?}");
    }

    // Every kind of event can be asked for.
    for kind in ["cpr_stage_changed", "tier_changed"] {
        let r = app
            .get(&format!("{}?kind={kind}", history(id)), &admin)
            .await;
        assert_eq!(r.status, 200, "{kind}: {}", r.text);
        let items = r.body["items"].as_array().unwrap();
        // Not empty: `all` over none held whatever the filter did.
        assert!(!items.is_empty(), "{kind}: {}", r.text);
        assert!(items.iter().all(|e| e["kind"] == json!(kind)), "{}", r.text);
        assert!(items.iter().all(|e| e["customer_id"] == json!(id)));
    }

    // Bad parameters.
    for (query, field) in [
        ("kind=stage_changed", "kind"),
        ("kind=", "kind"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("cursor=abc", "cursor"),
        ("sort=at", "sort"),
    ] {
        let r = app.get(&format!("{}?{query}", history(id)), &admin).await;
        r.problem(400);
        assert!(
            r.error_fields().iter().any(|f| f == field) || r.text.contains(&format!("`{field}`")),
            "expected {field} in {}",
            r.text
        );
    }
    app.get(&history(999_999), &admin).await.problem(404);
    app.get(&history(id), "").await.problem(401);
}

async fn role_rules_for_funnel_moves(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, viewer) = app.user_with_role("viewer").await;
    let (_, other_rep) = app.user_with_role("sales").await;
    let id = new_customer(&app, &admin, json!({})).await.id();
    move_to(&app, &viewer, id, json!({"funnel_stage": "prospect"}))
        .await
        .problem(403);
    move_to(&app, &other_rep, id, json!({"funnel_stage": "prospect"}))
        .await
        .problem(403);
    // Both may read the history.
    assert_eq!(events(&app, &viewer, id, STAGE).await.len(), 1);
    assert_eq!(events(&app, &other_rep, id, STAGE).await.len(), 1);
}
