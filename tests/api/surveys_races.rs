//! A survey's response against a close or a delete of the survey at the same
//! moment: the response is refused (409, 404) once the other commits, never
//! answered 201 and then closed out or cascaded away. Another connection
//! holds the survey as the server's own close and delete do (PostgreSQL's
//! row lock; SQLite's write lock) while the response arrives.

use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;
use crate::surveys::{create, open_survey, respond};

backend_tests!(
    a_response_waits_for_a_close_in_flight_and_is_refused,
    a_response_waits_for_a_delete_in_flight_and_is_not_lost,
    a_target_segment_deleted_meanwhile_is_taken_off_in_the_open,
    a_sales_delete_of_a_segment_never_takes_a_new_target_off,
    two_responses_of_one_customer_at_once_store_one,
);

/// Two responses of one customer to a survey that takes one, sent while
/// another connection holds the card: both wait for it, and the second to
/// get it sees the first (409). No unique index stands behind the rule: the
/// card's lock, taken before the check, is what orders them (a review: no
/// test would notice the check moved above it).
async fn two_responses_of_one_customer_at_once_store_one(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "individual", "name": "Twice"}))
        .await
        .id();
    let (survey, qs) = open_survey(&app, &token, json!({})).await;
    let answers = [(qs[0], json!(4)), (qs[1], json!(5))];
    let both = futures_util::future::join(
        respond(&app, &token, survey, c, &answers),
        respond(&app, &token, survey, c, &answers),
    );
    let (a, b) = app
        .while_held(
            move |conn| patron::db::customers::lock(conn, c).map(drop),
            both,
        )
        .await;
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} / {}", a.text, b.text);
    let list = app
        .get(&format!("/api/v1/surveys/{survey}/responses"), &token)
        .await;
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        list.text
    );
}

/// Holds survey `id` in a write transaction of another connection, runs
/// `change` on it after a moment, then commits. Returns once the survey is
/// held, with the thread to join.
async fn hold_then(
    app: &TestApp,
    id: i64,
    change: fn(&mut patron::db::DbConn, i64) -> diesel::QueryResult<()>,
) -> std::thread::JoinHandle<()> {
    use patron::db::row_lock::{lock, Locked};
    let db = app.open_db(1, 10).await;
    let (held, is_held) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut conn = db.pool().get().expect("a connection");
        patron::db::write_tx(&mut conn, |c| {
            lock(c, Locked::Surveys, id)?;
            held.send(()).expect("the test waits");
            std::thread::sleep(Duration::from_millis(500));
            change(c, id)
        })
        .expect("the other writer");
    });
    tokio::task::spawn_blocking(move || is_held.recv().expect("held"))
        .await
        .expect("the wait");
    thread
}

fn close(c: &mut patron::db::DbConn, id: i64) -> diesel::QueryResult<()> {
    use diesel::RunQueryDsl;
    diesel::sql_query(format!(
        "UPDATE surveys SET status = 'closed', version = version + 1 WHERE id = {id}"
    ))
    .execute(c)
    .map(drop)
}

fn delete(c: &mut patron::db::DbConn, id: i64) -> diesel::QueryResult<()> {
    patron::db::surveys::delete(c, id)
}

/// A customer and an open survey; then a response sent while another
/// connection holds the survey and applies `change`. Returns the response
/// and (customer, survey).
async fn respond_while_held(
    app: &TestApp,
    token: &str,
    change: fn(&mut patron::db::DbConn, i64) -> diesel::QueryResult<()>,
) -> (crate::helpers::Resp, i64, i64) {
    let customer = app
        .create_customer(token, json!({"kind": "individual", "name": "Racer"}))
        .await
        .id();
    let (survey, qs) = open_survey(app, token, json!({})).await;
    let other = hold_then(app, survey, change).await;
    let answers = [(qs[0], json!(4)), (qs[1], json!(5))];
    let r = respond(app, token, survey, customer, &answers).await;
    other.join().expect("no panic");
    (r, customer, survey)
}

async fn a_response_waits_for_a_close_in_flight_and_is_refused(app: TestApp) {
    let token = app.admin_token().await;
    let (r, _, survey) = respond_while_held(&app, &token, close).await;
    assert_eq!(r.status, 409, "{}", r.text);
    let list = app
        .get(&format!("/api/v1/surveys/{survey}/responses"), &token)
        .await;
    assert_eq!(list.body["items"], json!([]), "{}", list.text);
}

async fn a_response_waits_for_a_delete_in_flight_and_is_not_lost(app: TestApp) {
    let token = app.admin_token().await;
    let (r, customer, _) = respond_while_held(&app, &token, delete).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let card = app
        .get(&format!("/api/v1/customers/{customer}"), &token)
        .await;
    assert_eq!(
        card.body["satisfaction_overall"],
        json!(null),
        "{}",
        card.text
    );
}

/// Surveys created or re-targeted at a segment while it is deleted: each
/// write either fails (422 `unknown_segment`) or keeps its target until the
/// delete takes it off with a new version (and a change in the feed). On
/// PostgreSQL the delete did not see a survey written beside it, and the
/// database's `ON DELETE SET NULL` cleared the target at the same version,
/// after a 2xx that named the segment (most rounds of a review's script).
async fn a_target_segment_deleted_meanwhile_is_taken_off_in_the_open(app: TestApp) {
    let token = app.admin_token().await;
    // Writes that won the race: the check below runs only for them.
    let mut won = 0;
    for round in 0..6 {
        let segment = app
            .post(
                "/api/v1/segments",
                &token,
                &json!({"name": format!("Going {round}"), "kind": "static"}),
            )
            .await
            .id();
        let mut retargeted = Vec::new();
        for i in 0..2 {
            let title = format!("Existing {round}.{i}");
            retargeted.push(create(&app, &token, json!({ "title": title })).await.id());
        }
        let target = json!({ "segment_id": segment });
        let (app, token, target) = (&app, &token, &target);
        let creates = (0..2).map(|i| async move {
            let title = format!("New {round}.{i}");
            let body = json!({"title": title, "segment_id": segment});
            app.post("/api/v1/surveys", token, &body).await
        });
        let patches = retargeted.iter().map(|id| async move {
            app.patch(&format!("/api/v1/surveys/{id}"), token, target)
                .await
        });
        let (created, patched, deleted) = futures_util::future::join3(
            futures_util::future::join_all(creates),
            futures_util::future::join_all(patches),
            app.delete(&format!("/api/v1/segments/{segment}"), token),
        )
        .await;
        assert_eq!(deleted.status, 204, "{}", deleted.text);
        for r in created.iter().chain(patched.iter()) {
            if r.status == 422 {
                assert_eq!(r.code_of("segment_id"), "unknown_segment", "{}", r.text);
                continue;
            }
            assert!(r.status == 200 || r.status == 201, "{}", r.text);
            won += 1;
            assert_eq!(r.body["segment_id"], segment, "{}", r.text);
            let id = r.id();
            let now = app.get(&format!("/api/v1/surveys/{id}"), token).await;
            assert!(now.body["segment_id"].is_null(), "{}", now.text);
            assert!(
                now.body["version"].as_i64() > r.body["version"].as_i64(),
                "round {round}: survey {id} lost its target unseen: answered {}, now {}",
                r.text,
                now.text
            );
        }
    }
    // Had every write lost (a 422 each), nothing above was checked.
    assert!(
        won > 0,
        "no write won the race in 6 rounds: nothing was checked"
    );
}

/// A sales user deletes a segment while an admin targets a survey at it
/// (created or re-targeted): the delete either commits first, and the
/// survey's write is refused (422 `unknown_segment`), or comes second and is
/// refused (403): never a 204 that took the new target off (the delete's
/// role check and the survey's hold on the segment are in one order).
async fn a_sales_delete_of_a_segment_never_takes_a_new_target_off(app: TestApp) {
    let token = app.admin_token().await;
    let (_, sales) = app.user_with_role("sales").await;
    for round in 0..6 {
        let segment = app
            .post(
                "/api/v1/segments",
                &sales,
                &json!({"name": format!("Contested {round}"), "kind": "static"}),
            )
            .await
            .id();
        let existing = create(&app, &token, json!({ "title": format!("Old {round}") }))
            .await
            .id();
        let body = json!({"title": format!("New {round}"), "segment_id": segment});
        let target = json!({ "segment_id": segment });
        let (created, patched, deleted) = futures_util::future::join3(
            app.post("/api/v1/surveys", &token, &body),
            app.patch(&format!("/api/v1/surveys/{existing}"), &token, &target),
            app.delete(&format!("/api/v1/segments/{segment}"), &sales),
        )
        .await;
        let targeted = [&created, &patched]
            .iter()
            .filter(|r| r.status == 200 || r.status == 201)
            .count();
        for r in [&created, &patched] {
            if r.status == 422 {
                assert_eq!(r.code_of("segment_id"), "unknown_segment", "{}", r.text);
            } else {
                assert!(r.status == 200 || r.status == 201, "{}", r.text);
                let id = r.id();
                let now = app.get(&format!("/api/v1/surveys/{id}"), &token).await;
                assert_eq!(
                    now.body["segment_id"], segment,
                    "round {round}: {}",
                    now.text
                );
            }
        }
        match deleted.status {
            204 => assert_eq!(targeted, 0, "round {round}: a target was taken off"),
            403 => assert!(targeted > 0, "round {round}: {}", deleted.text),
            _ => panic!("round {round}: {}", deleted.text),
        }
    }
}
