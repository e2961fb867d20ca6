//! A keyed POST whose write committed but whose response was never stored
//! (the process stopped, the store failed) is not run again by a retry once
//! its claim is old: the write's own transaction marked the claim applied.
//! It was taken over after 60 s and run again: a second card.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::sync_idempotency::post_hash;

/// Makes storing a response fail, as a crash or a failed write would.
pub fn refuse_responses(app: &TestApp) {
    app.execute_sql(match app.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_responses BEFORE UPDATE OF status ON idempotency_keys \
             WHEN NEW.status IS NOT NULL BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION refuse_responses() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_responses BEFORE UPDATE ON idempotency_keys \
             FOR EACH ROW WHEN (NEW.status IS NOT NULL) EXECUTE FUNCTION refuse_responses();"
        }
    });
}

pub fn allow_responses(app: &TestApp) {
    app.execute_sql(match app.backend {
        Backend::Sqlite => "DROP TRIGGER refuse_responses;",
        Backend::Postgres => {
            "DROP TRIGGER refuse_responses ON idempotency_keys; DROP FUNCTION refuse_responses();"
        }
    });
}

/// Lets the claims' lease run out.
pub fn age_claims(app: &TestApp) {
    let old = (chrono::Utc::now() - chrono::Duration::seconds(120)).format("%Y-%m-%d %H:%M:%S%.6f");
    app.execute_sql(&format!(
        "UPDATE idempotency_keys SET created_at = '{old}' WHERE status IS NULL"
    ));
}

async fn cards(app: &TestApp, token: &str) -> usize {
    let all = app.get("/api/v1/customers", token).await;
    all.body["items"].as_array().map_or(0, Vec::len)
}

async fn a_write_whose_response_was_lost_is_not_run_again(app: TestApp) {
    let token = app.admin_token().await;
    let first = || {
        app.client
            .post(app.url("/api/v1/customers"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "lost-answer")
            .json(&json!({"kind": "individual", "name": "Once"}))
    };
    refuse_responses(&app);
    assert_eq!(app.send(first()).await.status, 201);
    // The retries go to another process: the first one keeps the response
    // it could not store and replays it (`idempotency_unsettled.rs`); the
    // one that lost it here stopped, or is another instance.
    let other = app.start_another(|_| {}).await;
    let post = || {
        app.client
            .post(format!("{}/api/v1/customers", other.address))
            .bearer_auth(&token)
            .header("Idempotency-Key", "lost-answer")
            .json(&json!({"kind": "individual", "name": "Once"}))
    };
    // Within the lease: the first may still be running (retry later).
    let in_flight = app.send(post()).await;
    assert_eq!(in_flight.problem(409)["type"], "/problems/conflict");
    assert_eq!(in_flight.header("retry-after").as_deref(), Some("1"));
    age_claims(&app);
    // Applied: a type of its own and no `Retry-After`, so that a client
    // retrying the in-flight 409 stops here (it was `/problems/conflict`).
    for _ in 0..2 {
        let retry = app.send(post()).await;
        let problem = retry.problem(409);
        assert_eq!(
            problem["type"], "/problems/idempotency-applied",
            "{}",
            retry.text
        );
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("was applied")),
            "{}",
            retry.text
        );
        assert_eq!(retry.header("retry-after"), None, "{}", retry.text);
    }
    assert_eq!(cards(&app, &token).await, 1, "the card was created twice");
    other.stop().await;
    allow_responses(&app);
}

/// A claim whose request died before its write (nothing marked it applied)
/// is still taken over once old, and the retry runs.
async fn a_claim_never_applied_is_run_again(app: TestApp) {
    let token = app.admin_token().await;
    let (path, body) = (
        "/api/v1/customers",
        r#"{"kind":"individual","name":"Died"}"#,
    );
    let hash = post_hash(path, body);
    let old = (chrono::Utc::now() - chrono::Duration::seconds(120)).format("%Y-%m-%d %H:%M:%S%.6f");
    app.execute_sql(&format!(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, created_at) \
         SELECT MIN(id), 'died', '{hash}', '{old}' FROM users"
    ));
    let post = || {
        app.client
            .post(app.url(path))
            .bearer_auth(&token)
            .header("Idempotency-Key", "died")
            .header("Content-Type", "application/json")
            .body(body)
    };
    let first = app.send(post()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let replay = app.send(post()).await;
    assert_eq!(replay.status, 201, "{}", replay.text);
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(cards(&app, &token).await, 1);
}

backend_tests!(
    a_write_whose_response_was_lost_is_not_run_again,
    a_claim_never_applied_is_run_again,
    a_claim_taken_over_cannot_be_marked_by_the_run_it_replaced,
    an_overtaken_run_leaves_its_retrys_claim_alone,
    an_overtaken_run_resent_hears_what_its_message_says,
    a_claim_left_by_a_process_before_the_marks_is_not_run_again,
    a_post_the_client_gave_up_on_is_answered_to_its_retry,
);

/// The claim's token, at the database level (both engines): a run whose
/// claim a retry took over (it was slow, not dead) can no longer mark the
/// claim applied, so its write rolls back instead of being a second one; a
/// run that answered an error after its write committed leaves the claim
/// applied and stale at once, so the retry hears "applied" without a
/// minute of "still being processed".
async fn a_claim_taken_over_cannot_be_marked_by_the_run_it_replaced(app: TestApp) {
    use patron::db::idempotency::{claim, mark_applied, purge, release, Claim, Overtaken};
    let (user, _) = app.user_with_role("sales").await;
    let db = app.open_db(1, 5).await;
    db.run(move |conn| {
        let now = patron::db::now();
        let lease = chrono::Duration::seconds(60);
        let Claim::Fresh(slow) = claim(conn, user, "k", "h", now, now - lease, None)? else {
            panic!("a new key is fresh");
        };
        // A minute later the retry finds the claim stale and takes it over.
        let later = now + chrono::Duration::seconds(120);
        let Claim::Fresh(retry) = claim(conn, user, "k", "h", later, later - lease, None)? else {
            panic!("a stale claim never applied is taken over");
        };
        let refused = mark_applied(conn, user, "k", &slow);
        assert!(
            matches!(&refused, Err(diesel::result::Error::QueryBuilderError(e)) if e.is::<Overtaken>()),
            "{refused:?}"
        );
        mark_applied(conn, user, "k", &retry)?;
        // The retry answered an error after its write: released, the claim
        // stays, and is found applied at once.
        release(conn, user, "k", &retry, later - lease - chrono::Duration::seconds(1))?;
        let found = claim(conn, user, "k", "h", later, later - lease, None)?;
        assert!(matches!(found, Claim::Applied), "{found:?}");
        // And it outlives the purge of the keys' retention (it was dated
        // 1970, so the next purge removed it and a retry ran again).
        let day_before = later - chrono::Duration::hours(24);
        assert_eq!(purge(conn, day_before)?, 0, "the applied claim was purged");
        let found = claim(conn, user, "k", "h", later, later - lease, None)?;
        assert!(matches!(found, Claim::Applied), "{found:?}");
        Ok(())
    })
    .await
    .expect("the claims");
}

/// Found by a review: `release` freed whatever unfinished claim the key had.
/// A run overtaken by its retry (it was slow past the lease) answered its
/// 409 and released, deleting the retry's claim: the retry could then mark
/// nothing and rolled back too, and a third request ran fresh beside it.
async fn an_overtaken_run_leaves_its_retrys_claim_alone(app: TestApp) {
    use patron::db::idempotency::{claim, release, Claim};
    let (user, _) = app.user_with_role("sales").await;
    let db = app.open_db(1, 5).await;
    db.run(move |conn| {
        let now = patron::db::now();
        let lease = chrono::Duration::seconds(60);
        let Claim::Fresh(slow) = claim(conn, user, "k", "h", now, now - lease, None)? else {
            panic!("a new key is fresh");
        };
        let later = now + chrono::Duration::seconds(120);
        let Claim::Fresh(_retry) = claim(conn, user, "k", "h", later, later - lease, None)? else {
            panic!("a stale claim never applied is taken over");
        };
        release(conn, user, "k", &slow, later - lease)?;
        let found = claim(conn, user, "k", "h", later, later - lease, None)?;
        assert!(
            matches!(found, Claim::InFlight),
            "the retry's claim was freed: {found:?}"
        );
        Ok(())
    })
    .await
    .expect("the claims");
}

/// What the overtaken 409 promises its resend, when the retry that took
/// the claim over carried another body: the in-flight 409 while the retry
/// runs unapplied, a 422 once it wrote or was answered. The message said
/// the resend got the retry's stored response.
async fn an_overtaken_run_resent_hears_what_its_message_says(app: TestApp) {
    use patron::db::idempotency::{claim, complete, mark_applied, Claim, Overtaken, Stored};
    let (user, _) = app.user_with_role("sales").await;
    let db = app.open_db(1, 5).await;
    db.run(move |conn| {
        let now = patron::db::now();
        let lease = chrono::Duration::seconds(60);
        let Claim::Fresh(slow) = claim(conn, user, "k", "first", now, now - lease, None)? else {
            panic!("a new key is fresh");
        };
        let later = now + chrono::Duration::seconds(120);
        let Claim::Fresh(retry) = claim(conn, user, "k", "fixed", later, later - lease, None)?
        else {
            panic!("a stale claim never applied is taken over, whatever its body");
        };
        let refused = mark_applied(conn, user, "k", &slow);
        assert!(
            matches!(&refused, Err(diesel::result::Error::QueryBuilderError(e)) if e.is::<Overtaken>()),
            "{refused:?}"
        );
        let running = claim(conn, user, "k", "first", later, later - lease, None)?;
        assert!(matches!(running, Claim::InFlight), "{running:?}");
        mark_applied(conn, user, "k", &retry)?;
        let applied = claim(conn, user, "k", "first", later, later - lease, None)?;
        assert!(matches!(applied, Claim::Mismatch), "{applied:?}");
        let stored = Stored {
            status: 201,
            headers: "[]".into(),
            body: "{}".into(),
        };
        complete(conn, user, "k", &retry, &stored, later - lease)?;
        let answered = claim(conn, user, "k", "first", later, later - lease, None)?;
        assert!(matches!(answered, Claim::Mismatch), "{answered:?}");
        let message = Overtaken.to_string();
        assert!(message.contains("422"), "{message}");
        Ok(())
    })
    .await
    .expect("the claims");
}

/// A review feared that a client giving up on a keyed POST (its timeout, a
/// dropped connection) cancels the request and leaves its claim "still being
/// processed" for a minute. Measured: actix runs an HTTP/1.1 request to its
/// end after the client has gone, so the claim settles as usual. Here the
/// POST waits on a lock the test holds until the client has given up; the
/// retry that follows gets an answer at once (the stored 201, or "applied"),
/// and the card exists once.
async fn a_post_the_client_gave_up_on_is_answered_to_its_retry(app: TestApp) {
    use crate::helpers::hold_locked;
    use diesel::connection::SimpleConnection;
    use std::time::{Duration, Instant};
    let token = app.admin_token().await;
    let post = || {
        app.client
            .post(app.url("/api/v1/customers"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "gave-up")
            .json(&json!({"kind": "individual", "name": "Dropped"}))
    };
    let db = app.open_db(1, 5).await;
    let lock = match app.backend {
        Backend::Postgres => "BEGIN; LOCK TABLE customers IN ACCESS EXCLUSIVE MODE;",
        Backend::Sqlite => "BEGIN IMMEDIATE; UPDATE customers SET notes = notes;",
    };
    let holder = hold_locked(&db, lock).await;
    let gave_up = post().timeout(Duration::from_millis(700)).send().await;
    assert!(
        gave_up.is_err(),
        "the POST answered past the lock: {gave_up:?}"
    );
    tokio::task::spawn_blocking(move || {
        let mut holder = holder;
        holder.batch_execute("ROLLBACK").expect("the rollback");
    })
    .await
    .expect("the blocking rollback");
    let started = Instant::now();
    let answer = loop {
        let retry = app.send(post()).await;
        if retry.status != 409 || retry.header("retry-after").is_none() {
            break retry;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "still \"being processed\" {:?} after the client gave up",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    match answer.status {
        201 => {}
        409 => assert_eq!(
            answer.body["type"], "/problems/idempotency-applied",
            "{}",
            answer.text
        ),
        other => panic!("{other}: {}", answer.text),
    }
    assert_eq!(cards(&app, &token).await, 1);
}

/// Found by a review: claims left unfinished by a process older than the
/// applied mark (a deploy's SIGKILL mid-request) came through the migration
/// as "never applied", so a retry took them over after 60 s and ran the
/// request again, though its write may have committed: the double write the
/// mark exists to prevent. Migration `2026-12-05-000200` counts them as
/// applied (they alone have no claim token).
async fn a_claim_left_by_a_process_before_the_marks_is_not_run_again(app: TestApp) {
    let token = app.admin_token().await;
    let (path, body) = (
        "/api/v1/customers",
        r#"{"kind":"individual","name":"Before the upgrade"}"#,
    );
    let hash = post_hash(path, body);
    let old = (chrono::Utc::now() - chrono::Duration::seconds(120)).format("%Y-%m-%d %H:%M:%S%.6f");
    app.execute_sql(&format!(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, created_at) \
         SELECT MIN(id), 'old-process', '{hash}', '{old}' FROM users"
    ));
    app.execute_sql(match app.backend {
        Backend::Sqlite => include_str!(
            "../../migrations/sqlite/2026-12-05-000200_idempotency_claims_before_marks/up.sql"
        ),
        Backend::Postgres => include_str!(
            "../../migrations/postgres/2026-12-05-000200_idempotency_claims_before_marks/up.sql"
        ),
    });
    let retry = app
        .send(
            app.client
                .post(app.url(path))
                .bearer_auth(&token)
                .header("Idempotency-Key", "old-process")
                .header("Content-Type", "application/json")
                .body(body),
        )
        .await;
    let problem = retry.problem(409);
    assert_eq!(
        problem["type"], "/problems/idempotency-applied",
        "{}",
        retry.text
    );
    assert_eq!(cards(&app, &token).await, 0, "the request ran again");
}
