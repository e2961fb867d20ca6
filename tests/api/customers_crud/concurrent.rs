//! Creates sent at once. On SQLite they are committed in groups (several
//! requests' writes in one transaction, each in a savepoint): a create that
//! fails must roll back alone, and every answered create must be there once.

use std::collections::BTreeSet;

use serde_json::json;

use super::{card, CUSTOMERS};
use crate::backend_tests;
use crate::changes::read_all;
use crate::helpers::TestApp;

backend_tests!(concurrent_creates_commit_each_once_and_fail_alone);

/// 20 creates with their own external ids and 10 that all ask for the same
/// one, sent together: 21 cards (each readable, with its name, in the change
/// feed once) and 9 conflicts that left nothing behind.
async fn concurrent_creates_commit_each_once_and_fail_alone(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, start) = read_all(&app, &admin, None, "&types=customer", 100).await;
    let bodies: Vec<_> = (0..30)
        .map(|i| {
            let external_id = if i < 20 {
                format!("own-{i}")
            } else {
                "shared".to_string()
            };
            json!({"kind": "individual", "name": format!("Concurrent {i}"),
                   "external_id": external_id})
        })
        .collect();
    let sent = bodies.iter().map(|b| app.post(CUSTOMERS, &admin, b));
    let answers = futures_util::future::join_all(sent).await;

    let mut created = BTreeSet::new();
    let mut conflicts = 0;
    for (i, r) in answers.iter().enumerate() {
        match r.status {
            201 => {
                assert_eq!(r.body["name"], format!("Concurrent {i}"), "{}", r.text);
                created.insert(r.id());
            }
            409 => {
                assert!(i >= 20, "create {i} conflicted: {}", r.text);
                conflicts += 1;
            }
            other => panic!("create {i} answered {other}: {}", r.text),
        }
    }
    assert_eq!((created.len(), conflicts), (21, 9));
    for id in &created {
        let r = app.get(&card(*id), &admin).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    let (changes, _) = read_all(&app, &admin, Some(&start), "&types=customer", 100).await;
    let fed: Vec<i64> = changes
        .iter()
        .filter(|c| c["operation"] == "created")
        .map(|c| c["entity_id"].as_i64().unwrap_or_default())
        .collect();
    assert_eq!(fed.len(), 21, "{changes:?}");
    assert_eq!(fed.iter().copied().collect::<BTreeSet<_>>(), created);
    assert_eq!(changes.len(), 21, "only the creates: {changes:?}");
}
