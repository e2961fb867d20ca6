//! Webhook leases on PostgreSQL follow the database's clock (outside
//! review): each process compared leases with its own clock, so with two
//! replicas whose clocks differ, the one running ahead saw the other's live
//! lease as expired and delivered beside it. SQLite keeps the process's
//! clock: its processes share one host (`db::clock`).

use chrono::{Duration, NaiveDateTime, Utc};
use patron::db::{changes, webhooks, Db};
use serde_json::json;

use crate::helpers::{Backend, TestApp};

/// PostgreSQL only: SQLite keeps the process's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_lease_is_judged_by_the_database_clock() {
    crate::helpers::run(a_lease_is_judged_by_the_database_clock, Backend::Postgres).await;
}

/// The database's clock is made to run 10 minutes behind this process's (a
/// `now()` of the test's own ahead of `pg_catalog` in the search path, for
/// the connections opened after it). Another replica, whose clock agrees
/// with the database's, holds the lease for 60 s more: the subscription is
/// neither due nor claimed, where this process's clock saw that lease as
/// ended 9 minutes ago and took it. Once it ended by the database's clock it
/// is claimed, and the new lease ends 60 s after the database's now.
async fn a_lease_is_judged_by_the_database_clock(app: TestApp) {
    let admin = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/webhooks",
            &admin,
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["*"], "secret": "a-long-shared-secret-0123"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.id();
    app.create_customer(&admin, json!({"kind": "individual", "name": "Anyone"}))
        .await;
    app.execute_sql(
        "CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql STABLE \
         AS $$ SELECT pg_catalog.now() - interval '10 minutes' $$; \
         DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = public, pg_catalog', \
         current_database()); END $$;",
    );
    let db = app.open_db(1, 5).await;
    let clock = database_clock(&app.database_url);
    let behind = Utc::now().naive_utc() - clock;
    assert!(
        behind > Duration::minutes(9) && behind < Duration::minutes(11),
        "the database's clock is not behind: {behind}"
    );
    let lease_until = |offset: &str| {
        app.execute_sql(&format!(
            "UPDATE webhooks SET lease_owner = 'replica b', \
             lease_until = (public.now() AT TIME ZONE 'UTC') + interval '{offset}' WHERE id = {id}"
        ))
    };
    lease_until("60 seconds");
    assert_eq!(due_and_claim(&db, id).await, (false, false));
    lease_until("-1 second");
    assert_eq!(due_and_claim(&db, id).await, (true, true));
    let until = lease_of(&db, id).await;
    let ahead = until - clock;
    assert!(
        ahead >= Duration::seconds(60) && ahead < Duration::seconds(75),
        "the lease ends {ahead} after the database's now"
    );
}

/// `now()` on a new connection to the test's database, in UTC.
fn database_clock(url: &str) -> NaiveDateTime {
    use diesel::{Connection, RunQueryDsl};
    let mut conn = diesel::PgConnection::establish(url).expect("connect");
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Timestamp>(
        "now() AT TIME ZONE 'UTC'",
    ))
    .get_result(&mut conn)
    .expect("the database's clock")
}

/// Whether subscription `id` is due, and whether "replica a" then claims it.
async fn due_and_claim(db: &Db, id: i64) -> (bool, bool) {
    db.run(move |conn| {
        let head = changes::head(conn)?;
        let due = webhooks::due(conn, head)?.contains(&id);
        let claimed = webhooks::claim(conn, id, "replica a", Duration::seconds(60))?;
        Ok((due, claimed))
    })
    .await
    .expect("due and claim")
}

async fn lease_of(db: &Db, id: i64) -> NaiveDateTime {
    db.run(move |conn| Ok(webhooks::find(conn, id)?))
        .await
        .expect("the subscription")
        .and_then(|w| w.lease_until)
        .expect("a lease")
}
