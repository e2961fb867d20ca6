//! Crash safety: the server is killed with SIGKILL in the middle of a stream
//! of bulk upserts sent with `Idempotency-Key`s, restarted on the same
//! database, and every batch is sent again with its key. Afterwards every
//! item is present exactly once, at version 1 (nothing applied twice), each
//! acknowledged batch's retry replays its first response, and at the moment
//! of the crash every batch was either wholly written or not at all.
//!
//! The server runs as a child process (the real binary), so SIGKILL is real.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use serde_json::{json, Value};

use crate::binary::Server;
use crate::helpers::EmptyPgDatabase;

const BATCHES: usize = 24;
const PER_BATCH: usize = 200;

fn batch_body(batch: usize) -> Value {
    let items: Vec<Value> = (0..PER_BATCH)
        .map(|i| {
            json!({"external_id": format!("crash-{batch:03}-{i:04}"), "kind": "organization",
                   "name": format!("崩溃测试 {batch}-{i}"), "region": "Hangzhou"})
        })
        .collect();
    json!({"items": items})
}

async fn send_batch(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    batch: usize,
) -> Result<(u16, Option<String>, Value), reqwest::Error> {
    let r = client
        .post(format!("{base}/api/v1/customers/bulk"))
        .bearer_auth(token)
        .header("Idempotency-Key", format!("crash-batch-{batch}"))
        .json(&batch_body(batch))
        .send()
        .await?;
    let status = r.status().as_u16();
    let replayed = r
        .headers()
        .get("idempotent-replayed")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let body = r.json().await?;
    Ok((status, replayed, body))
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    external_id: String,
    #[diesel(sql_type = BigInt)]
    copies: i64,
    #[diesel(sql_type = BigInt)]
    max_version: i64,
}

const ROWS: &str = "SELECT external_id, COUNT(*) AS copies, MAX(version) AS max_version \
                    FROM customers WHERE external_id LIKE 'crash-%' GROUP BY external_id";

enum Store {
    Sqlite(String),
    Postgres(String),
}

impl Store {
    fn rows(&self) -> Vec<Row> {
        match self {
            Store::Sqlite(path) => {
                let mut c = crate::helpers::open_sqlite(path);
                diesel::sql_query(ROWS).load(&mut c).expect("rows")
            }
            Store::Postgres(url) => {
                let mut c = PgConnection::establish(url).expect("connect");
                diesel::sql_query(ROWS).load(&mut c).expect("rows")
            }
        }
    }
}

async fn crash_and_retry(database_url: String, store: Store) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let mut server = Server::start(&database_url, "warn", Stdio::null()).await;
    let token = server.admin_token(&client).await;

    // The stream: batches one after another until the server dies.
    let acked: Arc<Mutex<BTreeMap<usize, Value>>> = Arc::default();
    let sender = {
        let (client, base, token, acked) = (
            client.clone(),
            server.base.clone(),
            token.clone(),
            acked.clone(),
        );
        tokio::spawn(async move {
            for batch in 0..BATCHES {
                match send_batch(&client, &base, &token, batch).await {
                    Ok((200, _, body)) => {
                        acked.lock().expect("acked").insert(batch, body);
                    }
                    Ok((status, _, body)) => panic!("batch {batch}: {status} {body}"),
                    Err(_) => return, // the server was killed
                }
            }
        })
    };
    // Kill it once a few batches are through, while the next is in flight.
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().expect("acked").len() < 4 {
        assert!(Instant::now() < deadline, "no batch was acknowledged");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    server.kill();
    sender.await.expect("the sender task");
    let acked = acked.lock().expect("acked").clone();
    assert!(acked.len() < BATCHES, "the stream finished before the kill");

    // Nothing half-written: each batch is wholly there or wholly absent.
    let mut per_batch: BTreeMap<String, usize> = BTreeMap::new();
    for row in store.rows() {
        assert_eq!(row.copies, 1, "{} twice after the crash", row.external_id);
        *per_batch
            .entry(row.external_id[..9].to_string())
            .or_default() += 1;
    }
    for (batch, count) in &per_batch {
        assert_eq!(*count, PER_BATCH, "batch {batch} is half-written");
    }
    for batch in acked.keys() {
        assert!(
            per_batch.contains_key(&format!("crash-{batch:03}")),
            "acknowledged batch {batch} was lost"
        );
    }

    // Restart on the same database and send everything again, same keys.
    let mut server = Server::start(&database_url, "warn", Stdio::null()).await;
    let token = server.admin_token(&client).await;
    let mut replayed = BTreeSet::new();
    for batch in 0..BATCHES {
        let (status, replay, body) = send_batch(&client, &server.base, &token, batch)
            .await
            .expect("the retry is answered");
        assert_eq!(status, 200, "retry of batch {batch}: {body}");
        if let Some(first) = acked.get(&batch) {
            assert_eq!(
                replay.as_deref(),
                Some("true"),
                "batch {batch} not replayed"
            );
            assert_eq!(
                &body, first,
                "batch {batch}: a different answer the second time"
            );
        }
        if replay.is_some() {
            replayed.insert(batch);
        }
        for item in body["items"].as_array().expect("items") {
            assert_ne!(item["status"], "error", "batch {batch}: {item}");
        }
    }
    // Every acknowledged batch replayed; so did any batch that committed
    // before the kill but whose answer was lost.
    for batch in per_batch.keys() {
        let n: usize = batch[6..].parse().expect("batch number");
        assert!(
            replayed.contains(&n),
            "committed batch {n} was applied again"
        );
    }

    // Exactly once, never applied twice. (Stopped first: the running server
    // holds an SQLite file for itself.)
    server.terminate();
    let rows = store.rows();
    assert_eq!(rows.len(), BATCHES * PER_BATCH);
    for row in rows {
        assert_eq!(row.copies, 1, "{} is duplicated", row.external_id);
        assert_eq!(row.max_version, 1, "{} was written twice", row.external_id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_bulk_upserts_loses_and_doubles_nothing_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crash.db");
    let path = path.to_string_lossy().to_string();
    crash_and_retry(format!("sqlite://{path}"), Store::Sqlite(path)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_bulk_upserts_loses_and_doubles_nothing_postgres() {
    let Some(db) = EmptyPgDatabase::create("crash") else {
        return;
    };
    crash_and_retry(db.url.clone(), Store::Postgres(db.url.clone())).await;
}
