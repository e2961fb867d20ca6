//! A user's email has one form (`domain::email`): the domain as IDNA writes
//! it for DNS. Only lower-cased, `li@café.fr` and `li@xn--caf-dma.fr` (one
//! domain) were two users, and a login typed in the other form was a 401
//! (an outside review).

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    unicode_and_punycode_domains_are_one_email,
    emails_stored_in_unicode_are_rewritten_at_start,
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

/// Rows written before kept their Unicode domain, which a login (now in
/// Punycode) never finds: a start rewrites them, unless the Punycode form
/// is another user's already (that row is left as it is).
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
    let before = app.login("old@café.fr", PASSWORD).await;
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
