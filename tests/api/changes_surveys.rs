//! Surveys and their responses in the change feed: created, opened, answered
//! and deleted, each with its state as committed.

use serde_json::json;

use crate::backend_tests;
use crate::changes::read_all;
use crate::helpers::{Resp, TestApp};
use crate::surveys::{create, open_survey, respond};

backend_tests!(
    surveys_and_responses_are_in_the_feed,
    deleting_a_segment_untargets_its_surveys_as_a_change,
    a_segment_a_survey_targets_is_deleted_only_by_admins_and_managers,
);

async fn surveys_and_responses_are_in_the_feed(app: TestApp) {
    let token = app.admin_token().await;
    let customer = app
        .create_customer(&token, json!({"kind": "individual", "name": "Feedback"}))
        .await
        .id();
    let (survey, q) = open_survey(&app, &token, json!({})).await;
    let r = respond(
        &app,
        &token,
        survey,
        customer,
        &[(q[0], json!(5)), (q[1], json!(4))],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let response = r.id();
    let draft = create(&app, &token, json!({"title": "Never opened"}))
        .await
        .id();
    let gone = app
        .delete(&format!("/api/v1/surveys/{draft}"), &token)
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text);

    let (items, _) = read_all(&app, &token, None, "&types=survey,survey_response", 100).await;
    let seen: Vec<(String, i64, String)> = items
        .iter()
        .map(|i| {
            (
                i["entity_type"].as_str().unwrap_or_default().to_string(),
                i["entity_id"].as_i64().unwrap_or_default(),
                i["operation"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected = [
        ("survey", survey, "created"),
        ("survey", survey, "updated"),
        ("survey_response", response, "created"),
        ("survey", draft, "created"),
        ("survey", draft, "deleted"),
    ];
    assert_eq!(
        seen,
        expected
            .iter()
            .map(|(t, id, op)| (t.to_string(), *id, op.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(items[0]["data"]["status"], "draft");
    assert_eq!(items[1]["data"]["status"], "open");
    assert_eq!(
        items[1]["data"]["questions"].as_array().map(Vec::len),
        Some(5)
    );
    assert_eq!(items[2]["data"]["customer_id"], customer);
    assert_eq!(items[4]["data"]["deleted"], true);
}

/// Deleting a segment takes it off the surveys that target it as a change
/// of each survey: a new version and `updated_at`, an entry in the feed,
/// and an old ETag no longer matches.
async fn deleting_a_segment_untargets_its_surveys_as_a_change(app: TestApp) {
    let token = app.admin_token().await;
    let segment = app
        .post(
            "/api/v1/segments",
            &token,
            &json!({"name": "Invitees", "kind": "static", "member_ids": []}),
        )
        .await;
    assert_eq!(segment.status, 201, "{}", segment.text);
    let segment = segment.id();
    let survey = create(
        &app,
        &token,
        json!({"title": "Targeted", "segment_id": segment}),
    )
    .await;
    let (id, before) = (survey.id(), survey.body.clone());
    let (_, cursor) = read_all(&app, &token, None, "&types=survey", 100).await;

    let gone = app
        .delete(&format!("/api/v1/segments/{segment}"), &token)
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text);

    let after = app.get(&format!("/api/v1/surveys/{id}"), &token).await;
    assert_eq!(after.body["segment_id"], json!(null), "{}", after.text);
    assert_eq!(
        after.body["version"],
        json!(before["version"].as_i64().unwrap_or(0) + 1)
    );
    assert_ne!(after.body["updated_at"], before["updated_at"]);
    let (items, _) = read_all(&app, &token, Some(&cursor), "&types=survey", 100).await;
    let seen: Vec<(i64, &str)> = items
        .iter()
        .map(|i| {
            (
                i["entity_id"].as_i64().unwrap_or(0),
                i["operation"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(seen, vec![(id, "updated")]);
    let stale = app
        .patch_if_match(
            &format!("/api/v1/surveys/{id}"),
            &token,
            &format!("\"{}\"", before["version"]),
            &json!({"title": "Edited"}),
        )
        .await;
    stale.problem(412);
}

async fn static_segment(app: &TestApp, token: &str, name: &str, members: &[i64]) -> i64 {
    let r = app
        .post(
            "/api/v1/segments",
            token,
            &json!({"name": name, "kind": "static", "member_ids": members}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.id()
}

/// Survey `id` as the admin reads it.
async fn survey_now(app: &TestApp, token: &str, id: i64) -> Resp {
    let r = app.get(&format!("/api/v1/surveys/{id}"), token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r
}

/// Found by a review: a sales user, refused every survey write, took a
/// survey's target off (a new version, a change in the feed) by deleting
/// the segment. Only admins and managers delete a segment a survey
/// targets; the others get a 403 naming the surveys, and nothing changes.
/// The members stay open to every writer: a draft's results follow the
/// segment as it is now (an open survey's panel is frozen).
async fn a_segment_a_survey_targets_is_deleted_only_by_admins_and_managers(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, sales) = app.user_with_role("sales").await;
    let (_, integration) = app.user_with_role("integration").await;
    let (_, manager) = app.user_with_role("manager").await;
    let mut members = Vec::new();
    for name in ["Panel one", "Panel two"] {
        let c = app
            .create_customer(&admin, json!({"kind": "individual", "name": name}))
            .await
            .id();
        members.push(c);
    }
    let panel = static_segment(&app, &admin, "Panel", &members).await;
    let loose = static_segment(&app, &sales, "Nobody's target", &[]).await;
    let mut surveys = Vec::new();
    for title in ["First", "Second"] {
        let r = create(&app, &admin, json!({"title": title, "segment_id": panel})).await;
        surveys.push(r.id());
    }
    let before = survey_now(&app, &admin, surveys[0]).await.body;
    let (_, cursor) = read_all(&app, &admin, None, "&types=survey", 100).await;

    for token in [&sales, &integration] {
        let r = app
            .delete(&format!("/api/v1/segments/{panel}"), token)
            .await;
        r.problem(403);
        let detail = r.body["detail"].as_str().unwrap_or_default();
        for id in &surveys {
            assert!(detail.contains(&id.to_string()), "{}", r.text);
        }
        assert!(detail.contains("admins and managers"), "{}", r.text);
    }
    let segment = app.get(&format!("/api/v1/segments/{panel}"), &admin).await;
    assert_eq!(segment.status, 200, "{}", segment.text);
    assert_eq!(survey_now(&app, &admin, surveys[0]).await.body, before);
    let (items, _) = read_all(&app, &admin, Some(&cursor), "&types=survey", 100).await;
    assert!(items.is_empty(), "{items:?}");

    // The members stay open to sales: a draft's results preview the segment
    // as it is now (the panel is frozen only as the survey opens).
    let results = format!("/api/v1/surveys/{}/results", surveys[0]);
    let r = app.get(&results, &admin).await;
    assert_eq!(r.body["target_customers"], 2, "{}", r.text);
    let r = app
        .delete(
            &format!("/api/v1/segments/{panel}/members/{}", members[1]),
            &sales,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app.get(&results, &admin).await;
    assert_eq!(r.body["target_customers"], 1, "{}", r.text);

    // A segment no survey targets is deleted by any writer, sales too; so
    // is the panel once no survey targets it any more.
    let r = app
        .delete(&format!("/api/v1/segments/{loose}"), &sales)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app
        .patch(
            &format!("/api/v1/surveys/{}", surveys[1]),
            &admin,
            &json!({"segment_id": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .delete(&format!("/api/v1/segments/{panel}"), &sales)
        .await;
    r.problem(403);
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&format!("survey {}:", surveys[0])),
        "{}",
        r.text
    );

    // A manager deletes it, and the survey loses its target as documented:
    // a new version and a change in the feed.
    let (_, cursor) = read_all(&app, &admin, None, "&types=survey", 100).await;
    let r = app
        .delete(&format!("/api/v1/segments/{panel}"), &manager)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let after = survey_now(&app, &admin, surveys[0]).await.body;
    assert!(after["segment_id"].is_null(), "{after}");
    assert_eq!(
        after["version"].as_i64(),
        before["version"].as_i64().map(|v| v + 1)
    );
    let (items, _) = read_all(&app, &admin, Some(&cursor), "&types=survey", 100).await;
    let seen: Vec<(i64, &str)> = items
        .iter()
        .map(|i| {
            (
                i["entity_id"].as_i64().unwrap_or(0),
                i["operation"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(seen, vec![(surveys[0], "updated")]);
}
