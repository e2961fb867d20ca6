//! Surveys and their responses in the change feed: created, opened, answered
//! and deleted, each with its state as committed.

use serde_json::json;

use crate::backend_tests;
use crate::changes::read_all;
use crate::helpers::TestApp;
use crate::surveys::{create, open_survey, respond};

backend_tests!(
    surveys_and_responses_are_in_the_feed,
    deleting_a_segment_untargets_its_surveys_as_a_change,
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
