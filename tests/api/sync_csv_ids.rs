//! The import's `id` column: a row that holds one updates that card (found
//! by a review: the column was ignored, so an export of cards made in the UI
//! failed to re-import, a key typed into such a row made a second card, and
//! a key changed to another card's wrote over that card).

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;
use crate::sync_bulk::{bulk, statuses};
use crate::sync_csv::{import, row_errors as errors};

/// A card made in the UI (no external id) and one synced from the ERP.
async fn two_cards(app: &TestApp, token: &str) -> (i64, i64) {
    let r = app
        .post(
            "/api/v1/customers",
            token,
            &json!({"kind": "individual", "name": "UI card"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ui = r.body["id"].as_i64().unwrap();
    let r = bulk(
        app,
        "/api/v1/customers/bulk",
        token,
        &json!({"items": [{"external_id": "ERP-1", "kind": "individual", "name": "ERP card"}]}),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    (ui, r.body["items"][0]["id"].as_i64().unwrap())
}

async fn card(app: &TestApp, token: &str, id: i64) -> serde_json::Value {
    let r = app.get(&format!("/api/v1/customers/{id}"), token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn count(app: &TestApp, token: &str) -> usize {
    let r = app
        .get("/api/v1/customers?limit=500&include_archived=true", token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().map(Vec::len).unwrap_or_default()
}

/// The whole export, phones edited in a spreadsheet, re-imported with
/// `all_or_none`: the UI card's row (empty key) updates it by id.
async fn an_edited_export_with_ui_cards_reimports(app: TestApp) {
    let token = app.admin_token().await;
    let (ui, erp) = two_cards(&app, &token).await;
    let export = app.get("/api/v1/customers/export", &token).await;
    assert_eq!(export.status, 200, "{}", export.text);
    let mut reader = csv::Reader::from_reader(export.text.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let phone = headers.iter().position(|h| h == "phone").unwrap();
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(&headers).unwrap();
    for record in reader.records() {
        let mut row: Vec<String> = record.unwrap().iter().map(String::from).collect();
        row[phone] = format!("+86 13800{}", row[0]);
        out.write_record(&row).unwrap();
    }
    let file = String::from_utf8(out.into_inner().unwrap()).unwrap();
    let r = import(&app, &token, "?all_or_none=true", &file).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(statuses(&r), ["updated", "updated"], "{}", r.text);
    assert_eq!(count(&app, &token).await, 2, "no card was added");
    let ui_card = card(&app, &token, ui).await;
    assert_eq!(ui_card["phone"], format!("+86 13800{ui}"));
    assert!(ui_card["external_id"].is_null(), "{ui_card}");
    assert_eq!(
        card(&app, &token, erp).await["phone"],
        format!("+86 13800{erp}")
    );
    // Again: nothing differs.
    let r = import(&app, &token, "", &file).await;
    assert_eq!(statuses(&r), ["unchanged", "unchanged"], "{}", r.text);
}

/// A key typed into a UI card's row is given to that card (no second card);
/// a key another card holds is the row's `external_id` conflict.
async fn a_key_typed_into_a_ui_cards_row_goes_to_that_card(app: TestApp) {
    let token = app.admin_token().await;
    let (ui, erp) = two_cards(&app, &token).await;
    let csv = format!("id,external_id,name\n{ui},ERP-1,Taken\n");
    let r = import(&app, &token, "", &csv).await;
    assert_eq!(statuses(&r), ["error"], "{}", r.text);
    assert_eq!(errors(&r, 0), [("external_id".into(), "conflict".into())]);
    assert_eq!(card(&app, &token, erp).await["name"], "ERP card");
    assert_eq!(card(&app, &token, ui).await["name"], "UI card");

    // The key given, then used by a later row of the same file.
    let csv =
        format!("id,external_id,name,phone\n{ui},CUST-{ui},Named,\n,CUST-{ui},Named,+86 138005\n");
    let r = import(&app, &token, "", &csv).await;
    assert_eq!(statuses(&r), ["updated", "updated"], "{}", r.text);
    assert_eq!(r.body["items"][1]["id"], ui, "{}", r.text);
    assert_eq!(count(&app, &token).await, 2, "no card was added");
    let ui_card = card(&app, &token, ui).await;
    assert_eq!(ui_card["external_id"], format!("CUST-{ui}"));
    assert_eq!(ui_card["name"], "Named");
    assert_eq!(ui_card["phone"], "+86 138005");
    // Its row now holds the key; an empty key cell still finds it by id.
    let csv = format!("id,external_id,name\n{ui},CUST-{ui},Same\n{ui},,Again\n");
    let r = import(&app, &token, "", &csv).await;
    assert_eq!(statuses(&r), ["updated", "updated"], "{}", r.text);
    assert_eq!(card(&app, &token, ui).await["name"], "Again");
}

/// A row whose key was changed to another card's is refused, not written
/// over that card; an unknown or malformed id is the row's `id` error.
async fn a_row_whose_key_names_another_card_is_refused(app: TestApp) {
    let token = app.admin_token().await;
    let r = bulk(
        &app,
        "/api/v1/customers/bulk",
        &token,
        &json!({"items": [
            {"external_id": "E-A", "kind": "individual", "name": "A"},
            {"external_id": "E-B", "kind": "individual", "name": "B"}
        ]}),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (a, b) = (
        r.body["items"][0]["id"].as_i64().unwrap(),
        r.body["items"][1]["id"].as_i64().unwrap(),
    );
    let csv = format!("id,external_id,name,version\n{a},E-B,A edited,1\n{a},E-NEW,A renamed,1\n");
    let r = import(&app, &token, "", &csv).await;
    assert_eq!(statuses(&r), ["error", "error"], "{}", r.text);
    assert_eq!(errors(&r, 0), [("external_id".into(), "conflict".into())]);
    assert_eq!(errors(&r, 1), [("external_id".into(), "conflict".into())]);
    assert_eq!(card(&app, &token, b).await["name"], "B");
    assert_eq!(card(&app, &token, a).await["external_id"], "E-A");
    assert_eq!(count(&app, &token).await, 2, "no card was added");

    // A key cell that is no key is the row's own error, not a missing key
    // the card's key fills in (review).
    let csv = format!("id,external_id,name\n{a},E-A\u{1},A edited\n{b},,B edited\n");
    let r = import(&app, &token, "", &csv).await;
    assert_eq!(statuses(&r), ["error", "updated"], "{}", r.text);
    assert_eq!(
        errors(&r, 0),
        [("external_id".into(), "invalid_character".into())]
    );
    assert_eq!(card(&app, &token, a).await["name"], "A");
    assert_eq!(card(&app, &token, b).await["external_id"], "E-B");

    let missing = b + 1000;
    let csv =
        format!("id,external_id,kind,name\n{missing},E-C,individual,C\nx1,E-D,individual,D\n");
    let r = import(&app, &token, "", &csv).await;
    assert_eq!(statuses(&r), ["error", "error"], "{}", r.text);
    assert_eq!(errors(&r, 0), [("id".into(), "not_found".into())]);
    assert_eq!(errors(&r, 1), [("id".into(), "invalid_type".into())]);
    assert_eq!(count(&app, &token).await, 2, "no card was added");
}

/// By id as by key: an archived card's row that changes it is `archived`,
/// one that changes nothing `unchanged`; a stale `version` is the row's
/// conflict on a card without a key too.
async fn rows_by_id_keep_the_archive_and_version_rules(app: TestApp) {
    let token = app.admin_token().await;
    let (ui, erp) = two_cards(&app, &token).await;
    let r = app
        .patch(
            &format!("/api/v1/customers/{ui}"),
            &token,
            &json!({"phone": "+86 138001"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let csv = format!("id,name,version\n{ui},Stale,1\n{ui},UI card,1\n");
    let r = import(&app, &token, "", &csv).await;
    assert_eq!(statuses(&r), ["error", "unchanged"], "{}", r.text);
    assert_eq!(errors(&r, 0), [("version".into(), "conflict".into())]);
    let r = import(
        &app,
        &token,
        "",
        &format!("id,name,version\n{ui},Fresh,2\n"),
    )
    .await;
    assert_eq!(statuses(&r), ["updated"], "{}", r.text);

    for id in [ui, erp] {
        let r = app.delete(&format!("/api/v1/customers/{id}"), &token).await;
        assert_eq!(r.status, 204, "{}", r.text);
    }
    let csv = format!("id,name\n{ui},Changed\n{erp},Changed\n{ui},Fresh\n{erp},ERP card\n");
    let r = import(&app, &token, "", &csv).await;
    assert_eq!(
        statuses(&r),
        ["error", "error", "unchanged", "unchanged"],
        "{}",
        r.text
    );
    assert_eq!(errors(&r, 0), [("customer_id".into(), "archived".into())]);
    assert_eq!(errors(&r, 1), [("customer_id".into(), "archived".into())]);
}

backend_tests!(
    an_edited_export_with_ui_cards_reimports,
    a_key_typed_into_a_ui_cards_row_goes_to_that_card,
    a_copied_row_does_not_write_over_a_ui_card,
    a_row_whose_key_names_another_card_is_refused,
    rows_by_id_keep_the_archive_and_version_rules,
);

/// A UI card's row copied in the spreadsheet and typed over with a new
/// customer, its id left as it was: the copy would have given the card the
/// new key and written the new customer over it (review). The key is not
/// given while the file names the card in another row too.
async fn a_copied_row_does_not_write_over_a_ui_card(app: TestApp) {
    let token = app.admin_token().await;
    let (ui, _) = two_cards(&app, &token).await;
    let csv = format!("id,external_id,name\n{ui},,UI card\n{ui},NEW-1,Beta Co\n");
    let r = import(&app, &token, "", &csv).await;
    assert_eq!(statuses(&r), ["unchanged", "error"], "{}", r.text);
    assert_eq!(errors(&r, 1), [("id".into(), "conflict".into())]);
    let card = card(&app, &token, ui).await;
    assert_eq!(card["name"], "UI card");
    assert!(card["external_id"].is_null(), "{card}");
    assert_eq!(count(&app, &token).await, 2, "no card was added");
}
