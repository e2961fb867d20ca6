//! `/customers/{id}/timeline`: one newest-first feed of interactions,
//! transactions and events (stage and grade changes, need conversions),
//! filtered by `types`, walked by cursor without losses or repeats — also
//! across entries of different types at the same instant.

use std::collections::HashSet;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

backend_tests!(
    timeline_mixes_interactions_transactions_and_events_newest_first,
    timeline_holds_exactly_what_the_sources_hold,
    types_filter_selects_the_sources,
    walking_pages_returns_every_entry_once_even_at_the_same_instant,
    walking_while_inserting_loses_and_repeats_nothing,
    bad_parameters_are_400,
    unknown_customer_is_404_and_a_token_is_needed,
);

fn timeline(id: i64) -> String {
    format!("/api/v1/customers/{id}/timeline")
}

/// URL-encodes one query value.
fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn instant(v: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")))
        .unwrap()
}

/// An RFC 3339 instant `hours` hours before now, whole seconds.
fn hours_ago(hours: i64) -> String {
    (Utc::now() - Duration::hours(hours))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The identity of a timeline entry: its type and the id of its record.
fn key(entry: &Value) -> (String, i64) {
    let kind = entry["type"].as_str().unwrap_or_default().to_string();
    let id = entry[kind.as_str()]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no {kind} in {entry}"));
    (kind, id)
}

fn keys(entries: &[Value]) -> Vec<(String, i64)> {
    entries.iter().map(key).collect()
}

fn k(kind: &str, id: i64) -> (String, i64) {
    (kind.to_string(), id)
}

/// Checks the shape of one entry: `type` names the one record that is set,
/// and `at` is the record's own time.
fn assert_entry_shape(entry: &Value) {
    let kind = entry["type"].as_str().unwrap_or_default();
    assert!(
        ["interaction", "transaction", "event"].contains(&kind),
        "bad type in {entry}"
    );
    for other in ["interaction", "transaction", "event"] {
        if other == kind {
            assert!(entry[other].is_object(), "{other} missing in {entry}");
        } else {
            assert!(
                entry[other].is_null(),
                "{other} set in a {kind} entry: {entry}"
            );
        }
    }
    let own_time = match kind {
        "event" => &entry["event"]["at"],
        _ => &entry[kind]["occurred_at"],
    };
    assert_eq!(instant(&entry["at"]), instant(own_time), "{entry}");
}

async fn page(app: &TestApp, token: &str, url: &str) -> Resp {
    let r = app.get(url, token).await;
    assert_eq!(r.status, 200, "{url}: {}", r.text);
    r
}

/// The whole feed in one page.
async fn full(app: &TestApp, token: &str, id: i64, types: Option<&str>) -> Vec<Value> {
    let mut url = format!("{}?limit=500", timeline(id));
    if let Some(t) = types {
        url.push_str(&format!("&types={}", enc(t)));
    }
    let r = page(app, token, &url).await;
    assert!(r.body["next_cursor"].is_null(), "{}", r.text);
    let items = r.body["items"].as_array().unwrap().clone();
    for item in &items {
        assert_entry_shape(item);
    }
    // Newest first.
    for w in items.windows(2) {
        assert!(
            instant(&w[0]["at"]) >= instant(&w[1]["at"]),
            "out of order: {} then {}",
            w[0],
            w[1]
        );
    }
    items
}

/// Walks the feed in pages of `limit`; `insert_after_first_page` (a path
/// and a body to POST there) runs after the first page.
async fn walk(
    app: &TestApp,
    token: &str,
    id: i64,
    types: Option<&str>,
    limit: usize,
    insert_after_first_page: Option<(&str, Value)>,
) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!("{}?limit={limit}", timeline(id));
        if let Some(t) = types {
            url.push_str(&format!("&types={}", enc(t)));
        }
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={}", enc(c)));
        }
        let r = page(app, token, &url).await;
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= limit, "{}", r.text);
        seen.extend(items.iter().cloned());
        pages += 1;
        assert!(pages <= 200, "the walk does not end");
        if pages == 1 {
            if let Some((path, body)) = &insert_after_first_page {
                let r = app.post(path, token, body).await;
                assert_eq!(r.status, 201, "{}", r.text);
            }
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    seen
}

async fn customer(app: &TestApp, token: &str) -> i64 {
    app.create_customer(
        token,
        json!({"kind": "organization", "name": "Timeline Co"}),
    )
    .await
    .id()
}

async fn interaction(app: &TestApp, token: &str, c: i64, occurred_at: Option<&str>) -> i64 {
    let mut body = json!({"type": "visit", "summary": "Showed the catalogue"});
    if let Some(at) = occurred_at {
        body["occurred_at"] = json!(at);
    }
    let r = app
        .post(&format!("/api/v1/customers/{c}/interactions"), token, &body)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.id()
}

async fn transaction(app: &TestApp, token: &str, c: i64, occurred_at: Option<&str>) -> i64 {
    let mut body = json!({"amount_cents": 5000, "cost_cents": 3000, "product": "Tea"});
    if let Some(at) = occurred_at {
        body["occurred_at"] = json!(at);
    }
    let r = app
        .post(&format!("/api/v1/customers/{c}/transactions"), token, &body)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.id()
}

async fn patch_card(app: &TestApp, token: &str, c: i64, body: Value) {
    let r = app
        .patch(&format!("/api/v1/customers/{c}"), token, &body)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Every id of a customer's sub-resource list.
async fn source_ids(app: &TestApp, token: &str, path: &str) -> Vec<i64> {
    let r = page(app, token, &format!("{path}?limit=500")).await;
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_i64().unwrap())
        .collect()
}

/// What the timeline must hold: every interaction, transaction and event.
async fn expected_keys(app: &TestApp, token: &str, c: i64) -> HashSet<(String, i64)> {
    let mut all = HashSet::new();
    for (kind, path) in [
        ("interaction", format!("/api/v1/customers/{c}/interactions")),
        ("transaction", format!("/api/v1/customers/{c}/transactions")),
        ("event", format!("/api/v1/customers/{c}/history")),
    ] {
        for id in source_ids(app, token, &path).await {
            all.insert(k(kind, id));
        }
    }
    all
}

async fn timeline_mixes_interactions_transactions_and_events_newest_first(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin).await;
    // Known, distinct past instants, alternating types.
    let i10 = interaction(&app, &admin, c, Some(&hours_ago(10))).await;
    let t9 = transaction(&app, &admin, c, Some(&hours_ago(9))).await;
    let i6 = interaction(&app, &admin, c, Some(&hours_ago(6))).await;
    let t4 = transaction(&app, &admin, c, Some(&hours_ago(4))).await;
    let i2 = interaction(&app, &admin, c, Some(&hours_ago(2))).await;
    // And a stage change now, with a need conversion after it.
    patch_card(
        &app,
        &admin,
        c,
        json!({"funnel_stage": "prospect", "prospect_grade": "A", "change_reason": "Met the buyer"}),
    )
    .await;
    let need = app
        .post(
            &format!("/api/v1/customers/{c}/needs"),
            &admin,
            &json!({"kind": "latent", "latent_type": "unfamiliar_with_product", "description": "New range"}),
        )
        .await;
    assert_eq!(need.status, 201, "{}", need.text);
    let r = app
        .patch(
            &format!("/api/v1/customers/{c}/needs/{}", need.id()),
            &admin,
            &json!({"kind": "actual", "change_reason": "Tasted the samples"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let items = full(&app, &admin, c, None).await;
    let kinds: HashSet<&str> = items.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        kinds,
        HashSet::from(["interaction", "transaction", "event"])
    );

    // The past records, newest first, after every event (all made now).
    let past: Vec<(String, i64)> = keys(&items)
        .into_iter()
        .filter(|(kind, _)| kind != "event")
        .collect();
    assert_eq!(
        past,
        vec![
            k("interaction", i2),
            k("transaction", t4),
            k("interaction", i6),
            k("transaction", t9),
            k("interaction", i10),
        ]
    );
    let first_past = items
        .iter()
        .position(|e| e["type"] != json!("event"))
        .unwrap();
    assert!(
        items[first_past..]
            .iter()
            .all(|e| e["type"] != json!("event")),
        "events are newer than every past record"
    );

    // The events: the conversion is the newest, then the stage and grade
    // changes, then the creation's stage event.
    let events: Vec<&Value> = items
        .iter()
        .filter(|e| e["type"] == json!("event"))
        .map(|e| &e["event"])
        .collect();
    let of_kind = |kind: &str| -> Vec<&Value> {
        events
            .iter()
            .copied()
            .filter(|e| e["kind"] == json!(kind))
            .collect()
    };
    let conversions = of_kind("need_converted");
    assert_eq!(conversions.len(), 1);
    assert_eq!(conversions[0]["from"], json!("latent"));
    assert_eq!(conversions[0]["to"], json!("actual"));
    assert_eq!(conversions[0]["subject_id"], json!(need.id()));
    assert_eq!(conversions[0]["reason"], json!("Tasted the samples"));
    let stages = of_kind("funnel_stage_changed");
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[0]["from"], json!("lead"));
    assert_eq!(stages[0]["to"], json!("prospect"));
    assert_eq!(stages[0]["reason"], json!("Met the buyer"));
    assert_eq!(stages[1]["from"], Value::Null);
    assert_eq!(stages[1]["to"], json!("lead"));
    let grades = of_kind("prospect_grade_changed");
    assert_eq!(grades.len(), 1);
    assert_eq!(grades[0]["to"], json!("A"));
    let pos = |e: &Value| events.iter().position(|x| x["id"] == e["id"]).unwrap();
    assert!(pos(conversions[0]) < pos(stages[0]));
    assert!(pos(stages[0]) < pos(stages[1]));
    assert!(pos(grades[0]) < pos(stages[1]));

    // The records are the full views.
    let t = items
        .iter()
        .find(|e| key(e) == k("transaction", t4))
        .unwrap();
    assert_eq!(t["transaction"]["profit_cents"], json!(2000));
    assert_eq!(t["transaction"]["customer_id"], json!(c));
    let i = items
        .iter()
        .find(|e| key(e) == k("interaction", i2))
        .unwrap();
    assert_eq!(i["interaction"]["type"], json!("visit"));
    assert_eq!(i["interaction"]["summary"], json!("Showed the catalogue"));

    // Records made now interleave with the events by time.
    let t_now = transaction(&app, &admin, c, None).await;
    patch_card(&app, &admin, c, json!({"funnel_stage": "key"})).await;
    let i_now = interaction(&app, &admin, c, None).await;
    let items = full(&app, &admin, c, None).await;
    let ks = keys(&items);
    let at = |x: &(String, i64)| ks.iter().position(|y| y == x).unwrap();
    let key_event = items
        .iter()
        .find(|e| e["event"]["to"] == json!("key"))
        .map(key)
        .unwrap();
    assert_eq!(ks[0], k("interaction", i_now));
    assert!(at(&k("interaction", i_now)) < at(&key_event));
    assert!(at(&key_event) < at(&k("transaction", t_now)));
    assert!(at(&k("transaction", t_now)) < at(&k("interaction", i2)));
    let conversion_key = k("event", conversions[0]["id"].as_i64().unwrap());
    assert!(at(&k("transaction", t_now)) < at(&conversion_key));
}

async fn timeline_holds_exactly_what_the_sources_hold(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin).await;
    let other = customer(&app, &admin).await;
    for h in [30, 20, 10] {
        interaction(&app, &admin, c, Some(&hours_ago(h))).await;
        transaction(&app, &admin, c, Some(&hours_ago(h + 1))).await;
        interaction(&app, &admin, other, Some(&hours_ago(h))).await;
    }
    patch_card(&app, &admin, c, json!({"funnel_stage": "ordinary"})).await;
    patch_card(&app, &admin, other, json!({"funnel_stage": "ordinary"})).await;

    let items = full(&app, &admin, c, None).await;
    let got: Vec<(String, i64)> = keys(&items);
    let unique: HashSet<(String, i64)> = got.iter().cloned().collect();
    assert_eq!(unique.len(), got.len(), "no entry twice");
    assert_eq!(unique, expected_keys(&app, &admin, c).await);
    assert!(items.iter().all(|e| {
        let kind = e["type"].as_str().unwrap();
        e[kind]["customer_id"] == json!(c)
    }));
    // The default page size is 50 and the limit is honoured.
    let r = page(&app, &admin, &format!("{}?limit=3", timeline(c))).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 3);
    assert!(r.body["next_cursor"].is_string());
    assert_eq!(keys(r.body["items"].as_array().unwrap()), got[..3].to_vec());
}

async fn types_filter_selects_the_sources(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin).await;
    let i1 = interaction(&app, &admin, c, Some(&hours_ago(5))).await;
    let t1 = transaction(&app, &admin, c, Some(&hours_ago(4))).await;
    let i2 = interaction(&app, &admin, c, Some(&hours_ago(3))).await;
    patch_card(&app, &admin, c, json!({"funnel_stage": "prospect"})).await;

    let both = full(&app, &admin, c, Some("interaction,transaction")).await;
    assert_eq!(
        keys(&both),
        vec![
            k("interaction", i2),
            k("transaction", t1),
            k("interaction", i1)
        ]
    );
    // Order, spaces and repeats in the list do not matter.
    for types in [
        "transaction,interaction",
        " interaction , transaction ",
        "interaction,transaction,interaction",
    ] {
        assert_eq!(
            keys(&full(&app, &admin, c, Some(types)).await),
            keys(&both),
            "{types}"
        );
    }
    assert_eq!(
        keys(&full(&app, &admin, c, Some("interaction")).await),
        vec![k("interaction", i2), k("interaction", i1)]
    );
    assert_eq!(
        keys(&full(&app, &admin, c, Some("transaction")).await),
        vec![k("transaction", t1)]
    );
    let events = full(&app, &admin, c, Some("event")).await;
    assert!(events.iter().all(|e| e["type"] == json!("event")));
    let stage_moves: Vec<(Value, Value)> = events
        .iter()
        .filter(|e| e["event"]["kind"] == json!("funnel_stage_changed"))
        .map(|e| (e["event"]["from"].clone(), e["event"]["to"].clone()))
        .collect();
    assert_eq!(
        stage_moves,
        vec![
            (json!("lead"), json!("prospect")),
            (Value::Null, json!("lead"))
        ]
    );
    // All three types is the same as no filter.
    assert_eq!(
        keys(&full(&app, &admin, c, Some("event,transaction,interaction")).await),
        keys(&full(&app, &admin, c, None).await)
    );
}

async fn walking_pages_returns_every_entry_once_even_at_the_same_instant(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin).await;
    // Interactions and transactions at the very same instants.
    let same = hours_ago(6);
    let other_same = hours_ago(3);
    for _ in 0..2 {
        interaction(&app, &admin, c, Some(&same)).await;
        transaction(&app, &admin, c, Some(&same)).await;
    }
    transaction(&app, &admin, c, Some(&other_same)).await;
    interaction(&app, &admin, c, Some(&other_same)).await;
    interaction(&app, &admin, c, Some(&hours_ago(8))).await;
    transaction(&app, &admin, c, Some(&hours_ago(1))).await;
    // Stage and grade changes made in one PATCH share their instant too.
    patch_card(
        &app,
        &admin,
        c,
        json!({"funnel_stage": "prospect", "prospect_grade": "B"}),
    )
    .await;
    patch_card(
        &app,
        &admin,
        c,
        json!({"funnel_stage": "ordinary", "prospect_grade": "A"}),
    )
    .await;

    for types in [None, Some("interaction,transaction"), Some("event")] {
        let everything = full(&app, &admin, c, types).await;
        for limit in [1, 2, 3] {
            let walked = walk(&app, &admin, c, types, limit, None).await;
            assert_eq!(
                keys(&walked),
                keys(&everything),
                "walk of {types:?} by {limit}"
            );
        }
    }
    let everything = full(&app, &admin, c, None).await;
    assert_eq!(
        keys(&everything).into_iter().collect::<HashSet<_>>(),
        expected_keys(&app, &admin, c).await
    );
    // The same-instant entries are all there, of both types.
    let at_same: Vec<&Value> = everything
        .iter()
        .filter(|e| instant(&e["at"]) == DateTime::parse_from_rfc3339(&same).unwrap())
        .collect();
    assert_eq!(at_same.len(), 4);
    assert_eq!(
        at_same
            .iter()
            .filter(|e| e["type"] == json!("interaction"))
            .count(),
        2
    );
}

async fn walking_while_inserting_loses_and_repeats_nothing(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin).await;
    let same = hours_ago(5);
    for h in [9, 7] {
        interaction(&app, &admin, c, Some(&hours_ago(h))).await;
        transaction(&app, &admin, c, Some(&hours_ago(h))).await;
    }
    interaction(&app, &admin, c, Some(&same)).await;
    transaction(&app, &admin, c, Some(&same)).await;
    transaction(&app, &admin, c, Some(&hours_ago(2))).await;

    let interactions = format!("/api/v1/customers/{c}/interactions");
    let transactions = format!("/api/v1/customers/{c}/transactions");
    let inserts = [
        // Newer than everything: not in this walk, but nothing shifts.
        (
            interactions.clone(),
            json!({"type": "call", "summary": "New call"}),
        ),
        // Older than everything: shows up at the end.
        (
            transactions.clone(),
            json!({"amount_cents": 1, "product": "Tea", "occurred_at": hours_ago(20)}),
        ),
        // At an instant already seen, and one not yet reached.
        (
            transactions.clone(),
            json!({"amount_cents": 1, "product": "Tea", "occurred_at": same}),
        ),
        (
            interactions.clone(),
            json!({"type": "visit", "summary": "Same time", "occurred_at": same}),
        ),
    ];
    for (path, body) in inserts {
        let before = keys(&full(&app, &admin, c, None).await);
        let walked = keys(&walk(&app, &admin, c, None, 2, Some((&path, body))).await);
        let unique: HashSet<_> = walked.iter().cloned().collect();
        assert_eq!(unique.len(), walked.len(), "repeated entries: {walked:?}");
        for entry in &before {
            assert!(walked.contains(entry), "{entry:?} lost: {walked:?}");
        }
        // The walk keeps the feed's order.
        let after = keys(&full(&app, &admin, c, None).await);
        let in_order: Vec<_> = after
            .iter()
            .filter(|e| unique.contains(e))
            .cloned()
            .collect();
        assert_eq!(walked, in_order);
        assert!(walked.len() <= before.len() + 1);
    }
}

async fn bad_parameters_are_400(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin).await;
    interaction(&app, &admin, c, Some(&hours_ago(3))).await;
    transaction(&app, &admin, c, Some(&hours_ago(2))).await;
    interaction(&app, &admin, c, Some(&hours_ago(1))).await;

    let bad = |r: &Resp, field: &str| {
        r.problem(400);
        assert!(
            r.error_fields().iter().any(|f| f == field) || r.text.contains(&format!("`{field}`")),
            "expected {field} in {}",
            r.text
        );
    };
    for query in [
        "types=calls",
        "types=interaction,calls",
        "types=Interaction",
        "types=",
        "types=,",
    ] {
        let r = app.get(&format!("{}?{query}", timeline(c)), &admin).await;
        bad(&r, "types");
    }
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=two", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("sort=at", "sort"),
    ] {
        let r = app.get(&format!("{}?{query}", timeline(c)), &admin).await;
        bad(&r, field);
    }

    // A cursor belongs to the types filter it was made for.
    let r = page(
        &app,
        &admin,
        &format!("{}?limit=1&types=interaction,transaction", timeline(c)),
    )
    .await;
    let cursor = r.body["next_cursor"].as_str().unwrap().to_string();
    for other in ["&types=interaction", "&types=transaction,event", ""] {
        let r = app
            .get(
                &format!("{}?limit=1&cursor={}{other}", timeline(c), enc(&cursor)),
                &admin,
            )
            .await;
        bad(&r, "cursor");
        // Its words say filters, not only the order (a QA review).
        let message = r.body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("other filters"), "{}", r.text);
    }
    // The same filter, written differently, accepts it.
    let r = app
        .get(
            &format!(
                "{}?limit=1&cursor={}&types=transaction,interaction",
                timeline(c),
                enc(&cursor)
            ),
            &admin,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Cursors of other lists are not timeline cursors.
    let foreign = page(
        &app,
        &admin,
        &format!("/api/v1/customers/{c}/transactions?limit=1&sort=id"),
    )
    .await;
    if let Some(foreign) = foreign.body["next_cursor"].as_str() {
        let r = app
            .get(&format!("{}?cursor={}", timeline(c), enc(foreign)), &admin)
            .await;
        bad(&r, "cursor");
    }
}

async fn unknown_customer_is_404_and_a_token_is_needed(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, viewer) = app.user_with_role("viewer").await;
    let c = customer(&app, &admin).await;
    app.get(&timeline(999_999), &admin).await.problem(404);
    app.get("/api/v1/customers/abc/timeline", &admin)
        .await
        .problem(404);
    app.get(&timeline(c), "").await.problem(401);
    app.get(&timeline(c), "not-a-token").await.problem(401);
    // Every role reads it.
    let r = page(&app, &viewer, &timeline(c)).await;
    assert!(r.body["items"].is_array());
    assert!(r.body["next_cursor"].is_null());
}
