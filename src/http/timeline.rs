//! `/customers/{id}/timeline` (one chronological feed of everything that
//! happened with a customer) and `/customers/{id}/history` (its events).

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::customers::find_customer;
use super::extract::QueryParams;
use super::interactions::InteractionView;
use super::transactions::TransactionView;
use super::views::utc;
use crate::auth::AuthUser;
use crate::db::events::{self, EventRow};
use crate::db::page::{self, Before, Cursor};
use crate::db::{self, interactions, transactions, DbConn};
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

/// A change in a customer's history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    pub customer_id: i64,
    /// `funnel_stage_changed`, `prospect_grade_changed`, `need_converted`,
    /// `cpr_stage_changed`, `tier_changed`, `churned` (to: the reason; reason: the note),
    /// `reactivated` (from: the churn reason; reason: the note), `survey_answered`
    /// (`subject_id`: the response; `to`: the overall satisfaction it gave), `loyalty_changed`,
    /// `owner_changed` (from, to: the owners' user ids; reason: the `change_reason` sent with it).
    #[schema(value_type = super::code_schemas::EventKind)]
    pub kind: String,
    /// The value before (null when there was none).
    pub from: Option<String>,
    pub to: Option<String>,
    /// The record the event is about (e.g. the need), when there is one.
    pub subject_id: Option<i64>,
    pub reason: Option<String>,
    /// Who made the change; null for changes the system made.
    pub user_id: Option<i64>,
    pub at: DateTime<Utc>,
}

impl From<EventRow> for EventView {
    fn from(e: EventRow) -> Self {
        EventView {
            id: e.id,
            customer_id: e.customer_id,
            kind: e.kind,
            from: e.from_value,
            to: e.to_value,
            subject_id: e.subject_id,
            reason: e.reason,
            user_id: e.user_id,
            at: utc(e.at),
        }
    }
}

/// One entry of the timeline: exactly one of `interaction`, `transaction`
/// or `event` is set, as `type` says.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TimelineItem {
    /// `interaction`, `transaction` or `event`.
    #[serde(rename = "type")]
    #[schema(value_type = super::code_schemas::TimelineItemType)]
    pub kind: String,
    /// When it happened (the interaction's or transaction's `occurred_at`,
    /// the event's `at`).
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub interaction: Option<InteractionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub transaction: Option<TransactionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub event: Option<EventView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePage {
    /// Newest first.
    pub items: Vec<TimelineItem>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// Newest first.
    pub items: Vec<EventView>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    // No example: Swagger UI's "Try it out" sends a parameter's example,
    // which hid every event of the timeline (a review).
    /// Comma-separated subset of `interaction,transaction,event` (default
    /// all), e.g. `interaction,transaction`.
    pub types: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, read with the same filters.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only events of this kind.
    #[param(
        pattern = "^(funnel_stage_changed|prospect_grade_changed|need_converted|cpr_stage_changed|tier_changed|churned|reactivated|survey_answered|loyalty_changed|owner_changed)$"
    )]
    pub kind: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, read with the same filters.
    pub cursor: Option<String>,
}

pub(super) const SOURCES: [&str; 3] = ["event", "transaction", "interaction"];

/// The feed is ordered by (at, source rank, id), newest first; the rank
/// breaks ties between sources at the same instant.
fn rank(kind: &str) -> i64 {
    SOURCES
        .iter()
        .position(|s| *s == kind)
        .map_or(0, |p| p as i64)
}

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn bad(field: &str, msg: &str) -> ApiError {
    ApiError::InvalidQuery(vec![FieldError::new(field, "invalid_value", msg)])
}

/// The sources asked for, in a canonical order without repeats (so that
/// `transaction,interaction` and `interaction,transaction` share cursors).
fn parse_types(raw: Option<&str>) -> Result<Vec<&'static str>, ApiError> {
    let Some(raw) = raw else {
        return Ok(SOURCES.to_vec());
    };
    let wanted: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let message = "a comma-separated list of interaction, transaction and/or event";
    if wanted.is_empty() || wanted.iter().any(|w| !SOURCES.contains(w)) {
        return Err(bad("types", message));
    }
    Ok(SOURCES
        .iter()
        .copied()
        .filter(|s| wanted.contains(s))
        .collect())
}

/// Where each source resumes after the cursor (at0, rank0, id0).
fn bound_for(source_rank: i64, cursor: Option<(NaiveDateTime, i64, i64)>) -> Option<Before> {
    let (at, r, id) = cursor?;
    Some(if source_rank < r {
        Before::Le(at)
    } else if source_rank == r {
        Before::LtId(at, id)
    } else {
        Before::Lt(at)
    })
}

fn decode_cursor(
    raw: &str,
    list_name: &str,
    types: &str,
) -> Result<(NaiveDateTime, i64, i64), ApiError> {
    let c = Cursor::decode(raw, list_name, &format!("timeline:{types}"))?;
    let arr =
        c.k.as_array()
            .ok_or_else(|| bad("cursor", "corrupt cursor"))?;
    let at = page::stamp_of(arr.first().unwrap_or(&serde_json::Value::Null))?;
    let r = arr
        .get(1)
        .and_then(|v| v.as_i64())
        .ok_or_else(|| bad("cursor", "corrupt cursor"))?;
    Ok((at, r, c.id))
}

struct Entry {
    at: NaiveDateTime,
    rank: i64,
    id: i64,
    item: TimelineItem,
}

fn load(
    conn: &mut DbConn,
    customer_id: i64,
    types: &[&str],
    cursor: Option<(NaiveDateTime, i64, i64)>,
    limit: i64,
) -> Result<Vec<Entry>, ApiError> {
    let mut entries = Vec::new();
    // Each source gives its newest `limit + 1` after the cursor; the merged
    // top `limit + 1` is then exact.
    let n = limit + 1;
    if types.contains(&"interaction") {
        let r = rank("interaction");
        for row in interactions::timeline(conn, customer_id, bound_for(r, cursor), n)? {
            let (at, id) = (row.occurred_at, row.id);
            entries.push(Entry {
                at,
                rank: r,
                id,
                item: TimelineItem {
                    kind: "interaction".into(),
                    at: utc(at),
                    interaction: Some(row.into()),
                    transaction: None,
                    event: None,
                },
            });
        }
    }
    if types.contains(&"transaction") {
        let r = rank("transaction");
        for row in transactions::timeline(conn, customer_id, bound_for(r, cursor), n)? {
            let (at, id) = (row.occurred_at, row.id);
            entries.push(Entry {
                at,
                rank: r,
                id,
                item: TimelineItem {
                    kind: "transaction".into(),
                    at: utc(at),
                    interaction: None,
                    transaction: Some(row.into()),
                    event: None,
                },
            });
        }
    }
    if types.contains(&"event") {
        let r = rank("event");
        for row in events::page(conn, customer_id, None, bound_for(r, cursor), n)? {
            let (at, id) = (row.at, row.id);
            entries.push(Entry {
                at,
                rank: r,
                id,
                item: TimelineItem {
                    kind: "event".into(),
                    at: utc(at),
                    interaction: None,
                    transaction: None,
                    event: Some(row.into()),
                },
            });
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse((e.at, e.rank, e.id)));
    entries.truncate(n as usize);
    Ok(entries)
}

/// Everything that happened with a customer, newest first: interactions,
/// transactions, and the events of its history (funnel stage and grade
/// changes, need conversions, CPR stage, tier and loyalty changes, churn and
/// reactivation, survey answers).
#[utoipa::path(
    tag = "timeline",
    params(("id" = i64, Path, description = "Customer id"), TimelineQuery),
    responses((status = 200, body = TimelinePage))
)]
#[get("/customers/{id}/timeline")]
pub async fn timeline(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    query: QueryParams<TimelineQuery>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let q = query.0;
    let types = parse_types(q.types.as_deref())?;
    let types_key = types.join(",");
    // One list per customer, like every nested list: another card's cursor
    // is a 400, not a page that silently skips entries.
    let list_name = format!("timeline:{customer_id}");
    let limit = page::limit(q.limit)?;
    let cursor = q
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c, &list_name, &types_key))
        .transpose()?;
    let page = state
        .db
        .run(move |conn| {
            // One snapshot for the three sources: a purchase committed
            // between them showed its reactivation without the purchase.
            let entries = db::snapshot(conn, |conn| {
                find_customer(conn, customer_id)?;
                load(conn, customer_id, &types, cursor, limit)
            })?;
            let page = page::finish(entries, limit, &list_name, |e| Cursor {
                s: format!("timeline:{types_key}"),
                k: serde_json::json!([stamp(e.at), e.rank]),
                id: e.id,
            });
            Ok(TimelinePage {
                items: page.items.into_iter().map(|e| e.item).collect(),
                next_cursor: page.next_cursor,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The customer's history of changes, newest first (from, to, who, when,
/// why): funnel stage and grade changes, need conversions, CPR stage, tier
/// and loyalty type changes, churn and reactivation, survey answers.
#[utoipa::path(
    tag = "timeline",
    params(("id" = i64, Path, description = "Customer id"), HistoryQuery),
    responses((status = 200, body = EventPage))
)]
#[get("/customers/{id}/history")]
pub async fn history(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    query: QueryParams<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let q = query.0;
    if q.kind
        .as_deref()
        .is_some_and(|k| !events::KINDS.contains(&k))
    {
        return Err(bad("kind", &format!("one of {}", events::KINDS.join(", "))));
    }
    let limit = page::limit(q.limit)?;
    let sort = "history";
    let list_name = super::common::filtered_list_name(&format!("history:{customer_id}"), &q.kind);
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            let c = Cursor::decode(c, &list_name, sort)?;
            let at = c.stamp_key()?;
            Ok::<_, ApiError>(Before::LtId(at, c.id))
        })
        .transpose()?;
    let page = state
        .db
        .run(move |conn| {
            find_customer(conn, customer_id)?;
            let rows = events::page(conn, customer_id, q.kind.as_deref(), before, limit + 1)?;
            Ok(page::finish(rows, limit, &list_name, |e| Cursor {
                s: sort.into(),
                k: serde_json::Value::String(stamp(e.at)),
                id: e.id,
            }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(EventPage {
        items: page.items.into_iter().map(EventView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
