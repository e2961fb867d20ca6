//! Edits of one card and its records sent at once. On SQLite they are
//! committed in groups (several requests' writes in one transaction, each in
//! a savepoint): a stale `If-Match`, a second delete or a replayed
//! `Idempotency-Key` fails or replays alone, and what was answered 2xx is
//! there once, in the records and in the change feed.

use serde_json::json;

use crate::backend_tests;
use crate::changes::read_all;
use crate::helpers::{Resp, TestApp};

backend_tests!(
    concurrent_edits_of_one_card_each_apply_once,
    concurrent_creates_with_one_taken_external_id_each_apply_once
);

/// At once: 6 PATCHes of the card with the same `If-Match` (one wins), 6
/// contact creates, 5 sends of one more contact under one `Idempotency-Key`,
/// two deletes of one need and 3 PATCHes of another need with the same
/// `If-Match`.
async fn concurrent_edits_of_one_card_each_apply_once(app: TestApp) {
    let admin = app.admin_token().await;
    let created = app
        .create_customer(&admin, json!({"kind": "organization", "name": "Busy Ltd"}))
        .await;
    let c = created.id();
    let etag = created.header("etag").unwrap_or_default();
    let needs_url = format!("/api/v1/customers/{c}/needs");
    let mut needs = Vec::new();
    for i in 0..3 {
        let r = app
            .post(
                &needs_url,
                &admin,
                &json!({"kind": "actual", "description": format!("Need {i}")}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        needs.push((r.id(), r.header("etag").unwrap_or_default()));
    }
    let (_, start) = read_all(&app, &admin, None, "&types=customer,contact,need", 100).await;

    let card_url = format!("/api/v1/customers/{c}");
    let contacts_url = format!("{card_url}/contacts");
    let (deleted_need, patched_need) = (needs[0].0, &needs[1]);
    let deleted_url = format!("{needs_url}/{deleted_need}");
    let patched_url = format!("{needs_url}/{}", patched_need.0);
    let names: Vec<_> = (0..6)
        .map(|i| json!({"name": format!("Busy {i}")}))
        .collect();
    let contact_bodies: Vec<_> = (0..6)
        .map(|i| json!({"name": format!("Contact {i}")}))
        .collect();
    let need_bodies: Vec<_> = (0..3)
        .map(|i| json!({"description": format!("Edited {i}")}))
        .collect();
    let card_patches = names
        .iter()
        .map(|b| app.patch_if_match(&card_url, &admin, &etag, b));
    let contact_creates = contact_bodies
        .iter()
        .map(|b| app.post(&contacts_url, &admin, b));
    let keyed = (0..5).map(|_| {
        app.send(
            app.client
                .post(app.url(&contacts_url))
                .bearer_auth(&admin)
                .header("Idempotency-Key", "one-more-contact")
                .json(&json!({"name": "Keyed"})),
        )
    });
    let need_deletes = (0..2).map(|_| app.delete(&deleted_url, &admin));
    let need_patches = need_bodies
        .iter()
        .map(|b| app.patch_if_match(&patched_url, &admin, &patched_need.1, b));
    let (patched, contacts, keyed, deletes, need_edits) = tokio::join!(
        futures_util::future::join_all(card_patches),
        futures_util::future::join_all(contact_creates),
        futures_util::future::join_all(keyed),
        futures_util::future::join_all(need_deletes),
        futures_util::future::join_all(need_patches),
    );

    let winner = one_ok_rest(&patched, 200, 412, "card PATCH");
    assert!(contacts.iter().all(|r| r.status == 201), "{contacts:?}");
    let first_keyed = keyed
        .iter()
        .find(|r| r.status == 201)
        .unwrap_or_else(|| panic!("no keyed send was answered 201: {keyed:?}"));
    for r in &keyed {
        match r.status {
            // A replay carries the first one's body; a send while it ran is a 409.
            201 => assert_eq!(r.body, first_keyed.body, "{}", r.text),
            409 => assert!(r.text.contains("Idempotency-Key"), "{}", r.text),
            other => panic!("keyed contact answered {other}: {}", r.text),
        }
    }
    one_ok_rest(&deletes, 204, 404, "need DELETE");
    let need_winner = one_ok_rest(&need_edits, 200, 412, "need PATCH");

    let card = app.get(&card_url, &admin).await;
    assert_eq!(card.status, 200, "{}", card.text);
    assert_eq!(card.body["name"], winner.body["name"], "{}", card.text);
    assert_eq!(card.etag_version(), Some(2));
    let listed = app.get(&format!("{contacts_url}?limit=100"), &admin).await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(7));
    let listed = app.get(&format!("{needs_url}?limit=100"), &admin).await;
    let listed = listed.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 2);
    let edited = listed
        .iter()
        .find(|n| n["id"] == json!(patched_need.0))
        .unwrap_or_else(|| panic!("need {} is gone", patched_need.0));
    assert_eq!(edited["description"], need_winner.body["description"]);
    assert_eq!(edited["version"], json!(2));

    let (changes, _) = read_all(
        &app,
        &admin,
        Some(&start),
        "&types=customer,contact,need",
        100,
    )
    .await;
    let count = |kind: &str, operation: &str| {
        changes
            .iter()
            .filter(|ch| ch["entity_type"] == kind && ch["operation"] == operation)
            .count()
    };
    assert_eq!(count("customer", "updated"), 1, "{changes:?}");
    assert_eq!(count("contact", "created"), 7, "{changes:?}");
    assert_eq!(count("need", "deleted"), 1, "{changes:?}");
    assert_eq!(count("need", "updated"), 1, "{changes:?}");
    assert_eq!(changes.len(), 10, "{changes:?}");
}

/// Card creates sent at once are committed in groups on both engines: of
/// five that share one `external_id` one is created and four get 409 (each
/// rolled back alone in its group), the other fifteen are all created, and
/// the change feed holds each created card once.
async fn concurrent_creates_with_one_taken_external_id_each_apply_once(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, start) = read_all(&app, &admin, None, "&types=customer", 100).await;
    let bodies: Vec<_> = (0..20)
        .map(|i| {
            let external_id = if i % 4 == 0 {
                "ERP-SAME".to_string()
            } else {
                format!("ERP-{i}")
            };
            json!({"kind": "organization", "name": format!("Rush {i}"), "external_id": external_id})
        })
        .collect();
    let answers = futures_util::future::join_all(
        bodies
            .iter()
            .map(|b| app.post("/api/v1/customers", &admin, b)),
    )
    .await;
    let (mut same, mut others) = (Vec::new(), Vec::new());
    for (answer, body) in answers.into_iter().zip(&bodies) {
        if body["external_id"] == "ERP-SAME" {
            same.push(answer);
        } else {
            others.push(answer);
        }
    }
    one_ok_rest(&same, 201, 409, "create with a shared external_id");
    assert!(others.iter().all(|r| r.status == 201), "{others:?}");
    let created: Vec<i64> = same
        .iter()
        .chain(&others)
        .filter(|r| r.status == 201)
        .map(Resp::id)
        .collect();
    assert_eq!(created.len(), 16);
    for id in &created {
        let card = app.get(&format!("/api/v1/customers/{id}"), &admin).await;
        assert_eq!(card.status, 200, "{}", card.text);
    }
    let (changes, _) = read_all(&app, &admin, Some(&start), "&types=customer", 100).await;
    let mut fed: Vec<i64> = changes
        .iter()
        .filter(|ch| ch["operation"] == "created")
        .filter_map(|ch| ch["entity_id"].as_i64())
        .collect();
    fed.sort_unstable();
    let mut expected = created.clone();
    expected.sort_unstable();
    assert_eq!(fed, expected, "{changes:?}");
}

/// Exactly one of `answers` has status `ok` and the others `refused`; the one.
fn one_ok_rest<'a>(answers: &'a [Resp], ok: u16, refused: u16, what: &str) -> &'a Resp {
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == ok).count(),
        1,
        "{what}: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == ok || *s == refused),
        "{what}: {statuses:?}: {:?}",
        answers.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    answers
        .iter()
        .find(|r| r.status == ok)
        .unwrap_or_else(|| panic!("{what}: no {ok}"))
}
