//! `GET /api/v1/customers`: filters, sorts and cursor pagination (stable
//! while others insert), and precise 400s for bad query parameters.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{ids_of, Resp, TestApp};

/// Paging through sorted lists while inserting.
mod paging;
/// The sorts that need an index of an expression get it.
pub mod plans;
/// `q` through the trigram index.
mod search;

backend_tests!(
    q_searches_name_company_email_and_phone,
    q_treats_percent_and_underscore_literally,
    each_filter_selects_exactly_its_customers,
    updated_since_and_include_archived_filter,
    sorts_order_the_list,
    bad_filters_and_sorts_are_400_naming_the_parameter,
    list_items_are_the_cards_read_one_by_one,
    an_erp_key_finds_its_card_and_its_orders,
);

const CUSTOMERS: &str = "/api/v1/customers";

/// URL-encodes one query value.
fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The ids listed for `query` (one page of up to 500).
async fn list(app: &TestApp, token: &str, query: &str) -> Vec<i64> {
    let r = app
        .get(&format!("{CUSTOMERS}?limit=500&{query}"), token)
        .await;
    assert!(r.body["next_cursor"].is_null(), "{}", r.text);
    ids_of(&r)
}

fn assert_400_naming(r: &Resp, field: &str) {
    r.problem(400);
    assert!(
        r.error_fields().iter().any(|f| f == field),
        "expected {field} in {}",
        r.text
    );
}

async fn create(app: &TestApp, token: &str, body: Value) -> i64 {
    app.create_customer(token, body).await.id()
}

async fn q_searches_name_company_email_and_phone(app: TestApp) {
    let admin = app.admin_token().await;
    let zhang = create(
        &app,
        &admin,
        json!({"kind": "individual", "name": "张伟", "company": "Acme Trading Co",
               "email": "Zhang.Wei@Example.COM", "phone": "+86 138 0000 1111"}),
    )
    .await;
    let water = create(
        &app,
        &admin,
        json!({"kind": "organization", "name": "Pure Water", "company": "纯净水有限公司",
               "email": "info@purewater.example", "phone": "0571-2222-3333"}),
    )
    .await;
    let other = create(
        &app,
        &admin,
        json!({"kind": "individual", "name": "Li Lei"}),
    )
    .await;

    let cases: &[(&str, Vec<i64>)] = &[
        ("acme", vec![zhang]),
        ("ACME trading", vec![zhang]),
        ("zhang.wei@example.com", vec![zhang]),
        ("EXAMPLE", vec![zhang, water]),
        ("0000 1111", vec![zhang]),
        ("2222", vec![water]),
        ("张", vec![zhang]),
        ("张伟", vec![zhang]),
        ("纯净水", vec![water]),
        ("pure WATER", vec![water]),
        ("lei", vec![other]),
        ("nobody", vec![]),
        ("  ", vec![zhang, water, other]),
    ];
    for (q, expected) in cases {
        let got = list(&app, &admin, &format!("q={}", enc(q))).await;
        assert_eq!(&got, expected, "q={q:?}");
    }
    // A change to a searched field is found at once.
    let r = app
        .patch(
            &format!("{CUSTOMERS}/{other}"),
            &admin,
            &json!({"company": "Globex 环球"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        list(&app, &admin, &format!("q={}", enc("globex 环球"))).await,
        vec![other]
    );
}

async fn q_treats_percent_and_underscore_literally(app: TestApp) {
    let admin = app.admin_token().await;
    let percent = create(
        &app,
        &admin,
        json!({"kind": "individual", "name": "100% Pure"}),
    )
    .await;
    let plain = create(
        &app,
        &admin,
        json!({"kind": "individual", "name": "1000 Pure"}),
    )
    .await;
    let underscore = create(
        &app,
        &admin,
        json!({"kind": "individual", "name": "under_score"}),
    )
    .await;
    let letter = create(
        &app,
        &admin,
        json!({"kind": "individual", "name": "underXscore"}),
    )
    .await;
    let backslash = create(
        &app,
        &admin,
        json!({"kind": "individual", "name": r"back\slash"}),
    )
    .await;

    let cases: &[(&str, Vec<i64>)] = &[
        ("%", vec![percent]),
        ("100%", vec![percent]),
        ("0%", vec![percent]),
        ("100", vec![percent, plain]),
        ("_", vec![underscore]),
        ("under_", vec![underscore]),
        ("r_s", vec![underscore]),
        ("underxscore", vec![letter]),
        (r"\", vec![backslash]),
        (r"k\s", vec![backslash]),
        ("%_%", vec![]),
    ];
    for (q, expected) in cases {
        let got = list(&app, &admin, &format!("q={}", enc(q))).await;
        assert_eq!(&got, expected, "q={q:?}");
    }
}

async fn each_filter_selects_exactly_its_customers(app: TestApp) {
    let (manager_id, manager) = app.user_with_role("manager").await;
    let (sales_id, _) = app.user_with_role("sales").await;
    let a = create(
        &app,
        &manager,
        json!({"kind": "individual", "name": "A", "funnel_stage": "prospect", "prospect_grade": "A",
               "owner_id": sales_id, "region": "华东", "industry": "retail",
               "acquisition_source": "trade_show", "personality_type": "rational", "tags": ["vip"]}),
    )
    .await;
    let b = create(
        &app,
        &manager,
        json!({"kind": "organization", "name": "B", "funnel_stage": "key", "prospect_grade": "B",
               "region": "华南", "industry": "water", "acquisition_source": "advertising",
               "personality_type": "emotional", "tags": ["vip", "大客户"]}),
    )
    .await;
    let c = create(&app, &manager, json!({"kind": "organization", "name": "C"})).await;

    let cases: Vec<(String, Vec<i64>)> = vec![
        ("kind=individual".into(), vec![a]),
        ("kind=organization".into(), vec![b, c]),
        ("funnel_stage=prospect".into(), vec![a]),
        ("funnel_stage=key".into(), vec![b]),
        ("funnel_stage=lead".into(), vec![c]),
        ("funnel_stage=won".into(), vec![]),
        ("prospect_grade=A".into(), vec![a]),
        ("prospect_grade=B".into(), vec![b]),
        ("prospect_grade=C".into(), vec![]),
        (format!("owner_id={sales_id}"), vec![a]),
        (format!("owner_id={manager_id}"), vec![b, c]),
        ("owner_id=999999".into(), vec![]),
        (format!("region={}", enc("华东")), vec![a]),
        (format!("region={}", enc("华南")), vec![b]),
        ("industry=water".into(), vec![b]),
        ("industry=Water".into(), vec![]),
        ("acquisition_source=trade_show".into(), vec![a]),
        ("acquisition_source=advertising".into(), vec![b]),
        ("acquisition_source=referral".into(), vec![]),
        ("personality_type=rational".into(), vec![a]),
        ("personality_type=emotional".into(), vec![b]),
        ("personality_type=arrogant".into(), vec![]),
        ("tag=vip".into(), vec![a, b]),
        (format!("tag={}", enc("大客户")), vec![b]),
        ("tag=none".into(), vec![]),
        // Trimmed as the stored values are (found by a review).
        ("tag=%20vip%20".into(), vec![a, b]),
        (format!("region=%20{}%20", enc("华东")), vec![a]),
        ("tag=vip&kind=organization".into(), vec![b]),
        (
            "tag=vip&funnel_stage=key&region=%E5%8D%8E%E5%8D%97".into(),
            vec![b],
        ),
        ("kind=individual&industry=water".into(), vec![]),
    ];
    for (query, expected) in cases {
        assert_eq!(list(&app, &manager, &query).await, expected, "{query}");
    }
}

async fn updated_since_and_include_archived_filter(app: TestApp) {
    let admin = app.admin_token().await;
    let old = create(&app, &admin, json!({"kind": "individual", "name": "old"})).await;
    let gone = create(&app, &admin, json!({"kind": "individual", "name": "gone"})).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let changed = create(
        &app,
        &admin,
        json!({"kind": "individual", "name": "changed"}),
    )
    .await;
    let r = app
        .patch(
            &format!("{CUSTOMERS}/{changed}"),
            &admin,
            &json!({"region": "x"}),
        )
        .await;
    let since = r.body["updated_at"].as_str().unwrap().to_string();

    let query = format!("updated_since={}", enc(&since));
    assert_eq!(
        list(&app, &admin, &query).await,
        vec![changed],
        "inclusive bound"
    );
    let all = list(&app, &admin, "updated_since=2000-01-01T00:00:00Z").await;
    assert_eq!(all, vec![old, gone, changed]);
    let later = list(&app, &admin, "updated_since=2999-01-01T00:00:00Z").await;
    assert!(later.is_empty());
    // An offset other than Z means the same instant.
    let r = app
        .get(
            &format!(
                "{CUSTOMERS}?updated_since={}",
                enc("2000-01-01T08:00:00+08:00")
            ),
            &admin,
        )
        .await;
    assert_eq!(ids_of(&r), vec![old, gone, changed]);

    // Archiving is a change; archived cards show only on request.
    assert_eq!(
        app.delete(&format!("{CUSTOMERS}/{gone}"), &admin)
            .await
            .status,
        204
    );
    assert_eq!(list(&app, &admin, "").await, vec![old, changed]);
    assert_eq!(
        list(&app, &admin, "include_archived=true").await,
        vec![old, gone, changed]
    );
    assert_eq!(
        list(&app, &admin, "include_archived=false").await,
        vec![old, changed]
    );
    assert_eq!(list(&app, &admin, &query).await, vec![changed]);
    let with_archived = format!("{query}&include_archived=true");
    assert_eq!(
        list(&app, &admin, &with_archived).await,
        vec![gone, changed]
    );
    assert_eq!(
        list(&app, &admin, "q=gone&include_archived=true").await,
        vec![gone]
    );
    assert_eq!(list(&app, &admin, "q=gone").await, Vec::<i64>::new());
}

async fn sorts_order_the_list(app: TestApp) {
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for name in ["delta", "alpha", "charlie", "bravo", "echo"] {
        ids.push(create(&app, &admin, json!({"kind": "individual", "name": name})).await);
    }
    let [delta, alpha, charlie, bravo, echo] = ids[..] else {
        unreachable!()
    };
    for id in [charlie, alpha] {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let r = app
            .patch(
                &format!("{CUSTOMERS}/{id}"),
                &admin,
                &json!({"notes": "touched"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let by_name = vec![alpha, bravo, charlie, delta, echo];
    let cases: Vec<(&str, Vec<i64>)> = vec![
        ("", ids.clone()),
        ("sort=id", ids.clone()),
        ("sort=-id", ids.iter().rev().copied().collect()),
        ("sort=name", by_name.clone()),
        ("sort=-name", by_name.iter().rev().copied().collect()),
        ("sort=created_at", ids.clone()),
        ("sort=-created_at", ids.iter().rev().copied().collect()),
        ("sort=-updated_at", vec![alpha, charlie, echo, bravo, delta]),
        ("sort=updated_at", vec![delta, bravo, echo, charlie, alpha]),
    ];
    for (query, expected) in cases {
        assert_eq!(list(&app, &admin, query).await, expected, "{query}");
    }
    // Sorting combines with filters.
    let q = format!("sort=-name&q={}", enc("a"));
    assert_eq!(
        list(&app, &admin, &q).await,
        vec![delta, charlie, bravo, alpha]
    );
}

async fn bad_filters_and_sorts_are_400_naming_the_parameter(app: TestApp) {
    let admin = app.admin_token().await;
    create(&app, &admin, json!({"kind": "individual", "name": "x"})).await;
    let cases = [
        ("funnel_stage=nope", "funnel_stage"),
        ("kind=robot", "kind"),
        ("prospect_grade=a", "prospect_grade"),
        ("acquisition_source=magic", "acquisition_source"),
        ("personality_type=grumpy", "personality_type"),
        ("owner_id=abc", "owner_id"),
        ("updated_since=yesterday", "updated_since"),
        ("updated_since=2024-13-01T00:00:00Z", "updated_since"),
        ("include_archived=maybe", "include_archived"),
        ("sort=email", "sort"),
        ("sort=--id", "sort"),
        ("sort=+name", "sort"),
        ("sort=", "sort"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
    ];
    for (query, field) in cases {
        let r = app.get(&format!("{CUSTOMERS}?{query}"), &admin).await;
        assert_400_naming(&r, field);
    }
    let long = format!("q={}", "x".repeat(201));
    assert_400_naming(&app.get(&format!("{CUSTOMERS}?{long}"), &admin).await, "q");
    let r = app
        .get(
            &format!("{CUSTOMERS}?{}", "q=".to_string() + &"x".repeat(200)),
            &admin,
        )
        .await;
    assert_eq!(r.status, 200, "200 characters are fine: {}", r.text);

    let unknown = app.get(&format!("{CUSTOMERS}?colour=red"), &admin).await;
    unknown.problem(400);
    assert!(
        unknown.text.contains("colour"),
        "the parameter is named: {}",
        unknown.text
    );
    let unknown = app
        .get(&format!("{CUSTOMERS}?limit=5&Sort=name"), &admin)
        .await;
    unknown.problem(400);
}

/// A list item is the card `GET /customers/{id}` returns (the two read the
/// tier and the tags by different statements), tags in byte order.
async fn list_items_are_the_cards_read_one_by_one(app: TestApp) {
    let admin = app.admin_token().await;
    let ids = crate::tiers::population(&app, &admin, 10).await;
    crate::tiers::recompute(&app, &admin).await;
    let tags = json!([
        "zeta",
        "Alpha",
        "大客户",
        "say \"hi\" \\ there",
        "🎉 party",
        "alpha"
    ]);
    for (id, tags) in [(ids[0], tags), (ids[9], json!(["b", "a"]))] {
        let r = app
            .patch(
                &format!("{CUSTOMERS}/{id}"),
                &admin,
                &json!({ "tags": tags }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    let r = app.get(&format!("{CUSTOMERS}?limit=500"), &admin).await;
    assert_eq!(ids_of(&r), ids);
    let items = r.body["items"].as_array().cloned().unwrap_or_default();
    for item in &items {
        let card = app
            .get(&format!("{CUSTOMERS}/{}", item["id"]), &admin)
            .await;
        assert_eq!(card.status, 200, "{}", card.text);
        assert_eq!(item, &card.body);
    }
    assert_eq!(
        items[0]["tags"],
        json!([
            "Alpha",
            "alpha",
            "say \"hi\" \\ there",
            "zeta",
            "大客户",
            "🎉 party"
        ])
    );
    assert_eq!(items[9]["tags"], json!(["a", "b"]));
    assert_eq!(items[5]["tags"], json!([]));
    let tiers: Vec<&str> = items.iter().filter_map(|i| i["tier"].as_str()).collect();
    assert_eq!(tiers.len(), ids.len());
    assert!(tiers.iter().any(|t| *t != "small"), "{tiers:?}");
    assert!(tiers.contains(&"small"), "{tiers:?}");
}

/// An integrator finds the card, and the order, of a record it syncs by its
/// ERP key (a review: neither list took `external_id`). Blank text filters
/// are no filter, as `q` is (a blank region matched nothing: blank values
/// are stored as none).
async fn an_erp_key_finds_its_card_and_its_orders(app: TestApp) {
    let token = app.admin_token().await;
    let mut ids = Vec::new();
    for (name, key) in [("Keyed", "ERP-7"), ("Keyed too", "ERP-77"), ("Unkeyed", "")] {
        let mut body = json!({"kind": "organization", "name": name, "region": "Ningbo"});
        if !key.is_empty() {
            body["external_id"] = json!(key);
        }
        ids.push(app.create_customer(&token, body).await.id());
    }
    let r = app
        .get(&format!("{CUSTOMERS}?external_id=ERP-7"), &token)
        .await;
    assert_eq!(ids_of(&r), [ids[0]]);
    let r = app
        .get(&format!("{CUSTOMERS}?external_id=%20ERP-77%20"), &token)
        .await;
    assert_eq!(ids_of(&r), [ids[1]], "trimmed as stored");
    let r = app
        .get(&format!("{CUSTOMERS}?external_id=erp-7"), &token)
        .await;
    assert_eq!(ids_of(&r), Vec::<i64>::new(), "exact: keys keep their case");
    let r = app
        .get(&format!("{CUSTOMERS}/export?external_id=ERP-77"), &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text.lines().count(), 2, "header and one row: {}", r.text);
    for blank in ["external_id=", "region=", "industry=%20", "tag="] {
        let r = app.get(&format!("{CUSTOMERS}?{blank}"), &token).await;
        assert_eq!(ids_of(&r), ids, "{blank}");
    }

    for (c, key) in [(ids[0], "SO-1"), (ids[1], "SO-2")] {
        let r = app
            .post(
                &format!("{CUSTOMERS}/{c}/transactions"),
                &token,
                &json!({"amount_cents": 100, "product": "Tea", "external_id": key}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = app
        .get("/api/v1/transactions?external_id=SO-2", &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{}", r.text);
    assert_eq!(items[0]["customer_id"], ids[1]);
    let r = app
        .get(
            &format!("{CUSTOMERS}/{}/transactions?external_id=SO-2", ids[0]),
            &token,
        )
        .await;
    assert_eq!(
        r.body["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        r.text
    );
    let r = app.get("/api/v1/transactions?external_id=", &token).await;
    assert_eq!(
        r.body["items"].as_array().map(Vec::len),
        Some(2),
        "{}",
        r.text
    );
}
