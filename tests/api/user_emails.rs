//! A user's email has one form (`domain::email`): the domain as IDNA writes
//! it for DNS. Only lower-cased, `li@café.fr` and `li@xn--caf-dma.fr` (one
//! domain) were two users, and a login typed in the other form was a 401
//! (an outside review).

use serde_json::json;

use crate::backend_tests;
use diesel::connection::SimpleConnection;

use crate::helpers::{hold_locked, Backend, TestApp};

backend_tests!(
    unicode_and_punycode_domains_are_one_email,
    emails_stored_in_unicode_are_rewritten_at_start,
    an_admin_kept_in_its_old_spelling_is_reset_and_logs_in_so,
    a_start_with_only_kept_spellings_writes_nothing,
    a_deactivated_old_spelling_does_not_take_the_login,
);

const PASSWORD: &str = "a long test password";

async fn unicode_and_punycode_domains_are_one_email(app: TestApp) {
    let admin = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/users",
            &admin,
            &json!({"email": "Li@Café.fr", "name": "Li", "role": "sales", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["email"], "li@xn--caf-dma.fr");
    for typed in [
        "li@xn--caf-dma.fr",
        "li@café.fr",
        "LI@CAFÉ.FR",
        // Fullwidth letters, as an East Asian input method types them.
        "li@ｃａｆé.ｆｒ",
    ] {
        let login = app.login(typed, PASSWORD).await;
        assert_eq!(login.status, 200, "{typed}: {}", login.text);
    }

    // The other spelling is the same email: taken.
    let r = app
        .post(
            "/api/v1/users",
            &admin,
            &json!({"email": "li@xn--caf-dma.fr", "name": "Li 2", "role": "viewer", "password": PASSWORD}),
        )
        .await;
    r.problem(409);
    assert_eq!(r.error_fields(), ["email"], "{}", r.text);

    // Created in Punycode, logged in with the Unicode form.
    let r = app
        .post(
            "/api/v1/users",
            &admin,
            &json!({"email": "wu@xn--caf-dma.fr", "name": "Wu", "role": "viewer", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let wu = r.id();
    let login = app.login("wu@café.fr", PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text);

    // A PATCH to Li's email in another spelling is taken too; to a new
    // Unicode one it is stored in Punycode.
    let path = format!("/api/v1/users/{wu}");
    let r = app
        .patch(&path, &admin, &json!({"email": "LI@café.FR"}))
        .await;
    r.problem(409);
    let r = app
        .patch(&path, &admin, &json!({"email": "wu@bücher.de"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["email"], "wu@xn--bcher-kva.de");
    let login = app.login("wu@BÜCHER.de", PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text);
}

/// Rows written before kept their Unicode domain, which a login typed in
/// Punycode (or any spelling but the stored one) never finds: a start
/// rewrites them, unless the Punycode form is another user's already (that
/// row is left as it is).
async fn emails_stored_in_unicode_are_rewritten_at_start(app: TestApp) {
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for email in [
        "old@xn--caf-dma.fr",
        "twin@xn--caf-dma.fr",
        "twin2@example.com",
    ] {
        let r = app
            .post(
                "/api/v1/users",
                &admin,
                &json!({"email": email, "name": "Old", "role": "viewer", "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.id());
    }
    // As an earlier version stored them.
    app.execute_sql(&format!(
        "UPDATE users SET email = 'old@café.fr' WHERE id = {}; \
         UPDATE users SET email = 'twin@café.fr' WHERE id = {}",
        ids[0], ids[2]
    ));
    let before = app.login("old@xn--caf-dma.fr", PASSWORD).await;
    assert_eq!(before.status, 401, "{}", before.text);

    let other = app.start_another(|_| {}).await;
    let login = |email: &'static str| {
        let client = app.client.clone();
        let url = format!("{}/api/v1/auth/token", other.address);
        async move {
            client
                .post(url)
                .json(&json!({"email": email, "password": PASSWORD}))
                .send()
                .await
                .expect("the login answers")
                .status()
                .as_u16()
        }
    };
    assert_eq!(login("old@café.fr").await, 200);
    assert_eq!(login("old@xn--caf-dma.fr").await, 200);
    let old = app
        .get_at(&other.address, &format!("/api/v1/users/{}", ids[0]), &admin)
        .await;
    assert_eq!(old.body["email"], "old@xn--caf-dma.fr", "{}", old.text);
    assert_eq!(old.body["version"], 2, "{}", old.text);
    // Its form is another user's: kept (a warning says to change one).
    let twin = app
        .get_at(&other.address, &format!("/api/v1/users/{}", ids[2]), &admin)
        .await;
    assert_eq!(twin.body["email"], "twin@café.fr", "{}", twin.text);
    other.stop().await;
}

/// Found by a review: an old database with the only active admin stored as
/// `boss@café.fr` and a viewer as `boss@xn--caf-dma.fr`. The start keeps
/// the admin's spelling (its normal form is the viewer's); a login, and
/// `reset-admin-password`, looked up the normal form only, so found the
/// viewer: the command refused, naming the admin by an email it did not
/// take, and the admin could never log in again. Typed as stored (in any
/// case), the email now names the admin in both; any other spelling names
/// the viewer.
async fn an_admin_kept_in_its_old_spelling_is_reset_and_logs_in_so(app: TestApp) {
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for (email, role) in [
        ("boss@example.com", "admin"),
        ("boss@xn--caf-dma.fr", "viewer"),
    ] {
        let r = app
            .post(
                "/api/v1/users",
                &admin,
                &json!({"email": email, "name": "Boss", "role": role, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.id());
    }
    let (boss, viewer) = (ids[0], ids[1]);
    app.execute_sql(&format!(
        "UPDATE users SET email = 'boss@café.fr' WHERE id = {boss}"
    ));
    let new_password = "the boss's new password";
    let reset = |typed: &'static str| {
        let config = app.config.clone();
        async move {
            patron::auth::reset::reset_admin_password(&config, typed, new_password.into()).await
        }
    };

    // The viewer is named by the normal form: refused, and each admin
    // listed by an email the command takes.
    let refused = reset("boss@xn--caf-dma.fr").await.expect_err("a viewer");
    assert!(
        refused.contains(&format!(
            "boss@xn--caf-dma.fr is not an active admin; the active admins: {}, boss@café.fr",
            app.admin_email
        )),
        "{refused}"
    );
    let done = reset("Boss@CAFÉ.fr").await.expect("the admin is reset");
    assert!(
        done.contains(&format!("admin boss@café.fr (user {boss})")),
        "{done}"
    );

    let token = app.token("boss@café.fr", new_password).await;
    let r = app.get(&format!("/api/v1/users/{boss}"), &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["role"], "admin", "{}", r.text);
    // Any other spelling is the viewer's.
    app.login("boss@xn--caf-dma.fr", new_password)
        .await
        .problem(401);
    let token = app.token("BOSS@xn--caf-dma.fr", PASSWORD).await;
    let r = app.get(&format!("/api/v1/users/{viewer}"), &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["email"], "boss@xn--caf-dma.fr", "{}", r.text);
}

/// Found by a review: an email kept in its old spelling stayed "to
/// rewrite", so every start opened a write transaction (and took the start
/// lock) for nothing. With a writer holding the database, a start with only
/// kept spellings left reads and goes on.
async fn a_start_with_only_kept_spellings_writes_nothing(app: TestApp) {
    let admin = app.admin_token().await;
    for email in ["twin@example.com", "twin@xn--caf-dma.fr"] {
        let r = app
            .post(
                "/api/v1/users",
                &admin,
                &json!({"email": email, "name": "Twin", "role": "viewer", "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    app.execute_sql("UPDATE users SET email = 'twin@café.fr' WHERE email = 'twin@example.com'");
    let db = app.open_db(2, 1).await;
    let lock = match app.backend {
        // The start lock (`db::migrate::START_LOCK`) a rewrite takes first.
        Backend::Postgres => "BEGIN; SELECT pg_advisory_xact_lock(123563867795310);",
        Backend::Sqlite => "BEGIN IMMEDIATE; UPDATE users SET name = name;",
    };
    let holder = hold_locked(&db, lock).await;
    let done = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        patron::auth::stored_emails::normalize_stored(&db),
    )
    .await;
    tokio::task::spawn_blocking(move || {
        let mut holder = holder;
        holder.batch_execute("ROLLBACK").expect("the rollback");
    })
    .await
    .expect("the blocking rollback");
    assert_eq!(done, Ok(Ok(())), "it waited for the write lock");
}

/// Found by a review: two rows for one mailbox are mostly an old account
/// switched off beside the one in use. The old one kept its spelling
/// (`gone@café.fr`, deactivated) and, matched as typed first, took the
/// login of whoever typed the address the usual way: a 401 for the active
/// holder of the normal form, who logged in with it before.
async fn a_deactivated_old_spelling_does_not_take_the_login(app: TestApp) {
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for email in ["gone@example.com", "gone@xn--caf-dma.fr"] {
        let r = app
            .post(
                "/api/v1/users",
                &admin,
                &json!({"email": email, "name": "Gone", "role": "viewer", "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.id());
    }
    app.execute_sql(&format!(
        "UPDATE users SET email = 'gone@café.fr', active = FALSE WHERE id = {}",
        ids[0]
    ));
    let token = app.token("gone@café.fr", PASSWORD).await;
    let r = app.get(&format!("/api/v1/users/{}", ids[1]), &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["email"], "gone@xn--caf-dma.fr", "{}", r.text);
}
