//! A graceful stop (SIGTERM: a deploy, `docker stop`) releases the webhook
//! delivery leases the process holds. They were kept, and after a restart a
//! subscription mid-delivery waited out the old lease (60 s) before its next
//! attempt. The real binary, so that the signal is real.

use std::process::Stdio;
use std::time::{Duration, Instant};

use diesel::sql_types::{Nullable, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use serde_json::{json, Value};

use crate::binary::{command, Server, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::helpers::{postgres_admin_url, with_database};

#[derive(QueryableByName)]
struct Lease {
    #[diesel(sql_type = Nullable<Text>)]
    lease_owner: Option<String>,
}

const LEASES: &str = "SELECT lease_owner FROM webhooks";

fn leases(database_url: &str) -> Vec<Option<String>> {
    let rows: Vec<Lease> = match database_url.strip_prefix("sqlite://") {
        Some(path) => {
            let mut c = SqliteConnection::establish(path).expect("open the SQLite file");
            diesel::sql_query(LEASES).load(&mut c).expect("leases")
        }
        None => {
            let mut c = PgConnection::establish(database_url).expect("connect");
            diesel::sql_query(LEASES).load(&mut c).expect("leases")
        }
    };
    rows.into_iter().map(|r| r.lease_owner).collect()
}

async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let r = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 201);
    r.json().await.expect("json")
}

async fn sigterm_mid_delivery_releases_the_lease(database_url: String) {
    // Accepts the delivery's connection and never answers: the delivery is
    // under way (and the lease held) for the whole timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let silent_url = format!("http://{}/hooks", silent.local_addr().expect("its address"));
    let mut start = command(&database_url, "warn");
    start
        .stderr(Stdio::null())
        .env("PATRON_WEBHOOK_POLL_MS", "100")
        .env("PATRON_WEBHOOK_TIMEOUT_SECS", "60");
    let mut server = Server::spawn(start).await;
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{}/api/v1/auth/token", server.base))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("a token");
    let hook =
        json!({"url": silent_url, "events": ["*"], "secret": "lease-test-secret-0123456789"});
    post(
        &client,
        format!("{}/api/v1/webhooks", server.base),
        token,
        hook,
    )
    .await;
    let card = json!({"kind": "individual", "name": "Mid-delivery"});
    post(
        &client,
        format!("{}/api/v1/customers", server.base),
        token,
        card,
    )
    .await;
    // The delivery has reached the receiver: the lease is held.
    silent
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let deadline = Instant::now() + Duration::from_secs(30);
    let _connection = loop {
        match silent.accept() {
            Ok((stream, _)) => break stream,
            Err(_) => {
                assert!(Instant::now() < deadline, "no delivery came");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert_eq!(leases(&database_url), vec![None], "the lease is still held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_delivery_releases_the_lease_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("leases.db").display());
    sigterm_mid_delivery_releases_the_lease(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_delivery_releases_the_lease_postgres() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let name = format!("patron_leases_{}", std::process::id());
    let mut conn = PgConnection::establish(&admin).expect("PostgreSQL reachable");
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .expect("drop");
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .expect("create");
    sigterm_mid_delivery_releases_the_lease(with_database(&admin, &name)).await;
    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn);
}
