//! `If-None-Match` on a write is a 400 naming `If-Match`, before anything
//! is written. It was ignored: a client guarding its PATCH with it (RFC 9110
//! has it evaluated on any method) had the write go through unguarded.
//!
//! The refusal comes before the key is claimed (a claim row was written and
//! freed for a request refused unread) and only under `/api/v1` (`POST
//! /metrics` became a 400 instead of its 405).

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    if_none_match_on_a_write_is_refused_not_ignored,
    the_refusal_claims_no_key_and_keeps_to_the_api,
);

/// The rows of `idempotency_keys`.
fn keys(app: &TestApp) -> i64 {
    use diesel::sql_types::BigInt;
    use diesel::{QueryableByName, RunQueryDsl};
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let db = patron::db::Db::connect(&app.database_url, 1).unwrap();
    let mut conn = db.pool().get().unwrap();
    diesel::sql_query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM idempotency_keys")
        .get_result::<N>(&mut conn)
        .unwrap()
        .n
}

async fn the_refusal_claims_no_key_and_keeps_to_the_api(app: TestApp) {
    let token = app.admin_token().await;
    // A claim freed after the 400 would hide the claim: freeing is refused.
    app.refuse_deletes("idempotency_keys");
    let keyed = app
        .send(
            app.client
                .post(app.url("/api/v1/customers"))
                .bearer_auth(&token)
                .header("Idempotency-Key", "unread")
                .header("If-None-Match", "*")
                .json(&json!({"kind": "individual", "name": "Unread"})),
        )
        .await;
    keyed.problem(400);
    assert_eq!(keys(&app), 0, "no claim for a request refused unread");
    app.allow_deletes("idempotency_keys");
    // The key is free: the same request without the header runs.
    let created = app
        .send(
            app.client
                .post(app.url("/api/v1/customers"))
                .bearer_auth(&token)
                .header("Idempotency-Key", "unread")
                .json(&json!({"kind": "individual", "name": "Read"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);

    // A PUT, which takes no If-Match here: the answer promises none.
    let put = app
        .send(
            app.client
                .put(app.url("/api/v1/settings/churn"))
                .bearer_auth(&token)
                .header("If-None-Match", "*")
                .json(&json!({})),
        )
        .await;
    let detail = put.problem(400)["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("not supported on writes")
            && detail.contains("where an operation documents If-Match"),
        "{}",
        put.text
    );
    // Before the credentials are judged, as documented.
    let anonymous = app
        .send(
            app.client
                .put(app.url("/api/v1/settings/churn"))
                .header("If-None-Match", "*")
                .json(&json!({})),
        )
        .await;
    anonymous.problem(400);

    // Outside /api/v1 a write answers as without the header.
    let plain = app.send(app.client.post(app.url("/metrics"))).await;
    let guarded = app
        .send(
            app.client
                .post(app.url("/metrics"))
                .header("If-None-Match", "*"),
        )
        .await;
    assert_eq!(plain.status, 405, "{}", plain.text);
    assert_eq!(guarded.status, 405, "{}", guarded.text);

    // A method the path does not answer keeps its 405, an unknown path its
    // 404 (schemathesis sends undeclared methods with the header, empty).
    let token = app.admin_token().await;
    for (path, status) in [
        ("/api/v1/customers/1", 405),
        ("/api/v1/account-plans/1/actions/2", 405),
        ("/api/v1/no-such-list/1", 404),
    ] {
        let r = app
            .send(
                app.client
                    .put(app.url(path))
                    .bearer_auth(&token)
                    .header("If-None-Match", "")
                    .json(&json!({})),
            )
            .await;
        assert_eq!(r.status, status, "PUT {path}: {}", r.text);
    }
}

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
