//! An archived card is read-only until restored: no contacts, sales,
//! needs or complaints are logged on it (they moved its figures while it
//! listed nowhere), and its follow-ups are not due on the morning list.

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

backend_tests!(
    an_archived_card_takes_no_activity_until_restored,
    an_archived_card_itself_is_read_only_until_restored,
    conflicts_on_a_unique_field_name_it,
    a_patch_of_its_records_that_changes_nothing_is_a_200,
    a_patch_of_its_plans_that_changes_nothing_is_a_200,
);

fn stamp(t: chrono::DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The cards of the due list.
async fn due_ids(app: &TestApp, token: &str) -> Vec<i64> {
    let before = stamp(Utc::now() + Duration::hours(1));
    listed(app, token, &format!("follow_up_before={before}")).await
}

/// The cards of the interactions `query` lists.
async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<i64> {
    let r = app
        .get(&format!("/api/v1/interactions?{query}"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["customer_id"].as_i64())
                .collect()
        })
        .unwrap_or_default()
}

async fn an_archived_card_takes_no_activity_until_restored(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Archived"}))
        .await
        .id();
    let card = format!("/api/v1/customers/{c}");
    let call = json!({"type": "call", "summary": "Call back",
                      "follow_up_at": stamp(Utc::now() - Duration::hours(2))});
    let r = app
        .post(&format!("{card}/interactions"), &token, &call)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(due_ids(&app, &token).await, [c]);
    let complaint = json!({"type": "complaint", "summary": "Late delivery"});
    let r = app
        .post(&format!("{card}/interactions"), &token, &complaint)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let open = "complaint_status=open";
    assert_eq!(listed(&app, &token, open).await, [c]);

    let r = app.delete(&card, &token).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(due_ids(&app, &token).await, Vec::<i64>::new());
    // Its open complaints leave the list of work to do as its follow-ups
    // do (a review: resolving one was a 409); they are still its history.
    assert_eq!(listed(&app, &token, open).await, Vec::<i64>::new());
    assert_eq!(listed(&app, &token, "type=complaint").await, [c]);
    let writes: [(&str, Value); 4] = [
        (
            "interactions",
            json!({"type": "complaint", "summary": "Broken box"}),
        ),
        (
            "transactions",
            json!({"amount_cents": 100, "product": "Tea"}),
        ),
        (
            "needs",
            json!({"kind": "actual", "description": "More tea"}),
        ),
        ("contacts", json!({"name": "Assistant"})),
    ];
    for (list, body) in &writes {
        let r = app.post(&format!("{card}/{list}"), &token, body).await;
        let problem = r.problem(409);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("restore"),
            "{list}: {}",
            r.text
        );
        assert_eq!(r.code_of("customer_id"), "archived", "{list}");
    }
    // A survey response too: it changes the card's satisfaction.
    let (survey, q) = crate::surveys::open_survey(&app, &token, json!({})).await;
    let answers = [(q[0], json!(4)), (q[1], json!(5))];
    let r = crate::surveys::respond(&app, &token, survey, c, &answers).await;
    r.problem(409);
    assert_eq!(r.code_of("customer_id"), "archived", "{}", r.text);
    let r = app
        .post(
            "/api/v1/transactions/bulk",
            &token,
            &json!({"items": [{"external_id": "A-1", "customer_id": c, "amount_cents": 1, "product": "x"}]}),
        )
        .await;
    assert_eq!(r.body["items"][0]["status"], "error", "{}", r.text);
    // Named for what it is: the customer is archived, not the order's
    // external id in conflict.
    item_is_archived(&r, 0);
    // An archived card reads as any other (its GET takes no parameter).
    let archived = app.get(&card, &token).await;
    assert_eq!(archived.status, 200, "{}", archived.text);
    // The complaint logged before it was archived, not the one refused.
    assert_eq!(archived.body["open_complaints"], 1, "{}", archived.text);
    assert_eq!(archived.body["purchase_count"], 0, "{}", archived.text);

    let r = app
        .post(&format!("{card}/restore"), &token, &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(due_ids(&app, &token).await, [c]);
    assert_eq!(listed(&app, &token, open).await, [c]);
    for (list, body) in &writes {
        let r = app.post(&format!("{card}/{list}"), &token, body).await;
        assert_eq!(r.status, 201, "{list}: {}", r.text);
    }
    let r = crate::surveys::respond(&app, &token, survey, c, &answers).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// Found by a review: the card itself took PATCHes and bulk updates while
/// archived (reassigned, moved down the funnel, hidden from every list).
async fn an_archived_card_itself_is_read_only_until_restored(app: TestApp) {
    let token = app.admin_token().await;
    let id = app
        .create_customer(
            &token,
            json!({"kind": "individual", "name": "Gone", "external_id": "GONE-1", "region": "East"}),
        )
        .await
        .id();
    let card = format!("/api/v1/customers/{id}");
    let r = app.delete(&card, &token).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app.patch(&card, &token, &json!({"region": "West"})).await;
    r.problem(409);
    assert_eq!(r.code_of("customer_id"), "archived", "{}", r.text);
    // The archived 409 before the rules that need the database (an
    // inactive owner, an unknown source customer, a key another card holds):
    // each 422 or 409, fixed and resent, only got the archived 409 (a review).
    let (gone_user, _) = app.user_with_role("sales").await;
    let r = app
        .patch(
            &format!("/api/v1/users/{gone_user}"),
            &token,
            &json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.create_customer(
        &token,
        json!({"kind": "individual", "name": "Holder", "external_id": "HELD-1"}),
    )
    .await;
    for body in [
        json!({"owner_id": gone_user}),
        json!({"acquisition_source": "referral", "source_customer_id": 999_999}),
        json!({"external_id": "HELD-1"}),
    ] {
        let r = app.patch(&card, &token, &body).await;
        r.problem(409);
        assert_eq!(
            r.error_codes(),
            [("customer_id".to_string(), "archived".to_string())],
            "{body}: {}",
            r.text
        );
    }
    // Changing nothing writes nothing, archived or not.
    let r = app.patch(&card, &token, &json!({"region": "East"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], 2, "{}", r.text);
    // An ERP resync: the card as it is is `unchanged`, a change an error.
    let items = json!({"items": [
        {"external_id": "GONE-1", "kind": "individual", "name": "Gone", "region": "East"},
    ]});
    let r = crate::sync_bulk::bulk(&app, "/api/v1/customers/bulk", &token, &items, None).await;
    assert_eq!(r.body["items"][0]["status"], "unchanged", "{}", r.text);
    let items = json!({"items": [{"external_id": "GONE-1", "region": "West"}]});
    let r = crate::sync_bulk::bulk(&app, "/api/v1/customers/bulk", &token, &items, None).await;
    assert_eq!(r.body["items"][0]["status"], "error", "{}", r.text);
    assert_eq!(
        r.body["items"][0]["errors"][0]["code"], "archived",
        "{}",
        r.text
    );
    let read = app.get(&card, &token).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["region"], "East", "{}", read.text);
    // Restored, it takes changes again.
    let r = app
        .post(&format!("{card}/restore"), &token, &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.patch(&card, &token, &json!({"region": "West"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["region"], "West");
}

/// A 409 for a value another record holds names the field, as a 422 would
/// (found by a review: only the free-text detail said which), and an owner
/// cannot be cleared.
async fn conflicts_on_a_unique_field_name_it(app: TestApp) {
    let token = app.admin_token().await;
    let body = json!({"kind": "individual", "name": "Twin", "external_id": "TWIN-1"});
    let first = app.create_customer(&token, body.clone()).await.id();
    let r = app.post("/api/v1/customers", &token, &body).await;
    r.problem(409);
    assert_eq!(r.code_of("external_id"), "conflict", "{}", r.text);
    let other = app
        .create_customer(&token, json!({"kind": "individual", "name": "Other"}))
        .await
        .id();
    let r = app
        .patch(
            &format!("/api/v1/customers/{other}"),
            &token,
            &json!({"external_id": "TWIN-1"}),
        )
        .await;
    r.problem(409);
    assert_eq!(r.code_of("external_id"), "conflict", "{}", r.text);
    let order = json!({"amount_cents": 100, "product": "Tea", "external_id": "SO-1"});
    let orders = format!("/api/v1/customers/{first}/transactions");
    assert_eq!(app.post(&orders, &token, &order).await.status, 201);
    let r = app.post(&orders, &token, &order).await;
    r.problem(409);
    assert_eq!(r.code_of("external_id"), "conflict", "{}", r.text);
    let segment = json!({"name": "Twins", "kind": "static", "member_ids": [first]});
    assert_eq!(
        app.post("/api/v1/segments", &token, &segment).await.status,
        201
    );
    let r = app.post("/api/v1/segments", &token, &segment).await;
    r.problem(409);
    assert_eq!(r.code_of("name"), "conflict", "{}", r.text);
    let user = json!({"email": "twin@example.com", "name": "Twin", "role": "viewer",
                      "password": "a long test password"});
    assert_eq!(app.post("/api/v1/users", &token, &user).await.status, 201);
    let r = app.post("/api/v1/users", &token, &user).await;
    r.problem(409);
    assert_eq!(r.code_of("email"), "conflict", "{}", r.text);
    // A card always has an owner: null was taken for "keep" before.
    let r = app
        .patch(
            &format!("/api/v1/customers/{other}"),
            &token,
            &json!({"owner_id": null}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.code_of("owner_id"), "required", "{}", r.text);
}

/// A PATCH of an archived card's contact, interaction, need or order that
/// changes nothing (`{}`, or a field's current value) writes nothing and is
/// a 200, as the card's own PATCH is (it was a 409 for its records: a form
/// saved unchanged answered differently by resource); a change is a 409.
async fn a_patch_of_its_records_that_changes_nothing_is_a_200(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Archived"}))
        .await
        .id();
    let card = format!("/api/v1/customers/{c}");
    let records: [(&str, Value, &str); 4] = [
        ("contacts", json!({"name": "Assistant"}), "name"),
        (
            "interactions",
            json!({"type": "call", "summary": "Called"}),
            "summary",
        ),
        (
            "needs",
            json!({"kind": "actual", "description": "More tea"}),
            "description",
        ),
        (
            "transactions",
            json!({"amount_cents": 100, "product": "Tea"}),
            "product",
        ),
    ];
    let mut urls = Vec::new();
    for (list, body, field) in &records {
        let r = app.post(&format!("{card}/{list}"), &token, body).await;
        assert_eq!(r.status, 201, "{list}: {}", r.text);
        urls.push((
            format!("{card}/{list}/{}", r.id()),
            *field,
            body[*field].clone(),
        ));
    }
    let r = app.delete(&card, &token).await;
    assert_eq!(r.status, 204, "{}", r.text);
    for (url, field, current) in &urls {
        for same in [json!({}), json!({ *field: current })] {
            let r = app.patch(url, &token, &same).await;
            assert_eq!(r.status, 200, "{url} {same}: {}", r.text);
            assert_eq!(r.body["version"], 1, "{url}: {}", r.text);
        }
        let r = app.patch(url, &token, &json!({ *field: "Changed" })).await;
        r.problem(409);
        assert_eq!(r.code_of("customer_id"), "archived", "{url}: {}", r.text);
    }
    // A body breaking a rule against the stored row (no follow-up to mark
    // done; a latent need without its type) is the 409 too: its 422, fixed
    // and resent, only met the 409.
    for (url, body) in [
        (&urls[1].0, json!({"follow_up_done": true})),
        (&urls[2].0, json!({"kind": "latent"})),
        // An order in another currency than the card's, or given a key
        // with an invisible character (both 422s came first).
        (&urls[3].0, json!({"currency": "USD"})),
        (&urls[3].0, json!({"external_id": "SO-9\u{200b}"})),
    ] {
        let r = app.patch(url, &token, &body).await;
        r.problem(409);
        assert_eq!(
            r.code_of("customer_id"),
            "archived",
            "{url} {body}: {}",
            r.text
        );
    }
    // A record that is not there is a 404 on DELETE as on PATCH (the DELETE
    // of contacts, needs and orders answered the archived 409, sending the
    // user to a restore only to meet the 404); one that is there, the 409.
    for (list, _, _) in &records {
        let r = app.delete(&format!("{card}/{list}/999999"), &token).await;
        r.problem(404);
    }
    for (url, _, _) in &urls {
        let r = app.delete(url, &token).await;
        r.problem(409);
        assert_eq!(r.code_of("customer_id"), "archived", "{url}: {}", r.text);
    }
}

/// The same for an account plan and its actions (a key customer's).
async fn a_patch_of_its_plans_that_changes_nothing_is_a_200(app: TestApp) {
    let token = app.admin_token().await;
    let key = crate::account_plans::key_customer(&app, &token).await;
    let plans = "/api/v1/account-plans";
    let r = app
        .post(plans, &token, &crate::account_plans::plan_body(key))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let plan = format!("{plans}/{}", r.id());
    let objective = r.body["objective"].clone();
    let due = Utc::now().format("%Y-%m-%d").to_string();
    let action = json!({"type": "executive_visit", "due_date": due, "description": "Visit"});
    let r = app.post(&format!("{plan}/actions"), &token, &action).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let action = format!("{plan}/actions/{}", r.id());
    let r = app
        .delete(&format!("/api/v1/customers/{key}"), &token)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    // A change whose rule reads the stored row or the database (a period
    // against the stored one, a new owner) is the 409 too: its 422, fixed
    // and resent, only met the 409.
    for (url, same, changes) in [
        (
            &plan,
            json!({ "objective": objective }),
            vec![
                json!({"objective": "Changed"}),
                json!({"period_end": "2000-01-01"}),
                json!({"period_start": "2020-01-01", "period_end": "2035-01-01"}),
            ],
        ),
        (
            &action,
            json!({"description": "Visit"}),
            vec![
                json!({"description": "Changed"}),
                json!({"owner_id": 987_654_321}),
            ],
        ),
    ] {
        let version = app.get(url, &token).await.body["version"].clone();
        for body in [json!({}), same] {
            let r = app.patch(url, &token, &body).await;
            assert_eq!(r.status, 200, "{url} {body}: {}", r.text);
            assert_eq!(r.body["version"], version, "{url}: {}", r.text);
        }
        for changed in changes {
            let r = app.patch(url, &token, &changed).await;
            r.problem(409);
            assert_eq!(
                r.code_of("customer_id"),
                "archived",
                "{url} {changed}: {}",
                r.text
            );
        }
    }
    // A new plan too, as the spec's 409 says.
    let r = app
        .post(plans, &token, &crate::account_plans::plan_body(key))
        .await;
    r.problem(409);
    assert_eq!(r.code_of("customer_id"), "archived", "{}", r.text);
    let spec = app.get("/openapi.json", "").await.body;
    let conflict = &spec["paths"]["/api/v1/account-plans"]["post"]["responses"]["409"];
    assert!(
        conflict["description"]
            .as_str()
            .is_some_and(|d| d.contains("archived")),
        "{conflict}"
    );
}

/// Bulk item `i` of `r` was refused for its archived customer.
pub fn item_is_archived(r: &Resp, i: usize) {
    let error = &r.body["items"][i]["errors"][0];
    assert_eq!(
        (&error["field"], &error["code"]),
        (&json!("customer_id"), &json!("archived")),
        "{}",
        r.text
    );
}
