//! Two segments of one name at the same moment: the one that loses is
//! refused with the same 409 naming `name` as a name already stored, not a
//! bare conflict. Another connection inserts the name and holds its
//! transaction while the request arrives: PostgreSQL's check before the
//! insert cannot see it, and the insert then meets the unique index.

use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(a_name_taken_by_a_write_in_flight_is_a_409_naming_it);

async fn a_name_taken_by_a_write_in_flight_is_a_409_naming_it(app: TestApp) {
    let admin = app.admin_token().await;
    let db = app.open_db(1, 10).await;
    let (held, is_held) = mpsc::channel();
    let other = std::thread::spawn(move || {
        use diesel::connection::SimpleConnection;
        let mut conn = db.pool().get().expect("a connection");
        patron::db::write_tx(&mut conn, |c| {
            c.batch_execute(
                "INSERT INTO segments (name, kind, rule, description, builtin, version, \
                   created_at, updated_at) \
                 VALUES ('VIP', 'static', NULL, NULL, FALSE, 1, \
                   '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            )?;
            held.send(()).expect("the test waits");
            std::thread::sleep(Duration::from_millis(500));
            Ok::<_, diesel::result::Error>(())
        })
        .expect("the other writer");
    });
    tokio::task::spawn_blocking(move || is_held.recv().expect("held"))
        .await
        .expect("the wait");
    let r = app
        .post(
            "/api/v1/segments",
            &admin,
            &json!({"name": "VIP", "kind": "static"}),
        )
        .await;
    other.join().expect("the other writer");
    let problem = r.problem(409);
    assert_eq!(problem["errors"][0]["field"], "name", "{}", r.text);
    assert_eq!(problem["errors"][0]["code"], "conflict", "{}", r.text);
}
