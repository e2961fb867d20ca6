//! The at-risk list's low-satisfaction signal, fed by real survey answers
//! (the two features meet only here): strictly below the threshold is a
//! signal, at the threshold is not.

use serde_json::json;

use crate::backend_tests;
use crate::churn::{contact, customer, sale};
use crate::helpers::TestApp;
use crate::surveys::{open_survey, respond};

backend_tests!(low_satisfaction_from_a_survey_puts_a_customer_at_risk);

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
        json!({"no_contact": false, "falling_share": false, "low_satisfaction": true,
               "open_complaints": false, "owner_inactive": false})
    );
    assert_eq!(items[0]["score"], 20);
}
