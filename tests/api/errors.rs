//! The error shapes across the API: every failure is a precise 4xx
//! `application/problem+json`, never plain text, a 500 or a stack trace.

use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

backend_tests!(
    unknown_routes_are_404_problems,
    bad_path_ids_are_404_problems,
    wrong_method_on_a_known_path_is_a_4xx_problem,
    malformed_json_is_400,
    json_with_trailing_garbage_is_400,
    well_formed_json_of_the_wrong_shape_is_422,
    wrong_content_type_is_415,
    json_content_type_variants_are_accepted,
    oversized_body_is_413,
    bad_query_parameters_are_400_naming_the_parameter,
    cors_preflight_from_an_unconfigured_origin_gets_no_allow_origin,
    cors_preflight_for_head_is_allowed_like_get,
    problems_share_one_shape,
    a_burst_of_garbage_never_gets_a_500,
    nul_characters_are_refused_naming_the_field,
    an_unread_chunked_body_closes_its_connection,
    a_query_value_not_in_utf8_is_refused_naming_it,
    duplicate_keys_and_integral_floats_name_the_right_field,
    every_wrong_type_and_unknown_name_is_named_at_once,
    a_number_too_large_for_any_type_is_named,
    a_body_nested_too_deep_is_400_beside_a_shallow_error,
    a_stalled_body_is_a_408_and_the_connection_closes,
    a_body_declared_over_the_limit_is_413_before_it_is_sent,
    type_errors_are_worded_for_json_not_rust,
    integers_from_2_63_to_2_64_are_out_of_range,
    refused_values_are_quoted_cut_short,
    a_body_of_thousands_of_faults_names_fifty,
);

/// Found by an outside audit: past serde_json's 127 levels, a body that
/// also had a shallow error (an unknown key, a wrong type) was a 422 calling
/// its deep part "a number too large to represent", beside that error. It is
/// the 400 of any body nested that deep (commit a1f320b), saying so.
async fn a_body_nested_too_deep_is_400_beside_a_shallow_error(app: TestApp) {
    let token = app.admin_token().await;
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    for body in [
        format!(r#"{{"zzz": 1, "kind": "individual", "name": "Deep", "tags": {deep}}}"#),
        format!(r#"{{"kind": "individual", "name": 5, "tags": {deep}}}"#),
        format!(r#"{{"kind": "individual", "name": "Deep", "zzz": {deep}}}"#),
    ] {
        let r = app
            .post_raw("/api/v1/customers", &token, "application/json", &body)
            .await;
        let problem = r.problem(400);
        assert_eq!(problem["type"], "/problems/bad-request", "{body}");
        assert_eq!(
            problem["detail"],
            "the body nests arrays and objects 128 levels deep or more: at most 127 are read",
            "{body}"
        );
    }
    // The edge: the body's object is one level, so 126 arrays more are read
    // (a 422 on the tags' type) and 127 more are not.
    for (levels, read) in [(126, true), (127, false)] {
        let deep = format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        let body = format!(r#"{{"kind": "individual", "name": "Deep", "tags": {deep}}}"#);
        let r = app
            .post_raw("/api/v1/customers", &token, "application/json", &body)
            .await;
        if read {
            assert_eq!(r.status, 422, "{levels}: {}", r.text);
        } else {
            assert_eq!(r.problem(400)["type"], "/problems/bad-request", "{levels}");
        }
    }
    let all = app.get("/api/v1/customers", &token).await;
    assert_eq!(all.body["items"], json!([]), "nothing written");
}

/// Sends the head and the start of a body, then nothing: the raw answer,
/// read until the server closes the connection.
async fn stall(app: &TestApp, head: String) -> (String, std::time::Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head sent");
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the server closes the connection")
    .expect("answer read");
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

/// A client that sends its headers and then stalls its body gets a 408
/// problem once no byte came for `BODY_IDLE_LIMIT`, and its connection is
/// closed (it was held for as long as the client liked, on the login
/// without a token too); the same through the idempotency middleware, which
/// reads the body first, and for a chunked body. (A trickled body's total
/// deadline: `http::body`'s unit tests, on a paused clock.)
async fn a_stalled_body_is_a_408_and_the_connection_closes(app: TestApp) {
    let token = app.admin_token().await;
    let login = "POST /api/v1/auth/token HTTP/1.1\r\nHost: patron\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"email\": "
        .to_string();
    let keyed = format!(
        "POST /api/v1/customers HTTP/1.1\r\nHost: patron\r\nAuthorization: Bearer {token}\r\n\
         Idempotency-Key: stall-1\r\nContent-Type: application/json\r\n\
         Content-Length: 200\r\n\r\n{{\"kind\": "
    );
    // Chunked: actix drains the rest of a chunked body whose reader is gone,
    // for as long as the client keeps sending; the connection must close.
    let chunked = "POST /api/v1/auth/token HTTP/1.1\r\nHost: patron\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         a\r\n{\"email\": \r\n"
        .to_string();
    let (a, b, c) = tokio::join!(stall(&app, login), stall(&app, keyed), stall(&app, chunked));
    for (text, waited) in [a, b, c] {
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("application/problem+json"), "{text}");
        assert!(text.contains("/problems/request-timeout"), "{text}");
        let limit = patron::http::body::BODY_IDLE_LIMIT;
        assert!(
            waited + std::time::Duration::from_secs(1) >= limit,
            "{waited:?}"
        );
    }
    let all = app.get("/api/v1/customers", &token).await;
    assert_eq!(all.body["items"], json!([]), "nothing written");
}

/// A `Content-Length` over the limit is a 413 at once (the 9 MB upload was
/// read before the 413), and the connection is closed: the body would
/// otherwise be read as the next request. (actix-http itself answers
/// `Expect: 100-continue` before any of Patron's code runs.)
async fn a_body_declared_over_the_limit_is_413_before_it_is_sent(app: TestApp) {
    let token = app.admin_token().await;
    let heads = [
        "POST /api/v1/customers/import HTTP/1.1\r\nHost: patron\r\n\
         Authorization: Bearer TOKEN\r\nContent-Type: text/csv\r\n\
         Expect: 100-continue\r\nContent-Length: 9000000\r\n\r\n",
        "POST /api/v1/customers HTTP/1.1\r\nHost: patron\r\nAuthorization: Bearer TOKEN\r\n\
         Idempotency-Key: big-1\r\nContent-Type: application/json\r\n\
         Content-Length: 300000\r\n\r\n{",
    ];
    for head in heads {
        let (text, waited) = stall(&app, head.replace("TOKEN", &token)).await;
        let text = text.trim_start_matches("HTTP/1.1 100 Continue\r\n\r\n");
        assert!(text.starts_with("HTTP/1.1 413"), "{text}");
        assert!(text.contains("/problems/payload-too-large"), "{text}");
        assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
    }
}

/// `1e400` is valid JSON, but no number type holds it: a 422 naming the
/// field (it was a 400 calling the body invalid JSON), and nothing written.
async fn a_number_too_large_for_any_type_is_named(app: TestApp) {
    let token = app.admin_token().await;
    let r = app
        .post_raw(
            "/api/v1/customers",
            &token,
            "application/json",
            r#"{"kind": "individual", "name": "Big", "tags": ["a", 1e400]}"#,
        )
        .await;
    r.problem(422);
    assert_eq!(
        r.error_codes(),
        vec![("tags[1]".to_string(), "range".to_string())],
        "{}",
        r.text
    );
    // Behind an unknown key (a second reading of the body could not hold
    // the number: it was a 400 calling the body invalid JSON).
    let r = app
        .post_raw(
            "/api/v1/customers",
            &token,
            "application/json",
            r#"{"kind": "organization", "name": "Big", "zzz": 1e400}"#,
        )
        .await;
    r.problem(422);
    assert_eq!(
        r.error_codes(),
        vec![
            ("zzz".to_string(), "unknown_field".to_string()),
            ("zzz".to_string(), "range".to_string())
        ],
        "{}",
        r.text
    );
    let all = app.get("/api/v1/customers", &token).await;
    assert_eq!(all.body["items"], json!([]), "nothing written");
}

fn sorted_fields(r: &Resp) -> Vec<String> {
    let mut fields = r.error_fields();
    fields.sort();
    fields
}

/// serde stops at the first field it cannot read; the answer still names
/// every bad parameter, body field and bulk item field, each with its code.
async fn every_wrong_type_and_unknown_name_is_named_at_once(app: TestApp) {
    let token = app.admin_token().await;
    let r = app
        .get(
            "/api/v1/customers?limit=abc&region=East&include_archived=maybe&colour=red&owner_id=me",
            &token,
        )
        .await;
    r.problem(400);
    assert_eq!(
        sorted_fields(&r),
        vec!["colour", "include_archived", "limit", "owner_id"],
        "{}",
        r.text
    );
    assert_eq!(r.code_of("colour"), "unknown_field", "{}", r.text);
    assert_eq!(r.code_of("limit"), "invalid_type", "{}", r.text);

    let r = app
        .post(
            "/api/v1/customers",
            &token,
            &json!({"kind": "individual", "name": 5, "employees": "12", "colour": "red", "tags": "vip", "email": "a@b.cn"}),
        )
        .await;
    r.problem(422);
    assert_eq!(
        sorted_fields(&r),
        vec!["colour", "employees", "name", "tags"],
        "{}",
        r.text
    );
    assert_eq!(r.code_of("colour"), "unknown_field", "{}", r.text);
    assert_eq!(r.code_of("tags"), "invalid_type", "{}", r.text);

    // Nothing was written, and a good body still reads.
    let r = app.get("/api/v1/customers", &token).await;
    assert_eq!(
        r.body["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        r.text
    );

    // Each bulk item names all of its bad fields; an integral float fills an
    // integer field as it does in a single write.
    let r = app
        .post(
            "/api/v1/customers/bulk",
            &token,
            &json!({"items": [
                {"external_id": "B-1", "kind": "individual", "name": 5, "employees": "x", "colour": 1},
                {"external_id": "B-2", "kind": "organization", "name": "Float", "employees": 12.0},
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let item = &r.body["items"][0];
    assert_eq!(item["status"], "error", "{}", r.text);
    let mut fields: Vec<&str> = item["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    fields.sort_unstable();
    assert_eq!(fields, vec!["colour", "employees", "name"], "{}", r.text);
    assert_eq!(r.body["items"][1]["status"], "created", "{}", r.text);
    let id = r.body["items"][1]["id"].as_i64().unwrap_or_default();
    let card = app.get(&format!("/api/v1/customers/{id}"), &token).await;
    assert_eq!(card.body["employees"], 12, "{}", card.text);
}

/// A key sent twice is a 422 naming it (the field was empty, the message
/// serde's); an integral float goes where an integer does, and when another
/// field is wrong beside it, that field is named (the float was blamed).
async fn duplicate_keys_and_integral_floats_name_the_right_field(app: TestApp) {
    let token = app.admin_token().await;
    let post = |body: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            app.post_raw("/api/v1/customers", token, "application/json", body)
                .await
        }
    };
    let r = post(r#"{"kind": "organization", "name": "x", "name": "y"}"#).await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["name"], "{}", r.text);
    assert_eq!(r.body["errors"][0]["code"], "duplicate", "{}", r.text);
    let r = post(
        r#"{"kind": "organization", "name": "x", "annual_revenue_cents": 5.0, "employees": "x"}"#,
    )
    .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["employees"], "{}", r.text);
    let r = post(r#"{"kind": "organization", "name": "Floats", "employees": 5.0}"#).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["employees"], 5, "{}", r.text);
    // Past 2^53 a float may have been rounded as it was read: refused (it
    // was stored as 9007199254740992); the same integer without `.0` is exact.
    let r = post(
        r#"{"kind": "organization", "name": "Big", "annual_revenue_cents": 9007199254740993.0}"#,
    )
    .await;
    r.problem(422);
    assert_eq!(
        r.code_of("annual_revenue_cents"),
        "invalid_type",
        "{}",
        r.text
    );
    let r = post(
        r#"{"kind": "organization", "name": "Big", "annual_revenue_cents": 9007199254740993}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["annual_revenue_cents"], 9_007_199_254_740_993_i64,
        "{}",
        r.text
    );
}

/// Sends `method path` with an optional raw body and content type.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: Option<String>,
) -> Resp {
    let mut req = app.client.request(method, app.url(path));
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    app.send(req).await
}

/// Nothing a client sees may betray a panic or an internal trace.
fn assert_no_leak(r: &Resp, what: &str) {
    let lower = r.text.to_ascii_lowercase();
    for needle in [
        "panicked",
        "stack backtrace",
        "rust_backtrace",
        "src/",
        ".rs:",
        "diesel",
        "thread '",
    ] {
        assert!(
            !lower.contains(needle),
            "{what}: the response leaks {needle:?}: {}",
            r.text
        );
    }
}

/// A problem document with a 4xx status.
fn assert_4xx_problem(r: &Resp, what: &str) {
    assert!(
        (400..500).contains(&r.status),
        "{what}: expected a 4xx, got {}: {}",
        r.status,
        r.text
    );
    r.problem(r.status);
    assert_no_leak(r, what);
}

async fn unknown_routes_are_404_problems(app: TestApp) {
    let token = app.admin_token().await;
    for path in [
        "/nope",
        "/api/v1/nope",
        "/api/v1/customers/1/nonsense",
        "/api/v2/customers",
        "/api/v1/",
        "/api/v1",
        "/api/v1/customers/1/contacts/1/extra",
        "/index.php",
        "/api/v1/%00",
    ] {
        for t in ["", token.as_str()] {
            let r = app.get(path, t).await;
            let body = r.problem(404);
            assert_eq!(body["type"], "/problems/not-found", "{path}");
            assert_no_leak(&r, path);
        }
    }
    let r = app.post("/api/v1/nope", &token, &json!({})).await;
    r.problem(404);
}

async fn bad_path_ids_are_404_problems(app: TestApp) {
    let token = app.admin_token().await;
    for id in [
        "abc",
        "99999999999999999999",
        "1.5",
        "0x10",
        "%20",
        "1e3",
        "-99999999999999999999",
        "１",
    ] {
        let path = format!("/api/v1/customers/{id}");
        let r = app.get(&path, &token).await;
        let body = r.problem(404);
        assert_eq!(body["type"], "/problems/not-found", "{path}");
        assert_no_leak(&r, &path);
        app.patch(&path, &token, &json!({"name": "x"}))
            .await
            .problem(404);
        app.delete(&path, &token).await.problem(404);
        app.post(&format!("{path}/restore"), &token, &json!({}))
            .await
            .problem(404);
        app.get(&format!("/api/v1/users/{id}"), &token)
            .await
            .problem(404);
    }
    // The detail names the value, in words for a JSON client, not Rust's
    // (`Path deserialize error: can not parse "abc" to a i64`).
    for (path, value) in [
        ("/api/v1/customers/abc", "abc"),
        ("/api/v1/users/1.5", "1.5"),
        ("/api/v1/customers/7/contacts/x1", "x1"),
        ("/api/v1/customers/abc/contacts/1", "abc"),
        (
            "/api/v1/webhooks/99999999999999999999",
            "99999999999999999999",
        ),
    ] {
        let r = app.get(path, &token).await;
        assert_eq!(
            r.problem(404)["detail"],
            format!("no such resource: `{value}` is not an id"),
            "{path}"
        );
    }
    // Well-formed ids that match nothing: 404 as well.
    for id in ["0", "-1", "9223372036854775807", "-9223372036854775808"] {
        app.get(&format!("/api/v1/customers/{id}"), &token)
            .await
            .problem(404);
        app.get(&format!("/api/v1/users/{id}"), &token)
            .await
            .problem(404);
    }
}

async fn wrong_method_on_a_known_path_is_a_4xx_problem(app: TestApp) {
    let token = app.admin_token().await;
    let id = app
        .create_customer(&token, json!({"kind": "individual", "name": "Method"}))
        .await
        .id();
    let cases = [
        (Method::PUT, "/api/v1/customers".to_string()),
        (Method::DELETE, "/api/v1/customers".to_string()),
        (Method::PATCH, "/api/v1/customers".to_string()),
        (Method::PUT, format!("/api/v1/customers/{id}")),
        (Method::POST, format!("/api/v1/customers/{id}")),
        (Method::GET, format!("/api/v1/customers/{id}/restore")),
        (Method::POST, "/api/v1/reference".to_string()),
        (Method::DELETE, "/api/v1/reference/tiers".to_string()),
        (Method::GET, "/api/v1/auth/token".to_string()),
        (Method::POST, "/healthz".to_string()),
    ];
    for (method, path) in cases {
        let what = format!("{method} {path}");
        let r = raw(
            &app,
            method,
            &path,
            &token,
            Some("application/json"),
            Some("{}".into()),
        )
        .await;
        assert!(
            matches!(r.status, 404 | 405),
            "{what}: {} {}",
            r.status,
            r.text
        );
        assert_4xx_problem(&r, &what);
    }
    // Nothing was changed by them.
    let r = app.get(&format!("/api/v1/customers/{id}"), &token).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["version"], 1);
}

async fn malformed_json_is_400(app: TestApp) {
    let token = app.admin_token().await;
    let id = app
        .create_customer(&token, json!({"kind": "individual", "name": "Target"}))
        .await
        .id();
    for body in [
        "",
        "{",
        "{\"kind\": \"individual\", \"name\": ",
        "{kind: individual}",
        "{'kind': 'individual', 'name': 'x'}",
        "not json",
        "[1, 2",
        "{\"name\": \"x\",}",
        "{\"name\": \"unterminated}",
        "{\"name\": \"\\ud800\"}",
        "{\"employees\": 01}",
        "{\"employees\": NaN}",
    ] {
        for (method, path) in [
            (Method::POST, "/api/v1/customers".to_string()),
            (Method::PATCH, format!("/api/v1/customers/{id}")),
        ] {
            let what = format!("{method} {path} {body:?}");
            let r = raw(
                &app,
                method,
                &path,
                &token,
                Some("application/json"),
                Some(body.into()),
            )
            .await;
            let problem = r.problem(400);
            assert_eq!(
                problem["type"], "/problems/bad-request",
                "{what}: {}",
                r.text
            );
            assert_no_leak(&r, &what);
            // Only a body nested too deep is told so (a lone surrogate was).
            assert!(
                !problem["detail"].as_str().unwrap_or("").contains("nests"),
                "{what}: {}",
                r.text
            );
        }
    }
    // Text that is not UTF-8 (a Latin-1 `é`) is named as such, in a body and
    // in a bulk item: it was "the body nests arrays and objects 128 levels
    // deep or more" (a review).
    for (path, body) in [
        ("/api/v1/customers", &b"{\"kind\": \"individual\", \"name\": \"caf\xE9\"}"[..]),
        (
            "/api/v1/customers/bulk",
            &b"{\"items\": [{\"external_id\": \"E-1\", \"kind\": \"individual\", \"name\": \"caf\xE9\"}]}"[..],
        ),
    ] {
        let req = app
            .client
            .post(app.url(path))
            .bearer_auth(&token)
            .header("Content-Type", "application/json")
            .body(body.to_vec());
        let r = app.send(req).await;
        let problem = r.problem(400);
        let detail = problem["detail"].as_str().unwrap_or("");
        assert!(detail.contains("unicode") || detail.contains("UTF-8"), "{path}: {}", r.text);
        assert!(!detail.contains("nests"), "{path}: {}", r.text);
    }
    let r = app.get("/api/v1/customers", &token).await;
    assert_eq!(
        r.body["items"].as_array().unwrap().len(),
        1,
        "a malformed body created a customer"
    );
    let r = app.get(&format!("/api/v1/customers/{id}"), &token).await;
    assert_eq!(r.body["version"], 1, "a malformed body changed a customer");
}

async fn json_with_trailing_garbage_is_400(app: TestApp) {
    let token = app.admin_token().await;
    let id = app
        .create_customer(&token, json!({"kind": "individual", "name": "Trailing"}))
        .await
        .id();
    for body in [
        "{\"kind\": \"individual\", \"name\": \"X\"} garbage",
        "{\"kind\": \"individual\", \"name\": \"X\"}{}",
        "{\"kind\": \"individual\", \"name\": \"X\"},",
        "{\"kind\": \"individual\", \"name\": \"X\"}]",
        "{\"kind\": \"individual\", \"name\": \"X\"} {\"kind\": \"individual\", \"name\": \"Y\"}",
    ] {
        let r = app
            .post_raw("/api/v1/customers", &token, "application/json", body)
            .await;
        r.problem(400);
        let r = raw(
            &app,
            Method::PATCH,
            &format!("/api/v1/customers/{id}"),
            &token,
            Some("application/json"),
            Some(body.into()),
        )
        .await;
        r.problem(400);
    }
    let r = app.get("/api/v1/customers", &token).await;
    assert_eq!(
        r.body["items"].as_array().unwrap().len(),
        1,
        "trailing garbage created a customer"
    );
    let r = app.get(&format!("/api/v1/customers/{id}"), &token).await;
    assert_eq!(r.body["name"], "Trailing");
    // Trailing whitespace is fine.
    let r = app
        .post_raw(
            "/api/v1/customers",
            &token,
            "application/json",
            "{\"kind\": \"individual\", \"name\": \"X\"}\n\t \r\n",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn well_formed_json_of_the_wrong_shape_is_422(app: TestApp) {
    let token = app.admin_token().await;
    for body in [
        "[]",
        "42",
        "\"customer\"",
        "null",
        "true",
        "{\"kind\": \"individual\", \"name\": [\"x\"]}",
    ] {
        let r = app
            .post_raw("/api/v1/customers", &token, "application/json", body)
            .await;
        let problem = r.problem(422);
        assert_eq!(problem["type"], "/problems/validation", "{body}");
        // One code for a value of the wrong JSON type, the whole body's
        // included (it was `type` there, documented nowhere).
        let field = if body.starts_with('{') { "name" } else { "" };
        assert_eq!(
            r.error_codes(),
            [(field.to_string(), "invalid_type".to_string())],
            "{body}"
        );
    }
}

async fn wrong_content_type_is_415(app: TestApp) {
    let token = app.admin_token().await;
    let id = app
        .create_customer(&token, json!({"kind": "individual", "name": "Typed"}))
        .await
        .id();
    let body = "{\"kind\": \"individual\", \"name\": \"X\"}";
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/xml"),
        Some("text/json"),
        Some("application/jsonp"),
        Some("json"),
        None,
    ] {
        let what = format!("content type {ct:?}");
        let r = raw(
            &app,
            Method::POST,
            "/api/v1/customers",
            &token,
            ct,
            Some(body.into()),
        )
        .await;
        let problem = r.problem(415);
        assert_eq!(
            problem["type"], "/problems/unsupported-media-type",
            "{what}"
        );
        let r = raw(
            &app,
            Method::PATCH,
            &format!("/api/v1/customers/{id}"),
            &token,
            ct,
            Some("{\"name\": \"Y\"}".into()),
        )
        .await;
        r.problem(415);
        let r = raw(
            &app,
            Method::POST,
            &format!("/api/v1/customers/{id}/contacts"),
            &token,
            ct,
            Some("{\"name\": \"Y\"}".into()),
        )
        .await;
        r.problem(415);
    }
    let r = app.get("/api/v1/customers", &token).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
}

async fn json_content_type_variants_are_accepted(app: TestApp) {
    let token = app.admin_token().await;
    let body = "{\"kind\": \"individual\", \"name\": \"Charset\"}";
    for ct in [
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "Application/JSON",
        "application/merge-patch+json",
    ] {
        let r = app.post_raw("/api/v1/customers", &token, ct, body).await;
        assert_eq!(r.status, 201, "{ct}: {}", r.text);
    }
    let id = app
        .create_customer(&token, json!({"kind": "individual", "name": "Patched"}))
        .await
        .id();
    let path = format!("/api/v1/customers/{id}");
    let r = raw(
        &app,
        Method::PATCH,
        &path,
        &token,
        Some("application/merge-patch+json"),
        Some("{\"region\": \"杭州\"}".into()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["region"], "杭州");
    let r = raw(
        &app,
        Method::PATCH,
        &path,
        &token,
        Some("application/json; charset=utf-8"),
        Some("{\"region\": null}".into()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["region"].is_null());
}

async fn oversized_body_is_413(app: TestApp) {
    let token = app.admin_token().await;
    let id = app
        .create_customer(&token, json!({"kind": "individual", "name": "Big"}))
        .await
        .id();
    let huge =
        json!({"kind": "individual", "name": "Huge", "notes": "a".repeat(300 * 1024)}).to_string();
    for (method, path) in [
        (Method::POST, "/api/v1/customers".to_string()),
        (Method::PATCH, format!("/api/v1/customers/{id}")),
        (Method::POST, format!("/api/v1/customers/{id}/contacts")),
    ] {
        let r = raw(
            &app,
            method.clone(),
            &path,
            &token,
            Some("application/json"),
            Some(huge.clone()),
        )
        .await;
        let problem = r.problem(413);
        assert_eq!(
            problem["type"], "/problems/payload-too-large",
            "{method} {path}"
        );
    }
    // Just over the limit is too large; well under it is parsed (and then validated).
    let just_over =
        json!({"kind": "individual", "name": "Edge", "notes": "b".repeat(256 * 1024)}).to_string();
    app.post_raw("/api/v1/customers", &token, "application/json", &just_over)
        .await
        .problem(413);
    let under =
        json!({"kind": "individual", "name": "Under", "notes": "c".repeat(200 * 1024)}).to_string();
    let r = app
        .post_raw("/api/v1/customers", &token, "application/json", &under)
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), vec!["notes"]);
}

async fn bad_query_parameters_are_400_naming_the_parameter(app: TestApp) {
    let token = app.admin_token().await;
    for (query, field) in [
        ("limit=abc", "limit"),
        ("limit=", "limit"),
        ("limit=1.5", "limit"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=-1", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("owner_id=me", "owner_id"),
        ("include_archived=maybe", "include_archived"),
        ("updated_since=yesterday", "updated_since"),
        ("funnel_stage=nope", "funnel_stage"),
        ("kind=company", "kind"),
        ("personality_type=Emotional", "personality_type"),
        ("cursor=not-a-cursor", "cursor"),
        ("sort=colour", "sort"),
    ] {
        let r = app.get(&format!("/api/v1/customers?{query}"), &token).await;
        let problem = r.problem(400);
        assert_eq!(
            problem["type"], "/problems/invalid-query",
            "{query}: {}",
            r.text
        );
        assert_eq!(r.error_fields(), vec![field], "{query}: {}", r.text);
        let e = &problem["errors"][0];
        assert!(
            e["code"].as_str().is_some_and(|c| !c.is_empty())
                && e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{query}: {e}"
        );
        assert_no_leak(&r, query);
    }
    // An unknown parameter is a 400, not silently ignored.
    let r = app.get("/api/v1/customers?colour=red", &token).await;
    r.problem(400);
    assert!(r.text.contains("colour"), "{}", r.text);
    // The same on other lists.
    let r = app.get("/api/v1/users?limit=abc", &token).await;
    r.problem(400);
    assert_eq!(r.error_fields(), vec!["limit"]);
}

async fn cors_preflight_from_an_unconfigured_origin_gets_no_allow_origin(app: TestApp) {
    // No PATRON_CORS_ORIGINS: same-origin only.
    let r = app
        .send(
            app.client
                .request(Method::OPTIONS, app.url("/api/v1/customers"))
                .header("Origin", "https://evil.example")
                .header("Access-Control-Request-Method", "POST")
                .header(
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                ),
        )
        .await;
    assert!(
        r.header("access-control-allow-origin").is_none(),
        "a random origin was allowed: {:?}",
        r.headers
    );
    assert!(
        (400..500).contains(&r.status),
        "the preflight is refused: {} {}",
        r.status,
        r.text
    );
    assert_no_leak(&r, "preflight");
    // Note: actix-cors answers this refusal itself, as a plain-text 400 (not a
    // problem document); reported to the lead rather than asserted here.

    // A plain request from that origin is served (the browser enforces CORS), without CORS headers.
    let token = app.admin_token().await;
    let r = app
        .send(
            app.client
                .get(app.url("/api/v1/reference"))
                .bearer_auth(&token)
                .header("Origin", "https://evil.example"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.header("access-control-allow-origin").is_none(),
        "{:?}",
        r.headers
    );
}

async fn problems_share_one_shape(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, viewer) = app.user_with_role("viewer").await;
    let id = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Shape"}))
        .await
        .id();
    let path = format!("/api/v1/customers/{id}");
    let cases: Vec<(Resp, u16, &str)> = vec![
        (
            app.post_raw("/api/v1/customers", &admin, "application/json", "{")
                .await,
            400,
            "bad-request",
        ),
        (
            app.get("/api/v1/customers?limit=x", &admin).await,
            400,
            "invalid-query",
        ),
        (app.get("/api/v1/customers", "").await, 401, "unauthorized"),
        (
            app.patch(&path, &viewer, &json!({"name": "v"})).await,
            403,
            "forbidden",
        ),
        (
            app.get("/api/v1/customers/424242", &admin).await,
            404,
            "not-found",
        ),
        (
            app.patch_if_match(&path, &admin, "\"7\"", &json!({"name": "x"}))
                .await,
            412,
            "precondition-failed",
        ),
        (
            app.post_raw("/api/v1/customers", &admin, "text/plain", "x")
                .await,
            415,
            "unsupported-media-type",
        ),
        (
            app.post("/api/v1/customers", &admin, &json!({"kind": "individual"}))
                .await,
            422,
            "validation",
        ),
    ];
    for (r, status, slug) in cases {
        let body = r.problem(status);
        assert_eq!(body["type"], format!("/problems/{slug}"), "{}", r.text);
        assert!(!body["title"].as_str().unwrap().is_empty());
        assert!(!body["detail"].as_str().unwrap().is_empty());
        assert_no_leak(&r, slug);
        if slug == "validation" || slug == "invalid-query" {
            let errors = body["errors"].as_array().unwrap();
            assert!(!errors.is_empty());
            for e in errors {
                assert!(
                    e["field"].is_string() && e["code"].is_string() && e["message"].is_string(),
                    "{e}"
                );
            }
        } else {
            assert!(
                body.get("errors")
                    .is_none_or(|e| e.as_array().is_some_and(|a| a.is_empty())),
                "{}",
                r.text
            );
        }
    }
}

/// Hand-picked hostile inputs: every answer is below 500, without a leak.
async fn a_burst_of_garbage_never_gets_a_500(app: TestApp) {
    let token = app.admin_token().await;
    let id = app
        .create_customer(
            &token,
            json!({"kind": "organization", "name": "Victim", "email": "v@example.com"}),
        )
        .await
        .id();
    let deep_array = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(5000), "}".repeat(5000));
    let bodies: Vec<String> = vec![
        json!({"kind": "individual", "name": "a\u{0000}b"}).to_string(),
        json!({"kind": "individual", "name": "ok", "notes": "nul\u{0000}inside", "tags": ["t\u{0000}"]}).to_string(),
        json!({"kind": "individual", "name": "ok", "email": "a\u{0000}@example.com"}).to_string(),
        json!({"kind": "individual", "name": "ok", "external_id": "\u{0000}"}).to_string(),
        json!({"kind": "individual", "name": "😀🇨🇳\u{202e}\u{200b}ﷺ𝕏"}).to_string(),
        json!({"kind": "individual", "name": "\u{feff}", "region": "\u{fffd}"}).to_string(),
        "{\"kind\": \"individual\", \"name\": \"big\", \"employees\": 1e400}".into(),
        "{\"kind\": \"individual\", \"name\": \"big\", \"employees\": 99999999999999999999999999}".into(),
        "{\"kind\": \"individual\", \"name\": \"big\", \"wallet_size_cents\": 9223372036854775807, \"annual_revenue_cents\": 9223372036854775807}".into(),
        "{\"kind\": \"individual\", \"name\": \"big\", \"wallet_size_cents\": -9223372036854775808}".into(),
        "{\"kind\": \"individual\", \"name\": \"neg\", \"owner_id\": -1}".into(),
        "{\"kind\": \"individual\", \"name\": \"max\", \"owner_id\": 9223372036854775807}".into(),
        "{\"kind\": \"individual\", \"name\": \"src\", \"acquisition_source\": \"referral\", \"source_customer_id\": -9223372036854775808}".into(),
        "{\"kind\": \"individual\", \"name\": \"float\", \"employees\": 1.5}".into(),
        format!("{{\"kind\": \"individual\", \"name\": \"deep\", \"tags\": {deep_array}}}"),
        deep_array.clone(),
        deep_object,
        json!({"kind": "individual", "name": "tags", "tags": vec!["x"; 5000]}).to_string(),
        json!({"kind": "individual", "name": "n".repeat(100_000)}).to_string(),
        json!({"kind": "individual", "name": "dates", "birthday": "0000-00-00"}).to_string(),
        json!({"kind": "individual", "name": "dates", "birthday": "+275760-09-13"}).to_string(),
        json!({"kind": "individual", "name": "dates", "birthday": "9999-12-31"}).to_string(),
        json!({"kind": "individual", "name": "sql'; DROP TABLE customers; --", "email": "x@y.z'--"}).to_string(),
        json!({"kind": ["individual"], "name": {"$ne": null}}).to_string(),
        json!({"kind": "individual", "name": "dup", "name ": "x"}).to_string(),
        "{\"kind\": \"individual\", \"name\": \"dup\", \"name\": \"twice\"}".into(),
        json!({"id": -5, "version": 999, "created_at": "x"}).to_string(),
        json!({"kind": "individual", "name": "cur", "currency": "€€€"}).to_string(),
        json!({"kind": null, "name": null, "tags": null, "funnel_stage": null}).to_string(),
        "\u{0}".into(),
        // Shaped like a contact or a patch, so that they reach the database.
        json!({"name": "nul\u{0000}name", "notes": "x\u{0000}"}).to_string(),
        json!({"name": "ok", "phone": "+86 \u{0000}138 0013 8000"}).to_string(),
        json!({"name": "😀\u{202e}\u{0301}", "title": "\u{10ffff}"}).to_string(),
    ];
    let mut seen = 0;
    for body in &bodies {
        let short: String = body.chars().take(80).collect();
        for (method, path) in [
            (Method::POST, "/api/v1/customers".to_string()),
            (Method::PATCH, format!("/api/v1/customers/{id}")),
            (Method::PATCH, "/api/v1/customers/-1".to_string()),
            (Method::POST, format!("/api/v1/customers/{id}/contacts")),
        ] {
            let what = format!("{method} {path} {short}");
            let r = raw(
                &app,
                method,
                &path,
                &token,
                Some("application/json"),
                Some(body.clone()),
            )
            .await;
            assert!(r.status < 500, "{what}: {} {}", r.status, r.text);
            if r.status >= 400 {
                assert_4xx_problem(&r, &what);
            }
            assert_no_leak(&r, &what);
            seen += 1;
        }
    }
    let long_q = "q".repeat(5000);
    let queries = [
        "q=%00",
        "q=a%00b",
        "q=%25%25%25",
        "q=_",
        "q=%5C",
        "q=%27%3B%20DROP%20TABLE%20customers%3B--",
        "q=%FF%FE%FD",
        "q=%F0%9F%98%80",
        long_q.as_str(),
        "limit=-9223372036854775808",
        "limit=9223372036854775807",
        "owner_id=-1",
        "owner_id=99999999999999999999",
        "updated_since=9999-99-99T99:99:99Z",
        "updated_since=%2B275760-09-13T00:00:00Z",
        "updated_since=1970-01-01T00:00:00%2B99:00",
        "tag=%00",
        "region=%00",
        "sort=-",
        "sort=",
        "sort=--name",
        "cursor=",
        "cursor=%00",
        "cursor=eyJzIjoiaWQiLCJrIjpudWxsLCJpZCI6LTF9",
        "cursor=eyJzIjoiaWQiLCJrIjoiYWJjIiwiaWQiOjF9",
        "cursor=eyJzIjoibmFtZSIsImsiOjEsImlkIjoxfQ",
        "limit=1&limit=2",
        "%00=1",
        "&&&==&",
        "include_archived=1",
    ];
    for query in queries {
        let path = format!("/api/v1/customers?{query}");
        let short: String = path.chars().take(100).collect();
        let r = app.get(&path, &token).await;
        assert!(r.status < 500, "{short}: {} {}", r.status, r.text);
        if r.status >= 400 {
            assert_4xx_problem(&r, &short);
        } else {
            assert!(r.body["items"].is_array(), "{short}: {}", r.text);
        }
        assert_no_leak(&r, &short);
        seen += 1;
    }
    assert!(seen > 100);

    // The service is still healthy and the victim intact (well-formed changes aside).
    let r = app.get("/readyz", "").await;
    assert_eq!(r.status, 200);
    let r = app.get(&format!("/api/v1/customers/{id}"), &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.get("/api/v1/customers?limit=500", &token).await;
    assert_eq!(r.status, 200, "the customers table survived: {}", r.text);
}

/// PostgreSQL cannot store U+0000: it is refused at the edge on both backends,
/// naming the field, instead of failing in the database.
async fn nul_characters_are_refused_naming_the_field(app: TestApp) {
    let token = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/customers",
            &token,
            &json!({"kind": "individual", "name": "a\u{0000}b", "tags": ["ok", "t\u{0000}"]}),
        )
        .await;
    let body = r.problem(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["name", "tags[1]"], "{}", r.text);
    assert_eq!(body["errors"][0]["code"], "invalid_character");

    let id = app
        .create_customer(&token, json!({"kind": "organization", "name": "Clean"}))
        .await
        .id();
    let r = app
        .patch(
            &format!("/api/v1/customers/{id}"),
            &token,
            &json!({"notes": "x\u{0000}"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), vec!["notes"]);
    let r = app
        .post(
            &format!("/api/v1/customers/{id}/contacts"),
            &token,
            &json!({"name": "\u{0000}"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), vec!["name"]);
    let r = app.get(&format!("/api/v1/customers/{id}"), &token).await;
    assert_eq!(r.body["version"], 1);

    // An escaped backslash followed by "u0000" is ordinary text.
    let r = app
        .post_raw(
            "/api/v1/customers",
            &token,
            "application/json",
            r#"{"kind": "individual", "name": "C:\\u0000"}"#,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["name"], "C:\\u0000");

    // The other control characters too, raw or escaped, in strings, arrays
    // and nested items; tab, line feed and carriage return are text.
    let r = app
        .post_raw(
            "/api/v1/customers",
            &token,
            "application/json",
            "{\"kind\": \"individual\", \"name\": \"Bell\\u0007\", \"company\": \"esc\\u001b[2J\", \
             \"notes\": \"form\\ffeed\", \"tags\": [\"ok\", \"c1\u{85}\", \"del\u{7f}\"]}",
        )
        .await;
    r.problem(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        vec!["company", "name", "notes", "tags[1]", "tags[2]"],
        "{}",
        r.text
    );
    assert!(
        r.error_codes()
            .iter()
            .all(|(_, code)| code == "invalid_character"),
        "{}",
        r.text
    );
    let r = app
        .create_customer(
            &token,
            json!({"kind": "individual", "name": "Lines", "notes": "one\ttab\r\ntwo"}),
        )
        .await;
    assert_eq!(r.body["notes"], "one\ttab\r\ntwo", "{}", r.text);

    // In query parameters: a 400 naming the parameter.
    for (query, field) in [
        ("q=%00", "q"),
        ("q=a%00b", "q"),
        ("region=%00", "region"),
        ("tag=x%00", "tag"),
    ] {
        let r = app.get(&format!("/api/v1/customers?{query}"), &token).await;
        r.problem(400);
        assert_eq!(r.error_fields(), vec![field], "{query}: {}", r.text);
    }
    // On an operation without parameters too: a name that is not UTF-8
    // (GBK's 中) is named as sent, not as U+FFFD.
    let card = format!("/api/v1/customers/{id}");
    for (query, field, code) in [
        ("%D6%D0=1", "%D6%D0", "invalid_character"),
        ("a%00=1", "a\\u0000", "invalid_character"),
        ("x=1", "x", "unknown_field"),
    ] {
        let r = app.get(&format!("{card}?{query}"), &token).await;
        r.problem(400);
        assert_eq!(r.error_fields(), vec![field], "{query}: {}", r.text);
        assert_eq!(r.error_codes()[0].1, code, "{query}: {}", r.text);
    }
}

/// HEAD is served wherever GET is, so a browser script may send it too: its
/// preflight was refused (400) while GET's was allowed.
async fn cors_preflight_for_head_is_allowed_like_get(app: TestApp) {
    let origin = "https://crm.example.com";
    let other = app
        .start_another(|c| c.cors_origins = vec![origin.to_string()])
        .await;
    for method in ["GET", "HEAD"] {
        let r = app
            .send(
                app.client
                    .request(
                        Method::OPTIONS,
                        format!("{}/api/v1/customers/1", other.address),
                    )
                    .header("Origin", origin)
                    .header("Access-Control-Request-Method", method)
                    .header("Access-Control-Request-Headers", "authorization"),
            )
            .await;
        assert_eq!(r.status, 200, "{method}: {}", r.text);
        assert_eq!(
            r.header("access-control-allow-origin").as_deref(),
            Some(origin)
        );
        let allowed = r.header("access-control-allow-methods").unwrap_or_default();
        assert!(allowed.contains(method), "{method}: {allowed}");
    }
    // The HEAD itself is answered with the origin allowed.
    let token = app.admin_token().await;
    let id = app
        .create_customer(&token, json!({"kind": "individual", "name": "Head"}))
        .await
        .id();
    let r = app
        .send(
            app.client
                .head(format!("{}/api/v1/customers/{id}", other.address))
                .bearer_auth(&token)
                .header("Origin", origin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some(origin)
    );
    other.stop().await;
}

/// With configured origins, a preflight from one of them is answered and the
/// headers scripts need are exposed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_configured_origins() {
    use patron::config::Config;
    use patron::startup::Application;

    let dir = std::env::temp_dir().join(format!("patron-test-cors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = Config::for_database(&format!("sqlite://{}", dir.join("patron.db").display()));
    config.pool_size = 2;
    config.cors_origins = vec!["https://app.example".into()];
    let app = Application::build(config).await.expect("the app starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    let server = app.server();
    let handle = server.handle();
    tokio::spawn(server);
    let client = reqwest::Client::new();

    let r = client
        .request(Method::OPTIONS, format!("{base}/api/v1/customers"))
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "PATCH")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type, if-match",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let h = r.headers().clone();
    assert_eq!(
        h.get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example")
    );
    let methods = h
        .get("access-control-allow-methods")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_uppercase();
    assert!(methods.contains("PATCH"), "{methods}");
    for other in ["TRACE", "CONNECT"] {
        assert!(!methods.contains(other), "{other} allowed: {methods}");
    }

    // An actual request exposes ETag and Location to scripts.
    let r = client
        .get(format!("{base}/api/v1/customers/1"))
        .header("Origin", "https://app.example")
        .send()
        .await
        .unwrap();
    let h = r.headers().clone();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        h.get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example")
    );
    let exposed = h
        .get("access-control-expose-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in [
        "etag",
        "location",
        "retry-after",
        "idempotent-replayed",
        "www-authenticate",
        "content-disposition",
    ] {
        assert!(exposed.contains(name), "{name} is not exposed: {exposed}");
    }

    // Another origin still is not allowed.
    let r = client
        .request(Method::OPTIONS, format!("{base}/api/v1/customers"))
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    handle.stop(true).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Type errors speak of JSON and RFC 3339, not of Rust types and parser
/// states (`expected i64`, `invalid digit found in string`); a date that is
/// not in the calendar is a bad value, not a bad type.
async fn type_errors_are_worded_for_json_not_rust(app: TestApp) {
    let token = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/customers",
            &token,
            &json!({"kind": "individual", "name": "Wording", "owner_id": "abc",
                    "employees": 1.5, "tags": "vip", "birthday": "2000-02-30"}),
        )
        .await;
    r.problem(422);
    let message = |field: &str| {
        r.body["errors"]
            .as_array()
            .and_then(|errors| errors.iter().find(|e| e["field"] == field))
            .and_then(|e| e["message"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(r.code_of("owner_id"), "invalid_type", "{}", r.text);
    assert_eq!(
        message("owner_id"),
        "expected an integer, got string \"abc\""
    );
    assert!(
        message("employees").contains("expected an integer, got number `1.5`"),
        "{}",
        r.text
    );
    assert!(message("tags").contains("expected an array"), "{}", r.text);
    assert_eq!(r.code_of("birthday"), "invalid_value", "{}", r.text);
    assert!(message("birthday").contains("calendar"), "{}", r.text);
    let r = app
        .post(
            "/api/v1/customers",
            &token,
            &json!({"kind": "individual", "name": "Wording", "birthday": "yesterday"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.code_of("birthday"), "invalid_type", "{}", r.text);
    assert!(r.text.contains("RFC 3339"), "{}", r.text);
    // An integer beyond 64 bits is out of range, not "a number".
    let r = app
        .post_raw(
            "/api/v1/customers",
            &token,
            "application/json",
            r#"{"kind": "individual", "name": "Big", "annual_revenue_cents": 99999999999999999999}"#,
        )
        .await;
    r.problem(422);
    assert_eq!(r.code_of("annual_revenue_cents"), "range", "{}", r.text);
    assert!(!r.text.contains("1e+20"), "{}", r.text);
    assert!(!r.text.contains("invalid characters"), "{}", r.text);

    let r = app
        .get(
            "/api/v1/customers?limit=ten&updated_since=2026-02-30T00:00:00Z&never_contacted=maybe",
            &token,
        )
        .await;
    r.problem(400);
    assert_eq!(r.code_of("limit"), "invalid_type", "{}", r.text);
    assert_eq!(r.code_of("updated_since"), "invalid_value", "{}", r.text);
    for words in ["expected an integer", "calendar", "expected true or false"] {
        assert!(r.text.contains(words), "{words}: {}", r.text);
    }
    for rust in ["i64", "invalid digit", "out of range", "`true` or `false`"] {
        assert!(!r.text.contains(rust), "{rust}: {}", r.text);
    }
}

/// Found by a review: serde_json reads a whole number from 2^63 to 2^64 - 1
/// as a u64, and an int64 field answered `invalid_value` "expected an
/// integer, got integer"; above 2^64 (read as a float) it was `range`. Every
/// int64 field, in a body, a PATCH and a bulk item, now says `range`.
async fn integers_from_2_63_to_2_64_are_out_of_range(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "organization", "name": "Big ints"}))
        .await;
    let id = c.id();
    for n in [
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "-18446744073709551616",
    ] {
        let r = app
            .post_raw(
                "/api/v1/account-plans",
                &token,
                "application/json",
                &format!(
                    r#"{{"customer_id": {n}, "objective": "x", "period_start": "2026-01-01",
                        "period_end": "2026-02-01", "budget_cents": {n}}}"#
                ),
            )
            .await;
        r.problem(422);
        for field in ["budget_cents", "customer_id"] {
            assert_eq!(r.code_of(field), "range", "{n}: {}", r.text);
        }
        assert!(!r.text.contains("got integer"), "{n}: {}", r.text);
        let r = app
            .send(
                app.client
                    .patch(app.url(&format!("/api/v1/customers/{id}")))
                    .bearer_auth(&token)
                    .header("Content-Type", "application/json")
                    .body(format!(
                        r#"{{"annual_revenue_cents": {n}, "employees": {n}}}"#
                    )),
            )
            .await;
        r.problem(422);
        assert_eq!(
            r.code_of("annual_revenue_cents"),
            "range",
            "{n}: {}",
            r.text
        );
        let r = app
            .post_raw(
                "/api/v1/transactions/bulk",
                &token,
                "application/json",
                &format!(
                    r#"{{"items": [{{"external_id": "BIG-1", "customer_id": {id},
                        "amount_cents": {n}, "product": "x"}}]}}"#
                ),
            )
            .await;
        assert_eq!(r.body["items"][0]["status"], "error", "{n}: {}", r.text);
        assert_eq!(
            r.body["items"][0]["errors"],
            json!([{"field": "amount_cents", "code": "range",
                    "message": "the integer is out of range (-9223372036854775808 to 9223372036854775807)"}]),
            "{n}: {}",
            r.text
        );
    }
}

/// A query value percent-encoded in another encoding than UTF-8 (GBK
/// `%D6%D0` for 中, as an old client sends it) was decoded to U+FFFD and
/// looked up as such: `?external_id=` found no card and the client made a
/// second one (a review). It is a 400 naming the parameter, on the list and
/// the export; UTF-8 (and U+FFFD itself, sent encoded) reads as before.
async fn a_query_value_not_in_utf8_is_refused_naming_it(app: TestApp) {
    let token = app.admin_token().await;
    for path in [
        "/api/v1/customers?external_id=%D6%D0-1001",
        "/api/v1/customers/export?external_id=%D6%D0-1001",
        "/api/v1/customers?region=ok&q=%FF",
    ] {
        let r = app.get(path, &token).await;
        let body = r.problem(400);
        assert_eq!(
            body["errors"][0]["code"], "invalid_character",
            "{path}: {}",
            r.text
        );
        let field = body["errors"][0]["field"].as_str().unwrap_or_default();
        assert!(["external_id", "q"].contains(&field), "{path}: {}", r.text);
    }
    // Each name once, at most 50 of them.
    let many: Vec<String> = (0..80).map(|i| format!("p{i}=%FF&p{i}=%FE")).collect();
    let r = app
        .get(&format!("/api/v1/customers?{}", many.join("&")), &token)
        .await;
    r.problem(400);
    assert_eq!(r.error_fields().len(), 50, "{}", r.text);
    for path in [
        "/api/v1/customers?external_id=%E4%B8%AD-1001",
        "/api/v1/customers?q=%EF%BF%BD",
        "/api/v1/customers?q=a+b",
    ] {
        let r = app.get(path, &token).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
}

/// A chunked body left unread (a GET, a 401 before any body is read) was
/// drained by actix with no timer running, for as long as the client kept
/// it open: a connection held for good, no token needed (a review). The
/// answer comes, then the connection closes.
async fn an_unread_chunked_body_closes_its_connection(app: TestApp) {
    let health = "GET /healthz HTTP/1.1\r\nHost: patron\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n"
        .to_string();
    let anonymous = "POST /api/v1/customers HTTP/1.1\r\nHost: patron\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         a\r\n{\"kind\": \r\n"
        .to_string();
    let (a, b) = tokio::join!(stall(&app, health), stall(&app, anonymous));
    for ((text, waited), status) in [(a, "200"), (b, "401")] {
        assert!(text.starts_with(&format!("HTTP/1.1 {status}")), "{text}");
        assert!(
            waited < std::time::Duration::from_secs(10),
            "closed after {waited:?}: {text}"
        );
    }
}

/// A review: a refused value was quoted whole in its error, so a code or a
/// CSV cell of megabytes made an error of megabytes (each invisible
/// character escaped to 8). Now 60 characters and an ellipsis.
async fn refused_values_are_quoted_cut_short(app: TestApp) {
    let token = app.admin_token().await;
    let long = "\u{200b}".repeat(50_000);
    let r = app
        .post(
            "/api/v1/customers",
            &token,
            &json!({"kind": long, "name": "Long"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["kind"], "{}", r.text);
    let message = r.body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("…") && message.len() < 1_000, "{message}");

    // A type error quotes serde's words, which hold the whole string.
    let body = json!({"kind": "organization", "name": "Long", "employees": "9".repeat(100_000)});
    let r = app.post("/api/v1/customers", &token, &body).await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["employees"], "{}", r.text);
    let message = r.body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("…") && message.len() < 1_000, "{message}");

    let csv = format!(
        "external_id,name,version\nQ-1,Quoted,{}\n",
        "x".repeat(200_000)
    );
    let r = app
        .post_raw("/api/v1/customers/import", &token, "text/csv", &csv)
        .await;
    assert_eq!(r.status, 200, "{}", &r.text[..r.text.len().min(500)]);
    assert_eq!(
        r.body["items"][0]["errors"][0]["field"],
        "version",
        "{}",
        &r.text[..r.text.len().min(500)]
    );
    assert!(r.text.len() < 2_000, "{} bytes", r.text.len());
}

/// A review: a body's content errors (arrays in arrays, control
/// characters) were named without a cap, and a filter compared them
/// pairwise: `{"x": [[], [], …]}` of 87,000 arrays (300 bytes gzipped, no
/// token needed at /auth/token) held a worker's thread for ~28 s and
/// answered 8 MB. At most 50 are named, as the README says.
async fn a_body_of_thousands_of_faults_names_fifty(app: TestApp) {
    let token = app.admin_token().await;
    let arrays = format!("{{\"x\": [{}[]]}}", "[], ".repeat(20_000));
    let controls = format!(
        "{{\"kind\": \"individual\", \"name\": \"N\", \"tags\": [{}\"\\u0001\"]}}",
        "\"\\u0001\", ".repeat(5_000)
    );
    for (path, token, body) in [
        ("/api/v1/auth/token", "", &arrays),
        ("/api/v1/customers", token.as_str(), &arrays),
        ("/api/v1/customers", token.as_str(), &controls),
    ] {
        let started = std::time::Instant::now();
        let r = app.post_raw(path, token, "application/json", body).await;
        r.problem(422);
        let errors = r.body["errors"].as_array().map_or(0, Vec::len);
        assert_eq!(errors, 50, "{path}: {}", &r.text[..r.text.len().min(300)]);
        // Not a timed test: a bound no machine misses unless the work is
        // quadratic again (20,000 faults took seconds).
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{path}"
        );
    }
    // In a bulk item too.
    let mut item: serde_json::Value = serde_json::from_str(&arrays).unwrap_or_default();
    item["external_id"] = json!("E-1");
    let r = app
        .post("/api/v1/customers/bulk", &token, &json!({"items": [item]}))
        .await;
    assert_eq!(r.status, 200, "{}", &r.text[..r.text.len().min(300)]);
    let errors = r.body["items"][0]["errors"].as_array().map_or(0, Vec::len);
    assert_eq!(errors, 50, "{}", &r.text[..r.text.len().min(300)]);
}
