//! On SQLite, concurrent small writes share one transaction (`db::group`),
//! and the change feed rendered each entity once, as the group left it: of
//! two PATCHes of one contact in a group both changes showed the second's
//! version, and a PATCH followed by a DELETE showed the PATCH's `updated`
//! change with the DELETE's tombstone. Each change now shows the state its
//! own write left; a deleted contact's changes, its details erased (grouped
//! with the delete or not). (PostgreSQL does not group these writes; the
//! test runs there as everywhere.)

use serde_json::{json, Value};

use crate::backend_tests;
use crate::changes::read_all;
use crate::helpers::TestApp;

backend_tests!(every_change_shows_the_state_its_own_write_left,);

async fn every_change_shows_the_state_its_own_write_left(app: TestApp) {
    let token = app.admin_token().await;
    let head = app.get("/api/v1/changes/head", &token).await;
    let start = head.body["cursor"].as_str().map(String::from);
    let c = app
        .create_customer(
            &token,
            json!({"kind": "organization", "name": "Grouped Co."}),
        )
        .await
        .id();
    let contacts = format!("/api/v1/customers/{c}/contacts");
    let mut paths = Vec::new();
    for name in ["Deleted", "Kept"] {
        let r = app.post(&contacts, &token, &json!({"name": name})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        paths.push((r.id(), format!("{contacts}/{}", r.id())));
    }
    let ((gone, one), (kept, two)) = (paths[0].clone(), paths[1].clone());
    // Sent at once, so that several share a group on SQLite (in rounds: a
    // round may happen to run one at a time); the last round deletes the
    // first contact, and some of its PATCHes may come after that (404).
    let (app, token) = (&app, &token);
    let mut statuses = Vec::new();
    for round in 0..4 {
        let sent = (0..16).map(|n| {
            let path = if n % 2 == 0 { one.clone() } else { two.clone() };
            let body = json!({"name": format!("Name {round}.{n}")});
            async move {
                let status = if round == 3 && n == 8 {
                    app.delete(&path, token).await.status
                } else {
                    app.patch(&path, token, &body).await.status
                };
                (path, status)
            }
        });
        statuses.extend(futures_util::future::join_all(sent).await);
    }
    assert!(
        statuses.iter().all(|(_, s)| [200, 204, 404].contains(s)),
        "{statuses:?}"
    );
    let (items, _) = read_all(app, token, start.as_deref(), "&types=contact", 100).await;
    let mut updated = [0, 0];
    for item in &items {
        let data: &Value = &item["data"];
        let id = item["entity_id"].as_i64().unwrap_or_default();
        match item["operation"].as_str() {
            Some("updated") if id == kept => {
                updated[1] += 1;
                assert_eq!(data["version"], item["version"], "{item}");
                assert!(
                    data["name"].is_string(),
                    "an update without the contact: {item}"
                );
            }
            // Erased, not the delete's tombstone.
            Some("updated") => {
                updated[0] += 1;
                assert_eq!(
                    *data,
                    json!({"id": gone, "customer_id": c, "erased": true}),
                    "{item}"
                );
            }
            Some("deleted") => assert_eq!(data["deleted"], true, "{item}"),
            _ => {}
        }
    }
    let patched = |path: &str| {
        statuses
            .iter()
            .filter(|(p, s)| p == path && *s == 200)
            .count()
    };
    assert_eq!(updated, [patched(&one), patched(&two)], "{items:?}");
}

backend_tests!(a_bulk_item_repeated_later_shows_its_own_state,);

/// Found by a review: a bulk batch naming one record twice went item by
/// item in one transaction, and the seal rendered the record once, as the
/// batch left it: the `created` change of an order showed the second
/// item's amount and version. Both bulk endpoints and the CSV import.
async fn a_bulk_item_repeated_later_shows_its_own_state(app: TestApp) {
    let token = app.admin_token().await;
    let head = app.get("/api/v1/changes/head", &token).await;
    let start = head.body["cursor"].as_str().map(String::from);
    let r = crate::sync_bulk::bulk(
        &app,
        "/api/v1/customers/bulk",
        &token,
        &json!({"items": [
            {"external_id": "R-1", "kind": "individual", "name": "First"},
            {"external_id": "R-1", "name": "Second"}
        ]}),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = r.body["items"][0]["id"].as_i64().unwrap();
    let r = crate::sync_bulk::bulk(
        &app,
        "/api/v1/transactions/bulk",
        &token,
        &json!({"items": [
            {"external_id": "D-1", "customer_id": c, "amount_cents": 100, "product": "Tea"},
            {"external_id": "D-1", "amount_cents": 250}
        ]}),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post_raw(
            "/api/v1/customers/import",
            &token,
            "text/csv",
            "external_id,name\nR-1,Third\nR-1,Fourth\n",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (items, _) = read_all(
        &app,
        &token,
        start.as_deref(),
        "&types=customer,transaction",
        100,
    )
    .await;
    let shown: Vec<(String, String, i64, Value)> = items
        .iter()
        .map(|i| {
            let field = if i["entity_type"] == "customer" {
                "name"
            } else {
                "amount_cents"
            };
            (
                i["entity_type"].as_str().unwrap_or_default().to_string(),
                i["operation"].as_str().unwrap_or_default().to_string(),
                i["data"]["version"].as_i64().unwrap_or_default(),
                i["data"][field].clone(),
            )
        })
        .filter(|(t, _, _, _)| t == "transaction" || t == "customer")
        .collect();
    let expected: Vec<(String, String, i64, Value)> = vec![
        ("customer".into(), "created".into(), 1, json!("First")),
        ("customer".into(), "updated".into(), 2, json!("Second")),
        ("transaction".into(), "created".into(), 1, json!(100)),
        ("transaction".into(), "updated".into(), 2, json!(250)),
        ("customer".into(), "updated".into(), 3, json!("Third")),
        ("customer".into(), "updated".into(), 4, json!("Fourth")),
    ];
    assert_eq!(shown, expected, "{items:#?}");
}
