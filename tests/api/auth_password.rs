//! `POST /auth/password`: a user changes its own password. The old tokens
//! stop working, the answer is a new one, the old password no longer logs
//! in, a wrong current password is a 422 that counts as a failed login, and
//! a user deactivated or re-passworded while the current one is checked is
//! refused without the change.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp};

backend_tests!(
    a_user_changes_its_own_password_and_gets_a_new_token,
    a_wrong_current_password_is_named_and_throttled,
    a_stolen_token_guesses_five_times_from_any_number_of_addresses,
    a_password_change_names_every_bad_field,
    a_user_deactivated_while_its_password_is_checked_is_refused,
    a_password_changed_while_the_current_one_is_checked_is_not_overwritten,
    successful_password_changes_are_limited_as_logins_are,
);

/// A review: a change left the email's limit out to spare its owner from
/// strangers' failures, and its limit on successes went with it: one
/// account kept two Argon2 checks per change running, four times the
/// logins' limit from one address. At `PATRON_LOGIN_MAX_PER_MIN` changes a
/// minute the next is a 429.
async fn successful_password_changes_are_limited_as_logins_are(app: TestApp) {
    let (_, mut token) = user(&app, "viewer", "loop.self@example.com").await;
    let limited = app.start_another(|c| c.login_max_per_min = 3).await;
    let passwords = [OLD, NEW];
    for i in 0..3 {
        let body =
            json!({"current_password": passwords[i % 2], "new_password": passwords[(i + 1) % 2]});
        let r = app.post_at(&limited.address, PATH, &token, &body).await;
        assert_eq!(r.status, 200, "change {i}: {}", r.text);
        token = r.body["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    }
    let body = json!({"current_password": passwords[1], "new_password": passwords[0]});
    let r = app.post_at(&limited.address, PATH, &token, &body).await;
    r.problem(429);
    assert!(r.header("retry-after").is_some(), "{}", r.text);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("password changes"),
        "{}",
        r.text
    );
    limited.stop().await;
}

const PATH: &str = "/api/v1/auth/password";
const OLD: &str = "a long test password";
const NEW: &str = "another long passphrase";

/// A user of `role` (the helpers' password) and its email.
async fn user(app: &TestApp, role: &str, email: &str) -> (i64, String) {
    let admin = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/users",
            &admin,
            &json!({"email": email, "name": "Self service", "role": role, "password": OLD}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (r.id(), app.token(email, OLD).await)
}

async fn a_user_changes_its_own_password_and_gets_a_new_token(app: TestApp) {
    // A viewer too: its own password is not CRM data.
    let email = "viewer.self@example.com";
    let (id, old_token) = user(&app, "viewer", email).await;
    let r = app
        .post(
            PATH,
            &old_token,
            &json!({"current_password": OLD, "new_password": NEW}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let new_token = r.body["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(r.body["token_type"], "Bearer");

    let me = format!("/api/v1/users/{id}");
    app.get(&me, &old_token).await.problem(401);
    let r = app.get(&me, &new_token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.login(email, OLD).await.problem(401);
    assert_eq!(app.login(email, NEW).await.status, 200);
    // The old token cannot change it back.
    app.post(
        PATH,
        &old_token,
        &json!({"current_password": NEW, "new_password": OLD}),
    )
    .await
    .problem(401);
    // Without a token: 401.
    app.post(
        PATH,
        "",
        &json!({"current_password": NEW, "new_password": OLD}),
    )
    .await
    .problem(401);
}

async fn a_wrong_current_password_is_named_and_throttled(app: TestApp) {
    let email = "sales.self@example.com";
    let (_, token) = user(&app, "sales", email).await;
    for _ in 0..5 {
        let r = app
            .post(
                PATH,
                &token,
                &json!({"current_password": "not my password", "new_password": NEW}),
            )
            .await;
        r.problem(422);
        assert_eq!(r.error_fields(), ["current_password"], "{}", r.text);
        assert_eq!(r.body["errors"][0]["code"], "wrong_password", "{}", r.text);
    }
    // A stolen token cannot go on guessing, and the email's logins wait too.
    let r = app
        .post(
            PATH,
            &token,
            &json!({"current_password": OLD, "new_password": NEW}),
        )
        .await;
    r.problem(429);
    assert!(r.header("retry-after").is_some(), "{}", r.text);
    app.login(email, OLD).await.problem(429);
    // Nothing changed: the token still works.
    assert_eq!(app.get("/api/v1/customers", &token).await.status, 200);
}

/// Found by a review: the current password was counted only as a login,
/// per email and address at 5 and per email at 100, so a stolen token sent
/// from 20 addresses got 100 guesses per window. It is counted per token
/// too, from all addresses: the stolen token's 6th guess is a 429 from a 6th
/// address, the right password included. Per token, not per user (a later
/// review: per user, the thief's guesses kept the owner from the change,
/// the only self-service way to revoke the stolen token): the owner logs in
/// again, is not held up, and with the new token changes the password.
async fn a_stolen_token_guesses_five_times_from_any_number_of_addresses(app: TestApp) {
    let email = "stolen.self@example.com";
    let (_, stolen) = user(&app, "viewer", email).await;
    let proxied = app
        .start_another(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a range")])
        .await;
    let change = |token: &str, from: &str, current: &'static str| {
        app.client
            .post(format!("{}{PATH}", proxied.address))
            .bearer_auth(token)
            .header("X-Forwarded-For", from)
            .json(&json!({"current_password": current, "new_password": NEW}))
    };
    for i in 0..5 {
        let r = app
            .send(change(
                &stolen,
                &format!("203.0.113.{i}"),
                "not my password",
            ))
            .await;
        r.problem(422);
    }
    for from in ["203.0.113.5", "198.51.100.2"] {
        let r = app.send(change(&stolen, from, OLD)).await;
        let problem = r.problem(429);
        assert!(r.header("retry-after").is_some(), "{}", r.text);
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("wrong current passwords"), "{detail}");
    }
    // A token's `iat` is in whole seconds: a login within the same one
    // would answer the stolen token itself.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let login = app
        .client
        .post(format!("{}/api/v1/auth/token", proxied.address))
        .header("X-Forwarded-For", "198.51.100.2")
        .json(&json!({"email": email, "password": OLD}));
    let r = app.send(login).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let own = r.body["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_ne!(own, stolen);
    let r = app.send(change(&own, "198.51.100.2", OLD)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The change revoked the stolen token.
    app.send(change(&stolen, "203.0.113.5", NEW))
        .await
        .problem(401);
    proxied.stop().await;
}

async fn a_password_change_names_every_bad_field(app: TestApp) {
    let (_, token) = user(&app, "manager", "manager.self@example.com").await;
    let r = app.post(PATH, &token, &json!({})).await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["current_password", "new_password"]);
    let r = app
        .post(
            PATH,
            &token,
            &json!({"current_password": OLD, "new_password": "short"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["new_password"], "{}", r.text);
    let long = "x".repeat(129);
    let r = app
        .post(
            PATH,
            &token,
            &json!({"current_password": "", "new_password": long}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["current_password", "new_password"]);
    let r = app
        .post(
            PATH,
            &token,
            &json!({"current_password": OLD, "new_password": NEW, "email": "x@y.z"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["email"], "{}", r.text);
    // None of these changed it.
    assert_eq!(app.login("manager.self@example.com", OLD).await.status, 200);
}

/// Deactivated after the handler read the user (active) and while it checks
/// the current password: the write refuses with 401 and changes nothing (it
/// set the new password of a deactivated account and answered a token). The
/// token sent no longer holds, so the challenge says `invalid_token`, as the
/// token check's own 401 for a disabled user does (it was a bare `Bearer`,
/// which tells a client to send a token it already sent: a review).
async fn a_user_deactivated_while_its_password_is_checked_is_refused(app: TestApp) {
    let email = "sales.deactivated@example.com";
    let (id, token) = user(&app, "sales", email).await;
    let r = change_meanwhile(
        &app,
        &token,
        &format!("UPDATE users SET active = FALSE, version = version + 1 WHERE id = {id}"),
    )
    .await;
    r.problem(401);
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some(
            "Bearer error=\"invalid_token\", \
             error_description=\"the account is disabled or no longer exists\""
        ),
        "{}",
        r.text
    );
    app.execute_sql(&format!("UPDATE users SET active = TRUE WHERE id = {id}"));
    app.login(email, NEW).await.problem(401);
    assert_eq!(app.login(email, OLD).await.status, 200);
}

/// Another password set (by an admin) while the handler checks the current
/// one against the hash it read: the write refuses with 422 `wrong_password`
/// and keeps the other writer's password (it overwrote it on the strength of
/// the old one).
async fn a_password_changed_while_the_current_one_is_checked_is_not_overwritten(app: TestApp) {
    let email = "manager.changed@example.com";
    let (id, token) = user(&app, "manager", email).await;
    // The admin's hash: a known other password.
    let r = change_meanwhile(
        &app,
        &token,
        &format!(
            "UPDATE users SET password_hash = \
             (SELECT password_hash FROM users WHERE email = '{}'), \
             version = version + 1 WHERE id = {id}",
            app.admin_email
        ),
    )
    .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["current_password"], "{}", r.text);
    assert_eq!(r.body["errors"][0]["code"], "wrong_password", "{}", r.text);
    app.login(email, NEW).await.problem(401);
    app.login(email, OLD).await.problem(401);
    assert_eq!(app.login(email, &app.admin_password).await.status, 200);
}

/// `POST /auth/password` (OLD → NEW) with `sql` run in a transaction of the
/// test's own that commits only once the handler has read the user and waits
/// for the row in its write: the change lands between the two reads. On
/// PostgreSQL the handler's wait for the row lock is seen; on SQLite waits do
/// not show, so the commit comes after a pause (the handler's write, after
/// two password hashes, waits up to SQLite's 5 s busy timeout for it).
async fn change_meanwhile(app: &TestApp, token: &str, sql: &str) -> Resp {
    use diesel::RunQueryDsl;
    let db = app.open_db(2, 10).await;
    let (backend, sql) = (app.backend, sql.to_string());
    let (changed, made) = tokio::sync::oneshot::channel();
    let holder = tokio::task::spawn_blocking(move || {
        let pool = db.pool().clone();
        let mut conn = pool.get().expect("a connection");
        let mut watcher = pool.get().expect("a connection");
        patron::db::write_tx(&mut conn, |c| {
            diesel::sql_query(sql).execute(c)?;
            changed.send(()).expect("the test waits");
            wait_for_the_handlers_write(&mut watcher, backend);
            Ok::<_, diesel::result::Error>(())
        })
        .expect("the change commits");
    });
    made.await.expect("the change is made");
    let r = app
        .post(
            PATH,
            token,
            &json!({"current_password": OLD, "new_password": NEW}),
        )
        .await;
    holder.await.expect("the holder");
    r
}

/// Returns once the handler waits for the user's row lock (PostgreSQL), or
/// after a pause (SQLite).
fn wait_for_the_handlers_write(conn: &mut patron::db::DbConn, backend: Backend) {
    use diesel::sql_types::BigInt;
    use diesel::{QueryableByName, RunQueryDsl};
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    if backend == Backend::Sqlite {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        return;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let waiting = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' \
             AND query LIKE '%FROM users WHERE id = $1 FOR NO KEY UPDATE%'",
        )
        .get_result::<N>(conn)
        .expect("pg_stat_activity")
        .n;
        if waiting > 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the handler never waited for the user's row"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
