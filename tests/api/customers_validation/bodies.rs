//! Body-level failures of `POST /api/v1/customers`: unknown fields and wrong
//! JSON types are 422 naming the field; bad JSON is 400; a wrong content
//! type is 415; an oversized body is 413.

use reqwest::Method;
use serde_json::json;

use super::{assert_invalid, card_with, count, raw, CUSTOMERS};
use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    unknown_fields_and_wrong_types_are_422_naming_the_field,
    bad_bodies_get_precise_problems,
);

async fn unknown_fields_and_wrong_types_are_422_naming_the_field(app: TestApp) {
    let admin = app.admin_token().await;
    let r = app
        .post(CUSTOMERS, &admin, &card_with(json!({"colour": "red"})))
        .await;
    r.problem(422);
    assert!(
        r.text.contains("colour"),
        "the unknown field is named: {}",
        r.text
    );
    let r = app
        .post(CUSTOMERS, &admin, &card_with(json!({"id": 5})))
        .await;
    r.problem(422);
    let r = app
        .post(CUSTOMERS, &admin, &card_with(json!({"version": 3})))
        .await;
    r.problem(422);
    let wrong_types = [
        ("name", json!(5)),
        ("name", json!(["a"])),
        ("email", json!(true)),
        ("employees", json!("12")),
        ("owner_id", json!("me")),
        ("tags", json!("vip")),
        ("kind", json!({"a": 1})),
    ];
    for (field, value) in wrong_types {
        let r = app
            .post(CUSTOMERS, &admin, &card_with(json!({field: value.clone()})))
            .await;
        assert_invalid(&r, &[field]);
        assert_eq!(r.code_of(field), "invalid_type", "{field}: {value}");
    }
    for body in [json!([]), json!("card"), json!(null), json!(1)] {
        let r = app.post(CUSTOMERS, &admin, &body).await;
        r.problem(422);
    }
    assert_eq!(count(&app, &admin).await, 0);
}

async fn bad_bodies_get_precise_problems(app: TestApp) {
    let admin = app.admin_token().await;
    let post = |ct: Option<&'static str>, body: &str| {
        raw(&app, Method::POST, CUSTOMERS, &admin, ct, body.to_string())
    };
    let valid = r#"{"kind": "individual", "name": "x"}"#;
    for bad in [
        r#"{"kind": "individual", "name": "x""#,
        "{kind: individual}",
        "{\"name\": \"x\",}",
        "{\"kind\": 'individual'}",
        // A byte order mark is ignored before the document only
        // (`charsets::a_json_body_may_start_with_a_byte_order_mark`).
        "{}\u{feff}",
    ] {
        let r = post(Some("application/json"), bad).await;
        assert_eq!(r.body["type"], "/problems/bad-request", "{bad}: {}", r.text);
        r.problem(400);
    }
    post(Some("application/json"), "").await.problem(400);
    post(None, valid).await.problem(415);
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "json",
    ] {
        post(Some(ct), valid).await.problem(415);
    }
    for ct in [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
    ] {
        assert_eq!(post(Some(ct), valid).await.status, 201, "{ct} is JSON");
    }
    let huge =
        json!({"kind": "individual", "name": "x", "notes": "n".repeat(300 * 1024)}).to_string();
    let r = post(Some("application/json"), &huge).await;
    r.problem(413);
    let at_limit = format!(
        "{{\"kind\":\"individual\",\"name\":\"x\",\"colour\":\"{}\"}}",
        "c".repeat(255 * 1024)
    );
    assert_eq!(
        post(Some("application/json"), &at_limit).await.status,
        422,
        "under the limit it is parsed"
    );
    assert_eq!(
        count(&app, &admin).await,
        3,
        "only the three valid bodies created cards"
    );
}
