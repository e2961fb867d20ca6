//! The change feed: every write appears once, in commit order, resumable
//! from any cursor, also with concurrent writers in two instances.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    every_write_appears_in_order_with_its_state,
    types_filter_and_resume,
    query_rules,
    roles_that_may_read,
    pages_of_seven_during_two_concurrent_writers_in_two_instances,
    pages_of_two_types_during_two_concurrent_writers_in_two_instances,
    gapless_when_transactions_commit_out_of_order,
    expired_cursor_is_gone,
    head_is_where_the_feed_ends,
    failed_purge_is_retried_soon,
    a_cursor_saved_before_lists_were_named_still_reads,
    a_cursor_past_the_feeds_end_is_refused,
    a_position_no_cursor_holds_is_a_bad_cursor_not_gone,
    a_purge_between_the_check_and_the_read_is_seen,
    a_typed_cursor_expires_only_when_its_types_were_purged,
    segment_changes_reach_the_feed,
);

/// A feed cursor at a hand-made position, as the API encodes one.
pub fn feed_cursor(seq: i64, id: i64) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    URL_SAFE_NO_PAD.encode(json!({"l": "changes", "s": "changes", "k": seq, "id": id}).to_string())
}

/// Found by a review: a forged cursor before the feed's start (a negative
/// id) was a 410 "changes were purged, resync" on a feed that never purged
/// anything, where every other bad cursor is a 400. Only the start `(0, 0)`
/// and a change's own `(seq, id)` (both from 1) are positions of the feed;
/// the rest are bad cursors, on the feed (400) and in a replay (422).
async fn a_position_no_cursor_holds_is_a_bad_cursor_not_gone(app: TestApp) {
    let token = app.admin_token().await;
    let forged = [(0, -1), (-1, -1), (-5, 3), (0, 5), (3, 0), (3, -2), (-1, 0)];
    let hook = app
        .post(
            "/api/v1/webhooks",
            &token,
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["*"], "secret": "a webhook secret of length"}),
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let replay = format!("/api/v1/webhooks/{}/replay", hook.id());
    // Empty is refused, and told apart from a bad cursor (QA: `GET
    // /changes?after=` reads it as the start; a replay of everything is
    // `null`).
    let r = app.post(&replay, &token, &json!({"after": ""})).await;
    r.problem(422);
    assert!(
        r.text.contains("empty: send a change-feed cursor, or null"),
        "{}",
        r.text
    );
    // On an empty feed, then on one with changes.
    for round in 0..2 {
        if round == 1 {
            app.create_customer(&token, json!({"kind": "individual", "name": "One"}))
                .await;
        }
        for (seq, id) in forged {
            let cursor = feed_cursor(seq, id);
            let r = app
                .get(&format!("/api/v1/changes?after={cursor}"), &token)
                .await;
            r.problem(400);
            assert_eq!(
                r.error_codes(),
                vec![("after".to_string(), "invalid_value".to_string())],
                "({seq}, {id})"
            );
            let r = app.post(&replay, &token, &json!({"after": cursor})).await;
            r.problem(422);
            assert_eq!(
                r.error_codes(),
                vec![("after".to_string(), "invalid_value".to_string())],
                "({seq}, {id})"
            );
        }
        // The start is a cursor: it reads from the first change.
        let start = feed_cursor(0, 0);
        let r = app
            .get(&format!("/api/v1/changes?after={start}"), &token)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let read = r.body["items"].as_array().map_or(0, Vec::len);
        assert_eq!(read > 0, round == 1, "{}", r.text);
        let r = app.post(&replay, &token, &json!({"after": start})).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

/// A cursor beyond the newest change (another database's, a restored
/// backup's) is refused where it is given, by the feed (400) and by a
/// webhook's replay (422): taken, it skipped every change until the feed
/// caught up with it.
async fn a_cursor_past_the_feeds_end_is_refused(app: TestApp) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let token = app.admin_token().await;
    app.create_customer(&token, json!({"kind": "individual", "name": "One"}))
        .await;
    let head = app.get("/api/v1/changes/head", &token).await;
    let cursor = head.body["cursor"].as_str().unwrap_or_default().to_string();
    let mut ahead: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&cursor).unwrap_or_default())
            .unwrap_or_default();
    ahead["k"] = json!(ahead["k"].as_i64().unwrap_or(0) + 1000);
    let ahead = URL_SAFE_NO_PAD.encode(ahead.to_string());
    let at_head = app
        .get(&format!("/api/v1/changes?after={cursor}"), &token)
        .await;
    assert_eq!(
        at_head.status, 200,
        "the head itself reads: {}",
        at_head.text
    );
    let r = app
        .get(&format!("/api/v1/changes?after={ahead}"), &token)
        .await;
    r.problem(400);
    assert_eq!(
        r.error_codes(),
        vec![("after".to_string(), "past_the_end".to_string())]
    );
    let hook = app
        .post(
            "/api/v1/webhooks",
            &token,
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["*"], "secret": "a webhook secret of length"}),
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let replay = app
        .post(
            &format!("/api/v1/webhooks/{}/replay", hook.id()),
            &token,
            &json!({"after": ahead}),
        )
        .await;
    replay.problem(422);
    assert_eq!(
        replay.error_codes(),
        vec![("after".to_string(), "past_the_end".to_string())]
    );
}

/// Cursors now name their list; an integrator's change-feed cursor saved
/// before that (no list in it) must still resume the feed after an upgrade.
async fn a_cursor_saved_before_lists_were_named_still_reads(app: TestApp) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let token = app.admin_token().await;
    for name in ["One", "Two", "Three"] {
        app.create_customer(&token, json!({"kind": "individual", "name": name}))
            .await;
    }
    let first = app.get("/api/v1/changes?limit=1", &token).await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let mut old: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&cursor).unwrap()).unwrap();
    assert_eq!(old["l"], "changes", "{old}");
    old.as_object_mut().unwrap().remove("l");
    let legacy = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&old).unwrap());
    let now = app
        .get(&format!("/api/v1/changes?after={cursor}"), &token)
        .await;
    let then = app
        .get(&format!("/api/v1/changes?after={legacy}"), &token)
        .await;
    assert_eq!(then.status, 200, "{}", then.text);
    assert_eq!(then.body["items"], now.body["items"]);
    // The three cards' changes (and their funnel entries) after the first.
    assert!(
        now.body["items"].as_array().map_or(0, Vec::len) >= 2,
        "{}",
        now.text
    );
}

/// Reads the whole feed from `after` in pages of `limit`.
pub async fn read_all(
    app: &TestApp,
    token: &str,
    after: Option<&str>,
    extra: &str,
    limit: usize,
) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut cursor = after.map(String::from);
    loop {
        let mut path = format!("/api/v1/changes?limit={limit}{extra}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&after={c}"));
        }
        let r = app.get(&path, token).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.body["items"].as_array().cloned().unwrap_or_default();
        assert!(page.len() <= limit);
        items.extend(page);
        cursor = r.body["next_cursor"].as_str().map(String::from);
        if r.body["has_more"] != json!(true) {
            return (items, cursor.expect("next_cursor is always present"));
        }
    }
}

fn ops(items: &[Value]) -> Vec<(String, i64, String)> {
    items
        .iter()
        .map(|i| {
            (
                i["entity_type"].as_str().unwrap_or_default().to_string(),
                i["entity_id"].as_i64().unwrap_or_default(),
                i["operation"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn every_write_appears_in_order_with_its_state(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, start) = read_all(&app, &admin, None, "", 50).await;
    let c = app
        .create_customer(
            &admin,
            json!({"kind": "individual", "name": "张伟", "tags": ["vip"]}),
        )
        .await
        .id();
    let base = format!("/api/v1/customers/{c}");
    assert_eq!(
        app.patch(&base, &admin, &json!({"name": "张伟伟"}))
            .await
            .status,
        200
    );
    let contact = app
        .post(
            &format!("{base}/contacts"),
            &admin,
            &json!({"name": "王伟"}),
        )
        .await
        .id();
    assert_eq!(
        app.delete(&format!("{base}/contacts/{contact}"), &admin)
            .await
            .status,
        204
    );
    let tx = app
        .post(
            &format!("{base}/transactions"),
            &admin,
            &json!({"occurred_at": "2026-11-01T10:00:00Z", "amount_cents": 10000, "cost_cents": 4000, "product": "茶叶"}),
        )
        .await;
    assert_eq!(tx.status, 201, "{}", tx.text);
    let need = app
        .post(
            &format!("{base}/needs"),
            &admin,
            &json!({"kind": "actual", "description": "更快的交货"}),
        )
        .await;
    assert_eq!(need.status, 201, "{}", need.text);
    let interaction = app
        .post(
            &format!("{base}/interactions"),
            &admin,
            &json!({"type": "call", "occurred_at": "2026-11-02T10:00:00Z", "summary": "回访"}),
        )
        .await;
    assert_eq!(interaction.status, 201, "{}", interaction.text);
    assert_eq!(app.delete(&base, &admin).await.status, 204);
    assert_eq!(
        app.post(&format!("{base}/restore"), &admin, &json!({}))
            .await
            .status,
        200
    );

    let (items, _) = read_all(&app, &admin, Some(&start), "", 3).await;
    let seen = ops(&items);
    let expected = [
        ("customer", c, "created"),
        ("customer", c, "updated"),
        ("contact", contact, "created"),
        ("contact", contact, "deleted"),
        ("transaction", tx.id(), "created"),
        ("need", need.id(), "created"),
        ("interaction", interaction.id(), "created"),
        ("customer", c, "deleted"),
        ("customer", c, "restored"),
    ];
    // The expected changes appear in this order (stage changes interleave).
    let mut at = 0;
    for (t, id, op) in expected {
        let found = seen[at..]
            .iter()
            .position(|(st, sid, sop)| st == t && *sid == id && sop == op)
            .unwrap_or_else(|| panic!("{t} {id} {op} missing after position {at}: {seen:?}"));
        at += found + 1;
    }
    // A purchase moves the customer to the conversion stage: a stage change.
    assert!(
        items.iter().any(|i| i["entity_type"] == "stage_change"
            && i["data"]["customer_id"] == json!(c)
            && i["data"]["kind"] == "cpr_stage_changed"
            && i["data"]["to"] == "conversion"),
        "{items:?}"
    );
    // Data is the API representation as each change committed it.
    let created = &items[seen.iter().position(|s| s.0 == "customer").unwrap()];
    assert_eq!(created["data"]["name"], "张伟", "{created}");
    assert_eq!(created["data"]["tags"], json!(["vip"]));
    assert_eq!(created["data"]["version"], json!(1));
    let updated = items
        .iter()
        .find(|i| i["entity_type"] == "customer" && i["operation"] == "updated")
        .unwrap();
    assert_eq!(updated["data"]["name"], "张伟伟", "{updated}");
    assert_eq!(updated["version"], json!(2));
    let archived = items
        .iter()
        .find(|i| i["entity_type"] == "customer" && i["operation"] == "deleted")
        .unwrap();
    assert!(archived["data"]["archived_at"].is_string(), "{archived}");
    let tombstone = items
        .iter()
        .find(|i| i["entity_type"] == "contact" && i["operation"] == "deleted")
        .unwrap();
    assert_eq!(
        tombstone["data"],
        json!({"id": contact, "customer_id": c, "deleted": true})
    );
    assert_eq!(tombstone["version"], json!(2));
    let cursors: HashSet<&str> = items.iter().filter_map(|i| i["cursor"].as_str()).collect();
    assert_eq!(cursors.len(), items.len());
    assert!(items
        .iter()
        .all(|i| i["at"].is_string() && i["version"].is_i64()));
}

async fn types_filter_and_resume(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, start) = read_all(&app, &admin, None, "", 100).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let c = app
            .create_customer(
                &admin,
                json!({"kind": "individual", "name": format!("客户{n}")}),
            )
            .await
            .id();
        app.post(
            &format!("/api/v1/customers/{c}/contacts"),
            &admin,
            &json!({"name": "联系人"}),
        )
        .await;
        ids.push(c);
    }
    let (customers, _) = read_all(&app, &admin, Some(&start), "&types=customer", 2).await;
    assert_eq!(
        customers
            .iter()
            .map(|i| i["entity_id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        ids
    );
    let (both, _) = read_all(&app, &admin, Some(&start), "&types=contact,customer", 100).await;
    assert_eq!(both.len(), 10);
    // Resuming from the third customer's cursor gives exactly the ones after it.
    let third = customers[2]["cursor"].as_str().unwrap();
    let (rest, end) = read_all(&app, &admin, Some(third), "&types=customer", 7).await;
    assert_eq!(
        rest.iter()
            .map(|i| i["entity_id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        ids[3..]
    );
    // Caught up: an empty page that hands back the same cursor.
    let r = app
        .get(
            &format!("/api/v1/changes?after={end}&types=customer"),
            &admin,
        )
        .await;
    assert_eq!(r.body["items"], json!([]));
    assert_eq!(r.body["next_cursor"], json!(end));
    assert_eq!(r.body["has_more"], json!(false));
}

async fn query_rules(app: TestApp) {
    let admin = app.admin_token().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=x", "limit"),
        ("types=customers", "types"),
        ("types=,", "types"),
        ("types=", "types"),
        ("after=garbage!", "after"),
        // A cursor of another list is not a feed cursor.
        ("after=eyJzIjoiaWQiLCJrIjpudWxsLCJpZCI6MX0", "after"),
        ("bogus=1", "bogus"),
    ] {
        let r = app.get(&format!("/api/v1/changes?{query}"), &admin).await;
        r.problem(400);
        assert!(
            r.error_fields().contains(&field.to_string()),
            "{query}: {}",
            r.text
        );
    }
    // An unknown type is `invalid_value`, as any unknown value of a closed
    // list (it was `unknown_code`, a code nothing else answers).
    for query in ["types=bogus", "types=customer,bogus"] {
        let r = app.get(&format!("/api/v1/changes?{query}"), &admin).await;
        r.problem(400);
        assert_eq!(r.code_of("types"), "invalid_value", "{query}: {}", r.text);
    }
    let r = app
        .get("/api/v1/changes?limit=1000&types=need", &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn roles_that_may_read(app: TestApp) {
    for role in ["manager", "integration"] {
        let (_, token) = app.user_with_role(role).await;
        assert_eq!(
            app.get("/api/v1/changes", &token).await.status,
            200,
            "{role}"
        );
    }
    for role in ["sales", "viewer"] {
        let (_, token) = app.user_with_role(role).await;
        app.get("/api/v1/changes", &token).await.problem(403);
    }
    app.get("/api/v1/changes", "").await.problem(401);
}

async fn pages_of_seven_during_two_concurrent_writers_in_two_instances(app: TestApp) {
    concurrent_writers_read_in_pages(app, "customer").await;
}

/// Several types are read one statement per type and merged: a seal that
/// committed between two of them put its later-type change on the page
/// without its customer change, and the cursor moved past that one for
/// good (an outside review). Each create seals a customer change and the
/// card's first funnel stage.
async fn pages_of_two_types_during_two_concurrent_writers_in_two_instances(app: TestApp) {
    concurrent_writers_read_in_pages(app, "customer,stage_change").await;
}

async fn concurrent_writers_read_in_pages(app: TestApp, types: &str) {
    let admin = app.admin_token().await;
    let (_, start) = read_all(&app, &admin, None, "", 100).await;
    let other = app.start_another(|_| {}).await;
    const EACH: usize = 25;
    let writer = |address: String, tag: &'static str| {
        let client = app.client.clone();
        let token = admin.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..EACH {
                let r = client
                    .post(format!("{address}/api/v1/customers"))
                    .bearer_auth(&token)
                    .json(&json!({"kind": "individual", "name": format!("{tag}{n}")}))
                    .send()
                    .await
                    .expect("sent");
                assert_eq!(r.status().as_u16(), 201);
                let body: Value = r.json().await.expect("json");
                ids.push(body["id"].as_i64().expect("id"));
            }
            ids
        })
    };
    let a = writer(app.address.clone(), "甲");
    let b = writer(other.address.clone(), "乙");
    // Read in pages of 7 while they write, until both are done and caught up.
    let mut seen: Vec<i64> = Vec::new();
    let mut stages = 0;
    let mut cursor = start;
    let mut writers_done = false;
    loop {
        let r = app
            .get(
                &format!("/api/v1/changes?limit=7&types={types}&after={cursor}"),
                &admin,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.body["items"].as_array().cloned().unwrap_or_default();
        assert!(page.len() <= 7);
        stages += page
            .iter()
            .filter(|i| i["entity_type"] == "stage_change")
            .count();
        seen.extend(
            page.iter()
                .filter(|i| i["entity_type"] == "customer")
                .map(|i| i["entity_id"].as_i64().unwrap()),
        );
        cursor = r.body["next_cursor"].as_str().unwrap().to_string();
        if writers_done && page.is_empty() {
            break;
        }
        if a.is_finished() && b.is_finished() {
            writers_done = true;
        }
        if page.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let mut written = a.await.unwrap();
    let b_ids = b.await.unwrap();
    // Each writer's changes in its own order, every change exactly once.
    let pos = |id: &i64| seen.iter().position(|s| s == id).unwrap();
    assert!(written.windows(2).all(|w| pos(&w[0]) < pos(&w[1])));
    assert!(b_ids.windows(2).all(|w| pos(&w[0]) < pos(&w[1])));
    written.extend(b_ids);
    written.sort();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, written, "every change once");
    if types.contains("stage_change") {
        assert_eq!(stages, 2 * EACH, "every card's first stage once");
    }
    // Re-reading from the start gives the same sequence.
    let (again, _) = read_all(&app, &admin, None, &format!("&types={types}"), 7).await;
    let again: Vec<i64> = again
        .iter()
        .filter(|i| i["entity_type"] == "customer")
        .map(|i| i["entity_id"].as_i64().unwrap())
        .collect();
    assert_eq!(again, seen);
    other.stop().await;
}

/// A transaction that took its change row first but commits last must still
/// be read by a reader that already read the later-numbered one.
async fn gapless_when_transactions_commit_out_of_order(app: TestApp) {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let admin = app.admin_token().await;
    let other = app.start_another(|_| {}).await;
    let x = app
        .create_customer(&admin, json!({"kind": "individual", "name": "慢"}))
        .await
        .id();
    let (_, start) = read_all(&app, &admin, None, "", 100).await;
    // PostgreSQL: hold a conflicting tag insert open so that the PATCH of x
    // records its change and then waits. SQLite serializes writers, so
    // commits cannot reorder there; the same sequence still runs.
    let mut holder = match app.backend {
        Backend::Postgres => {
            let mut conn = diesel::PgConnection::establish(&app.database_url).unwrap();
            conn.batch_execute(&format!(
                "BEGIN; INSERT INTO customer_tags (customer_id, tag) VALUES ({x}, 'hold')"
            ))
            .unwrap();
            Some(conn)
        }
        Backend::Sqlite => None,
    };
    let slow = {
        let client = app.client.clone();
        let url = app.url(&format!("/api/v1/customers/{x}"));
        let token = admin.clone();
        tokio::spawn(async move {
            client
                .patch(url)
                .bearer_auth(token)
                .json(&json!({"name": "慢慢", "tags": ["hold"]}))
                .send()
                .await
                .expect("sent")
                .status()
                .as_u16()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Meanwhile the other instance commits a later change.
    let y = app
        .post_at(
            &other.address,
            "/api/v1/customers",
            &admin,
            &json!({"kind": "individual", "name": "快"}),
        )
        .await;
    assert_eq!(y.status, 201, "{}", y.text);
    let (first, cursor) = read_all(&app, &admin, Some(&start), "&types=customer", 7).await;
    let first_ids: Vec<i64> = first
        .iter()
        .map(|i| i["entity_id"].as_i64().unwrap())
        .collect();
    if app.backend == Backend::Postgres {
        assert_eq!(
            first_ids,
            vec![y.id()],
            "the held transaction is not visible yet"
        );
    }
    if let Some(conn) = holder.as_mut() {
        conn.batch_execute("ROLLBACK").unwrap();
    }
    assert_eq!(slow.await.unwrap(), 200);
    let (rest, _) = read_all(&app, &admin, Some(&cursor), "&types=customer", 7).await;
    let mut all = first_ids;
    all.extend(rest.iter().map(|i| i["entity_id"].as_i64().unwrap()));
    all.sort();
    assert_eq!(
        all,
        vec![x, y.id()],
        "the late commit is read after the cursor"
    );
    other.stop().await;
}

/// The status of reading after `cursor`, once it turns 410 (a purge removed
/// what it points to) or after about ten seconds.
pub async fn purged_soon(app: &TestApp, token: &str, cursor: &str) -> u16 {
    let mut status = 0;
    for _ in 0..100 {
        status = app
            .get(&format!("/api/v1/changes?after={cursor}"), token)
            .await
            .status;
        if status == 410 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    status
}

async fn expired_cursor_is_gone(app: TestApp) {
    let admin = app.admin_token().await;
    app.create_customer(&admin, json!({"kind": "individual", "name": "旧"}))
        .await;
    let (items, old) = read_all(&app, &admin, None, "", 100).await;
    assert!(!items.is_empty());
    let first = items[0]["cursor"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&format!("/api/v1/changes?after={old}"), &admin)
            .await
            .status,
        200
    );
    // An instance with zero days of retention purges everything at start.
    let purger = app
        .start_another(|c| {
            c.changes_retention_days = 0;
            c.changes_purge_secs = 1;
        })
        .await;
    assert_eq!(purged_soon(&app, &admin, &first).await, 410);
    let r = app
        .get(&format!("/api/v1/changes?after={first}"), &admin)
        .await;
    let problem = r.problem(410);
    assert!(problem["detail"].as_str().unwrap().contains("resync"));
    // So is the feed's start, behind the purge now.
    let start = feed_cursor(0, 0);
    app.get(&format!("/api/v1/changes?after={start}"), &admin)
        .await
        .problem(410);
    // The newest purged position itself is still a valid place to resume.
    assert_eq!(
        app.get(&format!("/api/v1/changes?after={old}"), &admin)
            .await
            .status,
        200
    );
    // Starting over without a cursor works, and the cursor it hands out
    // reads on (it was the feed's very start: a 410 at once, for ever).
    let r = app.get("/api/v1/changes", &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["items"], json!([]));
    let again = r.body["next_cursor"].as_str().unwrap_or_default();
    assert_eq!(again, old, "the purge position");
    let r = app
        .get(&format!("/api/v1/changes?after={again}"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    purger.stop().await;
}

async fn head_is_where_the_feed_ends(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, viewer) = app.user_with_role("viewer").await;
    app.get("/api/v1/changes/head", &viewer).await.problem(403);
    let empty = app.get("/api/v1/changes/head", &admin).await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    customer_named(&app, &admin, "头").await;
    let (_, end) = read_all(&app, &admin, None, "", 100).await;
    let head = app.get("/api/v1/changes/head", &admin).await;
    assert_eq!(head.body["cursor"], json!(end));
    assert_ne!(head.body["cursor"], empty.body["cursor"]);
    let c = customer_named(&app, &admin, "尾").await;
    let (after, _) = read_all(
        &app,
        &admin,
        head.body["cursor"].as_str(),
        "&types=customer",
        7,
    )
    .await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["entity_id"], json!(c));
}

async fn customer_named(app: &TestApp, token: &str, name: &str) -> i64 {
    app.create_customer(token, json!({"kind": "individual", "name": name}))
        .await
        .id()
}

/// A purge that failed is tried again after `PATRON_JOB_RETRY_SECS`, not a
/// whole period later. A trigger makes the purge's DELETE fail for a while.
async fn failed_purge_is_retried_soon(app: TestApp) {
    let admin = app.admin_token().await;
    app.create_customer(&admin, json!({"kind": "individual", "name": "锁"}))
        .await;
    let (items, _) = read_all(&app, &admin, None, "", 100).await;
    let first = items[0]["cursor"].as_str().unwrap().to_string();

    app.refuse_deletes("changes");
    // Zero days of retention: this instance's first purge, at start, would
    // remove everything; its next period is an hour away.
    let purger = app
        .start_another(|c| {
            c.changes_retention_days = 0;
            c.changes_purge_secs = 3600;
            c.job_retry_secs = 1;
        })
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        app.get(&format!("/api/v1/changes?after={first}"), &admin)
            .await
            .status,
        200,
        "nothing is purged while the trigger refuses"
    );
    app.allow_deletes("changes");
    assert_eq!(
        purged_soon(&app, &admin, &first).await,
        410,
        "the retry purged the old changes"
    );
    purger.stop().await;
}

/// Found by a review: the feed and the webhook worker checked the purge
/// position, then read a page. A purge committing in between deleted rows
/// after the reader's cursor, and the page without them was a 200 (a webhook
/// delivered on past the gap). `page_retained` reads the position again after
/// the page. A purge cannot be made to land between two statements of a
/// request, so this calls the steps in order with the purge between them.
async fn a_purge_between_the_check_and_the_read_is_seen(app: TestApp) {
    use patron::db::changes::{self, Position};
    let admin = app.admin_token().await;
    let old = customer_named(&app, &admin, "Aged").await;
    // Its changes are past any retention; the next customer's are not.
    app.execute_sql("UPDATE changes SET at = '2001-01-01 00:00:00'");
    let kept = customer_named(&app, &admin, "Kept").await;
    let cutoff = chrono::NaiveDate::from_ymd_opt(2002, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap();
    let db = app.open_db(1, 5).await;
    let (gap, read) = db
        .run(move |conn| {
            let start = Position::default();
            // The reader's check passes: nothing was purged yet.
            assert!(start >= changes::purged_through(conn)?);
            assert!(changes::purge(conn, cutoff)? > 0);
            // The plain read: the aged customer's changes are missing, and
            // nothing says so.
            let gap = changes::page(conn, start, &[], 100)?;
            let read = changes::page_retained(conn, start, &[], 100)?;
            Ok((gap, read))
        })
        .await
        .unwrap();
    let ids: Vec<i64> = gap.iter().map(|r| r.entity_id).collect();
    assert!(ids.contains(&kept) && !ids.contains(&old), "{ids:?}");
    assert!(read.is_none(), "the purge went unnoticed: {read:?}");
}

async fn need_for(app: &TestApp, token: &str, customer: i64) -> i64 {
    let r = app
        .post(
            &format!("/api/v1/customers/{customer}/needs"),
            token,
            &json!({"kind": "actual", "description": "Tea every month"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.id()
}

fn entities(items: &[Value]) -> Vec<(String, i64)> {
    ops(items).into_iter().map(|(t, id, _)| (t, id)).collect()
}

/// Found by a review: a cursor read with `types` stays at its types' last
/// change (so it may be read on with other types), and the purge position
/// was one over all types: a poller of a rare type got a 410 and had to
/// resync once the changes of other types after its cursor aged out, though
/// none of its own was missing. The purge now keeps a position per type.
async fn a_typed_cursor_expires_only_when_its_types_were_purged(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, before_need) = read_all(&app, &admin, None, "&types=need", 100).await;
    let customer = customer_named(&app, &admin, "Rare").await;
    let first_need = need_for(&app, &admin, customer).await;
    let (needs, at_need) = read_all(&app, &admin, Some(&before_need), "&types=need", 100).await;
    assert_eq!(entities(&needs), vec![("need".into(), first_need)]);
    for n in 0..3 {
        customer_named(&app, &admin, &format!("Busy {n}")).await;
    }
    let purged = purge_everything_so_far(&app).await;
    assert!(purged > 4, "{purged}");
    let read = |after: String, types: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            app.get(&format!("/api/v1/changes?after={after}{types}"), admin)
                .await
        }
    };
    // No need after the need cursor was purged: it reads on.
    let r = read(at_need.clone(), "&types=need").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"], json!([]));
    // Customers after it were: read with them, or with every type, it is gone.
    read(at_need.clone(), "&types=customer").await.problem(410);
    read(at_need.clone(), "&types=need,customer")
        .await
        .problem(410);
    read(at_need.clone(), "").await.problem(410);
    // A cursor before the purged need is gone for needs too.
    read(before_need.clone(), "&types=need").await.problem(410);

    // Several types are merged in feed order, also across pages.
    let (_, head) = read_all(&app, &admin, None, "", 100).await;
    let k1 = customer_named(&app, &admin, "After 1").await;
    let n2 = need_for(&app, &admin, k1).await;
    let k2 = customer_named(&app, &admin, "After 2").await;
    let n3 = need_for(&app, &admin, k2).await;
    let want = vec![
        ("customer".to_string(), k1),
        ("need".to_string(), n2),
        ("customer".to_string(), k2),
        ("need".to_string(), n3),
    ];
    for limit in [1, 3, 100] {
        let (both, _) = read_all(&app, &admin, Some(&head), "&types=need,customer", limit).await;
        assert_eq!(entities(&both), want, "pages of {limit}");
    }
    let (needs, _) = read_all(&app, &admin, Some(&at_need), "&types=need", 1).await;
    assert_eq!(
        entities(&needs),
        vec![("need".to_string(), n2), ("need".to_string(), n3)]
    );
}

/// Found by a review: segments (created, renamed, re-ruled, their members
/// changed, deleted) never reached the feed, so an integrator mirroring
/// marketing lists had to poll, and never saw a delete.
async fn segment_changes_reach_the_feed(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, start) = read_all(&app, &admin, None, "", 100).await;
    let a = customer_named(&app, &admin, "Member A").await;
    let b = customer_named(&app, &admin, "Member B").await;
    let created = app
        .post(
            "/api/v1/segments",
            &admin,
            &json!({"name": "Tea lovers", "kind": "static", "member_ids": [a]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.id();
    let added = app
        .post(
            &format!("/api/v1/segments/{id}/members"),
            &admin,
            &json!({"customer_ids": [b]}),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.text);
    let removed = app
        .delete(&format!("/api/v1/segments/{id}/members/{a}"), &admin)
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text);
    let renamed = app
        .patch(
            &format!("/api/v1/segments/{id}"),
            &admin,
            &json!({"name": "Green tea lovers"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    let dynamic = app
        .post(
            "/api/v1/segments",
            &admin,
            &json!({"name": "Hangzhou", "kind": "dynamic",
                    "rule": {"field": "region", "op": "eq", "value": "Hangzhou"}}),
        )
        .await
        .id();
    let gone = app.delete(&format!("/api/v1/segments/{id}"), &admin).await;
    assert_eq!(gone.status, 204, "{}", gone.text);

    let (items, _) = read_all(&app, &admin, Some(&start), "&types=segment", 2).await;
    assert_eq!(
        ops(&items),
        vec![
            ("segment".into(), id, "created".into()),
            ("segment".into(), id, "updated".into()),
            ("segment".into(), id, "updated".into()),
            ("segment".into(), id, "updated".into()),
            ("segment".into(), dynamic, "created".into()),
            ("segment".into(), id, "deleted".into()),
        ]
    );
    let versions: Vec<i64> = items
        .iter()
        .map(|i| i["version"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(versions, vec![1, 2, 3, 4, 1, 5]);
    // The definition as the write left it, without the figures a read counts.
    assert_eq!(items[3]["data"]["name"], json!("Green tea lovers"));
    assert_eq!(items[3]["data"]["version"], json!(4));
    assert!(items[3]["data"].get("count").is_none(), "{}", items[3]);
    assert_eq!(
        items[4]["data"]["rule"],
        json!({"field": "region", "op": "eq", "value": "Hangzhou"})
    );
    assert_eq!(items[5]["data"]["deleted"], json!(true));
    // Webhooks take segment events too.
    let hook = app
        .post(
            "/api/v1/webhooks",
            &admin,
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["segment.*"],
                    "secret": "a-secret-of-16-chars"}),
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
}

/// Dates every change so far past any retention and runs the purge, as the
/// hourly job would: how many changes it removed.
pub async fn purge_everything_so_far(app: &TestApp) -> usize {
    use patron::db::changes;
    app.execute_sql("UPDATE changes SET at = '2001-01-01 00:00:00'");
    let cutoff = chrono::NaiveDate::from_ymd_opt(2002, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a date");
    let db = app.open_db(1, 5).await;
    db.run(move |conn| Ok(changes::purge(conn, cutoff)?))
        .await
        .expect("the purge")
}
