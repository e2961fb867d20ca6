//! `/customers/{id}/contacts`: the contact people of a customer
//! (decision maker 决策人, handler 经办人, others).

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::customer_input::{nullable, trim};
use super::customers::{find_customer, patchable_customer, record_patch_writes, writable_customer};
use super::dates;
use super::extract::{JsonBody, NoQuery, QueryParams};
use super::no_body::NoBody;
use super::precondition::{self, etag};
use super::validation::{check, known_code, length_errors, not_blank, phone_number, Input};
use super::views::utc;
use crate::auth::AuthUser;
use crate::db::contacts::{self, ContactRow};
use crate::db::page::{self, Cursor};
use crate::db::{self, DbConn};
use crate::domain::codes::{from_db, ContactRole};
use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContactView {
    pub id: i64,
    pub customer_id: i64,
    #[schema(example = "王伟")]
    pub name: String,
    pub role: ContactRole,
    #[schema(example = "Purchasing manager")]
    pub title: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub notes: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ContactRow> for ContactView {
    fn from(c: ContactRow) -> Self {
        ContactView {
            id: c.id,
            customer_id: c.customer_id,
            name: c.name,
            role: from_db(&c.role, ContactRole::Other),
            title: c.title,
            email: c.email,
            phone: c.phone,
            notes: c.notes,
            version: c.version,
            created_at: utc(c.created_at),
            updated_at: utc(c.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactPage {
    pub items: Vec<ContactView>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "王伟", "role": "decision_maker", "title": "General manager", "phone": "+86 138 0013 8000"}))]
pub struct ContactCreate {
    #[validate(required, length(max = 200), custom(function = "not_blank"))]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub name: Option<String>,
    /// Defaults to `other`.
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<ContactRole>)]
    pub role: Option<Input<ContactRole>>,
    #[validate(length(max = 100))]
    #[schema(max_length = 100)]
    pub title: Option<String>,
    #[validate(
        custom(function = "super::validation::email_address"),
        length(max = 254)
    )]
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    #[validate(length(max = 32), custom(function = "phone_number"))]
    #[schema(pattern = r"^[-+(). ]*(?:[0-9][-+(). ]*){5,20}$", max_length = 32)]
    pub phone: Option<String>,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
}

/// Only the fields sent change; `null` clears an optional field.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Purchasing director"}))]
pub struct ContactPatch {
    /// Cannot be cleared (`null` is a 422).
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
    /// Cannot be cleared (`null` is a 422).
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = ContactRole, required = false)]
    pub role: Option<Option<Input<ContactRole>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 100))]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(
        custom(function = "super::validation::email_address"),
        length(max = 254)
    )]
    #[schema(value_type = Option<String>, format = Email, max_length = 254)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 32), custom(function = "phone_number"))]
    #[schema(value_type = Option<String>, pattern = r"^[-+(). ]*(?:[0-9][-+(). ]*){5,20}$", max_length = 32)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 2000))]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub notes: Option<Option<String>>,
}

fn contact_response(status: StatusCode, row: ContactRow) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.insert_header(etag(row.version));
    if status == StatusCode::CREATED {
        response.insert_header((
            header::LOCATION,
            format!("/api/v1/customers/{}/contacts/{}", row.customer_id, row.id),
        ));
    }
    response.json(ContactView::from(row))
}

fn find_contact(conn: &mut DbConn, customer_id: i64, id: i64) -> Result<ContactRow, ApiError> {
    contacts::find(conn, customer_id, id)?
        .ok_or_else(|| ApiError::NotFound(format!("customer {customer_id} has no contact {id}")))
}

/// A page of a card's contacts, in id order.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only records changed at or after this instant (RFC 3339), for a
    /// pull-based sync; pages stay in id order.
    /// A write is stamped when it starts and seen when it commits: poll again
    /// from a minute before your last mark, or follow `GET /changes` (README,
    /// "Pull-based sync").
    #[serde(default, deserialize_with = "dates::optional")]
    pub updated_since: Option<DateTime<Utc>>,
}

/// List a customer's contacts.
#[utoipa::path(tag = "contacts", params(("id" = i64, Path, description = "Customer id"), PageQuery), responses((status = 200, body = ContactPage)))]
#[get("/customers/{id}/contacts")]
pub async fn list(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    query: QueryParams<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let since = super::common::query_instant("updated_since", query.0.updated_since)?;
    let limit = page::limit(query.0.limit)?;
    // One list per customer: another customer's cursor is refused.
    let list_name = format!("contacts:{customer_id}");
    let after = query
        .0
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &list_name, "id"))
        .transpose()?
        .map(|c| c.id);
    let page = state
        .db
        .run(move |conn| {
            find_customer(conn, customer_id)?;
            let rows = contacts::page(conn, customer_id, since, after, limit)?;
            Ok(page::finish(rows, limit, &list_name, |c| Cursor {
                s: "id".into(),
                k: serde_json::Value::Null,
                id: c.id,
            }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(ContactPage {
        items: page.items.into_iter().map(ContactView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Add a contact person to a customer.
#[utoipa::path(
    tag = "contacts",
    params(("id" = i64, Path, description = "Customer id")),
    request_body = ContactCreate,
    responses((status = 201, body = ContactView, headers(("ETag" = String), ("Location" = String))))
)]
#[post("/customers/{id}/contacts")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<ContactCreate>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let mut input = body.0;
    // Judged trimmed, as a card's (its lengths as sent): stored trimmed, a
    // phone typed with an ideographic space was refused here and taken on
    // the card (a review).
    let as_sent = length_errors(&input);
    trim(input.email.as_mut());
    trim(input.phone.as_mut());
    check(&input, as_sent)?;
    let now = db::now();
    let row = ContactRow {
        id: 0,
        customer_id,
        name: input.name.unwrap_or_default().trim().to_string(),
        role: input
            .role
            .as_ref()
            .map(|r| r.get("role"))
            .transpose()?
            .unwrap_or(ContactRole::Other)
            .as_str()
            .into(),
        title: super::common::clean(input.title),
        email: super::common::clean(input.email).map(|e| e.to_lowercase()),
        phone: super::common::clean(input.phone),
        notes: super::common::clean(input.notes),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let saved = state
        .db
        .write_grouped(move |conn| {
            writable_customer(conn, &user, customer_id)?;
            Ok(contacts::insert(conn, &row)?)
        })
        .await?;
    Ok(contact_response(StatusCode::CREATED, saved))
}

/// Read one contact.
#[utoipa::path(
    tag = "contacts",
    params(("id" = i64, Path, description = "Customer id"), ("contact_id" = i64, Path, description = "Contact id")),
    responses((status = 200, body = ContactView, headers(("ETag" = String))))
)]
#[get("/customers/{id}/contacts/{contact_id}")]
pub async fn get(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<(i64, i64)>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let (customer_id, id) = path.into_inner();
    let row = state
        .db
        .lookup(move |conn| find_contact(conn, customer_id, id))
        .await?;
    Ok(contact_response(StatusCode::OK, row))
}

/// Change a contact.
#[utoipa::path(
    tag = "contacts",
    params(("id" = i64, Path, description = "Customer id"), ("contact_id" = i64, Path, description = "Contact id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the contact is no longer at that version")),
    request_body = ContactPatch,
    responses(
        (status = 200, body = ContactView, headers(("ETag" = String))),
        (status = 412, description = "The contact is not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[patch("/customers/{id}/contacts/{contact_id}")]
pub async fn patch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    _query: NoQuery,
    body: JsonBody<ContactPatch>,
) -> Result<HttpResponse, ApiError> {
    let (customer_id, id) = path.into_inner();
    let expected = precondition::if_match(&req)?;
    let mut input = body.0;
    // The required fields cannot be cleared: `null` was taken as "not sent".
    let mut errors = super::validation::nulls(&[
        ("name", matches!(input.name, Some(None))),
        ("role", matches!(input.role, Some(None))),
    ]);
    errors.extend(length_errors(&input));
    trim(input.email.as_mut().and_then(Option::as_mut));
    trim(input.phone.as_mut().and_then(Option::as_mut));
    check(&input, errors)?;
    let role = input
        .role
        .as_ref()
        .and_then(Option::as_ref)
        .map(|r| r.get("role"))
        .transpose()?;
    let saved = state
        .db
        .write_grouped(move |conn| {
            let customer = patchable_customer(conn, &user, customer_id)?;
            let mut row = find_contact(conn, customer_id, id)?;
            let stored = row.clone();
            let before = row.version;
            if let Some(name) = input.name.flatten() {
                row.name = name.trim().to_string();
            }
            if let Some(role) = role {
                row.role = role.as_str().into();
            }
            if let Some(v) = input.title {
                row.title = super::common::clean(v);
            }
            if let Some(v) = input.email {
                row.email = super::common::clean(v).map(|e| e.to_lowercase());
            }
            if let Some(v) = input.phone {
                row.phone = super::common::clean(v);
            }
            if let Some(v) = input.notes {
                row.notes = super::common::clean(v);
            }
            if !record_patch_writes(&customer, row != stored, expected.as_deref(), before)? {
                return Ok(row);
            }
            row.version = before + 1;
            row.updated_at = db::now();
            precondition::require_saved(contacts::save(conn, &row, before)?, before)?;
            Ok(row)
        })
        .await?;
    Ok(contact_response(StatusCode::OK, saved))
}

/// Remove a contact person.
#[utoipa::path(
    tag = "contacts",
    params(("id" = i64, Path, description = "Customer id"), ("contact_id" = i64, Path, description = "Contact id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if it is no longer at that version")),
    responses(
        (status = 204, description = "Removed"),
        (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[delete("/customers/{id}/contacts/{contact_id}")]
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
            let found = find_contact(conn, customer_id, id)?;
            super::customers::refuse_archived(&customer)?;
            precondition::check(expected.as_deref(), found.version)?;
            contacts::delete(conn, customer_id, id)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
