//! The care calendar and the referrals on the customer list:
//! `birthday_within_days` from `birthday_from` (default the server's UTC
//! date, carried by the cursors), over the year end, 29 February on the
//! 28th in a common year, and `source_customer_id`.
//!
//! The windows are read from named days: a test that read today once and
//! then sent dozens of requests failed when they straddled midnight UTC.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{Datelike, Duration, NaiveDate, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{ids_of, Resp, TestApp};

backend_tests!(
    birthday_windows_match_month_and_day_over_the_year_end,
    the_window_begins_today_utc_unless_the_client_names_its_day,
    a_cursor_keeps_the_day_of_the_first_page,
    birthday_from_reaches_the_export_and_segment_members,
    source_customer_id_lists_whom_a_customer_referred,
    bad_birthday_windows_and_source_ids_are_400,
);

const CUSTOMERS: &str = "/api/v1/customers";

/// Every page of `query` on `list`, `limit` cards at a time, through the
/// cursors.
async fn pages_of(app: &TestApp, token: &str, list: &str, query: &str, limit: u32) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{list}?limit={limit}&{query}");
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

async fn all_pages(app: &TestApp, token: &str, query: &str, limit: u32) -> Vec<i64> {
    pages_of(app, token, CUSTOMERS, query, limit).await
}

/// A cursor's JSON (the API's cursors are base64url JSON).
fn opened(cursor: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(cursor).unwrap()).unwrap()
}

fn sealed(cursor: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap())
}

fn next_cursor(r: &Resp) -> String {
    r.body["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("no next_cursor in {}", r.text))
        .to_string()
}

/// In a leap year: every month-day is a valid birthday then.
pub fn born(month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1996, month, day).unwrap()
}

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn is_leap(year: i32) -> bool {
    NaiveDate::from_ymd_opt(year, 2, 29).is_some()
}

/// The rule as the README states it, day by day: a birthday is in the
/// window when one of its days is the birthday's month and day, or is 28
/// February of a year without a 29th for a 29 February birthday.
pub fn celebrated_within(from: NaiveDate, days: i64, birthday: NaiveDate) -> bool {
    (0..=days).any(|offset| {
        let d = from + Duration::days(offset);
        (d.month(), d.day()) == (birthday.month(), birthday.day())
            || ((birthday.month(), birthday.day()) == (2, 29)
                && (d.month(), d.day()) == (2, 28)
                && !is_leap(d.year()))
    })
}

async fn card(app: &TestApp, token: &str, name: &str, birthday: NaiveDate) -> i64 {
    app.create_customer(
        token,
        json!({"kind": "individual", "name": name, "birthday": birthday}),
    )
    .await
    .id()
}

/// First days the windows are read from: mid-year, the year end, a common
/// year's end of February, a leap year's 28th and 29th.
pub const FIRST_DAYS: [(i32, u32, u32); 5] = [
    (2026, 6, 10),
    (2026, 12, 30),
    (2027, 2, 27),
    (2028, 2, 28),
    (2028, 2, 29),
];

/// Birthdays at the edges of the windows read from `FIRST_DAYS`: the year
/// end, 28/29 February and 1 March, and each first day's neighbours.
pub fn edge_birthdays() -> Vec<NaiveDate> {
    let mut birthdays = vec![
        born(12, 31),
        born(1, 1),
        born(1, 2),
        born(2, 28),
        born(2, 29),
        born(3, 1),
    ];
    for (y, m, d) in FIRST_DAYS {
        for offset in [0, 1, 7, 8, -1] {
            let near = day(y, m, d) + Duration::days(offset);
            birthdays.push(born(near.month(), near.day()));
        }
    }
    birthdays
}

async fn birthday_windows_match_month_and_day_over_the_year_end(app: TestApp) {
    let admin = app.admin_token().await;
    let birthdays = edge_birthdays();
    let mut cards: Vec<(i64, NaiveDate)> = Vec::new();
    for (i, b) in birthdays.iter().enumerate() {
        cards.push((card(&app, &admin, &format!("Born {i}"), *b).await, *b));
    }
    // Never in a window.
    app.create_customer(&admin, json!({"kind": "individual", "name": "No birthday"}))
        .await;

    for (y, m, d) in FIRST_DAYS {
        let from = day(y, m, d);
        let year_end = day(from.year(), 12, 31);
        let next_feb_28 = [from.year(), from.year() + 1]
            .into_iter()
            .map(|y| day(y, 2, 28))
            .find(|d| *d >= from)
            .unwrap();
        let windows = [
            0,
            1,
            7,
            30,
            // Over the year end: 31 December to 2 January.
            ((year_end - from).num_days() + 2).min(366),
            // To the next 28 February, and a day past it.
            (next_feb_28 - from).num_days(),
            ((next_feb_28 - from).num_days() + 1).min(366),
            365,
            366,
        ];
        for days in windows {
            let mut expected: Vec<i64> = cards
                .iter()
                .filter(|(_, b)| celebrated_within(from, days, *b))
                .map(|(id, _)| *id)
                .collect();
            let query = format!("birthday_within_days={days}&birthday_from={from}");
            let got = all_pages(&app, &admin, &query, 500).await;
            assert_eq!(got, expected, "{days} days from {from}");
            // The list's sorts and cursors work through the window.
            expected.reverse();
            let paged = all_pages(&app, &admin, &format!("{query}&sort=-created_at"), 3).await;
            assert_eq!(paged, expected, "{days} days from {from}, sorted");
        }
        // The first day's and the next are in a 1-day window, the day
        // before is not.
        let got = all_pages(
            &app,
            &admin,
            &format!("birthday_within_days=1&birthday_from={from}"),
            500,
        )
        .await;
        let on = |b: NaiveDate| (b.month(), b.day());
        for (id, b) in &cards {
            let offset = (0..=1).find(|o| on(from + Duration::days(*o)) == on(*b));
            let before = on(from - Duration::days(1)) == on(*b);
            if offset.is_some() {
                assert!(got.contains(id), "{from}: {b} missing from {got:?}");
            } else if before && *b != born(2, 29) {
                assert!(!got.contains(id), "{from}: {b}, the day before: {got:?}");
            }
        }
    }
    // Every birthday is within a year and a day.
    let got = all_pages(&app, &admin, "birthday_within_days=366", 500).await;
    assert_eq!(got, cards.iter().map(|(id, _)| *id).collect::<Vec<_>>());
}

/// Without `birthday_from` the window begins on the server's UTC date:
/// the same cards as naming that date (read again, and tried again, when
/// midnight UTC passed meanwhile).
async fn the_window_begins_today_utc_unless_the_client_names_its_day(app: TestApp) {
    let admin = app.admin_token().await;
    let today = Utc::now().date_naive();
    let mut cards = Vec::new();
    for offset in [-1, 0, 1, 2] {
        let d = today + Duration::days(offset);
        let b = born(d.month(), d.day());
        cards.push((card(&app, &admin, &format!("Near {offset}"), b).await, b));
    }
    for _ in 0..3 {
        let today = Utc::now().date_naive();
        let default = all_pages(&app, &admin, "birthday_within_days=1", 500).await;
        let named = all_pages(
            &app,
            &admin,
            &format!("birthday_within_days=1&birthday_from={today}"),
            500,
        )
        .await;
        if Utc::now().date_naive() != today {
            continue;
        }
        let expected: Vec<i64> = cards
            .iter()
            .filter(|(_, b)| celebrated_within(today, 1, *b))
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(default, expected, "from {today}");
        assert_eq!(named, expected, "from {today}");
        // A shop ahead of UTC names its own date (in Beijing at 07:30 it
        // is still the day before in UTC): that day's cards, not UTC's.
        let tomorrow = today + Duration::days(1);
        let ahead = all_pages(
            &app,
            &admin,
            &format!("birthday_within_days=0&birthday_from={tomorrow}"),
            500,
        )
        .await;
        let expected: Vec<i64> = cards
            .iter()
            .filter(|(_, b)| celebrated_within(tomorrow, 0, *b))
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(ahead, expected, "from {tomorrow}");
        return;
    }
    panic!("the UTC date kept changing");
}

/// Pages after the first read the first page's day, not the clock's: a
/// list paged across midnight UTC does not mix two windows.
async fn a_cursor_keeps_the_day_of_the_first_page(app: TestApp) {
    let admin = app.admin_token().await;
    let (june, september) = (day(2026, 6, 10), day(2026, 9, 20));
    // Interleaved ids: a window read on the wrong day lists the others.
    let mut on_june = Vec::new();
    let mut on_september = Vec::new();
    for i in 0..3 {
        on_june.push(card(&app, &admin, &format!("June {i}"), born(6, 10)).await);
        on_september.push(card(&app, &admin, &format!("September {i}"), born(9, 20)).await);
    }
    let first = app
        .get(
            &format!("{CUSTOMERS}?birthday_within_days=0&birthday_from={june}&limit=1"),
            &admin,
        )
        .await;
    assert_eq!(ids_of(&first), vec![on_june[0]]);
    let cursor = next_cursor(&first);
    assert_eq!(opened(&cursor)["d"], json!(june.to_string()));
    // The following pages need no birthday_from: the cursor holds the day.
    let second = app
        .get(
            &format!("{CUSTOMERS}?birthday_within_days=0&limit=1&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(ids_of(&second), vec![on_june[1]]);
    assert_eq!(opened(&next_cursor(&second))["d"], json!(june.to_string()));
    // A first page read on another day (staged: its cursor's day moved):
    // the rest of the pages are that day's.
    let mut moved = opened(&cursor);
    moved["d"] = json!(september.to_string());
    let moved = sealed(&moved);
    let rest = app
        .get(
            &format!("{CUSTOMERS}?birthday_within_days=0&limit=5&cursor={moved}"),
            &admin,
        )
        .await;
    assert_eq!(ids_of(&rest), on_september);
    // A day the client names wins over the cursor's.
    let named = app
        .get(
            &format!(
                "{CUSTOMERS}?birthday_within_days=0&birthday_from={june}&limit=5&cursor={moved}"
            ),
            &admin,
        )
        .await;
    assert_eq!(ids_of(&named), on_june[1..].to_vec());
    // A first page on the default day carries the server's UTC date.
    let before = Utc::now().date_naive();
    let first = app
        .get(
            &format!("{CUSTOMERS}?birthday_within_days=366&limit=1"),
            &admin,
        )
        .await;
    let after = Utc::now().date_naive();
    let carried = opened(&next_cursor(&first))["d"].clone();
    assert!(
        carried == json!(before.to_string()) || carried == json!(after.to_string()),
        "{carried} not {before}"
    );
    // A list without the window carries no day.
    let plain = app.get(&format!("{CUSTOMERS}?limit=1"), &admin).await;
    assert!(opened(&next_cursor(&plain)).get("d").is_none());
    // A forged day is refused as any corrupt cursor.
    let mut forged = opened(&cursor);
    forged["d"] = json!("0001-01-01");
    let r = app
        .get(
            &format!(
                "{CUSTOMERS}?birthday_within_days=0&limit=1&cursor={}",
                sealed(&forged)
            ),
            &admin,
        )
        .await;
    r.problem(400);
    assert_eq!(r.code_of("cursor"), "invalid_value", "{}", r.text);
}

/// `birthday_from` on the other paths of the filter: the export, and a
/// segment's members (whose cursors carry the day too).
async fn birthday_from_reaches_the_export_and_segment_members(app: TestApp) {
    let admin = app.admin_token().await;
    let june = card(&app, &admin, "June", born(6, 10)).await;
    let july = card(&app, &admin, "July", born(7, 1)).await;
    let june_too = card(&app, &admin, "June too", born(6, 11)).await;
    let window = "birthday_within_days=1&birthday_from=2026-06-10";

    let export = app
        .get(&format!("{CUSTOMERS}/export?{window}"), &admin)
        .await;
    assert_eq!(export.status, 200, "{}", export.text);
    let exported: Vec<i64> = export
        .text
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(exported, vec![june, june_too]);

    let segment = app
        .post(
            "/api/v1/segments",
            &admin,
            &json!({"name": "Greetings", "kind": "static"}),
        )
        .await;
    assert_eq!(segment.status, 201, "{}", segment.text);
    let members = format!("/api/v1/segments/{}/members", segment.id());
    let r = app
        .post(
            &members,
            &admin,
            &json!({"customer_ids": [june, july, june_too]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        pages_of(&app, &admin, &members, window, 500).await,
        vec![june, june_too]
    );
    let first = app
        .get(&format!("{members}?{window}&limit=1"), &admin)
        .await;
    assert_eq!(ids_of(&first), vec![june]);
    let rest = app
        .get(
            &format!(
                "{members}?birthday_within_days=1&limit=1&cursor={}",
                next_cursor(&first)
            ),
            &admin,
        )
        .await;
    assert_eq!(ids_of(&rest), vec![june_too]);
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
    let a = referral(&app, &admin, "Referred A", ambassador, json!(born(6, 10))).await;
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
    // With the birthday window: whom did the ambassador refer, to greet on
    // 10 June.
    assert_eq!(
        all_pages(
            &app,
            &admin,
            &format!("{q}&birthday_within_days=0&birthday_from=2026-06-10"),
            500
        )
        .await,
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
    let segment = app
        .post(
            "/api/v1/segments",
            &admin,
            &json!({"name": "Any", "kind": "static"}),
        )
        .await;
    assert_eq!(segment.status, 201, "{}", segment.text);
    let members = format!("/api/v1/segments/{}/members", segment.id());
    let export = format!("{CUSTOMERS}/export");
    let paths = [CUSTOMERS, export.as_str(), members.as_str()];
    for (query, field, code) in [
        ("birthday_within_days=-1", "birthday_within_days", "range"),
        ("birthday_within_days=367", "birthday_within_days", "range"),
        ("source_customer_id=0", "source_customer_id", "range"),
        ("source_customer_id=-5", "source_customer_id", "range"),
        (
            "birthday_within_days=0&birthday_from=1899-12-31",
            "birthday_from",
            "range",
        ),
        // No window to begin: it was no filter at all.
        ("birthday_from=2026-06-10", "birthday_from", "not_allowed"),
    ] {
        for path in paths {
            let r = app.get(&format!("{path}?{query}"), &admin).await;
            r.problem(400);
            assert_eq!(r.code_of(field), code, "{path}?{query}: {}", r.text);
        }
    }
    for query in [
        "birthday_within_days=soon",
        "source_customer_id=abc",
        "birthday_from=2026-13-01&birthday_within_days=0",
        "birthday_from=2026-6-1&birthday_within_days=0",
        "birthday_from=today&birthday_within_days=0",
        "birthday_from=2026-06-10T00:00:00Z&birthday_within_days=0",
    ] {
        for path in paths {
            let r = app.get(&format!("{path}?{query}"), &admin).await;
            r.problem(400);
            let field = query.split('=').next().unwrap();
            assert!(
                r.error_fields().iter().any(|f| f == field),
                "{path}?{query}: {}",
                r.text
            );
        }
    }
    // The bounds themselves are windows.
    for query in [
        "birthday_within_days=0",
        "birthday_within_days=366",
        "birthday_within_days=0&birthday_from=1900-01-01",
        "birthday_within_days=366&birthday_from=9999-12-31",
        "source_customer_id=1",
    ] {
        for path in paths {
            let r = app.get(&format!("{path}?{query}"), &admin).await;
            assert_eq!(r.status, 200, "{path}?{query}: {}", r.text);
        }
    }
}
