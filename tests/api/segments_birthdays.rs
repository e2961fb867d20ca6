//! Segment rules on the referrer (`source_customer_id`) and the birthday
//! (`within_days`, `is_null`): members, counts and totals, the window over
//! the year end and 29 February, the day a member list's pages share, and
//! each 422.
//!
//! The windows are read from named days where they can be (a member
//! list's `birthday_from`, a cursor's day); those read from the server's
//! UTC date are tried again when midnight UTC passed meanwhile.

use std::collections::BTreeSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{Datelike, Duration, NaiveDate, Timelike, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::customers_birthdays::{born, celebrated_within, day, edge_birthdays, FIRST_DAYS};
use crate::helpers::{ids_of, Resp, TestApp};
use crate::segments::{create_segment, customer, member_ids, SEGMENTS};
use crate::segments_rules::assert_refused_everywhere;

backend_tests!(
    a_referrer_rule_finds_whom_a_customer_referred,
    a_birthday_rule_counts_from_todays_utc_date,
    a_birthday_rule_crosses_the_year_end_and_greets_29_february,
    a_member_lists_pages_share_the_rules_day,
    bad_referrer_and_birthday_rules_are_422,
);

fn within(days: i64) -> Value {
    json!({"field": "birthday", "op": "within_days", "value": days})
}

fn set(ids: &[i64]) -> BTreeSet<i64> {
    ids.iter().copied().collect()
}

/// A dynamic segment with `rule`; its id and the answer.
async fn segment(app: &TestApp, token: &str, name: &str, rule: Value) -> (i64, Resp) {
    let r = create_segment(
        app,
        token,
        json!({"name": name, "kind": "dynamic", "rule": rule}),
    )
    .await;
    (r.id(), r)
}

/// What a preview of `rule` finds: (count, the ids of its items).
async fn preview(app: &TestApp, token: &str, rule: &Value) -> (i64, BTreeSet<i64>) {
    let r = app
        .post(
            &format!("{SEGMENTS}/preview"),
            token,
            &json!({"rule": rule, "limit": 500}),
        )
        .await;
    assert_eq!(r.status, 200, "{rule}: {}", r.text);
    (
        r.body["count"].as_i64().unwrap(),
        ids_of(&r).into_iter().collect(),
    )
}

/// A segment's `count` as its read gives it.
async fn count_of(app: &TestApp, token: &str, id: i64) -> i64 {
    let r = app.get(&format!("{SEGMENTS}/{id}"), token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["count"].as_i64().unwrap()
}

async fn referral(app: &TestApp, token: &str, name: &str, source: i64) -> i64 {
    customer(
        app,
        token,
        name,
        json!({"acquisition_source": "referral", "source_customer_id": source}),
    )
    .await
}

async fn purchase(app: &TestApp, token: &str, customer: i64, amount: i64) {
    let r = app
        .post(
            &format!("/api/v1/customers/{customer}/transactions"),
            token,
            &json!({"amount_cents": amount, "cost_cents": 0, "product": "Tea",
                    "occurred_at": (Utc::now() - Duration::days(3)).to_rfc3339()}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn a_referrer_rule_finds_whom_a_customer_referred(app: TestApp) {
    let admin = app.admin_token().await;
    let ambassador = customer(&app, &admin, "Ambassador", json!({})).await;
    let other = customer(&app, &admin, "Other", json!({})).await;
    let a = referral(&app, &admin, "Referred A", ambassador).await;
    let b = referral(&app, &admin, "Referred B", ambassador).await;
    let gone = referral(&app, &admin, "Referred, archived", ambassador).await;
    let elsewhere = referral(&app, &admin, "Referred elsewhere", other).await;
    purchase(&app, &admin, a, 1_000).await;
    purchase(&app, &admin, b, 250).await;
    purchase(&app, &admin, elsewhere, 99).await;
    let r = app
        .delete(&format!("/api/v1/customers/{gone}"), &admin)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let unreferred = set(&[ambassador, other]);

    let eq = json!({"field": "source_customer_id", "op": "eq", "value": ambassador});
    let (id, r) = segment(&app, &admin, "Brought in by the ambassador", eq.clone()).await;
    // The archived card counts nowhere.
    assert_eq!(r.body["count"], 2, "{}", r.text);
    assert_eq!(r.body["totals"]["lifetime_revenue_cents"], 1_250);
    assert_eq!(count_of(&app, &admin, id).await, 2);
    assert_eq!(member_ids(&app, &admin, id, "", 1).await, vec![a, b]);
    assert_eq!(
        member_ids(&app, &admin, id, "include_archived=true", 500).await,
        vec![a, b, gone]
    );
    assert_eq!(preview(&app, &admin, &eq).await, (2, set(&[a, b])));

    let cases = [
        (
            json!({"field": "source_customer_id", "op": "in", "value": [ambassador, other]}),
            set(&[a, b, elsewhere]),
        ),
        // A missing referrer differs from every one.
        (
            json!({"field": "source_customer_id", "op": "ne", "value": ambassador}),
            &unreferred | &set(&[elsewhere]),
        ),
        (
            json!({"field": "source_customer_id", "op": "is_null"}),
            unreferred.clone(),
        ),
        (
            json!({"field": "source_customer_id", "op": "is_null", "value": false}),
            set(&[a, b, elsewhere]),
        ),
        (
            json!({"not": {"field": "source_customer_id", "op": "eq", "value": ambassador}}),
            &unreferred | &set(&[elsewhere]),
        ),
        (
            json!({"field": "source_customer_id", "op": "eq", "value": 999_999}),
            set(&[]),
        ),
    ];
    for (rule, expected) in cases {
        let (count, ids) = preview(&app, &admin, &rule).await;
        assert_eq!(ids, expected, "{rule}");
        assert_eq!(count, expected.len() as i64, "{rule}");
    }
}

/// Cards born on `today + offset` for each offset, and one without a
/// birthday; (id, birthday) of the former, the latter's id.
async fn cards_near(
    app: &TestApp,
    token: &str,
    today: NaiveDate,
    offsets: &[i64],
) -> (Vec<(i64, NaiveDate)>, i64) {
    let mut cards = Vec::new();
    for offset in offsets {
        let d = today + Duration::days(*offset);
        let b = born(d.month(), d.day());
        let id = customer(
            app,
            token,
            &format!("Near {offset}"),
            json!({"birthday": b}),
        )
        .await;
        cards.push((id, b));
    }
    let none = customer(app, token, "No birthday", json!({})).await;
    (cards, none)
}

/// Without a day named, a birthday rule counts from the server's UTC date
/// when the segment is read: its count, totals, preview and members.
async fn a_birthday_rule_counts_from_todays_utc_date(app: TestApp) {
    // The cards are made relative to today: a setup that crossed midnight
    // UTC would leave every try below on the wrong day. The test takes
    // seconds; starting it past midnight keeps setup and reads on one day.
    let to_midnight = 86_400 - u64::from(Utc::now().num_seconds_from_midnight());
    if to_midnight < 120 {
        tokio::time::sleep(std::time::Duration::from_secs(to_midnight + 1)).await;
    }
    let admin = app.admin_token().await;
    let today = Utc::now().date_naive();
    let (cards, none) = cards_near(&app, &admin, today, &[-1, 0, 1, 30, 31]).await;
    purchase(&app, &admin, cards[1].0, 700).await;
    purchase(&app, &admin, cards[3].0, 11).await;
    purchase(&app, &admin, cards[4].0, 5_000).await;
    let (month, _) = segment(&app, &admin, "Birthdays this month", within(30)).await;
    let (unknown, _) = segment(
        &app,
        &admin,
        "Birthday unknown",
        json!({"field": "birthday", "op": "is_null"}),
    )
    .await;
    let (not_today, _) = segment(&app, &admin, "Not today", json!({"not": within(0)})).await;
    for _ in 0..3 {
        let today = Utc::now().date_naive();
        let r = app.get(&format!("{SEGMENTS}/{month}"), &admin).await;
        let members = member_ids(&app, &admin, month, "", 2).await;
        let previewed = preview(&app, &admin, &within(30)).await;
        let others = member_ids(&app, &admin, not_today, "", 500).await;
        if Utc::now().date_naive() != today {
            continue;
        }
        let expected: Vec<i64> = cards
            .iter()
            .filter(|(_, b)| celebrated_within(today, 30, *b))
            .map(|(id, _)| *id)
            .collect();
        // Today's, tomorrow's and in 30 days'; not yesterday's nor 31 days'.
        assert_eq!(expected, vec![cards[1].0, cards[2].0, cards[3].0]);
        assert_eq!(members, expected, "from {today}");
        assert_eq!(r.body["count"], 3, "{}", r.text);
        assert_eq!(
            r.body["totals"]["lifetime_revenue_cents"], 711,
            "{}",
            r.text
        );
        assert_eq!(previewed, (3, set(&expected)));
        // `not` is the exact complement: the card without a birthday too.
        let mut complement: Vec<i64> = cards
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| *id != cards[1].0)
            .collect();
        complement.push(none);
        assert_eq!(others, complement);
        assert_eq!(member_ids(&app, &admin, unknown, "", 500).await, vec![none]);
        assert_eq!(count_of(&app, &admin, unknown).await, 1);
        return;
    }
    panic!("the UTC date kept changing");
}

/// Every member id of a segment, walking pages of `limit`, the `query` sent
/// with the first page only: the later pages read by the cursor alone, so
/// only the day it carries can keep them on the first page's window.
async fn members_from_first_query(
    app: &TestApp,
    token: &str,
    id: i64,
    query: &str,
    limit: usize,
) -> Vec<i64> {
    let mut out = Vec::new();
    let mut path = format!("{SEGMENTS}/{id}/members?limit={limit}&{query}");
    loop {
        let r = app.get(&path, token).await;
        let ids = ids_of(&r);
        assert!(ids.len() <= limit);
        out.extend(ids);
        match r.body["next_cursor"].as_str() {
            Some(c) => path = format!("{SEGMENTS}/{id}/members?limit={limit}&cursor={c}"),
            None => return out,
        }
    }
}

/// A member list names its day with `birthday_from` (with the list's own
/// window: `366` holds every birthday, so the rule alone decides): the
/// rule's window from each first day, over the year end and 28/29
/// February, on both engines' month-day keys.
async fn a_birthday_rule_crosses_the_year_end_and_greets_29_february(app: TestApp) {
    let admin = app.admin_token().await;
    let birthdays = edge_birthdays();
    let mut cards = Vec::new();
    for (i, b) in birthdays.iter().enumerate() {
        let id = customer(&app, &admin, &format!("Born {i}"), json!({"birthday": b})).await;
        cards.push((id, *b));
    }
    customer(&app, &admin, "No birthday", json!({})).await;
    let windows = [0, 1, 2, 7, 30, 365, 366];
    let mut segments = Vec::new();
    for days in windows {
        segments.push((
            days,
            segment(&app, &admin, &format!("Within {days}"), within(days))
                .await
                .0,
        ));
    }
    for (y, m, d) in FIRST_DAYS {
        let from = day(y, m, d);
        for (days, id) in &segments {
            let expected: Vec<i64> = cards
                .iter()
                .filter(|(_, b)| celebrated_within(from, *days, *b))
                .map(|(id, _)| *id)
                .collect();
            let query = format!("birthday_within_days=366&birthday_from={from}");
            assert_eq!(
                member_ids(&app, &admin, *id, &query, 500).await,
                expected,
                "{days} days from {from}"
            );
            // Paged by two, the day sent with the first page only: the
            // cursors keep it.
            assert_eq!(
                members_from_first_query(&app, &admin, *id, &query, 2).await,
                expected,
                "{days} days from {from}, paged"
            );
        }
    }
    // Spelled out: over the year end, and 29 February greeted on the 28th
    // of a common year only.
    let on = |from: NaiveDate, days: i64| {
        let mut born_on: Vec<(u32, u32)> = cards
            .iter()
            .filter(|(_, b)| celebrated_within(from, days, *b))
            .map(|(_, b)| (b.month(), b.day()))
            .collect();
        born_on.sort();
        born_on.dedup();
        born_on
    };
    assert_eq!(
        on(day(2026, 12, 30), 3),
        vec![(1, 1), (1, 2), (12, 30), (12, 31)]
    );
    assert_eq!(on(day(2027, 2, 28), 0), vec![(2, 28), (2, 29)]);
    assert_eq!(on(day(2028, 2, 28), 0), vec![(2, 28)]);
}

/// A cursor's JSON (the API's cursors are base64url JSON).
fn opened(cursor: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(cursor).unwrap()).unwrap()
}

fn sealed(cursor: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap())
}

fn page_ids(r: &Resp) -> Vec<i64> {
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

/// The pages of a birthday segment's member list read the first page's
/// day (its cursor carries it, as the list's own window's does), so a list
/// paged across midnight UTC does not mix two days' windows; a rule
/// without a birthday carries no day.
async fn a_member_lists_pages_share_the_rules_day(app: TestApp) {
    let admin = app.admin_token().await;
    let (june, september) = (day(2026, 6, 10), day(2026, 9, 20));
    let mut on_june = Vec::new();
    let mut on_september = Vec::new();
    for i in 0..3 {
        let b = json!({"birthday": born(6, 10)});
        on_june.push(customer(&app, &admin, &format!("June {i}"), b).await);
        let b = json!({"birthday": born(9, 20)});
        on_september.push(customer(&app, &admin, &format!("September {i}"), b).await);
    }
    let (id, _) = segment(&app, &admin, "Today", within(0)).await;
    let members = format!("{SEGMENTS}/{id}/members");
    let first = app
        .get(
            &format!("{members}?birthday_within_days=366&birthday_from={june}&limit=1"),
            &admin,
        )
        .await;
    assert_eq!(page_ids(&first), vec![on_june[0]]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    assert_eq!(opened(&cursor)["d"], json!(june.to_string()));
    // No day named again: the cursor's holds.
    let second = app
        .get(&format!("{members}?limit=1&cursor={cursor}"), &admin)
        .await;
    assert_eq!(page_ids(&second), vec![on_june[1]]);
    // A first page read on another day (staged: its cursor's day moved):
    // the rest are that day's birthdays.
    let mut moved = opened(&cursor);
    moved["d"] = json!(september.to_string());
    let rest = app
        .get(
            &format!("{members}?limit=5&cursor={}", sealed(&moved)),
            &admin,
        )
        .await;
    assert_eq!(page_ids(&rest), on_september);
    // A first page without a day names the server's UTC date.
    let (year, _) = segment(&app, &admin, "This year", within(366)).await;
    let before = Utc::now().date_naive();
    let first = app
        .get(&format!("{SEGMENTS}/{year}/members?limit=1"), &admin)
        .await;
    let after = Utc::now().date_naive();
    assert_eq!(page_ids(&first), vec![on_june[0]]);
    let carried = opened(first.body["next_cursor"].as_str().unwrap())["d"].clone();
    assert!(
        carried == json!(before.to_string()) || carried == json!(after.to_string()),
        "{carried} not {before}"
    );
    let plain = segment(
        &app,
        &admin,
        "Every card",
        json!({"field": "birthday", "op": "is_null", "value": false}),
    )
    .await
    .0;
    let r = app
        .get(&format!("{SEGMENTS}/{plain}/members?limit=1"), &admin)
        .await;
    let c = r.body["next_cursor"].as_str().unwrap();
    assert!(opened(c).get("d").is_none(), "{}", r.text);
}

async fn bad_referrer_and_birthday_rules_are_422(app: TestApp) {
    let admin = app.admin_token().await;
    let small = json!({"field": "tier", "op": "eq", "value": "small"});
    let (existing, _) = segment(&app, &admin, "Existing", small.clone()).await;
    let cases = [
        (
            json!({"all": [small.clone(), within(-1)]}),
            "rule.all[1].value",
            "range",
        ),
        (json!({"not": within(367)}), "rule.not.value", "range"),
        (within(400), "rule.value", "range"),
        (
            json!({"field": "birthday", "op": "within_days", "value": "30"}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "birthday", "op": "within_days", "value": 1.5}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "birthday", "op": "within_days", "value": null}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "birthday", "op": "within_days"}),
            "rule.value",
            "required",
        ),
        (
            json!({"field": "birthday", "op": "is_null", "value": 30}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "birthday", "op": "eq", "value": "1996-06-10"}),
            "rule.op",
            "op_not_allowed",
        ),
        (
            json!({"field": "birthday", "op": "gte", "value": "-30d"}),
            "rule.op",
            "op_not_allowed",
        ),
        (
            json!({"field": "last_contact_at", "op": "within_days", "value": 7}),
            "rule.op",
            "op_not_allowed",
        ),
        (
            json!({"field": "source_customer_id", "op": "within_days", "value": 7}),
            "rule.op",
            "op_not_allowed",
        ),
        (
            json!({"field": "source_customer_id", "op": "contains", "value": 7}),
            "rule.op",
            "op_not_allowed",
        ),
        (
            json!({"field": "source_customer_id", "op": "eq", "value": "42"}),
            "rule.value",
            "invalid_type",
        ),
        (
            json!({"field": "source_customer_id", "op": "in", "value": [42, null]}),
            "rule.value[1]",
            "invalid_type",
        ),
    ];
    for (rule, field, code) in cases {
        assert_refused_everywhere(&app, &admin, existing, &rule, field, code).await;
    }
    // The messages say what would do.
    let r = app
        .post(
            &format!("{SEGMENTS}/preview"),
            &admin,
            &json!({"rule": {"field": "birthday", "op": "eq", "value": 1}}),
        )
        .await;
    let message = r.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("within_days, is_null"), "{message}");
    let r = app
        .post(
            &format!("{SEGMENTS}/preview"),
            &admin,
            &json!({"rule": within(367)}),
        )
        .await;
    let message = r.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("366"), "{message}");
    // Nothing was created or changed; the bounds are windows.
    let r = app.get(&format!("{SEGMENTS}?builtin=false"), &admin).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.text);
    for days in [0, 366] {
        let r = app
            .post(
                &format!("{SEGMENTS}/preview"),
                &admin,
                &json!({"rule": within(days)}),
            )
            .await;
        assert_eq!(r.status, 200, "{days}: {}", r.text);
    }
}
