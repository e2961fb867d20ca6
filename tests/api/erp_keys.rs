//! An ERP key (`external_id`) once set is changed or cleared only by
//! managers, admins and integrations: the ERP finds its records by it, and
//! a sales user's change made its next bulk sync record the order again
//! (revenue and `purchase_count` counted twice) or create a second card.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

backend_tests!(
    sales_may_not_change_or_clear_a_cards_erp_key,
    sales_may_not_change_or_clear_an_orders_erp_key,
    a_stale_if_match_does_not_hide_the_key_refusal,
);

fn assert_key_refused(r: &Resp) {
    let problem = r.problem(403);
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("external_id"), "{}", r.text);
}

async fn sales_may_not_change_or_clear_a_cards_erp_key(app: TestApp) {
    let (_, sales) = app.user_with_role("sales").await;
    let keyed = app
        .create_customer(
            &sales,
            json!({"kind": "individual", "name": "Keyed", "external_id": "ERP-1"}),
        )
        .await
        .id();
    let path = format!("/api/v1/customers/{keyed}");
    for body in [
        json!({"external_id": "ERP-2"}),
        json!({"external_id": null}),
        json!({"external_id": "ERP-2", "name": "Renamed"}),
    ] {
        assert_key_refused(&app.patch(&path, &sales, &body).await);
    }
    let r = app.get(&path, &sales).await;
    assert_eq!(r.body["external_id"], "ERP-1", "{}", r.text);
    assert_eq!(r.body["name"], "Keyed", "{}", r.text);
    // The same key, sent back with an edit, changes nothing of it.
    let r = app
        .patch(
            &path,
            &sales,
            &json!({"external_id": "ERP-1", "name": "Edited"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A card without a key may get one from its owner.
    let keyless = app
        .create_customer(&sales, json!({"kind": "individual", "name": "Keyless"}))
        .await
        .id();
    let r = app
        .patch(
            &format!("/api/v1/customers/{keyless}"),
            &sales,
            &json!({"external_id": "ERP-3"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["external_id"], "ERP-3");

    // Managers, integrations and admins change and clear keys.
    for (role, body) in [
        ("manager", json!({"external_id": "ERP-4"})),
        ("integration", json!({"external_id": "ERP-5"})),
        ("admin", json!({"external_id": null})),
    ] {
        let token = match role {
            "admin" => app.admin_token().await,
            _ => app.user_with_role(role).await.1,
        };
        let r = app.patch(&path, &token, &body).await;
        assert_eq!(r.status, 200, "{role}: {}", r.text);
        assert_eq!(r.body["external_id"], body["external_id"], "{role}");
    }
}

async fn sales_may_not_change_or_clear_an_orders_erp_key(app: TestApp) {
    let (_, sales) = app.user_with_role("sales").await;
    let card = app
        .create_customer(&sales, json!({"kind": "individual", "name": "Buyer"}))
        .await
        .id();
    let orders = format!("/api/v1/customers/{card}/transactions");
    let order = |key: Value| {
        let mut body = json!({"amount_cents": 1000, "cost_cents": 500, "product": "Tea",
                              "occurred_at": "2026-11-20T10:30:00Z"});
        if !key.is_null() {
            body["external_id"] = key;
        }
        body
    };
    let r = app.post(&orders, &sales, &order(json!("SO-1"))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let keyed = format!("{orders}/{}", r.id());
    for body in [
        json!({"external_id": "SO-2"}),
        json!({"external_id": null}),
        json!({"external_id": "SO-2", "amount_cents": 2000}),
    ] {
        assert_key_refused(&app.patch(&keyed, &sales, &body).await);
    }
    let r = app.get(&keyed, &sales).await;
    assert_eq!(r.body["external_id"], "SO-1", "{}", r.text);
    assert_eq!(r.body["amount_cents"], 1000, "{}", r.text);
    // Other corrections of the order stay the sales user's.
    let r = app
        .patch(
            &keyed,
            &sales,
            &json!({"amount_cents": 1500, "external_id": "SO-1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // An order without a key may get one.
    let r = app.post(&orders, &sales, &order(Value::Null)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let keyless = format!("{orders}/{}", r.id());
    let r = app
        .patch(&keyless, &sales, &json!({"external_id": "SO-3"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    for (role, body) in [
        ("manager", json!({"external_id": "SO-4"})),
        ("integration", json!({"external_id": "SO-5"})),
        ("admin", json!({"external_id": null})),
    ] {
        let token = match role {
            "admin" => app.admin_token().await,
            _ => app.user_with_role(role).await.1,
        };
        let r = app.patch(&keyed, &token, &body).await;
        assert_eq!(r.status, 200, "{role}: {}", r.text);
        assert_eq!(r.body["external_id"], body["external_id"], "{role}");
    }
}

/// The key permission is checked before `If-Match`, as the owner change
/// is: a sales user's stale PATCH changing a key got a 412, then a 403 on
/// the resend with the fresh version.
async fn a_stale_if_match_does_not_hide_the_key_refusal(app: TestApp) {
    let (_, sales) = app.user_with_role("sales").await;
    let card = app
        .create_customer(
            &sales,
            json!({"kind": "individual", "name": "Keyed", "external_id": "ERP-1"}),
        )
        .await
        .id();
    let r = app
        .post(
            &format!("/api/v1/customers/{card}/transactions"),
            &sales,
            &json!({"amount_cents": 1000, "cost_cents": 500, "product": "Tea",
                    "occurred_at": "2026-11-20T10:30:00Z", "external_id": "SO-1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let order = format!("/api/v1/customers/{card}/transactions/{}", r.id());
    let card = format!("/api/v1/customers/{card}");
    let stale = "\"999\"";
    for (path, other) in [(&card, "ERP-2"), (&order, "SO-2")] {
        for body in [json!({"external_id": other}), json!({"external_id": null})] {
            let r = app.patch_if_match(path, &sales, stale, &body).await;
            assert_key_refused(&r);
        }
        // The key sent back as stored (trimmed) changes nothing: the
        // version check answers.
        let own = if path == &card { " ERP-1 " } else { " SO-1 " };
        app.patch_if_match(path, &sales, stale, &json!({"external_id": own}))
            .await
            .problem(412);
    }
    // As for the owner, checked before the version too.
    let (manager_id, _) = app.user_with_role("manager").await;
    let r = app
        .patch_if_match(&card, &sales, stale, &json!({"owner_id": manager_id}))
        .await;
    r.problem(403);
}
