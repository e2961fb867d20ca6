//! What the spec says an answer holds, it holds: every field a schema lists
//! as `required` is in the answers of every JSON read (found from the spec,
//! so a read added later is checked too). The spec lists the nullable
//! fields answers always send as required (`openapi::always_sent`); a field
//! listed wrongly would make a generated client fail on a real answer.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(every_read_answers_with_the_fields_its_schema_requires);

/// Seeds one of everything, then reads every GET of the spec whose answer
/// is JSON, its path ids the first item of the list above them.
async fn every_read_answers_with_the_fields_its_schema_requires(app: TestApp) {
    let token = app.admin_token().await;
    seed(&app, &token).await;
    let spec = app.get("/openapi.json", "").await.body;
    let mut missing = Vec::new();
    let mut read = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        let op = &item["get"];
        let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
        if schema.is_null() {
            continue;
        }
        let Some(concrete) = concrete_path(&app, &token, path).await else {
            missing.push(format!("{path}: no item to read"));
            continue;
        };
        let r = app.get(&concrete, &token).await;
        assert_eq!(r.status, 200, "{concrete}: {}", r.text);
        absent_required(&spec, schema, &r.body, &concrete, &mut missing);
        read += 1;
    }
    assert!(read > 45, "only {read} reads");
    assert!(missing.is_empty(), "{missing:#?}");
    // Both ways: an answer that omits a field (a segment list's counts, a
    // timeline item's other kinds) is a failure the check reports.
    let mut found = Vec::new();
    let schema = json!({"$ref": "#/components/schemas/SegmentView"});
    let r = app.get("/api/v1/segments", &token).await;
    let mut one = r.body["items"][0].clone();
    if let Some(o) = one.as_object_mut() {
        o.remove("description");
    }
    absent_required(&spec, &schema, &one, "segment", &mut found);
    assert_eq!(found, ["segment.description"]);
}

/// `path` with each `{…}` the id of the first item of the list before it
/// (`/customers/{id}/contacts/{contact_id}`: the first customer's first
/// contact), or a list name for `/reference/{list}`.
async fn concrete_path(app: &TestApp, token: &str, path: &str) -> Option<String> {
    let mut out = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if part == "{list}" {
            out.push_str("/cpr-stages");
        } else if part.starts_with('{') {
            let r = app.get(&out, token).await;
            let id = r.body["items"][0]["id"].as_i64()?;
            out.push_str(&format!("/{id}"));
        } else {
            out.push('/');
            out.push_str(part);
        }
    }
    Some(out)
}

/// Pushes `at.field` for each field `schema` requires that `value` lacks,
/// following `$ref`, `allOf`, the non-null part of a `oneOf`, properties
/// and array items.
fn absent_required(spec: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    if value.is_null() {
        return;
    }
    if let Some(name) = schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        let target = &spec["components"]["schemas"][name];
        return absent_required(spec, target, value, at, out);
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        absent_required(spec, part, value, at, out);
    }
    let variants: Vec<&Value> = schema["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["type"] != "null")
        .collect();
    if let [only] = variants[..] {
        absent_required(spec, only, value, at, out);
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                out.push(format!("{at}.{name}"));
            }
        }
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            if let Some(v) = object.get(name) {
                absent_required(spec, property, v, &format!("{at}.{name}"), out);
            }
        }
    }
    if let Some(items) = value.as_array() {
        for (i, v) in items.iter().enumerate() {
            absent_required(spec, &schema["items"], v, &format!("{at}[{i}]"), out);
        }
    }
}

/// One customer with a contact, a need, an interaction, a sale, a stage
/// move, a tier and a churn; a survey answered; a static segment; a plan
/// with an action; a webhook.
async fn seed(app: &TestApp, token: &str) {
    let ok = |r: &crate::helpers::Resp, what: &str| {
        assert!(
            r.status == 200 || r.status == 201,
            "{what}: {} {}",
            r.status,
            r.text
        );
    };
    let r = app
        .create_customer(
            token,
            json!({"kind": "organization", "name": "Answers", "funnel_stage": "prospect",
                   "tags": ["wholesale"], "region": "Hangzhou"}),
        )
        .await;
    ok(&r, "customer");
    let c = r.id();
    let card = format!("/api/v1/customers/{c}");
    for (path, body) in [
        (
            "contacts",
            json!({"name": "王伟", "role": "decision_maker"}),
        ),
        (
            "needs",
            json!({"kind": "latent", "description": "Never tried the herbal range",
                   "latent_type": "unfamiliar_with_product"}),
        ),
        (
            "interactions",
            json!({"type": "call", "summary": "Intro", "follow_up_at": "2099-01-01T09:00:00Z"}),
        ),
        (
            "transactions",
            json!({"amount_cents": 120_000, "product": "Tea"}),
        ),
    ] {
        let r = app.post(&format!("{card}/{path}"), token, &body).await;
        ok(&r, path);
    }
    let r = app
        .patch(&card, token, &json!({"funnel_stage": "key"}))
        .await;
    ok(&r, "stage move");
    // The only profit: an important customer, which a plan needs.
    let r = app.post("/api/v1/tiers/recompute", token, &json!({})).await;
    ok(&r, "tiers");

    let r = app
        .post(
            "/api/v1/surveys",
            token,
            &json!({"title": "Q4", "questions": [
                {"dimension": "product", "kind": "rating_5", "required": true, "text": "Products?"}]}),
        )
        .await;
    ok(&r, "survey");
    let survey = r.id();
    let question = r.body["questions"][0]["id"].as_i64().unwrap_or_default();
    let r = app
        .patch(
            &format!("/api/v1/surveys/{survey}"),
            token,
            &json!({"status": "open"}),
        )
        .await;
    ok(&r, "survey opened");
    let r = app
        .post(
            &format!("/api/v1/surveys/{survey}/responses"),
            token,
            &json!({"customer_id": c, "answers": [{"question_id": question, "value": 4}]}),
        )
        .await;
    ok(&r, "survey response");

    let r = app
        .post(
            "/api/v1/segments",
            token,
            &json!({"kind": "static", "name": "Hand-picked"}),
        )
        .await;
    ok(&r, "segment");
    let r = app
        .post(
            &format!("/api/v1/segments/{}/members", r.id()),
            token,
            &json!({"customer_ids": [c]}),
        )
        .await;
    ok(&r, "members");

    let r = app
        .post(
            "/api/v1/account-plans",
            token,
            &json!({"customer_id": c, "objective": "Grow", "period_start": "2026-01-01",
                    "period_end": "2026-12-31", "budget_cents": 100_000}),
        )
        .await;
    ok(&r, "plan");
    let r = app
        .post(
            &format!("/api/v1/account-plans/{}/actions", r.id()),
            token,
            &json!({"type": "executive_visit", "due_date": "2026-02-15", "cost_cents": 1_000}),
        )
        .await;
    ok(&r, "action");

    let r = app
        .post(
            "/api/v1/webhooks",
            token,
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["*"],
                    "secret": "a-long-shared-secret-0123"}),
        )
        .await;
    ok(&r, "webhook");
    let r = app
        .post(
            &format!("{card}/churn"),
            token,
            &json!({"reason": "competition", "note": "A rival's price"}),
        )
        .await;
    ok(&r, "churn");
}
