//! A role change locks the active admins (so two admins demoting each other
//! serialise) with `FOR NO KEY UPDATE`, not `FOR UPDATE`: an insert naming
//! an admin (a card it owns) takes `FOR KEY SHARE` on the admin's row for
//! its foreign-key check, which only `FOR UPDATE` waits for. A role change
//! waited for a long bulk import, and could deadlock with it (an outside
//! review). PostgreSQL only: SQLite has no row locks, its writers take turns.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use serde_json::json;

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_role_change_does_not_wait_for_an_insert_naming_an_admin() {
    crate::helpers::run(
        a_role_change_does_not_wait_for_an_insert_naming_an_admin,
        Backend::Postgres,
    )
    .await;
}

async fn a_role_change_does_not_wait_for_an_insert_naming_an_admin(app: TestApp) {
    let admin = app.admin_token().await;
    let first = app.get("/api/v1/users?limit=1", &admin).await;
    assert_eq!(first.body["items"][0]["role"], "admin", "{}", first.text);
    let admin_id = first.body["items"][0]["id"].as_i64().expect("an id");
    let (viewer, _) = app.user_with_role("viewer").await;

    // Another session's uncommitted insert of a card the admin owns: its
    // foreign-key check holds FOR KEY SHARE on the admin's row until it ends.
    let mut holder = PgConnection::establish(&app.database_url).expect("PostgreSQL");
    holder
        .batch_execute(&format!(
            "BEGIN; INSERT INTO customers (kind, name, owner_id, created_at, updated_at) \
             VALUES ('person', 'Held', {admin_id}, now(), now())"
        ))
        .expect("the held insert");

    let started = Instant::now();
    let (path, body) = (
        format!("/api/v1/users/{viewer}"),
        json!({"role": "manager"}),
    );
    let patch = app.patch(&path, &admin, &body);
    // With FOR UPDATE the change waits for the holder (until the database
    // timeout's 503): bounded, then the holder lets go either way.
    let answer = tokio::time::timeout(Duration::from_secs(3), patch).await;
    holder.batch_execute("ROLLBACK").expect("rollback");
    let r = answer.unwrap_or_else(|_| {
        panic!(
            "the role change waited {:?} for an insert naming an admin",
            started.elapsed()
        )
    });
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["role"], "manager");
}
