//! The retention purge deletes in batches, each its own write transaction
//! (an outside review: one transaction deleting every expired change held
//! SQLite's writer lock for the whole delete, and the writers queued behind
//! it gave up with 503 after 5 s). Each batch moves the purge position to
//! its own last change, so a cursor's 410 stays exact during the purge.
//! The delivery log's and the idempotency keys' purges batch the same way.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::changes::read_all;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    a_purge_in_batches_keeps_the_feed_exact,
    the_delivery_log_purge_removes_every_old_attempt,
    the_idempotency_purge_commits_each_batch,
);

fn cutoff() -> chrono::NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2002, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a date")
}

async fn customer_named(app: &TestApp, token: &str, name: &str) -> i64 {
    app.create_customer(token, json!({"kind": "individual", "name": name}))
        .await
        .id()
}

fn cursor(item: &Value) -> String {
    item["cursor"].as_str().unwrap_or_default().to_string()
}

/// A trigger refuses to delete the need's change, the last aged one: the
/// purge fails in its last batch, and what it committed before is a purge
/// of its own (a single transaction committed nothing); then the trigger
/// goes and the next purge removes the rest.
async fn a_purge_in_batches_keeps_the_feed_exact(app: TestApp) {
    use patron::db::changes;
    let admin = app.admin_token().await;
    let (_, start) = read_all(&app, &admin, None, "", 100).await;
    let first = customer_named(&app, &admin, "Aged 0").await;
    for n in 1..5 {
        customer_named(&app, &admin, &format!("Aged {n}")).await;
    }
    let need = app
        .post(
            &format!("/api/v1/customers/{first}/needs"),
            &admin,
            &json!({"kind": "actual", "description": "Tea every month"}),
        )
        .await;
    assert_eq!(need.status, 201, "{}", need.text);
    let (aged, _) = read_all(&app, &admin, None, "", 100).await;
    assert!(aged.len() >= 6, "{aged:?}");
    assert_eq!(
        aged.last().map(|i| i["entity_type"].clone()),
        Some(json!("need"))
    );
    app.execute_sql("UPDATE changes SET at = '2001-01-01 00:00:00'");
    let kept = customer_named(&app, &admin, "Kept").await;
    app.execute_sql(match app.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER keep_need BEFORE DELETE ON changes WHEN old.entity_type = 'need' \
             BEGIN SELECT RAISE(ABORT, 'kept by the test'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION keep_need() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'kept by the test'; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER keep_need BEFORE DELETE ON changes FOR EACH ROW \
             WHEN (OLD.entity_type = 'need') EXECUTE FUNCTION keep_need();"
        }
    });
    let db = app.open_db(1, 5).await;
    let failed = db
        .run(move |conn| Ok(changes::purge_in_batches(conn, cutoff(), 2)?))
        .await;
    assert!(failed.is_err(), "{failed:?}");

    // The batches before the need's committed: the feed starts after them,
    // with no gap, and every cursor before its start is a 410.
    let (left, _) = read_all(&app, &admin, None, "", 100).await;
    let left: Vec<String> = left
        .iter()
        .filter(|i| i["at"] == json!("2001-01-01T00:00:00Z"))
        .map(cursor)
        .collect();
    let gone = aged.len() - left.len();
    assert!(gone >= 2 && gone < aged.len(), "{gone} of {}", aged.len());
    assert_eq!(left, aged[gone..].iter().map(cursor).collect::<Vec<_>>());
    for item in &aged[..gone - 1] {
        let r = app
            .get(&format!("/api/v1/changes?after={}", cursor(item)), &admin)
            .await;
        r.problem(410);
    }
    let at_purge = cursor(&aged[gone - 1]);
    let r = app
        .get(&format!("/api/v1/changes?after={at_purge}"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A typed cursor: the need's change is still there.
    let (needs, _) = read_all(&app, &admin, Some(&start), "&types=need", 100).await;
    assert_eq!(needs.len(), 1);

    app.execute_sql(match app.backend {
        Backend::Sqlite => "DROP TRIGGER keep_need;",
        Backend::Postgres => "DROP TRIGGER keep_need ON changes; DROP FUNCTION keep_need();",
    });
    let purged = db
        .run(move |conn| Ok(changes::purge_in_batches(conn, cutoff(), 2)?))
        .await
        .expect("the purge");
    assert_eq!(purged, aged.len() - gone);
    let last = cursor(&aged[aged.len() - 1]);
    let (after, _) = read_all(&app, &admin, Some(&last), "", 100).await;
    // Kept's own changes (the customer and its first stage), nothing aged.
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|i| i["entity_id"] == json!(kept)),
        "{after:?}"
    );
    let before_last = cursor(&aged[aged.len() - 2]);
    app.get(&format!("/api/v1/changes?after={before_last}"), &admin)
        .await
        .problem(410);
    app.get(&format!("/api/v1/changes?after={start}&types=need"), &admin)
        .await
        .problem(410);
}

async fn the_delivery_log_purge_removes_every_old_attempt(app: TestApp) {
    let admin = app.admin_token().await;
    let hook = app
        .post(
            "/api/v1/webhooks",
            &admin,
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["customer.*"],
                    "secret": "a-secret-of-16-chars"}),
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let hook = hook.id();
    let mut sql = String::new();
    for (n, at) in [
        "2001-01-01",
        "2001-01-02",
        "2001-01-03",
        "2001-01-04",
        "2001-01-05",
        "2099-01-01",
    ]
    .iter()
    .enumerate()
    {
        sql.push_str(&format!(
            "INSERT INTO webhook_deliveries \
             (webhook_id, change_id, event, attempt, outcome, duration_ms, at) \
             VALUES ({hook}, {n}, 'customer.created', 1, 'delivered', 1, '{at} 00:00:00');"
        ));
    }
    app.execute_sql(&sql);
    let db = app.open_db(1, 5).await;
    let purged = db
        .run(move |conn| {
            Ok(patron::db::webhooks::purge_deliveries_in_batches(
                conn,
                cutoff(),
                2,
            )?)
        })
        .await
        .expect("the purge");
    assert_eq!(purged, 5);
    let r = app
        .get(&format!("/api/v1/webhooks/{hook}/deliveries"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.text
    );
}

/// The idempotency keys' creation days, oldest first.
async fn key_days(db: &patron::db::Db) -> Vec<String> {
    use diesel::prelude::*;
    use patron::db::schema::idempotency_keys as keys;
    let days: Vec<chrono::NaiveDateTime> = db
        .run(|conn| {
            Ok(keys::table
                .select(keys::created_at)
                .order(keys::created_at)
                .load(conn)?)
        })
        .await
        .expect("the keys");
    days.iter().map(|d| d.date().to_string()).collect()
}

/// A trigger refuses to delete the last aged key: the purge fails in its
/// last batch, and the batches before it stay deleted (one transaction for
/// the whole purge, as before a review, deleted nothing and held SQLite's
/// writer turn for all of it); without the trigger the next purge ends it.
async fn the_idempotency_purge_commits_each_batch(app: TestApp) {
    let (me, _) = app.user_with_role("integration").await;
    let mut sql = String::new();
    for day in [
        "2001-01-01",
        "2001-01-02",
        "2001-01-03",
        "2001-01-04",
        "2001-01-05",
        "2099-01-01",
    ] {
        sql.push_str(&format!(
            "INSERT INTO idempotency_keys \
             (user_id, idem_key, request_hash, status, headers, body, created_at, applied) \
             VALUES ({me}, 'key {day}', 'h', 201, '[]', '{{}}', '{day} 00:00:00', TRUE);"
        ));
    }
    app.execute_sql(&sql);
    app.execute_sql(match app.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER keep_key BEFORE DELETE ON idempotency_keys \
             WHEN old.idem_key = 'key 2001-01-05' \
             BEGIN SELECT RAISE(ABORT, 'kept by the test'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION keep_key() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'kept by the test'; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER keep_key BEFORE DELETE ON idempotency_keys FOR EACH ROW \
             WHEN (OLD.idem_key = 'key 2001-01-05') EXECUTE FUNCTION keep_key();"
        }
    });
    let db = app.open_db(1, 5).await;
    let purge = |db: patron::db::Db| async move {
        db.run(|conn| {
            Ok(patron::db::idempotency::purge_in_batches(
                conn,
                cutoff(),
                2,
            )?)
        })
        .await
    };
    let failed = purge(db.clone()).await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(key_days(&db).await, ["2001-01-05", "2099-01-01"]);

    app.execute_sql(match app.backend {
        Backend::Sqlite => "DROP TRIGGER keep_key;",
        Backend::Postgres => "DROP TRIGGER keep_key ON idempotency_keys; DROP FUNCTION keep_key();",
    });
    assert_eq!(purge(db.clone()).await.expect("the purge"), 1);
    assert_eq!(key_days(&db).await, ["2099-01-01"]);
}
