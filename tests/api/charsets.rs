//! Character sets of bodies: a CSV import in the charset its `Content-Type`
//! names (GBK from Excel on a Chinese Windows), the export in GB18030 on
//! request, JSON only in UTF-8.

use encoding_rs::{GB18030, GBK};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    an_import_is_read_in_its_declared_charset,
    an_import_in_an_unknown_charset_is_415,
    bytes_the_charset_does_not_define_are_a_400_naming_the_line,
    the_export_answers_in_gb18030_on_request,
    an_unknown_export_charset_is_a_400_beside_the_other_bad_parameters,
    json_bodies_are_utf8_only,
    a_json_body_may_start_with_a_byte_order_mark,
    an_idempotency_key_covers_what_the_body_is_declared_to_be,
);

/// Every card's name, in code point order (the engines' collations differ).
async fn names(app: &TestApp, token: &str) -> Vec<String> {
    let list = app.get("/api/v1/customers", token).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let mut names: Vec<String> = list.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|c| c["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn an_import_is_read_in_its_declared_charset(app: TestApp) {
    let token = app.admin_token().await;
    let csv = "external_id,kind,name,region\nG-1,individual,王芳,杭州\n";
    let (gbk, _, unmappable) = GBK.encode(csv);
    assert!(!unmappable);
    // 王 is CD F5 in GBK: the file really is not UTF-8.
    assert!(gbk.windows(2).any(|w| w == b"\xCD\xF5"));
    for content_type in ["text/csv; charset=gbk", "text/csv;charset=\"GBK\""] {
        let r = app
            .post_bytes(
                "/api/v1/customers/import",
                &token,
                content_type,
                gbk.to_vec(),
            )
            .await;
        assert_eq!(r.status, 200, "{content_type}: {}", r.text);
        assert!(
            ["created", "unchanged"]
                .contains(&r.body["items"][0]["status"].as_str().unwrap_or_default()),
            "{}",
            r.text
        );
    }
    // GB18030 holds what GBK cannot: a supplementary-plane character.
    let csv = "external_id,kind,name\nG-2,individual,𠀀记\n";
    let (gb18030, _, _) = GB18030.encode(csv);
    let r = app
        .post_bytes(
            "/api/v1/customers/import",
            &token,
            "text/csv; charset=gb18030",
            gb18030.to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A byte order mark names the encoding and wins over the label.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice("external_id,kind,name\nG-3,individual,李雷\n".as_bytes());
    let r = app
        .post_bytes(
            "/api/v1/customers/import",
            &token,
            "text/csv; charset=gbk",
            bom,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(names(&app, &token).await, ["李雷", "王芳", "𠀀记"]);
    let card = app
        .get("/api/v1/customers?q=%E7%8E%8B%E8%8A%B3", &token)
        .await;
    assert_eq!(card.body["items"][0]["region"], "杭州", "{}", card.text);

    // The same GBK file without its charset is not UTF-8: a 400, nothing written.
    let (gbk, _, _) = GBK.encode("external_id,kind,name\nG-4,individual,韩梅梅\n");
    let r = app
        .post_bytes("/api/v1/customers/import", &token, "text/csv", gbk.to_vec())
        .await;
    r.problem(400);
    assert_eq!(names(&app, &token).await.len(), 3);
}

async fn an_import_in_an_unknown_charset_is_415(app: TestApp) {
    let token = app.admin_token().await;
    let csv = b"external_id,kind,name\nU-1,individual,x\n".to_vec();
    // iso-2022-cn is a label the Encoding Standard maps to "replacement".
    for charset in ["klingon", "iso-2022-cn", ""] {
        let r = app
            .post_bytes(
                "/api/v1/customers/import",
                &token,
                &format!("text/csv; charset={charset}"),
                csv.clone(),
            )
            .await;
        let problem = r.problem(415);
        assert_eq!(problem["type"], "/problems/unsupported-media-type");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(&format!("{charset:?}")), "{detail}");
    }
    let r = app
        .send(
            app.client
                .post(app.url("/api/v1/customers/import"))
                .bearer_auth(&token)
                .header("Content-Type", "text/csv; charset=gbk")
                .header("Content-Type", "text/csv; charset=big5")
                .body(csv.clone()),
        )
        .await;
    r.problem(400);
    assert!(names(&app, &token).await.is_empty());
}

async fn bytes_the_charset_does_not_define_are_a_400_naming_the_line(app: TestApp) {
    let token = app.admin_token().await;
    let (gbk, _, _) = GBK.encode("external_id,kind,name\nB-1,individual,王芳\n");
    let mut body = gbk.into_owned();
    body.extend_from_slice(b"B-2,individual,\x80\xFF\n");
    let r = app
        .post_bytes(
            "/api/v1/customers/import",
            &token,
            "text/csv; charset=gbk",
            body,
        )
        .await;
    let problem = r.problem(400);
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("GBK") && detail.contains("line 3"),
        "{detail}"
    );
    assert!(names(&app, &token).await.is_empty(), "nothing written");
    // UTF-16 (a Windows export, CRLF): its line ends are two bytes each and
    // 上 (U+4E0A) holds a 0x0A byte; the bytes were counted, naming line 6.
    let utf16 =
        |text: &str| -> Vec<u8> { text.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let mut body = utf16("external_id,kind,name\r\nB-1,individual,上海\r\nB-2,individual,");
    body.extend_from_slice(&[0x00, 0xD8]); // a lone high surrogate
    body.extend(utf16(",\r\n"));
    let r = app
        .post_bytes(
            "/api/v1/customers/import",
            &token,
            "text/csv; charset=utf-16le",
            body,
        )
        .await;
    let problem = r.problem(400);
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("line 3 "), "{detail}");
    assert!(names(&app, &token).await.is_empty(), "nothing written");
}

async fn the_export_answers_in_gb18030_on_request(app: TestApp) {
    let token = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/customers",
            &token,
            &json!({"kind": "organization", "name": "杭州华康贸易有限公司", "external_id": "X-1",
                    "notes": "第一行, \"引号\"\n😀"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The one character the Encoding Standard's GB18030 encoder refuses
    // (private use U+E5E5) must not fail or cut the export.
    let r = app
        .post(
            "/api/v1/customers",
            &token,
            &json!({"kind": "individual", "name": "PUA \u{E5E5}", "external_id": "X-2"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let export = app
        .client
        .get(app.url("/api/v1/customers/export?charset=gb18030&sort=name"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("export");
    assert_eq!(export.status(), 200);
    assert_eq!(
        export
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/csv; charset=gb18030")
    );
    let bytes = export.bytes().await.expect("body").to_vec();
    assert!(std::str::from_utf8(&bytes).is_err(), "not UTF-8 any more");
    // 杭 is BA BC in GBK and GB18030; U+E5E5 is written A3 A0 (GB18030-2005).
    assert!(bytes.windows(2).any(|w| w == b"\xBA\xBC"));
    assert!(bytes.windows(2).any(|w| w == b"\xA3\xA0"));
    let (text, _, malformed) = GB18030.decode(&bytes);
    assert!(!malformed);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a record")).collect();
    assert_eq!(rows.len(), 2, "{text}");
    let at = |name: &str| headers.iter().position(|h| h == name).expect("column");
    let row = rows
        .iter()
        .find(|r| &r[at("external_id")] == "X-1")
        .expect("X-1 exported");
    assert_eq!(&row[at("name")], "杭州华康贸易有限公司");
    assert_eq!(&row[at("notes")], "第一行, \"引号\"\n😀");

    // It re-imports as is when its charset is named.
    let r = app
        .post_bytes(
            "/api/v1/customers/import",
            &token,
            "text/csv; charset=gb18030",
            bytes,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let statuses = [&r.body["items"][0]["status"], &r.body["items"][1]["status"]];
    assert!(statuses.contains(&&json!("unchanged")), "{}", r.text);

    // Labels are read as charset labels: any case, aliases; GBK is answered
    // in GB18030, its superset. The default stays UTF-8.
    for (label, answered) in [
        ("utf-8", "utf-8"),
        ("UTF8", "utf-8"),
        ("GBK", "gb18030"),
        ("GB18030", "gb18030"),
    ] {
        let r = app
            .get(&format!("/api/v1/customers/export?charset={label}"), &token)
            .await;
        assert_eq!(r.status, 200, "{label}: {}", r.text);
        assert_eq!(
            r.header("content-type").unwrap_or_default(),
            format!("text/csv; charset={answered}")
        );
    }
    let plain = app.get("/api/v1/customers/export", &token).await;
    assert_eq!(
        plain.header("content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    assert!(plain.text.contains("杭州华康贸易有限公司"));
}

async fn an_unknown_export_charset_is_a_400_beside_the_other_bad_parameters(app: TestApp) {
    let token = app.admin_token().await;
    for bad in ["latin1", "big5", "", "utf-16"] {
        let r = app
            .get(&format!("/api/v1/customers/export?charset={bad}"), &token)
            .await;
        r.problem(400);
        assert_eq!(r.error_fields(), ["charset"], "{bad}: {}", r.text);
        assert_eq!(r.body["errors"][0]["code"], "invalid_value", "{}", r.text);
    }
    let r = app
        .get(
            "/api/v1/customers/export?charset=ebcdic&min_purchase_count=many&colour=red",
            &token,
        )
        .await;
    let problem = r.problem(400);
    assert_eq!(problem["type"], "/problems/invalid-query");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        ["charset", "colour", "min_purchase_count"],
        "{}",
        r.text
    );
}

async fn json_bodies_are_utf8_only(app: TestApp) {
    let token = app.admin_token().await;
    let card = json!({"kind": "individual", "name": "王芳"})
        .to_string()
        .into_bytes();
    for content_type in [
        "application/json; charset=UTF-8",
        "application/json;charset=utf8",
        "application/json; charset=US-ASCII",
    ] {
        let r = app
            .post_bytes("/api/v1/customers", &token, content_type, card.clone())
            .await;
        assert_eq!(r.status, 201, "{content_type}: {}", r.text);
    }
    let items = json!({"items": [{"external_id": "J-1", "kind": "individual", "name": "x"}]})
        .to_string()
        .into_bytes();
    for (path, body) in [
        ("/api/v1/customers", card),
        ("/api/v1/customers/bulk", items),
    ] {
        for charset in ["gbk", "utf-16", "nonsense"] {
            let r = app
                .post_bytes(
                    path,
                    &token,
                    &format!("application/json; charset={charset}"),
                    body.clone(),
                )
                .await;
            let problem = r.problem(415);
            assert_eq!(
                problem["type"], "/problems/unsupported-media-type",
                "{path}"
            );
            let detail = problem["detail"].as_str().unwrap_or_default();
            assert!(
                detail.contains(&format!("not charset \"{charset}\"")),
                "{detail}"
            );
        }
        // Content-Type is a singleton: two say two things about one body,
        // whichever comes first, on two lines or as a list on one.
        for lines in [
            &["application/json", "application/json; charset=gbk"][..],
            &["text/plain", "application/json"],
            &["application/json, application/json"],
        ] {
            let mut req = app.client.post(app.url(path)).bearer_auth(&token);
            for line in lines {
                req = req.header("Content-Type", *line);
            }
            let r = app.send(req.body(body.clone())).await;
            let detail = r.problem(400)["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("one Content-Type"), "{lines:?}: {detail}");
        }
        // A comma inside a quoted parameter is not a list.
        let r = app
            .post_bytes(path, &token, "application/json; x=\"a,b\"", body.clone())
            .await;
        assert!(r.status < 300, "{}", r.text);
    }
    // Three charsets that name UTF-8, then the quoted comma's card and item.
    assert_eq!(
        names(&app, &token).await,
        ["x", "王芳", "王芳", "王芳", "王芳"]
    );
}

/// The same bytes declared in another charset (or type) are another request:
/// its key is a misuse (422), not a replay of the first answer. A charset
/// that names UTF-8 is the same request as none.
async fn an_idempotency_key_covers_what_the_body_is_declared_to_be(app: TestApp) {
    let token = app.admin_token().await;
    let keyed = |content_type: &str, key: &str, body: Vec<u8>| {
        app.client
            .post(app.url("/api/v1/customers/import"))
            .bearer_auth(&token)
            .header("Content-Type", content_type)
            .header("Idempotency-Key", key)
            .body(body)
    };
    let (gbk, _, _) = GBK.encode("external_id,kind,name\nK-1,individual,王芳\n");
    let first = app
        .send(keyed("text/csv; charset=gbk", "k-csv", gbk.to_vec()))
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let again = app
        .send(keyed("text/csv;charset=GBK", "k-csv", gbk.to_vec()))
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    for other in [
        "text/csv; charset=big5",
        "text/csv",
        "text/plain; charset=gbk",
    ] {
        let r = app.send(keyed(other, "k-csv", gbk.to_vec())).await;
        r.problem(422);
        assert_eq!(r.error_fields(), ["Idempotency-Key"], "{other}: {}", r.text);
    }
    assert_eq!(names(&app, &token).await, ["王芳"]);

    let items = br#"{"items": [{"external_id": "K-2", "kind": "individual", "name": "x"}]}"#;
    let bulk = |content_type: &str| {
        app.client
            .post(app.url("/api/v1/customers/bulk"))
            .bearer_auth(&token)
            .header("Content-Type", content_type)
            .header("Idempotency-Key", "k-json")
            .body(items.to_vec())
    };
    assert_eq!(app.send(bulk("application/json")).await.status, 200);
    let utf8 = app.send(bulk("application/json; charset=UTF-8")).await;
    assert_eq!(
        utf8.header("idempotent-replayed").as_deref(),
        Some("true"),
        "{}",
        utf8.text
    );
    for other in ["application/json; charset=gbk", "text/plain"] {
        let r = app.send(bulk(other)).await;
        r.problem(422);
        assert_eq!(r.error_fields(), ["Idempotency-Key"], "{other}: {}", r.text);
    }
}

/// Windows tools (PowerShell's files, .NET's default encoder) put a UTF-8
/// byte order mark before the JSON; RFC 8259 lets a parser ignore it, and it
/// was a 400 "not valid JSON" here. A BOM anywhere else is still a character.
async fn a_json_body_may_start_with_a_byte_order_mark(app: TestApp) {
    let token = app.admin_token().await;
    let with_bom = |json: &str| [b"\xEF\xBB\xBF".as_slice(), json.as_bytes()].concat();
    let r = app
        .post_bytes(
            "/api/v1/customers",
            &token,
            "application/json",
            with_bom(r#"{"kind": "individual", "name": "王芳"}"#),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["name"], "王芳");
    let r = app
        .post_bytes(
            "/api/v1/customers/bulk",
            &token,
            "application/json",
            with_bom(r#"{"items": [{"external_id": "B-1", "kind": "individual", "name": "b"}]}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"][0]["status"], "created", "{}", r.text);
    // Twice is one too many: the second is not a mark but the body's start.
    let twice = [
        b"\xEF\xBB\xBF".as_slice(),
        &with_bom(r#"{"kind": "individual", "name": "x"}"#),
    ]
    .concat();
    let r = app
        .post_bytes("/api/v1/customers", &token, "application/json", twice)
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}
