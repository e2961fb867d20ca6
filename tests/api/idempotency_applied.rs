//! A keyed POST whose write committed but whose response was never stored
//! (the process stopped, the store failed) is not run again by a retry once
//! its claim is old: the write's own transaction marked the claim applied.
//! It was taken over after 60 s and run again: a second card.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::sync_idempotency::post_hash;

/// Makes storing a response fail, as a crash or a failed write would.
fn refuse_responses(app: &TestApp) {
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

fn allow_responses(app: &TestApp) {
    app.execute_sql(match app.backend {
        Backend::Sqlite => "DROP TRIGGER refuse_responses;",
        Backend::Postgres => {
            "DROP TRIGGER refuse_responses ON idempotency_keys; DROP FUNCTION refuse_responses();"
        }
    });
}

/// Lets the claims' lease run out.
fn age_claims(app: &TestApp) {
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
    let post = || {
        app.client
            .post(app.url("/api/v1/customers"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "lost-answer")
            .json(&json!({"kind": "individual", "name": "Once"}))
    };
    refuse_responses(&app);
    assert_eq!(app.send(post()).await.status, 201);
    allow_responses(&app);
    // Within the lease: the first may still be running.
    app.send(post()).await.problem(409);
    age_claims(&app);
    for _ in 0..2 {
        let retry = app.send(post()).await;
        let problem = retry.problem(409);
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("was applied")),
            "{}",
            retry.text
        );
    }
    assert_eq!(cards(&app, &token).await, 1, "the card was created twice");
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
);

/// The claim's token, at the database level (both engines): a run whose
/// claim a retry took over (it was slow, not dead) can no longer mark the
/// claim applied, so its write rolls back instead of being a second one; a
/// run that answered an error after its write committed leaves the claim
/// applied and stale at once, so the retry hears "applied" without a
/// minute of "still being processed".
async fn a_claim_taken_over_cannot_be_marked_by_the_run_it_replaced(app: TestApp) {
    use patron::db::idempotency::{claim, mark_applied, release, Claim, Overtaken};
    let (user, _) = app.user_with_role("sales").await;
    let db = app.open_db(1, 5).await;
    db.run(move |conn| {
        let now = patron::db::now();
        let lease = chrono::Duration::seconds(60);
        let Claim::Fresh(slow) = claim(conn, user, "k", "h", now, now - lease)? else {
            panic!("a new key is fresh");
        };
        // A minute later the retry finds the claim stale and takes it over.
        let later = now + chrono::Duration::seconds(120);
        let Claim::Fresh(retry) = claim(conn, user, "k", "h", later, later - lease)? else {
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
        release(conn, user, "k")?;
        let found = claim(conn, user, "k", "h", later, later - lease)?;
        assert!(matches!(found, Claim::Applied), "{found:?}");
        Ok(())
    })
    .await
    .expect("the claims");
}
