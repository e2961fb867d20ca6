//! `Idempotency-Key` claims on PostgreSQL are stamped and judged by the
//! database's clock, as webhook leases are (an outside review): with each
//! process's own, a retry reaching a replica whose clock ran a minute ahead
//! saw a claim just applied as past its lease and answered it applied, for
//! good, before the first process stored its response. SQLite keeps the
//! process's clock: its processes share one host (`db::clock`).

use chrono::{Duration, NaiveDateTime, Utc};
use serde_json::json;

use crate::helpers::{Backend, TestApp};

/// PostgreSQL only: SQLite keeps the process's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_key_is_claimed_by_the_database_clock() {
    crate::helpers::run(a_key_is_claimed_by_the_database_clock, Backend::Postgres).await;
}

/// The database's clock is made to run 10 minutes ahead of the processes'
/// (a `now()` of the test's own before `pg_catalog` in the search path, for
/// the connections of an instance started after it). Its claim is stamped
/// with the database's now, and its response, stored against a lease judged
/// by the same clock, is what a retry gets.
async fn a_key_is_claimed_by_the_database_clock(app: TestApp) {
    let token = app.admin_token().await;
    app.execute_sql(
        "CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql STABLE \
         AS $$ SELECT pg_catalog.now() + interval '10 minutes' $$; \
         DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = public, pg_catalog', \
         current_database()); END $$;",
    );
    let other = app.start_another(|_| {}).await;
    let post = || {
        app.client
            .post(format!("{}/api/v1/customers", other.address))
            .bearer_auth(&token)
            .header("Idempotency-Key", "skewed")
            .json(&json!({"kind": "individual", "name": "Once"}))
    };
    let first = app.send(post()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let ahead = claimed_at(&app.database_url, "skewed") - Utc::now().naive_utc();
    assert!(
        ahead > Duration::minutes(9) && ahead < Duration::minutes(11),
        "the claim is not stamped by the database's clock: {ahead} ahead of this process's"
    );
    let again = app.send(post()).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.id(), first.id(), "the stored response is replayed");
}

/// When the key `key` was claimed, as stored.
fn claimed_at(url: &str, key: &str) -> NaiveDateTime {
    use diesel::{Connection, RunQueryDsl};
    let mut conn = diesel::PgConnection::establish(url).expect("connect");
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Timestamp>(&format!(
        "(SELECT created_at FROM idempotency_keys WHERE idem_key = '{key}')"
    )))
    .get_result(&mut conn)
    .expect("the claim")
}
