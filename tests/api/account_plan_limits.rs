//! A plan holds at most 100 actions: each change of an action records the
//! plan with all of them in the change feed, so an unbounded plan wrote n
//! actions to the feed for its n-th. The 101st is a 422 naming `actions`,
//! also when two adds race for the last place.

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::account_plans::{key_customer, plan_body};
use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(a_plan_takes_100_actions_and_refuses_the_101st);

fn action(n: usize) -> Value {
    let due = (Utc::now() + Duration::days(5))
        .format("%Y-%m-%d")
        .to_string();
    json!({"type": "executive_visit", "description": format!("Visit {n}"), "due_date": due})
}

async fn a_plan_takes_100_actions_and_refuses_the_101st(app: TestApp) {
    let token = app.admin_token().await;
    let key = key_customer(&app, &token).await;
    let plan = app
        .post("/api/v1/account-plans", &token, &plan_body(key))
        .await;
    assert_eq!(plan.status, 201, "{}", plan.text);
    let actions = format!("/api/v1/account-plans/{}/actions", plan.id());
    for n in 1..=99 {
        let r = app.post(&actions, &token, &action(n)).await;
        assert_eq!(r.status, 201, "action {n}: {}", r.text);
    }
    // Two adds for the last place: the card's lock lets exactly one in.
    let (last, over) = (action(100), action(101));
    let (a, b) = tokio::join!(
        app.post(&actions, &token, &last),
        app.post(&actions, &token, &over),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 422], "{} / {}", a.text, b.text);
    let refused = if a.status == 422 { &a } else { &b };
    refused.problem(422);
    assert_eq!(
        refused.error_codes(),
        [("actions".to_string(), "length".to_string())]
    );

    let r = app.post(&actions, &token, &action(102)).await;
    r.problem(422);
    assert_eq!(r.code_of("actions"), "length", "{}", r.text);
    let list = app.get(&actions, &token).await;
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 100, "{}", list.text);

    // A deleted action frees its place.
    let first = items[0]["id"].as_i64().expect("id");
    let r = app.delete(&format!("{actions}/{first}"), &token).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app.post(&actions, &token, &action(103)).await;
    assert_eq!(r.status, 201, "{}", r.text);
}
