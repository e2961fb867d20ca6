//! A keyed POST whose claim could not be settled (the response not stored,
//! or the claim not freed: the database busy or failing right then) is
//! settled later, and meanwhile its retry is answered as if it had been:
//! the stored answer, or a fresh run. Both were a 409 "still being
//! processed" for the claim's 60 s lease; the lost answer then became
//! `idempotency-applied` for good (an outside review).
//!
//! The failure is staged with triggers, on both engines: what the code sees
//! is the same error as a write that timed out in SQLite's queue (a held
//! `BEGIN IMMEDIATE` cannot be timed from outside to fall between the
//! claim's commit and the settling, and would make the handler's write fail
//! too).

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::idempotency_applied::{allow_responses, refuse_responses};

fn keyed(
    app: &TestApp,
    address: &str,
    token: &str,
    key: &str,
    name: &str,
) -> reqwest::RequestBuilder {
    app.client
        .post(format!("{address}/api/v1/customers"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({"kind": "individual", "name": name}))
}

/// Makes creating a card fail (its handler answers an error).
fn refuse_cards(app: &TestApp) {
    app.execute_sql(match app.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_cards BEFORE INSERT ON customers \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION refuse_cards() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_cards BEFORE INSERT ON customers \
             FOR EACH STATEMENT EXECUTE FUNCTION refuse_cards();"
        }
    });
}

fn allow_cards(app: &TestApp) {
    app.execute_sql(match app.backend {
        Backend::Sqlite => "DROP TRIGGER refuse_cards;",
        Backend::Postgres => {
            "DROP TRIGGER refuse_cards ON customers; DROP FUNCTION refuse_cards();"
        }
    });
}

/// The run failed and could not free its claim (deleting it is refused):
/// the retry runs at once instead of hearing "still being processed".
async fn a_failed_run_that_could_not_free_its_claim_is_run_again(app: TestApp) {
    let token = app.admin_token().await;
    refuse_cards(&app);
    app.refuse_deletes("idempotency_keys");
    let failed = app
        .send(keyed(&app, &app.address, &token, "unfreed", "Retry me"))
        .await;
    assert!(failed.status >= 500, "{} {}", failed.status, failed.text);
    allow_cards(&app);
    // The claim is still there (its release keeps failing in the
    // background), but this process knows it was freed.
    let retry = app
        .send(keyed(&app, &app.address, &token, "unfreed", "Retry me"))
        .await;
    assert_eq!(retry.status, 201, "{}", retry.text);
    let replay = app
        .send(keyed(&app, &app.address, &token, "unfreed", "Retry me"))
        .await;
    assert_eq!(replay.status, 201, "{}", replay.text);
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(replay.id(), retry.id());
    app.allow_deletes("idempotency_keys");
}

/// The write committed and was answered 201, but its response could not be
/// stored: a retry gets that 201 replayed, and the response is stored once
/// the database takes it (another instance, without the memory, then
/// replays it too).
async fn a_response_that_could_not_be_stored_is_replayed_and_stored_later(app: TestApp) {
    let token = app.admin_token().await;
    refuse_responses(&app);
    let first = app
        .send(keyed(&app, &app.address, &token, "unstored", "Once"))
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let retry = app
        .send(keyed(&app, &app.address, &token, "unstored", "Once"))
        .await;
    assert_eq!(retry.status, 201, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(retry.id(), first.id());
    // The key with another request is still a misuse.
    let other_body = app
        .send(keyed(&app, &app.address, &token, "unstored", "Twice"))
        .await;
    assert_eq!(other_body.status, 422, "{}", other_body.text);
    allow_responses(&app);
    let other = app.start_another(|_| {}).await;
    let started = std::time::Instant::now();
    let stored = loop {
        let r = app
            .send(keyed(&app, &other.address, &token, "unstored", "Once"))
            .await;
        if r.status != 409 || started.elapsed() > std::time::Duration::from_secs(20) {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    other.stop().await;
    assert_eq!(stored.status, 201, "{}", stored.text);
    assert_eq!(
        stored.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(stored.id(), first.id());
}

backend_tests!(
    a_failed_run_that_could_not_free_its_claim_is_run_again,
    a_response_that_could_not_be_stored_is_replayed_and_stored_later,
);
