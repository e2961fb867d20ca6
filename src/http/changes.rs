//! `GET /changes`: the change feed, in commit order, resumable from any
//! cursor it returned.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{NoQuery, QueryParams};
use super::views::utc;
use crate::auth::AuthUser;
use crate::db::changes::{self, ChangeRow, Position};
use crate::db::page::Cursor;
use crate::domain::codes::Role;
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;
/// The `s` of a change-feed cursor (page::Cursor's "sort").
const CURSOR_KIND: &str = "changes";

/// One change: what changed, how, and the entity's state after it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "cursor": "eyJzIjoiY2hhbmdlcyIsImsiOjQyLCJpZCI6NDJ9",
    "entity_type": "customer", "entity_id": 17, "operation": "updated", "version": 3,
    "at": "2026-11-29T10:15:00Z",
    "data": {"id": 17, "name": "张伟", "version": 3}
}))]
pub struct ChangeItem {
    /// Resume after this change with `?after=<cursor>`.
    pub cursor: String,
    /// `customer`, `contact`, `interaction`, `transaction`, `need`,
    /// `survey`, `survey_response`, `account_plan` (with its actions: a change
    /// of an action is an `updated` of its plan), `segment` (its definition
    /// without figures; a change of a static segment's members is an
    /// `updated` of it) or `stage_change` (a CPR
    /// stage, tier, funnel stage or loyalty type change, `data.kind` says
    /// which; its id is the history event's id).
    #[schema(value_type = super::code_schemas::ChangeEntityType)]
    pub entity_type: String,
    pub entity_id: i64,
    /// `created`, `updated`, `deleted` (customers: archived) or `restored`.
    #[schema(value_type = super::code_schemas::ChangeOperation)]
    pub operation: String,
    /// The entity's version after the change (deletes: the last version + 1).
    pub version: i64,
    pub at: DateTime<Utc>,
    /// The entity as the API returns it after the change (customers: the
    /// full card; an archived card has `archived_at`). Hard deletes carry a
    /// tombstone `{"id", "customer_id", "deleted": true}`; a deleted
    /// contact's earlier changes then carry `{"id", "customer_id", "erased":
    /// true}` (a person's details leave the feed with the person).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A page of the feed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangePage {
    pub items: Vec<ChangeItem>,
    /// Always present: pass it as `after` to continue. When the page is empty
    /// it is the cursor you sent (poll again later with it); without `after`,
    /// the oldest retained position.
    pub next_cursor: String,
    /// True when more changes are already available after this page.
    pub has_more: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangeQuery {
    /// A `cursor` or `next_cursor` from this feed; without it (or empty) the
    /// feed starts at the oldest retained change.
    pub after: Option<String>,
    /// Changes per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Comma-separated entity types to include (default: all): `customer`,
    /// `contact`, `interaction`, `transaction`, `need`, `stage_change`,
    /// `survey`, `survey_response`, `account_plan`, `segment`. Empty entries
    /// are skipped (`customer,` is `customer`); a list of none is a 400.
    /// E.g. `customer,transaction`. A page's `next_cursor` passes over the
    /// changes of the types left out: keep one cursor per `types` set.
    // No example: Swagger UI's "Try it out" sends a parameter's example,
    // which hid the other types' changes (a review).
    pub types: Option<String>,
}

/// Read the change feed. Every create, update, delete and restore of
/// customers, contacts, interactions, transactions, needs, surveys, survey
/// responses, key-account plans (with their actions) and segments, and every stage
/// change (CPR stage, tier, funnel stage, loyalty type), in commit order: resuming from any cursor returns exactly
/// the changes after it (no gap, no duplicate), also with concurrent writers
/// and several Patron processes. Changes are kept for
/// `PATRON_CHANGES_RETENTION_DAYS`; a cursor after which changes (of the
/// `types` read, or of any type without `types`) were purged answers 410:
/// resync (read the lists) and start the feed again without `after`.
/// Its paging is its own, not the lists': `limit` is 1 to 1,000, default
/// 100 (the lists' is 1 to 500, default 50: a reader catching up takes
/// fewer calls), `after` (not `cursor`) takes a cursor, and `next_cursor`
/// is never null (the cursor sent, on an empty page: poll again with it).
/// Roles: admin, manager, integration.
#[utoipa::path(
    tag = "changes",
    params(ChangeQuery),
    responses(
        (status = 200, body = ChangePage),
        (status = 400, description = "Bad `after`, `limit` or `types`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not admin, manager or integration", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cursor is older than the retention: changes after it were purged; resync", body = crate::error::Problem, content_type = "application/problem+json",
            example = json!({"type": "/problems/gone", "title": "No longer available", "status": 410,
                "detail": "this cursor is older than the change feed's retention and changes after it were purged: resync from the lists, then read the feed again without `after`"}))
    )
)]
#[get("/changes")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: QueryParams<ChangeQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_any(&[Role::Admin, Role::Manager, Role::Integration])?;
    let q = query.0;
    let limit = parse_limit(q.limit)?;
    let types = parse_types(q.types.as_deref())?;
    // An empty `after=` is no cursor, as an empty `cursor=` on the lists: a
    // client passing its saved position through as-is sends it at the start.
    let after = q
        .after
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(decode)
        .transpose()?;
    let page = state
        .db
        .run(move |conn| {
            // A cursor is expired for these types only when a change of
            // one of them was purged after it.
            if let Some(after) = after {
                if after < changes::purged_through_types(conn, &types)? {
                    return Err(gone());
                }
            }
            let purged = changes::purged_through(conn)?;
            let end = changes::head(conn)?;
            if after.is_some_and(|after| after > end) {
                return Err(ApiError::InvalidQuery(vec![past_the_end()]));
            }
            // Without `after`, the oldest retained change: an empty page then
            // hands out the purge position, not a cursor from before it (a
            // 410 at once, and again after every resync). A purge that
            // commits meanwhile only moves where that is.
            let mut rows = match after {
                Some(after) => {
                    changes::page_retained(conn, after, &types, limit + 1)?.ok_or_else(gone)?
                }
                None => changes::page(conn, purged, &types, limit + 1)?,
            };
            let start = match after {
                Some(after) => after,
                // A purge that committed after `purged` was read leaves an
                // empty page, and handing out the old position would be a
                // 410 at the next read with nothing missed.
                None if rows.is_empty() => purged.max(changes::purged_through(conn)?),
                None => purged,
            };
            let has_more = rows.len() as i64 > limit;
            rows.truncate(limit as usize);
            // The last change returned (an empty page's, the cursor sent):
            // past the changes of other types before it, so a client keeps
            // one cursor per `types` set (api/07-change-feed.http).
            let next = rows.last().map_or(start, ChangeRow::position);
            Ok((rows, has_more, next))
        })
        .await?;
    let (rows, has_more, next) = page;
    let next_cursor = encode(next);
    let items = rows.into_iter().map(item).collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(ChangePage {
        items,
        next_cursor,
        has_more,
    }))
}

/// Where the feed ends now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"cursor": "eyJzIjoiY2hhbmdlcyIsImsiOjQyLCJpZCI6NDJ9"}))]
pub struct ChangeHead {
    /// Pass as `after` to read only what changes from now on.
    pub cursor: String,
}

/// The cursor of the newest change. To (re)sync: take the head first, then
/// read everything through the lists, then follow the feed from the head
/// (changes made during the full read are read again; applying a change
/// twice is harmless because each carries the entity's whole state and
/// version). Roles: admin, manager, integration.
#[utoipa::path(
    tag = "changes",
    responses(
        (status = 200, body = ChangeHead),
        (status = 403, description = "Not admin, manager or integration", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/changes/head")]
pub async fn head(
    state: web::Data<AppState>,
    user: AuthUser,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    user.require_any(&[Role::Admin, Role::Manager, Role::Integration])?;
    let position = state.db.run(|conn| Ok(changes::head(conn)?)).await?;
    Ok(HttpResponse::Ok().json(ChangeHead {
        cursor: encode(position),
    }))
}

pub fn item(row: ChangeRow) -> Result<ChangeItem, ApiError> {
    let data = match row.data.as_deref() {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| ApiError::Internal(format!("change {} has bad data: {e}", row.id)))?,
        None => serde_json::Value::Null,
    };
    Ok(ChangeItem {
        cursor: encode(row.position()),
        entity_type: row.entity_type,
        entity_id: row.entity_id,
        operation: row.operation,
        version: row.version,
        at: utc(row.at),
        data,
    })
}

fn gone() -> ApiError {
    ApiError::Gone(
        "this cursor is older than the change feed's retention and changes after it were purged: resync from the lists, then read the feed again without `after`".into(),
    )
}

pub fn encode(p: Position) -> String {
    Cursor {
        s: CURSOR_KIND.into(),
        k: serde_json::json!(p.seq),
        id: p.id,
    }
    .encode("changes")
}

/// A cursor beyond the feed's newest change: never handed out by this feed
/// (another database's, or one restored from a backup). Reading from it
/// would skip every change until the feed caught up with it.
pub fn past_the_end() -> FieldError {
    FieldError::new(
        "after",
        "past_the_end",
        "is beyond the feed's newest change: not a cursor of this feed (take GET /changes/head)",
    )
}

/// Decodes a feed cursor (field `after`).
pub fn decode(raw: &str) -> Result<Position, ApiError> {
    let bad = || {
        ApiError::InvalidQuery(vec![FieldError::new(
            "after",
            "invalid_value",
            "not a cursor returned by the change feed",
        )])
    };
    let cursor = Cursor::decode(raw, "changes", CURSOR_KIND).map_err(|_| bad())?;
    let seq = cursor.k.as_i64().ok_or_else(bad)?;
    let position = Position { seq, id: cursor.id };
    if !changes::can_be_cursor(position) {
        return Err(bad());
    }
    Ok(position)
}

fn parse_limit(requested: Option<i64>) -> Result<i64, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::InvalidQuery(vec![FieldError::new(
            "limit",
            "range",
            format!("must be between 1 and {MAX_LIMIT}"),
        )])),
    }
}

/// `types`: a comma-separated list of known entity types. An unknown one is
/// `invalid_value`, as every unknown value of a closed list is (it was the
/// only `unknown_code`). Empty entries are skipped, as the timeline's
/// `types` skips them (a trailing comma was a 400 here); a list of none is
/// refused like the timeline's, not read as "all".
pub fn parse_types(raw: Option<&str>) -> Result<Vec<String>, ApiError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for t in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if !changes::ENTITY_TYPES.contains(&t) {
            return Err(ApiError::InvalidQuery(vec![FieldError::new(
                "types",
                "invalid_value",
                format!(
                    "unknown entity type {}; expected one of: {}",
                    super::wording::quoted(t),
                    changes::ENTITY_TYPES.join(", ")
                ),
            )]));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    if out.is_empty() {
        return Err(ApiError::InvalidQuery(vec![FieldError::new(
            "types",
            "invalid_value",
            format!(
                "names no entity type; leave it out for all, or list some of: {}",
                changes::ENTITY_TYPES.join(", ")
            ),
        )]));
    }
    Ok(out)
}
