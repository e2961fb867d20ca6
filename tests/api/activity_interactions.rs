//! `/customers/{id}/interactions` and `/interactions`: the contact history.
//! Every type, the defaults, the complaint status rules, validation naming
//! every bad field, If-Match, delete, per-customer and cross-customer lists
//! with their filters, the due follow-ups list, pagination and role rules.

use std::collections::HashSet;

use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{ids_of, Resp, TestApp};

backend_tests!(
    each_type_is_created_with_its_defaults,
    a_backfilled_contact_may_come_with_its_follow_up_done,
    who_had_a_contact_is_corrected_by_a_manager_not_a_rep,
    explicit_fields_are_kept_and_type_is_required,
    complaint_status_open_resolve_reopen,
    bad_input_is_422_naming_every_bad_field,
    unknown_or_inactive_user_is_422_naming_user_id,
    get_patch_if_match_and_delete,
    customer_list_is_newest_first_and_pages_without_loss,
    cross_customer_list_filters,
    due_follow_ups_list,
    bad_queries_are_400_naming_the_parameter,
    role_rules,
    complaint_status_null_goes_with_the_other_types,
    a_sales_user_records_only_its_own_contacts,
    a_follow_up_is_not_before_its_contact,
);

pub const TYPES: [&str; 9] = [
    "visit",
    "meeting",
    "call",
    "email",
    "message",
    "reception",
    "appointment_call",
    "care",
    "complaint",
];

/// An instant as the API writes it (RFC 3339, microseconds, `Z`).
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a timestamp field of a response.
pub fn at(v: &Value) -> DateTime<Utc> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"));
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad timestamp {s}: {e}"))
        .with_timezone(&Utc)
}

/// Now, truncated to what the database keeps.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub fn interactions_of(customer: i64) -> String {
    format!("/api/v1/customers/{customer}/interactions")
}

/// Creates a customer and returns its id.
pub async fn customer(app: &TestApp, token: &str, name: &str) -> i64 {
    app.create_customer(token, json!({"kind": "individual", "name": name}))
        .await
        .id()
}

/// Logs an interaction (expects 201) and returns the response.
pub async fn interact(app: &TestApp, token: &str, customer: i64, body: Value) -> Resp {
    let r = app.post(&interactions_of(customer), token, &body).await;
    assert_eq!(r.status, 201, "interaction creation failed: {}", r.text);
    r
}

/// A `type` interaction at `when`, returning its id.
pub async fn interaction_at(
    app: &TestApp,
    token: &str,
    customer: i64,
    kind: &str,
    when: DateTime<Utc>,
) -> i64 {
    interact(
        app,
        token,
        customer,
        json!({"type": kind, "summary": format!("{kind} at {}", iso(when)), "occurred_at": iso(when)}),
    )
    .await
    .id()
}

/// Every page of `path` (which has a query string) with `limit`, in order.
async fn walk(app: &TestApp, token: &str, path: &str, limit: i64) -> Vec<i64> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut url = format!("{path}&limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&url, token).await;
        let page = ids_of(&r);
        assert!(page.len() as i64 <= limit, "{}", r.text);
        all.extend(page);
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return all,
        }
    }
    panic!("the walk does not end: {path}");
}

fn assert_422_naming(r: &Resp, expected: &[&str]) {
    r.problem(422);
    let mut got = r.error_fields();
    got.sort();
    got.dedup();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "{}", r.text);
}

fn assert_400_naming(r: &Resp, field: &str) {
    r.problem(400);
    assert!(
        r.error_fields().iter().any(|f| f == field),
        "expected {field} in {}",
        r.text
    );
}

async fn each_type_is_created_with_its_defaults(app: TestApp) {
    let (me, token) = app.user_with_role("manager").await;
    let c = customer(&app, &token, "Types").await;
    for kind in TYPES {
        let before = now();
        let r = interact(
            &app,
            &token,
            c,
            json!({"type": kind, "summary": format!("a {kind}")}),
        )
        .await;
        let after = now();
        let id = r.id();
        assert_eq!(
            r.header("location").as_deref(),
            Some(format!("/api/v1/customers/{c}/interactions/{id}").as_str())
        );
        assert_eq!(r.etag_version(), Some(1));
        let b = &r.body;
        assert_eq!(b["type"], kind);
        assert_eq!(b["customer_id"], c);
        assert_eq!(b["user_id"], me, "user_id defaults to the caller");
        assert_eq!(b["summary"], format!("a {kind}"));
        assert_eq!(b["version"], 1);
        let occurred = at(&b["occurred_at"]);
        assert!(
            before <= occurred && occurred <= after,
            "occurred_at defaults to now: {occurred} not in {before}..{after}"
        );
        assert!(b["channel"].is_null() && b["outcome"].is_null());
        assert!(b["follow_up_at"].is_null() && b["follow_up_done_at"].is_null());
        assert_eq!(b["follow_up_done"], false);
        if kind == "complaint" {
            assert_eq!(b["complaint_status"], "open", "a complaint starts open");
        } else {
            assert!(b["complaint_status"].is_null(), "{}", r.text);
        }
        assert!(b["resolved_at"].is_null() && b["resolution_seconds"].is_null());

        let got = app
            .get(&format!("{}/{id}", interactions_of(c)), &token)
            .await;
        assert_eq!(got.status, 200, "{}", got.text);
        assert_eq!(got.etag_version(), Some(1));
        assert_eq!(got.body, r.body);
    }
    let r = app.get(&interactions_of(c), &token).await;
    assert_eq!(ids_of(&r).len(), TYPES.len());
}

async fn explicit_fields_are_kept_and_type_is_required(app: TestApp) {
    let (_, token) = app.user_with_role("manager").await;
    let (other, _) = app.user_with_role("sales").await;
    let c = customer(&app, &token, "Explicit").await;
    let when = now() - Duration::days(3);
    let follow = now() + Duration::days(7);
    let r = interact(
        &app,
        &token,
        c,
        json!({"type": "visit", "occurred_at": iso(when), "user_id": other,
               "channel": "  on site ", "summary": "  Showed the catalogue  ",
               "outcome": "Interested", "follow_up_at": iso(follow)}),
    )
    .await;
    let b = &r.body;
    assert_eq!(at(&b["occurred_at"]), when);
    assert_eq!(b["user_id"], other);
    assert_eq!(b["channel"], "on site", "text is trimmed");
    assert_eq!(b["summary"], "Showed the catalogue");
    assert_eq!(b["outcome"], "Interested");
    assert_eq!(at(&b["follow_up_at"]), follow);
    assert_eq!(b["follow_up_done"], false);

    // A time with an offset is the same instant in UTC.
    let r = interact(
        &app,
        &token,
        c,
        json!({"type": "call", "summary": "offset", "occurred_at": "2024-03-01T10:00:00+08:00"}),
    )
    .await;
    assert_eq!(r.body["occurred_at"], "2024-03-01T02:00:00Z");

    // type is required.
    let r = app
        .post(&interactions_of(c), &token, &json!({"summary": "no type"}))
        .await;
    assert_422_naming(&r, &["type"]);
    assert_eq!(r.body["errors"][0]["code"], "required");
    let r = app
        .post(
            &interactions_of(c),
            &token,
            &json!({"type": null, "summary": "null type"}),
        )
        .await;
    assert_422_naming(&r, &["type"]);

    // Nothing was created by the failures.
    let r = app.get(&interactions_of(c), &token).await;
    assert_eq!(ids_of(&r).len(), 2);
    // An unknown customer is a 404.
    let r = app
        .post(
            &interactions_of(999_999),
            &token,
            &json!({"type": "call", "summary": "x"}),
        )
        .await;
    r.problem(404);
}

async fn complaint_status_open_resolve_reopen(app: TestApp) {
    let (_, token) = app.user_with_role("manager").await;
    let c = customer(&app, &token, "Complainer").await;
    let path = interactions_of(c);

    // Only complaints have a status.
    for kind in TYPES.iter().filter(|k| **k != "complaint") {
        let r = app
            .post(
                &path,
                &token,
                &json!({"type": kind, "summary": "x", "complaint_status": "open"}),
            )
            .await;
        assert_422_naming(&r, &["complaint_status"]);
    }
    let r = app
        .post(
            &path,
            &token,
            &json!({"type": "complaint", "summary": "x", "complaint_status": "closed"}),
        )
        .await;
    assert_422_naming(&r, &["complaint_status"]);

    // Created resolved: resolved now, resolution time from occurred_at.
    let when = now() - Duration::hours(5);
    let before = now();
    let r = interact(
        &app,
        &token,
        c,
        json!({"type": "complaint", "summary": "late", "occurred_at": iso(when), "complaint_status": "resolved"}),
    )
    .await;
    let after = now();
    assert_eq!(r.body["complaint_status"], "resolved");
    let resolved = at(&r.body["resolved_at"]);
    assert!(before <= resolved && resolved <= after);
    assert_eq!(
        r.body["resolution_seconds"],
        (resolved - when).num_seconds()
    );

    // Entered after the fact: resolved when it says (years of resolution
    // time otherwise); only for a complaint recorded resolved, not before it
    // happened, not in the future.
    let r = interact(
        &app,
        &token,
        c,
        json!({"type": "complaint", "summary": "cracked jar", "occurred_at": "2020-03-01T09:00:00Z",
               "complaint_status": "resolved", "resolved_at": "2020-03-03T09:00:00Z"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["resolved_at"], "2020-03-03T09:00:00Z", "{}", r.text);
    assert_eq!(r.body["resolution_seconds"], 2 * 86_400);
    for (body, code) in [
        (
            json!({"type": "complaint", "summary": "x", "resolved_at": "2020-03-03T09:00:00Z"}),
            "not_allowed",
        ),
        (
            json!({"type": "call", "summary": "x", "resolved_at": "2020-03-03T09:00:00Z"}),
            "not_allowed",
        ),
        (
            json!({"type": "complaint", "summary": "x", "complaint_status": "resolved",
                   "occurred_at": "2020-03-03T09:00:00Z", "resolved_at": "2020-03-01T09:00:00Z"}),
            "after_resolution",
        ),
        (
            json!({"type": "complaint", "summary": "x", "complaint_status": "resolved",
                   "occurred_at": "2020-03-03T09:00:00Z", "resolved_at": iso(now() + Duration::days(1))}),
            "range",
        ),
        // Without occurred_at (now), any resolution of the past was before
        // it: named for what is missing (a review).
        (
            json!({"type": "complaint", "summary": "x", "complaint_status": "resolved",
                   "resolved_at": iso(now() - Duration::minutes(1))}),
            "required",
        ),
    ] {
        let r = app
            .post(
                &format!("/api/v1/customers/{c}/interactions"),
                &token,
                &body,
            )
            .await;
        r.problem(422);
        let field = if ["after_resolution", "required"].contains(&code) {
            "occurred_at"
        } else {
            "resolved_at"
        };
        assert_eq!(r.code_of(field), code, "{body}: {}", r.text);
    }

    // Open, then resolved by PATCH.
    let when = now() - Duration::hours(2);
    let r = interact(
        &app,
        &token,
        c,
        json!({"type": "complaint", "summary": "broken box", "occurred_at": iso(when)}),
    )
    .await;
    let id = r.id();
    let one = format!("{path}/{id}");
    assert_eq!(r.body["complaint_status"], "open");
    let before = now();
    let r = app
        .patch(&one, &token, &json!({"complaint_status": "resolved"}))
        .await;
    let after = now();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["complaint_status"], "resolved");
    let resolved = at(&r.body["resolved_at"]);
    assert!(before <= resolved && resolved <= after);
    let seconds = r.body["resolution_seconds"].as_i64().unwrap();
    assert_eq!(seconds, (resolved - when).num_seconds());
    assert!((7200..7300).contains(&seconds), "{seconds}");
    assert_eq!(r.body["version"], 2);

    // A complaint cannot have happened after its resolution; moving it
    // earlier lengthens the resolution time.
    let r = app
        .patch(&one, &token, &json!({"occurred_at": iso(now())}))
        .await;
    assert_422_naming(&r, &["occurred_at"]);
    let earlier = when - Duration::hours(1);
    let r = app
        .patch(&one, &token, &json!({"occurred_at": iso(earlier)}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(at(&r.body["resolved_at"]), resolved);
    assert_eq!(
        r.body["resolution_seconds"],
        (resolved - earlier).num_seconds()
    );
    let seconds = (resolved - earlier).num_seconds();

    // Resolving again keeps the first resolution time.
    let r = app
        .patch(
            &one,
            &token,
            &json!({"complaint_status": "resolved", "outcome": "refunded"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(at(&r.body["resolved_at"]), resolved);
    assert_eq!(r.body["resolution_seconds"], seconds);

    // A PATCH not about the status keeps it.
    let r = app.patch(&one, &token, &json!({"summary": "box"})).await;
    assert_eq!(r.body["complaint_status"], "resolved");
    assert_eq!(at(&r.body["resolved_at"]), resolved);

    // Reopening clears the resolution.
    let r = app
        .patch(&one, &token, &json!({"complaint_status": "open"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["complaint_status"], "open");
    assert!(r.body["resolved_at"].is_null(), "{}", r.text);
    assert!(r.body["resolution_seconds"].is_null(), "{}", r.text);
    let got = app.get(&one, &token).await;
    assert_eq!(got.body, r.body);

    // Unknown status on PATCH.
    let r = app
        .patch(&one, &token, &json!({"complaint_status": "closed"}))
        .await;
    assert_422_naming(&r, &["complaint_status"]);

    // A status on a non-complaint by PATCH; a type change away from
    // complaint drops the status, and back to complaint starts open.
    let call = interaction_at(&app, &token, c, "call", now() - Duration::hours(1)).await;
    let call_path = format!("{path}/{call}");
    let r = app
        .patch(&call_path, &token, &json!({"complaint_status": "resolved"}))
        .await;
    assert_422_naming(&r, &["complaint_status"]);
    let r = app
        .patch(
            &one,
            &token,
            &json!({"type": "call", "complaint_status": "open"}),
        )
        .await;
    assert_422_naming(&r, &["complaint_status"]);
    let r = app.patch(&one, &token, &json!({"type": "call"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["complaint_status"].is_null(), "{}", r.text);
    assert!(r.body["resolved_at"].is_null());
    let r = app.patch(&one, &token, &json!({"type": "complaint"})).await;
    assert_eq!(r.body["complaint_status"], "open", "{}", r.text);
    let r = app
        .patch(
            &call_path,
            &token,
            &json!({"type": "complaint", "complaint_status": "resolved"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["complaint_status"], "resolved");
    assert!(r.body["resolution_seconds"].as_i64().unwrap() >= 3600);
}

async fn bad_input_is_422_naming_every_bad_field(app: TestApp) {
    let (_, token) = app.user_with_role("manager").await;
    let c = customer(&app, &token, "Bad input").await;
    let path = interactions_of(c);
    let future = iso(now() + Duration::days(1));

    let r = app
        .post(
            &path,
            &token,
            &json!({"type": "call", "summary": "x", "occurred_at": future}),
        )
        .await;
    assert_422_naming(&r, &["occurred_at"]);
    let r = app
        .post(&path, &token, &json!({"type": "call", "summary": "   "}))
        .await;
    assert_422_naming(&r, &["summary"]);
    let r = app
        .post(&path, &token, &json!({"type": "call", "summary": ""}))
        .await;
    assert_422_naming(&r, &["summary"]);
    // One error, as every text field gives (QA: `length` and `blank` here).
    assert_eq!(
        r.error_codes(),
        [("summary".to_string(), "blank".to_string())]
    );
    let r = app.post(&path, &token, &json!({"type": "call"})).await;
    assert_422_naming(&r, &["summary"]);
    let r = app
        .post(&path, &token, &json!({"type": "teleport", "summary": "x"}))
        .await;
    assert_422_naming(&r, &["type"]);
    assert_eq!(r.body["errors"][0]["code"], "invalid_value");
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("appointment_call"),
        "the message lists the codes: {}",
        r.text
    );

    // Every bad field in one report.
    let r = app
        .post(
            &path,
            &token,
            &json!({"type": "teleport", "occurred_at": future, "summary": " ",
                   "channel": "c".repeat(101), "outcome": "o".repeat(4001),
                   "complaint_status": "closed"}),
        )
        .await;
    assert_422_naming(
        &r,
        &[
            "channel",
            "complaint_status",
            "occurred_at",
            "outcome",
            "summary",
            "type",
        ],
    );
    let r = app
        .post(
            &path,
            &token,
            &json!({"occurred_at": future, "complaint_status": "resolved"}),
        )
        .await;
    assert_422_naming(&r, &["occurred_at", "summary", "type"]);

    // Wrong JSON types and unknown fields name the field.
    let r = app
        .post(
            &path,
            &token,
            &json!({"type": "call", "summary": "x", "occurred_at": "yesterday"}),
        )
        .await;
    assert_422_naming(&r, &["occurred_at"]);
    let r = app
        .post(
            &path,
            &token,
            &json!({"type": "call", "summary": "x", "user_id": "me"}),
        )
        .await;
    assert_422_naming(&r, &["user_id"]);
    let r = app
        .post(
            &path,
            &token,
            &json!({"type": "call", "summary": "x", "mood": "happy"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.body["errors"][0]["code"], "unknown_field", "{}", r.text);
    // Malformed JSON and a wrong content type.
    let r = app
        .post_raw(&path, &token, "application/json", "{\"type\": \"call\",")
        .await;
    r.problem(400);
    let r = app.post_raw(&path, &token, "text/plain", "type=call").await;
    r.problem(415);

    // PATCH: every bad field at once too.
    let id = interaction_at(&app, &token, c, "call", now() - Duration::hours(1)).await;
    let one = format!("{path}/{id}");
    let r = app
        .patch(
            &one,
            &token,
            &json!({"type": "teleport", "occurred_at": future, "summary": "  ",
                   "channel": "c".repeat(101), "complaint_status": "closed"}),
        )
        .await;
    assert_422_naming(
        &r,
        &[
            "channel",
            "complaint_status",
            "occurred_at",
            "summary",
            "type",
        ],
    );
    // Fields that cannot be cleared refuse null, all named at once.
    let r = app
        .patch(
            &one,
            &token,
            &json!({"type": null, "occurred_at": null, "summary": null,
                   "follow_up_done": null, "complaint_status": null, "channel": null}),
        )
        .await;
    assert_422_naming(&r, &["follow_up_done", "occurred_at", "summary", "type"]);
    for e in r.body["errors"].as_array().unwrap() {
        assert_eq!(e["code"], "required", "{}", r.text);
    }
    let r = app
        .patch(&one, &token, &json!({"follow_up_done": "yes"}))
        .await;
    assert_422_naming(&r, &["follow_up_done"]);
    let r = app.patch(&one, &token, &json!({"user": 1})).await;
    r.problem(422);
    // Nothing changed.
    let r = app.get(&one, &token).await;
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["type"], "call");
    // Exactly one interaction exists.
    let r = app.get(&path, &token).await;
    assert_eq!(ids_of(&r), vec![id]);
}

async fn unknown_or_inactive_user_is_422_naming_user_id(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, token) = app.user_with_role("manager").await;
    let c = customer(&app, &token, "Who").await;
    let path = interactions_of(c);
    let r = app
        .post(
            &path,
            &token,
            &json!({"type": "call", "summary": "x", "user_id": 987_654}),
        )
        .await;
    assert_422_naming(&r, &["user_id"]);
    assert_eq!(r.body["errors"][0]["code"], "unknown_user");

    let (gone, _) = app.user_with_role("sales").await;
    let r = app
        .patch(
            &format!("/api/v1/users/{gone}"),
            &admin,
            &json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            &path,
            &token,
            &json!({"type": "call", "summary": "x", "user_id": gone}),
        )
        .await;
    assert_422_naming(&r, &["user_id"]);
    let r = app.get(&path, &token).await;
    assert!(ids_of(&r).is_empty());
}

async fn get_patch_if_match_and_delete(app: TestApp) {
    let (_, token) = app.user_with_role("manager").await;
    let c = customer(&app, &token, "Main").await;
    let other = customer(&app, &token, "Other").await;
    let path = interactions_of(c);
    let id = interact(
        &app,
        &token,
        c,
        json!({"type": "meeting", "summary": "kick-off", "channel": "office",
               "outcome": "agreed", "follow_up_at": iso(now() + Duration::days(2)),
               "occurred_at": iso(now() - Duration::days(1))}),
    )
    .await
    .id();
    let one = format!("{path}/{id}");

    // GET through the wrong customer, or an unknown id: 404.
    app.get(&format!("{}/{id}", interactions_of(other)), &token)
        .await
        .problem(404);
    app.get(&format!("{path}/{}", id + 1000), &token)
        .await
        .problem(404);
    app.get(&format!("{path}/abc"), &token).await.problem(404);
    app.get(&one, "").await.problem(401);

    // PATCH fields.
    let when = now() - Duration::days(4);
    let follow = now() + Duration::days(9);
    let r = app
        .patch(
            &one,
            &token,
            &json!({"type": "visit", "occurred_at": iso(when), "channel": "on site",
                   "summary": "site visit", "outcome": "order promised",
                   "follow_up_at": iso(follow)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(2));
    let b = &r.body;
    assert_eq!(b["version"], 2);
    assert_eq!(b["type"], "visit");
    assert_eq!(at(&b["occurred_at"]), when);
    assert_eq!(b["channel"], "on site");
    assert_eq!(b["summary"], "site visit");
    assert_eq!(b["outcome"], "order promised");
    assert_eq!(at(&b["follow_up_at"]), follow);
    assert!(at(&b["updated_at"]) >= at(&b["created_at"]));
    assert_eq!(app.get(&one, &token).await.body, r.body);

    // null clears optional fields; absent fields stay.
    let r = app
        .patch(
            &one,
            &token,
            &json!({"channel": null, "outcome": null, "follow_up_at": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["channel"].is_null() && r.body["outcome"].is_null());
    assert!(r.body["follow_up_at"].is_null());
    assert_eq!(r.body["summary"], "site visit");
    assert_eq!(r.body["version"], 3);

    // If-Match: stale is 412 and changes nothing; current succeeds.
    let r = app
        .patch_if_match(&one, &token, "\"2\"", &json!({"summary": "stale"}))
        .await;
    r.problem(412);
    assert_eq!(app.get(&one, &token).await.body["summary"], "site visit");
    let r = app
        .patch_if_match(&one, &token, "\"3\"", &json!({"summary": "fresh"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["summary"], "fresh");
    assert_eq!(r.etag_version(), Some(4));
    let r = app
        .patch_if_match(&one, &token, "W/\"4\"", &json!({"summary": "weak"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .patch_if_match(&one, &token, "*", &json!({"summary": "any"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .patch_if_match(&one, &token, "garbage", &json!({"summary": "x"}))
        .await;
    r.problem(400);

    // PATCH and DELETE through the wrong customer: 404, nothing changes.
    let wrong = format!("{}/{id}", interactions_of(other));
    app.patch(&wrong, &token, &json!({"summary": "wrong"}))
        .await
        .problem(404);
    app.delete(&wrong, &token).await.problem(404);
    assert_eq!(app.get(&one, &token).await.body["summary"], "any");

    // DELETE: 204, then 404 everywhere.
    let r = app.delete(&one, &token).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    app.get(&one, &token).await.problem(404);
    app.delete(&one, &token).await.problem(404);
    app.patch(&one, &token, &json!({"summary": "late"}))
        .await
        .problem(404);
    assert!(ids_of(&app.get(&path, &token).await).is_empty());
}

async fn customer_list_is_newest_first_and_pages_without_loss(app: TestApp) {
    let (_, token) = app.user_with_role("manager").await;
    let c = customer(&app, &token, "Paged").await;
    let other = customer(&app, &token, "Elsewhere").await;
    let base = now() - Duration::days(30);
    // Out of order, with two pairs at the same instant.
    let offsets = [5, 1, 9, 3, 3, 7, 0, 9, 2];
    let mut made = Vec::new();
    for (i, days) in offsets.iter().enumerate() {
        let when = base + Duration::days(*days);
        let kind = TYPES[i % TYPES.len()];
        let id = interaction_at(&app, &token, c, kind, when).await;
        made.push((when, id));
    }
    interaction_at(&app, &token, other, "call", base).await;

    let mut newest_first = made.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    let expected: Vec<i64> = newest_first.iter().map(|(_, id)| *id).collect();
    let path = interactions_of(c);
    let r = app.get(&path, &token).await;
    assert_eq!(ids_of(&r), expected, "newest first, ties by id descending");
    assert!(r.body["next_cursor"].is_null());
    for item in r.body["items"].as_array().unwrap() {
        assert_eq!(item["customer_id"], c);
    }

    assert_eq!(walk(&app, &token, &format!("{path}?"), 2).await, expected);
    let mut oldest_first = made.clone();
    oldest_first.sort();
    let ascending: Vec<i64> = oldest_first.iter().map(|(_, id)| *id).collect();
    assert_eq!(
        walk(&app, &token, &format!("{path}?sort=occurred_at"), 2).await,
        ascending
    );
    let mut by_id: Vec<i64> = made.iter().map(|(_, id)| *id).collect();
    by_id.sort();
    assert_eq!(
        walk(&app, &token, &format!("{path}?sort=id"), 3).await,
        by_id
    );
    by_id.reverse();
    assert_eq!(
        walk(&app, &token, &format!("{path}?sort=-id"), 4).await,
        by_id
    );

    // Inserting while walking: every existing item is seen exactly once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut inserted = Vec::new();
    loop {
        let mut url = format!("{path}?limit=2");
        if let Some(cur) = &cursor {
            url.push_str(&format!("&cursor={cur}"));
        }
        let r = app.get(&url, &token).await;
        seen.extend(ids_of(&r));
        // New ones newer, older and at an existing instant.
        let n = inserted.len() as i64;
        for when in [
            now(),
            base - Duration::days(1 + n),
            base + Duration::days(3),
        ] {
            inserted.push(interaction_at(&app, &token, c, "call", when).await);
        }
        match r.body["next_cursor"].as_str() {
            Some(cur) => cursor = Some(cur.to_string()),
            None => break,
        }
        assert!(seen.len() < 200, "the walk does not end");
    }
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no repeats: {seen:?}");
    for id in &expected {
        assert!(unique.contains(id), "{id} was lost: {seen:?}");
    }

    app.get(&interactions_of(999_999), &token)
        .await
        .problem(404);
}

/// A made interaction: (id, customer, type, day, user).
type Made = (i64, i64, &'static str, i64, i64);

async fn cross_customer_list_filters(app: TestApp) {
    let (manager, token) = app.user_with_role("manager").await;
    let (rep, rep_token) = app.user_with_role("sales").await;
    let c1 = customer(&app, &token, "One").await;
    let c2 = customer(&app, &rep_token, "Two").await;
    let t0 = now() - Duration::days(20);
    let day = |n: i64| t0 + Duration::days(n);

    // (customer, type, day, token, user)
    let plan = [
        (c1, "call", 1, &token, manager),
        (c1, "visit", 2, &token, manager),
        (c1, "complaint", 3, &token, manager),
        (c2, "call", 4, &rep_token, rep),
        (c2, "email", 5, &rep_token, rep),
        (c2, "complaint", 6, &rep_token, rep),
        (c2, "call", 7, &token, manager),
    ];
    let mut made = Vec::new();
    for (c, kind, d, tok, user) in plan {
        let id = interaction_at(&app, tok, c, kind, day(d)).await;
        made.push((id, c, kind, d, user));
    }
    // Resolve c2's complaint.
    let (complaint2, ..) = made[5];
    let r = app
        .patch(
            &format!("{}/{complaint2}", interactions_of(c2)),
            &rep_token,
            &json!({"complaint_status": "resolved"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let want = |pred: &dyn Fn(&Made) -> bool| -> Vec<i64> {
        let mut v: Vec<_> = made.iter().filter(|m| pred(m)).collect();
        v.sort_by_key(|m| std::cmp::Reverse(m.3));
        v.iter().map(|m| m.0).collect()
    };
    let list = |query: String| {
        let app = &app;
        let token = token.clone();
        async move {
            ids_of(
                &app.get(&format!("/api/v1/interactions?{query}"), &token)
                    .await,
            )
        }
    };

    assert_eq!(list(String::new()).await, want(&|_| true));
    assert_eq!(list("type=call".into()).await, want(&|m| m.2 == "call"));
    assert_eq!(
        list("type=complaint".into()).await,
        want(&|m| m.2 == "complaint")
    );
    assert_eq!(list(format!("user_id={rep}")).await, want(&|m| m.4 == rep));
    assert_eq!(
        list(format!("user_id={manager}")).await,
        want(&|m| m.4 == manager)
    );
    assert_eq!(
        list(format!("customer_id={c2}")).await,
        want(&|m| m.1 == c2)
    );
    assert_eq!(
        list(format!("from={}&to={}", iso(day(2)), iso(day(5)))).await,
        want(&|m| (2..5).contains(&m.3)),
        "from is inclusive, to exclusive"
    );
    assert_eq!(
        list(format!("from={}", iso(day(6)))).await,
        want(&|m| m.3 >= 6)
    );
    assert_eq!(
        list(format!("to={}", iso(day(2)))).await,
        want(&|m| m.3 < 2)
    );
    assert_eq!(
        list("complaint_status=open".into()).await,
        want(&|m| m.2 == "complaint" && m.1 == c1)
    );
    assert_eq!(
        list("complaint_status=resolved".into()).await,
        vec![complaint2]
    );
    assert_eq!(
        list(format!("type=call&user_id={manager}&customer_id={c2}")).await,
        want(&|m| m.2 == "call" && m.4 == manager && m.1 == c2)
    );
    assert_eq!(
        list("sort=occurred_at".into()).await,
        want(&|_| true).into_iter().rev().collect::<Vec<_>>()
    );
    assert!(list("type=care".into()).await.is_empty());
    assert!(list("user_id=987654".into()).await.is_empty());

    // The same filters on one customer's list.
    let r = app
        .get(&format!("{}?type=call", interactions_of(c2)), &token)
        .await;
    assert_eq!(ids_of(&r), want(&|m| m.1 == c2 && m.2 == "call"));
    // The cross-customer list walks in pages too.
    assert_eq!(
        walk(&app, &token, "/api/v1/interactions?type=call", 1).await,
        want(&|m| m.2 == "call")
    );
}

async fn due_follow_ups_list(app: TestApp) {
    let (manager, token) = app.user_with_role("manager").await;
    let (rep, rep_token) = app.user_with_role("sales").await;
    let c1 = customer(&app, &token, "Due one").await;
    let c2 = customer(&app, &rep_token, "Due two").await;
    let t = now();
    let follow = |c: i64, tok: &str, due: Option<DateTime<Utc>>| {
        let app = &app;
        let tok = tok.to_string();
        async move {
            let mut body = json!({"type": "call", "summary": "call back",
                                  "occurred_at": iso(t - Duration::days(10))});
            if let Some(due) = due {
                body["follow_up_at"] = json!(iso(due));
            }
            interact(app, &tok, c, body).await.id()
        }
    };
    let due_3h = follow(c1, &token, Some(t - Duration::hours(3))).await;
    let due_1h = follow(c2, &rep_token, Some(t - Duration::hours(1))).await;
    let due_2d_ago = follow(c2, &rep_token, Some(t - Duration::days(2))).await;
    let due_tomorrow = follow(c1, &token, Some(t + Duration::days(1))).await;
    let _none = follow(c1, &token, None).await;
    let done = follow(c1, &token, Some(t - Duration::days(5))).await;
    let r = app
        .patch(
            &format!("{}/{done}", interactions_of(c1)),
            &token,
            &json!({"follow_up_done": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["follow_up_done"], true);

    let due = |query: String| {
        let app = &app;
        let token = token.clone();
        async move {
            ids_of(
                &app.get(&format!("/api/v1/interactions?{query}"), &token)
                    .await,
            )
        }
    };
    let before_now = format!("follow_up_before={}", iso(t));
    // Only pending follow-ups due before the instant, soonest first.
    assert_eq!(
        due(before_now.clone()).await,
        vec![due_2d_ago, due_3h, due_1h]
    );
    assert_eq!(
        due(format!("follow_up_before={}", iso(t + Duration::days(2)))).await,
        vec![due_2d_ago, due_3h, due_1h, due_tomorrow]
    );
    assert_eq!(
        due(format!("follow_up_before={}", iso(t - Duration::hours(3)))).await,
        vec![due_2d_ago],
        "strictly before"
    );
    // A rep's own due list; one customer's due list.
    assert_eq!(
        due(format!("{before_now}&user_id={rep}")).await,
        vec![due_2d_ago, due_1h]
    );
    assert_eq!(
        due(format!("{before_now}&user_id={manager}")).await,
        vec![due_3h]
    );
    let r = app
        .get(&format!("{}?{before_now}", interactions_of(c2)), &token)
        .await;
    assert_eq!(ids_of(&r), vec![due_2d_ago, due_1h]);
    // The due list pages in the same order.
    assert_eq!(
        walk(
            &app,
            &token,
            &format!(
                "/api/v1/interactions?follow_up_before={}",
                iso(t + Duration::days(2))
            ),
            1
        )
        .await,
        vec![due_2d_ago, due_3h, due_1h, due_tomorrow]
    );
    // Latest first on request.
    assert_eq!(
        due(format!("{before_now}&sort=-follow_up_at")).await,
        vec![due_1h, due_3h, due_2d_ago]
    );

    // Done leaves the list; not done puts it back.
    let one = format!("{}/{due_3h}", interactions_of(c1));
    let before = now();
    let r = app
        .patch(&one, &token, &json!({"follow_up_done": true}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["follow_up_done"], true);
    let done_at = at(&r.body["follow_up_done_at"]);
    assert!(done_at >= before && done_at <= now());
    assert_eq!(due(before_now.clone()).await, vec![due_2d_ago, due_1h]);
    // Marking done again keeps the first time.
    let r = app
        .patch(&one, &token, &json!({"follow_up_done": true}))
        .await;
    assert_eq!(at(&r.body["follow_up_done_at"]), done_at);
    let r = app
        .patch(&one, &token, &json!({"follow_up_done": false}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["follow_up_done"], false);
    assert!(r.body["follow_up_done_at"].is_null());
    assert_eq!(
        due(before_now.clone()).await,
        vec![due_2d_ago, due_3h, due_1h]
    );
    // Moving the follow-up date later takes it off today's list.
    let r = app
        .patch(
            &one,
            &token,
            &json!({"follow_up_at": iso(t + Duration::days(3))}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(due(before_now.clone()).await, vec![due_2d_ago, due_1h]);
    // Done, then given another date: a new follow-up, due again; the same
    // date again changes nothing, and a date with done: true stays done.
    let r = app
        .patch(&one, &token, &json!({"follow_up_done": true}))
        .await;
    assert_eq!(r.body["follow_up_done"], true, "{}", r.text);
    let same = r.body["follow_up_at"].clone();
    let r = app
        .patch(&one, &token, &json!({"follow_up_at": same}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["follow_up_done"], true, "{}", r.text);
    let r = app
        .patch(
            &one,
            &token,
            &json!({"follow_up_at": iso(t - Duration::hours(2))}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["follow_up_done"], false, "{}", r.text);
    assert!(r.body["follow_up_done_at"].is_null(), "{}", r.text);
    assert_eq!(
        due(before_now.clone()).await,
        vec![due_2d_ago, due_3h, due_1h]
    );
    let r = app
        .patch(
            &one,
            &token,
            &json!({"follow_up_at": iso(t + Duration::days(3)), "follow_up_done": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["follow_up_done"], true, "{}", r.text);
    assert_eq!(due(before_now.clone()).await, vec![due_2d_ago, due_1h]);
    // Cleared, there is no follow-up, done or not, and none to mark done.
    let r = app
        .patch(&one, &token, &json!({"follow_up_at": null}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["follow_up_done"], false, "{}", r.text);
    assert!(r.body["follow_up_done_at"].is_null(), "{}", r.text);
    let version = r.body["version"].clone();
    let r = app
        .patch(&one, &token, &json!({"follow_up_done": true}))
        .await;
    r.problem(422);
    assert_eq!(
        r.error_codes(),
        [("follow_up_done".to_string(), "no_follow_up".to_string())]
    );
    let r = app.get(&one, &token).await;
    assert_eq!(r.body["version"], version, "nothing written: {}", r.text);
    // Clearing it too.
    let r = app
        .patch(
            &format!("{}/{due_1h}", interactions_of(c2)),
            &rep_token,
            &json!({"follow_up_at": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(due(before_now.clone()).await, vec![due_2d_ago]);
    // Deleted ones leave it.
    let r = app
        .delete(&format!("{}/{due_2d_ago}", interactions_of(c2)), &rep_token)
        .await;
    assert_eq!(r.status, 204);
    assert!(due(before_now).await.is_empty());
}

async fn bad_queries_are_400_naming_the_parameter(app: TestApp) {
    let (_, token) = app.user_with_role("manager").await;
    let c = customer(&app, &token, "Queries").await;
    for base in ["/api/v1/interactions".to_string(), interactions_of(c)] {
        for (query, field) in [
            ("sort=name", "sort"),
            ("sort=-summary", "sort"),
            ("type=teleport", "type"),
            ("complaint_status=closed", "complaint_status"),
            ("user_id=abc", "user_id"),
            ("customer_id=1.5", "customer_id"),
            ("from=yesterday", "from"),
            ("to=2024-13-01T00:00:00Z", "to"),
            ("follow_up_before=soon", "follow_up_before"),
            ("follow_up_before=2024-01-01", "follow_up_before"),
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("limit=x", "limit"),
            ("cursor=garbage!", "cursor"),
        ] {
            let r = app.get(&format!("{base}?{query}"), &token).await;
            assert_400_naming(&r, field);
        }
        let r = app.get(&format!("{base}?colour=red"), &token).await;
        r.problem(400);
    }
    // A cursor from another sort is refused.
    for i in 0..3 {
        interaction_at(&app, &token, c, "call", now() - Duration::hours(i + 1)).await;
    }
    let r = app
        .get("/api/v1/interactions?limit=1&sort=occurred_at", &token)
        .await;
    let cursor = r.body["next_cursor"].as_str().unwrap().to_string();
    let r = app
        .get(
            &format!("/api/v1/interactions?limit=1&sort=-occurred_at&cursor={cursor}"),
            &token,
        )
        .await;
    assert_400_naming(&r, "cursor");
    app.get("/api/v1/interactions", "").await.problem(401);
    app.get("/api/v1/customers/abc/interactions", &token)
        .await
        .problem(404);
}

async fn role_rules(app: TestApp) {
    let (_, manager) = app.user_with_role("manager").await;
    let (rep, rep_token) = app.user_with_role("sales").await;
    let (_, viewer) = app.user_with_role("viewer").await;
    let (integration_id, integration) = app.user_with_role("integration").await;
    let theirs = customer(&app, &manager, "Manager's").await;
    let mine = customer(&app, &rep_token, "Rep's").await;
    let body = json!({"type": "call", "summary": "hello"});

    // A viewer reads but never writes.
    app.post(&interactions_of(theirs), &viewer, &body)
        .await
        .problem(403);
    app.post(&interactions_of(mine), &viewer, &body)
        .await
        .problem(403);
    let id = interact(&app, &manager, theirs, body.clone()).await.id();
    let one = format!("{}/{id}", interactions_of(theirs));
    assert_eq!(app.get(&one, &viewer).await.status, 200);
    assert_eq!(
        ids_of(&app.get(&interactions_of(theirs), &viewer).await),
        vec![id]
    );
    assert_eq!(
        ids_of(&app.get("/api/v1/interactions", &viewer).await),
        vec![id]
    );
    app.patch(&one, &viewer, &json!({"summary": "x"}))
        .await
        .problem(403);
    app.delete(&one, &viewer).await.problem(403);

    // A sales rep logs only on customers they own, but reads the others.
    app.post(&interactions_of(theirs), &rep_token, &body)
        .await
        .problem(403);
    app.patch(&one, &rep_token, &json!({"summary": "x"}))
        .await
        .problem(403);
    app.delete(&one, &rep_token).await.problem(403);
    assert_eq!(app.get(&one, &rep_token).await.status, 200);
    assert_eq!(
        ids_of(&app.get(&interactions_of(theirs), &rep_token).await),
        vec![id]
    );
    let r = interact(&app, &rep_token, mine, body.clone()).await;
    assert_eq!(r.body["user_id"], rep);
    let own = format!("{}/{}", interactions_of(mine), r.id());
    let r = app
        .patch(&own, &rep_token, &json!({"outcome": "good"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Managers and integrations write on anyone's customers.
    let r = interact(&app, &manager, mine, body.clone()).await;
    assert_eq!(r.body["customer_id"], mine);
    let r = interact(&app, &integration, theirs, body.clone()).await;
    assert_eq!(r.body["user_id"], integration_id);

    assert_eq!(app.delete(&own, &rep_token).await.status, 204);
    // Nothing the forbidden calls tried was stored.
    assert_eq!(app.get(&one, &manager).await.body["summary"], "hello");
    assert_eq!(
        ids_of(&app.get("/api/v1/interactions", &manager).await).len(),
        3
    );
    app.post(&interactions_of(theirs), "", &body)
        .await
        .problem(401);
}

/// `complaint_status: null` is what the view shows for every type but a
/// complaint: sent back with such a type it is taken (re-classifying a
/// complaint clears its status), and refused for a complaint, which always
/// has one. It was a 422 `required` for any type.
async fn complaint_status_null_goes_with_the_other_types(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Null status"}))
        .await
        .id();
    let r = interact(
        &app,
        &token,
        c,
        json!({"type": "complaint", "summary": "broken lid"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let one = format!("/api/v1/customers/{c}/interactions/{}", r.id());
    let r = app
        .patch(&one, &token, &json!({"complaint_status": null}))
        .await;
    let problem = r.problem(422);
    assert_eq!(
        problem["errors"][0]["field"], "complaint_status",
        "{}",
        r.text
    );
    assert_eq!(problem["errors"][0]["code"], "required", "{}", r.text);
    let r = app
        .patch(
            &one,
            &token,
            &json!({"type": "call", "complaint_status": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["type"], "call");
    assert_eq!(r.body["complaint_status"], Value::Null, "{}", r.text);
    // The view sent back as it is: no change.
    let version = r.body["version"].clone();
    let r = app
        .patch(
            &one,
            &token,
            &json!({"type": "call", "complaint_status": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], version);
}

/// A sales user may not put a contact in a colleague's name (an outside
/// review: a rep logged complaints as its manager's, and learned from the
/// answer which user ids are active). Managers, admins and integrations
/// record for anyone.
async fn a_sales_user_records_only_its_own_contacts(app: TestApp) {
    let (manager, manager_token) = app.user_with_role("manager").await;
    let (rep, rep_token) = app.user_with_role("sales").await;
    let (_, sync_token) = app.user_with_role("integration").await;
    let c = customer(&app, &rep_token, "The rep's own").await;
    let path = interactions_of(c);
    for user_id in [json!(manager), json!(987_654)] {
        let r = app
            .post(
                &path,
                &rep_token,
                &json!({"type": "complaint", "summary": "x", "user_id": user_id}),
            )
            .await;
        assert_422_naming(&r, &["user_id"]);
        assert_eq!(r.body["errors"][0]["code"], "not_allowed", "{}", r.text);
    }
    let r = app
        .post(
            &path,
            &rep_token,
            &json!({"type": "call", "summary": "mine", "user_id": rep}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["user_id"], rep);
    for token in [&manager_token, &sync_token] {
        let r = app
            .post(
                &path,
                token,
                &json!({"type": "visit", "summary": "for the rep", "user_id": rep}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["user_id"], rep);
    }
    // Nothing was written by the refused ones.
    let r = app.get(&path, &manager_token).await;
    assert_eq!(
        r.body["items"].as_array().map(Vec::len),
        Some(3),
        "{}",
        r.text
    );
}

/// A follow-up still to do before the contact it follows is a 422 naming
/// `follow_up_at` where the request dates the contact, a create or a PATCH
/// that sends `occurred_at` (a year typed wrong put a backfilled contact at
/// the top of the due list, years overdue: a review). Without it a
/// follow-up already due is taken (a contact logged late), a done one is
/// not judged, and a PATCH of other fields leaves a row stored before the
/// rule writable.
async fn a_follow_up_is_not_before_its_contact(app: TestApp) {
    let token = app.admin_token().await;
    let c = customer(&app, &token, "Typo").await;
    let path = format!("/api/v1/customers/{c}/interactions");
    let r = app
        .post(
            &path,
            &token,
            &json!({"type": "call", "summary": "x", "occurred_at": "2020-03-03T09:00:00Z",
                    "follow_up_at": "2019-03-03T09:00:00Z"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["follow_up_at"], "{}", r.text);
    assert_eq!(
        r.code_of("follow_up_at"),
        "before_occurred_at",
        "{}",
        r.text
    );
    // Together with another bad field: both named.
    let r = app
        .post(
            &path,
            &token,
            &json!({"type": "call", "summary": " ", "occurred_at": "2020-03-03T09:00:00Z",
                    "follow_up_at": "2019-03-03T09:00:00Z"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["follow_up_at", "summary"], "{}", r.text);
    let r = interact(
        &app,
        &token,
        c,
        json!({"type": "call", "summary": "backfilled", "occurred_at": "2020-03-03T09:00:00Z",
               "follow_up_at": "2020-03-03T09:00:00Z"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let one = format!("{path}/{}", r.id());
    for body in [
        json!({"occurred_at": "2020-03-02T09:00:00Z", "follow_up_at": "2020-03-01T09:00:00Z"}),
        json!({"occurred_at": "2020-03-04T09:00:00Z"}),
    ] {
        let r = app.patch(&one, &token, &body).await;
        r.problem(422);
        assert_eq!(
            r.code_of("follow_up_at"),
            "before_occurred_at",
            "{body}: {}",
            r.text
        );
    }
    // Logged late, without occurred_at: its follow-up may already be due.
    let r = interact(
        &app,
        &token,
        c,
        json!({"type": "call", "summary": "late", "follow_up_at": iso(now() - Duration::hours(2))}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // An edit form sends both dates back unchanged with its edit: taken,
    // as the create took them (it was a 422 on a field nobody touched).
    let late = format!("{path}/{}", r.id());
    let resend = json!({"occurred_at": r.body["occurred_at"], "follow_up_at": r.body["follow_up_at"],
                        "outcome": "ordered"});
    let r = app.patch(&late, &token, &resend).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["outcome"], "ordered", "{}", r.text);
    // Moving either date is judged: the follow-up would come first.
    let moved = json!({"occurred_at": iso(now() - Duration::minutes(30)),
                       "follow_up_at": r.body["follow_up_at"]});
    let r = app.patch(&late, &token, &moved).await;
    r.problem(422);
    assert_eq!(
        r.code_of("follow_up_at"),
        "before_occurred_at",
        "{}",
        r.text
    );
    // Stored before the rule: other fields stay writable.
    app.execute_sql(&format!(
        "UPDATE interactions SET follow_up_at = '2020-01-01 00:00:00' WHERE customer_id = {c}"
    ));
    let r = app
        .patch(&one, &token, &json!({"summary": "backfilled, noted"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .patch(
            &one,
            &token,
            &json!({"follow_up_at": "2020-03-05T09:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A PATCH's rules between body and row are named together, as a
    // create's: a complaint status on a call, a follow-up done that does not
    // exist, a follow-up before the contact it dates.
    let bare = interact(&app, &token, c, json!({"type": "call", "summary": "bare"})).await;
    assert_eq!(bare.status, 201, "{}", bare.text);
    let r = app
        .patch(
            &format!("{path}/{}", bare.id()),
            &token,
            &json!({"complaint_status": "open", "follow_up_done": true}),
        )
        .await;
    r.problem(422);
    assert_eq!(
        r.error_fields(),
        ["complaint_status", "follow_up_done"],
        "{}",
        r.text
    );
    assert_eq!(r.code_of("follow_up_done"), "no_follow_up", "{}", r.text);
    let r = app
        .patch(
            &one,
            &token,
            &json!({"complaint_status": "open", "occurred_at": "2020-03-07T09:00:00Z",
                    "follow_up_at": "2020-03-06T09:00:00Z"}),
        )
        .await;
    r.problem(422);
    assert_eq!(
        r.error_fields(),
        ["complaint_status", "follow_up_at"],
        "{}",
        r.text
    );
    // Done, it is no longer due: the contact's date may move past it.
    let r = app
        .patch(
            &one,
            &token,
            &json!({"follow_up_done": true, "occurred_at": "2020-03-06T09:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// A contact entered after the fact whose follow-up is done already: the
/// create takes `follow_up_done` (it was a second request, and meanwhile the
/// follow-up was on the rep's due list and in the change feed as open: a
/// QA review). Without `follow_up_at` there is nothing to mark done.
async fn a_backfilled_contact_may_come_with_its_follow_up_done(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Backfill"}))
        .await
        .id();
    let path = format!("/api/v1/customers/{c}/interactions");
    let r = app
        .post(
            &path,
            &token,
            &json!({"type": "visit", "summary": "last month", "occurred_at": "2026-01-05T09:00:00Z",
                    "follow_up_at": "2026-01-12T09:00:00Z", "follow_up_done": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["follow_up_done"], true, "{}", r.text);
    assert!(r.body["follow_up_done_at"].is_string(), "{}", r.text);
    let due = app
        .get(
            "/api/v1/interactions?follow_up_before=2100-01-01T00:00:00Z",
            &token,
        )
        .await;
    assert_eq!(due.status, 200, "{}", due.text);
    assert_eq!(due.body["items"], json!([]), "not due: {}", due.text);
    // Done, it may lie before the contact, as a PATCH allows.
    let r = app
        .post(
            &path,
            &token,
            &json!({"type": "visit", "summary": "s", "occurred_at": "2026-01-05T09:00:00Z",
                    "follow_up_at": "2026-01-01T09:00:00Z", "follow_up_done": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Sent false, or without a follow-up date.
    let r = app
        .post(
            &path,
            &token,
            &json!({"type": "call", "summary": "s", "follow_up_at": "2100-01-01T00:00:00Z",
                    "follow_up_done": false}),
        )
        .await;
    assert_eq!(r.body["follow_up_done"], false, "{}", r.text);
    let r = app
        .post(
            &path,
            &token,
            &json!({"type": "call", "summary": "s", "follow_up_done": true}),
        )
        .await;
    r.problem(422);
    assert_eq!(
        r.error_codes(),
        [("follow_up_done".to_string(), "no_follow_up".to_string())]
    );
}

/// A contact logged under the wrong person stayed so (a QA review): a PATCH
/// names who had it, by the create's rule: a manager names an active user,
/// a rep keeps its contacts as they are (resending the stored id is fine).
async fn who_had_a_contact_is_corrected_by_a_manager_not_a_rep(app: TestApp) {
    let (rep_id, rep) = app.user_with_role("sales").await;
    let (manager_id, manager) = app.user_with_role("manager").await;
    let c = app
        .create_customer(&rep, json!({"kind": "individual", "name": "Who"}))
        .await
        .id();
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/interactions"),
            &rep,
            &json!({"type": "call", "summary": "logged by the rep"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let one = format!("/api/v1/customers/{c}/interactions/{}", r.id());
    // The rep: another id refused, its own resent taken (nothing changes).
    let r = app.patch(&one, &rep, &json!({"user_id": manager_id})).await;
    r.problem(422);
    assert_eq!(
        r.error_codes(),
        [("user_id".to_string(), "not_allowed".to_string())]
    );
    let r = app.patch(&one, &rep, &json!({"user_id": rep_id})).await;
    assert_eq!(
        (r.status, r.body["version"].clone()),
        (200, json!(1)),
        "{}",
        r.text
    );
    // Null, or a user who is not active: refused.
    let r = app.patch(&one, &manager, &json!({"user_id": null})).await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["user_id"], "{}", r.text);
    let r = app
        .patch(&one, &manager, &json!({"user_id": 999_999}))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["user_id"], "{}", r.text);
    // The manager corrects it.
    let r = app
        .patch(&one, &manager, &json!({"user_id": manager_id}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user_id"], manager_id);
    assert_eq!(r.body["version"], 2);
}
