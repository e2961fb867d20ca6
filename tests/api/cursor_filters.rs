//! A cursor pages only the list it came from, filters included: one kept
//! while a filter changes (a status tab switched) is a 400 naming `cursor`,
//! where it resumed at its position and silently skipped the rows of the
//! other list before it (a QA review of the plan and survey lists; the
//! customer list's rule, now every list's).

use serde_json::json;

use crate::account_plans::{key_customer, plan_body};
use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    a_cursor_taken_by_other_filters_is_a_400_on_every_list,
    a_members_cursor_from_before_a_rule_edit_is_a_400,
    a_moved_time_bound_keeps_the_cursor,
);

/// A QA review: a dynamic segment's next page after its rule was edited
/// was of the new rule (one "list" of two rules). Another name, or a
/// member list read again after an edit, keeps its cursors.
async fn a_members_cursor_from_before_a_rule_edit_is_a_400(app: TestApp) {
    let admin = app.admin_token().await;
    for (name, region) in [
        ("A", "Hangzhou"),
        ("B", "Hangzhou"),
        ("C", "Ningbo"),
        ("D", "Ningbo"),
    ] {
        let r = app
            .create_customer(
                &admin,
                json!({"name": name, "kind": "organization", "region": region}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let rule = |region: &str| json!({"field": "region", "op": "eq", "value": region});
    let r = app
        .post(
            "/api/v1/segments",
            &admin,
            &json!({"name": "HZ", "kind": "dynamic", "rule": rule("Hangzhou")}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let members = format!("/api/v1/segments/{}/members", r.id());
    let cursor = first_cursor(&app, &admin, &members).await;
    let path = members.trim_end_matches("/members").to_string();
    let r = app.patch(&path, &admin, &json!({"name": "Hangzhou"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.get(&format!("{members}?cursor={cursor}"), &admin).await;
    assert_eq!(r.status, 200, "a rename keeps the list: {}", r.text);
    let r = app
        .patch(&path, &admin, &json!({"rule": rule("Ningbo")}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.get(&format!("{members}?cursor={cursor}"), &admin).await;
    r.problem(400);
    assert_eq!(r.error_fields(), ["cursor"], "{}", r.text);
    let cursor = first_cursor(&app, &admin, &members).await;
    let r = app.get(&format!("{members}?cursor={cursor}"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"][0]["name"], "D", "{}", r.text);
    // The query's 400s come before a missing segment's 404, as before: a
    // bad cursor's too, and another list's.
    let r = app
        .get("/api/v1/segments/999999/members?limit=0", &admin)
        .await;
    r.problem(400);
    for cursor in ["garbage".to_string(), cursor] {
        let r = app
            .get(
                &format!("/api/v1/segments/999999/members?cursor={cursor}"),
                &admin,
            )
            .await;
        r.problem(400);
        assert_eq!(r.error_fields(), ["cursor"], "{}", r.text);
    }
}

/// The time bounds are not the list's: a client may move them between
/// pages ("due now", a sliding window), and a list sorted by them never gets
/// rows before the cursor's position from it.
async fn a_moved_time_bound_keeps_the_cursor(app: TestApp) {
    let admin = app.admin_token().await;
    let c = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Due"}))
        .await
        .id();
    for i in 1..=3 {
        let r = app
            .post(
                &format!("/api/v1/customers/{c}/interactions"),
                &admin,
                &json!({"type": "call", "summary": "Call", "follow_up_at": format!("2020-01-0{i}T09:00:00Z")}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let due = |before: &str| format!("/api/v1/interactions?follow_up_before={before}&limit=1");
    let r = app.get(&due("2026-01-01T00:00:00Z"), &admin).await;
    let cursor = r.body["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let first = r.body["items"][0]["id"].as_i64();
    let r = app
        .get(
            &format!("{}&cursor={cursor}", due("2026-01-01T00:05:00Z")),
            &admin,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_ne!(r.body["items"][0]["id"].as_i64(), first, "{}", r.text);
    // A code filter changed is another list.
    let r = app
        .get(
            &format!("{}&type=visit&cursor={cursor}", due("2026-01-01T00:00:00Z")),
            &admin,
        )
        .await;
    assert_eq!(r.error_fields(), ["cursor"], "{}", r.text);
}

async fn a_cursor_taken_by_other_filters_is_a_400_on_every_list(app: TestApp) {
    let admin = app.admin_token().await;
    let c = key_customer(&app, &admin).await;
    let card = format!("/api/v1/customers/{c}");
    for i in 0..2 {
        let r = app
            .post("/api/v1/account-plans", &admin, &plan_body(c))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post(
                "/api/v1/surveys",
                &admin,
                &json!({"title": format!("Survey {i}"), "questions": crate::surveys::questions()}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post(
                &format!("{card}/interactions"),
                &admin,
                &json!({"type": "call", "summary": "Hello"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post(
                &format!("{card}/needs"),
                &admin,
                &json!({"kind": "actual", "description": "Tea"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post(
                &format!("{card}/contacts"),
                &admin,
                &json!({"name": format!("Contact {i}")}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let grade = ["A", "B"][i];
        let r = app
            .patch(
                &card,
                &admin,
                &json!({"funnel_stage": "prospect", "prospect_grade": grade}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        app.user_with_role("viewer").await;
    }
    // The key customer's sale is one transaction: one more.
    let r = app
        .post(
            &format!("{card}/transactions"),
            &admin,
            &json!({"amount_cents": 100, "product": "Tea"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // (list, a filter of it that still holds rows)
    let lists = [
        ("/api/v1/account-plans?", "status=active"),
        ("/api/v1/surveys?", "status=draft"),
        ("/api/v1/segments?", "builtin=true"),
        ("/api/v1/users?", "role=viewer"),
        ("/api/v1/users/directory?", "role=viewer"),
        ("/api/v1/interactions?", "type=call"),
        (&*format!("{card}/interactions?"), "type=call"),
        ("/api/v1/transactions?", "product=Tea"),
        (&*format!("{card}/transactions?"), "product=Tea"),
        (&*format!("{card}/needs?"), "kind=actual"),
        (&*format!("{card}/history?"), "kind=prospect_grade_changed"),
    ];
    for (list, filter) in lists {
        let r = app.get(&format!("{list}limit=1"), &admin).await;
        assert_eq!(r.status, 200, "{list}: {}", r.text);
        let Some(whole) = r.body["next_cursor"].as_str().map(str::to_string) else {
            panic!("{list}: one page only: {}", r.text);
        };
        let r = app.get(&format!("{list}{filter}&limit=1"), &admin).await;
        assert_eq!(r.status, 200, "{list}{filter}: {}", r.text);
        // Filtered, the whole list's cursor; unfiltered, the filtered one's.
        let r = app
            .get(&format!("{list}{filter}&cursor={whole}"), &admin)
            .await;
        r.problem(400);
        assert_eq!(r.error_fields(), ["cursor"], "{list}{filter}: {}", r.text);
        let r = app.get(&format!("{list}{filter}&limit=1"), &admin).await;
        if let Some(part) = r.body["next_cursor"].as_str() {
            let r = app.get(&format!("{list}cursor={part}"), &admin).await;
            r.problem(400);
            assert_eq!(r.error_fields(), ["cursor"], "{list}: {}", r.text);
            let r = app
                .get(&format!("{list}{filter}&cursor={part}"), &admin)
                .await;
            assert_eq!(r.status, 200, "{list}{filter}: {}", r.text);
        }
        // The same filters go on.
        let r = app.get(&format!("{list}cursor={whole}"), &admin).await;
        assert_eq!(r.status, 200, "{list}: {}", r.text);
    }
}

async fn first_cursor(app: &TestApp, token: &str, list: &str) -> String {
    let r = app.get(&format!("{list}?limit=1"), token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
