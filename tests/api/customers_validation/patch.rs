//! `PATCH /api/v1/customers/{id}` (CustomerPatch) follows the same rules as
//! create, reports every bad field at once, and a rejected PATCH changes
//! nothing.

use reqwest::Method;
use serde_json::{json, Value};

use super::{assert_invalid, raw};
use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

backend_tests!(
    patch_rules_match_create_rules,
    patch_names_every_bad_field_at_once,
    patch_cannot_null_a_required_field,
    patch_bad_bodies_get_precise_problems,
);

/// A card to patch, and its path.
async fn target(app: &TestApp, token: &str) -> String {
    let body =
        json!({"kind": "individual", "name": "原名", "email": "a@example.com", "tags": ["t"]});
    let id = app.create_customer(token, body).await.id();
    format!("/api/v1/customers/{id}")
}

async fn rejects(app: &TestApp, token: &str, path: &str, body: Value, field: &str) -> Resp {
    let r = app.patch(path, token, &body).await;
    assert_eq!(r.status, 422, "{body} should be rejected: {}", r.text);
    assert_invalid(&r, &[field]);
    r
}

/// The card is still as created: version 1.
async fn unchanged(app: &TestApp, token: &str, path: &str) {
    let r = app.get(path, token).await;
    assert_eq!(
        r.body["version"], 1,
        "a rejected PATCH changes nothing: {}",
        r.text
    );
    assert_eq!(r.body["name"], "原名");
}

async fn patch_rules_match_create_rules(app: TestApp) {
    let admin = app.admin_token().await;
    let path = target(&app, &admin).await;
    let future = (chrono::Utc::now() + chrono::Duration::days(2))
        .date_naive()
        .to_string();
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"name": ""}), "name", "blank"),
        (json!({"name": "   "}), "name", "blank"),
        (json!({"name": "x".repeat(201)}), "name", "length"),
        (json!({"email": "nope"}), "email", "email"),
        (json!({"email": ".a@example.com"}), "email", "email"),
        (json!({"email": "a.@example.com"}), "email", "email"),
        (json!({"email": "a..b@example.com"}), "email", "email"),
        (json!({"email": "a@b c[10.0.0.1]"}), "email", "email"),
        (json!({"phone": "12ab5"}), "phone", "phone"),
        (json!({"phone": "1234"}), "phone", "phone"),
        (json!({"company": "c".repeat(201)}), "company", "length"),
        (json!({"address": "a".repeat(501)}), "address", "length"),
        (json!({"region": "r".repeat(101)}), "region", "length"),
        (json!({"age_band": "a".repeat(51)}), "age_band", "length"),
        (
            json!({"income_band": "i".repeat(51)}),
            "income_band",
            "length",
        ),
        (
            json!({"occupation": "o".repeat(101)}),
            "occupation",
            "length",
        ),
        (json!({"education": "e".repeat(101)}), "education", "length"),
        (json!({"industry": "i".repeat(101)}), "industry", "length"),
        (json!({"products": "p".repeat(1001)}), "products", "length"),
        (json!({"notes": "n".repeat(5001)}), "notes", "length"),
        (json!({"external_id": ""}), "external_id", "blank"),
        (
            json!({"external_id": "e".repeat(101)}),
            "external_id",
            "length",
        ),
        (json!({"birthday": future}), "birthday", "range"),
        (json!({"employees": -1}), "employees", "range"),
        (json!({"employees": 100_000_001}), "employees", "range"),
        (
            json!({"annual_revenue_cents": -1}),
            "annual_revenue_cents",
            "range",
        ),
        (
            json!({"wallet_size_cents": -1}),
            "wallet_size_cents",
            "range",
        ),
        (json!({"currency": "usd"}), "currency", "currency"),
        (
            json!({"tags": (0..51).map(|n| n.to_string()).collect::<Vec<_>>()}),
            "tags",
            "length",
        ),
        (json!({"tags": [" "]}), "tags[0]", "tag"),
        (json!({"kind": "robot"}), "kind", "invalid_value"),
        (json!({"gender": "x"}), "gender", "invalid_value"),
        (
            json!({"acquisition_source": "x"}),
            "acquisition_source",
            "invalid_value",
        ),
        (
            json!({"personality_type": "x"}),
            "personality_type",
            "invalid_value",
        ),
        (
            json!({"social_style": "x"}),
            "social_style",
            "invalid_value",
        ),
        (
            json!({"funnel_stage": "x"}),
            "funnel_stage",
            "invalid_value",
        ),
        (
            json!({"prospect_grade": "x"}),
            "prospect_grade",
            "invalid_value",
        ),
        (json!({"name": 5}), "name", "invalid_type"),
        (json!({"employees": "5"}), "employees", "invalid_type"),
        (json!({"owner_id": "me"}), "owner_id", "invalid_type"),
    ];
    for (body, field, code) in cases {
        let r = rejects(&app, &admin, &path, body.clone(), field).await;
        assert_eq!(r.code_of(field), code, "{body}");
    }
    unchanged(&app, &admin, &path).await;
    // At the limits it passes.
    let ok = json!({"name": "名".repeat(200), "notes": "n".repeat(5000), "employees": 0,
                    "tags": (0..50).map(|n| n.to_string()).collect::<Vec<_>>()});
    let r = app.patch(&path, &admin, &ok).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["tags"].as_array().unwrap().len(), 50);
}

async fn patch_names_every_bad_field_at_once(app: TestApp) {
    let admin = app.admin_token().await;
    let path = target(&app, &admin).await;
    let body = json!({
        "kind": "x", "name": "", "company": "c".repeat(201), "email": "x", "phone": "x",
        "address": "a".repeat(501), "region": "r".repeat(101), "birthday": "2999-12-31",
        "gender": "x", "age_band": "a".repeat(51), "income_band": "a".repeat(51),
        "occupation": "o".repeat(101), "education": "e".repeat(101), "industry": "i".repeat(101),
        "products": "p".repeat(1001), "employees": -1, "annual_revenue_cents": -1,
        "external_id": "", "acquisition_source": "x", "personality_type": "x",
        "social_style": "x", "funnel_stage": "x", "prospect_grade": "x",
        "wallet_size_cents": -1, "currency": "x", "notes": "n".repeat(5001), "tags": [""]
    });
    let r = app.patch(&path, &admin, &body).await;
    let fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| if k == "tags" { "tags[0]" } else { k.as_str() })
        .collect();
    assert_invalid(&r, &fields);
    unchanged(&app, &admin, &path).await;
    let r = app
        .patch(
            &path,
            &admin,
            &json!({"owner_id": 999_999, "acquisition_source": "referral"}),
        )
        .await;
    assert_invalid(&r, &["owner_id", "source_customer_id"]);
    unchanged(&app, &admin, &path).await;
    // A source link the body decides alone is named with the body's other
    // faults (it came in a second 422, once the email was fixed).
    let source = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Source"}))
        .await
        .id();
    for (link, code) in [
        (
            json!({"acquisition_source": "trade_show", "source_customer_id": source}),
            "not_allowed",
        ),
        (
            json!({"acquisition_source": "referral", "source_customer_id": null}),
            "required",
        ),
        (
            json!({"acquisition_source": null, "source_customer_id": source}),
            "not_allowed",
        ),
    ] {
        let mut body = link.clone();
        body["email"] = json!("bad");
        let r = app.patch(&path, &admin, &body).await;
        assert_invalid(&r, &["email", "source_customer_id"]);
        assert_eq!(r.code_of("source_customer_id"), code, "{link}: {}", r.text);
        unchanged(&app, &admin, &path).await;
    }
}

async fn patch_cannot_null_a_required_field(app: TestApp) {
    let admin = app.admin_token().await;
    let path = target(&app, &admin).await;
    for field in ["kind", "name", "funnel_stage", "currency"] {
        let r = rejects(&app, &admin, &path, json!({field: null}), field).await;
        assert_eq!(r.code_of(field), "required");
    }
    let r = app
        .patch(
            &path,
            &admin,
            &json!({"name": null, "kind": null, "email": "bad"}),
        )
        .await;
    assert_invalid(&r, &["email", "kind", "name"]);
    unchanged(&app, &admin, &path).await;
    // Optional fields may be cleared, all at once.
    let r = app
        .patch(
            &path,
            &admin,
            &json!({"email": null, "tags": [], "notes": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["email"].clone(), r.body["tags"].clone()),
        (Value::Null, json!([]))
    );
}

async fn patch_bad_bodies_get_precise_problems(app: TestApp) {
    let admin = app.admin_token().await;
    let path = target(&app, &admin).await;
    let send =
        |ct: Option<&'static str>, body: String| raw(&app, Method::PATCH, &path, &admin, ct, body);
    let r = send(Some("application/json"), r#"{"name": "x""#.into()).await;
    r.problem(400);
    send(Some("application/json"), String::new())
        .await
        .problem(400);
    send(None, r#"{"name": "x"}"#.into()).await.problem(415);
    send(Some("text/plain"), r#"{"name": "x"}"#.into())
        .await
        .problem(415);
    let huge = json!({"notes": "n".repeat(300 * 1024)}).to_string();
    send(Some("application/json"), huge).await.problem(413);
    let r = send(Some("application/json"), r#"{"nmae": "x"}"#.into()).await;
    r.problem(422);
    assert!(
        r.text.contains("nmae"),
        "the unknown field is named: {}",
        r.text
    );
    let r = send(Some("application/json"), "[]".into()).await;
    r.problem(422);
    unchanged(&app, &admin, &path).await;
    let r = send(
        Some("application/merge-patch+json"),
        r#"{"name": "新名"}"#.into(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "新名");
}
