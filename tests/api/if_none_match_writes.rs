//! `If-None-Match` on a write is a 400 naming `If-Match`, before anything
//! is written. It was ignored: a client guarding its PATCH with it (RFC 9110
//! has it evaluated on any method) had the write go through unguarded.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(if_none_match_on_a_write_is_refused_not_ignored);

async fn if_none_match_on_a_write_is_refused_not_ignored(app: TestApp) {
    let token = app.admin_token().await;
    let card = app
        .create_customer(&token, json!({"kind": "individual", "name": "Guarded"}))
        .await;
    let (id, etag) = (card.id(), card.header("etag").unwrap());
    let path = format!("/api/v1/customers/{id}");
    let url = app.url(&path);
    for tag in [etag.as_str(), "*", "\"99\""] {
        let requests = [
            app.client.patch(&url).json(&json!({"name": "Changed"})),
            app.client.delete(&url),
            app.client
                .post(app.url("/api/v1/customers"))
                .json(&json!({"kind": "individual", "name": "Second"})),
        ];
        for request in requests {
            let r = app
                .send(request.bearer_auth(&token).header("If-None-Match", tag))
                .await;
            let problem = r.problem(400);
            assert!(
                problem["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("If-None-Match") && d.contains("If-Match")),
                "{}",
                r.text
            );
        }
    }
    // Nothing was written.
    let read = app.get(&path, &token).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["name"], "Guarded");
    assert_eq!(read.body["version"], card.body["version"]);
    let all = app.get("/api/v1/customers", &token).await;
    assert_eq!(all.body["items"].as_array().map(Vec::len), Some(1));
    // Reads still answer it: a 304 when current.
    let etag = read.header("etag").unwrap();
    let r = app
        .send(
            app.client
                .get(&url)
                .bearer_auth(&token)
                .header("If-None-Match", etag.as_str()),
        )
        .await;
    assert_eq!(r.status, 304, "{}", r.text);
}
