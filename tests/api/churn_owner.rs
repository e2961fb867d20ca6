//! A churn is the loss of the owner who had the card when it was recorded:
//! `/analytics/churn?owner_id=` reads the record's owner, so handing the
//! card to another rep later moves neither the loss nor past reports (by
//! the card's current owner the successor inherited them: an outside
//! review).

use serde_json::{json, Value};

use crate::backend_tests;
use crate::churn::{churn, customer, sale};
use crate::helpers::TestApp;

backend_tests!(a_churn_stays_with_the_owner_who_lost_the_card);

async fn report_of(app: &TestApp, token: &str, owner: i64) -> Value {
    let r = app
        .get(&format!("/api/v1/analytics/churn?owner_id={owner}"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["total"].clone()
}

async fn a_churn_stays_with_the_owner_who_lost_the_card(app: TestApp) {
    let (_, manager) = app.user_with_role("manager").await;
    let (a, rep_a) = app.user_with_role("sales").await;
    let (b, _) = app.user_with_role("sales").await;
    let c = customer(&app, &rep_a, "Lost by rep A").await;
    sale(&app, &rep_a, c, 7_000, 0, 30).await;
    let r = churn(&app, &rep_a, c, "competition", None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["owner_id"], a, "{}", r.text);
    let lost = json!({"churned": 1, "lost_revenue_cents": 7_000, "won_back": 0});
    assert_eq!(report_of(&app, &manager, a).await, lost);

    // The manager hands the card to rep B.
    let r = app
        .patch(
            &format!("/api/v1/customers/{c}"),
            &manager,
            &json!({"owner_id": b}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["owner_id"], b);

    assert_eq!(report_of(&app, &manager, a).await, lost, "still A's loss");
    assert_eq!(
        report_of(&app, &manager, b).await,
        json!({"churned": 0, "lost_revenue_cents": 0, "won_back": 0}),
        "B inherits the card, not its loss"
    );
    let r = app
        .get(&format!("/api/v1/customers/{c}/churn"), &manager)
        .await;
    assert_eq!(r.body["items"][0]["owner_id"], a, "{}", r.text);
}
