//! One process per period runs the start-up / hourly recompute round (window
//! move, CPR and loyalty recomputes): every process ran every round, so N
//! replicas walked every card N times an hour and a rolling restart N times
//! in a row. Each test stages a stale stage on a card (no purchase:
//! `not_started`, stored as `retention`) which only a recompute round puts
//! right, and starts another instance on the same database.

use std::time::{Duration, Instant};

use diesel::sql_types::{Nullable, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::settings::{default_cpr, set_cpr};

backend_tests!(
    a_start_up_round_after_another_process_s_round_is_skipped,
    a_round_that_never_finished_is_run_by_the_next_claimant,
    a_failed_round_is_claimed_again_by_its_retry,
    a_settings_change_makes_the_next_round_due,
    a_round_given_back_is_taken_over_by_a_process_that_skipped_it,
);

#[derive(QueryableByName, Debug)]
struct One {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

/// The first column of the first row of `sql` as text (None: no row, or NULL).
fn text(app: &TestApp, sql: &str) -> Option<String> {
    let rows: Vec<One> = match app.backend {
        Backend::Sqlite => {
            let path = app.database_url.strip_prefix("sqlite://").unwrap();
            let mut c = crate::helpers::open_sqlite(path);
            diesel::sql_query(sql).load(&mut c).unwrap()
        }
        Backend::Postgres => {
            let mut c = diesel::PgConnection::establish(&app.database_url).unwrap();
            diesel::sql_query(sql).load(&mut c).unwrap()
        }
    };
    rows.into_iter().next().and_then(|r| r.v)
}

fn stage(app: &TestApp, id: i64) -> String {
    text(
        app,
        &format!("SELECT cpr_stage AS v FROM customers WHERE id = {id}"),
    )
    .unwrap()
}

/// When the recompute round last started (text), once one has finished.
fn finished_round(app: &TestApp) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = text(
            app,
            "SELECT CAST(started_at AS TEXT) AS v FROM job_rounds \
             WHERE name = 'recompute' AND finished_at IS NOT NULL",
        );
        if let Some(started) = done {
            return started;
        }
        assert!(Instant::now() < deadline, "no recompute round finished");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A card whose stored stage only a recompute round puts right, once the
/// start-up round of `app` has finished (it would put it right itself).
async fn stale_card(app: &TestApp) -> i64 {
    finished_round(app);
    let admin = app.admin_token().await;
    let id = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Stale"}))
        .await
        .id();
    app.execute_sql(&format!(
        "UPDATE customers SET cpr_stage = 'retention' WHERE id = {id}"
    ));
    id
}

/// Waits until a recompute round puts the card's stage right.
fn recomputed_soon(app: &TestApp, id: i64, within: Duration, why: &str) {
    let deadline = Instant::now() + within;
    while stage(app, id) != "not_started" {
        assert!(Instant::now() < deadline, "{why}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A replica started (or restarted) minutes after another's round does not
/// walk again; a start of another Patron version does (its code may
/// compute the cards differently).
async fn a_start_up_round_after_another_process_s_round_is_skipped(app: TestApp) {
    let id = stale_card(&app).await;
    let before = finished_round(&app);

    let second = app.start_another(|_| {}).await;
    // Without the claim its start-up round put the card right within
    // milliseconds.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(stage(&app, id), "retention", "the second start walked");
    assert_eq!(finished_round(&app), before, "the second start claimed");
    second.stop().await;

    app.execute_sql("UPDATE job_rounds SET patron_version = '0.0.1-older'");
    let upgraded = app.start_another(|_| {}).await;
    recomputed_soon(
        &app,
        id,
        Duration::from_secs(30),
        "the start of another version did not walk",
    );
    upgraded.stop().await;
}

/// A round claimed by a process that crashed in it is run by the first
/// process that claims once it is due (here: a start).
async fn a_round_that_never_finished_is_run_by_the_next_claimant(app: TestApp) {
    let id = stale_card(&app).await;
    app.execute_sql("UPDATE job_rounds SET started_at = '2001-01-01 00:00:00', finished_at = NULL");
    let next = app.start_another(|_| {}).await;
    recomputed_soon(
        &app,
        id,
        Duration::from_secs(30),
        "the due round was not claimed",
    );
    next.stop().await;
}

/// A round that failed gives its claim back: the retry after
/// `PATRON_JOB_RETRY_SECS` claims it again, instead of finding its own
/// failed round recent and waiting the hour.
async fn a_failed_round_is_claimed_again_by_its_retry(app: TestApp) {
    let id = stale_card(&app).await;
    // Due, as an hour after the last round; and every stage write fails.
    app.execute_sql("UPDATE job_rounds SET started_at = '2001-01-01 00:00:00'");
    app.execute_sql(match app.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_stages BEFORE UPDATE OF cpr_stage ON customers \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION refuse_stages() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_stages BEFORE UPDATE OF cpr_stage ON customers \
             FOR EACH STATEMENT EXECUTE FUNCTION refuse_stages();"
        }
    });
    let retrying = app.start_another(|c| c.job_retry_secs = 1).await;
    // Its start-up round claims (a claim clears `finished_at`) and fails,
    // at least once.
    let deadline = Instant::now() + Duration::from_secs(30);
    while text(
        &app,
        "SELECT patron_version AS v FROM job_rounds WHERE finished_at IS NULL",
    )
    .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "the start-up round never claimed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(stage(&app, id), "retention", "the trigger refuses");
    app.execute_sql(match app.backend {
        Backend::Sqlite => "DROP TRIGGER refuse_stages;",
        Backend::Postgres => {
            "DROP TRIGGER refuse_stages ON customers; DROP FUNCTION refuse_stages();"
        }
    });
    recomputed_soon(
        &app,
        id,
        Duration::from_secs(15),
        "the failed round was not retried",
    );
    retrying.stop().await;
}

/// A change of the settings the round applies makes the next round due, of
/// any process or at the next start: a change whose own recompute was cut
/// off (a crash, a kill) is finished by the next start, as it was before
/// rounds were claimed. Staged: the card goes stale after the change's own
/// recompute, which a crash in it would have left undone.
async fn a_settings_change_makes_the_next_round_due(app: TestApp) {
    let id = stale_card(&app).await;
    let admin = app.admin_token().await;
    let mut changed = default_cpr();
    changed["retention_min_purchases"] = json!(5);
    set_cpr(&app, &admin, changed).await;
    app.execute_sql(&format!(
        "UPDATE customers SET cpr_stage = 'retention' WHERE id = {id}"
    ));
    let next = app.start_another(|_| {}).await;
    recomputed_soon(
        &app,
        id,
        Duration::from_secs(30),
        "the start after a settings change did not walk",
    );
    next.stop().await;
}

/// A process that found another's round under way looks again after the
/// retry delay, not when that round's period is up: a round given back (its
/// process stopped by SIGTERM in a rolling restart, or failed) is taken
/// over then. It slept ~0.9 periods (54 minutes by default), leaving the
/// cards the stopped round had not reached (an outside review).
async fn a_round_given_back_is_taken_over_by_a_process_that_skipped_it(app: TestApp) {
    let id = stale_card(&app).await;
    // Another process's round, started just now and not finished.
    app.execute_sql(match app.backend {
        Backend::Sqlite => {
            "UPDATE job_rounds SET started_at = strftime('%Y-%m-%d %H:%M:%f', 'now'), \
             finished_at = NULL"
        }
        Backend::Postgres => {
            "UPDATE job_rounds SET started_at = now() AT TIME ZONE 'UTC', finished_at = NULL"
        }
    });
    let other = app.start_another(|c| c.job_retry_secs = 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        stage(&app, id),
        "retention",
        "the round under way was claimed"
    );
    // That process stops mid-round: `job_rounds::release`.
    app.execute_sql("UPDATE job_rounds SET started_at = '1970-01-01 00:00:00'");
    recomputed_soon(
        &app,
        id,
        Duration::from_secs(15),
        "the round given back was not taken over",
    );
    other.stop().await;
}
