//! `/customers/{id}/interactions` and `/interactions`: the contact history
//! (拜访记录), including complaints and the follow-ups a rep owes.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::common::{clean, instant, not_future, versioned};
use super::customer_input::nullable;
use super::customers::{
    find_customer, patchable_customer, record_patch_writes, refuse_archived, writable_customer,
};
use super::dates;
use super::extract::{JsonBody, NoQuery, QueryParams};
use super::no_body::NoBody;
use super::precondition;
use super::validation::{check, known_code, not_blank, Input};
use super::views::utc;
use crate::auth::AuthUser;
use crate::db::interactions::{self, Filter, InteractionRow};
use crate::db::page::{self, Cursor};
use crate::db::{self, stats, DbConn};
use crate::domain::codes::{from_db, Code, ComplaintStatus, InteractionType, Role};
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InteractionView {
    pub id: i64,
    pub customer_id: i64,
    #[serde(rename = "type")]
    pub kind: InteractionType,
    pub occurred_at: DateTime<Utc>,
    /// The user who had the contact.
    pub user_id: i64,
    #[schema(example = "on site")]
    pub channel: Option<String>,
    pub summary: String,
    pub outcome: Option<String>,
    /// When to follow up; with `follow_up_done` false it shows in the due list.
    pub follow_up_at: Option<DateTime<Utc>>,
    pub follow_up_done: bool,
    pub follow_up_done_at: Option<DateTime<Utc>>,
    /// For complaints only: `open` or `resolved`.
    pub complaint_status: Option<ComplaintStatus>,
    /// When the complaint was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Time from the complaint to its resolution, in seconds.
    pub resolution_seconds: Option<i64>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<InteractionRow> for InteractionView {
    fn from(r: InteractionRow) -> Self {
        InteractionView {
            id: r.id,
            customer_id: r.customer_id,
            kind: from_db(&r.kind, InteractionType::Call),
            occurred_at: utc(r.occurred_at),
            user_id: r.user_id,
            channel: r.channel,
            summary: r.summary,
            outcome: r.outcome,
            follow_up_at: r.follow_up_at.map(utc),
            follow_up_done: r.follow_up_done_at.is_some(),
            follow_up_done_at: r.follow_up_done_at.map(utc),
            complaint_status: r
                .complaint_status
                .as_deref()
                .and_then(ComplaintStatus::parse),
            resolution_seconds: r.resolved_at.map(|t| (t - r.occurred_at).num_seconds()),
            resolved_at: r.resolved_at.map(utc),
            version: r.version,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InteractionPage {
    pub items: Vec<InteractionView>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "visit", "channel": "on site", "summary": "Visited the purchasing team; showed the new catalogue",
    "outcome": "Interested in the spring range", "follow_up_at": "2026-12-01T09:00:00Z"}))]
pub struct InteractionCreate {
    #[serde(rename = "type")]
    #[validate(required, custom(function = "known_code"))]
    #[schema(required = true, value_type = InteractionType)]
    pub kind: Option<Input<InteractionType>>,
    /// When it happened; defaults to now; not in the future, not before 1900.
    #[serde(default, deserialize_with = "dates::optional")]
    #[validate(custom(function = "not_future"))]
    #[schema(pattern = "^(19|[2-9][0-9])")]
    pub occurred_at: Option<DateTime<Utc>>,
    /// Who had the contact; defaults to the caller. Only managers, admins
    /// and integrations may name another user: a sales user records its own
    /// contacts (422 `not_allowed` otherwise).
    pub user_id: Option<i64>,
    #[validate(length(max = 100))]
    #[schema(max_length = 100)]
    pub channel: Option<String>,
    #[validate(required, length(max = 4000), custom(function = "not_blank"))]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 4000, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub summary: Option<String>,
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    pub outcome: Option<String>,
    /// When to follow up (years 1900–9999; may be in the future); not
    /// before `occurred_at` when that is sent (422 `before_occurred_at`;
    /// without it the contact is now, and a follow-up already due is taken).
    #[serde(default, deserialize_with = "dates::optional")]
    #[validate(custom(function = "instant"))]
    #[schema(pattern = "^(19|[2-9][0-9])")]
    pub follow_up_at: Option<DateTime<Utc>>,
    /// True: the follow-up is done already (a contact entered after the
    /// fact), so it never shows in the due list; marked done now, as a
    /// PATCH would. Needs `follow_up_at` (422 `no_follow_up` otherwise).
    /// Default false.
    pub follow_up_done: Option<bool>,
    /// Complaints only; defaults to `open` for a complaint.
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<ComplaintStatus>)]
    pub complaint_status: Option<Input<ComplaintStatus>>,
    /// A complaint recorded as `resolved` only: when it was resolved, for a
    /// complaint entered after the fact (from `occurred_at` on, which must
    /// be sent with it, not in the future); defaults to now. Without it a complaint of 2020 entered today
    /// would show years of `resolution_seconds`.
    #[serde(default, deserialize_with = "dates::optional")]
    #[validate(custom(function = "not_future"))]
    #[schema(pattern = "^(19|[2-9][0-9])")]
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Only the fields sent change; `null` clears an optional field.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"outcome": "Order promised for next week"}))]
pub struct InteractionPatch {
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = InteractionType, required = false)]
    pub kind: Option<Option<Input<InteractionType>>>,
    #[serde(default, deserialize_with = "dates::nullable")]
    #[validate(custom(function = "not_future"))]
    #[schema(value_type = DateTime<Utc>, required = false, pattern = "^(19|[2-9][0-9])")]
    pub occurred_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 100))]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub channel: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 4000), custom(function = "not_blank"))]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 4000, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub summary: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 4000))]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub outcome: Option<Option<String>>,
    /// Not before `occurred_at` when the PATCH sends that and the follow-up
    /// is still to do (422 `before_occurred_at`); null clears it.
    #[serde(default, deserialize_with = "dates::nullable")]
    #[validate(custom(function = "instant"))]
    #[schema(value_type = Option<DateTime<Utc>>, pattern = "^(19|[2-9][0-9])")]
    pub follow_up_at: Option<Option<DateTime<Utc>>>,
    /// true marks the follow-up done (it leaves the due list; 422 `no_follow_up`
    /// without a `follow_up_at`); false reopens it. A new `follow_up_at`
    /// reopens a done follow-up unless this request marks it done too.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = bool, required = false)]
    pub follow_up_done: Option<Option<bool>>,
    /// Who had the contact, an active user: a manager, an admin or an
    /// integration corrects a contact logged under the wrong person; a
    /// sales user may resend the stored id only (422 `not_allowed`). Not
    /// null.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = i64, required = false)]
    pub user_id: Option<Option<i64>>,
    /// `resolved` closes a complaint (records the resolution time); `open` reopens it.
    /// `null` is what every other type has (as the view shows it): taken
    /// with a `type` that is not `complaint`, refused (422 `required`) for a
    /// complaint.
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<ComplaintStatus>, required = false)]
    pub complaint_status: Option<Option<Input<ComplaintStatus>>>,
}

impl InteractionPatch {
    /// Fields that cannot be cleared, sent as `null`.
    fn null_errors(&self) -> Vec<FieldError> {
        super::validation::nulls(&[
            ("type", matches!(self.kind, Some(None))),
            ("occurred_at", matches!(self.occurred_at, Some(None))),
            ("summary", matches!(self.summary, Some(None))),
            ("follow_up_done", matches!(self.follow_up_done, Some(None))),
            ("user_id", matches!(self.user_id, Some(None))),
        ])
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InteractionQuery {
    /// Only this customer (on `/interactions`; on `/customers/{id}/interactions`
    /// the path names it, and another id here is a 400). On the list across
    /// customers a filter: no customer with this id is an empty page.
    pub customer_id: Option<i64>,
    /// Only interactions of this type.
    #[serde(rename = "type")]
    #[param(rename = "type", inline)]
    pub kind: Option<InteractionType>,
    /// Only interactions had by this user (their author, kept when the
    /// card changes hands).
    pub user_id: Option<i64>,
    /// Only interactions on the cards this user owns now (a user id; an
    /// unknown id lists none): after a hand-over the new owner's due list
    /// (with `follow_up_before`) and open complaints (with
    /// `complaint_status=open`) include what the card's earlier reps logged.
    pub owner_id: Option<i64>,
    /// Occurred at or after this instant; with `to`, before it (a 400
    /// otherwise: the pair holds nothing).
    #[serde(default, deserialize_with = "dates::optional")]
    pub from: Option<DateTime<Utc>>,
    /// Occurred before this instant.
    #[serde(default, deserialize_with = "dates::optional")]
    pub to: Option<DateTime<Utc>>,
    /// The due list: pending (not done) follow-ups due before this instant.
    #[serde(default, deserialize_with = "dates::optional")]
    pub follow_up_before: Option<DateTime<Utc>>,
    /// Only complaints in this status (other interactions have none); `open`
    /// leaves archived cards out, as `follow_up_before` does: their
    /// complaints take no change until the card is restored.
    #[param(inline)]
    pub complaint_status: Option<ComplaintStatus>,
    /// Changed at or after this instant.
    /// A write is stamped when it starts and seen when it commits: poll again
    /// from a minute before your last mark, or follow `GET /changes` (README,
    /// "Pull-based sync").
    #[serde(default, deserialize_with = "dates::optional")]
    pub updated_since: Option<DateTime<Utc>>,
    /// `-occurred_at` (default), `occurred_at`, `follow_up_at` (default with
    /// `follow_up_before`), `-follow_up_at`, `updated_at`, `-updated_at`,
    /// `id`, `-id`. The `follow_up_at` orders are the follow-up queue: they
    /// list only interactions that have a follow-up date. Poll with
    /// `updated_since` and `sort=updated_at`: the pages follow an index, and
    /// an interaction edited while you page moves to the end and is read there.
    #[param(pattern = "^(-?occurred_at|-?follow_up_at|-?updated_at|-?id)$")]
    pub sort: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, read with the same filters.
    pub cursor: Option<String>,
}

impl InteractionQuery {
    fn filter(&self, customer_id: Option<i64>) -> Filter {
        Filter {
            customer_id,
            kind: self.kind.map(|k| k.as_str().to_string()),
            user_id: self.user_id,
            owner_id: self.owner_id,
            from: super::common::bound(self.from),
            to: super::common::bound(self.to),
            follow_up_before: super::common::bound(self.follow_up_before),
            complaint_status: self.complaint_status.map(|s| s.as_str().to_string()),
            updated_since: super::common::bound(self.updated_since),
        }
    }
}

async fn list_page(
    state: &AppState,
    q: InteractionQuery,
    customer_id: Option<i64>,
) -> Result<InteractionPage, ApiError> {
    let mut errors = super::common::instants_out_of_range(&[
        ("from", q.from),
        ("to", q.to),
        ("follow_up_before", q.follow_up_before),
        ("updated_since", q.updated_since),
    ]);
    errors.extend(super::common::empty_period(("from", q.from), ("to", q.to)));
    errors.extend(super::common::customer_mismatch(customer_id, q.customer_id));
    super::common::query_errors(errors)?;
    let default_sort = if q.follow_up_before.is_some() {
        "follow_up_at"
    } else {
        "-occurred_at"
    };
    let sort = interactions::parse_sort(q.sort.as_deref(), default_sort)?;
    let limit = page::limit(q.limit)?;
    // Named by the customer listed, however it is named (path or
    // `?customer_id=`): one list, one cursor. Two customers named is a
    // query error, reported with the others above.
    let listed = customer_id.or(q.customer_id);
    let filter = q.filter(listed);
    // And by its filters (another tab's cursor skipped rows).
    let list_name = super::common::filtered_list_name(
        &super::common::list_name("interactions", listed),
        &(
            &filter.kind,
            filter.user_id,
            filter.owner_id,
            &filter.complaint_status,
        ),
    );
    let after = q
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &list_name, sort))
        .transpose()?;
    state
        .db
        .run(move |conn| {
            if let Some(id) = customer_id {
                find_customer(conn, id)?;
            }
            let rows = interactions::page(conn, &filter, sort, after.as_ref(), limit)?;
            let page = page::finish(rows, limit, &list_name, |r| {
                interactions::cursor_for(sort, r)
            });
            Ok(InteractionPage {
                items: page.items.into_iter().map(InteractionView::from).collect(),
                next_cursor: page.next_cursor,
            })
        })
        .await
}

/// Interactions across customers: filter by type, author, card owner,
/// period; with `follow_up_before` and `owner_id` it is the list of due
/// follow-ups a rep opens each morning.
#[utoipa::path(tag = "interactions", params(InteractionQuery), responses((status = 200, body = InteractionPage)))]
#[get("/interactions")]
pub async fn list_all(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: QueryParams<InteractionQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(list_page(&state, query.0, None).await?))
}

/// A customer's contact history.
#[utoipa::path(tag = "interactions", params(("id" = i64, Path, description = "Customer id"), InteractionQuery), responses((status = 200, body = InteractionPage)))]
#[get("/customers/{id}/interactions")]
pub async fn list(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    query: QueryParams<InteractionQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(list_page(&state, query.0, Some(path.into_inner())).await?))
}

fn location(r: &InteractionRow) -> String {
    format!("/api/v1/customers/{}/interactions/{}", r.customer_id, r.id)
}

fn respond(status: StatusCode, row: InteractionRow) -> HttpResponse {
    let loc = location(&row);
    versioned(status, row.version, Some(loc), &InteractionView::from(row))
}

/// `validation::check`, naming the `kind` field by its wire name `type`
/// (validator reports the Rust field name, not serde's rename).
fn check_input<T: Validate>(input: &T, extra: Vec<FieldError>) -> Result<(), ApiError> {
    match check(input, extra) {
        Err(ApiError::Validation(mut errors)) => {
            for e in &mut errors {
                if e.field == "kind" {
                    e.field = "type".into();
                }
            }
            errors.sort_by(|a, b| a.field.cmp(&b.field));
            Err(ApiError::Validation(errors))
        }
        other => other,
    }
}

fn complaint_errors(kind: InteractionType, status: Option<ComplaintStatus>) -> Vec<FieldError> {
    if kind != InteractionType::Complaint && status.is_some() {
        vec![FieldError::new(
            "complaint_status",
            "not_allowed",
            "only complaints have a complaint_status",
        )]
    } else {
        Vec::new()
    }
}

/// A sales user's contact is its own: naming a colleague (a manager, say)
/// put words in their name on the customer's record, and the answer (422
/// `unknown_user` or a 201) told a sales user which user ids are active.
fn attribution_error(caller: &AuthUser, user_id: Option<i64>) -> Option<FieldError> {
    let other = user_id.is_some_and(|id| id != caller.id);
    (other && caller.role == Role::Sales).then(|| {
        FieldError::new(
            "user_id",
            "not_allowed",
            "a sales user records its own contacts: leave user_id out or send your own id",
        )
    })
}

/// A follow-up before the contact it follows (a year typed wrong): at the
/// top of the due list at once, as long overdue. Judged where the request
/// dates the contact (sends `occurred_at`), for a follow-up still to do.
fn follow_up_first() -> FieldError {
    FieldError::new(
        "follow_up_at",
        "before_occurred_at",
        "must not be before the contact it follows (occurred_at)",
    )
}

fn after_resolution() -> FieldError {
    FieldError::new(
        "occurred_at",
        "after_resolution",
        "must not be after the complaint was resolved (resolved_at)",
    )
}

/// A new interaction's `resolved_at`, sent: only for a complaint recorded
/// as resolved, and not before it happened.
fn resolution_errors(
    kind: Option<InteractionType>,
    status: Option<ComplaintStatus>,
    occurred_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
) -> Vec<FieldError> {
    // Without a known type its own error says enough.
    let (Some(resolved_at), Some(kind)) = (resolved_at, kind) else {
        return Vec::new();
    };
    let resolved = kind == InteractionType::Complaint && status == Some(ComplaintStatus::Resolved);
    if !resolved {
        return vec![FieldError::new(
            "resolved_at",
            "not_allowed",
            "only a complaint recorded as resolved (complaint_status: resolved) takes a resolved_at",
        )];
    }
    // Without it the complaint occurred now, and only a resolution in the
    // next minutes (the clock skew allowed) was after it: a 422 on
    // `occurred_at` for a resolution of the client's now (a review).
    let Some(occurred_at) = occurred_at else {
        return vec![FieldError::new(
            "occurred_at",
            "required",
            "needed with resolved_at: when the complaint was made, which it was resolved after",
        )];
    };
    if resolved_at < occurred_at {
        // As a PATCH that moves `occurred_at` past the resolution says it.
        return vec![after_resolution()];
    }
    Vec::new()
}

/// Log a contact with the customer. Updates the card's `last_contact_at`
/// (and `open_complaints` for a complaint) in the same transaction.
#[utoipa::path(
    tag = "interactions",
    params(("id" = i64, Path, description = "Customer id")),
    request_body = InteractionCreate,
    responses((status = 201, body = InteractionView, headers(("ETag" = String), ("Location" = String))))
)]
#[post("/customers/{id}/interactions")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<InteractionCreate>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let input = body.0;
    let kind = input.kind.as_ref().and_then(|k| k.get("type").ok());
    let status = input
        .complaint_status
        .as_ref()
        .and_then(|s| s.get("complaint_status").ok());
    let mut extra = kind
        .map(|k| complaint_errors(k, status))
        .unwrap_or_default();
    extra.extend(resolution_errors(
        kind,
        status,
        input.occurred_at,
        input.resolved_at,
    ));
    extra.extend(attribution_error(&user, input.user_id));
    let now = db::now();
    let occurred_at = input
        .occurred_at
        .map(|t| db::micros(t.naive_utc()))
        .unwrap_or(now);
    let follow_up_at = input.follow_up_at.map(|t| db::micros(t.naive_utc()));
    // A backfilled contact's follow-up, done already: it was a second
    // request, and meanwhile on the rep's due list and in the change feed
    // as open (a QA review).
    let done = input.follow_up_done == Some(true);
    // Judged against an `occurred_at` sent (a contact logged late without
    // one, dated now, may come with its follow-up already due), and for a
    // follow-up still to do, as a PATCH judges it.
    if !done && input.occurred_at.is_some() && follow_up_at.is_some_and(|f| f < occurred_at) {
        extra.push(follow_up_first());
    }
    if done && follow_up_at.is_none() {
        extra.push(FieldError::new(
            "follow_up_done",
            "no_follow_up",
            "there is no follow-up to mark done: send follow_up_at with it",
        ));
    }
    check_input(&input, extra)?;
    let kind = input
        .kind
        .as_ref()
        .map(|k| k.get("type"))
        .transpose()?
        .unwrap_or(InteractionType::Call);
    let status = match (kind, status) {
        (InteractionType::Complaint, s) => Some(s.unwrap_or(ComplaintStatus::Open)),
        _ => None,
    };
    let row = InteractionRow {
        id: 0,
        customer_id,
        kind: kind.as_str().into(),
        occurred_at,
        user_id: input.user_id.unwrap_or(user.id),
        channel: clean(input.channel),
        summary: input.summary.unwrap_or_default().trim().to_string(),
        outcome: clean(input.outcome),
        follow_up_at,
        follow_up_done_at: done.then_some(now),
        complaint_status: status.map(|s| s.as_str().into()),
        resolved_at: (status == Some(ComplaintStatus::Resolved)).then(|| {
            input
                .resolved_at
                .map(|t| db::micros(t.naive_utc()))
                .unwrap_or(now)
                .max(occurred_at)
        }),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let saved = state
        .db
        .write_grouped(move |conn| {
            writable_customer(conn, &user, customer_id)?;
            super::users::require_active(conn, &user, row.user_id, "user_id")?;
            let saved = interactions::insert(conn, &row)?;
            stats::refresh_contacts(conn, customer_id)?;
            Ok(saved)
        })
        .await?;
    Ok(respond(StatusCode::CREATED, saved))
}

fn find_interaction(
    conn: &mut DbConn,
    customer_id: i64,
    id: i64,
) -> Result<InteractionRow, ApiError> {
    interactions::find(conn, id)?
        .filter(|r| r.customer_id == customer_id)
        .ok_or_else(|| {
            ApiError::NotFound(format!("customer {customer_id} has no interaction {id}"))
        })
}

/// Read one interaction.
#[utoipa::path(
    tag = "interactions",
    params(("id" = i64, Path, description = "Customer id"), ("interaction_id" = i64, Path, description = "Interaction id")),
    responses((status = 200, body = InteractionView, headers(("ETag" = String))))
)]
#[get("/customers/{id}/interactions/{interaction_id}")]
pub async fn get(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<(i64, i64)>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let (customer_id, id) = path.into_inner();
    let row = state
        .db
        .lookup(move |conn| find_interaction(conn, customer_id, id))
        .await?;
    Ok(respond(StatusCode::OK, row))
}

/// Change an interaction: mark its follow-up done, resolve a complaint,
/// correct the record. The card's figures follow. A sales user changes the
/// interactions of the cards it owns, but turns no complaint into another
/// type: only managers, admins and integrations re-classify one.
#[utoipa::path(
    tag = "interactions",
    params(("id" = i64, Path, description = "Customer id"), ("interaction_id" = i64, Path, description = "Interaction id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if it is no longer at that version")),
    request_body = InteractionPatch,
    responses(
        (status = 200, body = InteractionView, headers(("ETag" = String))),
        (status = 403, description = "A viewer; or a sales user changing an interaction on a card owned by someone else, or changing a complaint's `type` (only managers, admins and integrations re-classify a complaint; a sales user may resolve it or correct its text)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[patch("/customers/{id}/interactions/{interaction_id}")]
pub async fn patch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    _query: NoQuery,
    body: JsonBody<InteractionPatch>,
) -> Result<HttpResponse, ApiError> {
    let (customer_id, id) = path.into_inner();
    let expected = precondition::if_match(&req)?;
    let input = body.0;
    check_input(&input, input.null_errors())?;
    let kind = input
        .kind
        .as_ref()
        .and_then(Option::as_ref)
        .map(|k| k.get("type"))
        .transpose()?;
    let status = input
        .complaint_status
        .as_ref()
        .and_then(Option::as_ref)
        .map(|s| s.get("complaint_status"))
        .transpose()?;
    let status_cleared = matches!(input.complaint_status, Some(None));
    let saved = state
        .db
        .write_grouped(move |conn| {
            let customer = patchable_customer(conn, &user, customer_id)?;
            let mut row = find_interaction(conn, customer_id, id)?;
            let stored_kind = from_db(&row.kind, InteractionType::Call);
            let kind = kind.unwrap_or(stored_kind);
            // Before If-Match, as the owner check: a 412 would have the
            // user re-read and resend only to be refused.
            if stored_kind == InteractionType::Complaint && kind != InteractionType::Complaint {
                user.require_complaint_removal()?;
            }
            let stored = row.clone();
            let now = db::now();
            let before = row.version;
            let current_status = row
                .complaint_status
                .as_deref()
                .and_then(ComplaintStatus::parse);
            // The rules between the body and the stored row, named together
            // (as a create names them): one at a time, each fix and resend
            // met the next.
            let mut errors = complaint_errors(kind, status);
            // Who had the contact, corrected (a QA review: a contact logged
            // under the wrong person stayed so). A rep's contacts are its
            // own, as on create: it neither hands one to a colleague nor
            // takes one over.
            if let Some(Some(uid)) = input.user_id.filter(|u| *u != Some(row.user_id)) {
                if user.role == Role::Sales {
                    errors.push(FieldError::new(
                        "user_id",
                        "not_allowed",
                        "a sales user does not change who had a contact",
                    ));
                } else {
                    match super::users::require_active(conn, &user, uid, "user_id") {
                        Ok(()) => row.user_id = uid,
                        Err(ApiError::Validation(e)) => errors.extend(e),
                        Err(e) => return Err(e),
                    }
                }
            }
            if status_cleared && kind == InteractionType::Complaint {
                errors.push(FieldError::new(
                    "complaint_status",
                    "required",
                    "a complaint always has a status (open or resolved); null is for the other types",
                ));
            }
            row.kind = kind.as_str().into();
            if let Some(Some(t)) = input.occurred_at {
                row.occurred_at = db::micros(t.naive_utc());
            }
            if let Some(v) = input.channel {
                row.channel = clean(v);
            }
            if let Some(Some(v)) = input.summary {
                row.summary = v.trim().to_string();
            }
            if let Some(v) = input.outcome {
                row.outcome = clean(v);
            }
            if let Some(v) = input.follow_up_at {
                let at = v.map(|t| db::micros(t.naive_utc()));
                // Another date is another follow-up: still to do, unless this
                // request also marks it done. Cleared, there is none to be done.
                if at != row.follow_up_at {
                    row.follow_up_done_at = None;
                }
                row.follow_up_at = at;
            }
            match input.follow_up_done.flatten() {
                Some(true) if row.follow_up_at.is_none() => errors.push(FieldError::new(
                    "follow_up_done",
                    "no_follow_up",
                    "there is no follow-up to mark done: the interaction has no follow_up_at",
                )),
                Some(true) if row.follow_up_done_at.is_none() => row.follow_up_done_at = Some(now),
                Some(false) => row.follow_up_done_at = None,
                _ => {}
            }
            let new_status = match kind {
                InteractionType::Complaint => {
                    Some(status.or(current_status).unwrap_or(ComplaintStatus::Open))
                }
                _ => None,
            };
            row.resolved_at = match new_status {
                Some(ComplaintStatus::Resolved)
                    if current_status == Some(ComplaintStatus::Resolved) =>
                {
                    row.resolved_at
                }
                Some(ComplaintStatus::Resolved) => Some(now.max(row.occurred_at)),
                _ => None,
            };
            if row.resolved_at.is_some_and(|r| r < row.occurred_at) {
                errors.push(after_resolution());
            }
            // Judged as on create: when the PATCH dates the contact, for a
            // follow-up still to do, and only when one of the two dates
            // changes. A contact logged late keeps the follow-up already due
            // it was created with through an edit form's resend of both.
            let dated = input.occurred_at.is_some()
                && (row.occurred_at != stored.occurred_at || row.follow_up_at != stored.follow_up_at);
            let open = row.follow_up_done_at.is_none();
            if dated && open && row.follow_up_at.is_some_and(|f| f < row.occurred_at) {
                errors.push(follow_up_first());
            }
            if !errors.is_empty() {
                // An archived card's 409 first: these rules read the stored
                // row, and their 422, fixed and resent, only met the 409.
                refuse_archived(&customer)?;
                return Err(ApiError::Validation(errors));
            }
            row.complaint_status = new_status.map(|s| s.as_str().into());
            if !record_patch_writes(&customer, row != stored, expected.as_deref(), before)? {
                return Ok(row);
            }
            row.version = before + 1;
            row.updated_at = now;
            precondition::require_saved(interactions::save(conn, &row, before)?, before)?;
            stats::refresh_contacts(conn, customer_id)?;
            Ok(row)
        })
        .await?;
    Ok(respond(StatusCode::OK, saved))
}

/// Delete an interaction recorded by mistake. The card's figures follow.
/// A complaint is deleted only by a manager, an admin or an integration.
#[utoipa::path(
    tag = "interactions",
    params(("id" = i64, Path, description = "Customer id"), ("interaction_id" = i64, Path, description = "Interaction id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if it is no longer at that version")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "A viewer; or a sales user deleting an interaction on a card owned by someone else, or deleting a complaint (only managers, admins and integrations delete one: it stays on the customer's record)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[delete("/customers/{id}/interactions/{interaction_id}")]
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
            let customer = patchable_customer(conn, &user, customer_id)?;
            let found = find_interaction(conn, customer_id, id)?;
            // Before the archived card's 409 and If-Match's 412: either would
            // only send the user (to a restore, to a re-read) back to a 403.
            if from_db(&found.kind, InteractionType::Call) == InteractionType::Complaint {
                user.require_complaint_removal()?;
            }
            refuse_archived(&customer)?;
            precondition::check(expected.as_deref(), found.version)?;
            interactions::delete(conn, id)?;
            stats::refresh_contacts(conn, customer_id)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
