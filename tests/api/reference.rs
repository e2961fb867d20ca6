//! `/api/v1/reference`: the code lists with English and Chinese labels and strategies.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    reference_index_names_every_contract_list,
    every_reference_list_has_labelled_items,
    reference_lists_hold_the_domain_codes,
    personality_types_carry_a_strategy_with_actions,
    cpr_stages_carry_strategy_codes_s_v_b,
    unknown_reference_list_is_404,
    reference_needs_a_token,
    customer_personality_strategy_is_the_reference_strategy,
    reference_codes_are_accepted_where_the_api_takes_them,
);

/// The list names API.md promises.
const CONTRACT_LISTS: &[&str] = &[
    "personality-types",
    "social-styles",
    "acquisition-sources",
    "latent-need-types",
    "funnel-stages",
    "cpr-stages",
    "tiers",
    "satisfaction-levels",
    "loyalty-types",
    "churn-reasons",
    "interaction-types",
];

async fn list_names(app: &TestApp, token: &str) -> Vec<String> {
    let r = app.get("/api/v1/reference", token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["lists"]
        .as_array()
        .unwrap_or_else(|| panic!("no lists in {}", r.text))
        .iter()
        .map(|n| n.as_str().expect("list names are strings").to_string())
        .collect()
}

async fn items(app: &TestApp, token: &str, list: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/reference/{list}"), token).await;
    assert_eq!(r.status, 200, "{list}: {}", r.text);
    assert_eq!(r.body["list"], list);
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}: no items in {}", r.text))
        .clone()
}

fn codes(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["code"].as_str().unwrap().to_string())
        .collect()
}

fn entry<'a>(items: &'a [Value], code: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["code"] == code)
        .unwrap_or_else(|| panic!("no code {code} in {items:?}"))
}

async fn reference_index_names_every_contract_list(app: TestApp) {
    let token = app.admin_token().await;
    let names = list_names(&app, &token).await;
    for name in CONTRACT_LISTS {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "duplicate names: {names:?}");
}

async fn every_reference_list_has_labelled_items(app: TestApp) {
    let (_, viewer) = app.user_with_role("viewer").await;
    for name in list_names(&app, &viewer).await {
        let r = app.get(&format!("/api/v1/reference/{name}"), &viewer).await;
        assert_eq!(r.status, 200, "{name}: {}", r.text);
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{name}: {:?}",
            r.header("content-type")
        );
        let items = r.body["items"].as_array().unwrap();
        assert!(!items.is_empty(), "{name} is empty");
        for item in items {
            let code = item["code"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: no code in {item}"));
            assert!(
                !code.is_empty() && !code.contains(' '),
                "{name}: bad code {code:?}"
            );
            let en = item["label_en"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}/{code}: no label_en"));
            assert!(!en.trim().is_empty(), "{name}/{code}: blank label_en");
            let zh = item["label_zh"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}/{code}: no label_zh"));
            assert!(!zh.trim().is_empty(), "{name}/{code}: blank label_zh");
            assert!(
                !zh.is_ascii(),
                "{name}/{code}: label_zh {zh:?} is not Chinese"
            );
            let description = item["description"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}/{code}: no description"));
            assert!(
                description.trim().len() > 10,
                "{name}/{code}: description {description:?}"
            );
            if let Some(strategy) = item.get("strategy").filter(|s| !s.is_null()) {
                assert!(
                    strategy["name"]
                        .as_str()
                        .is_some_and(|s| !s.trim().is_empty()),
                    "{name}/{code}"
                );
                assert!(
                    strategy["summary"]
                        .as_str()
                        .is_some_and(|s| !s.trim().is_empty()),
                    "{name}/{code}"
                );
                assert!(strategy["actions"].is_array(), "{name}/{code}: {strategy}");
            }
        }
        let codes = codes(items);
        let unique: HashSet<&String> = codes.iter().collect();
        assert_eq!(
            unique.len(),
            codes.len(),
            "{name}: duplicate codes {codes:?}"
        );
    }
}

/// The codes of DOMAIN.md, in its order.
async fn reference_lists_hold_the_domain_codes(app: TestApp) {
    let token = app.admin_token().await;
    let expected: &[(&str, &[&str])] = &[
        (
            "personality-types",
            &[
                "rational",
                "emotional",
                "reticent",
                "sensitive",
                "arrogant",
                "indecisive",
            ],
        ),
        (
            "social-styles",
            &["expressive", "amiable", "driver", "analytical"],
        ),
        (
            "acquisition-sources",
            &[
                "records_analysis",
                "cold_visit",
                "directory_lookup",
                "chain_expansion",
                "event",
                "advertising",
                "trade_show",
                "new_media",
                "referral",
            ],
        ),
        (
            "latent-need-types",
            &[
                "insufficient_purchasing_power",
                "product_shortage",
                "unfamiliar_with_product",
                "competitive_market",
            ],
        ),
        (
            "funnel-stages",
            &["lead", "prospect", "ordinary", "key", "won"],
        ),
        (
            "cpr-stages",
            &["not_started", "conversion", "penetration", "retention"],
        ),
        ("tiers", &["important", "secondary", "ordinary", "small"]),
        (
            "satisfaction-levels",
            &[
                "very_dissatisfied",
                "dissatisfied",
                "neutral",
                "satisfied",
                "very_satisfied",
            ],
        ),
        (
            "churn-reasons",
            &[
                "staff_turnover",
                "competition",
                "company_instability",
                "neglected_details",
                "integrity",
                "harsh_policies",
                "unbalanced_attention",
                "natural",
            ],
        ),
        (
            "interaction-types",
            &[
                "visit",
                "meeting",
                "call",
                "email",
                "message",
                "reception",
                "appointment_call",
                "care",
                "complaint",
            ],
        ),
    ];
    for (list, want) in expected {
        let got = codes(&items(&app, &token, list).await);
        assert_eq!(
            got,
            want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "{list}"
        );
    }
    // The four loyalty types of the attitude × behaviour grid are there.
    let loyalty = codes(&items(&app, &token, "loyalty-types").await);
    for code in ["high", "latent", "inertial", "none"] {
        assert!(
            loyalty.iter().any(|c| c == code),
            "loyalty-types lacks {code}: {loyalty:?}"
        );
    }
    // Spot-check the Chinese terms of DOMAIN.md.
    let personality = items(&app, &token, "personality-types").await;
    assert_eq!(entry(&personality, "rational")["label_zh"], "理智沉稳型");
    assert_eq!(entry(&personality, "emotional")["label_zh"], "情感直率型");
    let funnel = items(&app, &token, "funnel-stages").await;
    assert_eq!(entry(&funnel, "won")["label_zh"], "已成交客户");
}

async fn personality_types_carry_a_strategy_with_actions(app: TestApp) {
    let token = app.admin_token().await;
    let personality = items(&app, &token, "personality-types").await;
    assert_eq!(personality.len(), 6);
    let mut names = HashSet::new();
    for item in &personality {
        let code = &item["code"];
        let strategy = &item["strategy"];
        assert!(strategy.is_object(), "{code} has no strategy: {item}");
        assert!(
            strategy["name"].as_str().is_some_and(|s| !s.is_empty()),
            "{code}"
        );
        assert!(
            strategy["summary"].as_str().is_some_and(|s| s.len() > 20),
            "{code}"
        );
        let actions = strategy["actions"]
            .as_array()
            .unwrap_or_else(|| panic!("{code}: no actions"));
        assert!(
            (3..=6).contains(&actions.len()),
            "{code}: {} actions",
            actions.len()
        );
        assert!(
            actions
                .iter()
                .all(|a| a.as_str().is_some_and(|s| s.trim().len() > 5)),
            "{code}: {actions:?}"
        );
        assert!(
            strategy.get("code").is_none_or(Value::is_null),
            "{code}: S/V/B is for CPR stages only"
        );
        names.insert(strategy["name"].as_str().unwrap().to_string());
    }
    assert_eq!(names.len(), 6, "each personality type has its own strategy");

    // Social styles have strategies too (DOMAIN.md), acquisition sources do not.
    for item in items(&app, &token, "social-styles").await {
        assert!(
            item["strategy"]["actions"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            "{item}"
        );
    }
}

async fn cpr_stages_carry_strategy_codes_s_v_b(app: TestApp) {
    let token = app.admin_token().await;
    let cpr = items(&app, &token, "cpr-stages").await;
    for (stage, letter, zh) in [
        ("conversion", "S", "转换"),
        ("penetration", "V", "渗透"),
        ("retention", "B", "维系"),
    ] {
        let e = entry(&cpr, stage);
        assert_eq!(e["strategy"]["code"], letter, "{stage}: {e}");
        assert!(
            e["label_zh"].as_str().unwrap().contains(zh),
            "{stage}: {}",
            e["label_zh"]
        );
        let actions = e["strategy"]["actions"].as_array().unwrap();
        assert!(!actions.is_empty(), "{stage} has no actions");
    }
    // The stage before any business has no S/V/B letter.
    let not_started = entry(&cpr, "not_started");
    assert!(
        not_started["strategy"].is_null()
            || not_started["strategy"]
                .get("code")
                .is_none_or(Value::is_null),
        "{not_started}"
    );
}

async fn unknown_reference_list_is_404(app: TestApp) {
    let token = app.admin_token().await;
    for path in [
        "/api/v1/reference/no-such-list",
        "/api/v1/reference/PERSONALITY-TYPES",
        "/api/v1/reference/personality_types",
        "/api/v1/reference/personality-types/rational/extra",
        "/api/v1/reference/%E4%B8%AD%E6%96%87",
    ] {
        let r = app.get(path, &token).await;
        let body = r.problem(404);
        assert_eq!(body["type"], "/problems/not-found", "{path}");
    }
}

async fn reference_needs_a_token(app: TestApp) {
    for path in [
        "/api/v1/reference",
        "/api/v1/reference/personality-types",
        "/api/v1/reference/no-such-list",
    ] {
        let r = app.get(path, "").await;
        r.problem(401);
        assert_eq!(
            r.header("www-authenticate").as_deref(),
            Some("Bearer"),
            "{path}"
        );
        app.get(path, "not.a.jwt").await.problem(401);
    }
}

async fn customer_personality_strategy_is_the_reference_strategy(app: TestApp) {
    let token = app.admin_token().await;
    let personality = items(&app, &token, "personality-types").await;
    let emotional = entry(&personality, "emotional")["strategy"].clone();
    let rational = entry(&personality, "rational")["strategy"].clone();

    let created = app
        .create_customer(
            &token,
            json!({"kind": "individual", "name": "Chen Jie", "personality_type": "emotional"}),
        )
        .await;
    assert_eq!(created.body["personality_type"], "emotional");
    assert_eq!(created.body["personality_strategy"], emotional);
    let path = format!("/api/v1/customers/{}", created.id());
    let read = app.get(&path, &token).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["personality_strategy"], emotional);

    // Changing the type changes the strategy; clearing it clears the strategy.
    let r = app
        .patch(&path, &token, &json!({"personality_type": "rational"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["personality_strategy"], rational);
    let r = app
        .patch(&path, &token, &json!({"personality_type": null}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["personality_strategy"].is_null(), "{}", r.text);

    // The list shows the same strategy as the card.
    let c = app
        .create_customer(
            &token,
            json!({"kind": "individual", "name": "Listed", "personality_type": "emotional"}),
        )
        .await;
    let r = app
        .get("/api/v1/customers?personality_type=emotional", &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let listed = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == json!(c.id()))
        .cloned();
    assert_eq!(
        listed.expect("the customer is listed")["personality_strategy"],
        emotional
    );
}

/// The reference lists and the codes the API accepts agree.
async fn reference_codes_are_accepted_where_the_api_takes_them(app: TestApp) {
    let token = app.admin_token().await;
    let customer_fields = [
        ("personality-types", "personality_type"),
        ("social-styles", "social_style"),
        ("funnel-stages", "funnel_stage"),
    ];
    for (list, field) in customer_fields {
        for code in codes(&items(&app, &token, list).await) {
            let mut body = json!({"kind": "individual", "name": format!("{field} {code}")});
            body[field] = json!(code);
            let r = app.post("/api/v1/customers", &token, &body).await;
            // `won` needs a recorded transaction first: a known code, refused
            // by a business rule (409), not as an unknown value (422).
            let created = if field == "funnel_stage" && code == "won" && r.status == 409 {
                r.problem(409);
                false
            } else {
                assert_eq!(r.status, 201, "{list}/{code} refused: {}", r.text);
                assert_eq!(r.body[field], json!(code));
                true
            };
            // The card list filters by personality type and funnel stage.
            if field != "social_style" {
                let r = app
                    .get(&format!("/api/v1/customers?{field}={code}"), &token)
                    .await;
                assert_eq!(r.status, 200, "filter {field}={code}: {}", r.text);
                let items = r.body["items"].as_array().unwrap();
                assert_eq!(
                    !items.is_empty(),
                    created,
                    "filter {field}={code}: {}",
                    r.text
                );
                assert!(
                    items.iter().all(|c| c[field] == json!(code)),
                    "filter {field}={code}: {}",
                    r.text
                );
            }
        }
    }
    let names = list_names(&app, &token).await;
    if names.iter().any(|n| n == "customer-kinds") {
        for code in codes(&items(&app, &token, "customer-kinds").await) {
            let r = app
                .post(
                    "/api/v1/customers",
                    &token,
                    &json!({"kind": code, "name": "Kind"}),
                )
                .await;
            assert_eq!(r.status, 201, "kind {code}: {}", r.text);
        }
    }
    if names.iter().any(|n| n == "genders") {
        for code in codes(&items(&app, &token, "genders").await) {
            let r = app
                .post(
                    "/api/v1/customers",
                    &token,
                    &json!({"kind": "individual", "name": "Gendered", "gender": code}),
                )
                .await;
            assert_eq!(r.status, 201, "gender {code}: {}", r.text);
            assert_eq!(r.body["gender"], json!(code), "{}", r.text);
        }
    }
    if names.iter().any(|n| n == "prospect-grades") {
        for code in codes(&items(&app, &token, "prospect-grades").await) {
            let r = app
                .post(
                    "/api/v1/customers",
                    &token,
                    &json!({"kind": "individual", "name": "Graded", "prospect_grade": code}),
                )
                .await;
            assert_eq!(r.status, 201, "grade {code}: {}", r.text);
        }
    }
    if names.iter().any(|n| n == "contact-roles") {
        let cid = app
            .create_customer(&token, json!({"kind": "organization", "name": "Roles"}))
            .await
            .id();
        for code in codes(&items(&app, &token, "contact-roles").await) {
            let r = app
                .post(
                    &format!("/api/v1/customers/{cid}/contacts"),
                    &token,
                    &json!({"name": "Someone", "role": code}),
                )
                .await;
            assert_eq!(r.status, 201, "role {code}: {}", r.text);
        }
    }
    // Acquisition sources: those from an existing customer need the link.
    let source = app
        .create_customer(&token, json!({"kind": "individual", "name": "Referrer"}))
        .await
        .id();
    for code in codes(&items(&app, &token, "acquisition-sources").await) {
        let mut body = json!({"kind": "individual", "name": format!("via {code}"), "acquisition_source": code});
        if code == "referral" || code == "chain_expansion" {
            body["source_customer_id"] = json!(source);
        }
        let r = app.post("/api/v1/customers", &token, &body).await;
        assert_eq!(r.status, 201, "source {code}: {}", r.text);
    }
}
