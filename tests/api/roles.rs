//! The role matrix: viewer reads only; sales writes only the customers it
//! owns and never reassigns owners; manager, integration and admin write any
//! customer; only admin manages users. Every refusal is a 403 problem that
//! changes nothing.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

backend_tests!(
    viewer_reads_customers_but_writes_nothing,
    a_viewer_is_refused_before_its_request_is_read,
    sales_creates_customers_owned_by_itself,
    sales_writes_its_own_customers,
    sales_gets_403_on_customers_of_others,
    sales_cannot_reassign_owners,
    managers_and_integrations_write_any_customer_and_reassign_owners,
    admin_does_everything,
    only_admins_manage_users_and_managers_read_them,
    a_role_refused_a_route_gets_403_before_its_body_is_judged,
    closed_routes_refuse_other_roles_before_reading_anything,
    a_replay_is_not_given_to_a_role_the_route_is_now_closed_to,
);

fn card(name: &str) -> Value {
    json!({"kind": "organization", "name": name, "region": "Hangzhou"})
}

fn assert_forbidden(r: &Resp) {
    r.problem(403);
    assert_eq!(r.body["type"], "/problems/forbidden", "{}", r.text);
}

/// A customer owned by `owner_id`, created by the admin, with one contact.
/// Returns (customer id, contact id).
async fn customer_of(app: &TestApp, owner_id: i64, name: &str) -> (i64, i64) {
    let admin = app.admin_token().await;
    let mut body = card(name);
    body["owner_id"] = json!(owner_id);
    let r = app.create_customer(&admin, body).await;
    assert_eq!(r.body["owner_id"], json!(owner_id), "{}", r.text);
    let id = r.id();
    let c = app
        .post(
            &format!("/api/v1/customers/{id}/contacts"),
            &admin,
            &json!({"name": "Wang Wei", "role": "decision_maker"}),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text);
    (id, c.id())
}

/// The description of the spec's 403 for `method path`, its `$ref` resolved.
pub fn forbidden_text(spec: &Value, method: &str, path: &str) -> String {
    let mut response = &spec["paths"][path][method]["responses"]["403"];
    if let Some(name) = response["$ref"].as_str() {
        let name = name.rsplit('/').next().unwrap_or_default();
        response = &spec["components"]["responses"][name];
    }
    response["description"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The spec states the owner rule in the 403 of each of these writes (a
/// review found "the user's role does not allow this" there, while a sales
/// user's role does allow the write on a card it owns).
pub async fn assert_spec_names_the_owner_rule(app: &TestApp, ops: &[(&str, &str)]) {
    let spec = app.get("/openapi.json", "").await.body;
    for (method, path) in ops {
        let text = forbidden_text(&spec, method, path);
        assert!(
            text.contains("sales user") && text.contains("someone else"),
            "{method} {path}: {text:?}"
        );
    }
}

async fn archive_as_admin(app: &TestApp, id: i64) {
    let admin = app.admin_token().await;
    let r = app.delete(&format!("/api/v1/customers/{id}"), &admin).await;
    assert_eq!(r.status, 204, "{}", r.text);
}

/// The card as the admin sees it now.
async fn current(app: &TestApp, id: i64) -> Value {
    let admin = app.admin_token().await;
    let r = app.get(&format!("/api/v1/customers/{id}"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn contact_count(app: &TestApp, id: i64) -> usize {
    let admin = app.admin_token().await;
    let r = app
        .get(&format!("/api/v1/customers/{id}/contacts"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().len()
}

async fn viewer_reads_customers_but_writes_nothing(app: TestApp) {
    let (viewer_id, viewer) = app.user_with_role("viewer").await;
    let (sales_id, _) = app.user_with_role("sales").await;
    let (id, contact) = customer_of(&app, sales_id, "Huakang").await;
    let before = current(&app, id).await;

    // Reads work.
    let r = app.get("/api/v1/customers", &viewer).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let r = app.get(&format!("/api/v1/customers/{id}"), &viewer).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Huakang");
    let r = app
        .get(&format!("/api/v1/customers/{id}/contacts"), &viewer)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .get(
            &format!("/api/v1/customers/{id}/contacts/{contact}"),
            &viewer,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Every write is refused, even on a card the viewer would own.
    assert_forbidden(&app.post("/api/v1/customers", &viewer, &card("Mine")).await);
    let mut own = card("Mine");
    own["owner_id"] = json!(viewer_id);
    assert_forbidden(&app.post("/api/v1/customers", &viewer, &own).await);
    assert_forbidden(
        &app.patch(
            &format!("/api/v1/customers/{id}"),
            &viewer,
            &json!({"name": "Renamed"}),
        )
        .await,
    );
    assert_forbidden(
        &app.delete(&format!("/api/v1/customers/{id}"), &viewer)
            .await,
    );
    assert_forbidden(
        &app.post(
            &format!("/api/v1/customers/{id}/contacts"),
            &viewer,
            &json!({"name": "Li"}),
        )
        .await,
    );
    assert_forbidden(
        &app.patch(
            &format!("/api/v1/customers/{id}/contacts/{contact}"),
            &viewer,
            &json!({"name": "Li"}),
        )
        .await,
    );
    assert_forbidden(
        &app.delete(
            &format!("/api/v1/customers/{id}/contacts/{contact}"),
            &viewer,
        )
        .await,
    );
    archive_as_admin(&app, id).await;
    assert_forbidden(
        &app.post(
            &format!("/api/v1/customers/{id}/restore"),
            &viewer,
            &json!({}),
        )
        .await,
    );

    // Nothing changed but the admin's archiving.
    let after = current(&app, id).await;
    assert_eq!(after["name"], before["name"]);
    assert!(after["archived_at"].is_string(), "still archived: {after}");
    assert_eq!(
        after["version"].as_i64(),
        before["version"].as_i64().map(|v| v + 1)
    );
    assert_eq!(contact_count(&app, id).await, 1);
    let admin = app.admin_token().await;
    let list = app
        .get("/api/v1/customers?include_archived=true", &admin)
        .await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        list.text
    );
}

/// Every write operation of the spec, with ids that do not exist and a body
/// that fails validation: a viewer gets the 403, never the 404 or the 422
/// that would tell it about a request it may not make.
async fn a_viewer_is_refused_before_its_request_is_read(app: TestApp) {
    let (_, viewer) = app.user_with_role("viewer").await;
    // The read-only POSTs, the login, and one's own password.
    let reads = [
        "/api/v1/segments/preview",
        "/api/v1/analytics/customer-share",
        "/api/v1/auth/token",
        "/api/v1/auth/password",
    ];
    let spec = serde_json::to_value(patron::openapi::spec()).expect("spec as json");
    let mut refused = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in ["post", "put", "patch", "delete"] {
            if item.get(method).is_none() || reads.contains(&path.as_str()) {
                continue;
            }
            let url = path
                .split('/')
                .map(|part| {
                    if part.starts_with('{') {
                        "999999999"
                    } else {
                        part
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let method =
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let req = app
                .client
                .request(method.clone(), app.url(&url))
                .bearer_auth(&viewer)
                .json(&json!({"no_such_field": [1]}));
            let r = app.send(req).await;
            assert_eq!(r.status, 403, "{method} {url}: {}", r.text);
            assert_forbidden(&r);
            refused += 1;
        }
    }
    assert!(refused > 40, "only {refused} write operations were tried");
    // The router's path, percent-escapes decoded: an encoded letter does not
    // walk past the rule, and does not lose a viewer its reads.
    let r = app
        .post(
            "/api/v%31/customers/999999999/contacts",
            &viewer,
            &json!({"no_such_field": [1]}),
        )
        .await;
    assert_forbidden(&r);
    app.post(
        "/api/v1/segments/%70review",
        &viewer,
        &json!({"no_such_field": [1]}),
    )
    .await
    .problem(422);
    // Any write method under the API is refused, routed or not (the route
    // table is built from the OpenAPI document, on first use only).
    assert_forbidden(&app.post("/api/v1/no-such-thing", &viewer, &json!({})).await);
    // The reads that are POSTs are the viewer's: its bad body is its 422.
    for path in &reads[..2] {
        app.post(path, &viewer, &json!({"no_such_field": [1]}))
            .await
            .problem(422);
    }
}

async fn sales_creates_customers_owned_by_itself(app: TestApp) {
    let (sales_id, sales) = app.user_with_role("sales").await;
    let (other_id, _) = app.user_with_role("sales").await;

    // Owner defaults to the creator, and naming oneself is fine.
    let r = app.create_customer(&sales, card("Own by default")).await;
    assert_eq!(r.body["owner_id"], json!(sales_id));
    let mut body = card("Own explicitly");
    body["owner_id"] = json!(sales_id);
    let r = app.create_customer(&sales, body).await;
    assert_eq!(r.body["owner_id"], json!(sales_id));

    // A card owned by someone else is refused, and not created; the refusal
    // names the field (a review found "may change only the customers they
    // own" there).
    let mut body = card("For a colleague");
    body["owner_id"] = json!(other_id);
    let r = app.post("/api/v1/customers", &sales, &body).await;
    assert_forbidden(&r);
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("only for itself (owner_id)"), "{}", r.text);
    body["external_id"] = json!("FOR-A-COLLEAGUE");
    let r = app
        .post("/api/v1/customers/bulk", &sales, &json!({"items": [body]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let error = &r.body["items"][0]["errors"][0];
    assert_eq!(error["code"], "forbidden", "{}", r.text);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("(owner_id)")),
        "{}",
        r.text
    );
    let admin = app.admin_token().await;
    let mut body = card("For the admin");
    body["owner_id"] = json!(crate_admin_id(&app).await);
    assert_forbidden(&app.post("/api/v1/customers", &sales, &body).await);
    let list = app.get("/api/v1/customers?limit=500", &admin).await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        2,
        "{}",
        list.text
    );
}

async fn crate_admin_id(app: &TestApp) -> i64 {
    let admin = app.admin_token().await;
    let r = app.get("/api/v1/users?limit=1", &admin).await;
    r.body["items"][0]["id"].as_i64().unwrap()
}

async fn sales_writes_its_own_customers(app: TestApp) {
    let (_, sales) = app.user_with_role("sales").await;
    let id = app.create_customer(&sales, card("Mine")).await.id();
    let path = format!("/api/v1/customers/{id}");

    let r = app
        .patch(
            &path,
            &sales,
            &json!({"name": "Mine, renamed", "funnel_stage": "prospect"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Mine, renamed");

    let r = app
        .post(
            &format!("{path}/contacts"),
            &sales,
            &json!({"name": "Zhang San", "role": "handler"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let contact = r.id();
    let r = app
        .patch(
            &format!("{path}/contacts/{contact}"),
            &sales,
            &json!({"title": "Buyer"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .delete(&format!("{path}/contacts/{contact}"), &sales)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    let r = app.delete(&path, &sales).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(current(&app, id).await["archived_at"].is_string());
    let r = app
        .post(&format!("{path}/restore"), &sales, &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["archived_at"].is_null(), "{}", r.text);
}

async fn sales_gets_403_on_customers_of_others(app: TestApp) {
    let (_, sales) = app.user_with_role("sales").await;
    let (other_id, other) = app.user_with_role("sales").await;
    let (id, contact) = customer_of(&app, other_id, "Theirs").await;
    let path = format!("/api/v1/customers/{id}");
    let before = current(&app, id).await;

    // Reading is fine.
    assert_eq!(app.get(&path, &sales).await.status, 200);
    assert_eq!(
        app.get(&format!("{path}/contacts"), &sales).await.status,
        200
    );

    assert_forbidden(&app.patch(&path, &sales, &json!({"name": "Hijacked"})).await);
    assert_forbidden(&app.patch(&path, &sales, &json!({"owner_id": 0})).await);
    assert_forbidden(&app.delete(&path, &sales).await);
    assert_forbidden(
        &app.post(&format!("{path}/contacts"), &sales, &json!({"name": "Spy"}))
            .await,
    );
    assert_forbidden(
        &app.patch(
            &format!("{path}/contacts/{contact}"),
            &sales,
            &json!({"name": "Spy"}),
        )
        .await,
    );
    assert_forbidden(
        &app.delete(&format!("{path}/contacts/{contact}"), &sales)
            .await,
    );
    let after = current(&app, id).await;
    assert_eq!(after, before, "a refused request changed the card");
    assert_eq!(contact_count(&app, id).await, 1);
    let r = app.get(&format!("{path}/contacts/{contact}"), &sales).await;
    assert_eq!(r.body["name"], "Wang Wei");

    // Restore of someone else's archived card.
    archive_as_admin(&app, id).await;
    assert_forbidden(
        &app.post(&format!("{path}/restore"), &sales, &json!({}))
            .await,
    );
    assert!(current(&app, id).await["archived_at"].is_string());
    // The owner may restore it.
    let r = app
        .post(&format!("{path}/restore"), &other, &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Unknown customers are 404, not 403.
    app.patch("/api/v1/customers/999999", &sales, &json!({"name": "X"}))
        .await
        .problem(404);

    let contact = "/api/v1/customers/{id}/contacts/{contact_id}";
    assert_spec_names_the_owner_rule(
        &app,
        &[
            ("patch", "/api/v1/customers/{id}"),
            ("delete", "/api/v1/customers/{id}"),
            ("post", "/api/v1/customers/{id}/contacts"),
            ("patch", contact),
            ("delete", contact),
            ("post", "/api/v1/customers/{id}/restore"),
        ],
    )
    .await;
}

async fn sales_cannot_reassign_owners(app: TestApp) {
    let (sales_id, sales) = app.user_with_role("sales").await;
    let (other_id, _) = app.user_with_role("sales").await;
    let id = app.create_customer(&sales, card("Mine")).await.id();
    let path = format!("/api/v1/customers/{id}");

    // Giving its own card away is a manager's decision.
    let r = app
        .patch(&path, &sales, &json!({"owner_id": other_id}))
        .await;
    assert_forbidden(&r);
    let r = app
        .patch(
            &path,
            &sales,
            &json!({"owner_id": other_id, "name": "Given away"}),
        )
        .await;
    assert_forbidden(&r);
    let now = current(&app, id).await;
    assert_eq!(now["owner_id"], json!(sales_id));
    assert_eq!(now["name"], "Mine");
    // Naming itself as owner is not a reassignment.
    let r = app
        .patch(
            &path,
            &sales,
            &json!({"owner_id": sales_id, "name": "Still mine"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["owner_id"], json!(sales_id));
}

async fn managers_and_integrations_write_any_customer_and_reassign_owners(app: TestApp) {
    let (sales_id, _) = app.user_with_role("sales").await;
    let (other_id, other) = app.user_with_role("sales").await;
    for role in ["manager", "integration"] {
        let (me, token) = app.user_with_role(role).await;
        let (id, contact) = customer_of(&app, sales_id, &format!("Card for {role}")).await;
        let path = format!("/api/v1/customers/{id}");

        let r = app
            .patch(&path, &token, &json!({"name": format!("Edited by {role}")}))
            .await;
        assert_eq!(r.status, 200, "{role}: {}", r.text);
        assert_eq!(r.body["owner_id"], json!(sales_id));

        // Reassign to another rep: the new owner may now write it, the old one may not.
        let r = app
            .patch(&path, &token, &json!({"owner_id": other_id}))
            .await;
        assert_eq!(r.status, 200, "{role}: {}", r.text);
        assert_eq!(r.body["owner_id"], json!(other_id));
        let r = app
            .patch(&path, &other, &json!({"notes": "mine now"}))
            .await;
        assert_eq!(r.status, 200, "{role}: {}", r.text);

        // Contacts of anyone's customer.
        let r = app
            .post(
                &format!("{path}/contacts"),
                &token,
                &json!({"name": "Li Si"}),
            )
            .await;
        assert_eq!(r.status, 201, "{role}: {}", r.text);
        let r = app
            .patch(
                &format!("{path}/contacts/{contact}"),
                &token,
                &json!({"title": "CEO"}),
            )
            .await;
        assert_eq!(r.status, 200, "{role}: {}", r.text);
        let r = app
            .delete(&format!("{path}/contacts/{contact}"), &token)
            .await;
        assert_eq!(r.status, 204, "{role}: {}", r.text);

        // Archive and restore.
        assert_eq!(app.delete(&path, &token).await.status, 204);
        let r = app
            .post(&format!("{path}/restore"), &token, &json!({}))
            .await;
        assert_eq!(r.status, 200, "{role}: {}", r.text);

        // Create a card for someone else, and one of its own.
        let mut body = card(&format!("{role} for sales"));
        body["owner_id"] = json!(sales_id);
        let r = app.create_customer(&token, body).await;
        assert_eq!(r.body["owner_id"], json!(sales_id));
        let r = app
            .create_customer(&token, card(&format!("{role} own")))
            .await;
        assert_eq!(r.body["owner_id"], json!(me));

        // But no user management; a manager reads the users it hands
        // cards to, an integration does not.
        let body = json!({"email": format!("by-{role}@example.com"), "name": "X", "role": "sales", "password": "a long test password"});
        assert_forbidden(&app.post("/api/v1/users", &token, &body).await);
        let listed = app.get("/api/v1/users", &token).await;
        if role == "manager" {
            assert_eq!(listed.status, 200, "{}", listed.text);
        } else {
            assert_forbidden(&listed);
        }
    }
}

async fn admin_does_everything(app: TestApp) {
    let admin = app.admin_token().await;
    let (sales_id, _) = app.user_with_role("sales").await;
    let (manager_id, _) = app.user_with_role("manager").await;
    let (id, contact) = customer_of(&app, sales_id, "Any").await;
    let path = format!("/api/v1/customers/{id}");
    let r = app
        .patch(
            &path,
            &admin,
            &json!({"name": "Admin edit", "owner_id": manager_id}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["owner_id"], json!(manager_id));
    let r = app
        .patch(
            &format!("{path}/contacts/{contact}"),
            &admin,
            &json!({"title": "Boss"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.delete(&format!("{path}/contacts/{contact}"), &admin)
            .await
            .status,
        204
    );
    assert_eq!(app.delete(&path, &admin).await.status, 204);
    assert_eq!(
        app.post(&format!("{path}/restore"), &admin, &json!({}))
            .await
            .status,
        200
    );
    let r = app.get("/api/v1/users", &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            "/api/v1/users",
            &admin,
            &json!({"email": "new@example.com", "name": "New", "role": "viewer", "password": "a long test password"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .patch(
            &format!("/api/v1/users/{sales_id}"),
            &admin,
            &json!({"role": "manager"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn only_admins_manage_users_and_managers_read_them(app: TestApp) {
    let admin = app.admin_token().await;
    let admin_id = crate_admin_id(&app).await;
    for role in ["manager", "sales", "viewer", "integration"] {
        let (me, token) = app.user_with_role(role).await;
        let list = app.get("/api/v1/users?limit=1", &token).await;
        let other = app.get(&format!("/api/v1/users/{admin_id}"), &token).await;
        if role == "manager" {
            // A manager hands cards over: it reads the users it picks from
            // (a review: it could reassign owners but not list them).
            assert_eq!(list.status, 200, "{}", list.text);
            assert_eq!(other.status, 200, "{}", other.text);
            assert_eq!(other.body["role"], "admin", "{}", other.text);
        } else {
            assert_forbidden(&list);
            assert_forbidden(&app.get("/api/v1/users", &token).await);
            assert_forbidden(&other);
        }
        let body = json!({"email": format!("by-{role}@example.com"), "name": "X", "role": "admin", "password": "a long test password"});
        assert_forbidden(&app.post("/api/v1/users", &token, &body).await);
        assert_forbidden(
            &app.patch(
                &format!("/api/v1/users/{admin_id}"),
                &token,
                &json!({"active": false}),
            )
            .await,
        );
        assert_forbidden(
            &app.patch(
                &format!("/api/v1/users/{me}"),
                &token,
                &json!({"role": "admin"}),
            )
            .await,
        );
        // Themself they may read.
        let r = app.get(&format!("/api/v1/users/{me}"), &token).await;
        assert_eq!(r.status, 200, "{role}: {}", r.text);
        assert_eq!(r.body["role"], role);
    }
    // None of the refused creations happened, and the admin is untouched.
    let r = app.get("/api/v1/users", &admin).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 5, "{}", r.text);
    assert!(!r.text.contains("by-"), "{}", r.text);
    let r = app.get(&format!("/api/v1/users/{admin_id}"), &admin).await;
    assert_eq!(
        (r.body["role"].as_str(), r.body["active"].as_bool()),
        (Some("admin"), Some(true))
    );
    // The spec says why a read of a user is refused.
    let spec = app.get("/openapi.json", "").await.body;
    let text = forbidden_text(&spec, "get", "/api/v1/users/{id}");
    assert!(text.contains("read only themselves"), "{text:?}");
}

/// A sales user's call of an admin-only (or admin-and-manager) route is a 403
/// whatever its body: a 422 naming the fields would tell them what the call
/// accepts, and is not what they can act on. The allowed role still gets
/// the body's own error.
async fn a_role_refused_a_route_gets_403_before_its_body_is_judged(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, sales) = app.user_with_role("sales").await;
    let (_, manager) = app.user_with_role("manager").await;
    let (customer, _) = customer_of(&app, crate_admin_id(&app).await, "Pinned").await;
    let pin = format!("/api/v1/customers/{customer}/cpr/pin");
    let admin_only = [
        ("POST", "/api/v1/users".to_string()),
        ("PATCH", "/api/v1/users/1".to_string()),
        ("POST", "/api/v1/webhooks".to_string()),
        ("PATCH", "/api/v1/webhooks/1".to_string()),
        ("POST", "/api/v1/webhooks/1/replay".to_string()),
    ];
    let editors_only = [
        ("PUT", "/api/v1/settings/cpr".to_string()),
        ("PUT", "/api/v1/settings/tiers".to_string()),
        ("PUT", "/api/v1/settings/loyalty".to_string()),
        ("PUT", "/api/v1/settings/churn".to_string()),
        ("POST", "/api/v1/surveys".to_string()),
        ("PATCH", "/api/v1/surveys/1".to_string()),
        ("PUT", pin),
    ];
    let bodies: [(&str, &[u8]); 3] = [
        ("application/json", br#"{"no_such_field": [1]}"#),
        ("application/json", b"{"),
        ("text/plain", b"hello"),
    ];
    let call = |token: String, method: &str, url: &str, (content_type, body): (&str, &[u8])| {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        app.client
            .request(method, app.url(url))
            .bearer_auth(token)
            .header("Content-Type", content_type)
            .body(body.to_vec())
    };
    for (method, url) in admin_only.iter().chain(&editors_only) {
        for body in bodies {
            let r = app.send(call(sales.clone(), method, url, body)).await;
            assert_eq!(r.status, 403, "sales {method} {url} {body:?}: {}", r.text);
            assert_forbidden(&r);
        }
    }
    for (method, url) in &admin_only {
        let r = app
            .send(call(manager.clone(), method, url, bodies[0]))
            .await;
        assert_eq!(r.status, 403, "manager {method} {url}: {}", r.text);
    }
    // Those allowed get the body's error.
    for (method, url) in &editors_only {
        let r = app
            .send(call(manager.clone(), method, url, bodies[1]))
            .await;
        assert_eq!(r.status, 400, "manager {method} {url}: {}", r.text);
        let r = app
            .send(call(manager.clone(), method, url, bodies[2]))
            .await;
        assert_eq!(r.status, 415, "manager {method} {url}: {}", r.text);
    }
    for (method, url) in &admin_only {
        let r = app.send(call(admin.clone(), method, url, bodies[0])).await;
        assert!(
            [404, 422].contains(&r.status),
            "admin {method} {url}: {}",
            r.text
        );
    }
}

/// Every route closed to some roles (`http::closed_routes::CLOSED`, the rule
/// its handler checks too): another role's request is a 403 whatever its
/// query, body or `Idempotency-Key`; an allowed role gets the request's own
/// error. A role the table allowed and the handler did not would get 403
/// here too, from the handler.
async fn closed_routes_refuse_other_roles_before_reading_anything(app: TestApp) {
    let mut tokens = vec![("admin", app.admin_token().await)];
    for role in ["manager", "sales", "integration", "viewer"] {
        tokens.push((role, app.user_with_role(role).await.1));
    }
    for (method, pattern, allowed) in patron::http::closed_routes::CLOSED {
        let url = format!(
            "/api/v1{}?no_such_parameter=1",
            pattern.replace("{}", "999999")
        );
        for (role, token) in &tokens {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut req = app
                .client
                .request(method.clone(), app.url(&url))
                .bearer_auth(token);
            if method != reqwest::Method::GET {
                req = req
                    .header("Idempotency-Key", "not a key")
                    .header("Content-Type", "application/json")
                    .body("{");
            }
            let r = app.send(req).await;
            let refused = !allowed.iter().any(|a| a.as_str() == *role);
            if refused {
                assert_forbidden(&r);
            } else {
                assert_ne!(r.status, 403, "{role} {method} {url}: {}", r.text);
            }
        }
    }
    // HEAD is GET.
    let (_, sales) = &tokens[2];
    let r = app
        .send(
            app.client
                .head(app.url("/api/v1/users?limit=abc"))
                .bearer_auth(sales),
        )
        .await;
    assert_eq!(r.status, 403);
}

/// A manager's survey created under a key, then the manager made sales: the
/// same request again is refused, not answered from the stored response.
async fn a_replay_is_not_given_to_a_role_the_route_is_now_closed_to(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, manager) = app.user_with_role("manager").await;
    let create = || {
        app.client
            .post(app.url("/api/v1/surveys"))
            .bearer_auth(&manager)
            .header("Idempotency-Key", "survey-1")
            .json(&json!({"title": "Quarterly satisfaction"}))
    };
    let first = app.send(create()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = app.send(create()).await;
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    let r = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            &json!({"role": "sales"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_forbidden(&app.send(create()).await);
}
