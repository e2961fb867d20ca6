//! A PATCH that changes nothing writes nothing: 200 with the record as it
//! is, the same `version` and ETag, nothing in the change feed (found by a
//! review: a retried "open" of a survey made every other client's If-Match
//! fail). A plan shows its actions, so a change of an action is a change of
//! the plan (its ETag served two bodies).

use serde_json::{json, Value};

use crate::account_plans::{key_customer, plan_body};
use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    patches_that_change_nothing_keep_the_version,
    an_action_change_is_a_change_of_its_plan,
    a_plan_period_is_checked_with_the_other_rules,
    segments_users_and_webhooks_keep_their_version_too,
);

async fn segments_users_and_webhooks_keep_their_version_too(app: TestApp) {
    let token = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/segments",
            &token,
            &json!({"name": "Quiet ones", "kind": "dynamic", "rule": {"field": "region", "op": "eq", "value": "East"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let segment = format!("/api/v1/segments/{}", r.id());
    let rule = r.body["rule"].clone();
    unchanged_by(
        &app,
        &token,
        &segment,
        &[json!({}), json!({"name": "Quiet ones", "rule": rule})],
    )
    .await;
    let r = app
        .patch(&segment, &token, &json!({"name": "Loud ones"}))
        .await;
    assert_eq!(r.body["version"], 2, "{}", r.text);

    let (id, _) = app.user_with_role("sales").await;
    let user = format!("/api/v1/users/{id}");
    unchanged_by(
        &app,
        &token,
        &user,
        &[json!({}), json!({"role": "sales", "active": true})],
    )
    .await;
    let r = app
        .post(
            "/api/v1/webhooks",
            &token,
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["customer.*"], "secret": "0123456789abcdef0123"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let webhook = format!("/api/v1/webhooks/{}", r.id());
    unchanged_by(
        &app,
        &token,
        &webhook,
        &[json!({}), json!({"active": true, "events": ["customer.*"]})],
    )
    .await;
    let r = app
        .patch(&webhook, &token, &json!({"description": "ERP"}))
        .await;
    assert_eq!(r.body["version"], 2, "{}", r.text);

    // A password is always a change (it revokes the user's tokens).
    let before = app.get(&user, &token).await;
    let r = app
        .patch(
            &user,
            &token,
            &json!({"password": "another-long-password-1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_ne!(r.body["version"], before.body["version"], "{}", r.text);
}

async fn feed_head(app: &TestApp, token: &str) -> Value {
    let r = app.get("/api/v1/changes/head", token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// PATCHes `path` with each body and asserts the version stays `version`.
async fn unchanged_by(app: &TestApp, token: &str, path: &str, bodies: &[Value]) {
    let read = app.get(path, token).await;
    assert_eq!(read.status, 200, "{}", read.text);
    let version = read.body["version"].clone();
    for body in bodies {
        let r = app.patch(path, token, body).await;
        assert_eq!(r.status, 200, "{path} {body}: {}", r.text);
        assert_eq!(r.body["version"], version, "{path} {body}: {}", r.text);
        assert_eq!(r.header("etag"), read.header("etag"), "{path} {body}");
        assert_eq!(
            r.body["updated_at"], read.body["updated_at"],
            "{path} {body}"
        );
    }
}

async fn patches_that_change_nothing_keep_the_version(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Quiet"}))
        .await
        .id();
    let card = format!("/api/v1/customers/{c}");
    let post = |list: &'static str, body: Value| {
        let (app, token, card) = (&app, &token, &card);
        async move {
            let r = app.post(&format!("{card}/{list}"), token, &body).await;
            assert_eq!(r.status, 201, "{list}: {}", r.text);
            format!("{card}/{list}/{}", r.id())
        }
    };
    let contact = post(
        "contacts",
        json!({"name": "Li Lei", "email": "li@example.cn"}),
    )
    .await;
    let interaction = post("interactions", json!({"type": "call", "summary": "Hello"})).await;
    let need = post("needs", json!({"kind": "actual", "description": "Tea"})).await;
    let survey = app
        .post(
            "/api/v1/surveys",
            &token,
            &json!({"title": "Quiet survey", "questions": [{"kind": "nps_0_10", "text": "Recommend?"}]}),
        )
        .await;
    assert_eq!(survey.status, 201, "{}", survey.text);
    let survey = format!("/api/v1/surveys/{}", survey.id());

    let head = feed_head(&app, &token).await;
    unchanged_by(
        &app,
        &token,
        &contact,
        &[
            json!({}),
            json!({"name": "Li Lei", "email": "LI@example.cn"}),
        ],
    )
    .await;
    unchanged_by(
        &app,
        &token,
        &interaction,
        &[json!({}), json!({"summary": "Hello", "type": "call"})],
    )
    .await;
    unchanged_by(
        &app,
        &token,
        &need,
        &[json!({}), json!({"description": "Tea"})],
    )
    .await;
    unchanged_by(
        &app,
        &token,
        &survey,
        &[
            json!({}),
            json!({"status": "draft", "title": "Quiet survey"}),
        ],
    )
    .await;
    assert_eq!(
        feed_head(&app, &token).await,
        head,
        "nothing reached the feed"
    );

    // A real change still writes, once.
    let r = app
        .patch(&need, &token, &json!({"description": "Green tea"}))
        .await;
    assert_eq!(r.body["version"], 2, "{}", r.text);
    let r = app.patch(&survey, &token, &json!({"status": "open"})).await;
    assert_eq!(r.body["version"], 2, "{}", r.text);
    unchanged_by(&app, &token, &survey, &[json!({"status": "open"})]).await;
    assert_ne!(feed_head(&app, &token).await, head);
}

async fn an_action_change_is_a_change_of_its_plan(app: TestApp) {
    let token = app.admin_token().await;
    let key = key_customer(&app, &token).await;
    let head = feed_head(&app, &token).await;
    let r = app
        .post("/api/v1/account-plans", &token, &plan_body(key))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let plan_id = r.id();
    let plan = format!("/api/v1/account-plans/{plan_id}");
    unchanged_by(
        &app,
        &token,
        &plan,
        &[json!({}), json!({"budget_cents": 20_000})],
    )
    .await;

    let version = |r: &crate::helpers::Resp| r.body["version"].as_i64().unwrap_or_default();
    let before = app.get(&plan, &token).await;
    let r = app
        .post(
            &format!("{plan}/actions"),
            &token,
            &json!({"type": "executive_visit", "due_date": "2026-12-01"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let action = format!("{plan}/actions/{}", r.id());
    let created = app.get(&plan, &token).await;
    assert_eq!(version(&created), version(&before) + 1, "{}", created.text);
    assert_ne!(created.header("etag"), before.header("etag"));
    assert_eq!(created.body["actions"].as_array().map(Vec::len), Some(1));

    // An action PATCH that changes nothing leaves both alone.
    unchanged_by(
        &app,
        &token,
        &action,
        &[json!({}), json!({"type": "executive_visit"})],
    )
    .await;
    assert_eq!(version(&app.get(&plan, &token).await), version(&created));

    let r = app.patch(&action, &token, &json!({"status": "done"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let done = app.get(&plan, &token).await;
    assert_eq!(version(&done), version(&created) + 1, "{}", done.text);
    assert_eq!(done.body["actions"][0]["status"], "done");

    // The plan's If-Match now guards the action list too.
    let r = app
        .patch_if_match(
            &plan,
            &token,
            &created.header("etag").unwrap_or_default(),
            &json!({"budget_cents": 1}),
        )
        .await;
    assert_eq!(r.status, 412, "{}", r.text);

    let r = app.delete(&action, &token).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let deleted = app.get(&plan, &token).await;
    assert_eq!(version(&deleted), version(&done) + 1, "{}", deleted.text);
    assert_eq!(deleted.body["actions"].as_array().map(Vec::len), Some(0));
    let r = app.delete(&plan, &token).await;
    assert_eq!(r.status, 204, "{}", r.text);

    // The feed carries each of those changes as one of the plan, its data
    // the plan as written (with its actions), then its tombstone.
    let cursor = head["cursor"].as_str().unwrap_or_default();
    let feed = app
        .get(
            &format!("/api/v1/changes?after={cursor}&types=account_plan&limit=100"),
            &token,
        )
        .await;
    assert_eq!(feed.status, 200, "{}", feed.text);
    let items = feed.body["items"].as_array().cloned().unwrap_or_default();
    let seen: Vec<(String, i64, i64, usize)> = items
        .iter()
        .map(|i| {
            (
                i["operation"].as_str().unwrap_or_default().to_string(),
                i["entity_id"].as_i64().unwrap_or_default(),
                i["version"].as_i64().unwrap_or_default(),
                i["data"]["actions"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    let v = version(&before);
    let op = |o: &str, version: i64, actions: usize| (o.to_string(), plan_id, version, actions);
    assert_eq!(
        seen,
        vec![
            op("created", 1, 0),
            op("updated", v + 1, 1),
            op("updated", v + 2, 1),
            op("updated", v + 3, 0),
            op("deleted", v + 4, 0),
        ],
        "{}",
        feed.text
    );
    assert_eq!(
        items[2]["data"]["actions"][0]["status"], "done",
        "{}",
        feed.text
    );
    assert_eq!(items[4]["data"]["deleted"], true, "{}", feed.text);
}

async fn a_plan_period_is_checked_with_the_other_rules(app: TestApp) {
    let token = app.admin_token().await;
    let key = key_customer(&app, &token).await;
    let r = app
        .post("/api/v1/account-plans", &token, &plan_body(key))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let plan = format!("/api/v1/account-plans/{}", r.id());
    let fields = |r: &crate::helpers::Resp| {
        r.problem(422);
        let mut f = r.error_fields();
        f.sort();
        f
    };
    let r = app
        .patch(
            &plan,
            &token,
            &json!({"period_start": "2026-07-01", "period_end": "2026-06-01", "budget_cents": -1}),
        )
        .await;
    assert_eq!(fields(&r), vec!["budget_cents", "period_end"], "{}", r.text);
    // Only the start sent: the start is named, not the end the client never sent.
    let r = app
        .patch(&plan, &token, &json!({"period_start": "2999-01-01"}))
        .await;
    assert_eq!(fields(&r), vec!["period_start"], "{}", r.text);
    let r = app
        .patch(&plan, &token, &json!({"period_end": "1999-01-01"}))
        .await;
    assert_eq!(fields(&r), vec!["period_end"], "{}", r.text);
}
