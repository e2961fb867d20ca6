//! `POST /auth/token`: log in.

use std::time::Instant;

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::extract::{JsonBody, NoQuery};
use super::validation::check;
use crate::auth::password;
use crate::auth::throttle::{Attempt, Refused};
use crate::db::users;
use crate::domain::codes::{from_db, Role};
use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "admin@localhost", "password": "correct horse battery staple"}))]
pub struct TokenRequest {
    #[validate(required, length(min = 1, max = 254))]
    #[schema(required = true, value_type = String, example = "admin@localhost", min_length = 1, max_length = 254)]
    pub email: Option<String>,
    #[validate(required, length(min = 1, max = 1024))]
    #[schema(required = true, value_type = String, example = "correct horse battery staple", format = Password, min_length = 1, max_length = 1024)]
    pub password: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the token expires.
    #[schema(example = 3600)]
    pub expires_in: i64,
    /// The signed-in user's id (`GET /users/{id}`; a card's `owner_id`), so
    /// that a frontend need not decode the token.
    #[schema(example = 7)]
    pub user_id: i64,
    /// The signed-in user's role, which decides what the token may do.
    pub role: Role,
}

const BAD_LOGIN: &str = "invalid email or password";

/// A new token for the user, never kept by a cache.
pub fn token_response(
    state: &AppState,
    user_id: i64,
    role: &str,
    generation: i64,
) -> Result<HttpResponse, ApiError> {
    let now = chrono::Utc::now().timestamp();
    let access_token = state.jwt.issue(user_id, role, generation, now)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: state.jwt.ttl_secs,
            user_id,
            role: from_db(role, Role::Viewer),
        }))
}

/// A password check for `email` from the request's client, counted by the
/// login throttle, or its 429: a login, or (with the user's id and its
/// token's `iat`) a password change's current password, also counted per
/// token.
pub fn begin_attempt<'a>(
    state: &'a AppState,
    req: &HttpRequest,
    email: &str,
    changing: Option<(i64, i64)>,
) -> Result<Attempt<'a>, ApiError> {
    let client = super::client_address::of(req, &state.trusted_proxies)
        .map(super::client_address::throttle_key)
        .unwrap_or_default();
    let now = Instant::now();
    // A password change is refused for the token's wrong current passwords
    // too: "failed logins" alone sent its user looking for logins (a QA
    // review).
    let (failures, successes) = match changing {
        None => ("failed logins", "logins"),
        Some(_) => (
            "failed logins or wrong current passwords",
            "logins or password changes",
        ),
    };
    match changing {
        None => state.throttle.begin(email, &client, now),
        Some((user_id, issued_at)) => state
            .throttle
            .begin_password_change(user_id, issued_at, email, &client, now),
    }
    .map_err(|refused| {
        let (what, wait) = match refused {
            Refused::Failures(wait) => (failures, wait),
            Refused::Logins(wait) => (successes, wait),
        };
        ApiError::TooManyRequests {
            detail: format!("too many {what}; try again in {wait} s"),
            retry_after_secs: wait,
        }
    })
}

/// Exchange an email and password for an access token. Repeated failures
/// for one email from one client address (or for one email from many, or
/// from one address for many emails) are refused with 429 for a while, and
/// so are more than `PATRON_LOGIN_MAX_PER_MIN` successful logins (default
/// 30) per email within a minute (four times as many per client); the answer
/// never tells whether the email exists.
#[utoipa::path(
    tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, body = TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`: a token is never kept by a cache"))),
        (status = 401, description = "Invalid email or password", body = crate::error::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 429, description = "Too many failed logins, or logins within a minute, or too many password checks waiting (`Retry-After: 2`; not a failed attempt)", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait")))
    ),
    security(())
)]
#[post("/auth/token")]
pub async fn token(
    _query: NoQuery,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    check(&input, Vec::new())?;
    let typed = input.email.unwrap_or_default();
    let password = input.password.unwrap_or_default();
    let attempt = begin_attempt(&state, &req, &crate::domain::email::normalize(&typed), None)?;

    let user = match state
        .db
        .run(move |conn| Ok(users::find_for_login(conn, &typed)?))
        .await
    {
        Ok(user) => user,
        Err(e) => {
            attempt.void();
            return Err(e);
        }
    };
    // Verify against a dummy hash when the email is unknown: same time, same answer.
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::dummy_hash().to_string());
    // Not a failed login when the check could not run (too many waiting).
    let matches = match password::verify_off_pool(password, hash).await {
        Ok(matches) => matches,
        Err(e) => {
            attempt.void();
            return Err(e);
        }
    };

    match user {
        Some(user) if matches && user.active => {
            attempt.succeeded();
            token_response(&state, user.id, &user.role, user.token_generation)
        }
        _ => {
            attempt.failed();
            Err(ApiError::Unauthorized(BAD_LOGIN.into()))
        }
    }
}
