//! A write is judged by the caller's account where it commits, not only
//! where its token was checked: a webhook, a settings change or a bulk
//! batch from an account deactivated (401) or demoted (403) while the
//! request waited writes nothing (a review: a bulk body uploads for
//! minutes, a settings change can wait for a recompute's turn, and a
//! deactivated admin's webhook kept receiving the changes).

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;
use crate::settings::{default_tiers, put, TIERS};
use crate::sync_bulk::bulk;

backend_tests!(
    admin_writes_wait_and_find_the_admin_gone,
    bulk_writes_wait_and_find_the_account_changed,
    a_password_change_waits_and_finds_its_token_revoked,
);

const SECRET: &str = "a-long-shared-secret-0123";

async fn admin_writes_wait_and_find_the_admin_gone(app: TestApp) {
    let admin = app.admin_token().await;
    let (late, late_token) = app.user_with_role("admin").await;
    let hook = json!({"url": "https://erp.example.com/hooks", "events": ["*"], "secret": SECRET});
    let create = app.post("/api/v1/webhooks", &late_token, &hook);
    let r = app
        .user_changed_while_waiting(late, "active = FALSE", create)
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = app.get("/api/v1/webhooks", &admin).await;
    assert_eq!(r.body["items"], json!([]), "{}", r.text);

    // A webhook's replay and PATCH re-send and re-aim the feed: the same.
    let r = app.post("/api/v1/webhooks", &admin, &hook).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let path = format!("/api/v1/webhooks/{}", r.body["id"]);
    let (demoted, demoted_token) = app.user_with_role("admin").await;
    let aim = json!({"url": "https://elsewhere.example.com/hooks"});
    let patch = app.patch(&path, &demoted_token, &aim);
    let r = app
        .user_changed_while_waiting(demoted, "role = 'manager'", patch)
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("from admin to manager"), "{}", r.text);
    let r = app.get(&path, &admin).await;
    assert_eq!(r.body["url"], "https://erp.example.com/hooks", "{}", r.text);

    // A settings change by a manager demoted meanwhile is not stored.
    let (manager, manager_token) = app.user_with_role("manager").await;
    let mut tiers = default_tiers();
    tiers["important_pct"] = json!(2.0);
    let change = put(&app, TIERS, &manager_token, None, &tiers);
    let r = app
        .user_changed_while_waiting(manager, "role = 'sales'", change)
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("from manager to sales"), "{}", r.text);
    let r = app.get(TIERS, &admin).await;
    assert_eq!(r.body["important_pct"], json!(1.0), "{}", r.text);
    assert_eq!(r.etag_version(), Some(0), "{}", r.text);
}

async fn bulk_writes_wait_and_find_the_account_changed(app: TestApp) {
    let admin = app.admin_token().await;
    let (sync, sync_token) = app.user_with_role("integration").await;
    let cards = json!({"items": [{"external_id": "RC-1", "kind": "organization", "name": "Late"}]});
    let upsert = bulk(&app, "/api/v1/customers/bulk", &sync_token, &cards, None);
    let r = app
        .user_changed_while_waiting(sync, "role = 'viewer'", upsert)
        .await;
    // Found where it writes, not at the token's check (its refusal names
    // the roles instead).
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("from integration to viewer"), "{}", r.text);
    let r = app.get("/api/v1/customers?external_id=RC-1", &admin).await;
    assert_eq!(r.body["items"], json!([]), "{}", r.text);

    // A password change meanwhile revokes the token the batch came with.
    let (revoked, revoked_token) = app.user_with_role("integration").await;
    let upsert = bulk(&app, "/api/v1/customers/bulk", &revoked_token, &cards, None);
    let r = app
        .user_changed_while_waiting(revoked, "token_generation = token_generation + 1", upsert)
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.text.contains("revoked"), "{}", r.text);
    let r = app.get("/api/v1/customers?external_id=RC-1", &admin).await;
    assert_eq!(r.body["items"], json!([]), "{}", r.text);

    let (importer, importer_token) = app.user_with_role("manager").await;
    let csv = "external_id,kind,name\nRC-2,organization,Imported\n";
    let import = app.post_raw("/api/v1/customers/import", &importer_token, "text/csv", csv);
    let r = app
        .user_changed_while_waiting(importer, "active = FALSE", import)
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = app.get("/api/v1/customers?external_id=RC-2", &admin).await;
    assert_eq!(r.body["items"], json!([]), "{}", r.text);

    let r = app
        .create_customer(&admin, json!({"kind": "organization", "name": "Buyer"}))
        .await;
    let customer = r.body["id"].clone();
    let (erp, erp_token) = app.user_with_role("integration").await;
    let orders = json!({"items": [
        {"external_id": "RC-O1", "customer_id": customer, "amount_cents": 100, "product": "Tea"}
    ]});
    let sync = bulk(&app, "/api/v1/transactions/bulk", &erp_token, &orders, None);
    let r = app
        .user_changed_while_waiting(erp, "active = FALSE", sync)
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = app
        .get(
            &format!("/api/v1/transactions?customer_id={customer}"),
            &admin,
        )
        .await;
    assert_eq!(r.body["items"], json!([]), "{}", r.text);
}

/// A review: the password change checked that the account was active and
/// its password unchanged where it writes, not its token: deactivated and
/// reactivated meanwhile (which revokes every token), the old token still
/// changed the password and got a new one.
async fn a_password_change_waits_and_finds_its_token_revoked(app: TestApp) {
    let (user, token) = app.user_with_role("sales").await;
    let body = json!({"current_password": "a long test password",
                      "new_password": "another long password"});
    let change = app.post("/api/v1/auth/password", &token, &body);
    let r = app
        .user_changed_while_waiting(user, "token_generation = token_generation + 1", change)
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.text.contains("revoked"), "{}", r.text);
    // Nothing changed: the old password still logs in.
    let admin = app.admin_token().await;
    let email = app.get(&format!("/api/v1/users/{user}"), &admin).await.body["email"].clone();
    let r = app
        .post(
            "/api/v1/auth/token",
            "",
            &json!({"email": email, "password": "a long test password"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}
