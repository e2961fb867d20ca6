//! Segment rules and the pyramid over recomputed tiers. Only the customers
//! above `small` have a tier row (`customer_tiers`), so every test of the
//! tier, `small` included, is checked against known members on both
//! backends.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::changes::read_all;
use crate::helpers::TestApp;
use crate::tiers::{population, recompute, tier_of};

backend_tests!(
    tier_rules_select_the_recomputed_tiers,
    tier_moves_are_in_the_change_feed_in_order,
);

/// The ids a rule selects (every member: the limit is above the population).
async fn members(app: &TestApp, token: &str, rule: &Value) -> BTreeSet<i64> {
    let r = app
        .post(
            "/api/v1/segments/preview",
            token,
            &json!({"rule": rule, "limit": 500}),
        )
        .await;
    assert_eq!(r.status, 200, "{rule}: {}", r.text);
    let ids: BTreeSet<i64> = r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", r.text))
        .iter()
        .filter_map(|c| c["id"].as_i64())
        .collect();
    assert_eq!(r.body["count"], ids.len(), "{rule}: {}", r.text);
    ids
}

async fn tier_rules_select_the_recomputed_tiers(app: TestApp) {
    let admin = app.admin_token().await;
    // 100 distinct profits: ids[99] important, ids[95..99] secondary,
    // ids[80..95] ordinary, ids[..80] small.
    let ids = population(&app, &admin, 100).await;
    let r = recompute(&app, &admin).await;
    assert_eq!(r.body["changed"], 20, "{}", r.text);
    // Index ranges [from, to) of `ids`.
    let set = |ranges: &[(usize, usize)]| -> BTreeSet<i64> {
        ranges
            .iter()
            .flat_map(|&(from, to)| ids[from..to].to_vec())
            .collect()
    };
    let tier = |op: &str, value: Value| json!({"field": "tier", "op": op, "value": value});
    let cases = [
        (tier("eq", json!("important")), set(&[(99, 100)])),
        (tier("eq", json!("small")), set(&[(0, 80)])),
        (tier("ne", json!("small")), set(&[(80, 100)])),
        (tier("ne", json!("ordinary")), set(&[(0, 80), (95, 100)])),
        (
            tier("in", json!(["small", "important"])),
            set(&[(0, 80), (99, 100)]),
        ),
        (
            tier("in", json!(["secondary", "ordinary"])),
            set(&[(80, 99)]),
        ),
        (
            tier("in", json!(["small", "ordinary", "secondary", "important"])),
            set(&[(0, 100)]),
        ),
        (
            json!({"not": tier("in", json!(["important", "secondary"]))}),
            set(&[(0, 95)]),
        ),
        (
            json!({"any": [tier("eq", json!("important")), tier("eq", json!("secondary"))]}),
            set(&[(95, 100)]),
        ),
        (
            json!({"all": [tier("ne", json!("small")), {"field": "profit_12m_cents", "op": "lt", "value": 90_000}]}),
            set(&[(80, 89)]),
        ),
    ];
    for (rule, want) in &cases {
        assert_eq!(&members(&app, &admin, rule).await, want, "{rule}");
    }

    // The ready-made tier segments agree.
    let r = app
        .get("/api/v1/segments?builtin=true&limit=100", &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for (name, want) in [
        ("Tier: important", 1),
        ("Tier: secondary", 4),
        ("Tier: ordinary", 15),
        ("Tier: small", 80),
    ] {
        let id = r.body["items"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == name))
            .and_then(|s| s["id"].as_i64())
            .unwrap_or_else(|| panic!("{name}: {}", r.text));
        let seg = app.get(&format!("/api/v1/segments/{id}"), &admin).await;
        assert_eq!(seg.body["count"], want, "{name}: {}", seg.text);
    }

    // An archived customer leaves its tier's members and the pyramid.
    let top = ids[99];
    let r = app
        .delete(&format!("/api/v1/customers/{top}"), &admin)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(members(&app, &admin, &tier("eq", json!("important")))
        .await
        .is_empty());
    let r = app.get("/api/v1/tiers", &admin).await;
    assert_eq!(r.body["tiers"][0]["tier"], "important", "{}", r.text);
    assert_eq!(r.body["tiers"][0]["customers"], 0, "{}", r.text);
    assert_eq!(r.body["tiers"][3]["customers"], 80, "{}", r.text);

    // The next recompute ranks the 99 others: ids[98] moves up, and the
    // rules follow.
    let r = recompute(&app, &admin).await;
    assert_eq!(r.body["customers"], 99, "{}", r.text);
    assert_eq!(tier_of(&app, &admin, ids[98]).await, "important");
    assert_eq!(
        members(&app, &admin, &tier("eq", json!("important"))).await,
        set(&[(98, 99)])
    );
    assert_eq!(
        members(&app, &admin, &tier("eq", json!("small"))).await,
        set(&[(0, 79)])
    );
}

/// Each move of a recompute is one `stage_change` in the feed, complete,
/// between the writes before and after it.
async fn tier_moves_are_in_the_change_feed_in_order(app: TestApp) {
    let admin = app.admin_token().await;
    let ids = population(&app, &admin, 100).await;
    let head = app.get("/api/v1/changes/head", &admin).await;
    assert_eq!(head.status, 200, "{}", head.text);
    let r = recompute(&app, &admin).await;
    assert_eq!(r.body["changed"], 20, "{}", r.text);
    let after = app
        .create_customer(&admin, json!({"kind": "individual", "name": "After"}))
        .await
        .id();
    let (items, _) = read_all(&app, &admin, head.body["cursor"].as_str(), "", 7).await;
    // The 20 moves, then the new card and its funnel stage.
    assert_eq!(items.len(), 22, "{items:?}");
    let (moves, last) = items.split_at(20);
    assert_eq!(last[0]["entity_type"], "customer", "{}", last[0]);
    assert_eq!(last[0]["entity_id"], after, "{}", last[0]);
    assert_eq!(
        last[1]["data"]["kind"], "funnel_stage_changed",
        "{}",
        last[1]
    );
    let mut seen = BTreeSet::new();
    for m in moves {
        assert_eq!(m["entity_type"], "stage_change", "{m}");
        assert_eq!(m["operation"], "created", "{m}");
        let data = &m["data"];
        assert_eq!(data["kind"], "tier_changed", "{m}");
        assert_eq!(data["from"], "small", "{m}");
        assert_eq!(data["id"], m["entity_id"], "{m}");
        let customer = data["customer_id"].as_i64().unwrap_or_default();
        let want = tier_of(&app, &admin, customer).await;
        assert_eq!(data["to"], want.as_str(), "{m}");
        seen.insert(customer);
    }
    assert_eq!(seen, ids[80..].iter().copied().collect::<BTreeSet<_>>());

    // A first profit puts the new card in the ranking: with 101 customers
    // the cut ranks grow (2 / 6 / 21), 3 moves. Then a recompute that moves
    // nothing adds nothing to the feed.
    let r = app
        .post(
            &format!("/api/v1/customers/{after}/transactions"),
            &admin,
            &json!({"amount_cents": 1, "cost_cents": 0, "product": "Sample"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(recompute(&app, &admin).await.body["changed"], 3);
    let end = app.get("/api/v1/changes/head", &admin).await;
    assert_eq!(recompute(&app, &admin).await.body["changed"], 0);
    let (items, _) = read_all(&app, &admin, end.body["cursor"].as_str(), "", 7).await;
    assert!(items.is_empty(), "{items:?}");
}
