//! The rule language of dynamic segments, through HTTP: every parser error
//! as a 422 naming its path, every op on representative fields, relative
//! dates, tags, and exact totals.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::churn::{churn, reactivate};
use crate::helpers::TestApp;
use crate::segments::{create_segment, customer, member_ids, SEGMENTS};

backend_tests!(
    rule_errors_name_their_path,
    every_rule_error_is_reported_at_once,
    nesting_deeper_than_8_is_422,
    each_op_on_representative_fields,
    relative_and_absolute_dates,
    totals_are_exact_sums_over_active_members,
    contains_folds_case_beyond_ascii_on_both_engines,
    rule_dates_are_read_as_a_requests_and_filters_are,
    text_values_compare_trimmed_as_the_list_filters_do,
    rules_stored_before_the_stricter_reading_still_read,
    instants_finer_than_a_microsecond_compare_exactly,
    a_key_given_twice_in_a_rule_is_named,
    churn_fields_pick_the_customers_the_churned_filter_lists,
    a_currency_value_is_an_iso_code_as_the_cards,
    a_rule_of_many_bad_leaves_is_answered_with_a_hundred_errors,
    contact_details_and_the_erp_key_are_rule_fields,
);

/// A QA review: "has an email" (a mailing), "has an address" (a brochure)
/// and "not yet in the ERP" could not be saved as segments.
async fn contact_details_and_the_erp_key_are_rule_fields(app: TestApp) {
    let token = app.admin_token().await;
    let card = |body: Value| {
        let mut full = json!({"kind": "organization", "name": "Card"});
        for (k, v) in body.as_object().cloned().unwrap_or_default() {
            full[k] = v;
        }
        full
    };
    let mail = app
        .create_customer(
            &token,
            card(json!({"email": "Li.Na@Example.com", "address": "1 West Lake Rd, Hangzhou"})),
        )
        .await
        .id();
    let phone = app
        .create_customer(
            &token,
            card(json!({"phone": "+86 571 8888 0000", "external_id": "ERP-7"})),
        )
        .await
        .id();
    let bare = app.create_customer(&token, card(json!({}))).await.id();
    let set = |ids: &[i64]| ids.iter().copied().collect::<BTreeSet<i64>>();
    for (rule, expected) in [
        (
            json!({"field": "email", "op": "is_null", "value": false}),
            set(&[mail]),
        ),
        (
            json!({"field": "email", "op": "eq", "value": "li.na@example.com"}),
            set(&[mail]),
        ),
        (
            json!({"field": "email", "op": "contains", "value": "EXAMPLE"}),
            set(&[mail]),
        ),
        (
            json!({"field": "address", "op": "contains", "value": "hangzhou"}),
            set(&[mail]),
        ),
        (
            json!({"field": "phone", "op": "is_null"}),
            set(&[mail, bare]),
        ),
        (
            json!({"field": "phone", "op": "contains", "value": "8888"}),
            set(&[phone]),
        ),
        (
            json!({"field": "external_id", "op": "is_null"}),
            set(&[mail, bare]),
        ),
        (
            json!({"field": "external_id", "op": "in", "value": ["ERP-7", "ERP-8"]}),
            set(&[phone]),
        ),
        (
            json!({"not": {"field": "email", "op": "eq", "value": "x@y.z"}}),
            set(&[mail, phone, bare]),
        ),
    ] {
        assert_eq!(matches(&app, &token, &rule).await, expected, "{rule}");
    }
    // A text field's rules: no number, no blank.
    let errors = rule_errors(
        &app,
        &token,
        &json!({"field": "email", "op": "gt", "value": 3}),
    )
    .await;
    assert!(!errors.is_empty(), "{errors:?}");
    let errors = rule_errors(
        &app,
        &token,
        &json!({"field": "phone", "op": "eq", "value": " "}),
    )
    .await;
    assert!(!errors.is_empty(), "{errors:?}");
}

/// A review: the list filters by `churned`, but no rule could, so a
/// win-back campaign's segment (or a survey of key accounts not lost) had
/// to be a list kept by hand. `churned_at` and `churn_reason` are rule
/// fields, set while a customer is churned and cleared by its win-back.
async fn churn_fields_pick_the_customers_the_churned_filter_lists(app: TestApp) {
    let token = app.admin_token().await;
    let rival = customer(&app, &token, "Lost to a rival", json!({})).await;
    let left = customer(&app, &token, "Buyer left", json!({})).await;
    let kept = customer(&app, &token, "Kept", json!({})).await;
    for (c, reason) in [(rival, "competition"), (left, "staff_turnover")] {
        let r = churn(&app, &token, c, reason, None).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let members = |rule: Value| {
        let app = &app;
        let token = &token;
        async move {
            let r = create_segment(
                app,
                token,
                json!({"name": format!("{rule}"), "kind": "dynamic", "rule": rule}),
            )
            .await;
            let mut ids = member_ids(app, token, r.id(), "", 50).await;
            ids.sort_unstable();
            ids
        }
    };
    let churned = json!({"field": "churned_at", "op": "is_null", "value": false});
    assert_eq!(members(churned.clone()).await, [rival, left]);
    let listed = app
        .get("/api/v1/customers?churned=true&limit=50", &token)
        .await;
    let mut listed: Vec<i64> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, [rival, left], "the list's filter agrees");
    assert_eq!(
        members(json!({"field": "churn_reason", "op": "eq", "value": "competition"})).await,
        [rival]
    );
    assert_eq!(
        members(json!({"field": "churn_reason", "op": "is_null"})).await,
        [kept]
    );
    assert_eq!(
        members(json!({"field": "churned_at", "op": "gte", "value": "-1d"})).await,
        [rival, left]
    );
    let r = reactivate(&app, &token, left).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        members(
            json!({"all": [churned, {"field": "churn_reason", "op": "ne", "value": "natural"}]})
        )
        .await,
        [rival],
        "won back: no longer churned"
    );
    let r = app
        .post(
            "/api/v1/segments/preview",
            &token,
            &json!({"rule": {"field": "churn_reason", "op": "eq", "value": "gone"}}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_codes()[0].0, "rule.value", "{}", r.text);
}

fn small() -> Value {
    json!({"field": "tier", "op": "eq", "value": "small"})
}

/// (rule, the one field named, its code).
fn bad_rules() -> Vec<(Value, &'static str, &'static str)> {
    let many_rules: Vec<Value> = (0..101).map(|_| small()).collect();
    let many_values: Vec<i64> = (0..501).collect();
    let big_rule: Vec<Value> = (0..21)
        .map(|_| json!({"field": "owner_id", "op": "in", "value": (0..500).collect::<Vec<i64>>()}))
        .collect();
    vec![
        // Shapes.
        (json!("tier = small"), "rule", "invalid_type"),
        (json!([small()]), "rule", "invalid_type"),
        (json!({}), "rule", "invalid_rule"),
        (json!({"where": small()}), "rule", "invalid_rule"),
        (json!({"all": []}), "rule.all", "length"),
        (json!({"any": many_rules}), "rule.any", "length"),
        (json!({"any": small()}), "rule.any", "invalid_type"),
        (json!({"all": [small(), 5]}), "rule.all[1]", "invalid_type"),
        (
            json!({"all": [small()], "any": [small()]}),
            "rule.any",
            "unknown_key",
        ),
        (json!({"not": [small()]}), "rule.not", "invalid_type"),
        (json!({"not": {}}), "rule.not", "invalid_rule"),
        (
            json!({"field": "tier", "op": "eq", "value": "small", "negate": true}),
            "rule.negate",
            "unknown_key",
        ),
        (json!({"any": big_rule}), "rule", "too_large"),
        // Field.
        (json!({"op": "eq", "value": "x"}), "rule.field", "required"),
        (
            json!({"field": ["tier"], "op": "eq", "value": "x"}),
            "rule.field",
            "invalid_type",
        ),
        (
            json!({"all": [small(), {"field": "shoe_size", "op": "eq", "value": 42}]}),
            "rule.all[1].field",
            "unknown_field",
        ),
        // Op.
        (
            json!({"field": "tier", "value": "small"}),
            "rule.op",
            "required",
        ),
        (
            json!({"field": "tier", "op": 1, "value": "small"}),
            "rule.op",
            "invalid_type",
        ),
        (
            json!({"field": "tier", "op": "like", "value": "small"}),
            "rule.op",
            "unknown_op",
        ),
        (
            json!({"field": "region", "op": "gt", "value": "A"}),
            "rule.op",
            "op_not_allowed",
        ),
        (
            json!({"field": "tier", "op": "contains", "value": "sm"}),
            "rule.op",
            "op_not_allowed",
        ),
        (
            json!({"field": "tier", "op": "is_null"}),
            "rule.op",
            "op_not_allowed",
        ),
        (
            json!({"field": "last_contact_at", "op": "eq", "value": "-1d"}),
            "rule.op",
            "op_not_allowed",
        ),
        (
            json!({"field": "share_of_wallet", "op": "in", "value": [0.5]}),
            "rule.op",
            "op_not_allowed",
        ),
        (
            json!({"field": "tags", "op": "eq", "value": "vip"}),
            "rule.op",
            "op_not_allowed",
        ),
        (
            json!({"field": "purchase_count", "op": "contains", "value": 1}),
            "rule.op",
            "op_not_allowed",
        ),
        // Values.
        (
            json!({"field": "share_of_wallet", "op": "gt", "value": 50}),
            "rule.value",
            "range",
        ),
        (
            json!({"field": "satisfaction_overall", "op": "gte", "value": 80}),
            "rule.value",
            "range",
        ),
        (
            json!({"field": "tier", "op": "eq"}),
            "rule.value",
            "required",
        ),
        (
            json!({"field": "tier", "op": "in"}),
            "rule.value",
            "required",
        ),
        (
            json!({"field": "tier", "op": "eq", "value": "gold"}),
            "rule.value",
            "invalid_value",
        ),
        (
            json!({"field": "cpr_stage", "op": "eq", "value": 2}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "funnel_stage", "op": "ne", "value": "Won"}),
            "rule.value",
            "invalid_value",
        ),
        (
            json!({"field": "region", "op": "eq", "value": null}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "region", "op": "eq", "value": 5}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "region", "op": "eq", "value": "x".repeat(201)}),
            "rule.value",
            "length",
        ),
        (
            json!({"field": "company", "op": "contains", "value": " "}),
            "rule.value",
            "blank",
        ),
        (
            json!({"field": "purchase_count", "op": "gt", "value": 1.5}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "purchase_count", "op": "gt", "value": "1"}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "revenue_12m_cents", "op": "gte", "value": true}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "share_of_wallet", "op": "gte", "value": "0.5"}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "last_contact_at", "op": "lt", "value": "-90x"}),
            "rule.value",
            "invalid_value",
        ),
        (
            json!({"field": "last_contact_at", "op": "lt", "value": "90d"}),
            "rule.value",
            "invalid_value",
        ),
        (
            json!({"field": "last_contact_at", "op": "lt", "value": "-101y"}),
            "rule.value",
            "invalid_value",
        ),
        (
            json!({"field": "last_contact_at", "op": "lt", "value": "2026-02-30"}),
            "rule.value",
            "invalid_value",
        ),
        (
            json!({"field": "last_contact_at", "op": "lt", "value": -90}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "last_contact_at", "op": "is_null", "value": "yes"}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "tags", "op": "contains", "value": ""}),
            "rule.value",
            "invalid_value",
        ),
        (
            json!({"field": "tags", "op": "contains", "value": "t".repeat(51)}),
            "rule.value",
            "invalid_value",
        ),
        (
            json!({"field": "tags", "op": "contains", "value": 7}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "tier", "op": "in", "value": []}),
            "rule.value",
            "length",
        ),
        (
            json!({"field": "owner_id", "op": "in", "value": many_values}),
            "rule.value",
            "length",
        ),
        (
            json!({"field": "tier", "op": "in", "value": "small"}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "tier", "op": "in", "value": ["small", "gold"]}),
            "rule.value[1]",
            "invalid_value",
        ),
        (
            json!({"field": "owner_id", "op": "in", "value": [1, 2, "3"]}),
            "rule.value[2]",
            "invalid_type",
        ),
        (
            json!({"not": {"any": [small(), {"field": "tags", "op": "in", "value": ["ok", ""]}]}}),
            "rule.not.any[1].value[1]",
            "invalid_value",
        ),
    ]
}

/// `rule` is a 422 naming `field` with `code` (and a message) on a
/// create, a preview and a patch of the segment `existing`.
pub async fn assert_refused_everywhere(
    app: &TestApp,
    admin: &str,
    existing: i64,
    rule: &Value,
    field: &str,
    code: &str,
) {
    for (what, r) in [
        (
            "create",
            app.post(
                SEGMENTS,
                admin,
                &json!({"name": "Bad", "kind": "dynamic", "rule": rule}),
            )
            .await,
        ),
        (
            "preview",
            app.post(
                &format!("{SEGMENTS}/preview"),
                admin,
                &json!({"rule": rule}),
            )
            .await,
        ),
        (
            "patch",
            app.patch(
                &format!("{SEGMENTS}/{existing}"),
                admin,
                &json!({"rule": rule}),
            )
            .await,
        ),
    ] {
        r.problem(422);
        assert_eq!(r.error_fields(), vec![field], "{what} {rule}: {}", r.text);
        assert_eq!(r.code_of(field), code, "{what} {rule}: {}", r.text);
        assert!(
            !r.body["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{what} {rule}: {}",
            r.text
        );
    }
}

async fn rule_errors_name_their_path(app: TestApp) {
    let admin = app.admin_token().await;
    let existing = create_segment(
        &app,
        &admin,
        json!({"name": "Existing", "kind": "dynamic", "rule": small()}),
    )
    .await
    .id();
    for (rule, field, code) in bad_rules() {
        assert_refused_everywhere(&app, &admin, existing, &rule, field, code).await;
    }
    let r = app.get(&format!("{SEGMENTS}?builtin=false"), &admin).await;
    assert_eq!(
        r.body["items"].as_array().unwrap().len(),
        1,
        "nothing was created"
    );
    let r = app.get(&format!("{SEGMENTS}/{existing}"), &admin).await;
    assert_eq!(r.body["rule"], small(), "nothing was changed");
    assert_eq!(r.body["version"], 1);

    // Messages help: unknown names list the valid ones.
    let r = app
        .post(
            &format!("{SEGMENTS}/preview"),
            &admin,
            &json!({"rule": {"field": "tier", "op": "eq", "value": "gold"}}),
        )
        .await;
    let message = r.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("important") && message.contains("small"),
        "{message}"
    );
    let r = app
        .post(
            &format!("{SEGMENTS}/preview"),
            &admin,
            &json!({"rule": {"field": "region", "op": "lt", "value": "x"}}),
        )
        .await;
    let message = r.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("contains"), "{message}");
}

async fn every_rule_error_is_reported_at_once(app: TestApp) {
    let admin = app.admin_token().await;
    let r = app
        .post(
            &format!("{SEGMENTS}/preview"),
            &admin,
            &json!({"rule": {"all": [
                {"field": "tier", "op": "eq", "value": "gold"},
                {"field": "nope", "op": "eq", "value": 1},
                {"not": {"field": "region", "op": "gt", "value": "x"}},
                {"field": "funnel_stage", "op": "in", "value": ["lead", "winner", 3]},
                {"field": "last_contact_at", "op": "lt", "value": "ninety days ago"},
                small()
            ]}}),
        )
        .await;
    r.problem(422);
    assert_eq!(
        r.error_fields(),
        vec![
            "rule.all[0].value",
            "rule.all[1].field",
            "rule.all[2].not.op",
            "rule.all[3].value[1]",
            "rule.all[3].value[2]",
            "rule.all[4].value",
        ]
    );
}

async fn nesting_deeper_than_8_is_422(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin, "Deep", json!({})).await;
    let nest = |levels: usize, key: &str| {
        let mut rule = small();
        for _ in 1..levels {
            let mut wrapper = serde_json::Map::new();
            wrapper.insert(key.to_string(), json!([rule]));
            rule = Value::Object(wrapper);
        }
        rule
    };
    // 8 levels (the rule itself is level 1): fine.
    let r = app
        .post(
            &format!("{SEGMENTS}/preview"),
            &admin,
            &json!({"rule": nest(8, "all")}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["count"], 1);
    assert_eq!(r.body["items"][0]["id"], c);
    let r = create_segment(
        &app,
        &admin,
        json!({"name": "Deep", "kind": "dynamic", "rule": nest(8, "any")}),
    )
    .await;
    assert_eq!(r.body["count"], 1);

    // 9 levels: 422 at the level-9 rule.
    for key in ["all", "any"] {
        let r = app
            .post(
                &format!("{SEGMENTS}/preview"),
                &admin,
                &json!({"rule": nest(9, key)}),
            )
            .await;
        r.problem(422);
        let path = format!("rule{}", format!(".{key}[0]").repeat(8));
        assert_eq!(r.error_fields(), vec![path]);
        assert_eq!(r.body["errors"][0]["code"], "too_deep");
        assert_eq!(r.body["errors"][0]["message"], "rule nesting deeper than 8");
    }
    let mut nots = small();
    for _ in 0..8 {
        nots = json!({"not": nots});
    }
    let r = app
        .post(
            SEGMENTS,
            &admin,
            &json!({"name": "Too deep", "kind": "dynamic", "rule": nots}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), vec![format!("rule{}", ".not".repeat(8))]);
    // Far deeper is still a precise problem, not a crash.
    for levels in [100, 5000] {
        let deep = format!(
            "{{\"rule\": {}{}{}}}",
            "{\"all\": [".repeat(levels),
            small(),
            "]}".repeat(levels)
        );
        let r = app
            .post_raw(
                &format!("{SEGMENTS}/preview"),
                &admin,
                "application/json",
                &deep,
            )
            .await;
        // Past serde_json's nesting limit (127 read) the body is not read at all:
        // a 400 as for malformed JSON, saying why (it said "not valid JSON").
        let problem = r.problem(400);
        assert_eq!(problem["type"], "/problems/bad-request", "{levels}");
        assert_eq!(
            problem["detail"],
            "the body nests arrays and objects 128 levels deep or more: at most 127 are read",
            "{levels}"
        );
    }
    let r = app
        .post(
            &format!("{SEGMENTS}/preview"),
            &admin,
            &json!({"rule": nest(40, "all")}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.body["errors"][0]["code"], "too_deep");
}

/// The ids a rule matches now, by preview; checks count against items.
async fn matches(app: &TestApp, token: &str, rule: &Value) -> BTreeSet<i64> {
    let r = app
        .post(
            &format!("{SEGMENTS}/preview"),
            token,
            &json!({"rule": rule, "limit": 500}),
        )
        .await;
    assert_eq!(r.status, 200, "{rule}: {}", r.text);
    let ids: BTreeSet<i64> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(r.body["count"], json!(ids.len()), "{rule}");
    ids
}

async fn transaction(
    app: &TestApp,
    token: &str,
    customer: i64,
    amount: i64,
    cost: i64,
    days_ago: i64,
) {
    let at = (Utc::now() - Duration::days(days_ago)).to_rfc3339();
    let r = app
        .post(
            &format!("/api/v1/customers/{customer}/transactions"),
            token,
            &json!({"amount_cents": amount, "cost_cents": cost, "product": "Tea", "occurred_at": at}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn contact(app: &TestApp, token: &str, customer: i64, days_ago: i64) {
    let at = (Utc::now() - Duration::days(days_ago)).to_rfc3339();
    let r = app
        .post(
            &format!("/api/v1/customers/{customer}/interactions"),
            token,
            &json!({"type": "call", "summary": "Checked in", "occurred_at": at}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn each_op_on_representative_fields(app: TestApp) {
    let admin = app.admin_token().await;
    let a = customer(
        &app,
        &admin,
        "Alpha",
        json!({"region": "Hangzhou", "industry": "Tea", "company": "50% Off Tea_House",
            "tags": ["vip", "tea"], "personality_type": "rational", "employees": 10,
            "wallet_size_cents": 100_000, "prospect_grade": "A"}),
    )
    .await;
    let b = customer(
        &app,
        &admin,
        "Beta",
        json!({"region": "hangzhou west", "company": "Silk Road", "tags": ["tea"],
            "employees": 200, "funnel_stage": "prospect", "personality_type": "emotional"}),
    )
    .await;
    let c = customer(&app, &admin, "Gamma", json!({"kind": "individual"})).await;
    let d = customer(
        &app,
        &admin,
        "Delta",
        json!({"region": "Beijing", "industry": "Tea", "tags": ["vip"], "funnel_stage": "key"}),
    )
    .await;
    transaction(&app, &admin, a, 30_000, 10_000, 5).await;
    transaction(&app, &admin, a, 20_000, 5_000, 3).await;
    transaction(&app, &admin, d, 10_000, 9_000, 2).await;
    let owner = app
        .get(&format!("/api/v1/customers/{a}"), &admin)
        .await
        .body["owner_id"]
        .clone();
    let share = app
        .get(&format!("/api/v1/customers/{a}"), &admin)
        .await
        .body["share_of_wallet"]
        .clone();
    assert_eq!(share, json!(0.5), "50,000 of a 100,000 wallet");

    let set = |ids: &[i64]| ids.iter().copied().collect::<BTreeSet<i64>>();
    let cond =
        |field: &str, op: &str, value: Value| json!({"field": field, "op": op, "value": value});
    let cases: Vec<(Value, BTreeSet<i64>)> = vec![
        // Text: exact eq/ne/in, case-insensitive contains with literal % and _.
        (cond("region", "eq", json!("Hangzhou")), set(&[a])),
        (cond("region", "eq", json!("hangzhou")), set(&[])),
        (cond("region", "ne", json!("Hangzhou")), set(&[b, c, d])),
        (
            cond("region", "in", json!(["Hangzhou", "Beijing"])),
            set(&[a, d]),
        ),
        (cond("region", "contains", json!("HANGZHOU")), set(&[a, b])),
        (cond("company", "contains", json!("50%")), set(&[a])),
        (cond("company", "contains", json!("%")), set(&[a])),
        (cond("company", "contains", json!("a_h")), set(&[a])),
        (cond("company", "contains", json!("k_r")), set(&[])),
        (cond("company", "contains", json!("off tea")), set(&[a])),
        (
            cond("name", "in", json!(["Alpha", "Gamma", "Nobody"])),
            set(&[a, c]),
        ),
        (json!({"field": "region", "op": "is_null"}), set(&[c])),
        (cond("region", "is_null", json!(true)), set(&[c])),
        (cond("region", "is_null", json!(false)), set(&[a, b, d])),
        // Codes.
        (cond("kind", "eq", json!("individual")), set(&[c])),
        (
            cond("funnel_stage", "in", json!(["prospect", "key"])),
            set(&[b, d]),
        ),
        (cond("funnel_stage", "ne", json!("lead")), set(&[b, d])),
        (
            cond("personality_type", "ne", json!("rational")),
            set(&[b, c, d]),
        ),
        (cond("prospect_grade", "eq", json!("A")), set(&[a])),
        (cond("tier", "eq", json!("small")), set(&[a, b, c, d])),
        (cond("cpr_stage", "eq", json!("not_started")), set(&[b, c])),
        // Integers and money.
        (cond("employees", "eq", json!(10)), set(&[a])),
        (cond("employees", "ne", json!(10)), set(&[b, c, d])),
        (cond("employees", "gt", json!(10)), set(&[b])),
        (cond("employees", "gte", json!(10)), set(&[a, b])),
        (cond("employees", "lt", json!(200)), set(&[a])),
        (cond("employees", "lte", json!(200)), set(&[a, b])),
        (cond("employees", "in", json!([10, 200, 3])), set(&[a, b])),
        (cond("employees", "is_null", json!(true)), set(&[c, d])),
        (cond("owner_id", "eq", owner.clone()), set(&[a, b, c, d])),
        (cond("owner_id", "ne", owner), set(&[])),
        (cond("purchase_count", "eq", json!(0)), set(&[b, c])),
        (cond("purchase_count", "gte", json!(2)), set(&[a])),
        (
            cond("lifetime_revenue_cents", "gte", json!(50_000)),
            set(&[a]),
        ),
        (cond("revenue_12m_cents", "gt", json!(0)), set(&[a, d])),
        (
            cond("profit_12m_cents", "lt", json!(5_000)),
            set(&[b, c, d]),
        ),
        (
            cond("lifetime_profit_cents", "eq", json!(35_000)),
            set(&[a]),
        ),
        (cond("wallet_size_cents", "gt", json!(0)), set(&[a])),
        (cond("open_complaints", "eq", json!(0)), set(&[a, b, c, d])),
        // A share (a number, missing without a wallet size).
        (cond("share_of_wallet", "gte", json!(0.5)), set(&[a])),
        (cond("share_of_wallet", "lt", json!(1)), set(&[a])),
        (cond("share_of_wallet", "ne", json!(0.5)), set(&[b, c, d])),
        (
            cond("share_of_wallet", "is_null", json!(true)),
            set(&[b, c, d]),
        ),
        // Tags.
        (cond("tags", "contains", json!("vip")), set(&[a, d])),
        (cond("tags", "contains", json!(" vip ")), set(&[a, d])),
        (cond("tags", "contains", json!("VIP")), set(&[])),
        (cond("tags", "in", json!(["tea", "nothing"])), set(&[a, b])),
        (cond("tags", "is_null", json!(true)), set(&[c])),
        (cond("tags", "is_null", json!(false)), set(&[a, b, d])),
        // Timestamps.
        (cond("created_at", "gte", json!("-1d")), set(&[a, b, c, d])),
        (cond("created_at", "lt", json!("-1d")), set(&[])),
        (cond("updated_at", "lte", json!("+1h")), set(&[a, b, c, d])),
        (
            cond("first_purchase_at", "is_null", json!(false)),
            set(&[a, d]),
        ),
        // Combinators; `not` is the exact complement, missing values included.
        (
            json!({"not": cond("region", "eq", json!("Hangzhou"))}),
            set(&[b, c, d]),
        ),
        (
            json!({"not": cond("tags", "contains", json!("vip"))}),
            set(&[b, c]),
        ),
        (
            json!({"not": cond("employees", "gt", json!(10))}),
            set(&[a, c, d]),
        ),
        (
            json!({"all": [cond("industry", "eq", json!("Tea")), cond("tags", "contains", json!("vip")),
                {"not": cond("region", "eq", json!("Beijing"))}]}),
            set(&[a]),
        ),
        (
            json!({"any": [cond("region", "is_null", json!(true)), cond("funnel_stage", "eq", json!("key"))]}),
            set(&[c, d]),
        ),
        (
            json!({"not": {"any": [cond("region", "is_null", json!(true)), cond("funnel_stage", "eq", json!("key"))]}}),
            set(&[a, b]),
        ),
        (
            json!({"any": [{"all": [cond("industry", "eq", json!("Tea")), cond("purchase_count", "gte", json!(1))]},
                cond("company", "contains", json!("silk"))]}),
            set(&[a, b, d]),
        ),
    ];
    for (rule, want) in cases {
        assert_eq!(matches(&app, &admin, &rule).await, want, "{rule}");
    }

    // A saved segment has the same members as its preview.
    let rule = json!({"any": [cond("tags", "contains", json!("tea")), cond("kind", "eq", json!("individual"))]});
    let id = create_segment(
        &app,
        &admin,
        json!({"name": "Tea or people", "kind": "dynamic", "rule": rule}),
    )
    .await
    .id();
    let members: BTreeSet<i64> = member_ids(&app, &admin, id, "", 2)
        .await
        .into_iter()
        .collect();
    assert_eq!(members, set(&[a, b, c]));
    // Dynamic: members follow the data.
    let r = app
        .patch(
            &format!("/api/v1/customers/{d}"),
            &admin,
            &json!({"tags": ["tea"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let members: BTreeSet<i64> = member_ids(&app, &admin, id, "", 2)
        .await
        .into_iter()
        .collect();
    assert_eq!(members, set(&[a, b, c, d]));
    let r = app.get(&format!("{SEGMENTS}/{id}"), &admin).await;
    assert_eq!(r.body["count"], 4);
}

async fn relative_and_absolute_dates(app: TestApp) {
    let admin = app.admin_token().await;
    let old = customer(&app, &admin, "Quiet for 100 days", json!({})).await;
    let recent = customer(&app, &admin, "Called 10 days ago", json!({})).await;
    let never = customer(&app, &admin, "Never contacted", json!({})).await;
    contact(&app, &admin, old, 100).await;
    contact(&app, &admin, recent, 10).await;
    transaction(&app, &admin, old, 40_000, 10_000, 400).await;
    transaction(&app, &admin, recent, 5_000, 1_000, 20).await;

    let set = |ids: &[i64]| ids.iter().copied().collect::<BTreeSet<i64>>();
    let at = |field: &str, op: &str, value: &str| json!({"field": field, "op": op, "value": value});
    let fifty_days_ago = Utc::now() - Duration::days(50);
    let instant = fifty_days_ago.to_rfc3339();
    let date = fifty_days_ago.format("%Y-%m-%d").to_string();
    let cases: Vec<(Value, BTreeSet<i64>)> = vec![
        (at("last_contact_at", "lt", "-90d"), set(&[old])),
        (at("last_contact_at", "gte", "-90d"), set(&[recent])),
        (
            json!({"not": at("last_contact_at", "gte", "-90d")}),
            set(&[old, never]),
        ),
        (
            json!({"field": "last_contact_at", "op": "is_null"}),
            set(&[never]),
        ),
        (at("last_contact_at", "gt", "-3m"), set(&[recent])),
        (at("last_contact_at", "gt", "-1y"), set(&[old, recent])),
        (at("last_contact_at", "lt", "-1w"), set(&[old, recent])),
        (at("last_contact_at", "lt", "-2w"), set(&[old])),
        (at("last_contact_at", "gte", "-240h"), set(&[])),
        (at("last_contact_at", "gte", "-241h"), set(&[recent])),
        (at("last_contact_at", "lte", "+7d"), set(&[old, recent])),
        (at("last_contact_at", "lt", &instant), set(&[old])),
        (at("last_contact_at", "gt", &date), set(&[recent])),
        (at("last_purchase_at", "lt", "-1y"), set(&[old])),
        (at("last_purchase_at", "gte", "-12m"), set(&[recent])),
        (at("first_purchase_at", "lt", "-30d"), set(&[old])),
        (
            json!({"field": "first_purchase_at", "op": "is_null"}),
            set(&[never]),
        ),
        (
            at("created_at", "gt", "2000-01-01T00:00:00Z"),
            set(&[old, recent, never]),
        ),
        (at("created_at", "lt", "2000-01-01"), set(&[])),
        // The old purchase counts for life, not for the last 12 months.
        (
            json!({"field": "revenue_12m_cents", "op": "eq", "value": 0}),
            set(&[old, never]),
        ),
        (
            json!({"field": "lifetime_revenue_cents", "op": "eq", "value": 40_000}),
            set(&[old]),
        ),
    ];
    for (rule, want) in cases {
        assert_eq!(matches(&app, &admin, &rule).await, want, "{rule}");
    }
    // "No contact for 90 days", saved: never-contacted customers included.
    let id = create_segment(
        &app,
        &admin,
        json!({"name": "Gone quiet", "kind": "dynamic",
            "rule": {"not": {"field": "last_contact_at", "op": "gte", "value": "-90d"}}}),
    )
    .await
    .id();
    let members: BTreeSet<i64> = member_ids(&app, &admin, id, "", 10)
        .await
        .into_iter()
        .collect();
    assert_eq!(members, set(&[old, never]));
    // A new contact takes the customer out of the segment.
    contact(&app, &admin, old, 1).await;
    let members: BTreeSet<i64> = member_ids(&app, &admin, id, "", 10)
        .await
        .into_iter()
        .collect();
    assert_eq!(members, set(&[never]));
}

async fn totals_are_exact_sums_over_active_members(app: TestApp) {
    let admin = app.admin_token().await;
    let a = customer(&app, &admin, "A", json!({"industry": "Tea"})).await;
    let b = customer(&app, &admin, "B", json!({"industry": "Tea"})).await;
    let gone = customer(&app, &admin, "Archived", json!({"industry": "Tea"})).await;
    let other = customer(&app, &admin, "Other", json!({"industry": "Silk"})).await;
    // Beyond 32-bit sums, a recent and an old purchase, a loss.
    transaction(&app, &admin, a, 3_000_000_000, 1_000_000_000, 10).await;
    transaction(&app, &admin, a, 2_500_000_000, 2_000_000_001, 400).await;
    transaction(&app, &admin, b, 12_345, 20_000, 30).await;
    transaction(&app, &admin, gone, 99_999, 0, 5).await;
    transaction(&app, &admin, other, 77_777, 0, 5).await;
    assert_eq!(
        app.delete(&format!("/api/v1/customers/{gone}"), &admin)
            .await
            .status,
        204
    );

    let expected = json!({
        "revenue_12m_cents": 3_000_000_000i64 + 12_345,
        "profit_12m_cents": 2_000_000_000i64 + (12_345 - 20_000),
        "lifetime_revenue_cents": 5_500_000_000i64 + 12_345,
        "lifetime_profit_cents": 2_000_000_000i64 + 499_999_999 + (12_345 - 20_000),
    });
    let rule = json!({"field": "industry", "op": "eq", "value": "Tea"});
    let r = app
        .post(
            &format!("{SEGMENTS}/preview"),
            &admin,
            &json!({"rule": rule}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["count"], 2);
    assert_eq!(r.body["totals"], expected);
    let r = create_segment(
        &app,
        &admin,
        json!({"name": "Tea", "kind": "dynamic", "rule": rule}),
    )
    .await;
    assert_eq!(r.body["count"], 2);
    assert_eq!(r.body["totals"], expected);
    let id = r.id();
    let r = app.get(&format!("{SEGMENTS}/{id}"), &admin).await;
    assert_eq!(r.body["totals"], expected);
    assert_eq!(member_ids(&app, &admin, id, "", 1).await.len(), 2);

    // The same customers as a static list (the archived one listed too).
    let r = create_segment(
        &app,
        &admin,
        json!({"name": "Tea list", "kind": "static", "member_ids": [a, b, gone]}),
    )
    .await;
    assert_eq!(r.body["count"], 2);
    assert_eq!(r.body["totals"], expected);

    // No members: zeros, not nulls.
    let r = app
        .post(
            &format!("{SEGMENTS}/preview"),
            &admin,
            &json!({"rule": {"field": "industry", "op": "eq", "value": "Oil"}}),
        )
        .await;
    assert_eq!(r.body["count"], 0);
    assert_eq!(r.body["items"], json!([]));
    assert_eq!(
        r.body["totals"],
        json!({"revenue_12m_cents": 0, "profit_12m_cents": 0, "lifetime_revenue_cents": 0, "lifetime_profit_cents": 0})
    );
}

/// `contains` is case-insensitive for every cased letter: SQLite's LOWER
/// folds ASCII only, and "école" found "ÉCOLE" on PostgreSQL but not on
/// SQLite (a titlecase "ǅ" too, later).
async fn contains_folds_case_beyond_ascii_on_both_engines(app: TestApp) {
    let token = app.admin_token().await;
    let mut ids = Vec::new();
    for (name, industry) in [
        ("ÉCOLE Straße", "ÄRZTE"),
        ("école du soir", "Ärzte und Co"),
        ("杭州华康贸易有限公司", "Trade"),
        ("Ecole sans accent", "aerzte"),
        ("ΟΔΟΣ Shipping", "Freight"),
        ("οδος shipping", "Freight"),
        ("ǅepina d.o.o.", "Trade"),
    ] {
        let r = app
            .create_customer(
                &token,
                json!({"kind": "organization", "name": name, "industry": industry}),
            )
            .await;
        ids.push(r.id());
    }
    let set = |i: &[usize]| i.iter().map(|&i| ids[i]).collect::<BTreeSet<i64>>();
    for (field, term, expected) in [
        ("name", "école", set(&[0, 1])),
        ("name", "ÉCOLE", set(&[0, 1])),
        ("name", "STRASSE", set(&[])),
        ("name", "straße", set(&[0])),
        ("name", "ecole", set(&[3])),
        ("name", "华康", set(&[2])),
        ("industry", "ärzte", set(&[0, 1])),
        ("industry", "AERZTE", set(&[3])),
        // A word-final sigma: capital Σ, small σ and final ς all match
        // (Rust folded "ΟΔΟΣ" to "οδος", PostgreSQL to "οδοσ").
        ("name", "ΟΔΟΣ Shipping", set(&[4, 5])),
        ("name", "οδος", set(&[4, 5])),
        ("name", "οδοσ", set(&[4, 5])),
        ("name", "Οδος shipping", set(&[4, 5])),
        // A titlecase letter (ǅ: neither upper nor lower case, lower-cased
        // to ǆ) is folded on SQLite too (it took SQLite's ASCII LOWER).
        ("name", "ǅepina", set(&[6])),
        ("name", "ǄEPINA", set(&[6])),
    ] {
        let rule = json!({"field": field, "op": "contains", "value": term});
        assert_eq!(matches(&app, &token, &rule).await, expected, "{rule}");
    }
}

/// One rule's errors as (field, code), sent as a preview.
async fn rule_errors(app: &TestApp, token: &str, rule: &Value) -> Vec<(String, String)> {
    let r = app
        .post(
            &format!("{SEGMENTS}/preview"),
            token,
            &json!({"rule": rule}),
        )
        .await;
    r.problem(422);
    r.error_codes()
}

/// Found by a review: a rule took `2024-2-29` and ` 2026-01-01` (forms a
/// body's dates refuse), a leap second (`?last_purchase_before=` gives
/// `leap_second`) and year 0000 (filters take 0001–9999).
async fn rule_dates_are_read_as_a_requests_and_filters_are(app: TestApp) {
    let admin = app.admin_token().await;
    let a = customer(&app, &admin, "Bought", json!({})).await;
    transaction(&app, &admin, a, 1_000, 0, 10).await;
    let at = |value: &str| json!({"field": "last_purchase_at", "op": "lt", "value": value});
    let one = |field: &str, code: &str| vec![(field.to_string(), code.to_string())];
    for (value, code) in [
        ("2026-01-01T23:59:60Z", "leap_second"),
        ("2016-12-31T23:59:60+00:00", "leap_second"),
        ("0000-01-01T00:00:00Z", "range"),
        ("0000-12-31", "range"),
        ("0001-01-01T00:30:00+01:00", "range"),
        ("9999-12-31T23:59:59-23:59", "range"),
        ("2024-2-29", "invalid_value"),
        (" 2026-01-01", "invalid_value"),
        ("2026-01-01 ", "invalid_value"),
        ("+2026-01-01", "invalid_value"),
        ("02026-01-01", "invalid_value"),
        ("2026-01-05T0:0:0Z", "invalid_value"),
        ("2026-01-05 00:00:00Z", "invalid_value"),
        (" -90d", "invalid_value"),
        ("2026-02-30", "invalid_value"),
    ] {
        assert_eq!(
            rule_errors(&app, &admin, &at(value)).await,
            one("rule.value", code),
            "{value:?}"
        );
        let nested = json!({"all": [small(), {"not": at(value)}]});
        assert_eq!(
            rule_errors(&app, &admin, &nested).await,
            one("rule.all[1].not.value", code),
            "{value:?}"
        );
        let r = app
            .post(
                SEGMENTS,
                &admin,
                &json!({"name": "Dates", "kind": "dynamic", "rule": at(value)}),
            )
            .await;
        r.problem(422);
        assert_eq!(r.error_codes(), one("rule.value", code), "{value:?}");
    }
    let r = app
        .get(
            "/api/v1/customers?last_purchase_before=2026-01-01T23:59:60Z",
            &admin,
        )
        .await;
    r.problem(400);
    assert_eq!(r.code_of("last_purchase_before"), "leap_second");
    // The first and last instants of the four-digit years, and a leap
    // second's neighbours, are taken.
    for (value, bought_before) in [
        ("0001-01-01T00:00:00Z", 0),
        ("0001-01-01", 0),
        ("9999-12-31T23:59:59.999999Z", 1),
        ("2016-12-31T23:59:59.999999Z", 0),
        ("2017-01-01T00:00:00z", 0),
    ] {
        assert_eq!(
            matches(&app, &admin, &at(value)).await.len(),
            bought_before,
            "{value}"
        );
    }
    let id = create_segment(
        &app,
        &admin,
        json!({"name": "Dates", "kind": "dynamic", "rule": at("-1d")}),
    )
    .await
    .id();
    let r = app
        .patch(
            &format!("{SEGMENTS}/{id}"),
            &admin,
            &json!({"rule": at("2026-01-01T23:59:60Z")}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_codes(), one("rule.value", "leap_second"));
}

/// Found by a review: `?region=%20East%20` lists the `East` cards (stored
/// text is trimmed, the filter trims), but a rule's `eq " East "` matched
/// none and `ne " East "` every card. `eq`, `ne` and `in` now compare the
/// value trimmed; blank, it is refused (`is_null` tests a missing value).
async fn text_values_compare_trimmed_as_the_list_filters_do(app: TestApp) {
    let admin = app.admin_token().await;
    let east = customer(&app, &admin, "East 1", json!({"region": "East"})).await;
    let east2 = customer(&app, &admin, "East 2", json!({"region": " East "})).await;
    let west = customer(&app, &admin, "West", json!({"region": "West"})).await;
    let none = customer(&app, &admin, "Nowhere", json!({})).await;
    let set = |ids: &[i64]| ids.iter().copied().collect::<BTreeSet<i64>>();
    let list = app
        .get("/api/v1/customers?region=%20East%20&limit=500", &admin)
        .await;
    let listed: BTreeSet<i64> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, set(&[east, east2]), "{}", list.text);
    let region = |op: &str, value: Value| json!({"field": "region", "op": op, "value": value});
    for (rule, want) in [
        (region("eq", json!(" East ")), set(&[east, east2])),
        (region("eq", json!("East\t")), set(&[east, east2])),
        (
            region("in", json!([" East", "West "])),
            set(&[east, east2, west]),
        ),
        // A missing value differs from every value.
        (region("ne", json!(" East ")), set(&[west, none])),
        (
            json!({"field": "name", "op": "eq", "value": "  West  "}),
            set(&[west]),
        ),
    ] {
        assert_eq!(matches(&app, &admin, &rule).await, want, "{rule}");
    }
    // Saved: the rule is kept as sent and matches the same cards.
    let r = create_segment(
        &app,
        &admin,
        json!({"name": "East", "kind": "dynamic", "rule": region("eq", json!(" East "))}),
    )
    .await;
    assert_eq!(r.body["count"], 2, "{}", r.text);
    assert_eq!(r.body["rule"]["value"], " East ");
    let members: BTreeSet<i64> = member_ids(&app, &admin, r.id(), "", 50)
        .await
        .into_iter()
        .collect();
    assert_eq!(members, set(&[east, east2]));

    // Blank: refused, each blank value named.
    let blank = |field: &str| (field.to_string(), "blank".to_string());
    assert_eq!(
        rule_errors(&app, &admin, &region("eq", json!("  "))).await,
        vec![blank("rule.value")]
    );
    assert_eq!(
        rule_errors(&app, &admin, &region("ne", json!(""))).await,
        vec![blank("rule.value")]
    );
    assert_eq!(
        rule_errors(&app, &admin, &region("in", json!(["East", " ", ""]))).await,
        vec![blank("rule.value[1]"), blank("rule.value[2]")]
    );
    // `contains` keeps its spaces (part of the substring) and refuses a
    // blank one as the others do.
    assert_eq!(
        matches(&app, &admin, &region("contains", json!("ast "))).await,
        set(&[])
    );
    assert_eq!(
        rule_errors(&app, &admin, &region("contains", json!(" "))).await,
        vec![blank("rule.value")]
    );
}

/// Rules saved before values were read strictly (a date in chrono's relaxed
/// form, a leap second, a blank text) still read: their segment would be a
/// 500 otherwise. Their text values compare trimmed, as new rules' do.
async fn rules_stored_before_the_stricter_reading_still_read(app: TestApp) {
    let admin = app.admin_token().await;
    let east = customer(&app, &admin, "East", json!({"region": "East"})).await;
    let west = customer(&app, &admin, "West", json!({"region": "West"})).await;
    let id = create_segment(
        &app,
        &admin,
        json!({"name": "Old", "kind": "dynamic", "rule": small()}),
    )
    .await
    .id();
    let set = |ids: &[i64]| ids.iter().copied().collect::<BTreeSet<i64>>();
    for (stored, want) in [
        (
            json!({"all": [
                {"field": "region", "op": "eq", "value": " East "},
                {"field": "created_at", "op": "gt", "value": " 2000-1-1"}
            ]}),
            set(&[east]),
        ),
        (
            json!({"field": "created_at", "op": "lt", "value": "2016-12-31T23:59:60Z"}),
            set(&[]),
        ),
        (
            json!({"field": "region", "op": "ne", "value": ""}),
            set(&[east, west]),
        ),
        (
            json!({"field": "created_at", "op": "gt", "value": "0000-01-01T00:00:00Z"}),
            set(&[east, west]),
        ),
        // A share in percent, saved before shares were checked: no one.
        (
            json!({"field": "share_of_wallet", "op": "gte", "value": 50}),
            set(&[]),
        ),
    ] {
        let text = stored.to_string().replace('\'', "''");
        app.execute_sql(&format!(
            "UPDATE segments SET rule = '{text}' WHERE id = {id}"
        ));
        let r = app.get(&format!("{SEGMENTS}/{id}"), &admin).await;
        assert_eq!(r.status, 200, "{stored}: {}", r.text);
        assert_eq!(r.body["count"], json!(want.len()), "{stored}: {}", r.text);
        let members: BTreeSet<i64> = member_ids(&app, &admin, id, "", 50)
            .await
            .into_iter()
            .collect();
        assert_eq!(members, want, "{stored}");
        // A PATCH that leaves the rule alone still answers, also one that
        // sends it back as it is (a form resending the whole segment).
        for body in [
            json!({"description": "kept"}),
            json!({"description": "resent", "rule": stored}),
        ] {
            let r = app.patch(&format!("{SEGMENTS}/{id}"), &admin, &body).await;
            assert_eq!(r.status, 200, "{body}: {}", r.text);
        }
    }
}

/// Found by a review: a rule's instant finer than a microsecond was cut
/// down to one for every op, so `gte X+0.5µs` took a card stored at `X`
/// and `lt X+0.5µs` left it out; the list filters round such a bound up
/// (`instants::bound`), and the README promises the exact comparison.
async fn instants_finer_than_a_microsecond_compare_exactly(app: TestApp) {
    let admin = app.admin_token().await;
    let c = customer(&app, &admin, "Called at X", json!({})).await;
    let x = "2026-06-01T10:00:00.123456Z";
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/interactions"),
            &admin,
            &json!({"type": "call", "summary": "Checked in", "occurred_at": x}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let card = app.get(&format!("/api/v1/customers/{c}"), &admin).await;
    assert_eq!(card.body["last_contact_at"], json!(x), "{}", card.text);

    let half_after = "2026-06-01T10:00:00.1234565Z";
    let half_before = "2026-06-01T10:00:00.1234555Z";
    let at = |op: &str, value: &str| json!({"field": "last_contact_at", "op": op, "value": value});
    let (none, card) = (BTreeSet::new(), BTreeSet::from([c]));
    for (rule, expected) in [
        (at("gte", half_after), &none),
        (at("lt", half_after), &card),
        (at("lte", half_after), &card),
        (at("gt", half_after), &none),
        (at("gte", half_before), &card),
        (at("lt", half_before), &none),
        (at("lte", half_before), &none),
        (at("gt", half_before), &card),
        (at("gte", x), &card),
        (at("lt", x), &none),
    ] {
        assert_eq!(&matches(&app, &admin, &rule).await, expected, "{rule}");
    }
    // A saved segment counts as its preview.
    let body = json!({"name": "Before X+", "kind": "dynamic", "rule": at("lt", half_after)});
    let created = create_segment(&app, &admin, body).await;
    assert_eq!(created.body["count"], 1, "{}", created.text);
    let r = app
        .get(&format!("{SEGMENTS}/{}", created.id()), &admin)
        .await;
    assert_eq!(r.body["count"], 1, "{}", r.text);
}

/// A key given twice in a rule is a 422 `duplicate` at its path, as in a
/// bulk item: the rule was read keeping the last one, then evaluated and
/// saved as something other than what was sent (a review).
async fn a_key_given_twice_in_a_rule_is_named(app: TestApp) {
    let admin = app.admin_token().await;
    let twice =
        r#"{"rule": {"field": "tier", "op": "eq", "value": "small", "value": "important"}}"#;
    let r = app
        .post_raw(
            &format!("{SEGMENTS}/preview"),
            &admin,
            "application/json",
            twice,
        )
        .await;
    r.problem(422);
    assert_eq!(
        r.error_codes(),
        [("rule.value".to_string(), "duplicate".to_string())],
        "{}",
        r.text
    );
    let nested = r#"{"name": "A", "kind": "dynamic", "rule": {"all": [{"field": "region", "op": "eq", "value": "East"}], "all": [{"field": "tier", "op": "eq", "value": "important"}]}}"#;
    let r = app
        .post_raw(SEGMENTS, &admin, "application/json", nested)
        .await;
    r.problem(422);
    assert_eq!(
        r.error_codes(),
        [("rule.all".to_string(), "duplicate".to_string())],
        "{}",
        r.text
    );
    let id = create_segment(
        &app,
        &admin,
        json!({"name": "B", "kind": "dynamic", "rule": small()}),
    )
    .await
    .id();
    let r = app
        .send(
            app.client
                .patch(app.url(&format!("{SEGMENTS}/{id}")))
                .bearer_auth(&admin)
                .header("Content-Type", "application/json")
                .body(r#"{"rule": {"field": "tier", "op": "eq", "op": "ne", "value": "small"}}"#),
        )
        .await;
    r.problem(422);
    assert_eq!(
        r.error_codes(),
        [("rule.op".to_string(), "duplicate".to_string())],
        "{}",
        r.text
    );
    let saved = app.get(&format!("{SEGMENTS}/{id}"), &admin).await;
    assert_eq!(saved.body["rule"], small(), "{}", saved.text);
}

/// A card's `currency` is three upper-case letters (stored as the card's
/// own field is checked), so `usd` could match none: a review found such a
/// rule accepted and the segment silently empty. Refused in a request with
/// `currency` at the value (or the list item); a value padded with spaces
/// compares trimmed, as other text values do.
async fn a_currency_value_is_an_iso_code_as_the_cards(app: TestApp) {
    let admin = app.admin_token().await;
    let usd = customer(&app, &admin, "Dollars", json!({"currency": "USD"})).await;
    let cny = customer(&app, &admin, "Yuan", json!({"currency": "CNY"})).await;
    let currency = |op: &str, value: Value| json!({"field": "currency", "op": op, "value": value});
    let pair = |field: &str, code: &str| (field.to_string(), code.to_string());
    assert_eq!(
        rule_errors(&app, &admin, &currency("eq", json!("usd"))).await,
        vec![pair("rule.value", "currency")]
    );
    assert_eq!(
        rule_errors(&app, &admin, &currency("ne", json!("US"))).await,
        vec![pair("rule.value", "currency")]
    );
    assert_eq!(
        rule_errors(&app, &admin, &currency("in", json!(["CNY", "US"]))).await,
        vec![pair("rule.value[1]", "currency")]
    );
    // Blank is `blank`, not `currency`: the value names no code at all.
    assert_eq!(
        rule_errors(&app, &admin, &currency("eq", json!(" "))).await,
        vec![pair("rule.value", "blank")]
    );
    // Nested, the error names its path in the rule.
    assert_eq!(
        rule_errors(
            &app,
            &admin,
            &json!({"any": [currency("eq", json!("CNY")), {"not": currency("eq", json!("Usd"))}]}),
        )
        .await,
        vec![pair("rule.any[1].not.value", "currency")]
    );
    // Saved, the same refusal.
    let r = app
        .post(
            SEGMENTS,
            &admin,
            &json!({"name": "Dollars", "kind": "dynamic", "rule": currency("eq", json!("usd"))}),
        )
        .await;
    r.problem(422);
    assert_eq!(
        r.error_codes(),
        vec![pair("rule.value", "currency")],
        "{}",
        r.text
    );
    // Padded, the code compares trimmed and finds its cards.
    let set = |ids: &[i64]| ids.iter().copied().collect::<BTreeSet<i64>>();
    assert_eq!(
        matches(&app, &admin, &currency("eq", json!(" USD "))).await,
        set(&[usd])
    );
    assert_eq!(
        matches(&app, &admin, &currency("in", json!(["CNY", "USD "]))).await,
        set(&[usd, cny])
    );
    // `contains` tests a substring, not a code: lower case is taken.
    assert_eq!(
        matches(&app, &admin, &currency("contains", json!("us"))).await,
        set(&[usd])
    );
}

/// Every empty leaf of a rule is an error; uncapped, a rule near the body's
/// size limit was answered with 16 MB of them (a review). A rule of 150
/// empty leaves is answered with the first 100 and one entry `rule`
/// `too_many_errors` saying there are more (served sorted by field, so
/// `rule` comes first).
async fn a_rule_of_many_bad_leaves_is_answered_with_a_hundred_errors(app: TestApp) {
    let admin = app.admin_token().await;
    // A group takes at most 100 rules: 150 leaves in two groups.
    let leaves = |n: usize| Value::Array((0..n).map(|_| json!({})).collect());
    let rule = json!({"all": [{"all": leaves(100)}, {"any": leaves(50)}]});
    let r = app
        .post(
            &format!("{SEGMENTS}/preview"),
            &admin,
            &json!({"rule": rule}),
        )
        .await;
    r.problem(422);
    let errors = r.error_codes();
    assert_eq!(errors.len(), 101, "{}", r.text);
    let capped: Vec<&(String, String)> = errors
        .iter()
        .filter(|(_, code)| code == "too_many_errors")
        .collect();
    assert_eq!(
        capped,
        [&("rule".to_string(), "too_many_errors".to_string())],
        "{}",
        r.text
    );
    assert_eq!(
        errors[0],
        ("rule".to_string(), "too_many_errors".to_string())
    );
    assert!(r.body["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("more than 100 errors")));
    // The hundred reported are the first group's leaves, each named.
    let mut leaves_named: Vec<String> = errors[1..]
        .iter()
        .map(|(field, code)| {
            assert_eq!(code, "invalid_rule", "{field}: {}", r.text);
            field.clone()
        })
        .collect();
    leaves_named.sort();
    let mut want: Vec<String> = (0..100).map(|i| format!("rule.all[0].all[{i}]")).collect();
    want.sort();
    assert_eq!(leaves_named, want);
    // At the cap exactly, no entry says there are more.
    let rule = json!({"all": leaves(100)});
    let errors = rule_errors(&app, &admin, &rule).await;
    assert_eq!(errors.len(), 100);
    assert!(errors.iter().all(|(_, code)| code == "invalid_rule"));
    // Saved, the same cap.
    let r = app
        .post(
            SEGMENTS,
            &admin,
            &json!({"name": "Many", "kind": "dynamic", "rule": {"any": [{"all": leaves(100)}, {"all": leaves(100)}]}}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_codes().len(), 101, "{}", r.text);
    assert_eq!(r.code_of("rule"), "too_many_errors", "{}", r.text);
}
