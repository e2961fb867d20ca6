//! Webhooks deliver to public addresses and `PATRON_WEBHOOK_ALLOWED_NETWORKS`
//! only: a URL naming an address of the server's own network (cloud
//! metadata, loopback, private ranges) or `localhost` is a 422, and a
//! delivery there is a failed attempt that sends nothing. Any http(s) URL was
//! accepted, and the delivery log told what answered: a probe of the
//! internal network from the server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use patron::config::Config;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    the_allowed_networks_open_exactly_their_addresses,
    a_delivery_outside_the_allowed_networks_sends_nothing,
);

/// As in production: no `PATRON_WEBHOOK_ALLOWED_NETWORKS`.
fn public_only(config: &mut Config) {
    config.webhook_allowed_networks.clear();
}

backend_tests!(configured by public_only; urls_of_the_servers_own_network_are_refused);

const SECRET: &str = "a-long-shared-secret-0123";

const REFUSED: [&str; 11] = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.1.2.3/hooks",
    "http://127.0.0.1:5432/",
    "http://[::1]:8080/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    // 6to4 to 169.254.169.254, Teredo to 10.0.0.5.
    "http://[2002:a9fe:a9fe::1]/latest/meta-data/",
    "http://[2001:0:808:808::f5ff:fffa]/hooks",
    "http://localhost:6379/",
    "http://api.localhost/hooks",
    "http://0.0.0.0/",
    // 127.0.0.1 to the URL parser, as to browsers.
    "http://2130706433/",
];

async fn urls_of_the_servers_own_network_are_refused(app: TestApp) {
    let admin = app.admin_token().await;
    let id = create(&app, &admin, "https://erp.example.com/hooks").await;
    for url in REFUSED {
        let created = app
            .post(
                "/api/v1/webhooks",
                &admin,
                &json!({"url": url, "events": ["*"], "secret": SECRET}),
            )
            .await;
        let patched = app
            .patch(
                &format!("/api/v1/webhooks/{id}"),
                &admin,
                &json!({"url": url}),
            )
            .await;
        for r in [created, patched] {
            let problem = r.problem(422);
            assert_eq!(
                r.error_codes(),
                [("url".into(), "not_allowed".into())],
                "{url}"
            );
            let message = problem["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("PATRON_WEBHOOK_ALLOWED_NETWORKS"),
                "{url}: {message}"
            );
        }
    }
    let r = app
        .post(
            "/api/v1/webhooks",
            &admin,
            &json!({"url": "http://169.254.169.254/latest/meta-data/", "events": ["*"], "secret": SECRET}),
        )
        .await;
    assert_eq!(
        r.body["errors"][0]["message"],
        "169.254.169.254 is not a public address (loopback, private, link-local or reserved) and not in PATRON_WEBHOOK_ALLOWED_NETWORKS: deliveries there could reach this server's own network",
        "{}",
        r.text
    );
    let list = app.get("/api/v1/webhooks", &admin).await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        list.body["items"][0]["url"],
        "https://erp.example.com/hooks"
    );
    // Host names are not resolved here (DNS can change): delivery checks them.
    create(&app, &admin, "http://erp.internal.example/hooks").await;
    create(&app, &admin, "https://8.8.8.8/hooks").await;
}

/// The tests' configuration allows 127.0.0.0/8 and ::1: those are taken,
/// the other private ranges still refused.
async fn the_allowed_networks_open_exactly_their_addresses(app: TestApp) {
    let admin = app.admin_token().await;
    for url in [
        "http://127.0.0.1:5432/",
        "http://[::1]:8080/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://localhost:6379/",
    ] {
        create(&app, &admin, url).await;
    }
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hooks",
    ] {
        let r = app
            .post(
                "/api/v1/webhooks",
                &admin,
                &json!({"url": url, "events": ["*"], "secret": SECRET}),
            )
            .await;
        r.problem(422);
        assert_eq!(
            r.error_codes(),
            [("url".into(), "not_allowed".into())],
            "{url}"
        );
    }
}

/// A subscription stored before the rule (SQL here), or while the setting
/// allowed its network, is not delivered once the worker's setting does not
/// allow it: a failed attempt with the reason, retried with backoff, and no
/// connection is made.
async fn a_delivery_outside_the_allowed_networks_sends_nothing(app: TestApp) {
    let admin = app.admin_token().await;
    let (url, connections) = counting_listener();
    let loopback = create(&app, &admin, &url).await;
    let metadata = create(&app, &admin, "https://erp.example.com/hooks").await;
    app.execute_sql(&format!(
        "UPDATE webhooks SET url = 'http://169.254.169.254/latest/meta-data/' WHERE id = {metadata}"
    ));
    app.create_customer(&admin, json!({"kind": "individual", "name": "Probe"}))
        .await;
    // A worker whose setting no longer allows loopback.
    let worker = app
        .start_another(|c| {
            c.webhook_poll_ms = 20;
            c.webhook_backoff_base_ms = 100;
            c.webhook_allowed_networks.clear();
        })
        .await;
    let refused = "not sent: 127.0.0.1 is not a public address (loopback, private, link-local or reserved) and not in PATRON_WEBHOOK_ALLOWED_NETWORKS: deliveries there could reach this server's own network";
    // Two attempts: a refusal is retried as any failure.
    assert_eq!(logged_errors(&app, &admin, loopback, 2).await, [refused; 2]);
    let errors = logged_errors(&app, &admin, metadata, 1).await;
    assert!(
        errors[0].starts_with("not sent: 169.254.169.254 is not a public address"),
        "{errors:?}"
    );
    let hook = app
        .get(&format!("/api/v1/webhooks/{loopback}"), &admin)
        .await;
    assert!(
        hook.body["consecutive_failures"].as_i64() >= Some(2),
        "{}",
        hook.text
    );
    assert!(hook.body["next_attempt_at"].is_string(), "{}", hook.text);
    worker.stop().await;
    assert_eq!(connections.load(Ordering::SeqCst), 0, "a request was sent");
}

async fn create(app: &TestApp, admin: &str, url: &str) -> i64 {
    let r = app
        .post(
            "/api/v1/webhooks",
            admin,
            &json!({"url": url, "events": ["*"], "secret": SECRET}),
        )
        .await;
    assert_eq!(r.status, 201, "{url}: {}", r.text);
    r.id()
}

/// A URL on 127.0.0.1 whose listener counts the connections made to it.
fn counting_listener() -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!(
        "http://{}/hooks",
        listener.local_addr().expect("its address")
    );
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    // Ends with the test binary.
    std::thread::spawn(move || {
        for _ in listener.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    (url, connections)
}

/// The errors of the first `n` attempts logged for subscription `id`,
/// oldest first, once there are that many.
async fn logged_errors(app: &TestApp, admin: &str, id: i64, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let log = app
            .get(&format!("/api/v1/webhooks/{id}/deliveries"), admin)
            .await;
        let items: Vec<Value> = log.body["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= n {
            assert!(
                items
                    .iter()
                    .all(|i| i["outcome"] == "failed" && i["http_status"].is_null()),
                "{}",
                log.text
            );
            return items
                .iter()
                .rev()
                .take(n)
                .map(|i| i["error"].as_str().unwrap_or_default().to_string())
                .collect();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not {n} attempts logged for webhook {id}: {}",
            log.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
