//! What the spec says an answer holds, it holds: every field a schema lists
//! as `required` is in the answers of every JSON read (found from the spec,
//! so a read added later is checked too) and of the writes that seed them,
//! and a `null` only where the schema allows one. The spec lists the
//! nullable fields answers always send as required (`openapi::always_sent`);
//! a field listed wrongly would make a generated client fail on a real
//! answer.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

backend_tests!(every_answer_holds_what_its_schema_requires);

/// A write of the seed and its answer, checked against the spec's.
struct Written {
    method: &'static str,
    path: &'static str,
    answer: Resp,
}

/// Seeds one of everything, then reads every GET of the spec whose answer
/// is JSON, its path ids the first item of the list above them; every list
/// read has items to check.
async fn every_answer_holds_what_its_schema_requires(app: TestApp) {
    let token = app.admin_token().await;
    let written = seed(&app, &token).await;
    let spec = app.get("/openapi.json", "").await.body;
    let mut wrong = Vec::new();
    let mut read = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        let schema = &item["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        if schema.is_null() {
            continue;
        }
        let Some(concrete) = concrete_path(&app, &token, path).await else {
            wrong.push(format!("{path}: no item to read"));
            continue;
        };
        let r = app.get(&concrete, &token).await;
        assert_eq!(r.status, 200, "{concrete}: {}", r.text);
        if r.body["items"]
            .as_array()
            .is_some_and(|items| items.is_empty())
        {
            wrong.push(format!("{concrete}: no items to check"));
        }
        check(&spec, schema, &r.body, &concrete, &mut wrong);
        read += 1;
    }
    assert!(read > 45, "only {read} reads");
    for w in &written {
        let status = w.answer.status.to_string();
        let schema = &spec["paths"][w.path][w.method]["responses"][&status]["content"]
            ["application/json"]["schema"];
        assert!(
            !schema.is_null(),
            "{} {} {status}: no schema",
            w.method,
            w.path
        );
        check(&spec, schema, &w.answer.body, w.path, &mut wrong);
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // The check finds both faults: a required field missing, a null where
    // the schema allows none.
    let mut found = Vec::new();
    let schema = json!({"$ref": "#/components/schemas/SegmentView"});
    let r = app.get("/api/v1/segments", &token).await;
    let mut one = r.body["items"][0].clone();
    if let Some(o) = one.as_object_mut() {
        o.remove("description");
        o.insert("name".into(), Value::Null);
    }
    check(&spec, &schema, &one, "segment", &mut found);
    assert_eq!(
        found,
        ["segment.description: missing", "segment.name: null"]
    );
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

/// Pushes what of `value` `schema` refuses: a required field missing, a
/// `null` where no `null` is allowed; following `$ref`, `allOf`, the
/// non-null part of a `oneOf`, properties and array items.
fn check(spec: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    if value.is_null() {
        if !allows_null(spec, schema) {
            out.push(format!("{at}: null"));
        }
        return;
    }
    if let Some(target) = referred(spec, schema) {
        return check(spec, target, value, at, out);
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        check(spec, part, value, at, out);
    }
    let variants: Vec<&Value> = schema["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["type"] != "null")
        .collect();
    if let [only] = variants[..] {
        check(spec, only, value, at, out);
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                out.push(format!("{at}.{name}: missing"));
            }
        }
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            if let Some(v) = object.get(name) {
                check(spec, property, v, &format!("{at}.{name}"), out);
            }
        }
    }
    if let Some(items) = value.as_array() {
        for (i, v) in items.iter().enumerate() {
            check(spec, &schema["items"], v, &format!("{at}[{i}]"), out);
        }
    }
}

fn referred<'a>(spec: &'a Value, schema: &Value) -> Option<&'a Value> {
    let name = schema["$ref"]
        .as_str()?
        .strip_prefix("#/components/schemas/")?;
    Some(&spec["components"]["schemas"][name])
}

/// `type: null` or `[…, null]`, a `oneOf` or `allOf` part that allows it,
/// or no type at all (any value).
fn allows_null(spec: &Value, schema: &Value) -> bool {
    if let Some(target) = referred(spec, schema) {
        return allows_null(spec, target);
    }
    let ty = &schema["type"];
    if ty == "null" || ty.as_array().is_some_and(|t| t.contains(&json!("null"))) {
        return true;
    }
    let parts = |key: &str| schema[key].as_array().cloned().unwrap_or_default();
    if parts("oneOf").iter().any(|p| allows_null(spec, p)) {
        return true;
    }
    let all = parts("allOf");
    if !all.is_empty() {
        return all.iter().all(|p| allows_null(spec, p));
    }
    ty.is_null() && schema["oneOf"].is_null() && schema["enum"].is_null()
}

/// One customer with a contact, a need, an interaction, a sale, a stage
/// move, a tier and a churn, and one quiet for years with a complaint (at
/// risk); a survey answered; a static segment; a plan with an action; a
/// webhook with a delivery. Each write's answer is kept for the check.
async fn seed(app: &TestApp, token: &str) -> Vec<Written> {
    let mut written = Vec::new();
    let mut keep = |method: &'static str, path: &'static str, answer: Resp| {
        assert!(
            answer.status == 200 || answer.status == 201,
            "{method} {path}: {} {}",
            answer.status,
            answer.text
        );
        written.push(Written {
            method,
            path,
            answer,
        });
        written
            .last()
            .and_then(|w| w.answer.body["id"].as_i64())
            .unwrap_or_default()
    };
    let customers = "/api/v1/customers";
    let c = keep(
        "post",
        customers,
        app.post(
            customers,
            token,
            &json!({"kind": "organization", "name": "Answers", "funnel_stage": "prospect",
                    "tags": ["wholesale"], "region": "Hangzhou"}),
        )
        .await,
    );
    let card = format!("{customers}/{c}");
    for (path, template, body) in [
        (
            "contacts",
            "/api/v1/customers/{id}/contacts",
            json!({"name": "王伟", "role": "decision_maker"}),
        ),
        (
            "needs",
            "/api/v1/customers/{id}/needs",
            json!({"kind": "latent", "description": "Never tried the herbal range",
                   "latent_type": "unfamiliar_with_product"}),
        ),
        (
            "interactions",
            "/api/v1/customers/{id}/interactions",
            json!({"type": "call", "summary": "Intro", "follow_up_at": "2099-01-01T09:00:00Z"}),
        ),
        (
            "transactions",
            "/api/v1/customers/{id}/transactions",
            json!({"amount_cents": 120_000, "product": "Tea"}),
        ),
    ] {
        let r = app.post(&format!("{card}/{path}"), token, &body).await;
        keep("post", template, r);
    }
    let r = app
        .patch(&card, token, &json!({"funnel_stage": "key"}))
        .await;
    keep("patch", "/api/v1/customers/{id}", r);
    // The only profit: an important customer, which a plan needs.
    let r = app.post("/api/v1/tiers/recompute", token, &json!({})).await;
    keep("post", "/api/v1/tiers/recompute", r);
    let quiet = keep(
        "post",
        customers,
        app.post(
            customers,
            token,
            &json!({"kind": "individual", "name": "Quiet"}),
        )
        .await,
    );
    for (template, body) in [
        (
            "/api/v1/customers/{id}/transactions",
            json!({"amount_cents": 5_000, "product": "Tea", "occurred_at": "2020-01-01T09:00:00Z"}),
        ),
        (
            "/api/v1/customers/{id}/interactions",
            json!({"type": "complaint", "summary": "Late delivery"}),
        ),
    ] {
        let path = template.replace("{id}", &quiet.to_string());
        let r = app.post(&path, token, &body).await;
        keep("post", template, r);
    }

    let r = app
        .post(
            "/api/v1/surveys",
            token,
            &json!({"title": "Q4", "questions": [
                {"dimension": "product", "kind": "rating_5", "required": true, "text": "Products?"}]}),
        )
        .await;
    let question = r.body["questions"][0]["id"].as_i64().unwrap_or_default();
    let survey = keep("post", "/api/v1/surveys", r);
    let r = app
        .patch(
            &format!("/api/v1/surveys/{survey}"),
            token,
            &json!({"status": "open"}),
        )
        .await;
    keep("patch", "/api/v1/surveys/{id}", r);
    let r = app
        .post(
            &format!("/api/v1/surveys/{survey}/responses"),
            token,
            &json!({"customer_id": c, "answers": [{"question_id": question, "value": 4}]}),
        )
        .await;
    keep("post", "/api/v1/surveys/{id}/responses", r);

    let r = app
        .post(
            "/api/v1/segments",
            token,
            &json!({"kind": "static", "name": "Hand-picked"}),
        )
        .await;
    let segment = keep("post", "/api/v1/segments", r);
    let r = app
        .post(
            &format!("/api/v1/segments/{segment}/members"),
            token,
            &json!({"customer_ids": [c]}),
        )
        .await;
    keep("post", "/api/v1/segments/{id}/members", r);
    let r = app
        .post(
            "/api/v1/segments/preview",
            token,
            &json!({"rule": {"all": [{"field": "tags", "op": "contains", "value": "wholesale"}]}}),
        )
        .await;
    keep("post", "/api/v1/segments/preview", r);

    let r = app
        .post(
            "/api/v1/account-plans",
            token,
            &json!({"customer_id": c, "objective": "Grow", "period_start": "2026-01-01",
                    "period_end": "2026-12-31", "budget_cents": 100_000}),
        )
        .await;
    let plan = keep("post", "/api/v1/account-plans", r);
    let r = app
        .post(
            &format!("/api/v1/account-plans/{plan}/actions"),
            token,
            &json!({"type": "executive_visit", "due_date": "2026-02-15", "cost_cents": 1_000}),
        )
        .await;
    keep("post", "/api/v1/account-plans/{id}/actions", r);

    let r = app
        .post(
            "/api/v1/webhooks",
            token,
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["*"],
                    "secret": "a-long-shared-secret-0123"}),
        )
        .await;
    let hook = keep("post", "/api/v1/webhooks", r);
    // No worker runs in these tests: a failed delivery, as the worker
    // records one (no HTTP status, an error).
    app.execute_sql(&format!(
        "INSERT INTO webhook_deliveries \
         (webhook_id, change_id, event, attempt, outcome, error, duration_ms, at) \
         VALUES ({hook}, 1, 'customer.created', 1, 'failed', 'connection refused', 3, \
         '2026-01-01 00:00:00');"
    ));

    let r = app
        .post(
            "/api/v1/customers/bulk",
            token,
            &json!({"items": [{"external_id": "B-1", "kind": "individual", "name": "Bulk"}]}),
        )
        .await;
    keep("post", "/api/v1/customers/bulk", r);
    let r = app
        .post(
            &format!("{card}/churn"),
            token,
            &json!({"reason": "competition", "note": "A rival's price"}),
        )
        .await;
    keep("post", "/api/v1/customers/{id}/churn", r);
    written
}
