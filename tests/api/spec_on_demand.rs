//! The OpenAPI document, and the route table the 404/405 answers come from,
//! are built on first use (`patron::http::spec`), not at start-up: a fresh
//! process must answer its first unrouted request as well as any later one.
//! The in-process tests share one document per test binary, so this needs a
//! process of its own.

use std::process::Stdio;

use crate::binary::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_server_answers_405_and_serves_its_spec_on_demand() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("spec.db");
    let mut server = Server::start(
        &format!("sqlite://{}", db.to_string_lossy()),
        "warn",
        Stdio::null(),
    )
    .await;
    let client = reqwest::Client::new();

    // The first request after /readyz needs the route table.
    let r = client
        .put(format!("{}/api/v1/customers", server.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 405);
    let allow = r
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap_or("").to_string());
    assert_eq!(allow.as_deref(), Some("GET, HEAD, POST"));
    let r = client
        .get(format!("{}/api/v1/no-such-thing", server.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 404);

    let r = client
        .get(format!("{}/openapi.json", server.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let spec: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(
        spec,
        serde_json::to_value(patron::openapi::spec()).expect("spec as JSON")
    );
    assert!(server.terminate().success());
}
