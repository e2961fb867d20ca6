//! `Cache-Control: private, no-cache` and `Vary: Authorization` on every
//! answer under `/api/v1` (`http::cache_control`): they carried no directive,
//! so a browser or client cache could reuse a card heuristically, and for
//! the next user logged in on the same machine (a review).

use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

backend_tests!(
    every_api_answer_is_private_and_revalidated,
    conditional_reads_keep_their_304_with_the_directive,
    the_token_keeps_no_store,
    the_answers_of_the_middlewares_and_cors_get_it_too,
);

const PRIVATE: &str = "private, no-cache";

/// The directive, and `Authorization` among the `Vary` names (one line).
fn assert_private(r: &Resp, what: &str) {
    assert_eq!(
        r.header("cache-control").as_deref(),
        Some(PRIVATE),
        "{what}: {:?}",
        r.headers
    );
    let vary: Vec<String> = r
        .headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    assert_eq!(
        vary.iter().filter(|n| *n == "authorization").count(),
        1,
        "{what}: {:?}",
        r.headers
    );
}

async fn every_api_answer_is_private_and_revalidated(app: TestApp) {
    let token = app.admin_token().await;
    let created = app
        .create_customer(
            &token,
            json!({"kind": "individual", "name": "Private", "phone": "+86 138 0000 0000"}),
        )
        .await;
    assert_private(&created, "POST /customers");
    let card = format!("/api/v1/customers/{}", created.id());
    let read = app.get(&card, &token).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_private(&read, "a card");
    let head = app
        .send(app.client.head(app.url(&card)).bearer_auth(&token))
        .await;
    assert_eq!(head.status, 200);
    assert_private(&head, "HEAD of a card");
    let list = app.get("/api/v1/customers", &token).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_private(&list, "a list");
    let users = app.get("/api/v1/users", &token).await;
    assert_private(&users, "the users");
    let export = app.get("/api/v1/customers/export", &token).await;
    assert_eq!(export.status, 200, "{}", export.text);
    assert!(export.text.contains("Private"), "{}", export.text);
    assert_private(&export, "the CSV export");
    // Errors too: a 404, a 400, a 422, a 401 without a token.
    let missing = app.get("/api/v1/customers/999999", &token).await;
    missing.problem(404);
    assert_private(&missing, "404");
    let bad_query = app.get("/api/v1/customers?colour=red", &token).await;
    bad_query.problem(400);
    assert_private(&bad_query, "400");
    let invalid = app
        .post("/api/v1/customers", &token, &json!({"kind": "robot"}))
        .await;
    invalid.problem(422);
    assert_private(&invalid, "422");
    let anonymous = app.get(&card, "").await;
    anonymous.problem(401);
    assert_private(&anonymous, "401");
    // Outside the API: no directive is added.
    for path in ["/healthz", "/openapi.json"] {
        let r = app.get(path, "").await;
        assert_eq!(r.status, 200, "{path}");
        assert_ne!(
            r.header("cache-control").as_deref(),
            Some(PRIVATE),
            "{path}"
        );
    }
}

/// `no-cache` keeps the ETag path: the copy is revalidated, and the 304
/// carries the same directive (RFC 9111 §4.3.4).
async fn conditional_reads_keep_their_304_with_the_directive(app: TestApp) {
    let token = app.admin_token().await;
    let id = app
        .create_customer(&token, json!({"kind": "individual", "name": "Revalidated"}))
        .await
        .id();
    let card = format!("/api/v1/customers/{id}");
    let tag = app
        .get(&card, &token)
        .await
        .header("etag")
        .unwrap_or_default();
    for method in [Method::GET, Method::HEAD] {
        let r = app
            .send(
                app.client
                    .request(method.clone(), app.url(&card))
                    .bearer_auth(&token)
                    .header("If-None-Match", &tag),
            )
            .await;
        assert_eq!(r.status, 304, "{method}: {}", r.text);
        assert_eq!(r.header("etag"), Some(tag.clone()), "{method}");
        assert_private(&r, "304");
    }
}

/// The token sets its own `no-store`, which is kept; a refused login is an
/// API answer like another.
async fn the_token_keeps_no_store(app: TestApp) {
    let r = app.login(&app.admin_email, &app.admin_password).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let r = app.login(&app.admin_email, "not the password").await;
    r.problem(401);
    assert_private(&r, "a refused login");
}

/// Answers made before or around the handler: the rate limiter's 429, an
/// unrouted path's 404, a wrong method's 405, and CORS's `Vary`, which stays
/// one line with `Authorization` added.
async fn the_answers_of_the_middlewares_and_cors_get_it_too(app: TestApp) {
    let origin = "https://crm.example.com";
    let other = app
        .start_another(|c| {
            c.cors_origins = vec![origin.to_string()];
            c.rate_limit_per_min = 4;
        })
        .await;
    let token = app.admin_token().await;
    let at = |path: &str| format!("{}{path}", other.address);
    let r = app
        .send(
            app.client
                .get(at("/api/v1/customers"))
                .bearer_auth(&token)
                .header("Origin", origin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_private(&r, "a CORS answer");
    let vary: Vec<&str> = r
        .headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(vary.len(), 1, "{vary:?}");
    assert!(vary[0].starts_with("Origin"), "{vary:?}");
    assert!(vary[0].ends_with(", Authorization"), "{vary:?}");
    let unrouted = app
        .send(
            app.client
                .get(at("/api/v1/no-such-thing"))
                .bearer_auth(&token),
        )
        .await;
    unrouted.problem(404);
    assert_private(&unrouted, "an unrouted path");
    let wrong_method = app
        .send(app.client.put(at("/api/v1/customers")).bearer_auth(&token))
        .await;
    wrong_method.problem(405);
    assert_private(&wrong_method, "405");
    let mut limited = None;
    for _ in 0..8 {
        let r = app
            .send(app.client.get(at("/api/v1/customers")).bearer_auth(&token))
            .await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("a 429 within eight requests at 4 a minute");
    limited.problem(429);
    assert_private(&limited, "429");
    other.stop().await;
}
