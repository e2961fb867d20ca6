//! Writes of one record sent at once without a precondition. Each is read,
//! checked and saved by version; on PostgreSQL two of them read the same
//! version unless the row is locked first, and the loser was answered 412
//! although it sent no `If-Match` (found by a concurrency probe). Bulk
//! batches that name the same cards in other orders deadlocked the same way.
//! On SQLite the writes run one at a time: these pass there by construction
//! and guard the PostgreSQL path.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

backend_tests!(
    card_writes_without_if_match_all_apply,
    record_patches_without_if_match_all_apply,
    bulk_batches_on_the_same_cards_all_apply,
    bulk_batches_creating_the_same_cards_in_other_orders_all_apply,
    bulk_batches_repeating_a_key_create_in_key_order_too,
    single_creates_and_a_batch_of_the_same_new_keys_all_answer,
);

const N: usize = 8;

fn statuses(rs: &[Resp]) -> Vec<u16> {
    rs.iter().map(|r| r.status).collect()
}

/// Each answer is a 200 whose every item applied: a bulk call answers 200
/// with a lost race (a deadlock, a key taken) as an item's error.
fn all_applied(rs: &[Resp], what: &str) {
    for r in rs {
        assert_eq!(r.status, 200, "{what}: {}", r.text);
        let items = r.body["items"].as_array().map_or(&[][..], Vec::as_slice);
        assert!(!items.is_empty(), "{what}: {}", r.text);
        for item in items {
            let status = item["status"].as_str().unwrap_or_default();
            assert!(
                ["created", "updated", "unchanged"].contains(&status),
                "{what}: {item}"
            );
        }
    }
}

async fn card_writes_without_if_match_all_apply(app: TestApp) {
    let admin = app.admin_token().await;
    let id = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Busy"}))
        .await
        .id();
    let url = format!("/api/v1/customers/{id}");
    // Each body differs from every other: none is a no-op, which would
    // keep the version.
    let bodies: Vec<Value> = (0..2 * N)
        .map(|i| json!({"notes": format!("note {i}")}))
        .collect();
    let plain = bodies[..N].iter().map(|b| app.patch(&url, &admin, b));
    let any = bodies[N..]
        .iter()
        .map(|b| app.patch_if_match(&url, &admin, "*", b));
    let (plain, any) = tokio::join!(join_all(plain), join_all(any));
    assert_eq!(statuses(&plain), vec![200; N], "{:?}", plain[0].text);
    assert_eq!(statuses(&any), vec![200; N]);
    let card = app.get(&url, &admin).await;
    assert_eq!(
        card.body["version"],
        json!(1 + 2 * N),
        "every PATCH applied once"
    );

    // A repeated delete is a no-op, a repeated restore too.
    let deletes = join_all((0..N).map(|_| app.delete(&url, &admin))).await;
    assert_eq!(statuses(&deletes), vec![204; N]);
    let restore = format!("{url}/restore");
    let empty = json!({});
    let restores = join_all((0..N).map(|_| app.post(&restore, &admin, &empty))).await;
    assert_eq!(statuses(&restores), vec![200; N]);
    let card = app.get(&url, &admin).await;
    assert_eq!(card.body["archived_at"], Value::Null);
    assert_eq!(card.body["version"], json!(3 + 2 * N));
}

/// PATCHes of a segment, a user, a survey and a webhook, N of each at once.
async fn record_patches_without_if_match_all_apply(app: TestApp) {
    let admin = app.admin_token().await;
    let segment = app
        .post(
            "/api/v1/segments",
            &admin,
            &json!({"name": "Busy segment", "kind": "static"}),
        )
        .await;
    let (user, _) = app.user_with_role("sales").await;
    let survey = app
        .post("/api/v1/surveys", &admin, &json!({"title": "Busy survey"}))
        .await;
    let webhook = app
        .post(
            "/api/v1/webhooks",
            &admin,
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["*"], "secret": "a-long-shared-secret-0123"}),
        )
        .await;
    for (r, what) in [
        (&segment, "segment"),
        (&survey, "survey"),
        (&webhook, "webhook"),
    ] {
        assert_eq!(r.status, 201, "{what}: {}", r.text);
    }
    let targets = [
        (format!("/api/v1/segments/{}", segment.id()), "description"),
        (format!("/api/v1/users/{user}"), "name"),
        (format!("/api/v1/surveys/{}", survey.id()), "description"),
        (format!("/api/v1/webhooks/{}", webhook.id()), "description"),
    ];
    // Adding the same customers to a static segment at once: each call
    // adds or finds them, none is a conflict.
    let ids: Vec<i64> = join_all((0..3).map(|i| {
        app.create_customer(
            &admin,
            json!({"kind": "individual", "name": format!("Member {i}")}),
        )
    }))
    .await
    .iter()
    .map(Resp::id)
    .collect();
    let members = format!("/api/v1/segments/{}/members", segment.id());
    let body = json!({ "customer_ids": ids });
    let rs = join_all((0..N).map(|_| app.post(&members, &admin, &body))).await;
    assert_eq!(
        statuses(&rs),
        vec![200; N],
        "{:?}",
        rs.iter().find(|r| r.status != 200).map(|r| &r.text)
    );
    let added: i64 = rs.iter().map(|r| r.body["added"].as_i64().unwrap()).sum();
    assert_eq!(added, 3, "each customer added once");
    for (url, field) in &targets {
        let bodies: Vec<Value> = (0..N)
            .map(|i| json!({ *field: format!("{field} {i}") }))
            .collect();
        let rs = join_all(bodies.iter().map(|b| app.patch(url, &admin, b))).await;
        assert_eq!(
            statuses(&rs),
            vec![200; N],
            "{url}: {:?}",
            rs.iter().find(|r| r.status != 200).map(|r| &r.text)
        );
        let mut versions: Vec<i64> = rs
            .iter()
            .map(|r| r.body["version"].as_i64().unwrap())
            .collect();
        versions.sort_unstable();
        let first = versions[0];
        assert_eq!(
            versions,
            (first..first + N as i64).collect::<Vec<_>>(),
            "{url}: each PATCH saved its own version"
        );
    }
}

/// Customer and transaction batches over the same cards, in opposite orders,
/// at once: every item applies (no `conflict`, no deadlock's 503).
async fn bulk_batches_on_the_same_cards_all_apply(app: TestApp) {
    let admin = app.admin_token().await;
    let keys: Vec<String> = (0..20).map(|i| format!("SAME-{i:02}")).collect();
    let create: Vec<Value> = keys
        .iter()
        .map(|k| json!({"external_id": k, "kind": "organization", "name": k}))
        .collect();
    let r = app
        .post(
            "/api/v1/customers/bulk",
            &admin,
            &json!({ "items": create }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let updates = (0..6)
        .map(|b| {
            keys.iter()
                .map(|k| json!({"external_id": k, "notes": format!("batch {b}")}))
                .collect()
        })
        .collect();
    all_at_once(&app, &admin, "/api/v1/customers/bulk", updates, "updated").await;
    let orders = (0..4)
        .map(|b| {
            (0..40)
                .map(|i| {
                    json!({
                        "external_id": format!("SO-{b}-{i}"),
                        "customer_external_id": keys[i % keys.len()],
                        "amount_cents": 100,
                        "product": "tea",
                    })
                })
                .collect()
        })
        .collect();
    all_at_once(&app, &admin, "/api/v1/transactions/bulk", orders, "created").await;
    let card = app
        .get(&format!("/api/v1/customers?q={}", keys[0]), &admin)
        .await;
    assert_eq!(card.body["items"][0]["purchase_count"], 8, "{}", card.text);
}

/// Sends the batches at once, every other one in reverse order, and expects
/// each item to end `status`.
async fn all_at_once(
    app: &TestApp,
    token: &str,
    url: &str,
    batches: Vec<Vec<Value>>,
    status: &str,
) {
    let bodies: Vec<Value> = batches
        .into_iter()
        .enumerate()
        .map(|(b, mut items)| {
            if b % 2 == 1 {
                items.reverse();
            }
            json!({ "items": items })
        })
        .collect();
    let rs = join_all(bodies.iter().map(|b| app.post(url, token, b))).await;
    for r in &rs {
        assert_eq!(r.status, 200, "{url}: {}", r.text);
        for item in r.body["items"].as_array().unwrap() {
            assert_eq!(item["status"], status, "{url}: {item}");
        }
    }
}

/// A review: two batches creating the same new keys in opposite orders
/// inserted them in item order, each waiting in the unique index on a key
/// the other had inserted: on PostgreSQL a deadlock, and the loser's whole
/// batch a 503. New cards are inserted in key order: the later batch waits
/// for the first and updates each card it created.
async fn bulk_batches_creating_the_same_cards_in_other_orders_all_apply(app: TestApp) {
    let admin = app.admin_token().await;
    for round in 0..3 {
        let keys: Vec<String> = (0..300).map(|i| format!("NEW-{round}-{i:03}")).collect();
        let item = |k: &String| json!({"external_id": k, "kind": "organization", "name": k});
        let forward: Vec<Value> = keys.iter().map(item).collect();
        let backward: Vec<Value> = keys.iter().rev().map(item).collect();
        let (forward, backward) = (json!({ "items": forward }), json!({ "items": backward }));
        let (a, b) = tokio::join!(
            app.post("/api/v1/customers/bulk", &admin, &forward),
            app.post("/api/v1/customers/bulk", &admin, &backward),
        );
        all_applied(&[a, b], &format!("round {round}"));
    }
}

/// A review: a batch naming a key twice goes item by item, and inserted its
/// new keys in item order; against a batch inserting them in key order (or
/// another such batch in another order) that was the same deadlock as above.
async fn bulk_batches_repeating_a_key_create_in_key_order_too(app: TestApp) {
    let admin = app.admin_token().await;
    for round in 0..3 {
        let keys: Vec<String> = (0..300).map(|i| format!("REP-{round}-{i:03}")).collect();
        let item = |k: &String, name: &str| json!({"external_id": k, "kind": "organization", "name": name});
        let forward: Vec<Value> = keys.iter().map(|k| item(k, "forward")).collect();
        let mut backward: Vec<Value> = keys.iter().rev().map(|k| item(k, "backward")).collect();
        // Its first item's key again: the whole batch goes item by item.
        backward.push(item(&keys[299], "backward again"));
        let mut forward_repeating = forward.clone();
        forward_repeating.push(item(&keys[0], "forward again"));
        for (a, b) in [(&backward, &forward), (&backward, &forward_repeating)] {
            let (a, b) = (json!({ "items": a }), json!({ "items": b }));
            let (a, b) = tokio::join!(
                app.post("/api/v1/customers/bulk", &admin, &a),
                app.post("/api/v1/customers/bulk", &admin, &b),
            );
            all_applied(&[a, b], &format!("round {round}"));
        }
        // Both repeating, creating new keys in opposite orders; and a CSV
        // file (which goes row by row as well) against a bulk batch.
        let fresh: Vec<String> = (0..300).map(|i| format!("REQ-{round}-{i:03}")).collect();
        let mut up: Vec<Value> = fresh.iter().map(|k| item(k, "up")).collect();
        up.push(item(&fresh[0], "up again"));
        let mut down: Vec<Value> = fresh.iter().rev().map(|k| item(k, "down")).collect();
        down.push(item(&fresh[299], "down again"));
        let (up, down) = (json!({ "items": up }), json!({ "items": down }));
        let (a, b) = tokio::join!(
            app.post("/api/v1/customers/bulk", &admin, &up),
            app.post("/api/v1/customers/bulk", &admin, &down),
        );
        all_applied(&[a, b], &format!("round {round}, both repeating"));
        let csv_keys: Vec<String> = (0..300).map(|i| format!("CSV-{round}-{i:03}")).collect();
        let mut file = String::from("external_id,kind,name\n");
        for k in csv_keys.iter().rev().chain([&csv_keys[299]]) {
            file.push_str(&format!("{k},organization,{k}\n"));
        }
        let ascending: Vec<Value> = csv_keys.iter().map(|k| item(k, "bulk")).collect();
        let ascending = json!({ "items": ascending });
        let (a, b) = tokio::join!(
            app.post_raw("/api/v1/customers/import", &admin, "text/csv", &file),
            app.post("/api/v1/customers/bulk", &admin, &ascending),
        );
        all_applied(&[a, b], &format!("round {round}, CSV"));
        // Every key has one card, which both batches wrote.
        let r = app
            .post(
                "/api/v1/customers/bulk",
                &admin,
                &json!({ "items": forward }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let ids: std::collections::HashSet<i64> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids.len(), 300, "round {round}: {}", r.text);
        // None was missing: the check creates nothing.
        for item in r.body["items"].as_array().unwrap() {
            assert_ne!(item["status"], "created", "round {round}: {item}");
        }
    }
}

/// A review: single creates share a transaction (a group, `db::group`) and
/// inserted their external ids in arrival order; a bulk batch inserting the
/// same new keys in key order could deadlock with the group on PostgreSQL,
/// a 503 for a create. Each create is a 201 or, the batch first, a 409.
async fn single_creates_and_a_batch_of_the_same_new_keys_all_answer(app: TestApp) {
    let admin = app.admin_token().await;
    for round in 0..3 {
        let keys: Vec<String> = (0..120).map(|i| format!("ONE-{round}-{i:03}")).collect();
        let body = |k: &String| json!({"external_id": k, "kind": "organization", "name": k});
        let singles: Vec<Value> = keys.iter().rev().map(body).collect();
        let batch = json!({ "items": keys.iter().map(body).collect::<Vec<Value>>() });
        let creates = join_all(
            singles
                .iter()
                .map(|b| app.post("/api/v1/customers", &admin, b)),
        );
        let (created, bulk) =
            tokio::join!(creates, app.post("/api/v1/customers/bulk", &admin, &batch));
        all_applied(std::slice::from_ref(&bulk), &format!("round {round}"));
        for r in &created {
            assert!(
                r.status == 201 || r.status == 409,
                "round {round}: {} {}",
                r.status,
                r.text
            );
        }
    }
}
