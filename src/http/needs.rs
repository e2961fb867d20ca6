//! `/customers/{id}/needs`: actual (现实需求) and latent (潜在需求) needs.
//! Converting a latent need to actual (or back) is a PATCH of `kind`, kept
//! in the customer's history.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::common::versioned;
use super::customer_input::nullable;
use super::customers::{find_customer, patchable_customer, record_patch_writes, writable_customer};
use super::dates;
use super::extract::{JsonBody, NoQuery, QueryParams};
use super::no_body::NoBody;
use super::precondition;
use super::validation::{check, known_code, not_blank, Input};
use super::views::utc;
use crate::auth::AuthUser;
use crate::db::events::{self, NewEvent};
use crate::db::needs::{self, NeedRow};
use crate::db::page::{self, Cursor};
use crate::db::{self, DbConn};
use crate::domain::codes::{from_db, Code, LatentNeedType, NeedKind};
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NeedView {
    pub id: i64,
    pub customer_id: i64,
    pub kind: NeedKind,
    /// Why the need is latent; null for actual needs.
    pub latent_type: Option<LatentNeedType>,
    pub description: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<NeedRow> for NeedView {
    fn from(r: NeedRow) -> Self {
        NeedView {
            id: r.id,
            customer_id: r.customer_id,
            kind: from_db(&r.kind, NeedKind::Actual),
            latent_type: r.latent_type.as_deref().and_then(LatentNeedType::parse),
            description: r.description,
            version: r.version,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NeedPage {
    pub items: Vec<NeedView>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "latent", "latent_type": "unfamiliar_with_product", "description": "Has never tried our herbal range"}))]
pub struct NeedCreate {
    #[validate(required, custom(function = "known_code"))]
    #[schema(required = true, value_type = NeedKind)]
    pub kind: Option<Input<NeedKind>>,
    /// Required for latent needs, not allowed for actual ones.
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<LatentNeedType>)]
    pub latent_type: Option<Input<LatentNeedType>>,
    #[validate(required, length(max = 2000), custom(function = "not_blank"))]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 2000, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub description: Option<String>,
}

/// Only the fields sent change. Changing `kind` converts the need and is
/// recorded in the customer's history (with `change_reason`).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"description": "Wants next-day delivery for urgent orders"}))]
pub struct NeedPatch {
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = NeedKind, required = false)]
    pub kind: Option<Option<Input<NeedKind>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<LatentNeedType>)]
    pub latent_type: Option<Option<Input<LatentNeedType>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 2000), custom(function = "not_blank"))]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 2000, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub description: Option<Option<String>>,
    /// Why the need was converted (the stimulus, or why it fell back); not
    /// blank (a blank one was dropped without a word). Kept with the
    /// conversion: without a change of `kind` it is not kept.
    #[validate(length(max = 500), custom(function = "not_blank"))]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub change_reason: Option<String>,
}

impl NeedPatch {
    /// Required fields sent as `null`: they cannot be cleared.
    fn null_errors(&self) -> Vec<FieldError> {
        super::validation::nulls(&[
            ("kind", matches!(self.kind, Some(None))),
            ("description", matches!(self.description, Some(None))),
        ])
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NeedQuery {
    /// Only needs of this kind.
    #[param(inline)]
    pub kind: Option<NeedKind>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, read with the same filters.
    pub cursor: Option<String>,
    /// Only records changed at or after this instant (RFC 3339), for a
    /// pull-based sync; pages stay in id order.
    /// A write is stamped when it starts and seen when it commits: poll again
    /// from a minute before your last mark, or follow `GET /changes` (README,
    /// "Pull-based sync").
    #[serde(default, deserialize_with = "dates::optional")]
    pub updated_since: Option<DateTime<Utc>>,
}

/// A latent need names its type; an actual need has none.
fn shape_errors(kind: NeedKind, latent_type: Option<LatentNeedType>) -> Vec<FieldError> {
    match (kind, latent_type) {
        (NeedKind::Latent, None) => vec![FieldError::new(
            "latent_type",
            "required",
            "is required for a latent need",
        )],
        (NeedKind::Actual, Some(_)) => {
            vec![FieldError::new(
                "latent_type",
                "not_allowed",
                "only latent needs have a latent_type",
            )]
        }
        _ => Vec::new(),
    }
}

fn respond(status: StatusCode, row: NeedRow) -> HttpResponse {
    let loc = format!("/api/v1/customers/{}/needs/{}", row.customer_id, row.id);
    versioned(status, row.version, Some(loc), &NeedView::from(row))
}

fn find_need(conn: &mut DbConn, customer_id: i64, id: i64) -> Result<NeedRow, ApiError> {
    needs::find(conn, customer_id, id)?
        .ok_or_else(|| ApiError::NotFound(format!("customer {customer_id} has no need {id}")))
}

/// A customer's needs.
#[utoipa::path(tag = "needs", params(("id" = i64, Path, description = "Customer id"), NeedQuery), responses((status = 200, body = NeedPage)))]
#[get("/customers/{id}/needs")]
pub async fn list(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    query: QueryParams<NeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let q = query.0;
    let kind = q.kind.map(|k| k.as_str());
    let since = super::common::query_instant("updated_since", q.updated_since)?;
    let limit = page::limit(q.limit)?;
    // One list per customer and filters: another card's cursor is a 400,
    // not a page that silently skips this card's needs.
    let list_name = super::common::filtered_list_name(&format!("needs:{customer_id}"), &kind);
    let after = q
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &list_name, "id"))
        .transpose()?
        .map(|c| c.id);
    let page = state
        .db
        .run(move |conn| {
            find_customer(conn, customer_id)?;
            let rows = needs::page(conn, customer_id, kind, since, after, limit)?;
            Ok(page::finish(rows, limit, &list_name, |r| Cursor {
                s: "id".into(),
                k: serde_json::Value::Null,
                id: r.id,
            }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(NeedPage {
        items: page.items.into_iter().map(NeedView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Record a need.
#[utoipa::path(
    tag = "needs",
    params(("id" = i64, Path, description = "Customer id")),
    request_body = NeedCreate,
    responses((status = 201, body = NeedView, headers(("ETag" = String), ("Location" = String))))
)]
#[post("/customers/{id}/needs")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<NeedCreate>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let input = body.0;
    let kind = input.kind.as_ref().and_then(|k| k.get("kind").ok());
    let latent = input
        .latent_type
        .as_ref()
        .and_then(|t| t.get("latent_type").ok());
    // An unknown latent_type is reported as such, not also as missing.
    let latent_unknown = matches!(input.latent_type, Some(Input::Unknown(_)));
    check(
        &input,
        kind.filter(|_| !latent_unknown)
            .map(|k| shape_errors(k, latent))
            .unwrap_or_default(),
    )?;
    let kind = input
        .kind
        .as_ref()
        .map(|k| k.get("kind"))
        .transpose()?
        .unwrap_or(NeedKind::Actual);
    let now = db::now();
    let row = NeedRow {
        id: 0,
        customer_id,
        kind: kind.as_str().into(),
        latent_type: latent.map(|t| t.as_str().into()),
        description: input.description.unwrap_or_default().trim().to_string(),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let saved = state
        .db
        .write_grouped(move |conn| {
            writable_customer(conn, &user, customer_id)?;
            Ok(needs::insert(conn, &row)?)
        })
        .await?;
    Ok(respond(StatusCode::CREATED, saved))
}

/// Read one need.
#[utoipa::path(
    tag = "needs",
    params(("id" = i64, Path, description = "Customer id"), ("need_id" = i64, Path, description = "Need id")),
    responses((status = 200, body = NeedView, headers(("ETag" = String))))
)]
#[get("/customers/{id}/needs/{need_id}")]
pub async fn get(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<(i64, i64)>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let (customer_id, id) = path.into_inner();
    let row = state
        .db
        .lookup(move |conn| find_need(conn, customer_id, id))
        .await?;
    Ok(respond(StatusCode::OK, row))
}

/// Change a need; changing `kind` converts it (latent → actual after a
/// stimulus, actual → latent when it goes unmet) and records the conversion.
#[utoipa::path(
    tag = "needs",
    params(("id" = i64, Path, description = "Customer id"), ("need_id" = i64, Path, description = "Need id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if it is no longer at that version")),
    request_body = NeedPatch,
    responses(
        (status = 200, body = NeedView, headers(("ETag" = String))),
        (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[patch("/customers/{id}/needs/{need_id}")]
pub async fn patch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    _query: NoQuery,
    body: JsonBody<NeedPatch>,
) -> Result<HttpResponse, ApiError> {
    let (customer_id, id) = path.into_inner();
    let expected = precondition::if_match(&req)?;
    let input = body.0;
    // A kind and a latent type both sent: their rule is the body's alone, and
    // named with its other faults (a description left blank, say) instead of
    // after their fix and resend.
    let mut extra = input.null_errors();
    let sent_kind = input.kind.as_ref().and_then(Option::as_ref);
    if let (Some(k), Some(t)) = (
        sent_kind.and_then(|k| k.get("kind").ok()),
        &input.latent_type,
    ) {
        if let Ok(t) = t.as_ref().map(|t| t.get("latent_type")).transpose() {
            extra.extend(shape_errors(k, t));
        }
    }
    check(&input, extra)?;
    let kind = sent_kind.map(|k| k.get("kind")).transpose()?;
    let latent = match &input.latent_type {
        Some(v) => Some(v.as_ref().map(|t| t.get("latent_type")).transpose()?),
        None => None,
    };
    let saved = state
        .db
        .write_grouped(move |conn| {
            let customer = patchable_customer(conn, &user, customer_id)?;
            let mut row = find_need(conn, customer_id, id)?;
            let stored = row.clone();
            let before = row.version;
            let old_kind = from_db(&row.kind, NeedKind::Actual);
            let new_kind = kind.unwrap_or(old_kind);
            // Converting to actual drops the latent type unless one is sent.
            let new_latent = match latent {
                Some(t) => t,
                None if new_kind == NeedKind::Actual => None,
                None => row.latent_type.as_deref().and_then(LatentNeedType::parse),
            };
            let errors = shape_errors(new_kind, new_latent);
            if !errors.is_empty() {
                // The archived card's 409 first: this 422, fixed and
                // resent, only met it.
                super::customers::refuse_archived(&customer)?;
                return Err(ApiError::Validation(errors));
            }
            row.kind = new_kind.as_str().into();
            row.latent_type = new_latent.map(|t| t.as_str().into());
            if let Some(d) = input.description.flatten() {
                row.description = d.trim().to_string();
            }
            if !record_patch_writes(&customer, row != stored, expected.as_deref(), before)? {
                return Ok(row);
            }
            let now = db::now();
            row.version = before + 1;
            row.updated_at = now;
            precondition::require_saved(needs::save(conn, &row, before)?, before)?;
            if new_kind != old_kind {
                events::insert(
                    conn,
                    &NewEvent {
                        customer_id,
                        kind: events::NEED_CONVERTED,
                        from_value: Some(old_kind.as_str()),
                        to_value: Some(new_kind.as_str()),
                        subject_id: Some(id),
                        reason: input
                            .change_reason
                            .as_deref()
                            .map(str::trim)
                            .filter(|r| !r.is_empty()),
                        user_id: Some(user.id),
                        at: now,
                    },
                )?;
            }
            Ok(row)
        })
        .await?;
    Ok(respond(StatusCode::OK, saved))
}

/// Delete a need.
#[utoipa::path(
    tag = "needs",
    params(("id" = i64, Path, description = "Customer id"), ("need_id" = i64, Path, description = "Need id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if it is no longer at that version")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[delete("/customers/{id}/needs/{need_id}")]
pub async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    _query: NoQuery,
    _body: NoBody,
) -> Result<HttpResponse, ApiError> {
    let (customer_id, id) = path.into_inner();
    let expected = precondition::if_match(&req)?;
    state
        .db
        .write_grouped(move |conn| {
            // Found before the archived card's 409: a record that is not
            // there is a 404 on an archived card too (as its PATCH answers).
            let customer = patchable_customer(conn, &user, customer_id)?;
            let found = find_need(conn, customer_id, id)?;
            super::customers::refuse_archived(&customer)?;
            precondition::check(expected.as_deref(), found.version)?;
            needs::delete(conn, id)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
