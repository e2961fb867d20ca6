//! SQLite writes one transaction at a time: the webhook worker's lease and
//! log writes wait for their turn at the write gate (`Db::write`), holding no
//! pooled connection. They took a connection first and waited inside their
//! transaction, so subscriptions retrying while an import held the write
//! took the pool's connections, and the API's reads waited for the write to
//! end. (PostgreSQL has no gate: its writers wait for rows, not for the
//! database.)

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_lease_writes_waiting_for_the_writer_leave_connections_to_reads() {
    crate::helpers::run(
        lease_writes_waiting_for_the_writer_leave_connections_to_reads,
        Backend::Sqlite,
    )
    .await;
}

async fn lease_writes_waiting_for_the_writer_leave_connections_to_reads(app: TestApp) {
    let admin = app.admin_token().await;
    // Nothing listens on a port just closed: each delivery fails, and each
    // retry claims the subscription again.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    for n in 0..4 {
        let r = app
            .post(
                "/api/v1/webhooks",
                &admin,
                &json!({
                    "url": format!("http://127.0.0.1:{closed}/hook-{n}"),
                    "events": ["*"],
                    "secret": "a-long-shared-secret-0123",
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let worker = app
        .start_another(|c| {
            c.webhook_poll_ms = 20;
            c.webhook_backoff_base_ms = 50;
            c.webhook_backoff_max_secs = 1;
            c.webhook_max_failures = 1_000;
        })
        .await;
    let card = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Read me"}))
        .await
        .id();
    // The subscriptions are failing and retrying before the write is held.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.get("/api/v1/webhooks", &admin).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let items = r.body["items"].as_array().cloned().unwrap_or_default();
        let failing = items
            .iter()
            .filter(|h| h["consecutive_failures"].as_i64() > Some(0));
        if failing.count() == 4 {
            break;
        }
        assert!(Instant::now() < deadline, "no retries: {}", r.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let writer = crate::helpers::hold_the_sqlite_write(&app, Duration::from_millis(3000)).await;
    // Long enough for every subscription's next retry to come due.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let started = Instant::now();
    let r = app
        .get_at(
            &worker.address,
            &format!("/api/v1/customers/{card}/contacts"),
            &admin,
        )
        .await;
    let took = started.elapsed();
    writer.join().expect("no panic");
    worker.stop().await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        took < Duration::from_millis(1000),
        "the read waited {took:?}"
    );
}
