//! A graceful stop (SIGTERM) settles the keyed requests whose response could
//! not be stored at once. The retries ran on the HTTP workers, whose
//! runtimes end with the stop: the response was lost, and after the restart
//! the key answered 409 "still being processed" for its lease, then
//! `idempotency-applied` for good, instead of replaying the 201.
//!
//! The real binary, so that the signal, the stop and the restart are real;
//! the failed store is staged with a trigger, as in `idempotency_unsettled`
//! (the error a busy database gives), and lifted after the signal.

use std::process::Stdio;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::Connection;
use serde_json::{json, Value};

use crate::binary::{command, Server};
use crate::helpers::{open_sqlite, EmptyPgDatabase};

enum Store {
    /// A file the test opens beside the server (`PATRON_SQLITE_LOCKING=shared`).
    Sqlite(String),
    Postgres(String),
}

impl Store {
    fn execute(&self, sql: &str) {
        match self {
            Store::Sqlite(path) => open_sqlite(path).batch_execute(sql),
            Store::Postgres(url) => diesel::PgConnection::establish(url)
                .expect("connect")
                .batch_execute(sql),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Storing a response fails as a busy database does, until `calm`.
    fn busy(&self) {
        self.execute(match self {
            Store::Sqlite(_) => {
                "CREATE TRIGGER busy BEFORE UPDATE ON idempotency_keys \
                 WHEN NEW.status IS NOT NULL \
                 BEGIN SELECT RAISE(ABORT, 'database is locked (staged by the test)'); END;"
            }
            Store::Postgres(_) => {
                "CREATE FUNCTION busy() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'staged by the test' USING ERRCODE = 'serialization_failure'; \
                 END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER busy BEFORE UPDATE ON idempotency_keys \
                 FOR EACH ROW WHEN (NEW.status IS NOT NULL) EXECUTE FUNCTION busy();"
            }
        });
    }

    fn calm(&self) {
        self.execute(match self {
            Store::Sqlite(_) => "DROP TRIGGER busy;",
            Store::Postgres(_) => "DROP TRIGGER busy ON idempotency_keys; DROP FUNCTION busy();",
        });
    }
}

async fn start(url: &str) -> Server {
    let mut command = command(url, "warn");
    command
        .env("PATRON_SQLITE_LOCKING", "shared")
        .stderr(Stdio::null());
    Server::spawn(command).await
}

async fn keyed_create(client: &reqwest::Client, server: &Server) -> (u16, Value, bool) {
    let token = server.admin_token(client).await;
    let r = client
        .post(format!("{}/api/v1/customers", server.base))
        .bearer_auth(&token)
        .header("Idempotency-Key", "stop-1")
        .json(&json!({"kind": "individual", "name": "停机测试"}))
        .send()
        .await
        .expect("the keyed create");
    let status = r.status().as_u16();
    let replayed = r.headers().get("idempotent-replayed").is_some();
    (status, r.json().await.unwrap_or(Value::Null), replayed)
}

async fn a_stop_settles_what_it_could_not_store(url: String, store: Store) {
    let client = reqwest::Client::new();
    let mut server = start(&url).await;
    store.busy();
    let (status, first, _) = keyed_create(&client, &server).await;
    assert_eq!(status, 201, "{first}");
    // The store failed; its retry waits in the worker. The stop comes now,
    // and the database is fine again a moment later.
    server.send_term();
    tokio::time::sleep(Duration::from_millis(300)).await;
    store.calm();
    let stopped = server.exit_within(Duration::from_secs(30));
    assert!(stopped.is_some_and(|s| s.success()), "{stopped:?}");
    let server = start(&url).await;
    let (status, again, replayed) = keyed_create(&client, &server).await;
    assert_eq!(status, 201, "the retry after the restart: {again}");
    assert!(replayed, "a replay: {again}");
    assert_eq!(again["id"], first["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_settles_what_it_could_not_store_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("stop.db").to_string_lossy().to_string();
    a_stop_settles_what_it_could_not_store(format!("sqlite://{path}"), Store::Sqlite(path)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_settles_what_it_could_not_store_postgres() {
    let Some(db) = EmptyPgDatabase::create("idempotency_stop") else {
        return;
    };
    let url = db.url.clone();
    a_stop_settles_what_it_could_not_store(url.clone(), Store::Postgres(url)).await;
}
