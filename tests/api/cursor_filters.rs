//! A cursor pages only the list it came from, filters included: one kept
//! while a filter changes (a status tab switched) is a 400 naming `cursor`,
//! where it resumed at its position and silently skipped the rows of the
//! other list before it (a QA review of the plan and survey lists; the
//! customer list's rule, now every list's).

use serde_json::json;

use crate::account_plans::{key_customer, plan_body};
use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(a_cursor_taken_by_other_filters_is_a_400_on_every_list);

async fn a_cursor_taken_by_other_filters_is_a_400_on_every_list(app: TestApp) {
    let admin = app.admin_token().await;
    let c = key_customer(&app, &admin).await;
    let card = format!("/api/v1/customers/{c}");
    for i in 0..2 {
        let r = app
            .post("/api/v1/account-plans", &admin, &plan_body(c))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post(
                "/api/v1/surveys",
                &admin,
                &json!({"title": format!("Survey {i}"), "questions": crate::surveys::questions()}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post(
                &format!("{card}/interactions"),
                &admin,
                &json!({"type": "call", "summary": "Hello"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post(
                &format!("{card}/needs"),
                &admin,
                &json!({"kind": "actual", "description": "Tea"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post(
                &format!("{card}/contacts"),
                &admin,
                &json!({"name": format!("Contact {i}")}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let grade = ["A", "B"][i];
        let r = app
            .patch(
                &card,
                &admin,
                &json!({"funnel_stage": "prospect", "prospect_grade": grade}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        app.user_with_role("viewer").await;
    }
    // The key customer's sale is one transaction: one more.
    let r = app
        .post(
            &format!("{card}/transactions"),
            &admin,
            &json!({"amount_cents": 100, "product": "Tea"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // (list, a filter of it that still holds rows)
    let lists = [
        ("/api/v1/account-plans?", "status=active"),
        ("/api/v1/surveys?", "status=draft"),
        ("/api/v1/segments?", "builtin=true"),
        ("/api/v1/users?", "role=viewer"),
        ("/api/v1/users/directory?", "role=viewer"),
        ("/api/v1/interactions?", "type=call"),
        (&*format!("{card}/interactions?"), "type=call"),
        ("/api/v1/transactions?", "product=Tea"),
        (&*format!("{card}/transactions?"), "product=Tea"),
        (&*format!("{card}/needs?"), "kind=actual"),
        (
            &*format!("{card}/contacts?"),
            "updated_since=2000-01-01T00:00:00Z",
        ),
        (&*format!("{card}/history?"), "kind=prospect_grade_changed"),
    ];
    for (list, filter) in lists {
        let r = app.get(&format!("{list}limit=1"), &admin).await;
        assert_eq!(r.status, 200, "{list}: {}", r.text);
        let Some(whole) = r.body["next_cursor"].as_str().map(str::to_string) else {
            panic!("{list}: one page only: {}", r.text);
        };
        let r = app.get(&format!("{list}{filter}&limit=1"), &admin).await;
        assert_eq!(r.status, 200, "{list}{filter}: {}", r.text);
        // Filtered, the whole list's cursor; unfiltered, the filtered one's.
        let r = app
            .get(&format!("{list}{filter}&cursor={whole}"), &admin)
            .await;
        r.problem(400);
        assert_eq!(r.error_fields(), ["cursor"], "{list}{filter}: {}", r.text);
        let r = app.get(&format!("{list}{filter}&limit=1"), &admin).await;
        if let Some(part) = r.body["next_cursor"].as_str() {
            let r = app.get(&format!("{list}cursor={part}"), &admin).await;
            r.problem(400);
            assert_eq!(r.error_fields(), ["cursor"], "{list}: {}", r.text);
            let r = app
                .get(&format!("{list}{filter}&cursor={part}"), &admin)
                .await;
            assert_eq!(r.status, 200, "{list}{filter}: {}", r.text);
        }
        // The same filters go on.
        let r = app.get(&format!("{list}cursor={whole}"), &admin).await;
        assert_eq!(r.status, 200, "{list}: {}", r.text);
    }
}
