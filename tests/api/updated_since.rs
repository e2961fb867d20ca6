//! `updated_since` on the lists that had none (users, contacts, needs,
//! segments, account plans) and on transactions and interactions (both the
//! card's list and the global one): only what changed at or after the
//! instant, in id order, and a bad instant is a 400 naming the parameter.

use serde_json::{json, Value};

use crate::account_plans::{key_customer, plan_body};
use crate::backend_tests;
use crate::changes::read_all;
use crate::helpers::TestApp;

backend_tests!(
    every_list_filters_by_updated_since,
    a_card_is_seen_for_its_own_writes_and_its_derived_state_in_the_feed,
    orders_and_interactions_page_by_updated_at,
);

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {page}"))
        .iter()
        .filter_map(|i| i["id"].as_i64())
        .collect()
}

/// Creates two records at `list` with `first` and `second`, edits the second,
/// and checks that `updated_since` = its new `updated_at` lists only it.
async fn check(app: &TestApp, token: &str, list: &str, first: Value, second: Value, edit: Value) {
    check_lists(app, token, list, &[list], first, second, edit).await;
}

/// As `check`, with the records created and edited at `list` and the filter
/// read on each of `reads` (a card's list and the global one).
async fn check_lists(
    app: &TestApp,
    token: &str,
    list: &str,
    reads: &[&str],
    first: Value,
    second: Value,
    edit: Value,
) {
    let a = app.post(list, token, &first).await;
    assert_eq!(a.status, 201, "{list}: {}", a.text);
    let b = app.post(list, token, &second).await;
    assert_eq!(b.status, 201, "{list}: {}", b.text);
    let b_id = b.id();
    let edited = app.patch(&format!("{list}/{b_id}"), token, &edit).await;
    assert_eq!(edited.status, 200, "{list}: {}", edited.text);
    let since = edited.body["updated_at"]
        .as_str()
        .expect("updated_at")
        .to_string();
    let encoded = since.replace('+', "%2B");
    for read in reads {
        let sep = if read.contains('?') { '&' } else { '?' };
        // The edited row's own instant: `>=` keeps it, `>` would not, and the
        // older unedited row is left out.
        let r = app
            .get(&format!("{read}{sep}updated_since={encoded}"), token)
            .await;
        assert_eq!(r.status, 200, "{read}: {}", r.text);
        assert_eq!(ids(&r.body), vec![b_id], "{read} since {since}");
        let all = app.get(read, token).await;
        assert!(ids(&all.body).contains(&a.id()), "{read}: {}", all.text);
        let bad = app
            .get(&format!("{read}{sep}updated_since=yesterday"), token)
            .await;
        bad.problem(400);
        assert_eq!(bad.error_fields(), vec!["updated_since".to_string()]);
    }
}

async fn every_list_filters_by_updated_since(app: TestApp) {
    let token = app.admin_token().await;
    let customer = app
        .create_customer(&token, json!({"kind": "organization", "name": "Since"}))
        .await
        .id();
    check(
        &app,
        &token,
        "/api/v1/users",
        json!({"email": "one@example.com", "name": "One", "role": "sales", "password": "a-long-password-1"}),
        json!({"email": "two@example.com", "name": "Two", "role": "sales", "password": "a-long-password-2"}),
        json!({"name": "Two edited"}),
    )
    .await;
    check(
        &app,
        &token,
        &format!("/api/v1/customers/{customer}/contacts"),
        json!({"name": "王伟"}),
        json!({"name": "李娜"}),
        json!({"title": "Buyer"}),
    )
    .await;
    check(
        &app,
        &token,
        &format!("/api/v1/customers/{customer}/needs"),
        json!({"kind": "actual", "description": "Faster delivery"}),
        json!({"kind": "actual", "description": "Smaller packs"}),
        json!({"description": "Smaller packs, monthly"}),
    )
    .await;
    let rule = json!({"field": "region", "op": "eq", "value": "Hangzhou"});
    check(
        &app,
        &token,
        "/api/v1/segments",
        json!({"name": "Since A", "kind": "dynamic", "rule": rule}),
        json!({"name": "Since B", "kind": "dynamic", "rule": rule}),
        json!({"name": "Since B edited"}),
    )
    .await;
    let key = key_customer(&app, &token).await;
    check(
        &app,
        &token,
        "/api/v1/account-plans",
        plan_body(key),
        plan_body(key),
        json!({"objective": "Grow the share of wallet"}),
    )
    .await;
    let transactions = format!("/api/v1/customers/{customer}/transactions");
    check_lists(
        &app,
        &token,
        &transactions,
        &[&transactions, "/api/v1/transactions"],
        json!({"amount_cents": 1000, "product": "Green tea"}),
        json!({"amount_cents": 2000, "product": "Black tea"}),
        json!({"notes": "x"}),
    )
    .await;
    let interactions = format!("/api/v1/customers/{customer}/interactions");
    check_lists(
        &app,
        &token,
        &interactions,
        &[&interactions, "/api/v1/interactions"],
        json!({"type": "call", "summary": "Asked about the spring range"}),
        json!({"type": "visit", "summary": "Showed the catalogue"}),
        json!({"outcome": "Order promised"}),
    )
    .await;
}

/// The customers listed for `query` plus `extra`.
async fn listed(app: &TestApp, token: &str, query: &str, extra: &str) -> Vec<i64> {
    let r = app
        .get(&format!("/api/v1/customers?{query}{extra}"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    ids(&r.body)
}

/// What README "Pull-based sync" and the parameter's description promise for
/// the customer list: `updated_since` sees the card's own writes (an archive
/// only with `include_archived=true`), not the figures its interactions and
/// transactions move nor their deletes, which the change feed carries.
async fn a_card_is_seen_for_its_own_writes_and_its_derived_state_in_the_feed(app: TestApp) {
    let token = app.admin_token().await;
    let created = app
        .create_customer(&token, json!({"kind": "organization", "name": "Mirror"}))
        .await;
    let card_id = created.id();
    let card = format!("/api/v1/customers/{card_id}");
    let stamped = created.body["updated_at"].clone();
    let version = created.body["version"].clone();
    let (_, head) = read_all(&app, &token, None, "", 1000).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    let call = app
        .post(
            &format!("{card}/interactions"),
            &token,
            &json!({"type": "call", "summary": "Asked for a quote"}),
        )
        .await;
    assert_eq!(call.status, 201, "{}", call.text);
    let since = call.body["created_at"]
        .as_str()
        .expect("created_at")
        .to_string();
    let order = app
        .post(
            &format!("{card}/transactions"),
            &token,
            &json!({"amount_cents": 1000, "product": "Green tea"}),
        )
        .await;
    assert_eq!(order.status, 201, "{}", order.text);
    let deleted = app
        .delete(&format!("{card}/interactions/{}", call.id()), &token)
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);

    // The figures moved; the card's own stamp and version did not.
    let read = app.get(&card, &token).await;
    assert_eq!(read.body["purchase_count"], 1, "{}", read.text);
    assert_eq!(read.body["updated_at"], stamped, "{}", read.text);
    assert_eq!(read.body["version"], version, "{}", read.text);
    let query = format!("updated_since={}", since.replace('+', "%2B"));
    assert_eq!(listed(&app, &token, &query, "").await, Vec::<i64>::new());
    assert_eq!(
        listed(&app, &token, &query, "&include_archived=true").await,
        Vec::<i64>::new()
    );

    // The feed has each cause, with the card it moved.
    let (items, _) = read_all(
        &app,
        &token,
        Some(&head),
        "&types=interaction,transaction",
        1000,
    )
    .await;
    let seen: Vec<(String, String, Value)> = items
        .iter()
        .map(|i| {
            (
                i["entity_type"].as_str().unwrap_or_default().to_string(),
                i["operation"].as_str().unwrap_or_default().to_string(),
                i["data"]["customer_id"].clone(),
            )
        })
        .collect();
    let on_card = json!(card_id);
    assert_eq!(
        seen,
        vec![
            ("interaction".into(), "created".into(), on_card.clone()),
            ("transaction".into(), "created".into(), on_card.clone()),
            ("interaction".into(), "deleted".into(), on_card),
        ]
    );

    // An archive is a write of the card: seen only with include_archived.
    let r = app.delete(&card, &token).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(listed(&app, &token, &query, "").await, Vec::<i64>::new());
    assert_eq!(
        listed(&app, &token, &query, "&include_archived=true").await,
        vec![card_id]
    );
    let r = app
        .post(&format!("{card}/restore"), &token, &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(listed(&app, &token, &query, "").await, vec![card_id]);
}

/// Every id of `list` (with `query`) read a page of one at a time, `edit`
/// run once after the first page.
async fn walk(
    app: &TestApp,
    token: &str,
    list: &str,
    query: &str,
    mut edit: Option<impl std::future::Future<Output = ()>>,
) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let after = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
        let r = app
            .get(&format!("{list}?{query}&limit=1{after}"), token)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        seen.extend(ids(&r.body));
        if let Some(edit) = edit.take() {
            edit.await;
        }
        match r.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return seen,
        }
    }
}

/// A sync polls orders and interactions by `updated_at` (on an index, as
/// the customers' `sort=updated_at`): the oldest change first, and a record
/// edited while the poll pages moves to the end and is read there.
async fn orders_and_interactions_page_by_updated_at(app: TestApp) {
    let token = app.admin_token().await;
    let customer = app
        .create_customer(&token, json!({"kind": "organization", "name": "Polled"}))
        .await
        .id();
    for (kind, body, edit) in [
        (
            "transactions",
            json!({"amount_cents": 1000, "product": "Tea"}),
            json!({"notes": "edited"}),
        ),
        (
            "interactions",
            json!({"type": "call", "summary": "Called"}),
            json!({"outcome": "edited"}),
        ),
    ] {
        let own = format!("/api/v1/customers/{customer}/{kind}");
        let mut made = Vec::new();
        for _ in 0..3 {
            let r = app.post(&own, &token, &body).await;
            assert_eq!(r.status, 201, "{}", r.text);
            made.push(r.id());
        }
        let r = app
            .patch(&format!("{own}/{}", made[0]), &token, &edit)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let list = format!("/api/v1/{kind}");
        let query = format!("customer_id={customer}&sort=updated_at");
        let order = walk(&app, &token, &list, &query, None::<std::future::Ready<()>>).await;
        assert_eq!(order, [made[1], made[2], made[0]], "{kind}");
        let query = format!("customer_id={customer}&sort=-updated_at");
        let order = walk(&app, &token, &list, &query, None::<std::future::Ready<()>>).await;
        assert_eq!(order, [made[0], made[2], made[1]], "{kind}");

        // Edited after its page was read: read again at the end.
        let again = {
            let (app, token, path) = (&app, &token, format!("{own}/{}", made[1]));
            let edit = edit.clone();
            async move {
                let r = app.patch(&path, token, &edit.clone()).await;
                assert_eq!(r.status, 200, "{}", r.text);
            }
        };
        let query = format!("customer_id={customer}&sort=updated_at");
        let order = walk(&app, &token, &list, &query, Some(again)).await;
        assert_eq!(order, [made[1], made[2], made[0], made[1]], "{kind}");
    }
}
