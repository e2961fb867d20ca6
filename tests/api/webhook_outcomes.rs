//! A delivery's outcome is written after the receiver answered. A write
//! that fails then (SQLite's write lock held by another process's long
//! import; PostgreSQL's connections lost) is tried again: given up at once,
//! the delivered change had no log row, its failure was not counted, and it
//! was sent a second time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpResponse};
use diesel::RunQueryDsl;
use patron::config::Config;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::webhook_replays::{attempts, deliveries, eventually_async};

backend_tests!(configured by no_worker; a_delivery_whose_outcome_write_fails_is_recorded_once);

/// The test's app delivers nothing: only the instance it starts does, so
/// that the connections it breaks are the delivering process's.
fn no_worker(config: &mut Config) {
    config.webhook_poll_ms = 0;
}

const WORKER_NAME: &str = "patron-outcome-test-worker";

async fn a_delivery_whose_outcome_write_fails_is_recorded_once(app: TestApp) {
    let admin = app.admin_token().await;
    let receiver = HeldReceiver::start().await;
    let hook = app
        .post(
            "/api/v1/webhooks",
            &admin,
            &json!({
                "url": receiver.url,
                "events": ["customer.created"],
                "secret": "a-long-shared-secret-0123",
            }),
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let hook = hook.id();
    let first = app
        .create_customer(&admin, json!({"kind": "individual", "name": "First"}))
        .await
        .id();
    let second = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Second"}))
        .await
        .id();
    // Its first look for due subscriptions is at once, the next one 5 s
    // later: until then the delivery's own writes are the only ones it
    // makes, so the outcome's is the first to meet the broken connections
    // (any other use would have swept them out of the pool).
    let worker = app
        .start_another(|c| {
            c.webhook_poll_ms = 5000;
            // Named, so that only its PostgreSQL sessions are ended below.
            if c.database_url.starts_with("postgres") {
                let join = if c.database_url.contains('?') {
                    '&'
                } else {
                    '?'
                };
                c.database_url = format!("{}{join}application_name={WORKER_NAME}", c.database_url);
            }
        })
        .await;
    let mut arrived = receiver.arrived.lock().unwrap().take().unwrap();
    tokio::time::timeout(Duration::from_secs(60), arrived.recv())
        .await
        .expect("the first delivery")
        .expect("the receiver runs");
    // The receiver has the change and has not answered: the delivering
    // process's next write, the outcome's, will fail.
    let held = match app.backend {
        // Past the busy wait (5 s) and the writer queue's: the first try
        // fails, one tried after it is unlocked gets through.
        Backend::Sqlite => {
            Some(crate::helpers::hold_the_sqlite_write(&app, Duration::from_millis(6500)).await)
        }
        Backend::Postgres => {
            let db = app.open_db(1, 10).await;
            let ended = tokio::task::spawn_blocking(move || {
                let mut conn = db.pool().get().expect("a connection");
                let sql = format!(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
                     WHERE datname = current_database() AND application_name = '{WORKER_NAME}'"
                );
                diesel::sql_query(sql)
                    .execute(&mut conn)
                    .expect("the sessions ended")
            })
            .await
            .expect("the blocking query");
            assert!(ended > 0, "the worker's sessions were found");
            None
        }
    };
    receiver.answer.add_permits(1);
    if let Some(held) = held {
        tokio::task::spawn_blocking(move || held.join().expect("no panic"))
            .await
            .expect("the blocking join");
    }
    // Changes are delivered in order: once the second is in, a first sent
    // again would have been sent before it.
    eventually_async("both deliveries logged", || async {
        deliveries(&app, &admin, hook).await.len() >= 2
    })
    .await;
    worker.stop().await;
    let got = receiver.customers();
    assert_eq!(got, [first, second], "each change sent once");
    let log = deliveries(&app, &admin, hook).await;
    assert_eq!(
        attempts(&log),
        [(1, "delivered"), (1, "delivered")],
        "{log:?}"
    );
    let r = app.get(&format!("/api/v1/webhooks/{hook}"), &admin).await;
    assert_eq!(r.body["consecutive_failures"], 0, "{}", r.text);
}

/// A receiver that answers its first request with 200 once the test adds a
/// permit to `answer`, and every later one at once.
struct HeldReceiver {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    answer: Arc<Semaphore>,
    arrived: Mutex<Option<mpsc::UnboundedReceiver<()>>>,
}

impl HeldReceiver {
    async fn start() -> HeldReceiver {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(Semaphore::new(0));
        let (tell, arrived) = mpsc::unbounded_channel();
        let (b, a) = (bodies.clone(), answer.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = actix_web::HttpServer::new(move || {
            let (b, a, tell) = (b.clone(), a.clone(), tell.clone());
            actix_web::App::new().default_service(web::to(move |body: web::Json<Value>| {
                let (b, a, tell) = (b.clone(), a.clone(), tell.clone());
                async move {
                    let first = {
                        let mut bodies = b.lock().unwrap();
                        bodies.push(body.into_inner());
                        bodies.len() == 1
                    };
                    let _ = tell.send(());
                    if first {
                        a.acquire().await.unwrap().forget();
                    }
                    HttpResponse::Ok().finish()
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        HeldReceiver {
            url: format!("http://127.0.0.1:{port}/hooks"),
            bodies,
            answer,
            arrived: Mutex::new(Some(arrived)),
        }
    }

    /// The customer id of each request's change, in the order received.
    fn customers(&self) -> Vec<i64> {
        let bodies = self.bodies.lock().unwrap();
        bodies
            .iter()
            .map(|b| b["change"]["entity_id"].as_i64().unwrap_or(-1))
            .collect()
    }
}
