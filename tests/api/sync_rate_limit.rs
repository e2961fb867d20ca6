//! Per-user rate limits: 429 with Retry-After and RateLimit-* headers.

use patron::config::Config;

use crate::helpers::{run_configured, Backend, TestApp};

fn limited(config: &mut Config) {
    config.rate_limit_per_min = 5;
    config.rate_limit_integration_per_min = 20;
}

macro_rules! limited_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::run_configured(super::$name, super::Backend::Sqlite, super::limited).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::run_configured(super::$name, super::Backend::Postgres, super::limited).await;
                }
            }
        )*
    };
}

async fn over_the_limit_is_429_with_headers(app: TestApp) {
    let token = app.admin_token().await;
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let r = app.get("/api/v1/customers", &token).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("ratelimit-limit").as_deref(), Some("5"));
        remaining.push(
            r.header("ratelimit-remaining")
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
        assert!(r.header("ratelimit-reset").unwrap().parse::<u64>().is_ok());
    }
    assert_eq!(remaining, [4, 3, 2, 1, 0]);
    let r = app.get("/api/v1/customers", &token).await;
    let body = r.problem(429);
    assert_eq!(body["type"], "/problems/rate-limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=12).contains(&retry), "retry after {retry}");
    assert_eq!(r.header("ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(r.header("ratelimit-limit").as_deref(), Some("5"));
    // Limits are per user, not per token: logging in (not counted) again
    // does not reset them.
    let again = app
        .token(&app.admin_email.clone(), &app.admin_password.clone())
        .await;
    let r = app.get("/api/v1/customers", &again).await;
    assert_eq!(
        r.status, 429,
        "the same user with a new token is still limited"
    );
    // Unauthenticated requests are not counted against anyone (401 as usual).
    app.get("/api/v1/customers", "").await.problem(401);
    // Health checks are never limited.
    assert_eq!(app.get("/healthz", &token).await.status, 200);
}

async fn integration_users_get_the_higher_limit(app: TestApp) {
    let (_, integration) = app.user_with_role("integration").await;
    for _ in 0..6 {
        let r = app.get("/api/v1/customers", &integration).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("ratelimit-limit").as_deref(), Some("20"));
    }
    let (_, viewer) = app.user_with_role("viewer").await;
    let r = app.get("/api/v1/customers", &viewer).await;
    assert_eq!(r.header("ratelimit-limit").as_deref(), Some("5"));
}

/// The limit follows the user's current role, not the one in the token: a
/// user moved out of `integration` gets the ordinary limit at once.
async fn the_limit_follows_a_role_change_at_once(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_role("integration").await;
    let r = app.get("/api/v1/customers", &token).await;
    assert_eq!(r.header("ratelimit-limit").as_deref(), Some("20"));
    let moved = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            &serde_json::json!({"role": "manager"}),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    let r = app.get("/api/v1/customers", &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("ratelimit-limit").as_deref(), Some("5"));
}

limited_tests!(
    over_the_limit_is_429_with_headers,
    integration_users_get_the_higher_limit,
    the_limit_follows_a_role_change_at_once,
);
