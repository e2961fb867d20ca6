//! `POST /auth/password`: a user changes its own password. Without it a user
//! who suspected a leak could neither rotate the password nor end its
//! sessions without an admin, and admins chose (so knew) every password.

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use validator::Validate;

use super::auth::TokenResponse;
use super::extract::{JsonBody, NoQuery};
use super::validation::check;
use crate::auth::extract::{bearer_token, disabled, revoked};
use crate::auth::{password, AuthUser};
use crate::db::row_lock::{lock, Locked};
use crate::db::{self, users};
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
// Not the login's example password: scripts/proof gives the fuzzed server's
// admin that one, and this example, sent as is, changed it and revoked the
// fuzzer's token (every later call a 401).
#[schema(example = json!({"current_password": "my current passphrase",
    "new_password": "a longer passphrase of mine"}))]
pub struct PasswordChange {
    /// The password the caller logs in with now.
    #[validate(required, length(min = 1, max = 1024))]
    #[schema(required = true, value_type = String, format = Password, min_length = 1, max_length = 1024)]
    pub current_password: Option<String>,
    /// The new password (10–128 characters, as `POST /users` asks).
    #[validate(required, length(min = 10, max = 128))]
    #[schema(required = true, value_type = String, format = Password, min_length = 10, max_length = 128)]
    pub new_password: Option<String>,
}

/// The route's path: the viewer check, the idempotency layer and the spec
/// each treat it apart (a viewer may call it; its token answer is never
/// stored, so no key is read or documented).
pub const PATH: &str = "/api/v1/auth/password";

fn wrong_password() -> ApiError {
    ApiError::Validation(vec![FieldError::new(
        "current_password",
        "wrong_password",
        "is not the password you log in with",
    )])
}

/// Change your own password (any role). Every token of yours issued before
/// stops working, this one included; the answer carries a new one. A wrong
/// `current_password` is a 422 naming it and counts as a failed login for
/// your email from your address, and as a wrong password sent with this
/// token from any address: after 5 within 5 minutes this token gets 429 here
/// (from every address), as does logging in from that address, so a stolen
/// token cannot be used to guess the password. The count is per token, not
/// per user: your other tokens (a new login) can still change the password,
/// and so revoke a stolen one.
#[utoipa::path(
    tag = "auth",
    request_body = PasswordChange,
    responses(
        (status = 200, body = TokenResponse, description = "Changed; a new token (the old ones are revoked)",
            headers(("Cache-Control" = String, description = "`no-store`: a token is never kept by a cache"))),
        (status = 429, description = "Too many wrong current passwords with this token (5 per window per token, from all addresses), or failed logins (for this email from this address, or from this address; strangers' failures for this email from all addresses do not lock a password change), or logins from this address within a minute, or this user's password changes within a minute (`PATRON_LOGIN_MAX_PER_MIN`), or too many password checks waiting (`Retry-After: 2`; not a failed attempt)", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait")))
    )
)]
#[post("/auth/password")]
pub async fn change(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    _query: NoQuery,
    body: JsonBody<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    check(&input, Vec::new())?;
    let current = input.current_password.unwrap_or_default();
    let new = input.new_password.unwrap_or_default();
    // The token the extractor checked (its claims are remembered, so this
    // is a lookup): its `iat` names it for the per-token count.
    let issued_at = state
        .jwt
        .verify(&bearer_token(&req)?, chrono::Utc::now().timestamp())?
        .iat;
    let attempt =
        super::auth::begin_attempt(&state, &req, &user.email, Some((user.id, issued_at)))?;
    let (id, generation) = (user.id, user.token_generation);
    let row = match state.db.run(move |conn| Ok(users::find(conn, id)?)).await {
        Ok(Some(row)) if row.active => row,
        // Deactivated since the token's check (which may have come from
        // the user cache): the token no longer holds.
        Ok(_) => {
            attempt.void();
            return Err(disabled());
        }
        Err(e) => {
            attempt.void();
            return Err(e);
        }
    };
    let hash = row.password_hash.clone();
    // One turn for both: hashed in a second turn, the new password could
    // meet a full queue after the current one was taken.
    let new_hash = match password::verify_then_hash_off_pool(current, hash, new).await {
        Ok(Some(new_hash)) => new_hash,
        Ok(None) => {
            attempt.failed();
            return Err(wrong_password());
        }
        Err(e) => {
            attempt.void();
            return Err(e);
        }
    };
    attempt.succeeded();
    let saved = state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                let now = db::now();
                lock(conn, Locked::Users, id)?;
                let current = users::find(conn, id)?
                    .filter(|u| u.active)
                    .ok_or_else(disabled)?;
                // Checked against the hash read before the (slow) hashing: a
                // password changed meanwhile (by an admin, or another of
                // these) is not overwritten on the strength of the old one.
                if current.password_hash != row.password_hash {
                    return Err(wrong_password());
                }
                // Revoked meanwhile (the account deactivated and reactivated
                // during the hashing): the old token makes no new one, as
                // every other write finds (`AuthUser::unchanged_in`).
                if current.token_generation != generation {
                    return Err(revoked());
                }
                let changes = users::UserChanges {
                    email: current.email.clone(),
                    name: current.name.clone(),
                    role: current.role.clone(),
                    password_hash: new_hash,
                    active: current.active,
                    token_generation: current.token_generation + 1,
                    version: current.version + 1,
                    updated_at: now,
                };
                // The row is locked: the version read is the one written over.
                users::update(conn, id, current.version, &changes)?;
                Ok(changes)
            })
        })
        .await;
    // Committed (or rolled back): cached user checks read before are void.
    users::changed();
    let saved = saved?;
    super::auth::token_response(&state, id, &saved.role, saved.token_generation)
}
