//! `/api/v1/customers/{id}/contacts`: the contact people of a customer.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::changes::read_all;
use crate::helpers::TestApp;

backend_tests!(
    contact_create_answers_201_with_location_and_etag,
    contact_role_defaults_to_other_and_accepts_every_role,
    contact_list_holds_only_that_customers_contacts,
    contact_list_walks_pages_of_two_without_loss_or_repeat,
    contact_list_rejects_bad_limit_and_cursor,
    contact_through_the_wrong_customer_is_404,
    contact_patch_changes_fields_clears_nulls_and_bumps_version,
    contact_patch_with_stale_if_match_is_412,
    contact_delete_answers_204_then_404,
    a_deleted_contacts_details_leave_the_change_feed,
    contacts_of_an_unknown_customer_are_404,
    contact_validation_names_every_bad_field_at_once,
    contact_name_is_required_and_not_blank,
    contact_patch_validation_names_every_bad_field,
    contact_unknown_field_is_422,
    contact_writes_follow_the_customer_write_rules,
    contact_phone_and_email_are_judged_trimmed_as_a_cards,
);

async fn org(app: &TestApp, token: &str, name: &str) -> i64 {
    app.create_customer(token, json!({"kind": "organization", "name": name}))
        .await
        .id()
}

fn contacts_path(customer_id: i64) -> String {
    format!("/api/v1/customers/{customer_id}/contacts")
}

async fn add_contact(app: &TestApp, token: &str, customer_id: i64, body: Value) -> Value {
    let r = app.post(&contacts_path(customer_id), token, &body).await;
    assert_eq!(r.status, 201, "contact creation failed: {}", r.text);
    r.body
}

async fn contact_create_answers_201_with_location_and_etag(app: TestApp) {
    let admin = app.admin_token().await;
    let cid = org(&app, &admin, "杭州华康贸易有限公司").await;
    let r = app
        .post(
            &contacts_path(cid),
            &admin,
            &json!({
                "name": "  王伟 ",
                "role": "decision_maker",
                "title": "General manager",
                "email": "Wang.Wei@Huakang.Example",
                "phone": "+86 138-0013-8000",
                "notes": "prefers WeChat"
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.id();
    assert_eq!(
        r.header("location").as_deref(),
        Some(format!("/api/v1/customers/{cid}/contacts/{id}").as_str())
    );
    assert_eq!(r.etag_version(), Some(1));
    assert_eq!(r.body["customer_id"], json!(cid));
    assert_eq!(r.body["name"], "王伟", "the name is trimmed");
    assert_eq!(r.body["role"], "decision_maker");
    assert_eq!(r.body["title"], "General manager");
    assert_eq!(
        r.body["email"], "wang.wei@huakang.example",
        "emails are stored lower-case"
    );
    assert_eq!(r.body["phone"], "+86 138-0013-8000");
    assert_eq!(r.body["notes"], "prefers WeChat");
    assert_eq!(r.body["version"], 1);
    assert!(r.body["created_at"].is_string() && r.body["updated_at"].is_string());

    // The Location answers with the same contact and ETag.
    let location = r.header("location").unwrap();
    let got = app.get(&location, &admin).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.etag_version(), Some(1));
    assert_eq!(got.body, r.body);
}

async fn contact_role_defaults_to_other_and_accepts_every_role(app: TestApp) {
    let admin = app.admin_token().await;
    let cid = org(&app, &admin, "Roles Ltd").await;
    let c = add_contact(&app, &admin, cid, json!({"name": "No Role"})).await;
    assert_eq!(c["role"], "other");
    assert!(c["title"].is_null() && c["email"].is_null() && c["phone"].is_null());
    for role in ["decision_maker", "handler", "other"] {
        let c = add_contact(
            &app,
            &admin,
            cid,
            json!({"name": format!("As {role}"), "role": role}),
        )
        .await;
        assert_eq!(c["role"], role);
        let got = app
            .get(&format!("{}/{}", contacts_path(cid), c["id"]), &admin)
            .await;
        assert_eq!(got.status, 200);
        assert_eq!(got.body["role"], role);
    }
}

fn ids_of(body: &Value) -> Vec<i64> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {body}"))
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

async fn contact_list_holds_only_that_customers_contacts(app: TestApp) {
    let admin = app.admin_token().await;
    let a = org(&app, &admin, "Alpha").await;
    let b = org(&app, &admin, "Beta").await;
    let empty = org(&app, &admin, "Empty").await;
    let mut a_ids = Vec::new();
    for n in 0..3 {
        a_ids.push(
            add_contact(&app, &admin, a, json!({"name": format!("alpha {n}")})).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let b_id = add_contact(
        &app,
        &admin,
        b,
        json!({"name": "beta 0", "role": "handler"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();

    let r = app.get(&contacts_path(a), &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ids_of(&r.body), a_ids);
    assert!(r.body["next_cursor"].is_null());
    assert!(r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["customer_id"] == json!(a)));

    let r = app.get(&contacts_path(b), &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(ids_of(&r.body), vec![b_id]);
    assert_eq!(r.body["items"][0]["role"], "handler");

    let r = app.get(&contacts_path(empty), &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["items"], json!([]));
    assert!(r.body["next_cursor"].is_null());
}

async fn contact_list_walks_pages_of_two_without_loss_or_repeat(app: TestApp) {
    let admin = app.admin_token().await;
    let cid = org(&app, &admin, "Paged").await;
    let other = org(&app, &admin, "Other").await;
    let mut expected = HashSet::new();
    for n in 0..5 {
        expected.insert(
            add_contact(&app, &admin, cid, json!({"name": format!("p{n}")})).await["id"]
                .as_i64()
                .unwrap(),
        );
        add_contact(&app, &admin, other, json!({"name": format!("o{n}")})).await;
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    let mut inserted_meanwhile = false;
    loop {
        let path = match &cursor {
            Some(c) => format!("{}?limit=2&cursor={c}", contacts_path(cid)),
            None => format!("{}?limit=2", contacts_path(cid)),
        };
        let r = app.get(&path, &admin).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let ids = ids_of(&r.body);
        assert!(ids.len() <= 2, "a page has at most `limit` items: {ids:?}");
        seen.extend(ids);
        pages += 1;
        // Adding a contact while walking must not make the walk lose or repeat one.
        if !inserted_meanwhile {
            expected.insert(
                add_contact(&app, &admin, cid, json!({"name": "late"})).await["id"]
                    .as_i64()
                    .unwrap(),
            );
            inserted_meanwhile = true;
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(
                    r.body["items"].as_array().unwrap().len(),
                    2,
                    "a full page precedes a cursor"
                );
                cursor = Some(c.to_string());
            }
            None => break,
        }
        assert!(pages < 10, "the walk does not end");
    }
    assert_eq!(pages, 3, "6 contacts in pages of 2");
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a contact was repeated: {seen:?}");
    assert_eq!(
        unique, expected,
        "a contact was lost or another customer's appeared"
    );
}

async fn contact_list_rejects_bad_limit_and_cursor(app: TestApp) {
    let admin = app.admin_token().await;
    let cid = org(&app, &admin, "Limits").await;
    for query in ["limit=0", "limit=501", "limit=abc", "limit=-1"] {
        let r = app
            .get(&format!("{}?{query}", contacts_path(cid)), &admin)
            .await;
        r.problem(400);
        assert_eq!(r.error_fields(), vec!["limit"], "{query}: {}", r.text);
    }
    let r = app
        .get(&format!("{}?cursor=garbage!", contacts_path(cid)), &admin)
        .await;
    r.problem(400);
    assert_eq!(r.error_fields(), vec!["cursor"]);
    let r = app
        .get(&format!("{}?colour=red", contacts_path(cid)), &admin)
        .await;
    r.problem(400);
}

async fn contact_through_the_wrong_customer_is_404(app: TestApp) {
    let admin = app.admin_token().await;
    let a = org(&app, &admin, "Owner A").await;
    let b = org(&app, &admin, "Stranger B").await;
    let c = add_contact(&app, &admin, a, json!({"name": "Li Na"})).await;
    let id = c["id"].as_i64().unwrap();
    let wrong = format!("{}/{id}", contacts_path(b));

    app.get(&wrong, &admin).await.problem(404);
    app.patch(&wrong, &admin, &json!({"name": "Hijacked"}))
        .await
        .problem(404);
    app.delete(&wrong, &admin).await.problem(404);

    // Untouched under its own customer.
    let r = app.get(&format!("{}/{id}", contacts_path(a)), &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "Li Na");
    assert_eq!(r.body["version"], 1);
    // And an unknown contact id under the right customer.
    app.get(&format!("{}/{}", contacts_path(a), id + 1000), &admin)
        .await
        .problem(404);
}

async fn contact_patch_changes_fields_clears_nulls_and_bumps_version(app: TestApp) {
    let admin = app.admin_token().await;
    let cid = org(&app, &admin, "Patchy").await;
    let c = add_contact(
        &app,
        &admin,
        cid,
        json!({"name": "Zhang San", "title": "Buyer", "email": "zs@example.com", "phone": "0571 8888 1234", "notes": "n"}),
    )
    .await;
    let path = format!("{}/{}", contacts_path(cid), c["id"]);

    let r = app
        .patch(&path, &admin, &json!({"title": "Head of purchasing", "role": "handler", "email": null, "notes": null}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(2));
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.body["title"], "Head of purchasing");
    assert_eq!(r.body["role"], "handler");
    assert!(r.body["email"].is_null(), "null clears: {}", r.text);
    assert!(r.body["notes"].is_null());
    assert_eq!(r.body["name"], "Zhang San", "fields not sent stay");
    assert_eq!(r.body["phone"], "0571 8888 1234");
    assert_eq!(r.body["created_at"], c["created_at"]);

    // What PATCH answered is what a read sees.
    let got = app.get(&path, &admin).await;
    assert_eq!(got.body, r.body);
    assert_eq!(got.etag_version(), Some(2));

    // A second patch builds on the first.
    let r = app
        .patch(
            &path,
            &admin,
            &json!({"name": "Zhang San Jr", "phone": null}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["version"], 3);
    assert_eq!(r.body["name"], "Zhang San Jr");
    assert!(r.body["phone"].is_null());
    assert_eq!(r.body["title"], "Head of purchasing");
}

async fn contact_patch_with_stale_if_match_is_412(app: TestApp) {
    let admin = app.admin_token().await;
    let cid = org(&app, &admin, "Concurrent").await;
    let c = add_contact(&app, &admin, cid, json!({"name": "First"})).await;
    let path = format!("{}/{}", contacts_path(cid), c["id"]);

    let r = app
        .patch_if_match(&path, &admin, "\"1\"", &json!({"name": "Second"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(2));
    let etag = r.header("etag").unwrap_or_default();

    // Someone still holding version 1 is refused, and nothing changes.
    let r = app
        .patch_if_match(&path, &admin, "\"1\"", &json!({"name": "Lost update"}))
        .await;
    r.problem(412);
    let got = app.get(&path, &admin).await;
    assert_eq!(got.body["name"], "Second");
    assert_eq!(got.body["version"], 2);

    // The current ETag (also weak, or `*`) is accepted.
    let r = app
        .patch_if_match(&path, &admin, &etag, &json!({"name": "Third"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .patch_if_match(&path, &admin, "W/\"3\"", &json!({"name": "Fourth"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .patch_if_match(&path, &admin, "*", &json!({"name": "Fifth"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], 5);

    // An If-Match that is no ETag of ours is a 400, not a 500.
    app.patch_if_match(&path, &admin, "\"banana\"", &json!({"name": "x"}))
        .await
        .problem(400);
}

async fn contact_delete_answers_204_then_404(app: TestApp) {
    let admin = app.admin_token().await;
    let cid = org(&app, &admin, "Deleting").await;
    let keep = add_contact(&app, &admin, cid, json!({"name": "Keep"})).await;
    let gone = add_contact(&app, &admin, cid, json!({"name": "Gone"})).await;
    let path = format!("{}/{}", contacts_path(cid), gone["id"]);

    let r = app.delete(&path, &admin).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    app.get(&path, &admin).await.problem(404);
    app.delete(&path, &admin).await.problem(404);
    app.patch(&path, &admin, &json!({"name": "Back"}))
        .await
        .problem(404);

    let r = app.get(&contacts_path(cid), &admin).await;
    assert_eq!(ids_of(&r.body), vec![keep["id"].as_i64().unwrap()]);
}

async fn contacts_of_an_unknown_customer_are_404(app: TestApp) {
    let admin = app.admin_token().await;
    let missing = 987_654_321;
    app.get(&contacts_path(missing), &admin).await.problem(404);
    app.post(&contacts_path(missing), &admin, &json!({"name": "Orphan"}))
        .await
        .problem(404);
    app.get(&format!("{}/1", contacts_path(missing)), &admin)
        .await
        .problem(404);
    app.patch(
        &format!("{}/1", contacts_path(missing)),
        &admin,
        &json!({"name": "x"}),
    )
    .await
    .problem(404);
    app.delete(&format!("{}/1", contacts_path(missing)), &admin)
        .await
        .problem(404);
    // A path id that is not a number is a 404 too, not a 500 or plain text.
    app.get("/api/v1/customers/abc/contacts", &admin)
        .await
        .problem(404);
    let cid = org(&app, &admin, "Real").await;
    app.get(&format!("{}/abc", contacts_path(cid)), &admin)
        .await
        .problem(404);
}

async fn contact_validation_names_every_bad_field_at_once(app: TestApp) {
    let admin = app.admin_token().await;
    let cid = org(&app, &admin, "Validation").await;
    let r = app
        .post(
            &contacts_path(cid),
            &admin,
            &json!({"name": "   ", "email": "not-an-email", "phone": "call me maybe", "role": "boss"}),
        )
        .await;
    let body = r.problem(422);
    assert_eq!(body["type"], "/problems/validation");
    let fields = r.error_fields();
    for field in ["name", "email", "phone", "role"] {
        assert!(
            fields.contains(&field.to_string()),
            "{field} not named: {}",
            r.text
        );
    }
    assert_eq!(fields.len(), 4, "only the bad fields: {}", r.text);
    let errors = body["errors"].as_array().unwrap();
    let code_of = |f: &str| errors.iter().find(|e| e["field"] == f).unwrap()["code"].clone();
    assert_eq!(code_of("name"), "blank");
    assert_eq!(code_of("email"), "email");
    assert_eq!(code_of("phone"), "phone");
    assert_eq!(code_of("role"), "invalid_value");
    let role_msg = errors.iter().find(|e| e["field"] == "role").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        role_msg.contains("decision_maker") && role_msg.contains("handler"),
        "{role_msg}"
    );
    assert!(errors
        .iter()
        .all(|e| e["message"].as_str().is_some_and(|m| !m.is_empty())));

    // Nothing was created.
    let r = app.get(&contacts_path(cid), &admin).await;
    assert_eq!(r.body["items"], json!([]));

    // Each rule on its own.
    for (body, field) in [
        (json!({"name": "ok", "email": "a@"}), "email"),
        (json!({"name": "ok", "email": ".a@example.com"}), "email"),
        (json!({"name": "ok", "email": "a.@example.com"}), "email"),
        (json!({"name": "ok", "email": "a..b@example.com"}), "email"),
        // The crate took any domain ending in `[<IP address>]`.
        (
            json!({"name": "ok", "email": "li@x\"><img src=x onerror=alert(1)>[1.1.1.1]"}),
            "email",
        ),
        (
            json!({"name": "ok", "email": "li@huakang example[10.0.0.1]"}),
            "email",
        ),
        (json!({"name": "ok", "phone": "12"}), "phone"),
        (
            json!({"name": "ok", "phone": "123456789012345678901"}),
            "phone",
        ),
        (json!({"name": "ok", "role": "DECISION_MAKER"}), "role"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"name": "ok", "title": "t".repeat(101)}), "title"),
        (json!({"name": "ok", "notes": "n".repeat(2001)}), "notes"),
        (json!({"name": 42}), "name"),
        (json!({"name": "ok", "role": 7}), "role"),
    ] {
        let r = app.post(&contacts_path(cid), &admin, &body).await;
        r.problem(422);
        assert_eq!(r.error_fields(), vec![field], "{body}: {}", r.text);
    }
}

async fn contact_name_is_required_and_not_blank(app: TestApp) {
    let admin = app.admin_token().await;
    let cid = org(&app, &admin, "Names").await;
    let r = app
        .post(&contacts_path(cid), &admin, &json!({"role": "handler"}))
        .await;
    let body = r.problem(422);
    assert_eq!(r.error_fields(), vec!["name"]);
    assert_eq!(body["errors"][0]["code"], "required");

    let r = app
        .post(&contacts_path(cid), &admin, &json!({"name": ""}))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), vec!["name"]);

    let r = app
        .post(&contacts_path(cid), &admin, &json!({"name": null}))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), vec!["name"]);

    let r = app.post(&contacts_path(cid), &admin, &json!({})).await;
    r.problem(422);
    assert_eq!(r.error_fields(), vec!["name"]);
}

async fn contact_patch_validation_names_every_bad_field(app: TestApp) {
    let admin = app.admin_token().await;
    let cid = org(&app, &admin, "Patch rules").await;
    let c = add_contact(
        &app,
        &admin,
        cid,
        json!({"name": "Valid", "email": "v@example.com"}),
    )
    .await;
    let path = format!("{}/{}", contacts_path(cid), c["id"]);

    let r = app
        .patch(
            &path,
            &admin,
            &json!({"name": " ", "email": "nope", "phone": "abc", "role": "chief"}),
        )
        .await;
    r.problem(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["email", "name", "phone", "role"], "{}", r.text);
    let r = app
        .patch(&path, &admin, &json!({"email": "v..w@example.com"}))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), vec!["email"], "{}", r.text);

    // Nothing changed.
    let got = app.get(&path, &admin).await;
    assert_eq!(got.body["name"], "Valid");
    assert_eq!(got.body["email"], "v@example.com");
    assert_eq!(got.body["version"], 1);

    // Neither the name nor the role can be cleared with null: a 422 naming
    // both, as for the other resources (it was a 200 that changed nothing).
    let r = app
        .patch(&path, &admin, &json!({"name": null, "role": null}))
        .await;
    r.problem(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["name", "role"], "{}", r.text);
    let got = app.get(&path, &admin).await;
    assert_eq!(got.body["name"], "Valid");
    assert_eq!(got.body["version"], 1);
}

async fn contact_unknown_field_is_422(app: TestApp) {
    let admin = app.admin_token().await;
    let cid = org(&app, &admin, "Strict").await;
    let r = app
        .post(
            &contacts_path(cid),
            &admin,
            &json!({"name": "Ok", "nickname": "Bobby"}),
        )
        .await;
    let body = r.problem(422);
    assert_eq!(body["errors"][0]["code"], "unknown_field");
    assert!(r.text.contains("nickname"), "{}", r.text);

    let c = add_contact(&app, &admin, cid, json!({"name": "Ok"})).await;
    let r = app
        .patch(
            &format!("{}/{}", contacts_path(cid), c["id"]),
            &admin,
            &json!({"customer_id": 1}),
        )
        .await;
    let body = r.problem(422);
    assert_eq!(body["errors"][0]["code"], "unknown_field");
}

async fn contact_writes_follow_the_customer_write_rules(app: TestApp) {
    let admin = app.admin_token().await;
    let (sales_id, sales) = app.user_with_role("sales").await;
    let (_, viewer) = app.user_with_role("viewer").await;
    let (_, manager) = app.user_with_role("manager").await;
    let others = org(&app, &admin, "Admin's customer").await;
    let mine = app
        .create_customer(
            &sales,
            json!({"kind": "organization", "name": "Sales's customer"}),
        )
        .await;
    assert_eq!(mine.body["owner_id"], json!(sales_id));
    let mine = mine.id();

    // Sales writes contacts only of customers they own.
    let c = add_contact(&app, &sales, mine, json!({"name": "Mine"})).await;
    app.post(&contacts_path(others), &sales, &json!({"name": "Not mine"}))
        .await
        .problem(403);
    let theirs = add_contact(&app, &admin, others, json!({"name": "Theirs"})).await;
    let theirs_path = format!("{}/{}", contacts_path(others), theirs["id"]);
    app.patch(&theirs_path, &sales, &json!({"name": "x"}))
        .await
        .problem(403);
    app.delete(&theirs_path, &sales).await.problem(403);
    // ...but reads them.
    assert_eq!(app.get(&theirs_path, &sales).await.status, 200);

    // Viewers read only.
    assert_eq!(app.get(&contacts_path(mine), &viewer).await.status, 200);
    app.post(&contacts_path(mine), &viewer, &json!({"name": "v"}))
        .await
        .problem(403);
    let mine_path = format!("{}/{}", contacts_path(mine), c["id"]);
    app.patch(&mine_path, &viewer, &json!({"name": "v"}))
        .await
        .problem(403);
    app.delete(&mine_path, &viewer).await.problem(403);

    // Managers write any customer's contacts.
    let r = app
        .patch(&mine_path, &manager, &json!({"title": "Boss"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Without a token: 401.
    app.get(&contacts_path(mine), "").await.problem(401);
    app.post(&contacts_path(mine), "", &json!({"name": "anon"}))
        .await
        .problem(401);
}

/// A review: a contact's phone was judged as sent and stored trimmed, so a
/// phone typed with an ideographic space (as Chinese input methods do) was a
/// 422 on a contact and a 201 on a card. Its length still counts as sent.
async fn contact_phone_and_email_are_judged_trimmed_as_a_cards(app: TestApp) {
    let token = app.admin_token().await;
    let customer = org(&app, &token, "Trimmed Co").await;
    let body =
        json!({"name": "Li", "phone": "\u{3000}138 0013 8000\n", "email": " Li@Example.com "});
    let created = add_contact(&app, &token, customer, body).await;
    assert_eq!(created["phone"], "138 0013 8000", "{created}");
    assert_eq!(created["email"], "li@example.com", "{created}");
    let card = json!({"kind": "individual", "name": "Li", "phone": "\u{3000}138 0013 8000"});
    app.create_customer(&token, card).await;

    let path = format!("{}/{}", contacts_path(customer), created["id"]);
    let r = app
        .patch(&path, &token, &json!({"phone": "\t0571 8888 1234"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["phone"], "0571 8888 1234", "{}", r.text);

    // Padded past the spec's maxLength of 32: refused, though it fits trimmed.
    let padded = format!("{}12345", " ".repeat(30));
    for r in [
        app.post(
            &contacts_path(customer),
            &token,
            &json!({"name": "Pad", "phone": padded}),
        )
        .await,
        app.patch(&path, &token, &json!({"phone": padded})).await,
    ] {
        r.problem(422);
        assert_eq!(r.error_fields(), ["phone"], "{}", r.text);
        assert_eq!(r.body["errors"][0]["code"], "length", "{}", r.text);
    }
}

/// A deleted person's details leave the feed with the person: the name,
/// email, phone and notes of its earlier entries stayed readable (and
/// replayable to webhooks) for the feed's whole retention (a review). The
/// entries stay, with the tombstone's shape; another contact's are kept.
async fn a_deleted_contacts_details_leave_the_change_feed(app: TestApp) {
    let admin = app.admin_token().await;
    let cid = org(&app, &admin, "Erasing").await;
    let person = json!({"name": "王秀英", "email": "xiuying@example.com",
                        "phone": "+86 138 0013 8000", "notes": "prefers calls"});
    let gone = add_contact(&app, &admin, cid, person).await;
    let keep = add_contact(&app, &admin, cid, json!({"name": "Kept"})).await;
    let path = format!("{}/{}", contacts_path(cid), gone["id"]);
    let r = app
        .patch(&path, &admin, &json!({"title": "采购经理"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (before, _) = read_all(&app, &admin, None, "&types=contact", 50).await;
    assert!(
        before
            .iter()
            .any(|i| i["data"]["email"] == "xiuying@example.com"),
        "{before:?}"
    );
    assert_eq!(app.delete(&path, &admin).await.status, 204);
    let (after, _) = read_all(&app, &admin, None, "&types=contact", 50).await;
    let id = gone["id"].as_i64().unwrap_or_default();
    let of_gone: Vec<&Value> = after.iter().filter(|i| i["entity_id"] == id).collect();
    let ops: Vec<&str> = of_gone
        .iter()
        .map(|i| i["operation"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ops, ["created", "updated", "deleted"]);
    assert_eq!(
        of_gone[0]["data"],
        json!({"id": id, "customer_id": cid, "erased": true})
    );
    assert_eq!(of_gone[1]["data"], of_gone[0]["data"]);
    assert_eq!(
        of_gone[2]["data"],
        json!({"id": id, "customer_id": cid, "deleted": true})
    );
    assert_eq!(
        of_gone.iter().map(|i| &i["version"]).collect::<Vec<_>>(),
        [&json!(1), &json!(2), &json!(3)]
    );
    let text = serde_json::to_string(&after).unwrap_or_default();
    for detail in ["王秀英", "xiuying", "0013", "prefers calls", "采购经理"] {
        assert!(!text.contains(detail), "{detail} still in the feed: {text}");
    }
    let kept = after
        .iter()
        .find(|i| i["entity_id"] == keep["id"])
        .unwrap_or_else(|| panic!("{after:?}"));
    assert_eq!(kept["data"]["name"], "Kept", "{kept}");
}
