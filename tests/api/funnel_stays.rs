//! `/analytics/funnel`'s time in stage (DOMAIN.md §4): per stage, the stays
//! that ended in the period and their median days, counted from the entry
//! into the stage, whenever it was. The report gave only the days from a
//! first entry to the next stage, over the customers who converted. The
//! moves are made through the API and then dated by SQL, to know the days.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(stays_that_ended_in_the_period_give_the_time_in_stage);

async fn customer(app: &TestApp, token: &str, name: &str, moves: &[&str]) -> i64 {
    let c = app
        .create_customer(token, json!({"kind": "organization", "name": name}))
        .await
        .id();
    for stage in moves {
        let r = app
            .patch(
                &format!("/api/v1/customers/{c}"),
                token,
                &json!({"funnel_stage": stage, "change_reason": "budget frozen"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    c
}

/// Dates customer `c`'s funnel events, oldest first, on the days of March 2026 given.
fn date(app: &TestApp, c: i64, days: &[u32]) {
    for (n, d) in days.iter().enumerate() {
        app.execute_sql(&format!(
            "UPDATE customer_events SET at = '2026-03-{d:02} 00:00:00' WHERE id = \
             (SELECT id FROM customer_events WHERE customer_id = {c} \
              AND kind = 'funnel_stage_changed' ORDER BY id LIMIT 1 OFFSET {n})"
        ));
    }
}

/// (stage, stays ended, median days) per stage.
fn stages(report: &Value) -> Vec<(String, i64, Option<f64>)> {
    report["stages"]
        .as_array()
        .unwrap_or_else(|| panic!("no stages: {report}"))
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap_or_default().to_string(),
                s["stays_ended"].as_i64().unwrap_or(-1),
                s["median_days_in_stage"].as_f64(),
            )
        })
        .collect()
}

async fn stays_that_ended_in_the_period_give_the_time_in_stage(app: TestApp) {
    let token = app.admin_token().await;
    // Lead on the 1st, prospect on the 11th, ordinary on the 14th.
    let a = customer(&app, &token, "A", &["prospect", "ordinary"]).await;
    date(&app, a, &[1, 11, 14]);
    // Lead on the 2nd, prospect on the 9th (before the period), ordinary on
    // the 15th, back to prospect on the 25th (after it).
    let b = customer(&app, &token, "B", &["prospect", "ordinary", "prospect"]).await;
    date(&app, b, &[2, 9, 15, 25]);

    let r = app
        .get(
            "/api/v1/analytics/funnel?from=2026-03-10T00:00:00Z&to=2026-03-20T00:00:00Z",
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let s = |stage: &str, ended: i64, median: Option<f64>| (stage.to_string(), ended, median);
    assert_eq!(
        stages(&r.body),
        [
            // A's 10 days (1st to 11th); B's lead stay ended on the 9th.
            s("lead", 1, Some(10.0)),
            // A's 3 days (11th to 14th) and B's 6 (9th to 15th).
            s("prospect", 2, Some(4.5)),
            // A's is open, and B's ended after the period.
            s("ordinary", 0, None),
            s("key", 0, None),
            s("won", 0, None),
        ]
    );
    // The conversion steps are as they were: A's lead entry is before the period.
    assert_eq!(
        r.body["steps"][1]["entered"], 1,
        "A's prospect entry: {}",
        r.text
    );
}
