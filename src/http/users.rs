//! `/users`: user management, for admins.

use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::customer_input::nullable;
use super::dates;
use super::extract::{JsonBody, NoQuery, QueryParams};
use super::precondition::{self, etag};
use super::validation::{check, known_code, not_blank, Input};
use super::views::utc;
use crate::auth::{password, AuthUser};
use crate::db::page::{self, Cursor};
use crate::db::row_lock::{lock, Locked};
use crate::db::{self, users};
use crate::domain::codes::{from_db, Role};
use crate::domain::email::normalize as normalize_email;
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    #[schema(example = 2)]
    pub id: i64,
    #[schema(example = "li.na@example.com")]
    pub email: String,
    #[schema(example = "Li Na")]
    pub name: String,
    pub role: Role,
    /// Inactive users cannot log in, and their tokens stop working at once.
    pub active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<users::UserRow> for UserView {
    fn from(u: users::UserRow) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            name: u.name,
            role: from_db(&u.role, Role::Viewer),
            active: u.active,
            version: u.version,
            created_at: utc(u.created_at),
            updated_at: utc(u.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
// The role is explicit: without it Swagger UI's default body made an admin.
#[schema(example = json!({"email": "li.na@example.com", "name": "Li Na", "role": "sales",
    "password": "a long passphrase"}))]
pub struct UserCreate {
    #[validate(
        required,
        custom(function = "super::validation::email_address"),
        length(max = 254)
    )]
    #[schema(required = true, value_type = String, format = Email, example = "li.na@example.com", max_length = 254)]
    pub email: Option<String>,
    #[validate(required, length(max = 200), custom(function = "not_blank"))]
    #[schema(required = true, value_type = String, example = "Li Na", min_length = 1, max_length = 200, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub name: Option<String>,
    #[validate(required, custom(function = "known_code"))]
    #[schema(required = true, value_type = Role)]
    pub role: Option<Input<Role>>,
    /// 10 to 128 characters.
    #[validate(
        required,
        length(min = 10, max = 128),
        custom(function = "super::validation::no_control_characters")
    )]
    #[schema(required = true, value_type = String, format = Password, example = "a long passphrase", min_length = 10, max_length = 128)]
    pub password: Option<String>,
    /// Defaults to true.
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
// One harmless field: Swagger UI's body built from the schema sent every
// field (a placeholder password, role admin, a new email).
#[schema(example = json!({"name": "Li Na"}))]
pub struct UserPatch {
    // `null` is read apart from "not sent": no field of a user can be empty,
    // so a null is a 422 `required` with the body's other errors (it was a
    // 200 that changed nothing, a review).
    #[serde(default, deserialize_with = "nullable")]
    #[validate(
        custom(function = "super::validation::email_address"),
        length(max = 254)
    )]
    #[schema(value_type = String, required = false, format = Email, max_length = 254)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 200), custom(function = "not_blank"))]
    #[schema(
        value_type = String,
        required = false,
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Role, required = false)]
    pub role: Option<Option<Input<Role>>>,
    /// A new password; revokes the user's existing tokens.
    #[serde(default, deserialize_with = "nullable")]
    #[validate(
        length(min = 10, max = 128),
        custom(function = "super::validation::no_control_characters")
    )]
    #[schema(value_type = String, required = false, format = Password, min_length = 10, max_length = 128)]
    pub password: Option<Option<String>>,
    /// False deactivates the user and revokes their tokens at once.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = bool, required = false)]
    pub active: Option<Option<bool>>,
}

impl UserPatch {
    /// Fields sent as `null`: none of them can be cleared.
    fn null_errors(&self) -> Vec<FieldError> {
        super::validation::nulls(&[
            ("email", matches!(self.email, Some(None))),
            ("name", matches!(self.name, Some(None))),
            ("role", matches!(self.role, Some(None))),
            ("password", matches!(self.password, Some(None))),
            ("active", matches!(self.active, Some(None))),
        ])
    }
}

/// Filters, sort and page of the user list. Filters combine with AND.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Only users with this role.
    #[param(inline)]
    pub role: Option<Role>,
    /// true: only active users; false: only deactivated ones.
    pub active: Option<bool>,
    /// Case-insensitive search: users whose email or name holds this text
    /// (trimmed; blank is no filter). Emails are searched as stored: a
    /// non-ASCII domain in Punycode (`xn--…`).
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// One of `id`, `email`, `name`, `created_at`, `updated_at`; prefix `-`
    /// for descending. Default `id`. Ties go by id. `name` and `email`
    /// follow the database's collation (SQLite: code point order;
    /// PostgreSQL: the database's locale, which may weigh punctuation
    /// last: `ab@…` before `a.z@…`).
    #[param(
        example = "email",
        pattern = "^-?(id|email|name|created_at|updated_at)$"
    )]
    pub sort: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, read with the same sort and filters.
    pub cursor: Option<String>,
    /// Only records changed at or after this instant (RFC 3339), for a
    /// pull-based sync.
    /// A write is stamped when it starts and seen when it commits: poll again
    /// from a minute before your last mark, or follow `GET /changes` (README,
    /// "Pull-based sync").
    #[serde(default, deserialize_with = "dates::optional")]
    pub updated_since: Option<DateTime<Utc>>,
}

/// A user search's `q` (the list's and the directory's), trimmed; blank is
/// no filter. At most 200 characters counted as sent, as the spec's
/// maxLength and the customer list's `q` count them, before the trim.
pub(super) fn search_term(q: Option<&str>) -> Result<Option<String>, ApiError> {
    if q.is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::InvalidQuery(vec![FieldError::new(
            "q",
            "length",
            "must be at most 200 characters",
        )]));
    }
    Ok(q.map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_string))
}

impl UserQuery {
    fn filter(&self) -> Result<users::Filter, ApiError> {
        Ok(users::Filter {
            role: self.role.map(Role::as_str),
            active: self.active,
            q: search_term(self.q.as_deref())?,
            q_name_only: false,
            updated_since: super::common::query_instant("updated_since", self.updated_since)?,
        })
    }
}

fn user_response(status: actix_web::http::StatusCode, user: users::UserRow) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(etag(user.version))
        .json(UserView::from(user))
}

/// List users (admins and managers: a manager hands cards over, and picks
/// the new owner here): filter by role, active flag or a search of email
/// and name; sort by id, email, name, created_at or updated_at.
#[utoipa::path(tag = "users", params(UserQuery), responses((status = 200, body = UserPage)))]
#[get("/users")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: QueryParams<UserQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_any(&[Role::Admin, Role::Manager])?;
    let q = query.0;
    let filter = q.filter()?;
    let sort = users::sort(q.sort.as_deref())?;
    let limit = page::limit(q.limit)?;
    let list_name =
        super::common::filtered_list_name("users", &(filter.role, filter.active, &filter.q));
    let after = q
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &list_name, &sort.as_string()))
        .transpose()?;
    let rows = state
        .db
        .run(move |conn| users::page(conn, &filter, sort, after.as_ref(), limit))
        .await?;
    let page = page::finish(rows, limit, &list_name, |u| users::cursor_for(&sort, u));
    Ok(HttpResponse::Ok().json(UserPage {
        items: page.items.into_iter().map(UserView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Create a user.
///
/// Under an `Idempotency-Key`, the password is left out of the request the
/// key stands for (a stored hash of it could be tested against guesses far
/// faster than Argon2): a retry with the same key and another password
/// replays the first answer, and the user keeps the first password.
#[utoipa::path(
    tag = "users",
    request_body = UserCreate,
    responses(
        (status = 201, body = UserView, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "The email is taken (`errors`: `[{field: email, code: conflict}]`, also when a concurrent write took it first)", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/users")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    _query: NoQuery,
    body: JsonBody<UserCreate>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let input = body.0;
    check(&input, Vec::new())?;
    let role = input
        .role
        .as_ref()
        .map(|r| r.get("role"))
        .transpose()?
        .unwrap_or(Role::Viewer);
    let password = input.password.unwrap_or_default();
    let hash = password::hash_off_pool(password).await?;
    let now = db::now();
    let new = users::NewUser {
        email: normalize_email(&input.email.unwrap_or_default()),
        name: input.name.unwrap_or_default().trim().to_string(),
        role: role.as_str().into(),
        password_hash: hash,
        active: input.active.unwrap_or(true),
        token_generation: 0,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let row = state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                if users::find_by_email(conn, &new.email)?.is_some() {
                    return Err(ApiError::field_conflict(
                        "email",
                        format!("a user with email {} exists", new.email),
                    ));
                }
                let row = users::insert(conn, &new)?;
                user.unchanged_in(conn)?;
                Ok(row)
            })
        })
        .await?;
    let location = format!("/api/v1/users/{}", row.id);
    let mut response = user_response(actix_web::http::StatusCode::CREATED, row);
    response.headers_mut().insert(
        actix_web::http::header::LOCATION,
        actix_web::http::header::HeaderValue::from_str(&location)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(response)
}

/// Read a user. Admins and managers read anyone; every other user reads
/// only itself (403 for another user).
#[utoipa::path(
    tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, body = UserView, headers(("ETag" = String))),
        (status = 403, description = "A user who is neither an admin nor a manager, reading another user: the other roles read only themselves", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/users/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    if id != user.id {
        user.require_any(&[Role::Admin, Role::Manager])?;
    }
    let row = state
        .db
        .lookup(move |conn| Ok(users::find(conn, id)?))
        .await?;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("no user {id}")))?;
    Ok(user_response(actix_web::http::StatusCode::OK, row))
}

/// Change a user: name, email, role, password, active. Deactivating or
/// changing the password revokes the user's existing tokens. The last active
/// admin cannot be deactivated or demoted.
#[utoipa::path(
    tag = "users",
    params(("id" = i64, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the user is no longer at that version")),
    request_body = UserPatch,
    responses(
        (status = 200, body = UserView, headers(("ETag" = String))),
        (status = 409, description = "The email is taken (`errors`: `[{field: email, code: conflict}]`, also when a concurrent write took it first), or the last active admin would be lost (no `errors`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The user is not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[patch("/users/{id}")]
pub async fn patch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<UserPatch>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let id = path.into_inner();
    let expected = precondition::if_match(&req)?;
    let input = body.0;
    check(&input, input.null_errors())?;
    // Nulls were refused above: from here on, `None` is "not sent".
    let UserPatch {
        email,
        name,
        role,
        password,
        active,
    } = input;
    let (email, name, role, password, active) = (
        email.flatten(),
        name.flatten(),
        role.flatten(),
        password.flatten(),
        active.flatten(),
    );
    let role = role.as_ref().map(|r| r.get("role")).transpose()?;
    let new_hash = match password {
        Some(p) => Some(password::hash_off_pool(p).await?),
        None => None,
    };
    let row = state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                // A change that may take an admin away locks the active
                // admins (in id order) before its own row: two admins
                // demoting each other at once locked their own rows first
                // and then each other's, a deadlock (503) on PostgreSQL.
                let admins = if role.is_some() || active == Some(false) {
                    Some(users::count_active_admins(conn)?)
                } else {
                    None
                };
                lock(conn, Locked::Users, id)?;
                let current = users::find(conn, id)?
                    .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))?;
                precondition::check(expected.as_deref(), current.version)?;
                user.unchanged_in(conn)?;
                let now = db::now();
                let email = email
                    .as_deref()
                    .map(normalize_email)
                    .unwrap_or(current.email.clone());
                if email != current.email && users::find_by_email(conn, &email)?.is_some() {
                    return Err(ApiError::field_conflict(
                        "email",
                        format!("a user with email {email} exists"),
                    ));
                }
                let role = role
                    .map(|r| r.as_str().to_string())
                    .unwrap_or(current.role.clone());
                let active = active.unwrap_or(current.active);
                let loses_admin =
                    current.role == "admin" && current.active && (role != "admin" || !active);
                // Losing an admin needs a role or `active: false` sent, so
                // the admins were counted above (and stay locked).
                if loses_admin && admins.is_some_and(|n| n <= 1) {
                    return Err(ApiError::Conflict(
                        "this is the last active admin; make another admin first".into(),
                    ));
                }
                let new_password = new_hash.is_some();
                let revoke = new_password || (current.active && !active);
                let changes = users::UserChanges {
                    email,
                    name: name
                        .as_deref()
                        .map(|n| n.trim().to_string())
                        .unwrap_or(current.name.clone()),
                    role,
                    password_hash: new_hash.unwrap_or(current.password_hash.clone()),
                    active,
                    token_generation: current.token_generation + i64::from(revoke),
                    version: current.version + 1,
                    updated_at: now,
                };
                // Nothing differs (a password sent is always a change): no
                // write, no new version.
                if !new_password
                    && changes.email == current.email
                    && changes.name == current.name
                    && changes.role == current.role
                    && changes.active == current.active
                {
                    return Ok(current);
                }
                if users::update(conn, id, current.version, &changes)? == 0 {
                    return Err(ApiError::PreconditionFailed {
                        current: current.version + 1,
                    });
                }
                users::find(conn, id)?.ok_or_else(|| ApiError::NotFound(format!("no user {id}")))
            })
        })
        .await;
    // Committed (or rolled back): cached user checks read before are void.
    users::changed();
    let row = row?;
    Ok(user_response(actix_web::http::StatusCode::OK, row))
}

/// A field error for an owner id that names no active user.
pub fn owner_error(field: &str) -> FieldError {
    FieldError::new(field, "unknown_user", "must be the id of an active user")
}

/// `id`, given to `field` (an owner, an interaction's user), names an active
/// user; the caller itself (the field's default), deactivated since its
/// token was checked, is a 401, not a 422 on a field it may not have sent.
pub fn require_active(
    conn: &mut crate::db::DbConn,
    caller: &AuthUser,
    id: i64,
    field: &str,
) -> Result<(), ApiError> {
    let active = users::find(conn, id)?.is_some_and(|u| u.active);
    caller.still_active(id, active)?;
    if active {
        Ok(())
    } else {
        Err(ApiError::Validation(vec![owner_error(field)]))
    }
}
