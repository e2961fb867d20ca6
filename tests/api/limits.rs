//! Length and money limits no other test sent past: each field at its limit
//! is taken, one past it is a 422 naming the field alone with its code (the
//! same rule on POST and PATCH), and a refused login does not count toward
//! the login lockout. A PATCH's rules are its own struct's (`ContactPatch`
//! and the like), so each is sent past here too, not only the POST's.

use serde_json::{json, Value};

use crate::account_plans::{key_customer, plan_body};
use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

backend_tests!(
    transaction_money_and_text_limits,
    contact_patch_text_limits,
    plan_action_and_interaction_text_limits,
    user_field_limits,
    login_limits_and_the_lockout,
    password_change_current_password_limit
);

/// `n` characters of three bytes each in UTF-8: a limit counted in bytes, not
/// characters, refuses the text at the limit.
pub fn text(n: usize) -> String {
    "茶".repeat(n)
}

/// A 422 problem naming `field` only, with `code` among its errors.
pub fn assert_refused(r: &Resp, field: &str, code: &str) {
    r.problem(422);
    assert_eq!(r.error_fields(), vec![field.to_string()], "{}", r.text);
    assert!(
        r.error_codes().iter().any(|(_, c)| c == code),
        "{field}: no {code} error: {}",
        r.text
    );
}

#[derive(Clone, Copy)]
enum Method {
    Post,
    Patch,
}

/// Sends `body` with `field` set to `past` (refused, naming it), then to `at`
/// (answered `ok`); returns the accepted answer.
#[allow(clippy::too_many_arguments)]
async fn past_then_at(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: &Value,
    field: &str,
    (at, past): (Value, Value),
    code: &str,
    ok: u16,
) -> Resp {
    let send = |value: Value| {
        let mut body = body.clone();
        body[field] = value;
        async move {
            match method {
                Method::Post => app.post(path, token, &body).await,
                Method::Patch => app.patch(path, token, &body).await,
            }
        }
    };
    let r = send(past).await;
    assert_refused(&r, field, code);
    let r = send(at.clone()).await;
    assert_eq!(r.status, ok, "{path} {field} at the limit: {}", r.text);
    r
}

/// `text(n)` at the limit, `text(n + 1)` past it.
fn chars(n: usize) -> (Value, Value) {
    (json!(text(n)), json!(text(n + 1)))
}

const MAX_CENTS: i64 = 100_000_000_000_000;

async fn transaction_money_and_text_limits(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "organization", "name": "Big buyer"}))
        .await
        .id();
    let list = format!("/api/v1/customers/{c}/transactions");
    let body = json!({"amount_cents": 100, "product": "Tea"});
    let money = (json!(MAX_CENTS), json!(MAX_CENTS + 1));
    let mut one = String::new();
    for field in ["amount_cents", "cost_cents"] {
        let r = past_then_at(
            &app,
            &token,
            Method::Post,
            &list,
            &body,
            field,
            money.clone(),
            "range",
            201,
        )
        .await;
        assert_eq!(r.body[field], json!(MAX_CENTS), "{}", r.text);
        one = format!("{list}/{}", r.id());
    }
    let created = past_then_at(
        &app,
        &token,
        Method::Post,
        &list,
        &body,
        "external_id",
        chars(100),
        "length",
        201,
    )
    .await;
    assert_eq!(created.body["external_id"], json!(text(100)));
    past_then_at(
        &app,
        &token,
        Method::Post,
        &list,
        &body,
        "notes",
        chars(2000),
        "length",
        201,
    )
    .await;
    for field in ["amount_cents", "cost_cents"] {
        let r = past_then_at(
            &app,
            &token,
            Method::Patch,
            &one,
            &json!({}),
            field,
            money.clone(),
            "range",
            200,
        )
        .await;
        assert_eq!(r.body[field], json!(MAX_CENTS), "{}", r.text);
    }
    // Another key than the one taken above (a second is a 409).
    let key = (json!("鍵".repeat(100)), json!("鍵".repeat(101)));
    let r = past_then_at(
        &app,
        &token,
        Method::Patch,
        &one,
        &json!({}),
        "external_id",
        key,
        "length",
        200,
    )
    .await;
    assert_eq!(r.body["external_id"], json!("鍵".repeat(100)));
    let r = past_then_at(
        &app,
        &token,
        Method::Patch,
        &one,
        &json!({}),
        "notes",
        chars(2000),
        "length",
        200,
    )
    .await;
    assert_eq!(r.body["notes"], json!(text(2000)));
    let r = past_then_at(
        &app,
        &token,
        Method::Patch,
        &one,
        &json!({}),
        "product",
        chars(200),
        "length",
        200,
    )
    .await;
    assert_eq!(r.body["product"], json!(text(200)));
}

async fn contact_patch_text_limits(app: TestApp) {
    let token = app.admin_token().await;
    let c = app
        .create_customer(&token, json!({"kind": "organization", "name": "Staffed"}))
        .await
        .id();
    let contacts = format!("/api/v1/customers/{c}/contacts");
    let r = app.post(&contacts, &token, &json!({"name": "Li"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let one = format!("{contacts}/{}", r.id());
    for (field, limits) in [
        ("name", chars(200)),
        ("title", chars(100)),
        ("notes", chars(2000)),
    ] {
        let r = past_then_at(
            &app,
            &token,
            Method::Patch,
            &one,
            &json!({}),
            field,
            limits.clone(),
            "length",
            200,
        )
        .await;
        assert_eq!(r.body[field], limits.0, "{}", r.text);
    }
}

async fn plan_action_and_interaction_text_limits(app: TestApp) {
    let token = app.admin_token().await;
    let key = key_customer(&app, &token).await;
    let r = past_then_at(
        &app,
        &token,
        Method::Post,
        "/api/v1/account-plans",
        &plan_body(key),
        "objective",
        chars(2000),
        "length",
        201,
    )
    .await;
    let plan = format!("/api/v1/account-plans/{}", r.id());
    past_then_at(
        &app,
        &token,
        Method::Patch,
        &plan,
        &json!({}),
        "objective",
        chars(2000),
        "length",
        200,
    )
    .await;
    let actions = format!("{plan}/actions");
    let action = json!({"type": "executive_visit", "due_date": "2026-01-15"});
    let r = past_then_at(
        &app,
        &token,
        Method::Post,
        &actions,
        &action,
        "description",
        chars(2000),
        "length",
        201,
    )
    .await;
    let action = format!("{actions}/{}", r.id());
    past_then_at(
        &app,
        &token,
        Method::Patch,
        &action,
        &json!({}),
        "description",
        chars(2000),
        "length",
        200,
    )
    .await;
    // Named by its JSON name, not the struct's field (`kind`).
    let r = past_then_at(
        &app,
        &token,
        Method::Patch,
        &action,
        &json!({}),
        "type",
        (json!("peak_supply"), json!("dinner")),
        "invalid_value",
        200,
    )
    .await;
    assert_eq!(r.body["type"], "peak_supply", "{}", r.text);
    let interactions = format!("/api/v1/customers/{key}/interactions");
    let r = past_then_at(
        &app,
        &token,
        Method::Post,
        &interactions,
        &json!({"type": "call"}),
        "summary",
        chars(4000),
        "length",
        201,
    )
    .await;
    let interaction = format!("{interactions}/{}", r.id());
    for field in ["summary", "outcome"] {
        let r = past_then_at(
            &app,
            &token,
            Method::Patch,
            &interaction,
            &json!({}),
            field,
            chars(4000),
            "length",
            200,
        )
        .await;
        assert_eq!(r.body[field], json!(text(4000)), "{}", r.text);
    }
}

/// An address of `len` characters that is otherwise valid: a 64-character
/// local part (starting with `tag`) and labels of at most 63.
fn email(tag: char, len: usize) -> String {
    let local = format!("{tag}{}", "a".repeat(63));
    let last = len - local.len() - 1 - (63 + 1) * 2 - ".com".len();
    format!(
        "{local}@{}.{}.{}.com",
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(last)
    )
}

async fn user_field_limits(app: TestApp) {
    let token = app.admin_token().await;
    let body = json!({"email": "limits@example.com", "name": "Limits", "role": "sales",
        "password": "a-long-password-1"});
    let users = "/api/v1/users";
    let emails = |tag| (json!(email(tag, 254)), json!(email(tag, 255)));
    let r = past_then_at(
        &app,
        &token,
        Method::Post,
        users,
        &body,
        "email",
        emails('p'),
        "length",
        201,
    )
    .await;
    assert_eq!(r.body["email"], json!(email('p', 254)), "{}", r.text);
    let mut body = body;
    for (n, field, limits) in [(1, "name", chars(200)), (2, "password", chars(128))] {
        body["email"] = json!(format!("limits{n}@example.com"));
        past_then_at(
            &app,
            &token,
            Method::Post,
            users,
            &body,
            field,
            limits,
            "length",
            201,
        )
        .await;
    }
    let one = format!("{users}/{}", r.id());
    for (field, limits) in [
        ("email", emails('q')),
        ("name", chars(200)),
        ("password", chars(128)),
    ] {
        past_then_at(
            &app,
            &token,
            Method::Patch,
            &one,
            &json!({}),
            field,
            limits,
            "length",
            200,
        )
        .await;
    }
    // The password set at its limit is the one that logs in.
    let r = app.login(&email('q', 254), &text(128)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn login_limits_and_the_lockout(app: TestApp) {
    let admin = app.admin_email.clone();
    let wrong = |n: usize| "x".repeat(n);
    // Refused before the throttle is asked: none of these is a failed login,
    // for the email or for the client, far past both lockouts (5 per email
    // from one client, 20 per client).
    for _ in 0..25 {
        let r = app.login(&email('z', 255), "whatever").await;
        assert_refused(&r, "email", "length");
    }
    for _ in 0..10 {
        let r = app.login(&admin, &wrong(1025)).await;
        assert_refused(&r, "password", "length");
    }
    // At the limits the login is checked, and fails as any wrong one: three
    // failures for the admin, four for the client, no lockout yet.
    let r = app.login(&email('z', 254), "whatever").await;
    r.problem(401);
    for n in [1024, 1, 2] {
        app.login(&admin, &wrong(n)).await.problem(401);
    }
    let r = app.login(&admin, &app.admin_password.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn password_change_current_password_limit(app: TestApp) {
    let (_, token) = app.user_with_role("sales").await;
    let path = "/api/v1/auth/password";
    let body = |current: String| json!({"current_password": current, "new_password": "a brand new password"});
    // Refused before the throttle too: six of them lock nothing.
    for _ in 0..6 {
        let r = app.post(path, &token, &body(text(1025))).await;
        assert_refused(&r, "current_password", "length");
    }
    // At the limit it is checked against the password, which it is not.
    let r = app.post(path, &token, &body(text(1024))).await;
    assert_refused(&r, "current_password", "wrong_password");
    let r = app
        .post(path, &token, &body("a long test password".to_string()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}
