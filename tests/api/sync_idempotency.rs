//! `Idempotency-Key` on POSTs: replay, misuse, per user.

use std::time::Duration;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::TestApp;
use crate::sync_bulk::bulk;

async fn bulk_replay_writes_nothing(app: TestApp) {
    let token = app.admin_token().await;
    let body = json!({"items": [
        {"external_id": "K-1", "kind": "individual", "name": "One"},
        {"external_id": "K-2", "kind": "individual", "name": "Two"}
    ]});
    let first = bulk(&app, "/api/v1/customers/bulk", &token, &body, Some("key-1")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(first.header("idempotent-replayed").is_none());
    let id = first.body["items"][0]["id"].as_i64().unwrap();
    // Someone edits the card in between: the replay must not undo it or bump it.
    let edit = app
        .patch(
            &format!("/api/v1/customers/{id}"),
            &token,
            &json!({"name": "Edited"}),
        )
        .await;
    assert_eq!(edit.status, 200);
    let replay = bulk(&app, "/api/v1/customers/bulk", &token, &body, Some("key-1")).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.body, first.body, "the stored first response");
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    let card = app.get(&format!("/api/v1/customers/{id}"), &token).await;
    assert_eq!(card.body["name"], "Edited");
    assert_eq!(card.body["version"], 2);
    // Without the key the same body is a new call (it sees the edit).
    let fresh = bulk(&app, "/api/v1/customers/bulk", &token, &body, Some("key-2")).await;
    assert_eq!(fresh.body["items"][0]["status"], "updated");
    let all = app.get("/api/v1/customers", &token).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
}

async fn same_key_other_body_is_422(app: TestApp) {
    let token = app.admin_token().await;
    let body = json!({"items": [{"external_id": "M-1", "kind": "individual", "name": "One"}]});
    bulk(&app, "/api/v1/customers/bulk", &token, &body, Some("k")).await;
    let other = json!({"items": [{"external_id": "M-1", "kind": "individual", "name": "Other"}]});
    let r = bulk(&app, "/api/v1/customers/bulk", &token, &other, Some("k")).await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["Idempotency-Key"]);
    // Another path with the same key is a misuse too.
    let r = app
        .send(
            app.client
                .post(app.url("/api/v1/customers"))
                .bearer_auth(&token)
                .header("Idempotency-Key", "k")
                .json(&json!({"kind": "individual", "name": "x"})),
        )
        .await;
    r.problem(422);
    let all = app.get("/api/v1/customers", &token).await;
    assert_eq!(all.body["items"][0]["name"], "One");
    assert_eq!(all.body["items"].as_array().unwrap().len(), 1);
}

async fn single_post_replays_status_and_headers(app: TestApp) {
    let token = app.admin_token().await;
    let send = || {
        app.client
            .post(app.url("/api/v1/customers"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "create-1")
            .json(&json!({"kind": "individual", "name": "张伟"}))
    };
    let first = app.send(send()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let second = app.send(send()).await;
    assert_eq!(second.status, 201);
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(second.header("etag"), first.header("etag"));
    assert_eq!(
        second.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        second.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    let all = app.get("/api/v1/customers", &token).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 1);
    // A refusal wrote nothing and is not kept: the retry, usually the
    // request corrected, runs (a review saw a 415 replayed for 24 h to the
    // retry that fixed its Content-Type).
    let with_key = |key: &str, content_type: &str, body: &Value| {
        app.client
            .post(app.url("/api/v1/customers"))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .header("Content-Type", content_type)
            .body(body.to_string())
    };
    let incomplete = json!({"kind": "individual"});
    let r = app
        .send(with_key("bad-1", "application/json", &incomplete))
        .await;
    r.problem(422);
    let r = app
        .send(with_key("bad-1", "application/json", &incomplete))
        .await;
    r.problem(422);
    assert_eq!(r.header("idempotent-replayed"), None);
    let fixed = json!({"kind": "individual", "name": "Fixed"});
    let r = app
        .send(with_key("bad-1", "application/json", &fixed))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app.send(with_key("ct-1", "text/plain", &fixed)).await;
    r.problem(415);
    let r = app.send(with_key("ct-1", "application/json", &fixed)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("idempotent-replayed"), None);
    // Once it succeeded, the key replays the success.
    let again = app.send(with_key("ct-1", "application/json", &fixed)).await;
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.body, r.body);
}

async fn keys_are_per_user(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, manager) = app.user_with_role("manager").await;
    let body = json!({"items": [{"external_id": "U-1", "kind": "individual", "name": "One"}]});
    let a = bulk(
        &app,
        "/api/v1/customers/bulk",
        &admin,
        &body,
        Some("shared"),
    )
    .await;
    assert_eq!(a.body["items"][0]["status"], "created");
    let m = bulk(
        &app,
        "/api/v1/customers/bulk",
        &manager,
        &body,
        Some("shared"),
    )
    .await;
    assert_eq!(m.status, 200);
    assert!(m.header("idempotent-replayed").is_none());
    assert_eq!(m.body["items"][0]["status"], "unchanged");
}

async fn key_rules(app: TestApp) {
    let token = app.admin_token().await;
    let body = json!({"items": [{"external_id": "R-1", "kind": "individual", "name": "One"}]});
    for key in ["", &"x".repeat(256), "with space"] {
        let r = bulk(&app, "/api/v1/customers/bulk", &token, &body, Some(key)).await;
        r.problem(422);
        assert_eq!(r.error_fields(), ["Idempotency-Key"], "{key:?}");
    }
    // Two keys: the second was silently ignored (a review).
    let r = app
        .send(
            app.client
                .post(app.url("/api/v1/customers/bulk"))
                .bearer_auth(&token)
                .header("Idempotency-Key", "first")
                .header("Idempotency-Key", "second")
                .json(&body),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["Idempotency-Key"], "{}", r.text);
    let all = app.get("/api/v1/customers", &token).await;
    assert_eq!(all.body["items"], json!([]));
    // A 401 is not stored: the same key works once authenticated.
    let r = bulk(
        &app,
        "/api/v1/customers/bulk",
        "bad-token",
        &body,
        Some("auth-1"),
    )
    .await;
    r.problem(401);
    let r = bulk(
        &app,
        "/api/v1/customers/bulk",
        &token,
        &body,
        Some("auth-1"),
    )
    .await;
    assert_eq!(r.status, 200);
    // Over the bulk body limit with a key: 413 before anything is stored.
    let huge = "x".repeat(9 * 1024 * 1024);
    let r = app
        .send(
            app.client
                .post(app.url("/api/v1/customers/bulk"))
                .bearer_auth(&token)
                .header("Idempotency-Key", "huge")
                .header("Content-Type", "application/json")
                .body(huge),
        )
        .await;
    r.problem(413);
}

async fn transactions_bulk_replay(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Li"}))
        .await
        .id();
    let body = json!({"items": [{"external_id": "TX-1", "customer_id": c, "amount_cents": 100, "product": "p"}]});
    let first = bulk(&app, "/api/v1/transactions/bulk", &token, &body, Some("tx")).await;
    assert_eq!(first.body["items"][0]["status"], "created");
    let replay = bulk(&app, "/api/v1/transactions/bulk", &token, &body, Some("tx")).await;
    assert_eq!(replay.body, first.body);
    let card = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(card.body["purchase_count"], 1);
}

/// A purge of expired keys that failed is tried again after
/// `PATRON_JOB_RETRY_SECS`, not ten minutes later. A trigger makes its
/// DELETE fail for a while; a key is seen as purged when reusing it with
/// another body is accepted instead of answered 422.
async fn failed_key_purge_is_retried_soon(app: TestApp) {
    let token = app.admin_token().await;
    let post = |name: &'static str| {
        app.client
            .post(app.url("/api/v1/customers"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "purge-me")
            .json(&json!({"kind": "individual", "name": name}))
    };
    assert_eq!(app.send(post("first")).await.status, 201);
    app.refuse_deletes("idempotency_keys");
    // A TTL of zero (below what the configuration allows, set here
    // directly): this instance's first purge, at start, would forget the
    // key; its next period is ten minutes away.
    let purger = app
        .start_another(|c| {
            c.idempotency_ttl_secs = 0;
            c.job_retry_secs = 1;
        })
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let held = app.send(post("second")).await;
    held.problem(422);
    app.allow_deletes("idempotency_keys");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.send(post("third")).await;
        if r.status == 201 {
            break;
        }
        r.problem(422);
        assert!(
            std::time::Instant::now() < deadline,
            "the key was never purged after the trigger went away"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    purger.stop().await;
}

backend_tests!(
    bulk_replay_writes_nothing,
    same_key_other_body_is_422,
    single_post_replays_status_and_headers,
    keys_are_per_user,
    key_rules,
    transactions_bulk_replay,
    failed_key_purge_is_retried_soon,
    a_revoked_token_gets_no_replay,
    a_login_is_never_stored_for_replay,
    a_retry_while_the_first_runs_is_409_with_retry_after,
    an_encoded_path_is_the_same_request,
    a_keyed_read_only_post_stores_nothing,
    a_keyed_recompute_runs_again,
    a_new_users_password_is_not_in_the_request_hash,
    a_keyed_batch_sent_twice_at_once_replays_the_first,
);

/// A keyed `all_or_none` batch sent twice while another connection holds
/// its card: both wait. On PostgreSQL the second found no key yet, ran after
/// the first had applied, failed its item's `version` and answered 422
/// "nothing was applied" (a review). It waits for the first's key now, and
/// replays its answer, as on SQLite.
async fn a_keyed_batch_sent_twice_at_once_replays_the_first(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(
            &token,
            json!({"kind": "individual", "name": "Twice", "external_id": "TWICE-1"}),
        )
        .await
        .id();
    let body = json!({"items": [{"external_id": "TWICE-1", "region": "East", "version": 1}]});
    let path = "/api/v1/customers/bulk?all_or_none=true";
    let both = futures_util::future::join(
        bulk(&app, path, &token, &body, Some("twice")),
        bulk(&app, path, &token, &body, Some("twice")),
    );
    let (a, b) = app
        .while_held(
            move |conn| patron::db::customers::lock(conn, c).map(drop),
            both,
        )
        .await;
    for r in [&a, &b] {
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["items"][0]["status"], "updated", "{}", r.text);
    }
    assert_eq!(a.body, b.body);
    let card = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(card.body["version"], 2, "{}", card.text);
}

/// A review: the request hash of a keyed `POST /users` was a plain SHA-256
/// of its body, password included, kept for the key's life. The password is
/// left out of it: a retry with another password replays the first answer
/// (the user, with the first password), where any other field changed is
/// still a 422; a different email under the same key is one.
async fn a_new_users_password_is_not_in_the_request_hash(app: TestApp) {
    let token = app.admin_token().await;
    let send = |email: &str, password: &str| {
        app.client
            .post(app.url("/api/v1/users"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "new-user-1")
            .json(&json!({"email": email, "name": "Li Na", "role": "sales", "password": password}))
    };
    let first = app
        .send(send("li.na@example.com", "the first long password"))
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = app
        .send(send("li.na@example.com", "another long password"))
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    app.token("li.na@example.com", "the first long password")
        .await;
    let other = app
        .send(send("wang.wu@example.com", "the first long password"))
        .await;
    assert_eq!(other.status, 422, "{}", other.text);
    // With a byte order mark before it (PowerShell, .NET), parsed as the
    // handler parses it: the password stayed in the hash (a review).
    let marked = || {
        app.client
            .post(app.url("/api/v1/users"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "new-user-2")
            .header("Content-Type", "application/json")
    };
    let body = |password: &str| {
        let json = json!({"email": "zhao.liu@example.com", "name": "Zhao Liu", "role": "sales", "password": password});
        format!("\u{feff}{json}")
    };
    let first = app.send(marked().body(body("a first long password"))).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = app.send(marked().body(body("another long password"))).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body, first.body);
    // Said where a client generator reads it (the README alone said so).
    let spec = app.get("/openapi.json", "").await.body;
    let create = &spec["paths"]["/api/v1/users"]["post"]["description"];
    assert!(
        create
            .as_str()
            .is_some_and(|d| d.contains("keeps the first password")),
        "{create}"
    );
}

/// Found by an outside review: a recompute commits in many transactions and
/// its claim was marked applied at the first, so one that failed half-way
/// answered its retry under the same key 409 `idempotency-applied` for good.
/// Run again it gives the same cards: the key is checked and ignored, and a
/// retry runs (here it corrects a stage changed since the first run, which
/// a replay of the first answer would not).
async fn a_keyed_recompute_runs_again(app: TestApp) {
    let admin = app.admin_token().await;
    let c = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Again"}))
        .await
        .id();
    let send = |path: &'static str| {
        app.send(
            app.client
                .post(app.url(path))
                .bearer_auth(&admin)
                .header("Idempotency-Key", "recompute-1")
                .json(&json!({})),
        )
    };
    // What each recompute corrects: the stage, and the tier.
    let changed_since = [
        (
            "/api/v1/cpr/recompute",
            format!("UPDATE customers SET cpr_stage = 'retention' WHERE id = {c}"),
            ("cpr_stage", "not_started"),
        ),
        (
            "/api/v1/tiers/recompute",
            format!(
                "DELETE FROM customer_tiers WHERE customer_id = {c}; \
                 INSERT INTO customer_tiers (customer_id, tier) VALUES ({c}, 'important')"
            ),
            ("tier", "small"),
        ),
    ];
    for &(path, ref change, (field, corrected)) in &changed_since {
        for _ in 0..2 {
            app.execute_sql(change);
            let r = send(path).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            assert!(r.header("idempotent-replayed").is_none(), "{path}");
            let card = app.get(&format!("/api/v1/customers/{c}"), &admin).await;
            assert_eq!(card.body[field], corrected, "{path}: {}", card.text);
        }
    }
    let r = send("/api/v1/cpr/recompute").await;
    assert_eq!(r.body["changed"], 0, "{}", r.text);
    let db = app.open_db(1, 5).await;
    let stored = db
        .run(|conn| {
            use diesel::prelude::*;
            use patron::db::schema::idempotency_keys::dsl::idempotency_keys;
            Ok(idempotency_keys.count().get_result::<i64>(conn)?)
        })
        .await
        .expect("counted");
    assert_eq!(stored, 0, "rows in idempotency_keys");
}

/// Found by an outside review: a viewer may send the two POSTs that only
/// read, and with a key each stored a claim and the whole answer (up to a
/// megabyte for a preview) for 24 h, as many as it had keys. Now the key is
/// checked and ignored: both calls run, neither is a replay, another body
/// under the same key is no 422, and the key table stays empty.
async fn a_keyed_read_only_post_stores_nothing(app: TestApp) {
    let (_, viewer) = app.user_with_role("viewer").await;
    let share = json!({"population": 1000, "segment_ratio": 0.5, "reachable_ratio": 0.5,
        "valid_ratio": 0.5, "spender_ratio": 0.5, "annual_spend": 100});
    let preview = json!({"rule": {"field": "kind", "op": "eq", "value": "individual"}});
    let mut share2 = share.clone();
    share2["population"] = json!(2000);
    let mut preview2 = preview.clone();
    preview2["limit"] = json!(5);
    let send = |path: &str, body: &Value, key: &str| {
        app.send(
            app.client
                .post(app.url(path))
                .bearer_auth(&viewer)
                .header("Idempotency-Key", key)
                .json(body),
        )
    };
    for (path, body, other) in [
        ("/api/v1/segments/preview", &preview, &preview2),
        ("/api/v1/analytics/customer-share", &share, &share2),
    ] {
        for _ in 0..2 {
            let r = send(path, body, "read-1").await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            assert!(r.header("idempotent-replayed").is_none(), "{path}");
        }
        let r = send(path, other, "read-1").await;
        assert_eq!(r.status, 200, "{path}, another body: {}", r.text);
        // A malformed key is still refused.
        let r = send(path, body, "not visible").await;
        assert_eq!(r.error_fields(), vec!["Idempotency-Key"], "{}", r.text);
    }
    let db = app.open_db(1, 5).await;
    let stored = db
        .run(|conn| {
            use diesel::prelude::*;
            use patron::db::schema::idempotency_keys::dsl::idempotency_keys;
            Ok(idempotency_keys.count().get_result::<i64>(conn)?)
        })
        .await
        .expect("counted");
    assert_eq!(stored, 0, "rows in idempotency_keys");
}

/// The router decodes `%31` to `1`; the middleware saw the raw path, took
/// `/api/v%31/customers` for a path outside the API and let its key go
/// unused: the retry wrote a second card.
async fn an_encoded_path_is_the_same_request(app: TestApp) {
    let token = app.admin_token().await;
    let send = |path: &'static str| {
        app.client
            .post(app.url(path))
            .bearer_auth(&token)
            .header("Idempotency-Key", "encoded-1")
            .json(&json!({"kind": "individual", "name": "Once"}))
    };
    let first = app.send(send("/api/v%31/customers")).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let second = app.send(send("/api/v%31/customers")).await;
    assert_eq!(
        second.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    let plain = app.send(send("/api/v1/customers")).await;
    assert_eq!(plain.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(plain.body, first.body);
    let all = app.get("/api/v1/customers", &token).await;
    assert_eq!(
        all.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        all.text
    );
}

/// `POST /auth/token` ignores `Idempotency-Key`: a token is never kept in
/// the database or handed out again.
async fn a_login_is_never_stored_for_replay(app: TestApp) {
    let admin = app.admin_token().await;
    let login = || {
        app.client
            .post(app.url("/api/v1/auth/token"))
            .bearer_auth(&admin)
            .header("Idempotency-Key", "login-1")
            .json(&json!({"email": app.admin_email, "password": app.admin_password}))
    };
    let first = app.send(login()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = app.send(login()).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert!(second.header("idempotent-replayed").is_none());
    assert_eq!(second.header("cache-control").as_deref(), Some("no-store"));
    assert_ne!(
        second.body["access_token"], first.body["access_token"],
        "a fresh token"
    );
}

/// A replay answers only a token the handler would accept: once the user is
/// deactivated, the same key is a 401 (with the same body or another), on a
/// single POST and on a bulk one, and nothing is written.
async fn a_revoked_token_gets_no_replay(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_role("integration").await;
    let create = json!({"kind": "individual", "name": "Replayed"});
    let keyed = |key: &str, body: &serde_json::Value| {
        app.client
            .post(app.url("/api/v1/customers"))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .json(body)
    };
    assert_eq!(app.send(keyed("k-1", &create)).await.status, 201);
    let items = json!({"items": [{"external_id": "R-1", "kind": "individual", "name": "R"}]});
    let first = bulk(&app, "/api/v1/customers/bulk", &token, &items, Some("k-2")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let off = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            &json!({"active": false}),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    app.send(keyed("k-1", &create)).await.problem(401);
    app.send(keyed(
        "k-1",
        &json!({"kind": "individual", "name": "Other"}),
    ))
    .await
    .problem(401);
    bulk(&app, "/api/v1/customers/bulk", &token, &items, Some("k-2"))
        .await
        .problem(401);
    let all = app.get("/api/v1/customers", &admin).await;
    assert_eq!(
        all.body["items"].as_array().map(Vec::len),
        Some(2),
        "{}",
        all.text
    );
}

/// The hash the middleware stores for a POST of `body` (JSON) to `path`
/// without a query (`http::idempotency::request_hash`), for claim rows a
/// test writes itself.
pub fn post_hash(path: &str, body: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in ["POST", path, ""] {
        h.update(part);
        h.update([0]);
    }
    h.update(body);
    hex::encode(h.finalize())
}

/// The first request still runs (its claim is fresh): the retry is a 409
/// that says when to come back (a review: "retry later", but no time), for
/// a single create and for a bulk call, which claims its key in its own
/// write transaction.
async fn a_retry_while_the_first_runs_is_409_with_retry_after(app: TestApp) {
    let token = app.admin_token().await;
    let single = r#"{"kind":"individual","name":"Slow"}"#;
    let many = r#"{"items":[{"external_id":"S-1","kind":"individual","name":"Slow"}]}"#;
    for (n, (path, body)) in [
        ("/api/v1/customers", single),
        ("/api/v1/customers/bulk", many),
    ]
    .into_iter()
    .enumerate()
    {
        let hash = post_hash(path, body);
        let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f");
        app.execute_sql(&format!(
            "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, created_at) \
             SELECT MIN(id), 'busy-{n}', '{hash}', '{now}' FROM users"
        ));
        let r = app
            .send(
                app.client
                    .post(app.url(path))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", format!("busy-{n}"))
                    .header("Content-Type", "application/json")
                    .body(body),
            )
            .await;
        r.problem(409);
        assert_eq!(
            r.header("retry-after").as_deref(),
            Some("1"),
            "{path}: {}",
            r.text
        );
    }
    let all = app.get("/api/v1/customers", &token).await;
    assert_eq!(all.body["items"], json!([]), "nothing written");
}
