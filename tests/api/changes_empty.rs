//! Empty values on the change feed read as the lists' do: an empty `after=`
//! is no cursor (an empty `cursor=` is none on the lists; it was a 400
//! here), and the empty entries of `types` are skipped (`customer,` was a
//! 400, where the timeline's `interaction,` was read as `interaction`).

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(empty_after_and_empty_types_entries_read_as_absent);

async fn empty_after_and_empty_types_entries_read_as_absent(app: TestApp) {
    let admin = app.admin_token().await;
    let card = app
        .create_customer(&admin, json!({"kind": "individual", "name": "Fed"}))
        .await
        .id();
    let r = app
        .post(
            &format!("/api/v1/customers/{card}/interactions"),
            &admin,
            &json!({"type": "call", "summary": "hello"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let types = |r: &crate::helpers::Resp| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["entity_type"].as_str().unwrap().to_string())
            .collect()
    };
    let from_start = app.get("/api/v1/changes", &admin).await;
    assert_eq!(from_start.status, 200, "{}", from_start.text);
    let empty_after = app.get("/api/v1/changes?after=", &admin).await;
    assert_eq!(empty_after.status, 200, "{}", empty_after.text);
    assert_eq!(empty_after.body, from_start.body);
    assert!(types(&from_start).contains(&"interaction".to_string()));

    let customers = app.get("/api/v1/changes?types=customer", &admin).await;
    assert_eq!(customers.status, 200, "{}", customers.text);
    for query in [
        "types=customer,",
        "types=,customer",
        "types=customer,,",
        "after=&types=customer,",
    ] {
        let r = app.get(&format!("/api/v1/changes?{query}"), &admin).await;
        assert_eq!(r.status, 200, "{query}: {}", r.text);
        assert_eq!(r.body, customers.body, "{query}");
        assert_eq!(types(&r), ["customer"], "{query}");
    }
    // A list naming no type is not "all".
    for query in ["types=", "types=,", "types=%20,%20"] {
        let r = app.get(&format!("/api/v1/changes?{query}"), &admin).await;
        r.problem(400);
        assert_eq!(r.code_of("types"), "invalid_value", "{query}: {}", r.text);
    }
}
