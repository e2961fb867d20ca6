//! The spec is the product for integrators: it must match the committed
//! `openapi.yaml` and document security and errors on every operation.

use std::collections::HashMap;

use serde_json::Value;

use crate::backend_tests;
use crate::helpers::TestApp;

#[test]
fn committed_openapi_yaml_is_current() {
    let generated = patron::openapi::yaml().expect("spec renders");
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"))
        .unwrap_or_default();
    assert!(
        generated == committed,
        "openapi.yaml is stale: regenerate it with `cargo run -- openapi > openapi.yaml`"
    );
}

fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

#[test]
fn every_api_operation_is_secured_and_documents_its_problems() {
    let spec = serde_json::to_value(patron::openapi::spec()).expect("spec as json");
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // The retryable answers say when to retry.
    for name in ["Unavailable", "TooManyRequests", "ConflictOrInFlight"] {
        let headers = &spec["components"]["responses"][name]["headers"];
        assert!(headers["Retry-After"].is_object(), "{name}: {headers}");
    }
    for (method, path, op) in operations(&spec) {
        let responses = op["responses"].as_object().expect("responses");
        assert!(responses.contains_key("500"), "{method} {path} lacks 500");
        assert!(
            op["operationId"].is_string(),
            "{method} {path} lacks an operationId"
        );
        // A 503 where the database is read: liveness and the metrics read
        // none (a probe set up from the spec expected 503s of them).
        assert_eq!(
            responses.contains_key("503"),
            !["/healthz", "/metrics"].contains(&path.as_str()),
            "{method} {path}: 503"
        );
        if !path.starts_with("/api/v1/") {
            continue;
        }
        if path == "/api/v1/auth/token" {
            assert_eq!(
                op["security"],
                serde_json::json!([]),
                "login must not need a token"
            );
            continue;
        }
        assert_eq!(
            op["security"][0]["bearer"],
            serde_json::json!([]),
            "{method} {path} is not secured"
        );
        assert!(responses.contains_key("401"), "{method} {path} lacks 401");
        // A 304 sends the 200's headers but its body's: the limiter's too.
        if let Some(not_modified) = responses.get("304") {
            assert!(
                not_modified["headers"]["RateLimit-Remaining"].is_object(),
                "{method} {path}: 304 {not_modified}"
            );
        }
        // A 403 only where a role can get one (`contract::a_403_is_listed_
        // where_a_role_gets_one` checks which): every write, at least.
        // The read-only POSTs, and one's own password (any role).
        let read_post = [
            "/api/v1/segments/preview",
            "/api/v1/analytics/customer-share",
            "/api/v1/auth/password",
        ];
        if method != "get" && !read_post.contains(&path.as_str()) {
            assert!(responses.contains_key("403"), "{method} {path} lacks 403");
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415", "422"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
        }
        if path.contains('{') {
            assert!(responses.contains_key("404"), "{method} {path} lacks 404");
        }
        // A POST that only reads ignores its key (an outside review: a
        // viewer stored answers through it): no 409, and the header says so.
        // One's own password takes no key (its answer, a token, is never
        // stored), so it has neither.
        let keyless = path == "/api/v1/auth/password";
        // The recomputes of every card ignore theirs too: run again, they
        // give the same cards (a retry after a 503 half-way was a 409 for good).
        let rerun_post = ["/api/v1/cpr/recompute", "/api/v1/tiers/recompute"];
        let ignores_key = |p: &str| read_post.contains(&p) || rerun_post.contains(&p);
        if method == "post" && keyless {
            assert!(
                !responses.contains_key("409"),
                "{method} {path} lists a 409"
            );
            let key = op["parameters"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == "Idempotency-Key"));
            assert!(key.is_none(), "{method} {path} documents Idempotency-Key");
            // Nor a replay (the middleware skips it: `TOKEN_POSTS`).
            for (status, response) in responses {
                assert!(
                    response["headers"].get("Idempotent-Replayed").is_none(),
                    "{method} {path} {status} documents Idempotent-Replayed"
                );
            }
        } else if method == "post" && ignores_key(path.as_str()) {
            assert!(
                !responses.contains_key("409"),
                "{method} {path} lists a 409"
            );
            let key = op["parameters"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == "Idempotency-Key"))
                .expect("Idempotency-Key");
            let text = key["description"].as_str().unwrap_or_default();
            assert!(text.contains("ignored"), "{method} {path}: {text}");
        }
        // Every keyed POST's 409, shared or its own, names the key's types.
        if method == "post" && !ignores_key(path.as_str()) {
            let conflict = &responses["409"];
            let conflict = match conflict["$ref"].as_str() {
                Some(r) => &spec["components"]["responses"][r.rsplit('/').next().unwrap()],
                None => conflict,
            };
            let text = conflict["description"].as_str().unwrap_or_default();
            for kind in [
                "/problems/idempotency-applied",
                "/problems/idempotency-overtaken",
            ] {
                assert!(text.contains(kind), "{method} {path}: its 409 lacks {kind}");
            }
            assert!(
                conflict["headers"]["Retry-After"].is_object(),
                "{method} {path}: its 409 lacks Retry-After"
            );
        }
    }
}

#[test]
fn operation_ids_are_unique_and_codes_are_snake_case() {
    let spec = serde_json::to_value(patron::openapi::spec()).expect("spec as json");
    let mut ids: Vec<String> = operations(&spec)
        .into_iter()
        .map(|(_, _, op)| op["operationId"].as_str().unwrap_or_default().to_string())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "operationIds repeat");
    assert!(ids.contains(&"post_customers".to_string()));
    let kinds = &spec["components"]["schemas"]["AcquisitionSource"]["enum"];
    assert!(
        kinds
            .as_array()
            .is_some_and(|a| a.contains(&serde_json::json!("trade_show"))),
        "{kinds}"
    );
}

#[test]
fn every_schema_property_and_request_body_is_documented() {
    let spec = serde_json::to_value(patron::openapi::spec()).expect("spec as json");
    for (method, path, op) in operations(&spec) {
        assert!(
            op["summary"].is_string() || op["description"].is_string(),
            "{method} {path} lacks a description"
        );
    }
    for name in [
        "CustomerView",
        "CustomerCreate",
        "CustomerPatch",
        "Problem",
        "TokenRequest",
        "UserCreate",
    ] {
        assert!(
            spec["components"]["schemas"][name].is_object(),
            "schema {name} missing"
        );
    }
    assert!(
        spec["components"]["schemas"]["CustomerCreate"]["example"].is_object(),
        "CustomerCreate has no example"
    );
}

/// Every query parameter says what it does: a review found the customer
/// filters (`owner_id`, `region`, the revenue minimums, the enum filters) and
/// the page parameters of several lists bare in the spec, leaving integrators
/// to guess whether a match is exact, trimmed or inclusive.
#[test]
fn every_query_parameter_is_described() {
    let spec = serde_json::to_value(patron::openapi::spec()).expect("spec as json");
    let mut bare = Vec::new();
    for (method, path, op) in operations(&spec) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            let described = p["description"]
                .as_str()
                .is_some_and(|d| !d.trim().is_empty());
            if p["in"] == "query" && !described {
                bare.push(format!("{method} {path} {}", p["name"]));
            }
        }
    }
    assert!(bare.is_empty(), "undescribed: {bare:#?}");
}

backend_tests!(
    served_spec_equals_generated_spec,
    the_validation_example_is_what_the_server_answers,
    the_survey_examples_answer_each_other,
);

async fn served_spec_equals_generated_spec(app: TestApp) {
    let r = app.get("/openapi.json", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    let generated = serde_json::to_value(patron::openapi::spec()).expect("spec as json");
    assert_eq!(r.body, generated);
}

/// Found by a review: the shared 422's example (and the problem schema's)
/// named `kind` with code `unknown_code`, which no answer carries (an unknown
/// value is `invalid_value`). The example is the answer to the request it
/// shows: a card with `"kind": "robot"` and `"email": "nope"`.
async fn the_validation_example_is_what_the_server_answers(app: TestApp) {
    let spec = serde_json::to_value(patron::openapi::spec()).expect("spec as json");
    let token = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/customers",
            &token,
            &serde_json::json!({"name": "E", "kind": "robot", "email": "nope"}),
        )
        .await;
    let shared = &spec["components"]["responses"]["ValidationFailed"]["content"]
        ["application/problem+json"]["example"];
    assert_eq!(&r.body, shared, "{}", r.text);
    assert_eq!(
        &r.body, &spec["components"]["schemas"]["Problem"]["example"],
        "{}",
        r.text
    );
}

/// A review: the response example answered questions the survey examples
/// did not have (a rating of 9, a choice for an NPS question): a QA user
/// trying the examples in order got a 422. The survey created from its
/// example, opened, takes the response example (its ids mapped to the ones
/// given), and reads as the survey example's questions.
async fn the_survey_examples_answer_each_other(app: TestApp) {
    let spec = serde_json::to_value(patron::openapi::spec()).expect("spec as json");
    let example = |name: &str| spec["components"]["schemas"][name]["example"].clone();
    let token = app.admin_token().await;
    let mut survey = example("SurveyCreate");
    // The example's segment is one of the reader's own.
    survey.as_object_mut().unwrap().remove("segment_id");
    let r = app.post("/api/v1/surveys", &token, &survey).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let url = format!("/api/v1/surveys/{}", r.id());
    let r = app
        .patch(&url, &token, &serde_json::json!({"status": "open"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let shown = example("SurveyView");
    let fields = |q: &Value| (q["kind"].clone(), q["text"].clone(), q["required"].clone());
    let got: Vec<_> = r.body["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(fields)
        .collect();
    let want: Vec<_> = shown["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(fields)
        .collect();
    assert_eq!(got, want, "SurveyView's example shows other questions");
    let ids: HashMap<i64, i64> = shown["questions"]
        .as_array()
        .unwrap()
        .iter()
        .zip(r.body["questions"].as_array().unwrap())
        .map(|(s, q)| (s["id"].as_i64().unwrap(), q["id"].as_i64().unwrap()))
        .collect();
    let customer = app
        .create_customer(
            &token,
            serde_json::json!({"kind": "individual", "name": "Wu"}),
        )
        .await
        .id();
    let mut response = example("ResponseCreate");
    response["customer_id"] = customer.into();
    for answer in response["answers"].as_array_mut().unwrap() {
        let id = answer["question_id"].as_i64().unwrap();
        answer["question_id"] = ids.get(&id).copied().expect("an example question").into();
    }
    let r = app
        .post(&format!("{url}/responses"), &token, &response)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// Two types with one schema name are one component in the spec: utoipa
/// keeps one and every reference points to it (survey results' periods were
/// described as an account plan's). The names of the `ToSchema` types in
/// `src/` must differ.
#[test]
fn schema_names_are_unique() {
    let mut seen: std::collections::HashMap<String, String> = Default::default();
    let mut dup = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let mut derives_schema = false;
            for line in text.lines().map(str::trim) {
                if line.starts_with("#[derive(") {
                    derives_schema = line.contains("ToSchema");
                } else if let Some(rest) = ["pub struct ", "pub enum ", "struct ", "enum "]
                    .iter()
                    .find_map(|p| line.strip_prefix(p))
                {
                    if derives_schema {
                        let name: String = rest
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        let at = path.display().to_string();
                        if let Some(first) = seen.insert(name.clone(), at.clone()) {
                            dup.push(format!("{name}: {first} and {at}"));
                        }
                    }
                    derives_schema = false;
                }
            }
        }
    }
    assert!(seen.len() > 100, "the scan found the schema types");
    assert!(dup.is_empty(), "schema names used twice: {dup:#?}");
}

/// The schema `s` points to, resolved through one `$ref`.
fn resolved<'a>(spec: &'a Value, s: &'a Value) -> &'a Value {
    match s["$ref"].as_str() {
        Some(r) => &spec["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => s,
    }
}

/// The values an enum property allows, through a `$ref` or a `oneOf` with
/// `null`.
fn enum_of<'a>(spec: &'a Value, property: &'a Value) -> Option<&'a Vec<Value>> {
    let direct = resolved(spec, property)["enum"].as_array();
    direct.or_else(|| {
        property["oneOf"]
            .as_array()?
            .iter()
            .find_map(|part| resolved(spec, part)["enum"].as_array())
    })
}

/// Where an object schema forbids other properties, `example` names only
/// its properties and all the required ones.
fn check_example(spec: &Value, schema: &Value, example: &Value, at: &str) {
    let schema = resolved(spec, schema);
    let (Some(props), Some(example)) = (schema["properties"].as_object(), example.as_object())
    else {
        return;
    };
    if schema["additionalProperties"] == Value::Bool(false) {
        for key in example.keys() {
            assert!(
                props.contains_key(key),
                "{at}: example property {key} is not in the schema"
            );
        }
    }
    for required in schema["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap_or_default();
        assert!(
            example.contains_key(name),
            "{at}: example lacks required {name}"
        );
    }
    for (key, value) in example {
        // A code the schema's enum does not list (the bulk item's example
        // said "company" where kinds are individual and organization).
        if let Some(codes) = props.get(key).and_then(|p| enum_of(spec, p)) {
            assert!(
                value.is_null() || codes.contains(value),
                "{at}: example {key} = {value} is not one of {codes:?}"
            );
        }
        let items = &props.get(key).map_or(&Value::Null, |p| &p["items"]);
        for (i, element) in value.as_array().into_iter().flatten().enumerate() {
            check_example(spec, items, element, &format!("{at}.{key}[{i}]"));
        }
    }
}

/// Found by an outside audit: `UserPatch`, `ContactPatch` and
/// `TransactionPatch` had no example, so Swagger UI built their bodies from
/// the schemas: a user PATCH sent a placeholder password (422) and, with it
/// fixed, made the user an admin with a new email; the contact's phone and
/// the transaction's currency were `"string"` (422). Every request body has
/// its own example, on the body or on its schema.
#[test]
fn every_request_body_has_an_example() {
    let spec = serde_json::to_value(patron::openapi::spec()).expect("spec as json");
    let mut missing = Vec::new();
    for (method, path, op) in operations(&spec) {
        let Some(content) = op["requestBody"]["content"].as_object() else {
            continue;
        };
        for (media_type, body) in content {
            let on_body = body["example"] != Value::Null
                || body["examples"].as_object().is_some_and(|e| !e.is_empty());
            let on_schema = resolved(&spec, &body["schema"])["example"] != Value::Null;
            if !on_body && !on_schema {
                missing.push(format!("{method} {path} ({media_type})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "request bodies without an example: {missing:#?}"
    );
}

/// Found by a review: the bulk order item was an `allOf` whose first part
/// forbade other properties, so the customer reference its second part added
/// (and the spec's own example) never passed the schema.
#[test]
fn examples_pass_their_schemas_and_no_all_of_forbids_its_parts() {
    let spec = serde_json::to_value(patron::openapi::spec()).expect("spec as json");
    for (name, schema) in spec["components"]["schemas"].as_object().expect("schemas") {
        if let Some(parts) = schema["allOf"].as_array() {
            let closed = parts
                .iter()
                .any(|p| resolved(&spec, p)["additionalProperties"] == Value::Bool(false));
            let adds: Vec<&Value> = parts
                .iter()
                .filter(|p| resolved(&spec, p)["additionalProperties"] != Value::Bool(false))
                .filter(|p| {
                    resolved(&spec, p)["properties"]
                        .as_object()
                        .is_some_and(|o| !o.is_empty())
                })
                .collect();
            assert!(
                !closed || adds.is_empty(),
                "{name}: allOf forbids the properties of a part"
            );
        }
        check_example(&spec, schema, &schema["example"], name);
    }
    for (method, path, op) in operations(&spec) {
        let content = &op["requestBody"]["content"]["application/json"];
        check_example(
            &spec,
            &content["schema"],
            &content["example"],
            &format!("{method} {path}"),
        );
    }
}

/// The 409 of an operation and its description, its own or the shared one.
fn conflict_text(spec: &Value, op: &Value) -> Option<String> {
    let conflict = op["responses"].get("409")?;
    let conflict = match conflict["$ref"].as_str() {
        Some(r) => &spec["components"]["responses"][r.rsplit('/').next().unwrap_or_default()],
        None => conflict,
    };
    Some(
        conflict["description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// A 409 states every cause the operation can meet, with what `errors`
/// holds for it: an operation's own 409 (`The external_id was already
/// recorded`) hid that an archived card is a 409 too, so an ERP sync
/// skipping "already recorded" orders would have dropped real ones (a
/// review); the funnel's 409s were stated nowhere. And no 409 is listed
/// where none can happen (archiving, restoring, the settings, webhooks).
#[test]
fn a_409_states_every_cause_and_only_where_it_happens() {
    let spec = serde_json::to_value(patron::openapi::spec()).expect("spec as json");
    let archived = "`[{field: customer_id, code: archived}]`";
    let funnel = "`[{field: funnel_stage, code: conflict}]`";
    for (method, path, op) in operations(&spec) {
        let text = conflict_text(&spec, &op).unwrap_or_default();
        let card_write = path.starts_with("/api/v1/customers/{id}/")
            && !path.ends_with("/restore")
            && method != "get";
        if card_write || (method == "patch" && path == "/api/v1/customers/{id}") {
            assert!(text.contains(archived), "{method} {path}: {text}");
        }
        if path.ends_with("/restore") {
            assert!(!text.contains("archived"), "{method} {path}: {text}");
        }
    }
    let op = |method: &str, path: &str| spec["paths"][path][method].clone();
    for (method, path) in [
        ("post", "/api/v1/customers/{id}/transactions"),
        (
            "patch",
            "/api/v1/customers/{id}/transactions/{transaction_id}",
        ),
        ("post", "/api/v1/customers/{id}/churn"),
        ("post", "/api/v1/customers/{id}/reactivate"),
        ("post", "/api/v1/surveys/{id}/responses"),
        ("post", "/api/v1/account-plans"),
        ("patch", "/api/v1/account-plans/{id}"),
    ] {
        let text = conflict_text(&spec, &op(method, path)).unwrap_or_default();
        assert!(text.contains(archived), "{method} {path}: {text}");
    }
    for (method, path) in [
        ("post", "/api/v1/customers"),
        ("patch", "/api/v1/customers/{id}"),
    ] {
        let text = conflict_text(&spec, &op(method, path)).unwrap_or_default();
        assert!(text.contains(funnel), "{method} {path}: {text}");
        assert!(text.contains("external_id"), "{method} {path}: {text}");
    }
    let text = conflict_text(&spec, &op("post", "/api/v1/customers/{id}/transactions"));
    assert!(
        text.unwrap_or_default()
            .contains("`[{field: external_id, code: conflict}]`"),
        "the recorded order's 409 names its field"
    );
    for (method, path) in [
        ("delete", "/api/v1/customers/{id}"),
        ("put", "/api/v1/settings/cpr"),
        ("put", "/api/v1/settings/tiers"),
        ("put", "/api/v1/settings/loyalty"),
        ("put", "/api/v1/settings/churn"),
        ("patch", "/api/v1/webhooks/{id}"),
        ("delete", "/api/v1/webhooks/{id}"),
    ] {
        let text = conflict_text(&spec, &op(method, path));
        assert!(text.is_none(), "{method} {path} lists a 409: {text:?}");
    }
    // The funnel's rules are on the schemas a client writes with.
    let schemas = &spec["components"]["schemas"];
    let stage = schemas["FunnelStage"]["description"]
        .as_str()
        .unwrap_or_default();
    for rule in ["`won` needs a recorded purchase", "`change_reason`", "409"] {
        assert!(stage.contains(rule), "FunnelStage lacks {rule:?}: {stage}");
    }
    let reason = schemas["CustomerPatch"]["properties"]["change_reason"].to_string();
    assert!(reason.contains("409"), "{reason}");
    let create = schemas["CustomerCreate"]["properties"]["funnel_stage"].to_string();
    assert!(create.contains("409"), "{create}");
    let field = schemas["FieldError"]["properties"]["field"]["description"].to_string();
    assert!(field.contains("customer_id"), "{field}");
}

/// An operation's own 415, 422 or 429 keeps the shared causes that apply:
/// a review found the import's 415 without the unknown Content-Encoding,
/// the keyed POSTs' 422s without the malformed or reused key, the bulk
/// writes' without an empty batch, and the password change's 429 without
/// the per-user request limit and its headers.
#[test]
fn own_responses_keep_the_shared_causes() {
    let spec = serde_json::to_value(patron::openapi::spec()).expect("spec as json");
    let response = |method: &str, path: &str, status: &str| {
        spec["paths"][path][method]["responses"][status].clone()
    };
    let text = |r: &Value| r["description"].as_str().unwrap_or_default().to_string();
    let import = response("post", "/api/v1/customers/import", "415");
    assert!(text(&import).contains("Content-Encoding"), "{import}");
    assert!(import["headers"]["Accept-Encoding"].is_object(), "{import}");
    for path in [
        "/api/v1/customers/bulk",
        "/api/v1/transactions/bulk",
        "/api/v1/customers/import",
        "/api/v1/webhooks",
        "/api/v1/surveys",
        "/api/v1/surveys/{id}/responses",
    ] {
        let own = text(&response("post", path, "422"));
        assert!(
            own.contains("a key already used with another request"),
            "post {path}: {own}"
        );
    }
    for path in ["/api/v1/customers/bulk", "/api/v1/transactions/bulk"] {
        let own = text(&response("post", path, "422"));
        assert!(own.contains("no item"), "post {path}: {own}");
    }
    let limited = response("post", "/api/v1/auth/password", "429");
    assert!(
        text(&limited).contains("per-user request limit"),
        "{limited}"
    );
    for header in ["Retry-After", "RateLimit-Limit", "RateLimit-Remaining"] {
        assert!(
            limited["headers"][header].is_object(),
            "{header}: {limited}"
        );
    }
}

/// The writes that never read `If-Match` say so (API readers took "PATCH
/// and PUT honour it" to cover the pin; a review), and list no 412.
#[test]
fn unconditional_writes_say_so() {
    let spec = serde_json::to_value(patron::openapi::spec()).expect("spec as json");
    for (method, path) in [
        ("put", "/api/v1/customers/{id}/cpr/pin"),
        ("delete", "/api/v1/customers/{id}/cpr/pin"),
        ("post", "/api/v1/customers/{id}/restore"),
        ("post", "/api/v1/segments/{id}/members"),
        ("delete", "/api/v1/segments/{id}/members/{customer_id}"),
        ("post", "/api/v1/webhooks/{id}/replay"),
        ("post", "/api/v1/customers/{id}/churn"),
        ("post", "/api/v1/customers/{id}/reactivate"),
    ] {
        let op = &spec["paths"][path][method];
        let text = op["description"].as_str().unwrap_or_default();
        assert!(
            text.contains("Unconditional: ") && text.contains("`If-Match` is not"),
            "{method} {path}: {text}"
        );
        assert!(op["responses"].get("412").is_none(), "{method} {path}");
    }
}

/// The lists that are not paged say so, the feed states its own limits, a
/// unique field's 409 names it, and bulk items take a `version`.
#[test]
fn paging_exceptions_conflict_fields_and_bulk_versions_are_documented() {
    let spec = serde_json::to_value(patron::openapi::spec()).expect("spec as json");
    let text = |path: &str, method: &str| {
        let op = &spec["paths"][path][method];
        let text = format!(
            "{} {}",
            op["summary"].as_str().unwrap_or_default(),
            op["description"].as_str().unwrap_or_default()
        );
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    for path in [
        "/api/v1/account-plans/{id}/actions",
        "/api/v1/customers/{id}/churn",
    ] {
        let t = text(path, "get");
        assert!(t.contains("`next_cursor` is always null"), "{path}: {t}");
        assert!(t.contains("unknown_field"), "{path}: {t}");
        let params = spec["paths"][path]["get"]["parameters"].to_string();
        assert!(!params.contains("\"limit\""), "{path}: {params}");
    }
    let feed = text("/api/v1/changes", "get");
    assert!(feed.contains("1 to 1,000, default 100"), "{feed}");
    assert!(text("/api/v1/reference/{list}", "get").contains("no `next_cursor`"));
    for (path, method, field) in [
        ("/api/v1/users", "post", "email"),
        ("/api/v1/users/{id}", "patch", "email"),
        ("/api/v1/segments", "post", "name"),
        ("/api/v1/segments/{id}", "patch", "name"),
    ] {
        let conflict = spec["paths"][path][method]["responses"]["409"]["description"].to_string();
        assert!(
            conflict.contains(&format!("field: {field}, code: conflict")),
            "{method} {path}: {conflict}"
        );
    }
    for item in ["CustomerBulkItem", "TransactionBulkItem"] {
        let version = &spec["components"]["schemas"][item]["properties"]["version"];
        assert!(
            version["description"]
                .as_str()
                .unwrap_or_default()
                .contains("`version`/`conflict`"),
            "{item}: {version}"
        );
    }
}

/// A review: Swagger UI's "Try it out" starts from a body's example and
/// sends a query parameter's example, so a PATCH example that opened a
/// survey or moved a card's funnel stage did that to the record a QA user
/// tried it on, and a timeline's `types` example hid its events. A PATCH's
/// example sets one free-text field; no query parameter has an example,
/// but an order or a grouping (they hide nothing).
#[test]
fn try_it_out_starts_from_harmless_examples() {
    let spec = serde_json::to_value(patron::openapi::spec()).expect("spec as json");
    const FREE_TEXT: [&str; 7] = [
        "notes",
        "description",
        "title",
        "name",
        "outcome",
        "objective",
        "summary",
    ];
    let mut harmful = Vec::new();
    for (method, path, op) in operations(&spec) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            let shown = p["example"] != Value::Null || p["examples"] != Value::Null;
            let hides_nothing =
                ["sort", "period"].contains(&p["name"].as_str().unwrap_or_default());
            if p["in"] == "query" && shown && !hides_nothing {
                harmful.push(format!("{method} {path} ?{}", p["name"]));
            }
        }
        if method != "patch" {
            continue;
        }
        let body = &op["requestBody"]["content"]["application/json"];
        let example = match &body["example"] {
            Value::Null => &resolved(&spec, &body["schema"])["example"],
            e => e,
        };
        let fields: Vec<&String> = example
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
            .collect();
        if fields.len() != 1 || !FREE_TEXT.contains(&fields[0].as_str()) {
            harmful.push(format!("{method} {path} {example}"));
        }
    }
    assert!(harmful.is_empty(), "{harmful:#?}");
}
