//! Cursor pagination: default and bounds of `limit`, walking every page, and
//! the key property: pages neither skip nor repeat a customer while others
//! insert new ones between page fetches.

use std::collections::HashSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::{assert_400_naming, create, enc, list, CUSTOMERS};
use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    default_limit_is_50_and_limit_is_bounded,
    walking_pages_of_three_loses_and_repeats_nothing,
    walking_while_inserting_sees_every_existing_customer_once,
    bad_cursors_are_400_naming_cursor,
);

const SORTS: [&str; 10] = [
    "id",
    "-id",
    "name",
    "-name",
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    // Derived figures: all equal here, so the id breaks every tie.
    "purchase_count",
    "-lifetime_revenue_cents",
];

/// One page: its items and its `next_cursor`.
async fn page(
    app: &TestApp,
    token: &str,
    query: &str,
    cursor: Option<&str>,
) -> (Vec<Value>, Option<String>) {
    let mut path = format!("{CUSTOMERS}?{query}");
    if let Some(c) = cursor {
        path.push_str(&format!("&cursor={}", enc(c)));
    }
    let r = app.get(&path, token).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    let items = r.body["items"].as_array().unwrap().clone();
    let next = r.body["next_cursor"].as_str().map(String::from);
    assert!(
        next.is_some() || r.body["next_cursor"].is_null(),
        "{}",
        r.text
    );
    (items, next)
}

fn id(item: &Value) -> i64 {
    item["id"].as_i64().unwrap()
}

/// Every page of `query`, in order; also returns the number of pages.
async fn walk(app: &TestApp, token: &str, query: &str) -> (Vec<i64>, usize) {
    let (mut ids, mut pages, mut cursor) = (Vec::new(), 0, None);
    loop {
        let (items, next) = page(app, token, query, cursor.as_deref()).await;
        pages += 1;
        assert!(!items.is_empty(), "no empty page: {query}");
        ids.extend(items.iter().map(id));
        match next {
            Some(c) => cursor = Some(c),
            None => return (ids, pages),
        }
        assert!(pages < 1000, "the walk does not end");
    }
}

async fn default_limit_is_50_and_limit_is_bounded(app: TestApp) {
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for n in 0..52 {
        ids.push(
            create(
                &app,
                &admin,
                json!({"kind": "individual", "name": format!("c{n:02}")}),
            )
            .await,
        );
    }
    let (first, next) = page(&app, &admin, "", None).await;
    assert_eq!(first.len(), 50, "the default page size is 50");
    let next = next.expect("a next cursor after a full page");
    let (second, last) = page(&app, &admin, "", Some(&next)).await;
    assert_eq!(second.len(), 2);
    assert_eq!(last, None, "null on the last page");
    let walked: Vec<i64> = first.iter().chain(second.iter()).map(id).collect();
    assert_eq!(walked, ids);

    let (all, next) = page(&app, &admin, "limit=500", None).await;
    assert_eq!((all.len(), next), (52, None));
    let (one, next) = page(&app, &admin, "limit=1", None).await;
    assert_eq!(one.len(), 1);
    assert!(next.is_some());
    let (exact, next) = page(&app, &admin, "limit=52", None).await;
    assert_eq!(
        (exact.len(), next),
        (52, None),
        "no cursor when nothing is left"
    );
    for bad in ["0", "501", "-1", "100000000000000000000", "1.5", ""] {
        let r = app.get(&format!("{CUSTOMERS}?limit={bad}"), &admin).await;
        assert_400_naming(&r, "limit");
    }
}

async fn walking_pages_of_three_loses_and_repeats_nothing(app: TestApp) {
    let admin = app.admin_token().await;
    let names = [
        "m", "b", "same", "x", "same", "a", "same", "k", "b", "z", "c", "q",
    ];
    for (n, name) in names.iter().enumerate() {
        let kind = if n % 3 == 0 {
            "organization"
        } else {
            "individual"
        };
        create(&app, &admin, json!({"kind": kind, "name": name})).await;
    }
    for sort in SORTS {
        let full = list(&app, &admin, &format!("sort={sort}")).await;
        assert_eq!(full.len(), 12);
        let (walked, pages) = walk(&app, &admin, &format!("sort={sort}&limit=3")).await;
        assert_eq!(walked, full, "sort={sort}: same items in the same order");
        assert_eq!(
            pages, 4,
            "sort={sort}: 12 items in pages of 3, no empty page"
        );
        let (walked, _) = walk(
            &app,
            &admin,
            &format!("sort={sort}&limit=5&kind=individual"),
        )
        .await;
        let filtered = list(&app, &admin, &format!("sort={sort}&kind=individual")).await;
        assert_eq!(walked, filtered, "sort={sort} with a filter");
        assert_eq!(filtered.len(), 8);
    }
    let unique: HashSet<i64> = list(&app, &admin, "").await.into_iter().collect();
    assert_eq!(unique.len(), 12);
}

async fn walking_while_inserting_sees_every_existing_customer_once(app: TestApp) {
    let admin = app.admin_token().await;
    for name in [
        "m", "d", "same", "t", "same", "b", "w", "same", "g", "p", "e", "r", "k",
    ] {
        create(&app, &admin, json!({"kind": "individual", "name": name})).await;
    }
    let mut n = 0;
    for sort in SORTS {
        let before = list(&app, &admin, &format!("sort={sort}")).await;
        let query = format!("sort={sort}&limit=3");
        let (mut walked, mut cursor, mut rounds) = (Vec::new(), None, 0);
        loop {
            let (items, next) = page(&app, &admin, &query, cursor.as_deref()).await;
            walked.extend(items.iter().map(id));
            let Some(next) = next else { break };
            cursor = Some(next);
            rounds += 1;
            if rounds > 6 {
                continue;
            }
            // New customers before, after and level with the page just read.
            let last = items.last().unwrap()["name"].as_str().unwrap().to_string();
            let first = items[0]["name"].as_str().unwrap().to_string();
            for name in [
                format!("a{n}"),
                format!("zz{n}"),
                last,
                first,
                "same".into(),
            ] {
                create(&app, &admin, json!({"kind": "individual", "name": name})).await;
            }
            n += 1;
        }
        let unique: HashSet<i64> = walked.iter().copied().collect();
        assert_eq!(
            unique.len(),
            walked.len(),
            "sort={sort}: a customer repeated: {walked:?}"
        );
        let seen: Vec<i64> = walked
            .iter()
            .copied()
            .filter(|i| before.contains(i))
            .collect();
        assert_eq!(
            seen, before,
            "sort={sort}: every earlier customer once, in order"
        );
    }
}

fn cursor_of(value: Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&value).unwrap())
}

async fn bad_cursors_are_400_naming_cursor(app: TestApp) {
    let admin = app.admin_token().await;
    for name in ["a", "b", "c"] {
        create(&app, &admin, json!({"kind": "individual", "name": name})).await;
    }
    let (_, cursor) = page(&app, &admin, "sort=name&limit=1", None).await;
    let cursor = cursor.unwrap();
    let (_, ok) = page(&app, &admin, "sort=name&limit=1", Some(&cursor)).await;
    assert!(ok.is_some(), "the cursor works with its own sort");
    for other in ["", "sort=id&", "sort=-name&", "sort=created_at&"] {
        let path = format!("{CUSTOMERS}?{other}limit=1&cursor={}", enc(&cursor));
        assert_400_naming(&app.get(&path, &admin).await, "cursor");
    }
    let garbage = [
        "!!!not a cursor!!!".to_string(),
        "abc".into(),
        cursor_of(json!({"l": "customers", "s": "id", "k": null})),
        cursor_of(json!({"l": "customers", "s": "id", "k": null, "id": "1"})),
        cursor_of(json!({"l": "customers", "s": "created_at", "k": "not a time", "id": 1})),
        cursor_of(json!({"l": "customers", "s": "-updated_at", "k": 42, "id": 1})),
        cursor_of(json!({"l": "users", "s": "id", "k": null, "id": 1})),
        // A name key that is not a string paged from the start again.
        cursor_of(json!({"l": "customers", "s": "name", "k": 123, "id": 999})),
        cursor_of(json!({"l": "customers", "s": "name", "k": null, "id": 999})),
    ];
    for (n, bad) in garbage.iter().enumerate() {
        let sort = [
            "id",
            "id",
            "id",
            "id",
            "created_at",
            "-updated_at",
            "id",
            "name",
            "name",
        ][n];
        let path = format!("{CUSTOMERS}?sort={sort}&cursor={}", enc(bad));
        assert_400_naming(&app.get(&path, &admin).await, "cursor");
    }
}
