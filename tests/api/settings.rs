//! `/settings/cpr` and `/settings/tiers`: defaults with ETag "0", PUT by
//! admins and managers only, every validation rule naming every bad field at
//! once, unknown and missing fields, `If-Match` (412 when stale) and the
//! version that counts the changes.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

backend_tests!(
    defaults_are_served_with_etag_0_to_every_role,
    admins_and_managers_replace_settings_and_the_version_counts,
    other_roles_may_not_change_settings,
    cpr_validation_names_every_bad_field_at_once,
    cpr_cross_field_rule_retention_above_conversion,
    tier_validation_names_every_bad_field_at_once,
    unknown_missing_and_mistyped_fields_are_422,
    malformed_body_and_missing_token,
    if_match_is_honoured,
    a_service_document_first_written_by_two_writers_at_once_keeps_the_later,
    a_first_put_without_if_match_racing_another_is_not_refused,
    puts_without_if_match_at_once_all_succeed,
    a_put_of_the_stored_document_is_no_change,
    a_put_whose_recompute_fails_says_the_settings_were_saved,
);

/// PUTs without `If-Match` replace the document whatever its version: sent
/// at once, every one succeeds (on PostgreSQL most were a 412, the second
/// overtaken between reading the version and saving) and each counts once.
/// The first version is among them (no row to lock yet); the loyalty
/// document also recomputes every customer after each.
async fn puts_without_if_match_at_once_all_succeed(app: TestApp) {
    let token = app.admin_token().await;
    for (path, field) in [
        ("/api/v1/settings/churn", "no_contact_days"),
        ("/api/v1/settings/loyalty", "repeat_min_purchases"),
    ] {
        let body = app.get(path, &token).await.body;
        // Eight different documents, none the defaults: the document
        // stored (the defaults included) again is no change.
        let stored = body[field].as_i64().unwrap_or_default();
        let bodies: Vec<Value> = (0..8)
            .map(|i| {
                let mut body = body.clone();
                body[field] = json!(stored + 1 + i);
                body
            })
            .collect();
        let puts = bodies
            .iter()
            .map(|body| put(&app, path, &token, None, body));
        let answers = futures_util::future::join_all(puts).await;
        let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
        assert!(statuses.iter().all(|s| *s == 200), "{path}: {statuses:?}");
        let r = app.get(path, &token).await;
        assert_eq!(r.etag_version(), Some(8), "{path}");
    }
}

pub const CPR: &str = "/api/v1/settings/cpr";
pub const TIERS: &str = "/api/v1/settings/tiers";

/// `PUT path` with a JSON body, optionally with `If-Match`.
pub async fn put(
    app: &TestApp,
    path: &str,
    token: &str,
    if_match: Option<&str>,
    body: &Value,
) -> Resp {
    let mut req = app.client.put(app.url(path)).json(body);
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if let Some(etag) = if_match {
        req = req.header("If-Match", etag);
    }
    app.send(req).await
}

/// Replaces the CPR settings (as an admin) and asserts success.
pub async fn set_cpr(app: &TestApp, token: &str, body: Value) -> Resp {
    let r = put(app, CPR, token, None, &body).await;
    assert_eq!(r.status, 200, "PUT /settings/cpr failed: {}", r.text);
    r
}

/// Replaces the tier settings and asserts success.
pub async fn set_tiers(app: &TestApp, token: &str, body: Value) -> Resp {
    let r = put(app, TIERS, token, None, &body).await;
    assert_eq!(r.status, 200, "PUT /settings/tiers failed: {}", r.text);
    r
}

pub fn default_cpr() -> Value {
    json!({"window_months": 12, "conversion_share_max": 0.10, "retention_share_min": 0.80,
           "retention_min_tenure_days": 180, "retention_min_purchases": 4})
}

pub fn default_tiers() -> Value {
    json!({"window_months": 12, "important_pct": 1.0, "secondary_pct": 4.0, "ordinary_pct": 15.0})
}

/// Compares two settings documents field by field, numbers as numbers
/// (`1` and `1.0` are the same setting).
fn assert_settings(got: &Value, want: &Value) {
    let got_map = got
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {got}"));
    let want_map = want.as_object().unwrap();
    let mut got_keys: Vec<&String> = got_map.keys().collect();
    let mut want_keys: Vec<&String> = want_map.keys().collect();
    got_keys.sort();
    want_keys.sort();
    assert_eq!(got_keys, want_keys, "{got}");
    for (k, v) in want_map {
        assert_eq!(
            got_map[k].as_f64(),
            v.as_f64(),
            "{k}: got {}, want {v}",
            got_map[k]
        );
    }
}

fn assert_422_fields(r: &Resp, fields: &[&str]) {
    r.problem(422);
    let mut got = r.error_fields();
    got.sort();
    got.dedup();
    let mut want: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "{}", r.text);
    for e in r.body["errors"].as_array().unwrap() {
        assert!(e["code"].is_string() && e["message"].is_string(), "{e}");
    }
}

async fn defaults_are_served_with_etag_0_to_every_role(app: TestApp) {
    let admin = app.admin_token().await;
    let r = app.get(CPR, &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(0));
    assert_settings(&r.body, &default_cpr());
    let r = app.get(TIERS, &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(0));
    assert_settings(&r.body, &default_tiers());
    for role in ["manager", "sales", "integration", "viewer"] {
        let (_, token) = app.user_with_role(role).await;
        for path in [CPR, TIERS] {
            let r = app.get(path, &token).await;
            assert_eq!(r.status, 200, "{role} GET {path}: {}", r.text);
        }
    }
}

async fn admins_and_managers_replace_settings_and_the_version_counts(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, manager) = app.user_with_role("manager").await;

    let first = json!({"window_months": 6, "conversion_share_max": 0.2, "retention_share_min": 0.7,
                       "retention_min_tenure_days": 90, "retention_min_purchases": 3});
    let r = put(&app, CPR, &admin, None, &first).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(1));
    assert_settings(&r.body, &first);
    let r = app.get(CPR, &manager).await;
    assert_eq!(r.etag_version(), Some(1));
    assert_settings(&r.body, &first);

    let second = json!({"window_months": 24, "conversion_share_max": 0.0, "retention_share_min": 1.0,
                        "retention_min_tenure_days": 0, "retention_min_purchases": 2});
    let r = put(&app, CPR, &manager, Some("\"1\""), &second).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(2));
    let r = app.get(CPR, &admin).await;
    assert_eq!(r.etag_version(), Some(2));
    assert_settings(&r.body, &second);

    // The bounds themselves are valid.
    let edges = json!({"window_months": 60, "conversion_share_max": 0.5, "retention_share_min": 0.5000001,
                       "retention_min_tenure_days": 3650, "retention_min_purchases": 1000});
    let r = put(&app, CPR, &admin, None, &edges).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(3));
    assert_settings(&r.body, &edges);

    // Tiers have their own version.
    let tiers = json!({"window_months": 24, "important_pct": 10.0, "secondary_pct": 20.0, "ordinary_pct": 70.0});
    let r = put(&app, TIERS, &manager, Some("\"0\""), &tiers).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(1));
    assert_settings(&r.body, &tiers);
    let tiers2 =
        json!({"window_months": 1, "important_pct": 0.5, "secondary_pct": 0, "ordinary_pct": 0});
    let r = put(&app, TIERS, &admin, None, &tiers2).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(2));
    let r = app.get(TIERS, &admin).await;
    assert_eq!(r.etag_version(), Some(2));
    assert_settings(&r.body, &tiers2);
    // The CPR settings did not move.
    let r = app.get(CPR, &admin).await;
    assert_eq!(r.etag_version(), Some(3));
}

async fn other_roles_may_not_change_settings(app: TestApp) {
    let admin = app.admin_token().await;
    for role in ["sales", "viewer", "integration"] {
        let (_, token) = app.user_with_role(role).await;
        let r = put(&app, CPR, &token, None, &default_cpr()).await;
        r.problem(403);
        let r = put(&app, TIERS, &token, None, &default_tiers()).await;
        r.problem(403);
        // Even an invalid body is refused for the role first.
        let r = put(&app, CPR, &token, None, &json!({"window_months": 0})).await;
        r.problem(403);
    }
    // Nothing changed.
    for path in [CPR, TIERS] {
        let r = app.get(path, &admin).await;
        assert_eq!(r.etag_version(), Some(0), "{path}");
    }
}

async fn cpr_validation_names_every_bad_field_at_once(app: TestApp) {
    let admin = app.admin_token().await;
    // Every field wrong at once.
    let r = put(
        &app,
        CPR,
        &admin,
        None,
        &json!({"window_months": 0, "conversion_share_max": -0.1, "retention_share_min": 1.5,
                "retention_min_tenure_days": -1, "retention_min_purchases": 1}),
    )
    .await;
    assert_422_fields(
        &r,
        &[
            "window_months",
            "conversion_share_max",
            "retention_share_min",
            "retention_min_tenure_days",
            "retention_min_purchases",
        ],
    );
    // One rule at a time, each naming its field only.
    let cases: &[(&str, Value)] = &[
        ("window_months", json!(0)),
        ("window_months", json!(61)),
        // Beyond what the stored type holds: the same rule, not its type's range.
        ("window_months", json!(-1)),
        ("window_months", json!(5_000_000_000_i64)),
        ("conversion_share_max", json!(-0.01)),
        ("conversion_share_max", json!(1.01)),
        ("retention_share_min", json!(1.0001)),
        ("retention_share_min", json!(-1)),
        ("retention_min_tenure_days", json!(-1)),
        ("retention_min_tenure_days", json!(3651)),
        ("retention_min_purchases", json!(1)),
        ("retention_min_purchases", json!(0)),
        ("retention_min_purchases", json!(1001)),
    ];
    for (field, value) in cases {
        let mut body = default_cpr();
        body[*field] = value.clone();
        let r = put(&app, CPR, &admin, None, &body).await;
        // conversion_share_max above 1 also breaks retention > conversion.
        if *field == "conversion_share_max" && value.as_f64().unwrap() > 1.0 {
            assert_422_fields(&r, &["conversion_share_max", "retention_share_min"]);
        } else if *field == "retention_share_min" && value.as_f64().unwrap() < 0.0 {
            assert_422_fields(&r, &["retention_share_min"]);
        } else {
            assert_422_fields(&r, &[field]);
        }
        if *field == "window_months" {
            assert_eq!(r.code_of("window_months"), "range", "{}", r.text);
            assert!(r.text.contains("between 1 and 60"), "{}", r.text);
        }
    }
    // Nothing was stored.
    let r = app.get(CPR, &admin).await;
    assert_eq!(r.etag_version(), Some(0));
    assert_settings(&r.body, &default_cpr());
}

async fn cpr_cross_field_rule_retention_above_conversion(app: TestApp) {
    let admin = app.admin_token().await;
    for (conv, ret) in [(0.5, 0.5), (0.6, 0.4), (0.0, 0.0)] {
        let mut body = default_cpr();
        body["conversion_share_max"] = json!(conv);
        body["retention_share_min"] = json!(ret);
        let r = put(&app, CPR, &admin, None, &body).await;
        assert_422_fields(&r, &["retention_share_min"]);
    }
    let mut body = default_cpr();
    body["conversion_share_max"] = json!(0.0);
    body["retention_share_min"] = json!(0.01);
    let r = put(&app, CPR, &admin, None, &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn tier_validation_names_every_bad_field_at_once(app: TestApp) {
    let admin = app.admin_token().await;
    let r = put(
        &app,
        TIERS,
        &admin,
        None,
        &json!({"window_months": 61, "important_pct": -1, "secondary_pct": -0.5, "ordinary_pct": 101}),
    )
    .await;
    assert_422_fields(
        &r,
        &[
            "window_months",
            "important_pct",
            "secondary_pct",
            "ordinary_pct",
        ],
    );
    let cases: &[(&str, Value)] = &[
        ("window_months", json!(0)),
        ("window_months", json!(61)),
        ("important_pct", json!(-0.1)),
        ("secondary_pct", json!(-4)),
        ("ordinary_pct", json!(-15)),
        // The cuts are in whole basis points: a finer share was rounded.
        ("important_pct", json!(33.335)),
        ("ordinary_pct", json!(99.999)),
    ];
    for (field, value) in cases {
        let mut body = default_tiers();
        body[*field] = value.clone();
        let r = put(&app, TIERS, &admin, None, &body).await;
        assert_422_fields(&r, &[field]);
    }
    // The three may not add up to more than 100; exactly 100 is fine.
    let r = put(
        &app,
        TIERS,
        &admin,
        None,
        &json!({"window_months": 12, "important_pct": 50, "secondary_pct": 30, "ordinary_pct": 20.5}),
    )
    .await;
    assert_422_fields(&r, &["ordinary_pct"]);
    let r = app.get(TIERS, &admin).await;
    assert_eq!(r.etag_version(), Some(0));
    let r = put(
        &app,
        TIERS,
        &admin,
        None,
        &json!({"window_months": 12, "important_pct": 50, "secondary_pct": 30, "ordinary_pct": 20}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A share a floating-point step off two decimals is accepted (32.02 is
    // 3201.9999999999995 basis points) and stored as the share the cuts use,
    // not as sent (review).
    let r = put(
        &app,
        TIERS,
        &admin,
        None,
        &json!({"window_months": 12, "important_pct": 1.000000001, "secondary_pct": 32.02, "ordinary_pct": 15}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["important_pct"], json!(1.0), "{}", r.text);
    assert_eq!(r.body["secondary_pct"], json!(32.02), "{}", r.text);
    let r = app.get(TIERS, &admin).await;
    assert_eq!(r.body["important_pct"], json!(1.0), "{}", r.text);
}

async fn unknown_missing_and_mistyped_fields_are_422(app: TestApp) {
    let admin = app.admin_token().await;
    // An unknown field.
    let mut body = default_cpr();
    body["conversion_share"] = json!(0.1);
    let r = put(&app, CPR, &admin, None, &body).await;
    assert_422_fields(&r, &["conversion_share"]);
    let mut body = default_tiers();
    body["vip_pct"] = json!(1);
    let r = put(&app, TIERS, &admin, None, &body).await;
    assert_422_fields(&r, &["vip_pct"]);

    // One missing field.
    let mut body = default_cpr();
    body.as_object_mut()
        .unwrap()
        .remove("retention_min_tenure_days");
    let r = put(&app, CPR, &admin, None, &body).await;
    assert_422_fields(&r, &["retention_min_tenure_days"]);
    assert_eq!(r.body["errors"][0]["code"], "required", "{}", r.text);
    // null is not a value.
    let mut body = default_tiers();
    body["ordinary_pct"] = Value::Null;
    let r = put(&app, TIERS, &admin, None, &body).await;
    assert_422_fields(&r, &["ordinary_pct"]);

    // Every missing field is named at once, with the bad ones that were sent.
    let r = put(&app, CPR, &admin, None, &json!({"window_months": 0})).await;
    assert_422_fields(
        &r,
        &[
            "window_months",
            "conversion_share_max",
            "retention_share_min",
            "retention_min_tenure_days",
            "retention_min_purchases",
        ],
    );
    let r = put(&app, TIERS, &admin, None, &json!({})).await;
    assert_422_fields(
        &r,
        &[
            "window_months",
            "important_pct",
            "secondary_pct",
            "ordinary_pct",
        ],
    );
    let r = put(
        &app,
        TIERS,
        &admin,
        None,
        &json!({"important_pct": 60, "secondary_pct": 50}),
    )
    .await;
    assert_422_fields(&r, &["window_months", "ordinary_pct"]);

    // Wrong types name the field.
    let mut body = default_cpr();
    body["window_months"] = json!(-3);
    let r = put(&app, CPR, &admin, None, &body).await;
    assert_422_fields(&r, &["window_months"]);
    let mut body = default_cpr();
    body["retention_min_purchases"] = json!("four");
    let r = put(&app, CPR, &admin, None, &body).await;
    assert_422_fields(&r, &["retention_min_purchases"]);
    let mut body = default_tiers();
    body["important_pct"] = json!("1%");
    let r = put(&app, TIERS, &admin, None, &body).await;
    assert_422_fields(&r, &["important_pct"]);
    let r = put(&app, TIERS, &admin, None, &json!([1, 4, 15])).await;
    r.problem(422);

    for path in [CPR, TIERS] {
        let r = app.get(path, &admin).await;
        assert_eq!(r.etag_version(), Some(0), "{path}");
    }
}

async fn malformed_body_and_missing_token(app: TestApp) {
    let admin = app.admin_token().await;
    let r = app
        .send(
            app.client
                .put(app.url(CPR))
                .bearer_auth(&admin)
                .header("Content-Type", "application/json")
                .body("{\"window_months\": 12,"),
        )
        .await;
    r.problem(400);
    let r = app
        .send(
            app.client
                .put(app.url(TIERS))
                .bearer_auth(&admin)
                .header("Content-Type", "text/plain")
                .body(default_tiers().to_string()),
        )
        .await;
    r.problem(415);
    let r = put(&app, CPR, "", None, &default_cpr()).await;
    r.problem(401);
    let r = app.get(TIERS, "").await;
    r.problem(401);
}

async fn if_match_is_honoured(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, manager) = app.user_with_role("manager").await;
    // "0" matches the defaults, and "*" matches anything.
    let mut first = default_cpr();
    first["retention_min_purchases"] = json!(5);
    let r = put(&app, CPR, &admin, Some("\"0\""), &first).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(1));
    // A stale ETag is refused and changes nothing.
    let mut other = default_cpr();
    other["retention_min_purchases"] = json!(9);
    let r = put(&app, CPR, &manager, Some("\"0\""), &other).await;
    r.problem(412);
    let r = app.get(CPR, &admin).await;
    assert_eq!(r.etag_version(), Some(1));
    assert_eq!(r.body["retention_min_purchases"], json!(5));
    // The current one, weak or strong, is accepted.
    let r = put(&app, CPR, &manager, Some("W/\"1\""), &other).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(2));
    let r = put(&app, CPR, &manager, Some("*"), &default_cpr()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(3));
    let r = put(&app, CPR, &manager, Some("\"7\""), &default_cpr()).await;
    r.problem(412);
    let r = put(&app, CPR, &manager, Some("yesterday"), &default_cpr()).await;
    r.problem(400);

    // Tiers: a stale "0" once they were set.
    let mut changed = default_tiers();
    changed["ordinary_pct"] = json!(20.0);
    let r = put(&app, TIERS, &admin, Some("\"0\""), &changed).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = put(&app, TIERS, &admin, Some("\"0\""), &changed).await;
    r.problem(412);
    let r = put(&app, TIERS, &admin, Some("\"1\""), &default_tiers()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag_version(), Some(2));
}

/// `db::settings::set` (the documents the service keeps, like the tiers'
/// ranking window): when another transaction inserts the first version while
/// this one is on its way, this one's insert meets the key and it updates
/// that row instead of failing. On PostgreSQL the second writer's insert
/// waits on the first's uncommitted key, which commits only once the wait
/// shows in `pg_locks`; on SQLite the second writer waits for the first's
/// write transaction and then finds the row.
async fn a_service_document_first_written_by_two_writers_at_once_keeps_the_later(app: TestApp) {
    fn set(c: &mut patron::db::DbConn, by: &str) -> Result<(), patron::error::ApiError> {
        patron::db::settings::set(c, "race_doc", &json!({"by": by}), patron::db::now())
    }
    two_first_writers_at_once(&app, "race_doc", set).await;
}

/// The same for a user's PUT without `If-Match` (`http::settings::store`):
/// the later writer saves over the first's version, not a 412. On
/// PostgreSQL it waits at the document's advisory lock (`settings::lock`),
/// before its read, rather than at the insert.
async fn a_first_put_without_if_match_racing_another_is_not_refused(app: TestApp) {
    fn put(c: &mut patron::db::DbConn, by: &str) -> Result<(), patron::error::ApiError> {
        // User 1: the first admin, whom the store finds unchanged where it writes.
        let admin = patron::auth::AuthUser {
            id: 1,
            role: patron::domain::codes::Role::Admin,
            email: String::new(),
            token_generation: 0,
        };
        patron::http::settings::store(c, "race_put", &json!({"by": by}), None, &admin).map(drop)
    }
    two_first_writers_at_once(&app, "race_put", put).await;
}

/// Two writers of the first version of document `name`: the first inserts
/// and holds its transaction open until the second waits (for the key on
/// PostgreSQL, for the write lock on SQLite), then commits. The second must
/// succeed and its value stay, as version 2.
async fn two_first_writers_at_once(
    app: &TestApp,
    name: &'static str,
    write: fn(&mut patron::db::DbConn, &str) -> Result<(), patron::error::ApiError>,
) {
    use patron::db::{settings, write_tx};
    let db = app.open_db(3, 10).await;
    let pool = db.pool().clone();
    let backend = app.backend;
    tokio::task::spawn_blocking(move || {
        let mut first = pool.get().expect("a connection");
        let mut watcher = pool.get().expect("a connection");
        let first_pid =
            (backend == crate::helpers::Backend::Postgres).then(|| backend_pid(&mut first));
        let second = {
            let pool = pool.clone();
            move || {
                let mut conn = pool.get().expect("a connection");
                write_tx(&mut conn, |c| write(c, "second"))
            }
        };
        let handle = write_tx(&mut first, |c| {
            write(c, "first")?;
            let handle = std::thread::spawn(second);
            wait_for_a_blocked_writer(&mut watcher, first_pid);
            Ok::<_, patron::error::ApiError>(handle)
        })
        .expect("the first writer");
        handle
            .join()
            .expect("no panic")
            .expect("the second writer is not refused");
        let (value, version): (Value, i64) = settings::get(&mut first, name).expect("the document");
        assert_eq!(value, json!({"by": "second"}), "the later write stays");
        assert_eq!(version, 2, "one insert and one update");
    })
    .await
    .expect("the blocking part");
}

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The PostgreSQL backend process serving `conn`.
fn backend_pid(conn: &mut patron::db::DbConn) -> i64 {
    use diesel::RunQueryDsl;
    diesel::sql_query("SELECT CAST(pg_backend_pid() AS BIGINT) AS n")
        .get_result::<N>(conn)
        .expect("pg_backend_pid")
        .n
}

/// Returns once a session of the test's database waits for the first
/// writer's (`first_pid`) to insert into `settings` or to lock the document
/// (PostgreSQL), or after a moment (SQLite, whose waits do not show). Any
/// lock wait on the server did not do: other tests' waits beside this one
/// returned at once, and the first writer committed before the second had
/// started, so the race was not staged.
fn wait_for_a_blocked_writer(conn: &mut patron::db::DbConn, first_pid: Option<i64>) {
    use diesel::RunQueryDsl;
    let Some(first_pid) = first_pid else {
        std::thread::sleep(std::time::Duration::from_millis(300));
        return;
    };
    let sql = format!(
        "SELECT COUNT(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND {first_pid} = ANY(pg_blocking_pids(pid)) \
         AND (query LIKE 'INSERT INTO \"settings\"%' \
              OR query LIKE 'SELECT pg_advisory_xact_lock(%')"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let waiting = diesel::sql_query(&sql)
            .get_result::<N>(conn)
            .expect("pg_stat_activity")
            .n;
        if waiting > 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second writer never waited"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// PUT is idempotent: the stored document sent again keeps its version (it
/// wrote a new one each time, so an unchanged form's save made every other
/// editor's `If-Match` stale). The defaults, served as version 0, are the
/// stored document too: saving them unchanged stays version 0 (it was 1,
/// and an editor who had read them was refused with a 412).
async fn a_put_of_the_stored_document_is_no_change(app: TestApp) {
    let token = app.admin_token().await;
    for (path, field, other) in [
        (CPR, "retention_min_purchases", json!(5)),
        (TIERS, "ordinary_pct", json!(20.0)),
        ("/api/v1/settings/churn", "no_contact_days", json!(60)),
        ("/api/v1/settings/loyalty", "repeat_min_purchases", json!(3)),
    ] {
        let read = app.get(path, &token).await;
        assert_eq!(read.etag_version(), Some(0), "{path}");
        let body = read.body.clone();
        let first = put(&app, path, &token, Some("\"0\""), &body).await;
        assert_eq!(first.status, 200, "{path}: {}", first.text);
        assert_eq!(first.header("etag"), read.header("etag"), "{path}");
        assert_eq!(first.body, body, "{path}");
        // Another editor who read the defaults still saves on "0".
        let again = put(&app, path, &token, Some("\"0\""), &body).await;
        assert_eq!(again.status, 200, "{path}: {}", again.text);
        assert_eq!(again.header("etag"), read.header("etag"), "{path}");
        assert_eq!(
            app.get(path, &token).await.header("etag"),
            read.header("etag"),
            "{path}"
        );
        let mut changed = body.clone();
        changed[field] = other;
        let r = put(&app, path, &token, Some("\"0\""), &changed).await;
        assert_eq!(r.etag_version(), Some(1), "{path}: {}", r.text);
        // The stored document again keeps version 1.
        let same = put(&app, path, &token, Some("\"1\""), &changed).await;
        assert_eq!(same.status, 200, "{path}: {}", same.text);
        assert_eq!(same.header("etag"), r.header("etag"), "{path}");
        assert_eq!(same.body, r.body, "{path}");
        // A stale If-Match is still refused, changed or not.
        put(&app, path, &token, Some("\"0\""), &changed)
            .await
            .problem(412);
        put(&app, path, &token, Some("\"0\""), &body)
            .await
            .problem(412);
        // Back to the defaults is a change: they are now a saved version.
        let back = put(&app, path, &token, Some("\"1\""), &body).await;
        assert_eq!(back.etag_version(), Some(2), "{path}: {}", back.text);
    }
}

/// The CPR settings are stored, then every card is recomputed: when that
/// recompute fails (here the window's mark cannot be written) the answer is
/// a 503 that says the settings were kept and under which version. It was a
/// bare 500 for a change that was saved, and a retry with the old
/// `If-Match` a 412 the client could not explain.
async fn a_put_whose_recompute_fails_says_the_settings_were_saved(app: TestApp) {
    use crate::helpers::Backend;
    let token = app.admin_token().await;
    let mut body = app.get("/api/v1/settings/cpr", &token).await.body;
    body["retention_min_purchases"] = json!(7);
    app.execute_sql(match app.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_mark_insert BEFORE INSERT ON settings \
             WHEN NEW.name = 'stats_window' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END; \
             CREATE TRIGGER refuse_mark_update BEFORE UPDATE ON settings \
             WHEN NEW.name = 'stats_window' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION refuse_mark() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_mark BEFORE INSERT OR UPDATE ON settings \
             FOR EACH ROW WHEN (NEW.name = 'stats_window') EXECUTE FUNCTION refuse_mark();"
        }
    });
    let r = put(&app, "/api/v1/settings/cpr", &token, Some("\"0\""), &body).await;
    let problem = r.problem(503);
    assert_eq!(
        problem["type"], "/problems/stored-not-applied",
        "{}",
        r.text
    );
    assert_eq!(r.header("retry-after"), None, "resending is not the remedy");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("the settings were saved (version 1")),
        "{}",
        r.text
    );
    app.execute_sql(match app.backend {
        Backend::Sqlite => "DROP TRIGGER refuse_mark_insert; DROP TRIGGER refuse_mark_update;",
        Backend::Postgres => "DROP TRIGGER refuse_mark ON settings; DROP FUNCTION refuse_mark();",
    });
    let r = app.get("/api/v1/settings/cpr", &token).await;
    assert_eq!(r.etag_version(), Some(1), "{}", r.text);
    assert_eq!(r.body["retention_min_purchases"], 7);
}
