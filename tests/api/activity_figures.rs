//! The derived figures of the customer card (last contact, purchases,
//! revenue and profit, lifetime and over 12 months, open complaints): exact
//! after every insert, update and delete of interactions and transactions,
//! usable as list filters and sorts (pages of 2, ties and nulls included),
//! and exact under concurrent writes.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Months, Utc};
use serde_json::{json, Value};

use crate::activity_interactions::{at, customer, interaction_at, interactions_of, iso, now};
use crate::backend_tests;
use crate::helpers::{ids_of, TestApp};

backend_tests!(
    interaction_figures_follow_every_write,
    transaction_figures_follow_every_write,
    list_filters_on_derived_figures,
    sorts_on_derived_figures_page_in_order,
    concurrent_transactions_add_up_exactly,
);

fn transactions_of(customer: i64) -> String {
    format!("/api/v1/customers/{customer}/transactions")
}

fn months_ago(n: u32) -> DateTime<Utc> {
    now().checked_sub_months(Months::new(n)).unwrap()
}

/// Records a transaction and returns its id.
async fn buy(
    app: &TestApp,
    token: &str,
    customer: i64,
    amount: i64,
    cost: i64,
    when: DateTime<Utc>,
) -> i64 {
    let r = app
        .post(
            &transactions_of(customer),
            token,
            &json!({"amount_cents": amount, "cost_cents": cost, "product": "tea", "occurred_at": iso(when)}),
        )
        .await;
    assert_eq!(r.status, 201, "transaction creation failed: {}", r.text);
    r.id()
}

async fn card(app: &TestApp, token: &str, customer: i64) -> Value {
    let r = app
        .get(&format!("/api/v1/customers/{customer}"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

fn opt_at(v: &Value) -> Option<DateTime<Utc>> {
    (!v.is_null()).then(|| at(v))
}

/// The expected figures of a card.
#[derive(Debug, Default, Clone, PartialEq)]
struct Figures {
    last_contact_at: Option<DateTime<Utc>>,
    purchase_count: i64,
    first_purchase_at: Option<DateTime<Utc>>,
    last_purchase_at: Option<DateTime<Utc>>,
    lifetime_revenue_cents: i64,
    lifetime_profit_cents: i64,
    revenue_12m_cents: i64,
    profit_12m_cents: i64,
    open_complaints: i64,
}

impl Figures {
    fn of(card: &Value) -> Figures {
        let n = |f: &str| {
            card[f]
                .as_i64()
                .unwrap_or_else(|| panic!("{f} is not an integer in {card}"))
        };
        Figures {
            last_contact_at: opt_at(&card["last_contact_at"]),
            purchase_count: n("purchase_count"),
            first_purchase_at: opt_at(&card["first_purchase_at"]),
            last_purchase_at: opt_at(&card["last_purchase_at"]),
            lifetime_revenue_cents: n("lifetime_revenue_cents"),
            lifetime_profit_cents: n("lifetime_profit_cents"),
            revenue_12m_cents: n("revenue_12m_cents"),
            profit_12m_cents: n("profit_12m_cents"),
            open_complaints: n("open_complaints"),
        }
    }
}

/// A transaction as the test remembers it.
#[derive(Debug, Clone, Copy)]
struct Sale {
    id: i64,
    amount: i64,
    cost: i64,
    at: DateTime<Utc>,
}

/// The purchase figures `sales` should produce: the count and dates of
/// purchases (amounts above 0), the sums of every transaction.
fn purchase_figures(sales: &[Sale], mut f: Figures) -> Figures {
    let window = patron::db::stats::window_start(now().naive_utc()).and_utc();
    let purchases = || sales.iter().filter(|s| s.amount > 0);
    f.purchase_count = purchases().count() as i64;
    f.first_purchase_at = purchases().map(|s| s.at).min();
    f.last_purchase_at = purchases().map(|s| s.at).max();
    f.lifetime_revenue_cents = sales.iter().map(|s| s.amount).sum();
    f.lifetime_profit_cents = sales.iter().map(|s| s.amount - s.cost).sum();
    let recent = || sales.iter().filter(|s| s.at >= window);
    f.revenue_12m_cents = recent().map(|s| s.amount).sum();
    f.profit_12m_cents = recent().map(|s| s.amount - s.cost).sum();
    f
}

async fn assert_figures(app: &TestApp, token: &str, customer: i64, want: &Figures, step: &str) {
    let got = Figures::of(&card(app, token, customer).await);
    assert_eq!(&got, want, "after {step}");
}

async fn interaction_figures_follow_every_write(app: TestApp) {
    let (_, token) = app.user_with_role("manager").await;
    let c = customer(&app, &token, "Contacted").await;
    let other = customer(&app, &token, "Bystander").await;
    let path = interactions_of(c);
    let mut want = Figures::default();
    assert_figures(&app, &token, c, &want, "creation").await;

    let day = |n: i64| now() - Duration::days(n);
    let (d5, d2, d10) = (day(5), day(2), day(10));
    let a = interaction_at(&app, &token, c, "visit", d5).await;
    want.last_contact_at = Some(d5);
    assert_figures(&app, &token, c, &want, "the first interaction").await;
    let b = interaction_at(&app, &token, c, "call", d2).await;
    want.last_contact_at = Some(d2);
    assert_figures(&app, &token, c, &want, "a later interaction").await;
    let older = interaction_at(&app, &token, c, "email", d10).await;
    assert_figures(&app, &token, c, &want, "an older interaction").await;

    // Another customer's activity never touches this card.
    interaction_at(&app, &token, other, "call", now()).await;
    assert_figures(&app, &token, c, &want, "another card's interaction").await;

    // Moving the latest one back in time: the max of the others.
    let d20 = day(20);
    let r = app
        .patch(
            &format!("{path}/{b}"),
            &token,
            &json!({"occurred_at": iso(d20)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    want.last_contact_at = Some(d5);
    assert_figures(&app, &token, c, &want, "moving the latest back").await;
    // And forward again.
    let d1 = day(1);
    let r = app
        .patch(
            &format!("{path}/{older}"),
            &token,
            &json!({"occurred_at": iso(d1)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    want.last_contact_at = Some(d1);
    assert_figures(&app, &token, c, &want, "moving one forward").await;
    // Deleting the latest.
    assert_eq!(
        app.delete(&format!("{path}/{older}"), &token).await.status,
        204
    );
    want.last_contact_at = Some(d5);
    assert_figures(&app, &token, c, &want, "deleting the latest").await;

    // Complaints: counted while open.
    let d30 = day(30);
    let c1 = interaction_at(&app, &token, c, "complaint", d30).await;
    want.open_complaints = 1;
    assert_figures(&app, &token, c, &want, "an open complaint").await;
    let c2 = interaction_at(&app, &token, c, "complaint", day(3)).await;
    want.open_complaints = 2;
    let stored = at(&app.get(&format!("{path}/{c2}"), &token).await.body["occurred_at"]);
    want.last_contact_at = Some(stored);
    assert_figures(&app, &token, c, &want, "a second complaint").await;
    let resolved_one = interact_resolved(&app, &token, c, day(40)).await;
    assert_figures(&app, &token, c, &want, "a resolved complaint").await;

    let r = app
        .patch(
            &format!("{path}/{c1}"),
            &token,
            &json!({"complaint_status": "resolved"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    want.open_complaints = 1;
    assert_figures(&app, &token, c, &want, "resolving one").await;
    let r = app
        .patch(
            &format!("{path}/{resolved_one}"),
            &token,
            &json!({"complaint_status": "open"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    want.open_complaints = 2;
    assert_figures(&app, &token, c, &want, "reopening one").await;
    // A complaint re-typed as a call is no complaint.
    let r = app
        .patch(&format!("{path}/{c2}"), &token, &json!({"type": "call"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    want.open_complaints = 1;
    assert_figures(&app, &token, c, &want, "re-typing a complaint").await;
    // A visit re-typed as a complaint opens one.
    let r = app
        .patch(
            &format!("{path}/{a}"),
            &token,
            &json!({"type": "complaint"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    want.open_complaints = 2;
    assert_figures(&app, &token, c, &want, "re-typing into a complaint").await;
    assert_eq!(
        app.delete(&format!("{path}/{resolved_one}"), &token)
            .await
            .status,
        204
    );
    want.open_complaints = 1;
    assert_figures(&app, &token, c, &want, "deleting an open complaint").await;

    // Deleting everything: never contacted again.
    let r = app.get(&format!("{path}?limit=500"), &token).await;
    for item in r.body["items"].as_array().unwrap() {
        let id = item["id"].as_i64().unwrap();
        assert_eq!(
            app.delete(&format!("{path}/{id}"), &token).await.status,
            204
        );
    }
    assert_figures(&app, &token, c, &Figures::default(), "deleting all").await;
    let other_card = Figures::of(&card(&app, &token, other).await);
    assert!(other_card.last_contact_at.is_some());
}

async fn interact_resolved(app: &TestApp, token: &str, c: i64, when: DateTime<Utc>) -> i64 {
    let r = app
        .post(
            &interactions_of(c),
            token,
            &json!({"type": "complaint", "summary": "solved at once", "occurred_at": iso(when), "complaint_status": "resolved"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.id()
}

async fn transaction_figures_follow_every_write(app: TestApp) {
    let (_, token) = app.user_with_role("manager").await;
    let c = customer(&app, &token, "Buyer").await;
    let other = customer(&app, &token, "Other buyer").await;
    let path = transactions_of(c);
    let mut sales: Vec<Sale> = Vec::new();
    let base = Figures::default();
    assert_figures(
        &app,
        &token,
        c,
        &purchase_figures(&sales, base.clone()),
        "creation",
    )
    .await;

    let plan = [
        (100_000, 40_000, months_ago(13)),
        (50_000, 20_000, months_ago(1)),
        (700, 1_000, now() - Duration::days(3)),
        (0, 0, now() - Duration::days(400)),
    ];
    for (amount, cost, when) in plan {
        let id = buy(&app, &token, c, amount, cost, when).await;
        sales.push(Sale {
            id,
            amount,
            cost,
            at: when,
        });
        let want = purchase_figures(&sales, base.clone());
        assert_figures(&app, &token, c, &want, &format!("inserting {amount}")).await;
    }
    // Spelled out once, to check the expectation itself.
    let f = Figures::of(&card(&app, &token, c).await);
    // The oldest transaction, of 0, is no purchase.
    assert_eq!(f.purchase_count, 3);
    assert_eq!(f.lifetime_revenue_cents, 150_700);
    assert_eq!(f.lifetime_profit_cents, 60_000 + 30_000 - 300);
    assert_eq!(f.revenue_12m_cents, 50_700);
    assert_eq!(f.profit_12m_cents, 29_700);
    assert_eq!(f.first_purchase_at, Some(sales[0].at));
    assert_eq!(f.last_purchase_at, Some(sales[2].at));

    // Another customer's purchases never touch this card.
    buy(&app, &token, other, 9_999, 0, now()).await;
    assert_figures(
        &app,
        &token,
        c,
        &purchase_figures(&sales, base.clone()),
        "another card's sale",
    )
    .await;

    let patch = |id: i64, body: Value| {
        let app = &app;
        let token = token.clone();
        let path = path.clone();
        async move {
            let r = app.patch(&format!("{path}/{id}"), &token, &body).await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
    };
    // Into the window.
    let moved = months_ago(11);
    patch(sales[0].id, json!({"occurred_at": iso(moved)})).await;
    sales[0].at = moved;
    assert_figures(
        &app,
        &token,
        c,
        &purchase_figures(&sales, base.clone()),
        "moving into the window",
    )
    .await;
    // Out of the window.
    let moved = months_ago(14);
    patch(sales[1].id, json!({"occurred_at": iso(moved)})).await;
    sales[1].at = moved;
    assert_figures(
        &app,
        &token,
        c,
        &purchase_figures(&sales, base.clone()),
        "moving out of the window",
    )
    .await;
    // Amount and cost.
    patch(
        sales[2].id,
        json!({"amount_cents": 12_345, "cost_cents": 2_345}),
    )
    .await;
    sales[2].amount = 12_345;
    sales[2].cost = 2_345;
    assert_figures(
        &app,
        &token,
        c,
        &purchase_figures(&sales, base.clone()),
        "changing amounts",
    )
    .await;
    patch(sales[0].id, json!({"cost_cents": 150_000})).await;
    sales[0].cost = 150_000;
    assert_figures(
        &app,
        &token,
        c,
        &purchase_figures(&sales, base.clone()),
        "a loss",
    )
    .await;
    // A PATCH of other fields changes nothing.
    patch(
        sales[2].id,
        json!({"product": "green tea", "notes": "gift"}),
    )
    .await;
    assert_figures(
        &app,
        &token,
        c,
        &purchase_figures(&sales, base.clone()),
        "changing the product",
    )
    .await;
    // The transaction of 0 moved to now is not the last purchase; given an
    // amount, it is.
    let latest = now() - Duration::hours(1);
    patch(sales[3].id, json!({"occurred_at": iso(latest)})).await;
    sales[3].at = latest;
    assert_figures(
        &app,
        &token,
        c,
        &purchase_figures(&sales, base.clone()),
        "moving the 0 to now",
    )
    .await;
    assert_ne!(
        purchase_figures(&sales, base.clone()).last_purchase_at,
        Some(latest)
    );
    patch(sales[3].id, json!({"amount_cents": 500})).await;
    sales[3].amount = 500;
    assert_figures(
        &app,
        &token,
        c,
        &purchase_figures(&sales, base.clone()),
        "pricing it",
    )
    .await;
    assert_eq!(
        purchase_figures(&sales, base.clone()).last_purchase_at,
        Some(latest)
    );

    // Deletes, down to none.
    while let Some(sale) = sales.first().copied() {
        let r = app.delete(&format!("{path}/{}", sale.id), &token).await;
        assert_eq!(r.status, 204, "{}", r.text);
        sales.remove(0);
        assert_figures(
            &app,
            &token,
            c,
            &purchase_figures(&sales, base.clone()),
            "a delete",
        )
        .await;
    }
    assert_figures(&app, &token, c, &Figures::default(), "deleting all").await;
    // Interactions and transactions are independent figures.
    assert!(Figures::of(&card(&app, &token, c).await)
        .last_contact_at
        .is_none());
    assert_eq!(
        Figures::of(&card(&app, &token, other).await).purchase_count,
        1
    );
}

/// The ids listed for `query` (one page of up to 500).
async fn list(app: &TestApp, token: &str, query: &str) -> HashSet<i64> {
    let r = app
        .get(&format!("/api/v1/customers?limit=500&{query}"), token)
        .await;
    ids_of(&r).into_iter().collect()
}

async fn list_filters_on_derived_figures(app: TestApp) {
    let (_, token) = app.user_with_role("manager").await;
    let day = |n: i64| now() - Duration::days(n);
    // c0: nothing at all.
    let c0 = customer(&app, &token, "Silent").await;
    // c1: contacted 40 days ago; one big purchase 13 months ago.
    let c1 = customer(&app, &token, "Old buyer").await;
    interaction_at(&app, &token, c1, "visit", day(40)).await;
    buy(&app, &token, c1, 100_000, 10_000, months_ago(13)).await;
    // c2: contacted 2 days ago with an open complaint; three recent purchases.
    let c2 = customer(&app, &token, "Active").await;
    interaction_at(&app, &token, c2, "complaint", day(2)).await;
    buy(&app, &token, c2, 10_000, 1_000, months_ago(1)).await;
    buy(&app, &token, c2, 10_000, 1_000, day(2)).await;
    buy(&app, &token, c2, 10_000, 1_000, day(1)).await;
    // c3: a resolved complaint 10 days ago; two purchases 5 days ago.
    let c3 = customer(&app, &token, "Settled").await;
    let r = app
        .post(
            &interactions_of(c3),
            &token,
            &json!({"type": "complaint", "summary": "x", "occurred_at": iso(day(10)), "complaint_status": "resolved"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    buy(&app, &token, c3, 5_000, 0, day(5)).await;
    buy(&app, &token, c3, 5_000, 0, day(5)).await;
    // c4: never contacted; one purchase a month ago.
    let c4 = customer(&app, &token, "Web buyer").await;
    buy(&app, &token, c4, 20_000, 0, months_ago(1)).await;
    // c5: archived, with activity: never listed by default.
    let c5 = customer(&app, &token, "Archived").await;
    interaction_at(&app, &token, c5, "complaint", day(1)).await;
    buy(&app, &token, c5, 1_000_000, 0, day(1)).await;
    assert_eq!(
        app.delete(&format!("/api/v1/customers/{c5}"), &token)
            .await
            .status,
        204
    );

    let set = |v: &[i64]| v.iter().copied().collect::<HashSet<i64>>();
    let cases: Vec<(String, HashSet<i64>)> = vec![
        (String::new(), set(&[c0, c1, c2, c3, c4])),
        ("never_contacted=true".into(), set(&[c0, c4])),
        ("never_contacted=false".into(), set(&[c1, c2, c3])),
        (format!("last_contact_before={}", iso(day(30))), set(&[c1])),
        (
            format!("last_contact_before={}", iso(day(5))),
            set(&[c1, c3]),
        ),
        (format!("last_contact_after={}", iso(day(7))), set(&[c2])),
        (
            format!("last_contact_after={}", iso(day(45))),
            set(&[c1, c2, c3]),
        ),
        (
            format!(
                "last_contact_after={}&last_contact_before={}",
                iso(day(15)),
                iso(day(5))
            ),
            set(&[c3]),
        ),
        ("min_purchase_count=2".into(), set(&[c2, c3])),
        ("min_purchase_count=3".into(), set(&[c2])),
        ("min_purchase_count=0".into(), set(&[c0, c1, c2, c3, c4])),
        ("max_purchase_count=1".into(), set(&[c0, c1, c4])),
        ("max_purchase_count=0".into(), set(&[c0])),
        (
            "min_purchase_count=1&max_purchase_count=2".into(),
            set(&[c1, c3, c4]),
        ),
        (
            format!("last_purchase_before={}", iso(months_ago(6))),
            set(&[c1]),
        ),
        (
            format!("last_purchase_before={}", iso(day(3))),
            set(&[c1, c3, c4]),
        ),
        (
            format!("last_purchase_after={}", iso(day(7))),
            set(&[c2, c3]),
        ),
        (
            format!("last_purchase_after={}", iso(months_ago(2))),
            set(&[c2, c3, c4]),
        ),
        ("min_revenue_12m_cents=20000".into(), set(&[c2, c4])),
        ("min_revenue_12m_cents=30000".into(), set(&[c2])),
        ("min_revenue_12m_cents=1".into(), set(&[c2, c3, c4])),
        ("min_lifetime_revenue_cents=30000".into(), set(&[c1, c2])),
        ("min_lifetime_revenue_cents=100001".into(), set(&[])),
        (
            "min_lifetime_revenue_cents=10000".into(),
            set(&[c1, c2, c3, c4]),
        ),
        ("has_open_complaints=true".into(), set(&[c2])),
        ("has_open_complaints=false".into(), set(&[c0, c1, c3, c4])),
        (
            "never_contacted=false&min_purchase_count=2".into(),
            set(&[c2, c3]),
        ),
        (
            "never_contacted=true&min_revenue_12m_cents=1".into(),
            set(&[c4]),
        ),
        (
            "include_archived=true&has_open_complaints=true".into(),
            set(&[c2, c5]),
        ),
        (
            "include_archived=true&min_lifetime_revenue_cents=1000000".into(),
            set(&[c5]),
        ),
    ];
    for (query, want) in &cases {
        assert_eq!(&list(&app, &token, query).await, want, "?{query}");
    }

    // Filters follow the writes: resolving c2's complaint, buying for c0.
    let r = app
        .get(&format!("{}?type=complaint", interactions_of(c2)), &token)
        .await;
    let complaint = ids_of(&r)[0];
    let r = app
        .patch(
            &format!("{}/{complaint}", interactions_of(c2)),
            &token,
            &json!({"complaint_status": "resolved"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(list(&app, &token, "has_open_complaints=true")
        .await
        .is_empty());
    buy(&app, &token, c0, 40_000, 0, day(1)).await;
    assert_eq!(
        list(&app, &token, "min_revenue_12m_cents=30000").await,
        set(&[c0, c2])
    );
    assert_eq!(list(&app, &token, "max_purchase_count=0").await, set(&[]));
    interaction_at(&app, &token, c0, "care", day(1)).await;
    assert_eq!(list(&app, &token, "never_contacted=true").await, set(&[c4]));

    // Bad values are 400s naming the parameter.
    for (query, field) in [
        ("never_contacted=maybe", "never_contacted"),
        ("has_open_complaints=1x", "has_open_complaints"),
        ("min_purchase_count=-1", "min_purchase_count"),
        ("max_purchase_count=-5", "max_purchase_count"),
        ("min_purchase_count=two", "min_purchase_count"),
        ("last_contact_before=yesterday", "last_contact_before"),
        (
            "last_contact_after=2024-02-30T00:00:00Z",
            "last_contact_after",
        ),
        ("last_purchase_before=now", "last_purchase_before"),
        ("last_purchase_after=1", "last_purchase_after"),
        ("min_revenue_12m_cents=lots", "min_revenue_12m_cents"),
        (
            "min_lifetime_revenue_cents=1.5",
            "min_lifetime_revenue_cents",
        ),
        ("sort=-revenue", "sort"),
    ] {
        let r = app.get(&format!("/api/v1/customers?{query}"), &token).await;
        r.problem(400);
        assert!(
            r.error_fields().iter().any(|f| f == field),
            "{query}: expected {field} in {}",
            r.text
        );
    }
}

/// A sort key for the expected order: `None` sorts first (as the earliest).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Stamp(Option<DateTime<Utc>>),
    Number(i64),
}

/// A planned customer: its name, contacts, and sales as (amount, when).
type Plan = (&'static str, Vec<DateTime<Utc>>, Vec<(i64, DateTime<Utc>)>);

/// A listed transaction: (id, amount, cost).
type Listed = (i64, i64, i64);

/// Every page of the customer list sorted by `sort`, `limit` at a time.
async fn walk(app: &TestApp, token: &str, sort: &str, limit: usize) -> Vec<i64> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..500 {
        let mut url = format!("/api/v1/customers?sort={sort}&limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&url, token).await;
        let page = ids_of(&r);
        assert!(
            !page.is_empty() && page.len() <= limit,
            "{sort}: {}",
            r.text
        );
        all.extend(page);
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return all,
        }
    }
    panic!("the walk does not end: {sort}");
}

async fn sorts_on_derived_figures_page_in_order(app: TestApp) {
    let (_, token) = app.user_with_role("manager").await;
    let t1 = now() - Duration::days(9);
    let t2 = now() - Duration::days(4);
    let t3 = now() - Duration::days(1);
    let mut made = Vec::new();
    // (name, contacts, sales as (amount, when))
    let plan: Vec<Plan> = vec![
        ("a: nothing", vec![], vec![]),
        ("b: nothing either", vec![], vec![]),
        ("c", vec![t1], vec![(1_000, t2)]),
        ("d: ties with c", vec![t1], vec![(500, t2), (500, t2)]),
        ("e", vec![t2, t1], vec![(1_500, t1), (1_500, t3)]),
        ("f: only contacted", vec![t3], vec![]),
        ("g: an old sale", vec![], vec![(5_000, months_ago(13))]),
        ("h: ties with d", vec![t1], vec![(250, t2), (750, t2)]),
        ("i: nothing again", vec![], vec![]),
    ];
    for (name, contacts, sales) in &plan {
        let id = customer(&app, &token, name).await;
        for when in contacts {
            interaction_at(&app, &token, id, "call", *when).await;
        }
        for (amount, when) in sales {
            buy(&app, &token, id, *amount, 0, *when).await;
        }
        made.push(id);
    }
    // Read back the figures as stored, to build the expected orders.
    let cards: Vec<Value> = {
        let mut v = Vec::new();
        for id in &made {
            v.push(card(&app, &token, *id).await);
        }
        v
    };
    let sorts = [
        "last_contact_at",
        "-last_contact_at",
        "purchase_count",
        "-purchase_count",
        "-lifetime_revenue_cents",
        "lifetime_revenue_cents",
        "revenue_12m_cents",
        "-revenue_12m_cents",
        "last_purchase_at",
        "-last_purchase_at",
        "open_complaints",
        "-lifetime_profit_cents",
        "profit_12m_cents",
    ];
    for sort in sorts {
        let descending = sort.starts_with('-');
        let field = sort.trim_start_matches('-');
        let mut keyed: Vec<(Key, i64)> = cards
            .iter()
            .map(|c| {
                let key = if field.ends_with("_at") {
                    Key::Stamp(opt_at(&c[field]))
                } else {
                    Key::Number(c[field].as_i64().unwrap())
                };
                (key, c["id"].as_i64().unwrap())
            })
            .collect();
        keyed.sort();
        if descending {
            keyed.reverse();
        }
        let want: Vec<i64> = keyed.iter().map(|(_, id)| *id).collect();
        let r = app
            .get(&format!("/api/v1/customers?sort={sort}&limit=500"), &token)
            .await;
        assert_eq!(ids_of(&r), want, "one page sorted by {sort}");
        for limit in [2, 3] {
            let got = walk(&app, &token, sort, limit).await;
            let unique: HashSet<i64> = got.iter().copied().collect();
            assert_eq!(unique.len(), got.len(), "{sort}: repeats in {got:?}");
            assert_eq!(got, want, "pages of {limit} sorted by {sort}");
        }
    }
    // The values are as planned, so the orders above are meaningful.
    let f = |i: usize| Figures::of(&cards[i]);
    assert_eq!(f(2).lifetime_revenue_cents, f(3).lifetime_revenue_cents);
    assert_eq!(f(3).lifetime_revenue_cents, f(7).lifetime_revenue_cents);
    assert_eq!(f(2).last_contact_at, f(3).last_contact_at);
    assert_eq!(f(4).last_contact_at, Some(t2));
    assert_eq!(f(6).revenue_12m_cents, 0);
    assert_eq!(f(6).lifetime_revenue_cents, 5_000);
    assert_eq!(f(4).purchase_count, 2);
}

async fn concurrent_transactions_add_up_exactly(app: TestApp) {
    let (_, token) = app.user_with_role("manager").await;
    let c = customer(&app, &token, "Busy").await;
    let url = app.url(&transactions_of(c));
    let start = now() - Duration::days(20);
    let requests = (0..20i64).map(|i| {
        let req = app.client.post(&url).bearer_auth(&token).json(
            &json!({"amount_cents": 1_000 + i * 37, "cost_cents": 100 + i,
                          "product": format!("item {i}"),
                          "occurred_at": iso(start + Duration::hours(i))}),
        );
        async move {
            let r = req.send().await.expect("request sent");
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            (status, text)
        }
    });
    let interaction_url = app.url(&interactions_of(c));
    let contacts = (0..10i64).map(|i| {
        let req = app.client.post(&interaction_url).bearer_auth(&token).json(
            &json!({"type": if i % 2 == 0 { "call" } else { "complaint" },
                          "summary": format!("contact {i}"),
                          "occurred_at": iso(start + Duration::hours(i))}),
        );
        async move {
            let r = req.send().await.expect("request sent");
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            (status, text)
        }
    });
    let (sales, contacts) = tokio::join!(
        futures_util::future::join_all(requests),
        futures_util::future::join_all(contacts)
    );
    for (status, text) in sales.iter().chain(contacts.iter()) {
        assert_eq!(*status, 201, "{text}");
    }
    let f = Figures::of(&card(&app, &token, c).await);
    let revenue: i64 = (0..20).map(|i| 1_000 + i * 37).sum();
    let cost: i64 = (0..20).map(|i| 100 + i).sum();
    assert_eq!(f.purchase_count, 20);
    assert_eq!(f.lifetime_revenue_cents, revenue);
    assert_eq!(f.lifetime_profit_cents, revenue - cost);
    assert_eq!(f.revenue_12m_cents, revenue);
    assert_eq!(f.profit_12m_cents, revenue - cost);
    assert_eq!(f.first_purchase_at, Some(start));
    assert_eq!(f.last_purchase_at, Some(start + Duration::hours(19)));
    assert_eq!(f.last_contact_at, Some(start + Duration::hours(9)));
    assert_eq!(f.open_complaints, 5);

    // Concurrent deletes of half of them leave exact figures too.
    let r = app
        .get(&format!("{}?limit=500&sort=id", transactions_of(c)), &token)
        .await;
    let listed: Vec<Listed> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_i64().unwrap(),
                t["amount_cents"].as_i64().unwrap(),
                t["cost_cents"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed.len(), 20);
    let (gone, kept): (Vec<Listed>, Vec<Listed>) =
        listed.iter().copied().partition(|(id, ..)| id % 2 == 0);
    let deletes = gone.iter().map(|(id, ..)| {
        let req = app
            .client
            .delete(app.url(&format!("{}/{id}", transactions_of(c))))
            .bearer_auth(&token);
        async move { req.send().await.expect("request sent").status().as_u16() }
    });
    for status in futures_util::future::join_all(deletes).await {
        assert_eq!(status, 204);
    }
    let f = Figures::of(&card(&app, &token, c).await);
    assert_eq!(f.purchase_count, kept.len() as i64);
    assert_eq!(
        f.lifetime_revenue_cents,
        kept.iter().map(|(_, a, _)| a).sum::<i64>()
    );
    assert_eq!(
        f.lifetime_profit_cents,
        kept.iter().map(|(_, a, c)| a - c).sum::<i64>()
    );
}
