//! A segment create or change that committed is answered 201/200 even when
//! its figures cannot be counted afterwards (they are counted after the
//! COMMIT, in a second step). That step's failure (no connection in time,
//! a lost one) answered the saved write with an error, and the client's
//! retry met its own name (409), its key applied (409) or a new version
//! (412). Staged here on both engines by taking away the table the count
//! reads and the write does not.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;
use crate::segments::{create_segment, SEGMENTS};

backend_tests!(a_saved_segment_is_answered_without_figures_when_counting_fails);

fn hide_customers(app: &TestApp) {
    app.execute_sql("ALTER TABLE customers RENAME TO customers_hidden;");
}

fn show_customers(app: &TestApp) {
    app.execute_sql("ALTER TABLE customers_hidden RENAME TO customers;");
}

async fn a_saved_segment_is_answered_without_figures_when_counting_fails(app: TestApp) {
    let token = app.admin_token().await;
    let rule = json!({"field": "region", "op": "eq", "value": "Hangzhou"});
    let counted = create_segment(
        &app,
        &token,
        json!({"name": "Counted", "kind": "dynamic", "rule": rule}),
    )
    .await;
    assert_eq!(counted.body["count"], 0, "{}", counted.text);

    hide_customers(&app);
    let create = || {
        app.client
            .post(app.url(SEGMENTS))
            .bearer_auth(&token)
            .header("Idempotency-Key", "saved-segment")
            .json(&json!({"name": "Saved", "kind": "dynamic", "rule": rule}))
    };
    let created = app.send(create()).await;
    let patched = app
        .patch(
            &format!("{SEGMENTS}/{}", counted.id()),
            &token,
            &json!({"name": "Renamed"}),
        )
        .await;
    show_customers(&app);

    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["name"], "Saved");
    assert_eq!(created.body["rule"], rule);
    assert!(created.body.get("count").is_none(), "{}", created.text);
    assert!(created.body.get("totals").is_none(), "{}", created.text);
    let id = created.id();
    assert_eq!(
        created.header("location").as_deref(),
        Some(format!("/api/v1/segments/{id}").as_str())
    );
    // The answer was stored for the key: the retry replays it, no 409.
    let replay = app.send(create()).await;
    assert_eq!(replay.status, 201, "{}", replay.text);
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(replay.id(), id);
    // The answer as it was: the replay does not count either.
    assert!(replay.body.get("count").is_none(), "{}", replay.text);
    assert!(replay.body.get("totals").is_none(), "{}", replay.text);

    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["name"], "Renamed");
    assert_eq!(patched.body["version"], 2);
    assert!(patched.body.get("count").is_none(), "{}", patched.text);

    // Read again, each has its figures.
    for id in [id, counted.id()] {
        let read = app.get(&format!("{SEGMENTS}/{id}"), &token).await;
        assert_eq!(read.status, 200, "{}", read.text);
        assert_eq!(read.body["count"], 0, "{}", read.text);
    }
}
