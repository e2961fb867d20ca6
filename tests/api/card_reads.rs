//! Card reads on PostgreSQL share statements (`db::card_reads`): each
//! request still gets its own card, a missing card its 404, and when the
//! pool has no connection every queued read gets its 503 within the
//! timeout. Both engines: SQLite reads each card on its own and must answer
//! the same.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use futures_util::future::join_all;
use patron::error::ApiError;
use patron::startup::Application;
use serde_json::{json, Value};

use crate::helpers::{hold_a_connection, hold_locked, Backend, TestApp};

crate::backend_tests!(
    concurrent_card_reads_get_their_own_cards,
    queued_card_reads_share_a_statement,
    queued_card_reads_all_get_their_503,
    card_reads_held_up_in_their_statement_get_their_503,
    the_started_app_batches_card_reads_on_postgres,
);

async fn concurrent_card_reads_get_their_own_cards(app: TestApp) {
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let tags: Vec<String> = (0..i).map(|t| format!("tag-{t}")).collect();
        let body = json!({"kind": "organization", "name": format!("Card {i}"), "tags": tags});
        ids.push(app.create_customer(&admin, body).await.id());
    }
    let missing = ids.iter().max().copied().unwrap_or_default() + 1000;
    ids.push(missing);
    // One at a time first: what each read must answer.
    let mut expected: HashMap<i64, (u16, Value)> = HashMap::new();
    for &id in &ids {
        let r = app.get(&format!("/api/v1/customers/{id}"), &admin).await;
        expected.insert(id, (r.status, r.body));
    }
    assert_eq!(expected[&missing].0, 404);
    assert_eq!(
        expected[&ids[5]].1["tags"].as_array().map(Vec::len),
        Some(5)
    );

    let wanted: Vec<i64> = ids.iter().copied().cycle().take(ids.len() * 20).collect();
    let urls: Vec<String> = wanted
        .iter()
        .map(|id| format!("/api/v1/customers/{id}"))
        .collect();
    let reads = join_all(urls.iter().map(|url| app.get(url, &admin))).await;
    for (id, read) in wanted.iter().zip(reads) {
        let (status, body) = &expected[id];
        assert_eq!((read.status, &read.body), (*status, body), "card {id}");
    }
}

/// Reads queued while the reader waits for a connection go in one
/// statement once it has one: two statements for forty reads.
async fn queued_card_reads_share_a_statement(app: TestApp) {
    let admin = app.admin_token().await;
    let first = app
        .create_customer(
            &admin,
            json!({"kind": "individual", "name": "Queued", "tags": ["b", "a"]}),
        )
        .await
        .id();
    let db = app.open_db(1, 5).await.with_card_readers(1);
    let held = hold_a_connection(&db).await;
    let reads: Vec<_> = (0..40)
        .map(|i| {
            let db = db.clone();
            // Every other read asks for a card that does not exist.
            let id = if i % 2 == 0 { first } else { first + 1000 + i };
            tokio::spawn(async move { (id, db.card(id).await) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(held);
    for read in join_all(reads).await {
        let (id, card) = read.expect("the read's task");
        let card = card.expect("a read once the connection is back");
        if id == first {
            let card = card.expect("the card");
            assert_eq!((card.row.id, card.row.name.as_str()), (first, "Queued"));
            assert_eq!(card.tags, ["a", "b"]);
        } else {
            assert!(card.is_none(), "card {id} does not exist");
        }
    }
    let statements = db.card_read_statements();
    match app.backend {
        // The reader took the first read (or more) before the others queued.
        Backend::Postgres => assert!((1..=2).contains(&statements), "{statements} statements"),
        Backend::Sqlite => assert_eq!(statements, 0, "no queue on SQLite"),
    }
}

async fn queued_card_reads_all_get_their_503(app: TestApp) {
    let db = app.open_db(1, 1).await.with_card_readers(1);
    let held = hold_a_connection(&db).await;
    let started = Instant::now();
    let reads = join_all((1..=10).map(|id| db.card(id))).await;
    let took = started.elapsed();
    for read in reads {
        assert!(matches!(read, Err(ApiError::Unavailable(_))), "{read:?}");
    }
    assert!(
        took < Duration::from_millis(2500),
        "ten queued reads took {took:?} to fail"
    );
    drop(held);
    assert!(
        db.card(1).await.is_ok(),
        "a read once the connection is back"
    );
}

/// A reader waiting in its statement (here on a table lock) holds up the
/// reads queued behind it: each gets its 503 within the pool's timeout and
/// a second, not when the lock goes. SQLite's readers never wait on a
/// writer (WAL): there reads answer while a write transaction is open.
async fn card_reads_held_up_in_their_statement_get_their_503(app: TestApp) {
    let db = app.open_db(2, 1).await.with_card_readers(1);
    let lock = match app.backend {
        Backend::Postgres => "BEGIN; LOCK TABLE customers IN ACCESS EXCLUSIVE MODE;",
        Backend::Sqlite => "BEGIN IMMEDIATE; UPDATE customers SET notes = notes;",
    };
    // One of the pool's two connections; the reader gets the other.
    let holder = hold_locked(&db, lock).await;
    let started = Instant::now();
    let reads = join_all((1..=3).map(|id| db.card(id))).await;
    let took = started.elapsed();
    for read in &reads {
        match app.backend {
            Backend::Postgres => assert!(matches!(read, Err(ApiError::Unavailable(_))), "{read:?}"),
            Backend::Sqlite => assert!(read.is_ok(), "{read:?}"),
        }
    }
    assert!(took < Duration::from_secs(4), "the reads took {took:?}");
    tokio::task::spawn_blocking(move || {
        let mut holder = holder;
        holder.batch_execute("ROLLBACK").expect("the rollback");
    })
    .await
    .expect("the blocking rollback");
    assert!(db.card(1).await.is_ok(), "a read once the lock is gone");
}

/// The server as `main` builds it (`Config` → `Application`) batches.
async fn the_started_app_batches_card_reads_on_postgres(app: TestApp) {
    let started = Application::build(app.config.clone())
        .await
        .expect("starts");
    assert!(started.db.card(1).await.is_ok());
    let expected = match app.backend {
        Backend::Postgres => 1,
        Backend::Sqlite => 0,
    };
    assert_eq!(started.db.card_read_statements(), expected);
    let mut config = app.config.clone();
    config.pg_card_readers = 0;
    let unbatched = Application::build(config).await.expect("starts");
    assert!(unbatched.db.card(1).await.is_ok());
    assert_eq!(
        unbatched.db.card_read_statements(),
        0,
        "PATRON_PG_CARD_READERS=0"
    );
}
