//! A PostgreSQL outage under load: while the database is unreachable every
//! request is a 503 problem (never a 500, never a hang), `/readyz` says so,
//! and when the database is back Patron recovers by itself, without a
//! restart (the dead pooled connections are not reused).
//!
//! The outage is a TCP proxy between Patron and PostgreSQL that, when
//! "down", cuts every open connection and refuses new ones: to Patron it is
//! exactly a server restart, without disturbing the other tests that share
//! the PostgreSQL server. (SQLite is a file in the process: it has no outage.)

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use patron::config::Config;
use patron::startup::Application;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::helpers::{postgres_admin_url, with_database, Backend, TestApp};

/// Forwards TCP to `target` until told to cut everything.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let addr = listener.local_addr().expect("proxy address");
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (up2, links2) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused, as by a stopped server
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links2.lock().expect("links").push(link.abort_handle());
            }
        });
        Proxy { addr, up, links }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().expect("links").drain(..) {
            link.abort();
        }
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// `host:port` of a postgres:// URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let host = rest.split(['/', '?']).next().unwrap_or(rest);
    if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    }
}

/// A Patron on its own PostgreSQL database, reached through a `Proxy`,
/// with one card.
struct Outage {
    app: Arc<TestApp>,
    proxy: Proxy,
    token: String,
    card: String,
    handle: actix_web::dev::ServerHandle,
    admin: PgConnection,
    name: String,
}

impl Outage {
    /// `None` without PostgreSQL (SQLite is a file in the process: it has
    /// no outage).
    async fn start(tag: &str, pool_size: u32) -> Option<Outage> {
        let admin_url = postgres_admin_url()?;
        let name = format!("patron_{tag}_{}", std::process::id());
        let mut admin = PgConnection::establish(&admin_url).expect("PostgreSQL reachable");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .expect("drop old test database");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create test database");

        let target = host_port(&admin_url);
        let proxy = Proxy::start(target.clone()).await;
        let via_proxy = with_database(
            &admin_url.replacen(&target, &proxy.addr.to_string(), 1),
            &name,
        );
        let mut config = Config::for_database(&via_proxy);
        config.pool_size = pool_size;
        config.db_timeout_secs = 1;
        config.webhook_poll_ms = 0;
        // Every request checks its token's user in the database: the worst
        // case of an outage, where that check waits for the pool too.
        config.auth_cache_ms = 0;
        let (email, password) = (
            config.admin_email.clone(),
            config.admin_password.clone().unwrap_or_default(),
        );
        let app = Application::build(config.clone())
            .await
            .expect("the app starts");
        let test_app = TestApp {
            address: format!("http://127.0.0.1:{}", app.port()),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
            admin_email: email,
            admin_password: password,
            backend: Backend::Postgres,
            database_url: via_proxy.clone(),
            config,
        };
        let server = app.server();
        let handle = server.handle();
        tokio::spawn(server);

        let token = test_app.admin_token().await;
        let id = test_app
            .create_customer(&token, json!({"kind": "individual", "name": "Outage"}))
            .await
            .id();
        Some(Outage {
            app: Arc::new(test_app),
            proxy,
            token,
            card: format!("/api/v1/customers/{id}"),
            handle,
            admin,
            name,
        })
    }

    async fn stop(mut self) {
        self.handle.stop(true).await;
        let _ = diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut self.admin);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_503_and_recovers_without_restart() {
    let Some(outage) = Outage::start("outage", 3).await else {
        return;
    };
    let (test_app, token, card, proxy) = (&outage.app, &outage.token, &outage.card, &outage.proxy);
    assert_eq!(test_app.get("/readyz", "").await.status, 200);

    // Load: four clients reading the card all along; every answer must be a
    // 200 or a 503 problem.
    let app = test_app.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (app, stop, token, card) = (app.clone(), stop.clone(), token.clone(), card.clone());
        load.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let r = app.get(&card, &token).await;
                assert!(
                    r.status == 200 || r.status == 503,
                    "under load: {} {}",
                    r.status,
                    r.text
                );
                if r.status == 503 {
                    r.problem(503);
                }
                assert!(started.elapsed() < Duration::from_secs(5), "a request hung");
                seen.push(r.status);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    proxy.down();
    // While down: 503 problems, readyz included, each within the timeout.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut unavailable = 0;
    while Instant::now() < deadline {
        let started = Instant::now();
        let ready = app.get("/readyz", "").await;
        assert_eq!(ready.status, 503, "readyz while down: {}", ready.text);
        ready.problem(503);
        let asked = Instant::now();
        let r = app.get(card, token).await;
        assert_eq!(r.status, 503, "card while down: {}", r.text);
        // One wait for the pool (1 s), not one for the token's user and
        // another for the card (found by a review: twice the timeout).
        assert!(
            asked.elapsed() < Duration::from_millis(1_900),
            "card while down answered after {:?}",
            asked.elapsed()
        );
        // The spec's 503 documents it: a client retries after it.
        assert_eq!(
            r.header("retry-after").as_deref(),
            Some("1"),
            "{:?}",
            r.headers
        );
        assert!(started.elapsed() < Duration::from_secs(4));
        unavailable += 1;
    }
    assert!(unavailable >= 1);

    proxy.up();
    // Back: recovers on its own, the same process.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = app.get("/readyz", "").await.status;
        let read = app.get(card, token).await.status;
        if ready == 200 && read == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not recovered: readyz {ready}, card {read}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And it writes again.
    let r = app
        .patch(card, token, &json!({"notes": "after the outage"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    stop.store(true, Ordering::SeqCst);
    let mut statuses = Vec::new();
    for task in load {
        statuses.extend(task.await.expect("load task"));
    }
    assert!(statuses.contains(&200), "the load saw no success");
    assert!(statuses.contains(&503), "the load never saw the outage");
    assert_eq!(statuses.last(), Some(&200), "the load did not recover");

    outage.stop().await;
}

/// A restart kills every pooled connection at once; the first statement on
/// a dead one must take all of them out of the pool, so the database being
/// back is enough: no request after it meets a dead connection. (Before,
/// a dead connection used outside a transaction went back to the pool and
/// was handed out again: `/readyz` stayed 503 for ~20 s after the restart.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_no_dead_connection_is_handed_out_again() {
    let Some(outage) = Outage::start("restart", 8).await else {
        return;
    };
    let (app, token, card) = (&outage.app, &outage.token, &outage.card);
    // Fill the pool: reads side by side open several connections.
    let reads = (0..16).map(|_| app.get(card, token));
    for r in futures_util::future::join_all(reads).await {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    outage.proxy.down();
    outage.proxy.up(); // a fast restart: the server is back at once
                       // Each dead connection fails one statement at most, and the first
                       // failure takes the idle ones out with it: one 503 at most.
    let mut unavailable = 0;
    for _ in 0..10 {
        let r = app.get("/readyz", "").await;
        match r.status {
            200 => {}
            503 => unavailable += 1,
            other => panic!("readyz after the restart: {other} {}", r.text),
        }
    }
    assert!(
        unavailable <= 1,
        "{unavailable} of 10 readyz after the restart were 503"
    );
    // And side by side (connections other than the one `/readyz` reuses).
    let reads = (0..16).map(|_| app.get(card, token));
    for r in futures_util::future::join_all(reads).await {
        assert_eq!(r.status, 200, "a read after the restart: {}", r.text);
    }
    outage.stop().await;
}
