//! A keyed POST whose claim could not be settled (the response not stored,
//! or the claim not freed: the database busy or failing right then) is
//! settled later, and meanwhile its retry is answered as if it had been:
//! the stored answer, or a fresh run. Both were a 409 "still being
//! processed" for the claim's 60 s lease; the lost answer then became
//! `idempotency-applied` for good (an outside review).
//!
//! The failure is staged with triggers, on both engines: what the code sees
//! is the same error as a write that timed out in SQLite's queue ("database
//! is locked") or lost a race on PostgreSQL (a serialization failure), the
//! passing causes it retries (a held `BEGIN IMMEDIATE` cannot be timed from
//! outside to fall between the claim's commit and the settling, and would
//! make the handler's write fail too).

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp};
use crate::idempotency_applied::age_claims;

/// Sends the keyed card creation for `name` to the instance at `address`.
async fn keyed(app: &TestApp, address: &str, token: &str, key: &str, name: &str) -> Resp {
    app.send(
        app.client
            .post(format!("{address}/api/v1/customers"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({"kind": "individual", "name": name})),
    )
    .await
}

/// The keyed card creation without a name, to this instance: a 422 (the
/// refusal whose claim the tests keep from being freed).
async fn unnamed(app: &TestApp, token: &str, key: &str) -> Resp {
    app.send(
        app.client
            .post(app.url("/api/v1/customers"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({"kind": "individual"})),
    )
    .await
}

/// `unnamed`, checked to be refused.
async fn refused_keyed(app: &TestApp, token: &str, key: &str) -> Resp {
    let refused = unnamed(app, token, key).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    refused
}

/// `r` is the replay of the 201 that created card `id`.
fn assert_replayed(r: &Resp, id: i64) {
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(r.id(), id);
}

/// Makes `event` (`DELETE`, or `UPDATE` storing a response) on the keys
/// fail as a busy database does, until `calm`.
fn busy(app: &TestApp, event: &str) {
    let when = match event {
        "DELETE" => "",
        _ => "WHEN NEW.status IS NOT NULL",
    };
    app.execute_sql(&match app.backend {
        Backend::Sqlite => format!(
            "CREATE TRIGGER busy BEFORE {event} ON idempotency_keys {when} \
             BEGIN SELECT RAISE(ABORT, 'database is locked (staged by the test)'); END;"
        ),
        Backend::Postgres => {
            let each = match event {
                "DELETE" => "FOR EACH STATEMENT".to_string(),
                _ => "FOR EACH ROW WHEN (NEW.status IS NOT NULL)".to_string(),
            };
            format!(
                "CREATE FUNCTION busy() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'staged by the test' USING ERRCODE = 'serialization_failure'; \
                 END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER busy BEFORE {event} ON idempotency_keys {each} \
                 EXECUTE FUNCTION busy();"
            )
        }
    });
}

fn calm(app: &TestApp) {
    app.execute_sql(match app.backend {
        Backend::Sqlite => "DROP TRIGGER busy;",
        Backend::Postgres => "DROP TRIGGER busy ON idempotency_keys; DROP FUNCTION busy();",
    });
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
    busy(&app, "DELETE");
    let failed = keyed(&app, &app.address, &token, "unfreed", "Retry me").await;
    assert!(failed.status >= 500, "{} {}", failed.status, failed.text);
    allow_cards(&app);
    // The claim is still there (its release keeps failing in the
    // background), but this process knows it was freed.
    let retry = keyed(&app, &app.address, &token, "unfreed", "Retry me").await;
    assert_eq!(retry.status, 201, "{}", retry.text);
    let replay = keyed(&app, &app.address, &token, "unfreed", "Retry me").await;
    assert_replayed(&replay, retry.id());
    calm(&app);
}

/// The write committed and was answered 201, but its response could not be
/// stored: a retry gets that 201 replayed, and the response is stored once
/// the database takes it (another instance, without the memory, then
/// replays it too).
async fn a_response_that_could_not_be_stored_is_replayed_and_stored_later(app: TestApp) {
    let token = app.admin_token().await;
    busy(&app, "UPDATE");
    let first = keyed(&app, &app.address, &token, "unstored", "Once").await;
    assert_eq!(first.status, 201, "{}", first.text);
    let retry = keyed(&app, &app.address, &token, "unstored", "Once").await;
    assert_replayed(&retry, first.id());
    // The key with another request is still a misuse.
    let other_body = keyed(&app, &app.address, &token, "unstored", "Twice").await;
    assert_eq!(other_body.status, 422, "{}", other_body.text);
    calm(&app);
    let other = app.start_another(|_| {}).await;
    let started = std::time::Instant::now();
    let stored = loop {
        let r = keyed(&app, &other.address, &token, "unstored", "Once").await;
        if r.status != 409 || started.elapsed() > std::time::Duration::from_secs(20) {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    other.stop().await;
    assert_replayed(&stored, first.id());
}

/// A refused request (a 422: no name) whose claim could not be freed: its
/// retry, corrected, runs at once, and later retries replay the corrected
/// run. The freed claim still held the first body's hash, checked first:
/// the corrected retry was a 422 "already used with a different request".
async fn a_corrected_retry_runs_while_the_release_is_pending(app: TestApp) {
    let token = app.admin_token().await;
    busy(&app, "DELETE");
    let refused = refused_keyed(&app, &token, "corrected").await;
    assert_eq!(refused.error_fields(), vec!["name".to_string()]);
    let corrected = keyed(&app, &app.address, &token, "corrected", "Fixed").await;
    assert_eq!(corrected.status, 201, "{}", corrected.text);
    let replay = keyed(&app, &app.address, &token, "corrected", "Fixed").await;
    assert_replayed(&replay, corrected.id());
    // The key now belongs to the corrected request.
    let first_again = unnamed(&app, &token, "corrected").await;
    assert_eq!(first_again.status, 422, "{}", first_again.text);
    assert_eq!(
        first_again.error_fields(),
        vec!["Idempotency-Key".to_string()]
    );
    calm(&app);
}

/// The same, when the release never lands and the retry goes to another
/// process (without the memory): once the lease is over, the claim, never
/// applied, is free for the corrected request. It was a 422 for the key's
/// whole retention (the hash was checked before the takeover).
async fn a_corrected_retry_takes_over_a_stale_claim_never_applied(app: TestApp) {
    let token = app.admin_token().await;
    busy(&app, "DELETE");
    refused_keyed(&app, &token, "stale-corrected").await;
    let other = app.start_another(|_| {}).await;
    age_claims(&app);
    let corrected = keyed(&app, &other.address, &token, "stale-corrected", "Fixed").await;
    let replay = keyed(&app, &other.address, &token, "stale-corrected", "Fixed").await;
    other.stop().await;
    assert_eq!(corrected.status, 201, "{}", corrected.text);
    assert_eq!(replay.status, 201, "{}", replay.text);
    assert_eq!(replay.id(), corrected.id());
    calm(&app);
}

/// The same retry, sent to another process within the lease: it cannot
/// know the claim was freed, and the first run may still be going, so it
/// answers 409 with `Retry-After` (it was a 422 "already used with a
/// different request", final for a client, while this process ran it at
/// once); after the lease it runs.
async fn a_corrected_retry_elsewhere_is_told_to_wait_not_refused(app: TestApp) {
    let token = app.admin_token().await;
    busy(&app, "DELETE");
    refused_keyed(&app, &token, "elsewhere").await;
    let other = app.start_another(|_| {}).await;
    let early = keyed(&app, &other.address, &token, "elsewhere", "Fixed").await;
    age_claims(&app);
    let late = keyed(&app, &other.address, &token, "elsewhere", "Fixed").await;
    other.stop().await;
    assert_eq!(early.problem(409)["type"], "/problems/conflict");
    assert!(early.header("retry-after").is_some(), "{:?}", early.text);
    assert_eq!(late.status, 201, "{}", late.text);
    calm(&app);
}

/// A response kept past the claim's lease is not stored: another process
/// may have answered `idempotency-applied` by then, which is for good. It
/// was stored for 5 minutes, and the applied key turned into a replay.
async fn a_response_is_not_stored_past_the_lease(app: TestApp) {
    let token = app.admin_token().await;
    busy(&app, "UPDATE");
    let first = keyed(&app, &app.address, &token, "late", "Late").await;
    assert_eq!(first.status, 201, "{}", first.text);
    // The lease is over (as another process judges it): no store lands.
    age_claims(&app);
    calm(&app);
    let other = app.start_another(|_| {}).await;
    let applied = keyed(&app, &other.address, &token, "late", "Late").await;
    assert_eq!(
        applied.problem(409)["type"],
        "/problems/idempotency-applied"
    );
    // Time for the background store (200 ms, then 400 ms, ...) to try.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let still = keyed(&app, &other.address, &token, "late", "Late").await;
    other.stop().await;
    assert_eq!(still.problem(409)["type"], "/problems/idempotency-applied");
}

/// The same for a run slow past its lease (its claim aged inside its write,
/// by a trigger, as a minute's wait would): its response, stored right
/// after the run, is not stored either. Only the background store obeyed
/// the lease, and the run's first store turned another process's
/// `idempotency-applied` "for good" into a replay.
async fn a_run_slow_past_the_lease_does_not_store_its_response(app: TestApp) {
    let token = app.admin_token().await;
    let old = (chrono::Utc::now() - chrono::Duration::seconds(120)).format("%Y-%m-%d %H:%M:%S%.6f");
    let age = format!("UPDATE idempotency_keys SET created_at = '{old}' WHERE status IS NULL;");
    app.execute_sql(&match app.backend {
        Backend::Sqlite => {
            format!("CREATE TRIGGER slow AFTER INSERT ON customers BEGIN {age} END;")
        }
        Backend::Postgres => format!(
            "CREATE FUNCTION slow() RETURNS trigger AS $$ BEGIN {age} RETURN NULL; END \
             $$ LANGUAGE plpgsql; CREATE TRIGGER slow AFTER INSERT ON customers \
             FOR EACH STATEMENT EXECUTE FUNCTION slow();"
        ),
    });
    let first = keyed(&app, &app.address, &token, "slow", "Slow").await;
    assert_eq!(first.status, 201, "{}", first.text);
    let retry = keyed(&app, &app.address, &token, "slow", "Slow").await;
    assert_eq!(retry.problem(409)["type"], "/problems/idempotency-applied");
}

/// A run whose write was applied, answered with an error whose claim could
/// not be stamped stale: its retries are told "applied" each time. The
/// first such answer forgot the pending stamp, and the next retry was told
/// "still being processed" after "applied".
async fn an_applied_claim_whose_release_is_pending_stays_applied(app: TestApp) {
    let token = app.admin_token().await;
    refuse_cards(&app);
    busy(&app, "DELETE");
    busy_stamps(&app);
    let failed = keyed(&app, &app.address, &token, "applied-pending", "Once").await;
    assert!(failed.status >= 500, "{} {}", failed.status, failed.text);
    allow_cards(&app);
    // As if the run's write had committed before it failed.
    app.execute_sql("UPDATE idempotency_keys SET applied = TRUE WHERE status IS NULL");
    for _ in 0..3 {
        let retry = keyed(&app, &app.address, &token, "applied-pending", "Once").await;
        assert_eq!(retry.problem(409)["type"], "/problems/idempotency-applied");
    }
    calm_stamps(&app);
    calm(&app);
}

/// Makes stamping an applied claim stale (the release of one) fail as a
/// busy database does.
fn busy_stamps(app: &TestApp) {
    app.execute_sql(match app.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER busy_stamps BEFORE UPDATE OF created_at ON idempotency_keys \
             WHEN NEW.applied AND NEW.created_at < OLD.created_at \
             BEGIN SELECT RAISE(ABORT, 'database is locked (staged by the test)'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION busy_stamps() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'staged by the test' USING ERRCODE = 'serialization_failure'; \
             END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER busy_stamps BEFORE UPDATE ON idempotency_keys FOR EACH ROW \
             WHEN (NEW.applied AND NEW.created_at < OLD.created_at) \
             EXECUTE FUNCTION busy_stamps();"
        }
    });
}

fn calm_stamps(app: &TestApp) {
    app.execute_sql(match app.backend {
        Backend::Sqlite => "DROP TRIGGER busy_stamps;",
        Backend::Postgres => {
            "DROP TRIGGER busy_stamps ON idempotency_keys; DROP FUNCTION busy_stamps();"
        }
    });
}

backend_tests!(
    a_response_is_not_stored_past_the_lease,
    a_run_slow_past_the_lease_does_not_store_its_response,
    an_applied_claim_whose_release_is_pending_stays_applied,
    a_corrected_retry_runs_while_the_release_is_pending,
    a_corrected_retry_takes_over_a_stale_claim_never_applied,
    a_corrected_retry_elsewhere_is_told_to_wait_not_refused,
    a_failed_run_that_could_not_free_its_claim_is_run_again,
    a_response_that_could_not_be_stored_is_replayed_and_stored_later,
);
