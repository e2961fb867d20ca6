//! The care calendar and the referrals on the customer list:
//! `birthday_within_days` (today by the server's clock, over the year end,
//! 29 February on the 28th in a common year) and `source_customer_id`.

use chrono::{Datelike, Duration, NaiveDate, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

backend_tests!(
    birthday_windows_match_month_and_day_over_the_year_end,
    source_customer_id_lists_whom_a_customer_referred,
    bad_birthday_windows_and_source_ids_are_400,
);

const CUSTOMERS: &str = "/api/v1/customers";

fn ids_of(r: &Resp) -> Vec<i64> {
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {}", r.text))
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

/// Every page of `query`, `limit` cards at a time, through the cursors.
async fn all_pages(app: &TestApp, token: &str, query: &str, limit: u32) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{CUSTOMERS}?limit={limit}&{query}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&url, token).await;
        ids.extend(ids_of(&r));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return ids,
        }
    }
}

/// In a leap year: every month-day is a valid birthday then.
fn born(month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1996, month, day).unwrap()
}

fn is_leap(year: i32) -> bool {
    NaiveDate::from_ymd_opt(year, 2, 29).is_some()
}

/// The rule as the README states it, day by day: a birthday is in the
/// window when one of its days is the birthday's month and day, or is 28
/// February of a year without a 29th for a 29 February birthday.
fn celebrated_within(today: NaiveDate, days: i64, birthday: NaiveDate) -> bool {
    (0..=days).any(|offset| {
        let d = today + Duration::days(offset);
        (d.month(), d.day()) == (birthday.month(), birthday.day())
            || ((birthday.month(), birthday.day()) == (2, 29)
                && (d.month(), d.day()) == (2, 28)
                && !is_leap(d.year()))
    })
}

async fn birthday_windows_match_month_and_day_over_the_year_end(app: TestApp) {
    let admin = app.admin_token().await;
    let today = Utc::now().date_naive();
    let near = |offset: i64| {
        let d = today + Duration::days(offset);
        born(d.month(), d.day())
    };
    let birthdays = [
        near(0),
        near(1),
        near(7),
        near(8),
        near(-1),
        born(12, 31),
        born(1, 1),
        born(1, 2),
        born(2, 28),
        born(2, 29),
        born(3, 1),
    ];
    let mut cards: Vec<(i64, NaiveDate)> = Vec::new();
    for (i, b) in birthdays.iter().enumerate() {
        let r = app
            .create_customer(
                &admin,
                json!({"kind": "individual", "name": format!("Born {i}"), "birthday": b}),
            )
            .await;
        cards.push((r.id(), *b));
    }
    // Never in a window.
    app.create_customer(&admin, json!({"kind": "individual", "name": "No birthday"}))
        .await;

    let next_year_end = NaiveDate::from_ymd_opt(today.year(), 12, 31).unwrap();
    let next_feb_28 = [today.year(), today.year() + 1]
        .into_iter()
        .map(|y| NaiveDate::from_ymd_opt(y, 2, 28).unwrap())
        .find(|d| *d >= today)
        .unwrap();
    let windows = [
        0,
        1,
        7,
        30,
        // Over the year end: 31 December to 2 January.
        ((next_year_end - today).num_days() + 2).min(366),
        // To the next 28 February, and a day past it.
        (next_feb_28 - today).num_days(),
        ((next_feb_28 - today).num_days() + 1).min(366),
        365,
        366,
    ];
    for days in windows {
        let mut expected: Vec<i64> = cards
            .iter()
            .filter(|(_, b)| celebrated_within(today, days, *b))
            .map(|(id, _)| *id)
            .collect();
        let got = all_pages(&app, &admin, &format!("birthday_within_days={days}"), 500).await;
        assert_eq!(got, expected, "{days} days from {today}");
        // The list's sorts and cursors work through the window.
        expected.reverse();
        let paged = all_pages(
            &app,
            &admin,
            &format!("birthday_within_days={days}&sort=-created_at"),
            2,
        )
        .await;
        assert_eq!(paged, expected, "{days} days from {today}, sorted");
    }
    // Today's and tomorrow's are always in a 1-day window.
    let got = all_pages(&app, &admin, "birthday_within_days=1", 500).await;
    assert!(
        got.contains(&cards[0].0) && got.contains(&cards[1].0),
        "{got:?}"
    );
    assert!(!got.contains(&cards[4].0), "yesterday's: {got:?}");
    // Every birthday is within a year and a day.
    let got = all_pages(&app, &admin, "birthday_within_days=366", 500).await;
    assert_eq!(got, cards.iter().map(|(id, _)| *id).collect::<Vec<_>>());
}

async fn referral(app: &TestApp, token: &str, name: &str, source: i64, birthday: Value) -> i64 {
    app.create_customer(
        token,
        json!({"kind": "individual", "name": name, "acquisition_source": "referral",
               "source_customer_id": source, "birthday": birthday}),
    )
    .await
    .id()
}

async fn source_customer_id_lists_whom_a_customer_referred(app: TestApp) {
    let admin = app.admin_token().await;
    let new = |name: &'static str| json!({"kind": "individual", "name": name});
    let ambassador = app.create_customer(&admin, new("Ambassador")).await.id();
    let other = app.create_customer(&admin, new("Other")).await.id();
    let today = Utc::now().date_naive();
    let today_1996 = born(today.month(), today.day());
    let a = referral(&app, &admin, "Referred A", ambassador, json!(today_1996)).await;
    let b = referral(&app, &admin, "Referred B", ambassador, Value::Null).await;
    let c = referral(&app, &admin, "Referred C", ambassador, Value::Null).await;
    let elsewhere = referral(&app, &admin, "Referred elsewhere", other, Value::Null).await;

    let q = format!("source_customer_id={ambassador}");
    assert_eq!(all_pages(&app, &admin, &q, 500).await, vec![a, b, c]);
    assert_eq!(all_pages(&app, &admin, &q, 1).await, vec![a, b, c]);
    assert_eq!(
        all_pages(&app, &admin, &format!("{q}&sort=-name"), 2).await,
        vec![c, b, a]
    );
    assert_eq!(
        all_pages(&app, &admin, &format!("source_customer_id={other}"), 500).await,
        vec![elsewhere]
    );
    // With the birthday window: whom did the ambassador refer, to greet today.
    assert_eq!(
        all_pages(&app, &admin, &format!("{q}&birthday_within_days=0"), 500).await,
        vec![a]
    );
    // A customer who referred no one, and an id no card has.
    assert!(
        all_pages(&app, &admin, &format!("source_customer_id={a}"), 500)
            .await
            .is_empty()
    );
    assert!(all_pages(&app, &admin, "source_customer_id=999999", 500)
        .await
        .is_empty());
}

async fn bad_birthday_windows_and_source_ids_are_400(app: TestApp) {
    let admin = app.admin_token().await;
    for (query, field, code) in [
        ("birthday_within_days=-1", "birthday_within_days", "range"),
        ("birthday_within_days=367", "birthday_within_days", "range"),
        ("source_customer_id=0", "source_customer_id", "range"),
        ("source_customer_id=-5", "source_customer_id", "range"),
    ] {
        let r = app.get(&format!("{CUSTOMERS}?{query}"), &admin).await;
        r.problem(400);
        assert_eq!(r.code_of(field), code, "{query}: {}", r.text);
    }
    for query in ["birthday_within_days=soon", "source_customer_id=abc"] {
        let r = app.get(&format!("{CUSTOMERS}?{query}"), &admin).await;
        r.problem(400);
        let field = query.split('=').next().unwrap();
        assert!(
            r.error_fields().iter().any(|f| f == field),
            "{query}: {}",
            r.text
        );
    }
    // The bounds themselves are windows.
    for query in [
        "birthday_within_days=0",
        "birthday_within_days=366",
        "source_customer_id=1",
    ] {
        let r = app.get(&format!("{CUSTOMERS}?{query}"), &admin).await;
        assert_eq!(r.status, 200, "{query}: {}", r.text);
    }
}
