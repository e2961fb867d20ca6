//! `/customers/{id}/needs`: actual and latent needs, the latent-type rules,
//! conversions (PATCH of `kind`) recorded in `/customers/{id}/history`,
//! If-Match, delete, validation and role rules.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{ids_of, Resp, TestApp};

backend_tests!(
    create_actual_and_latent_needs,
    latent_needs_need_a_latent_type_and_actual_ones_none,
    create_validation_names_every_bad_field,
    list_filters_by_kind_and_pages,
    get_and_patch_description_with_if_match,
    converting_latent_to_actual_is_recorded_in_history,
    converting_actual_to_latent_requires_a_latent_type,
    patch_validation_names_every_bad_field,
    delete_removes_the_need,
    wrong_or_unknown_ids_are_404,
    role_rules_for_needs,
);

fn needs(customer_id: i64) -> String {
    format!("/api/v1/customers/{customer_id}/needs")
}

fn need(customer_id: i64, id: i64) -> String {
    format!("/api/v1/customers/{customer_id}/needs/{id}")
}

fn history(customer_id: i64) -> String {
    format!("/api/v1/customers/{customer_id}/history")
}

/// The problem names `field`: in `errors`, or (for an unknown field, which
/// has no path of its own) in the message.
fn names(r: &Resp, field: &str) -> bool {
    r.error_fields().iter().any(|f| f == field) || r.text.contains(&format!("`{field}`"))
}

fn assert_422_naming(r: &Resp, field: &str) {
    r.problem(422);
    assert!(names(r, field), "expected {field} in {}", r.text);
}

/// The codes of the errors about `field`.
fn codes_for(r: &Resp, field: &str) -> Vec<String> {
    r.body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["field"] == json!(field))
                .map(|e| e["code"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn customer(app: &TestApp, token: &str) -> i64 {
    app.create_customer(token, json!({"kind": "individual", "name": "陈静"}))
        .await
        .id()
}

async fn add(app: &TestApp, token: &str, customer_id: i64, body: Value) -> i64 {
    let r = app.post(&needs(customer_id), token, &body).await;
    assert_eq!(r.status, 201, "need creation failed: {}", r.text);
    r.id()
}

/// The need_converted events of a customer, newest first.
async fn conversions(app: &TestApp, token: &str, customer_id: i64) -> Vec<Value> {
    let r = app
        .get(
            &format!("{}?kind=need_converted&limit=500", history(customer_id)),
            token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

async fn create_actual_and_latent_needs(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin).await;

    let r = app
        .post(
            &needs(c),
            &admin,
            &json!({"kind": "actual", "description": "  Needs 12 boxes of tea a month  "}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let actual = r.id();
    assert_eq!(r.header("location"), Some(need(c, actual)));
    assert_eq!(r.etag_version(), Some(1));
    assert_eq!(r.body["customer_id"], json!(c));
    assert_eq!(r.body["kind"], json!("actual"));
    assert_eq!(r.body["latent_type"], Value::Null);
    assert_eq!(
        r.body["description"],
        json!("Needs 12 boxes of tea a month")
    );
    assert_eq!(r.body["version"], json!(1));
    assert!(r.body["created_at"].is_string() && r.body["updated_at"].is_string());

    for latent_type in [
        "insufficient_purchasing_power",
        "product_shortage",
        "unfamiliar_with_product",
        "competitive_market",
    ] {
        let r = app
            .post(
                &needs(c),
                &admin,
                &json!({"kind": "latent", "latent_type": latent_type, "description": "Maybe later"}),
            )
            .await;
        assert_eq!(r.status, 201, "{latent_type}: {}", r.text);
        assert_eq!(r.body["kind"], json!("latent"));
        assert_eq!(r.body["latent_type"], json!(latent_type));
    }

    // The Location answers with the need.
    let g = app.get(&need(c, actual), &admin).await;
    assert_eq!(g.status, 200, "{}", g.text);
    assert_eq!(g.etag_version(), Some(1));
    assert_eq!(
        g.body["description"],
        json!("Needs 12 boxes of tea a month")
    );
    // Creating needs records no conversion.
    assert!(conversions(&app, &admin, c).await.is_empty());
}

async fn latent_needs_need_a_latent_type_and_actual_ones_none(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin).await;

    let r = app
        .post(
            &needs(c),
            &admin,
            &json!({"kind": "latent", "description": "Cannot afford it yet"}),
        )
        .await;
    assert_422_naming(&r, "latent_type");
    assert_eq!(codes_for(&r, "latent_type"), vec!["required"]);

    let r = app
        .post(
            &needs(c),
            &admin,
            &json!({"kind": "latent", "latent_type": null, "description": "Cannot afford it yet"}),
        )
        .await;
    assert_422_naming(&r, "latent_type");

    let r = app
        .post(
            &needs(c),
            &admin,
            &json!({"kind": "actual", "latent_type": "product_shortage", "description": "Tea"}),
        )
        .await;
    assert_422_naming(&r, "latent_type");
    assert_eq!(codes_for(&r, "latent_type"), vec!["not_allowed"]);

    // An unknown latent type is named as such (and only as such).
    let r = app
        .post(
            &needs(c),
            &admin,
            &json!({"kind": "latent", "latent_type": "too_expensive", "description": "Tea"}),
        )
        .await;
    assert_422_naming(&r, "latent_type");
    assert_eq!(codes_for(&r, "latent_type"), vec!["invalid_value"]);
    let message = r.body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("too_expensive") && message.contains("product_shortage"),
        "the message names the value and the allowed ones: {}",
        r.text
    );
    // Codes are case-sensitive.
    let r = app
        .post(
            &needs(c),
            &admin,
            &json!({"kind": "Latent", "latent_type": "product_shortage", "description": "Tea"}),
        )
        .await;
    assert_422_naming(&r, "kind");

    let r = app.get(&format!("{}?limit=500", needs(c)), &admin).await;
    assert!(ids_of(&r).is_empty(), "nothing was recorded: {}", r.text);
}

async fn create_validation_names_every_bad_field(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin).await;

    let r = app.post(&needs(c), &admin, &json!({})).await;
    r.problem(422);
    assert_eq!(r.error_fields(), vec!["description", "kind"]);

    let r = app
        .post(
            &needs(c),
            &admin,
            &json!({"kind": "wish", "latent_type": "nope", "description": "   "}),
        )
        .await;
    r.problem(422);
    assert_eq!(
        r.error_fields(),
        vec!["description", "kind", "latent_type"],
        "{}",
        r.text
    );
    let r = app
        .post(
            &needs(c),
            &admin,
            &json!({"kind": "actual", "description": "x".repeat(2001)}),
        )
        .await;
    assert_422_naming(&r, "description");
    let r = app
        .post(
            &needs(c),
            &admin,
            &json!({"kind": "actual", "description": "Tea", "priority": 1}),
        )
        .await;
    assert_422_naming(&r, "priority");
    let r = app
        .post(&needs(c), &admin, &json!({"kind": 1, "description": "Tea"}))
        .await;
    assert_422_naming(&r, "kind");
    let r = app
        .post_raw(&needs(c), &admin, "application/json", "{\"kind\": ")
        .await;
    r.problem(400);
    let r = app
        .post_raw(&needs(c), &admin, "text/plain", "{\"kind\": \"actual\"}")
        .await;
    r.problem(415);
}

async fn list_filters_by_kind_and_pages(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin).await;
    let other = customer(&app, &admin).await;
    let a1 = add(
        &app,
        &admin,
        c,
        json!({"kind": "actual", "description": "a1"}),
    )
    .await;
    let l1 = add(
        &app,
        &admin,
        c,
        json!({"kind": "latent", "latent_type": "product_shortage", "description": "l1"}),
    )
    .await;
    let a2 = add(
        &app,
        &admin,
        c,
        json!({"kind": "actual", "description": "a2"}),
    )
    .await;
    let l2 = add(
        &app,
        &admin,
        c,
        json!({"kind": "latent", "latent_type": "competitive_market", "description": "l2"}),
    )
    .await;
    let a3 = add(
        &app,
        &admin,
        c,
        json!({"kind": "actual", "description": "a3"}),
    )
    .await;
    add(
        &app,
        &admin,
        other,
        json!({"kind": "actual", "description": "not c's"}),
    )
    .await;

    let all = app.get(&needs(c), &admin).await;
    assert_eq!(ids_of(&all), vec![a1, l1, a2, l2, a3]);
    assert!(all.body["next_cursor"].is_null());
    let r = app.get(&format!("{}?kind=latent", needs(c)), &admin).await;
    assert_eq!(ids_of(&r), vec![l1, l2]);
    assert!(r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["kind"] == json!("latent") && n["latent_type"].is_string()));
    let r = app.get(&format!("{}?kind=actual", needs(c)), &admin).await;
    assert_eq!(ids_of(&r), vec![a1, a2, a3]);

    // Pages of 2, with a need added meanwhile: nothing lost or repeated.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut added = None;
    loop {
        let url = match &cursor {
            Some(cur) => format!("{}?limit=2&cursor={cur}", needs(c)),
            None => format!("{}?limit=2", needs(c)),
        };
        let r = app.get(&url, &admin).await;
        let ids = ids_of(&r);
        assert!(ids.len() <= 2);
        seen.extend(ids);
        if added.is_none() {
            added = Some(
                add(
                    &app,
                    &admin,
                    c,
                    json!({"kind": "actual", "description": "new"}),
                )
                .await,
            );
        }
        match r.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
        assert!(seen.len() < 20, "the walk does not end");
    }
    assert_eq!(seen, vec![a1, l1, a2, l2, a3, added.unwrap()]);

    // Filtered pages.
    let r = app
        .get(&format!("{}?kind=actual&limit=1", needs(c)), &admin)
        .await;
    assert_eq!(ids_of(&r), vec![a1]);
    let cur = r.body["next_cursor"].as_str().unwrap().to_string();
    let r = app
        .get(
            &format!("{}?kind=actual&limit=1&cursor={cur}", needs(c)),
            &admin,
        )
        .await;
    assert_eq!(ids_of(&r), vec![a2]);

    // Bad query parameters are 400s naming the parameter.
    for (query, field) in [
        ("kind=wish", "kind"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("cursor=nope", "cursor"),
        ("sort=id", "sort"),
    ] {
        let r = app.get(&format!("{}?{query}", needs(c)), &admin).await;
        r.problem(400);
        assert!(names(&r, field), "expected {field} in {}", r.text);
    }
}

async fn get_and_patch_description_with_if_match(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin).await;
    let id = add(
        &app,
        &admin,
        c,
        json!({"kind": "latent", "latent_type": "unfamiliar_with_product", "description": "Old"}),
    )
    .await;

    let r = app
        .patch_if_match(
            &need(c, id),
            &admin,
            "\"1\"",
            &json!({"description": "  Has never tried the herbal range  "}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(2));
    assert_eq!(r.body["version"], json!(2));
    assert_eq!(
        r.body["description"],
        json!("Has never tried the herbal range")
    );
    // Kind and latent type are untouched.
    assert_eq!(r.body["kind"], json!("latent"));
    assert_eq!(r.body["latent_type"], json!("unfamiliar_with_product"));

    // A stale ETag: 412, nothing changes.
    let r = app
        .patch_if_match(
            &need(c, id),
            &admin,
            "\"1\"",
            &json!({"description": "Lost update"}),
        )
        .await;
    r.problem(412);
    let g = app.get(&need(c, id), &admin).await;
    assert_eq!(g.etag_version(), Some(2));
    assert_eq!(
        g.body["description"],
        json!("Has never tried the herbal range")
    );

    // Changing the latent type of a latent need is not a conversion.
    let r = app
        .patch_if_match(
            &need(c, id),
            &admin,
            "\"2\"",
            &json!({"latent_type": "insufficient_purchasing_power"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["latent_type"],
        json!("insufficient_purchasing_power")
    );
    assert_eq!(r.body["version"], json!(3));
    // An empty PATCH changes nothing but the version.
    let r = app.patch(&need(c, id), &admin, &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["kind"], json!("latent"));
    assert!(conversions(&app, &admin, c).await.is_empty());
}

async fn converting_latent_to_actual_is_recorded_in_history(app: TestApp) {
    let admin = app.admin_token().await;
    let (manager_id, manager) = app.user_with_role("manager").await;
    let c = customer(&app, &admin).await;
    let id = add(
        &app,
        &admin,
        c,
        json!({"kind": "latent", "latent_type": "unfamiliar_with_product",
               "description": "Has never tried our herbal range"}),
    )
    .await;
    let before = Utc::now() - Duration::seconds(5);
    let r = app
        .patch_if_match(
            &need(c, id),
            &manager,
            "\"1\"",
            &json!({"kind": "actual", "change_reason": "Tried the samples at the product day"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["kind"], json!("actual"));
    // The latent type is cleared.
    assert_eq!(r.body["latent_type"], Value::Null);
    assert_eq!(r.body["version"], json!(2));
    assert_eq!(
        r.body["description"],
        json!("Has never tried our herbal range")
    );
    let g = app.get(&need(c, id), &admin).await;
    assert_eq!(g.body["kind"], json!("actual"));
    assert_eq!(g.body["latent_type"], Value::Null);

    let events = conversions(&app, &admin, c).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["kind"], json!("need_converted"));
    assert_eq!(e["customer_id"], json!(c));
    assert_eq!(e["from"], json!("latent"));
    assert_eq!(e["to"], json!("actual"));
    assert_eq!(e["subject_id"], json!(id));
    assert_eq!(e["reason"], json!("Tried the samples at the product day"));
    assert_eq!(e["user_id"], json!(manager_id));
    let at = DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap();
    assert!(
        at >= before && at <= Utc::now() + Duration::seconds(5),
        "{at}"
    );
    // It is in the unfiltered history too.
    let r = app.get(&format!("{}?limit=500", history(c)), &admin).await;
    assert!(r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["kind"] == json!("need_converted") && x["subject_id"] == json!(id)));

    // Sending kind=actual again is no conversion; nor is a conversion
    // without a reason refused.
    let r = app
        .patch(&need(c, id), &admin, &json!({"kind": "actual"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(conversions(&app, &admin, c).await.len(), 1);
    // Converting while sending a latent type with kind actual is refused.
    let other = add(
        &app,
        &admin,
        c,
        json!({"kind": "latent", "latent_type": "product_shortage", "description": "Out of stock"}),
    )
    .await;
    let r = app
        .patch(
            &need(c, other),
            &admin,
            &json!({"kind": "actual", "latent_type": "product_shortage"}),
        )
        .await;
    assert_422_naming(&r, "latent_type");
    let r = app
        .patch(
            &need(c, other),
            &admin,
            &json!({"kind": "actual", "latent_type": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["latent_type"], Value::Null);
    let events = conversions(&app, &admin, c).await;
    assert_eq!(events.len(), 2);
    // Newest first; no reason given is kept as null.
    assert_eq!(events[0]["subject_id"], json!(other));
    assert_eq!(events[0]["reason"], Value::Null);
    assert_eq!(
        events[0]["user_id"],
        json!(app_admin_id(&app, &admin).await)
    );
}

/// The admin's user id.
async fn app_admin_id(app: &TestApp, admin: &str) -> i64 {
    let r = app.get("/api/v1/users?limit=500", admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == json!(app.admin_email))
        .and_then(|u| u["id"].as_i64())
        .unwrap_or_else(|| panic!("admin not listed: {}", r.text))
}

async fn converting_actual_to_latent_requires_a_latent_type(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin).await;
    let id = add(
        &app,
        &admin,
        c,
        json!({"kind": "actual", "description": "Wants the spring range"}),
    )
    .await;

    let r = app
        .patch(
            &need(c, id),
            &admin,
            &json!({"kind": "latent", "change_reason": "Budget frozen"}),
        )
        .await;
    assert_422_naming(&r, "latent_type");
    // A latent type on an actual need (without converting it) is refused too.
    let r = app
        .patch(
            &need(c, id),
            &admin,
            &json!({"latent_type": "insufficient_purchasing_power"}),
        )
        .await;
    assert_422_naming(&r, "latent_type");
    // A blank reason is refused, not dropped from the history.
    let r = app
        .patch(
            &need(c, id),
            &admin,
            &json!({"kind": "latent", "latent_type": "insufficient_purchasing_power",
                    "change_reason": "   "}),
        )
        .await;
    assert_eq!(r.code_of("change_reason"), "blank", "{}", r.text);
    let g = app.get(&need(c, id), &admin).await;
    assert_eq!(g.body["kind"], json!("actual"));
    assert_eq!(g.body["version"], json!(1));
    assert!(conversions(&app, &admin, c).await.is_empty());

    let r = app
        .patch_if_match(
            &need(c, id),
            &admin,
            "\"1\"",
            &json!({"kind": "latent", "latent_type": "insufficient_purchasing_power",
                    "change_reason": "  Budget frozen until next year  "}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["kind"], json!("latent"));
    assert_eq!(
        r.body["latent_type"],
        json!("insufficient_purchasing_power")
    );
    assert_eq!(r.body["version"], json!(2));
    let events = conversions(&app, &admin, c).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["from"], json!("actual"));
    assert_eq!(events[0]["to"], json!("latent"));
    assert_eq!(events[0]["subject_id"], json!(id));
    assert_eq!(events[0]["reason"], json!("Budget frozen until next year"));

    // And back again: two conversions in the history.
    let r = app
        .patch(&need(c, id), &admin, &json!({"kind": "actual"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["latent_type"], Value::Null);
    let events = conversions(&app, &admin, c).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["from"], json!("latent"));
    assert_eq!(events[0]["to"], json!("actual"));
    assert_eq!(events[1]["from"], json!("actual"));
}

async fn patch_validation_names_every_bad_field(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin).await;
    let id = add(
        &app,
        &admin,
        c,
        json!({"kind": "actual", "description": "Tea"}),
    )
    .await;
    let r = app
        .patch(
            &need(c, id),
            &admin,
            &json!({"kind": "maybe", "latent_type": "nope", "description": " ",
                    "change_reason": ""}),
        )
        .await;
    r.problem(422);
    assert_eq!(
        r.error_fields(),
        vec!["change_reason", "description", "kind", "latent_type"],
        "{}",
        r.text
    );
    // The kind and latent type the body sends clash: named with the body's
    // other faults, not after their fix.
    for (body, code) in [
        (
            json!({"kind": "actual", "latent_type": "competitive_market", "description": " "}),
            "not_allowed",
        ),
        (
            json!({"kind": "latent", "latent_type": null, "description": " "}),
            "required",
        ),
    ] {
        let r = app.patch(&need(c, id), &admin, &body).await;
        r.problem(422);
        assert_eq!(
            r.error_fields(),
            ["description", "latent_type"],
            "{body}: {}",
            r.text
        );
        assert_eq!(r.code_of("latent_type"), code, "{body}: {}", r.text);
    }
    for (body, field) in [
        (json!({"description": "x".repeat(2001)}), "description"),
        (json!({"change_reason": "x".repeat(501)}), "change_reason"),
        (json!({"kind": null}), "kind"),
        (json!({"description": null}), "description"),
        (json!({"customer_id": 2}), "customer_id"),
    ] {
        let r = app.patch(&need(c, id), &admin, &body).await;
        assert_422_naming(&r, field);
    }
    let g = app.get(&need(c, id), &admin).await;
    assert_eq!(g.body["version"], json!(1));
    assert_eq!(g.body["description"], json!("Tea"));
    // A latent need that stays latent keeps a type: null is no way to
    // clear it.
    let latent = add(
        &app,
        &admin,
        c,
        json!({"kind": "latent", "latent_type": "competitive_market", "description": "Later"}),
    )
    .await;
    let r = app
        .patch(&need(c, latent), &admin, &json!({"latent_type": null}))
        .await;
    r.problem(422);
    assert_eq!(
        r.error_codes(),
        [("latent_type".to_string(), "required".to_string())],
        "{}",
        r.text
    );
    let g = app.get(&need(c, latent), &admin).await;
    assert_eq!(g.body["latent_type"], "competitive_market", "{}", g.text);
}

async fn delete_removes_the_need(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin).await;
    let keep = add(
        &app,
        &admin,
        c,
        json!({"kind": "actual", "description": "Keep"}),
    )
    .await;
    let id = add(
        &app,
        &admin,
        c,
        json!({"kind": "latent", "latent_type": "competitive_market", "description": "Gone"}),
    )
    .await;
    let r = app.delete(&need(c, id), &admin).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    app.get(&need(c, id), &admin).await.problem(404);
    app.delete(&need(c, id), &admin).await.problem(404);
    app.patch(&need(c, id), &admin, &json!({"description": "x"}))
        .await
        .problem(404);
    assert_eq!(ids_of(&app.get(&needs(c), &admin).await), vec![keep]);
}

async fn wrong_or_unknown_ids_are_404(app: TestApp) {
    let admin = app.admin_token().await;
    let a = customer(&app, &admin).await;
    let b = customer(&app, &admin).await;
    let id = add(
        &app,
        &admin,
        a,
        json!({"kind": "actual", "description": "Tea"}),
    )
    .await;
    // The need exists, but not under customer B.
    app.get(&need(b, id), &admin).await.problem(404);
    app.patch(
        &need(b, id),
        &admin,
        &json!({"kind": "latent", "latent_type": "product_shortage"}),
    )
    .await
    .problem(404);
    app.delete(&need(b, id), &admin).await.problem(404);
    assert_eq!(
        app.get(&need(a, id), &admin).await.body["version"],
        json!(1)
    );
    // Unknown customer or need.
    app.get(&needs(999_999), &admin).await.problem(404);
    app.post(
        &needs(999_999),
        &admin,
        &json!({"kind": "actual", "description": "Tea"}),
    )
    .await
    .problem(404);
    app.get(&need(a, 999_999), &admin).await.problem(404);
    app.get("/api/v1/customers/1/needs/first", &admin)
        .await
        .problem(404);
    app.get(&history(999_999), &admin).await.problem(404);
}

async fn role_rules_for_needs(app: TestApp) {
    let admin = app.admin_token().await;
    let (rep_id, rep) = app.user_with_role("sales").await;
    let (_, other_rep) = app.user_with_role("sales").await;
    let (_, viewer) = app.user_with_role("viewer").await;
    let c = app
        .create_customer(
            &admin,
            json!({"kind": "individual", "name": "Rep's", "owner_id": rep_id}),
        )
        .await
        .id();
    let body = json!({"kind": "latent", "latent_type": "product_shortage", "description": "Tea"});
    let id = add(&app, &admin, c, body.clone()).await;

    app.get(&needs(c), "").await.problem(401);
    app.post(&needs(c), "", &body).await.problem(401);

    // Viewers read only.
    assert_eq!(app.get(&needs(c), &viewer).await.status, 200);
    assert_eq!(app.get(&need(c, id), &viewer).await.status, 200);
    assert_eq!(app.get(&history(c), &viewer).await.status, 200);
    app.post(&needs(c), &viewer, &body).await.problem(403);
    app.patch(&need(c, id), &viewer, &json!({"kind": "actual"}))
        .await
        .problem(403);
    app.delete(&need(c, id), &viewer).await.problem(403);

    // Sales write only their own customers' needs.
    app.post(&needs(c), &other_rep, &body).await.problem(403);
    app.patch(&need(c, id), &other_rep, &json!({"kind": "actual"}))
        .await
        .problem(403);
    app.delete(&need(c, id), &other_rep).await.problem(403);
    assert_eq!(app.get(&need(c, id), &other_rep).await.status, 200);
    assert!(conversions(&app, &admin, c).await.is_empty());

    add(&app, &rep, c, body.clone()).await;
    let r = app
        .patch(&need(c, id), &rep, &json!({"kind": "actual"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let events = conversions(&app, &admin, c).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["user_id"], json!(rep_id));
    let r = app.delete(&need(c, id), &rep).await;
    assert_eq!(r.status, 204, "{}", r.text);
}
