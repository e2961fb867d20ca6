//! The size limits of a survey (question text, options) and of a response
//! (answers, a text answer): each at its limit is taken, one past it is a 422
//! naming the field. (`tests/api/surveys.rs` covers the other rules.)

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::TestApp;
use crate::limits::{assert_refused, text};

backend_tests!(
    question_limits_at_and_past_the_edge,
    response_limits_at_and_past_the_edge
);

const SURVEYS: &str = "/api/v1/surveys";

fn survey(question: Value) -> Value {
    json!({"title": "Limits", "questions": [question]})
}

async fn question_limits_at_and_past_the_edge(app: TestApp) {
    let token = app.admin_token().await;
    let choice = |options: Vec<String>| {
        survey(json!({"kind": "single_choice", "text": "Which?", "options": options}))
    };
    let numbered = |n: usize| (1..=n).map(|i| format!("option {i}")).collect::<Vec<_>>();
    let cases = [
        (
            "questions[0].text",
            survey(json!({"kind": "text", "text": text(500)})),
            survey(json!({"kind": "text", "text": text(501)})),
        ),
        (
            "questions[0].options",
            choice(numbered(20)),
            choice(numbered(21)),
        ),
        (
            "questions[0].options[1]",
            choice(vec!["short".into(), text(200)]),
            choice(vec!["short".into(), text(201)]),
        ),
    ];
    for (field, at, past) in cases {
        let r = app.post(SURVEYS, &token, &past).await;
        assert_refused(&r, field, "length");
        let r = app.post(SURVEYS, &token, &at).await;
        assert_eq!(r.status, 201, "{field} at the limit: {}", r.text);
        assert_eq!(r.body["questions"][0]["text"], at["questions"][0]["text"]);
        assert_eq!(
            r.body["questions"][0]["options"],
            at["questions"][0]["options"]
        );
    }
}

async fn response_limits_at_and_past_the_edge(app: TestApp) {
    let token = app.admin_token().await;
    // The most questions a survey takes: one answer each is the most
    // answers a response takes.
    let questions: Vec<Value> = (1..=100)
        .map(|i| json!({"kind": "text", "text": format!("Question {i}?")}))
        .collect();
    let r = app
        .post(
            SURVEYS,
            &token,
            &json!({"title": "Long", "questions": questions}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.id();
    let r = app
        .patch(
            &format!("{SURVEYS}/{id}"),
            &token,
            &json!({"status": "open"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ids: Vec<i64> = r.body["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 100);
    let customer = app
        .create_customer(&token, json!({"kind": "individual", "name": "Respondent"}))
        .await
        .id();
    let responses = format!("{SURVEYS}/{id}/responses");
    let send = |answers: Vec<Value>| {
        let body = json!({"customer_id": customer, "answers": answers});
        let app = &app;
        let token = &token;
        let responses = &responses;
        async move { app.post(responses, token, &body).await }
    };
    let answers = |first: String| -> Vec<Value> {
        ids.iter()
            .enumerate()
            .map(|(i, q)| {
                let value = if i == 0 {
                    first.clone()
                } else {
                    format!("Answer {i}")
                };
                json!({"question_id": q, "value": value})
            })
            .collect()
    };
    let mut too_many = answers("Fine".into());
    too_many.push(json!({"question_id": ids[0], "value": "Again"}));
    assert_refused(&send(too_many).await, "answers", "length");
    // The length as sent: padding counts, as in every other text field.
    for long in [text(4001), format!(" {}", text(4000))] {
        assert_refused(&send(answers(long)).await, "answers[0].value", "length");
    }
    // Too long before blank, as every other text field (it was `blank`).
    assert_refused(
        &send(answers(" ".repeat(4001))).await,
        "answers[0].value",
        "length",
    );
    let r = send(answers(text(4000))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app.get(&format!("{responses}/{}", r.id()), &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["answers"].as_array().map(Vec::len),
        Some(100),
        "{}",
        r.text
    );
}
