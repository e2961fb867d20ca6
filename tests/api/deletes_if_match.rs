//! Every DELETE of a record with a version honours `If-Match`: a stale tag is
//! a 412 and deletes nothing, `*` or the current tag deletes (a black-box
//! probe found contacts, interactions, transactions, needs, plans, actions
//! and webhooks deleting whatever tag was sent).

use serde_json::{json, Value};

use crate::account_plans::{key_customer, plan_body};
use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

backend_tests!(deletes_honour_if_match);

async fn delete_with(app: &TestApp, token: &str, url: &str, tag: &str) -> Resp {
    app.send(
        app.client
            .delete(app.url(url))
            .bearer_auth(token)
            .header("If-Match", tag),
    )
    .await
}

async fn created(app: &TestApp, token: &str, url: &str, body: Value) -> String {
    let r = app.post(url, token, &body).await;
    assert_eq!(r.status, 201, "{url}: {}", r.text);
    format!("{url}/{}", r.id())
}

async fn deletes_honour_if_match(app: TestApp) {
    let admin = app.admin_token().await;
    let c = key_customer(&app, &admin).await;
    let card = format!("/api/v1/customers/{c}");
    let plan = created(&app, &admin, "/api/v1/account-plans", plan_body(c)).await;
    let records = [
        created(&app, &admin, &format!("{card}/contacts"), json!({"name": "Wang"})).await,
        created(&app, &admin, &format!("{card}/interactions"), json!({"type": "visit", "summary": "met"})).await,
        created(&app, &admin, &format!("{card}/transactions"), json!({"amount_cents": 100, "product": "Tea"})).await,
        created(&app, &admin, &format!("{card}/needs"), json!({"kind": "actual", "description": "Faster delivery"})).await,
        created(&app, &admin, &format!("{plan}/actions"), json!({"type": "executive_visit", "due_date": "2026-12-31"})).await,
        created(&app, &admin, "/api/v1/webhooks", json!({"url": "http://127.0.0.1:9/hook", "events": ["*"], "secret": "a-long-shared-secret-0123"})).await,
        plan,
    ];
    for (i, url) in records.iter().enumerate() {
        let stale = delete_with(&app, &admin, url, "\"7\"").await;
        stale.problem(412);
        delete_with(&app, &admin, url, "garbage").await.problem(400);
        let current = app.get(url, &admin).await;
        assert_eq!(current.status, 200, "{url}: {}", current.text);
        let tag = if i % 2 == 0 {
            current.header("etag").expect("an ETag")
        } else {
            "*".to_string()
        };
        let r = delete_with(&app, &admin, url, &tag).await;
        assert_eq!(r.status, 204, "{url} with {tag}: {}", r.text);
        assert_eq!(app.get(url, &admin).await.status, 404, "{url} is gone");
    }
}
