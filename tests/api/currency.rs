//! A card's `currency` labels every amount recorded for it: it cannot
//! change under transactions, account plans or churn records, and the
//! card's own wallet size and annual revenue change currency only when the
//! same PATCH states them again.

use serde_json::json;

use crate::account_plans::plan_body;
use crate::backend_tests;
use crate::churn::{churn, created_days_ago, customer, reactivate, sale};
use crate::helpers::{Resp, TestApp};

backend_tests!(
    recorded_money_keeps_the_card_currency,
    the_card_figures_change_currency_only_restated,
    an_archived_card_answers_archived_before_its_currency_rules,
    a_reimported_export_with_only_the_currency_edited_is_refused,
    one_card_money_figures_name_the_card_currency,
);

/// A review: API.md's money is minor units plus `currency`, and the CPR
/// view, a churn record and an at-risk item carried cents without it (an
/// at-risk page of cards in several currencies took a card read per item to
/// show). Each names its card's currency.
async fn one_card_money_figures_name_the_card_currency(app: TestApp) {
    let admin = app.admin_token().await;
    let c = app
        .create_customer(
            &admin,
            json!({"kind": "individual", "name": "Dollar buyer", "currency": "USD"}),
        )
        .await
        .id();
    // Silent: an old card buying still, never contacted.
    sale(&app, &admin, c, 1_000, 0, 400).await;
    sale(&app, &admin, c, 1_000, 0, 10).await;
    created_days_ago(&app, &[c], 500);
    let r = app.get(&format!("/api/v1/customers/{c}/cpr"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["currency"], "USD", "{}", r.text);
    let r = app.get("/api/v1/churn/at-risk?limit=500", &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.body["items"].as_array().unwrap();
    let item = items
        .iter()
        .find(|i| i["customer_id"] == c)
        .expect("listed");
    assert_eq!(item["currency"], "USD", "{item}");
    assert_eq!(item["revenue_recent_cents"], 1_000, "{item}");
    let r = churn(&app, &admin, c, "competition", None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["currency"], "USD", "{}", r.text);
    assert_eq!(r.body["lost_revenue_cents"], 1_000, "{}", r.text);
    let r = app
        .get(&format!("/api/v1/customers/{c}/churn"), &admin)
        .await;
    assert_eq!(r.body["items"][0]["currency"], "USD", "{}", r.text);
    let r = reactivate(&app, &admin, c).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["currency"], "USD", "{}", r.text);
}

async fn to_usd(app: &TestApp, token: &str, c: i64, extra: serde_json::Value) -> Resp {
    let mut body = json!({"currency": "USD"});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    app.patch(&format!("/api/v1/customers/{c}"), token, &body)
        .await
}

fn refused(r: &Resp, code: &str, naming: &str) {
    r.problem(422);
    assert_eq!(
        r.error_codes(),
        [("currency".to_string(), code.to_string())]
    );
    assert!(r.text.contains(naming), "{}", r.text);
}

/// A plan's budget and a churn record's lost revenue were re-labelled USD
/// by a PATCH of the card (only transactions kept the currency).
async fn recorded_money_keeps_the_card_currency(app: TestApp) {
    let admin = app.admin_token().await;
    let planned = customer(&app, &admin, "Planned, no order yet").await;
    // A key customer without a transaction: its tier set by hand (a
    // recompute would need a profit, and the orders refuse the change).
    app.execute_sql(&format!(
        "INSERT INTO customer_tiers (customer_id, tier) VALUES ({planned}, 'important')"
    ));
    let r = app
        .post("/api/v1/account-plans", &admin, &plan_body(planned))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let plan = r.id();
    refused(
        &to_usd(&app, &admin, planned, json!({})).await,
        "immutable",
        "account plans",
    );
    let r = app
        .get(&format!("/api/v1/account-plans/{plan}"), &admin)
        .await;
    assert_eq!(r.body["currency"], "CNY", "{}", r.text);

    let churned = customer(&app, &admin, "Churned, no order").await;
    assert_eq!(
        churn(&app, &admin, churned, "competition", None)
            .await
            .status,
        201
    );
    refused(
        &to_usd(&app, &admin, churned, json!({})).await,
        "immutable",
        "churn records",
    );
    // Won back, the record and its lost revenue stay.
    let r = app
        .post(
            &format!("/api/v1/customers/{churned}/reactivate"),
            &admin,
            &json!({"note": "won back"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    refused(
        &to_usd(&app, &admin, churned, json!({})).await,
        "immutable",
        "churn records",
    );

    // Nothing recorded: the currency changes.
    let plain = customer(&app, &admin, "Nothing recorded").await;
    let r = to_usd(&app, &admin, plain, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["currency"], "USD", "{}", r.text);
}

/// A wallet size kept as it was became the same number of dollars: the
/// share of wallet, the CPR stage and the loyalty type moved with it.
async fn the_card_figures_change_currency_only_restated(app: TestApp) {
    let admin = app.admin_token().await;
    let c = app
        .create_customer(
            &admin,
            json!({"kind": "organization", "name": "Huakang", "wallet_size_cents": 100_000,
                   "annual_revenue_cents": 5_000_000}),
        )
        .await
        .id();
    let r = to_usd(&app, &admin, c, json!({})).await;
    refused(
        &r,
        "not_restated",
        "wallet_size_cents and annual_revenue_cents",
    );
    let r = to_usd(&app, &admin, c, json!({"wallet_size_cents": 14_000})).await;
    refused(&r, "not_restated", "annual_revenue_cents");
    // The same figure sent again is no restatement: a form or an ERP that
    // sends the whole card sends every figure as it was.
    let r = to_usd(
        &app,
        &admin,
        c,
        json!({"wallet_size_cents": 14_000, "annual_revenue_cents": 5_000_000}),
    )
    .await;
    refused(&r, "not_restated", "annual_revenue_cents");
    // 0 is the same amount in any currency: sent again as it was, it passes.
    let zero = app
        .create_customer(
            &admin,
            json!({"kind": "organization", "name": "Zero", "annual_revenue_cents": 0}),
        )
        .await
        .id();
    let r = to_usd(&app, &admin, zero, json!({"annual_revenue_cents": 0})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.get(&format!("/api/v1/customers/{c}"), &admin).await;
    assert_eq!(r.body["currency"], "CNY", "{}", r.text);
    assert_eq!(r.body["wallet_size_cents"], 100_000, "{}", r.text);

    // Both sent again (a figure or null): stated in the new currency.
    let r = to_usd(
        &app,
        &admin,
        c,
        json!({"wallet_size_cents": 14_000, "annual_revenue_cents": null}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["currency"], "USD", "{}", r.text);
    assert_eq!(r.body["wallet_size_cents"], 14_000, "{}", r.text);
    assert!(r.body["annual_revenue_cents"].is_null(), "{}", r.text);
    // Back to CNY: the one figure left must come along again.
    let r = app
        .patch(
            &format!("/api/v1/customers/{c}"),
            &admin,
            &json!({"currency": "CNY"}),
        )
        .await;
    refused(&r, "not_restated", "wallet_size_cents is in USD");
}

/// An archived card's currency change is refused as archived first: the
/// 422 asking to restate its wallet size led to a resend that got the 409.
async fn an_archived_card_answers_archived_before_its_currency_rules(app: TestApp) {
    let admin = app.admin_token().await;
    let c = app
        .create_customer(
            &admin,
            json!({"kind": "organization", "name": "Archived", "wallet_size_cents": 100_000}),
        )
        .await
        .id();
    let r = app.delete(&format!("/api/v1/customers/{c}"), &admin).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = to_usd(&app, &admin, c, json!({})).await;
    r.problem(409);
    assert_eq!(
        r.error_codes(),
        [("customer_id".to_string(), "archived".to_string())]
    );
}

/// An export re-imported with only a row's currency cell edited sends the
/// card's wallet size and annual revenue as they were: refused (the row's
/// error), not CNY 1,000,000 re-labelled USD 1,000,000 (a review).
async fn a_reimported_export_with_only_the_currency_edited_is_refused(app: TestApp) {
    let admin = app.admin_token().await;
    let c = app
        .create_customer(
            &admin,
            json!({"kind": "organization", "name": "Huakang", "wallet_size_cents": 100_000_000,
                   "annual_revenue_cents": 500_000_000}),
        )
        .await
        .id();
    let export = app.get("/api/v1/customers/export", &admin).await;
    assert_eq!(export.status, 200, "{}", export.text);
    let mut reader = csv::Reader::from_reader(export.text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map(|h| h.iter().map(String::from).collect())
        .unwrap_or_default();
    let currency = headers.iter().position(|h| h == "currency");
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(&headers).unwrap_or_default();
    for record in reader.records().flatten() {
        let mut row: Vec<String> = record.iter().map(String::from).collect();
        if let Some(i) = currency {
            row[i] = "USD".into();
        }
        out.write_record(&row).unwrap_or_default();
    }
    let file = String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default();
    let r = crate::sync_csv::import(&app, &admin, "", &file).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        crate::sync_csv::row_errors(&r, 0),
        [("currency".to_string(), "not_restated".to_string())],
        "{}",
        r.text
    );
    let card = app.get(&format!("/api/v1/customers/{c}"), &admin).await;
    assert_eq!(card.body["currency"], "CNY", "{}", card.text);
}
