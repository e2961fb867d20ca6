//! `/analytics/overview`: silent losses and "bought once" answer their
//! questions for the period asked, on all cards and on one owner's book
//! (two queries that must agree).

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::churn::{churn, contact, customer, sale};
use crate::helpers::TestApp;

backend_tests!(
    silent_losses_are_the_customers_lost_in_the_period,
    bought_once_is_the_only_purchase_ever,
);

fn at(days_from_now: i64) -> String {
    (Utc::now() + Duration::days(days_from_now))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A timestamp as SQL writes it on both backends.
fn sql_days_ago(days: i64) -> String {
    (Utc::now() - Duration::days(days))
        .format("'%Y-%m-%d %H:%M:%S'")
        .to_string()
}

/// The overview of all cards and of the book of `card`'s owner (every card
/// here is the admin's): the two queries agree, and the figures are returned.
async fn overview(app: &TestApp, token: &str, card: i64, query: &str) -> Value {
    let all = app
        .get(&format!("/api/v1/analytics/overview?{query}"), token)
        .await;
    assert_eq!(all.status, 200, "{}", all.text);
    let card = app.get(&format!("/api/v1/customers/{card}"), token).await;
    let owner = &card.body["owner_id"];
    let mine = app
        .get(
            &format!("/api/v1/analytics/overview?owner_id={owner}&{query}"),
            token,
        )
        .await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    for figure in [
        "customers",
        "bought",
        "bought_twice_or_more",
        "bought_once",
        "silent_losses",
    ] {
        assert_eq!(
            mine.body[figure], all.body[figure],
            "{figure}: {}",
            all.text
        );
    }
    all.body
}

/// Silent losses counted every lapsed customer ever: one whose only order
/// was eight years ago counted in this year's losses (an outside review).
/// Now: bought in the same length of time just before the period, nothing
/// in it, and no word since that time began.
async fn silent_losses_are_the_customers_lost_in_the_period(app: TestApp) {
    let token = app.admin_token().await;
    // The period is the last 12 months; the one before, 12 to 24 months ago.
    let ancient = customer(&app, &token, "Ancient").await;
    sale(&app, &token, ancient, 1_000, 0, 3_000).await;
    let gone_long_ago = customer(&app, &token, "Gone long ago").await;
    sale(&app, &token, gone_long_ago, 1_000, 0, 2_000).await;
    let lapsed = customer(&app, &token, "Lapsed").await;
    sale(&app, &token, lapsed, 1_000, 0, 500).await;
    let still = customer(&app, &token, "Still buying").await;
    sale(&app, &token, still, 1_000, 0, 500).await;
    sale(&app, &token, still, 1_000, 0, 100).await;
    // Words from before the window: about an earlier lapse, bought since.
    let old_words = customer(&app, &token, "Old words").await;
    sale(&app, &token, old_words, 1_000, 0, 500).await;
    contact(&app, &token, old_words, "complaint", 1_000).await;
    assert_eq!(
        churn(&app, &token, old_words, "competition", Some("Rival"))
            .await
            .status,
        201
    );
    let r = app
        .post(
            &format!("/api/v1/customers/{old_words}/reactivate"),
            &token,
            &json!({"note": "won back"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.execute_sql(&format!(
        "UPDATE churn_records SET churned_at = {}, reactivated_at = {} WHERE customer_id = {old_words}",
        sql_days_ago(1_000),
        sql_days_ago(900)
    ));
    // Words in the window: not silent.
    let complained = customer(&app, &token, "Complained").await;
    sale(&app, &token, complained, 1_000, 0, 500).await;
    contact(&app, &token, complained, "complaint", 450).await;
    let noted = customer(&app, &token, "Noted").await;
    sale(&app, &token, noted, 1_000, 0, 500).await;
    let r = churn(&app, &token, noted, "competition", Some("Rival")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // A churn without a note: the reason alone, as `natural` for a customer
    // who went quiet, is no word from the customer.
    let unnoted = customer(&app, &token, "Unnoted").await;
    sale(&app, &token, unnoted, 1_000, 0, 500).await;
    let r = churn(&app, &token, unnoted, "natural", None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let _never = customer(&app, &token, "Never bought").await;

    let o = overview(&app, &token, lapsed, "").await;
    assert_eq!(o["customers"], 9, "{o}");
    assert_eq!(o["bought"], 1, "{o}");
    assert_eq!(
        o["silent_losses"], 3,
        "Lapsed, Old words, Unnoted; not Ancient nor Gone long ago: {o}"
    );

    // Ancient was lost in its own time: bought in the 400 days before a
    // period 2,900 to 2,500 days ago, and not in it; a customer since.
    let then = overview(
        &app,
        &token,
        lapsed,
        &format!("from={}&to={}", at(-2_900), at(-2_500)),
    )
    .await;
    assert_eq!(
        [&then["customers"], &then["silent_losses"]],
        [&json!(1), &json!(1)],
        "{then}"
    );
    // Lost in the period before, not again in this one.
    let next = overview(&app, &token, lapsed, &format!("from={}", at(-99))).await;
    assert_eq!(
        next["silent_losses"], 1,
        "Still buying, lapsed 100 days ago: {next}"
    );
}

/// "Bought once and never again" was one purchase in the period: a customer
/// of years with one order this year counted (an outside review). Now: the
/// customer's only purchase ever, in the period.
async fn bought_once_is_the_only_purchase_ever(app: TestApp) {
    let token = app.admin_token().await;
    let loyal = customer(&app, &token, "Loyal").await;
    for days in [30, 400, 450, 500, 550] {
        sale(&app, &token, loyal, 1_000, 0, days).await;
    }
    let single = customer(&app, &token, "Single").await;
    sale(&app, &token, single, 1_000, 0, 30).await;
    let twice = customer(&app, &token, "Twice").await;
    sale(&app, &token, twice, 1_000, 0, 30).await;
    sale(&app, &token, twice, 1_000, 0, 60).await;
    let again = customer(&app, &token, "Again").await;
    sale(&app, &token, again, 1_000, 0, 200).await;
    sale(&app, &token, again, 1_000, 0, 50).await;
    let past_single = customer(&app, &token, "Past single").await;
    sale(&app, &token, past_single, 1_000, 0, 250).await;
    let _never = customer(&app, &token, "Never").await;

    // The last 12 months: Loyal, Single and Past single bought once in it,
    // but only Single and Past single never bought otherwise.
    let o = overview(&app, &token, single, "").await;
    assert_eq!(
        [&o["bought"], &o["bought_twice_or_more"], &o["bought_once"]],
        [&json!(5), &json!(2), &json!(2)],
        "{o}"
    );
    // 380 to 100 days ago: Again bought once in it, and again after it.
    let then = overview(
        &app,
        &token,
        single,
        &format!("from={}&to={}", at(-380), at(-100)),
    )
    .await;
    assert_eq!(
        [&then["bought"], &then["bought_once"]],
        [&json!(2), &json!(1)],
        "Again and Past single bought; Past single only once ever: {then}"
    );
}
