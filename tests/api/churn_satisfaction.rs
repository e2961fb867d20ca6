//! The at-risk list's low-satisfaction signal, fed by real survey answers
//! (the two features meet only here): strictly below the threshold is a
//! signal, at the threshold is not.

use serde_json::json;

use crate::backend_tests;
use crate::churn::{contact, customer, sale};
use crate::helpers::{Backend, TestApp};
use crate::surveys::{open_survey, respond};

backend_tests!(
    low_satisfaction_from_a_survey_puts_a_customer_at_risk,
    a_one_dimension_survey_moves_overall_by_its_share,
    the_migration_recomputes_overall_from_the_dimensions,
);

async fn low_satisfaction_from_a_survey_puts_a_customer_at_risk(app: TestApp) {
    let token = app.admin_token().await;
    let (survey, q) = open_survey(&app, &token, json!({})).await;
    // Both bought and were contacted yesterday: no other signal.
    let unhappy = customer(&app, &token, "Unhappy").await;
    let neutral = customer(&app, &token, "Neutral").await;
    for c in [unhappy, neutral] {
        sale(&app, &token, c, 1_000, 0, 10).await;
        contact(&app, &token, c, "visit", 1).await;
    }
    // Overall 2.5 (below the default 3.0) and 3.0 (at it).
    for (c, product, service) in [(unhappy, 2, 3), (neutral, 3, 3)] {
        let r = respond(
            &app,
            &token,
            survey,
            c,
            &[(q[0], json!(product)), (q[1], json!(service))],
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let card = app
        .get(&format!("/api/v1/customers/{unhappy}"), &token)
        .await;
    assert_eq!(card.body["satisfaction_overall"], 2.5, "{}", card.text);

    let page = app.get("/api/v1/churn/at-risk", &token).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let items = page.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "only the unhappy one: {}", page.text);
    assert_eq!(items[0]["customer_id"], unhappy);
    assert_eq!(
        items[0]["signals"],
        json!({"no_contact": false, "falling_share": false, "no_purchase": false,
               "low_satisfaction": true, "open_complaints": false, "owner_inactive": false})
    );
    assert_eq!(items[0]["score"], 20);
}

/// Found by a review: overall was the mean of the latest response's ratings
/// only, so one social rating of 2 took a card at product 5 and service 5
/// to overall 2.00 (loyalty `high` -> `none`, low satisfaction at risk)
/// while the card still showed 5, 5 and 2. Overall is the mean of the
/// card's dimensions: 4.00.
async fn a_one_dimension_survey_moves_overall_by_its_share(app: TestApp) {
    let token = app.admin_token().await;
    let (survey, q) = open_survey(&app, &token, json!({"allow_multiple_responses": true})).await;
    let c = customer(&app, &token, "Loyal").await;
    // Two purchases this year (behaviour high), contacted yesterday.
    sale(&app, &token, c, 1_000, 0, 10).await;
    sale(&app, &token, c, 1_000, 0, 20).await;
    contact(&app, &token, c, "visit", 1).await;
    let r = respond(
        &app,
        &token,
        survey,
        c,
        &[(q[0], json!(5)), (q[1], json!(5))],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let card = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(card.body["satisfaction_overall"], 5.0, "{}", card.text);
    assert_eq!(card.body["loyalty_type"], "high", "{}", card.text);

    let (social, sq) = open_survey(
        &app,
        &token,
        json!({"title": "Society", "questions": [{"kind": "rating_5", "text": "Our part in society?", "dimension": "social"}]}),
    )
    .await;
    let r = respond(&app, &token, social, c, &[(sq[0], json!(2))]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The response says 2 about the one dimension it asks about.
    assert_eq!(
        r.body["satisfaction"],
        json!({"overall": 2.0, "product": null, "service": null, "social": 2.0})
    );
    let card = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    let b = &card.body;
    assert_eq!(
        (
            &b["satisfaction_product"],
            &b["satisfaction_service"],
            &b["satisfaction_social"]
        ),
        (&json!(5.0), &json!(5.0), &json!(2.0)),
        "{}",
        card.text
    );
    assert_eq!(b["satisfaction_overall"], 4.0, "{}", card.text);
    assert_eq!(b["loyalty_type"], "high", "{}", card.text);
    let page = app.get("/api/v1/churn/at-risk", &token).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.body["items"], json!([]), "{}", page.text);

    // A later low service rating moves overall by a third: (5 + 1 + 2) / 3.
    let r = respond(
        &app,
        &token,
        survey,
        c,
        &[(q[0], json!(5)), (q[1], json!(1))],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let card = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(card.body["satisfaction_overall"], 2.67, "{}", card.text);
}

/// Cards written under the old rule: the migration sets each overall to the
/// mean of its dimensions, as `overall_of` does (halves up, on hundredths),
/// and leaves cards without any alone.
async fn the_migration_recomputes_overall_from_the_dimensions(app: TestApp) {
    let token = app.admin_token().await;
    let mut ids = Vec::new();
    for name in ["Old rule", "Half", "One", "Never asked"] {
        ids.push(customer(&app, &token, name).await);
    }
    let set = |id: i64, dims: &str| {
        format!(
            "UPDATE customers SET satisfaction_overall = 2, \
               (satisfaction_product, satisfaction_service, satisfaction_social) = ({dims}) \
             WHERE id = {id};"
        )
    };
    let sql = [
        set(ids[0], "5, 5, 2"),
        // 4.47 + 4.48 = 8.95 / 2: a half, up.
        set(ids[1], "4.47, NULL, 4.48"),
        set(ids[2], "NULL, 3.5, NULL"),
    ]
    .concat();
    app.execute_sql(&sql);
    app.execute_sql(match app.backend {
        Backend::Sqlite => include_str!(
            "../../migrations/sqlite/2026-12-05-000100_satisfaction_overall_of_dimensions/up.sql"
        ),
        Backend::Postgres => include_str!(
            "../../migrations/postgres/2026-12-05-000100_satisfaction_overall_of_dimensions/up.sql"
        ),
    });
    for (id, want) in ids
        .iter()
        .zip([json!(4.0), json!(4.48), json!(3.5), json!(null)])
    {
        let card = app.get(&format!("/api/v1/customers/{id}"), &token).await;
        assert_eq!(card.body["satisfaction_overall"], want, "{}", card.text);
    }
}
