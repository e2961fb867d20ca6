//! On SQLite, concurrent small writes share one transaction (`db::group`),
//! and the change feed rendered each entity once, as the group left it: of
//! two PATCHes of one contact in a group both changes showed the second's
//! version, and a PATCH followed by a DELETE showed the PATCH's `updated`
//! change with the DELETE's tombstone. Each change now shows the state its
//! own write left. (PostgreSQL does not group these writes; the test runs
//! there as everywhere.)

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
    let r = app.post(&contacts, &token, &json!({"name": "First"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let one = format!("{contacts}/{}", r.id());
    // Sent at once, so that several share a group on SQLite (in rounds: a
    // round may happen to run one at a time); the last round deletes the
    // contact, and some of its PATCHes may come after that (404).
    let (app, token) = (&app, &token);
    let mut statuses = Vec::new();
    for round in 0..4 {
        let sent = (0..16).map(|n| {
            let path = one.clone();
            let body = json!({"name": format!("Name {round}.{n}")});
            async move {
                if round == 3 && n == 8 {
                    app.delete(&path, token).await.status
                } else {
                    app.patch(&path, token, &body).await.status
                }
            }
        });
        statuses.extend(futures_util::future::join_all(sent).await);
    }
    assert!(
        statuses.iter().all(|s| [200, 204, 404].contains(s)),
        "{statuses:?}"
    );
    let (items, _) = read_all(app, token, start.as_deref(), "&types=contact", 100).await;
    let mut updated = 0;
    for item in &items {
        let data: &Value = &item["data"];
        match item["operation"].as_str() {
            Some("updated") => {
                updated += 1;
                assert_eq!(data["version"], item["version"], "{item}");
                assert!(
                    data["name"].is_string(),
                    "an update without the contact: {item}"
                );
            }
            Some("deleted") => assert_eq!(data["deleted"], true, "{item}"),
            _ => {}
        }
    }
    let patched = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(updated, patched, "{items:?}");
}
