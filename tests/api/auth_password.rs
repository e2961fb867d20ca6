//! `POST /auth/password`: a user changes its own password. The old tokens
//! stop working, the answer is a new one, the old password no longer logs
//! in, a wrong current password is a 422 that counts as a failed login.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    a_user_changes_its_own_password_and_gets_a_new_token,
    a_wrong_current_password_is_named_and_throttled,
    a_password_change_names_every_bad_field,
);

const PATH: &str = "/api/v1/auth/password";
const OLD: &str = "a long test password";
const NEW: &str = "another long passphrase";

/// A user of `role` (the helpers' password) and its email.
async fn user(app: &TestApp, role: &str, email: &str) -> (i64, String) {
    let admin = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/users",
            &admin,
            &json!({"email": email, "name": "Self service", "role": role, "password": OLD}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (r.id(), app.token(email, OLD).await)
}

async fn a_user_changes_its_own_password_and_gets_a_new_token(app: TestApp) {
    // A viewer too: its own password is not CRM data.
    let email = "viewer.self@example.com";
    let (id, old_token) = user(&app, "viewer", email).await;
    let r = app
        .post(
            PATH,
            &old_token,
            &json!({"current_password": OLD, "new_password": NEW}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let new_token = r.body["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(r.body["token_type"], "Bearer");

    let me = format!("/api/v1/users/{id}");
    app.get(&me, &old_token).await.problem(401);
    let r = app.get(&me, &new_token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.login(email, OLD).await.problem(401);
    assert_eq!(app.login(email, NEW).await.status, 200);
    // The old token cannot change it back.
    app.post(
        PATH,
        &old_token,
        &json!({"current_password": NEW, "new_password": OLD}),
    )
    .await
    .problem(401);
    // Without a token: 401.
    app.post(
        PATH,
        "",
        &json!({"current_password": NEW, "new_password": OLD}),
    )
    .await
    .problem(401);
}

async fn a_wrong_current_password_is_named_and_throttled(app: TestApp) {
    let email = "sales.self@example.com";
    let (_, token) = user(&app, "sales", email).await;
    for _ in 0..5 {
        let r = app
            .post(
                PATH,
                &token,
                &json!({"current_password": "not my password", "new_password": NEW}),
            )
            .await;
        r.problem(422);
        assert_eq!(r.error_fields(), ["current_password"], "{}", r.text);
        assert_eq!(r.body["errors"][0]["code"], "wrong_password", "{}", r.text);
    }
    // A stolen token cannot go on guessing, and the email's logins wait too.
    let r = app
        .post(
            PATH,
            &token,
            &json!({"current_password": OLD, "new_password": NEW}),
        )
        .await;
    r.problem(429);
    assert!(r.header("retry-after").is_some(), "{}", r.text);
    app.login(email, OLD).await.problem(429);
    // Nothing changed: the token still works.
    assert_eq!(app.get("/api/v1/customers", &token).await.status, 200);
}

async fn a_password_change_names_every_bad_field(app: TestApp) {
    let (_, token) = user(&app, "manager", "manager.self@example.com").await;
    let r = app.post(PATH, &token, &json!({})).await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["current_password", "new_password"]);
    let r = app
        .post(
            PATH,
            &token,
            &json!({"current_password": OLD, "new_password": "short"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["new_password"], "{}", r.text);
    let long = "x".repeat(129);
    let r = app
        .post(
            PATH,
            &token,
            &json!({"current_password": "", "new_password": long}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["current_password", "new_password"]);
    let r = app
        .post(
            PATH,
            &token,
            &json!({"current_password": OLD, "new_password": NEW, "email": "x@y.z"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["email"], "{}", r.text);
    // None of these changed it.
    assert_eq!(app.login("manager.self@example.com", OLD).await.status, 200);
}
