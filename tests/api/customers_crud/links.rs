//! The card's links and identity: unique external ids, source customers,
//! owners, and every field round-tripping.

use serde_json::{json, Value};

use super::{assert_422_naming, card, listed_ids, CUSTOMERS};
use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    external_id_is_unique_on_create_patch_and_restore,
    referral_and_chain_expansion_need_an_existing_source_customer,
    owner_must_be_an_existing_user,
    every_field_of_the_card_round_trips,
);

async fn external_id_is_unique_on_create_patch_and_restore(app: TestApp) {
    let admin = app.admin_token().await;
    let a = app
        .create_customer(
            &admin,
            json!({"kind": "organization", "name": "A", "external_id": "ERP-1"}),
        )
        .await
        .id();
    let dup = app
        .post(
            CUSTOMERS,
            &admin,
            &json!({"kind": "organization", "name": "B", "external_id": "ERP-1"}),
        )
        .await;
    dup.problem(409);
    let padded = app
        .post(
            CUSTOMERS,
            &admin,
            &json!({"kind": "organization", "name": "B", "external_id": " ERP-1 "}),
        )
        .await;
    padded.problem(409);
    assert_eq!(
        listed_ids(&app, &admin, "").await,
        vec![a],
        "a 409 creates nothing"
    );

    let b = app
        .create_customer(
            &admin,
            json!({"kind": "organization", "name": "B", "external_id": "ERP-2"}),
        )
        .await
        .id();
    app.patch(&card(b), &admin, &json!({"external_id": "ERP-1"}))
        .await
        .problem(409);
    assert_eq!(app.get(&card(b), &admin).await.body["external_id"], "ERP-2");
    // Patching a card to its own external id is not a conflict.
    let same = app
        .patch(
            &card(a),
            &admin,
            &json!({"external_id": "ERP-1", "name": "A2"}),
        )
        .await;
    assert_eq!(same.status, 200, "{}", same.text);

    // An archived card keeps its external id: nothing synced is lost.
    assert_eq!(app.delete(&card(a), &admin).await.status, 204);
    let taken = app
        .post(
            CUSTOMERS,
            &admin,
            &json!({"kind": "organization", "name": "C", "external_id": "ERP-1"}),
        )
        .await;
    taken.problem(409);
    let restored = app
        .post(&format!("{}/restore", card(a)), &admin, &json!({}))
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert_eq!(restored.body["external_id"], "ERP-1");

    // Once cleared, the id is free again.
    let cleared = app
        .patch(&card(a), &admin, &json!({"external_id": null}))
        .await;
    assert_eq!(cleared.body["external_id"], Value::Null);
    let moved = app
        .patch(&card(b), &admin, &json!({"external_id": "ERP-1"}))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(moved.body["external_id"], "ERP-1");
}

async fn referral_and_chain_expansion_need_an_existing_source_customer(app: TestApp) {
    let admin = app.admin_token().await;
    let referrer = app
        .create_customer(&admin, json!({"kind": "individual", "name": "老客户"}))
        .await
        .id();
    for source in ["referral", "chain_expansion"] {
        let r = app
            .post(
                CUSTOMERS,
                &admin,
                &json!({"kind": "individual", "name": "n", "acquisition_source": source}),
            )
            .await;
        assert_422_naming(&r, "source_customer_id");
    }
    let body = json!({"kind": "individual", "name": "n", "acquisition_source": "event", "source_customer_id": referrer});
    assert_422_naming(
        &app.post(CUSTOMERS, &admin, &body).await,
        "source_customer_id",
    );
    let body = json!({"kind": "individual", "name": "n", "source_customer_id": referrer});
    assert_422_naming(
        &app.post(CUSTOMERS, &admin, &body).await,
        "source_customer_id",
    );
    let body = json!({"kind": "individual", "name": "n", "acquisition_source": "referral", "source_customer_id": referrer + 999});
    assert_422_naming(
        &app.post(CUSTOMERS, &admin, &body).await,
        "source_customer_id",
    );
    assert_eq!(
        listed_ids(&app, &admin, "").await,
        vec![referrer],
        "nothing was created"
    );

    let referred = app
        .create_customer(
            &admin,
            json!({"kind": "individual", "name": "新客户", "acquisition_source": "referral", "source_customer_id": referrer}),
        )
        .await;
    assert_eq!(referred.body["source_customer_id"], json!(referrer));
    assert_eq!(referred.body["acquisition_source"], "referral");
    let linked = app
        .create_customer(
            &admin,
            json!({"kind": "organization", "name": "下游", "acquisition_source": "chain_expansion", "source_customer_id": referrer}),
        )
        .await;
    assert_eq!(linked.body["source_customer_id"], json!(referrer));

    // The same rules on PATCH.
    let path = card(referred.id());
    assert_422_naming(
        &app.patch(&path, &admin, &json!({"acquisition_source": "event"}))
            .await,
        "source_customer_id",
    );
    assert_422_naming(
        &app.patch(&path, &admin, &json!({"source_customer_id": null}))
            .await,
        "source_customer_id",
    );
    let own = app
        .patch(&path, &admin, &json!({"source_customer_id": referred.id()}))
        .await;
    assert_422_naming(&own, "source_customer_id");
    // Itself is no unknown customer (QA): `invalid_value`, saying so.
    assert_eq!(
        own.body["errors"][0]["code"], "invalid_value",
        "{}",
        own.text
    );
    assert!(own.text.contains("is this card"), "{}", own.text);
    let r = app
        .patch(
            &path,
            &admin,
            &json!({"acquisition_source": "event", "source_customer_id": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["source_customer_id"], Value::Null);
    let r = app
        .patch(
            &path,
            &admin,
            &json!({"acquisition_source": "chain_expansion", "source_customer_id": linked.id()}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["source_customer_id"], json!(linked.id()));
}

async fn owner_must_be_an_existing_user(app: TestApp) {
    let admin = app.admin_token().await;
    let (sales_id, _) = app.user_with_role("sales").await;
    let r = app
        .post(
            CUSTOMERS,
            &admin,
            &json!({"kind": "individual", "name": "n", "owner_id": 999_999}),
        )
        .await;
    assert_422_naming(&r, "owner_id");
    let c = app
        .create_customer(
            &admin,
            json!({"kind": "individual", "name": "n", "owner_id": sales_id}),
        )
        .await;
    assert_eq!(c.body["owner_id"], json!(sales_id));
    let r = app
        .patch(&card(c.id()), &admin, &json!({"owner_id": 999_999}))
        .await;
    assert_422_naming(&r, "owner_id");
    assert_eq!(
        app.get(&card(c.id()), &admin).await.body["owner_id"],
        json!(sales_id)
    );

    // A deactivated user cannot take over cards.
    let (manager_id, _) = app.user_with_role("manager").await;
    let off = app
        .patch(
            &format!("/api/v1/users/{manager_id}"),
            &admin,
            &json!({"active": false}),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    let r = app
        .patch(&card(c.id()), &admin, &json!({"owner_id": manager_id}))
        .await;
    assert_422_naming(&r, "owner_id");
    // Nor be given a new one.
    let r = app
        .post(
            "/api/v1/customers",
            &admin,
            &json!({"kind": "individual", "name": "New", "owner_id": manager_id}),
        )
        .await;
    assert_422_naming(&r, "owner_id");
    // A create's `"owner_id": null` is the creator, as when left out (a
    // PATCH's is a 422: a card always has an owner).
    let r = app
        .post(
            "/api/v1/customers",
            &admin,
            &json!({"kind": "individual", "name": "Mine", "owner_id": null}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let me = app.get("/api/v1/users", &admin).await.body["items"][0]["id"].clone();
    assert_eq!(r.body["owner_id"], me, "{}", r.text);
}

async fn every_field_of_the_card_round_trips(app: TestApp) {
    let admin = app.admin_token().await;
    let (owner_id, _) = app.user_with_role("sales").await;
    let referrer = app
        .create_customer(&admin, json!({"kind": "organization", "name": "介绍人"}))
        .await
        .id();
    let sent = json!({
        "kind": "organization",
        "name": "杭州华康贸易有限公司",
        "company": "华康集团",
        "email": "purchasing@huakang.example",
        "phone": "+86 (571) 8888-1234",
        "address": "浙江省杭州市西湖区文三路 100 号",
        "region": "华东",
        "birthday": "1975-03-08",
        "gender": "undisclosed",
        "age_band": "45-54",
        "income_band": "高收入",
        "occupation": "采购经理",
        "education": "硕士",
        "industry": "保健品",
        "products": "保健食品、营养补充剂",
        "employees": 320,
        "annual_revenue_cents": 98_765_432_100_i64,
        "owner_id": owner_id,
        "external_id": "ERP-华康-0042",
        "acquisition_source": "referral",
        "source_customer_id": referrer,
        "personality_type": "indecisive",
        "social_style": "analytical",
        "funnel_stage": "key",
        "prospect_grade": "B",
        "wallet_size_cents": 120_000_000,
        "currency": "USD",
        "notes": "多疑寡断：先展示资质与保证。\n第二行 — emoji 🎉",
        "tags": ["大客户", "health"]
    });
    let created = app.create_customer(&admin, sent.clone()).await;
    let read = app.get(&card(created.id()), &admin).await;
    assert_eq!(read.body, created.body);
    for (field, value) in sent.as_object().unwrap() {
        if field == "tags" {
            assert_eq!(read.body["tags"], json!(["health", "大客户"]));
        } else {
            assert_eq!(&read.body[field], value, "{field} round-trips");
        }
    }
    assert!(read.body["personality_strategy"].is_object());
    // And a patch of every field back to something else is stored too.
    let changes = json!({
        "kind": "individual", "name": "王小明", "company": null, "email": "x@example.org",
        "phone": "13800138000", "address": null, "region": "华南", "birthday": null, "gender": "male",
        "age_band": null, "income_band": "中", "occupation": null, "education": "本科", "industry": null,
        "products": null, "employees": 0, "annual_revenue_cents": 0, "external_id": "ERP-2",
        "acquisition_source": "trade_show", "source_customer_id": null, "personality_type": "rational",
        "social_style": null, "funnel_stage": "key", "prospect_grade": null, "wallet_size_cents": null,
        "currency": "CNY", "notes": null, "tags": ["新"]
    });
    let patched = app.patch(&card(created.id()), &admin, &changes).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let read = app.get(&card(created.id()), &admin).await;
    for (field, value) in changes.as_object().unwrap() {
        assert_eq!(&read.body[field], value, "{field} is patched");
    }
    assert_eq!(read.body["owner_id"], json!(owner_id));
}
