//! `GET /users/directory`: id, name, role and active flag of every user,
//! for every role (the user list is for admins and managers).

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

backend_tests!(
    every_role_reads_the_directory_without_emails,
    the_directory_filters_by_role_active_and_name,
    the_directory_sorts_by_name_and_pages_without_gaps,
    the_directory_rejects_bad_query_parameters,
);

const PASSWORD: &str = "a long test password";

async fn user(
    app: &TestApp,
    admin: &str,
    email: &str,
    name: &str,
    role: &str,
    active: bool,
) -> i64 {
    let r = app
        .post(
            "/api/v1/users",
            admin,
            &json!({"email": email, "name": name, "role": role, "password": PASSWORD, "active": active}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.id()
}

fn ids_of(r: &Resp) -> Vec<i64> {
    r.body["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|u| u["id"].as_i64()).collect())
        .unwrap_or_default()
}

/// The ids of `GET /users/directory?{query}` in one page.
async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<i64> {
    let r = app
        .get(&format!("/api/v1/users/directory?limit=500&{query}"), token)
        .await;
    assert_eq!(r.status, 200, "{query}: {}", r.text);
    assert!(r.body["next_cursor"].is_null(), "{}", r.text);
    ids_of(&r)
}

/// A review: a sales rep's app could not name a card's owner, a contact's
/// user or an action's owner (`GET /users` is for admins and managers).
async fn every_role_reads_the_directory_without_emails(app: TestApp) {
    let admin = app.admin_token().await;
    let gone = user(&app, &admin, "gone@example.com", "Gone Rep", "sales", false).await;
    let mut everyone = vec![];
    for role in ["viewer", "sales", "integration", "manager"] {
        let (id, token) = app.user_with_role(role).await;
        everyone.push((id, token));
    }
    for (id, token) in everyone.iter().chain([&(0, admin.clone())]) {
        let r = app.get("/api/v1/users/directory", token).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let items = r.body["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 6, "{}", r.text);
        for item in &items {
            let mut keys: Vec<&str> = item
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            keys.sort();
            assert_eq!(keys, ["active", "id", "name", "role"], "{item}");
        }
        if *id != 0 {
            let me = items.iter().find(|i| i["id"] == *id);
            assert!(me.is_some_and(|m| m["active"] == true), "{}", r.text);
        }
        let left = items.iter().find(|i| i["id"] == gone);
        assert_eq!(
            left,
            Some(&json!({"id": gone, "name": "Gone Rep", "role": "sales", "active": false}))
        );
    }
    // The user list stays closed to them.
    let (_, sales) = &everyone[1];
    app.get("/api/v1/users", sales).await.problem(403);
    // Without a token: 401.
    let r = app.get("/api/v1/users/directory", "").await;
    r.problem(401);
}

async fn the_directory_filters_by_role_active_and_name(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, viewer) = app.user_with_role("viewer").await;
    let viewer_id = listed(&app, &viewer, "role=viewer").await;
    let bea = user(&app, &admin, "bea@example.com", "Bea Lin", "sales", true).await;
    let cal = user(&app, &admin, "cal@example.com", "Cal", "manager", true).await;
    let dan = user(&app, &admin, "dan@example.com", "Émile Dan", "sales", false).await;
    let gus = user(
        &app,
        &admin,
        "gus_x@example.com",
        "Gus 50%",
        "integration",
        true,
    )
    .await;
    for (query, expected) in [
        ("role=sales", vec![bea, dan]),
        ("role=manager", vec![cal]),
        ("active=false", vec![dan]),
        ("role=sales&active=true", vec![bea]),
        ("q=LIN", vec![bea]),
        ("q=%20lin%20", vec![bea]),
        ("q=%C3%A9mile", vec![dan]),
        ("q=50%25", vec![gus]),
        ("q=_", vec![]),
        // The name alone: an email is not shown, nor searched.
        ("q=example.com", vec![]),
        ("q=gus_x", vec![]),
        ("q=bea%40", vec![]),
        ("q=nobody", vec![]),
    ] {
        assert_eq!(listed(&app, &viewer, query).await, expected, "{query}");
    }
    assert_eq!(viewer_id.len(), 1);
    // Blank is no filter.
    assert_eq!(listed(&app, &viewer, "q=%20").await.len(), 6);
}

/// Each sort both ways, in pages of 1: every user once, in order, ties
/// (two users of one name) by id.
async fn the_directory_sorts_by_name_and_pages_without_gaps(app: TestApp) {
    let admin = app.admin_token().await;
    let me = user(&app, &admin, "kim@example.com", "Kim", "sales", true).await;
    let sales = app.token("kim@example.com", PASSWORD).await;
    for (i, name) in ["Zed", "Amy", "Amy", "Mia"].iter().enumerate() {
        user(
            &app,
            &admin,
            &format!("s{i}@example.com"),
            name,
            "viewer",
            true,
        )
        .await;
    }
    let r = app.get("/api/v1/users/directory?limit=500", &sales).await;
    let mut all: Vec<(String, i64)> = r.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|u| {
                    (
                        u["name"].as_str().unwrap_or("").to_string(),
                        u["id"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(all.iter().any(|(_, id)| *id == me));
    assert_eq!(all.len(), 6, "{}", r.text);
    let by_id: Vec<i64> = {
        let mut ids: Vec<i64> = all.iter().map(|(_, id)| *id).collect();
        ids.sort();
        ids
    };
    // Capitalised ASCII names ("Administrator" too): code point order and a
    // locale's agree.
    all.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let by_name: Vec<i64> = all.iter().map(|(_, id)| *id).collect();
    for (sort, expected) in [
        ("id", by_id.clone()),
        ("-id", by_id.iter().rev().copied().collect()),
        ("name", by_name.clone()),
    ] {
        let walked = walk(&app, &sales, &format!("sort={sort}"), 1).await;
        assert_eq!(walked, expected, "sort={sort}");
    }
    // Descending by name, ties by id descending.
    let mut down = all.clone();
    down.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let expected: Vec<i64> = down.iter().map(|(_, id)| *id).collect();
    assert_eq!(walk(&app, &sales, "sort=-name", 2).await, expected);
}

async fn walk(app: &TestApp, token: &str, query: &str, limit: usize) -> Vec<i64> {
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users/directory?limit={limit}&{query}&cursor={c}"),
            None => format!("/api/v1/users/directory?limit={limit}&{query}"),
        };
        let r = app.get(&path, token).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        seen.extend(ids_of(&r));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return seen,
        }
    }
    panic!("{query}: pagination does not end");
}

async fn the_directory_rejects_bad_query_parameters(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, sales) = app.user_with_role("sales").await;
    let long = "x".repeat(201);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=abc", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("role=owner", "role"),
        ("active=maybe", "active"),
        // The user list's other sorts would order by what is not shown.
        ("sort=email", "sort"),
        ("sort=created_at", "sort"),
        ("sort=--name", "sort"),
        ("sort=", "sort"),
        (&*format!("q={long}"), "q"),
        ("updated_since=2026-01-01T00:00:00Z", "updated_since"),
        ("email=a", "email"),
    ] {
        let r = app
            .get(&format!("/api/v1/users/directory?{query}"), &sales)
            .await;
        r.problem(400);
        assert_eq!(r.error_fields(), vec![field], "{query}: {}", r.text);
    }
    // A cursor pages only the sort and the list it came from.
    user(&app, &admin, "x1@example.com", "X", "viewer", true).await;
    let r = app
        .get("/api/v1/users/directory?sort=name&limit=1", &sales)
        .await;
    let cursor = r.body["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!cursor.is_empty(), "{}", r.text);
    let r = app
        .get(
            &format!("/api/v1/users/directory?sort=-name&cursor={cursor}"),
            &sales,
        )
        .await;
    assert_eq!(r.error_fields(), vec!["cursor"], "{}", r.text);
    let r = app
        .get(&format!("/api/v1/users?sort=name&cursor={cursor}"), &admin)
        .await;
    assert_eq!(r.error_fields(), vec!["cursor"], "{}", r.text);
    let r = app.get("/api/v1/users?sort=name&limit=1", &admin).await;
    let theirs = r.body["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r = app
        .get(
            &format!("/api/v1/users/directory?sort=name&cursor={theirs}"),
            &sales,
        )
        .await;
    assert_eq!(r.error_fields(), vec!["cursor"], "{}", r.text);
}
