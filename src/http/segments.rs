//! `/segments`: named groups of customers (客户细分). Dynamic segments hold a
//! rule over the card and its derived figures, evaluated by the database
//! whenever it is read; static segments hold an explicit member list.
//! Ready-made segments (one per tier, funnel stage and CPR stage) are
//! read-only.
//!
//! Roles: everyone reads and previews; `admin`, `manager`, `sales` and
//! `integration` create, change and delete segments and edit static member
//! lists (segments have no owner: any of these roles may edit any segment
//! that is not ready-made); `viewer` reads only. Deleting a segment that a
//! survey targets takes the target off the survey, a change of the survey:
//! only the roles that change surveys (admin, manager) may do it. Its
//! members and rule stay open to every writer: an open survey's panel was
//! frozen from it as the survey opened, and later edits do not change it.

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::customer_input::nullable;
use super::customer_query::CustomerQuery;
use super::customers::{card_page, views, CustomerPage, CustomerView};
use super::dates;
use super::extract::{JsonBody, NoQuery, QueryParams};
use super::no_body::NoBody;
use super::precondition::{self, etag};
use super::validation::Input;
use super::views::utc;
use crate::auth::AuthUser;
use crate::db::customer_list::Filter;
use crate::db::page::{self, Cursor};
use crate::db::row_lock::{lock, Locked};
use crate::db::segments::{self as store, SegmentRow, SegmentScope, Totals};
use crate::db::{self, DbConn};
use crate::domain::codes::{Code, Role};
use crate::domain::segments::{Rule, SegmentKind};
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

/// Longest segment name.
const MAX_NAME: usize = 200;
/// Longest description.
const MAX_DESCRIPTION: usize = 2000;
/// Most customer ids in one request.
const MAX_IDS: usize = 1000;

/// Roles that may create, change and delete segments.
const WRITERS: &[Role] = &[Role::Admin, Role::Manager, Role::Sales, Role::Integration];

/// Sums over a segment's active members.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SegmentTotals {
    /// Sum of the members' revenue in the last 12 months.
    #[schema(example = 12_500_000)]
    pub revenue_12m_cents: i64,
    /// Sum of the members' profit in the last 12 months.
    #[schema(example = 3_100_000)]
    pub profit_12m_cents: i64,
    /// Sum of the members' lifetime revenue.
    #[schema(example = 48_000_000)]
    pub lifetime_revenue_cents: i64,
    /// Sum of the members' lifetime profit.
    #[schema(example = 9_750_000)]
    pub lifetime_profit_cents: i64,
}

impl From<Totals> for SegmentTotals {
    fn from(t: Totals) -> Self {
        SegmentTotals {
            revenue_12m_cents: t.revenue_12m_cents,
            profit_12m_cents: t.profit_12m_cents,
            lifetime_revenue_cents: t.lifetime_revenue_cents,
            lifetime_profit_cents: t.lifetime_profit_cents,
        }
    }
}

/// A segment (客户细分).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": 14, "name": "Hangzhou key accounts gone quiet", "kind": "dynamic",
    "rule": {"all": [
        {"field": "region", "op": "eq", "value": "Hangzhou"},
        {"field": "tier", "op": "in", "value": ["important", "secondary"]},
        {"field": "last_contact_at", "op": "lt", "value": "-90d"}
    ]},
    "description": "Important and secondary customers in Hangzhou without contact for 90 days",
    "builtin": false, "version": 1,
    "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z",
    "count": 12,
    "totals": {"revenue_12m_cents": 12500000, "profit_12m_cents": 3100000,
        "lifetime_revenue_cents": 48000000, "lifetime_profit_cents": 9750000}
}))]
pub struct SegmentView {
    #[schema(example = 14)]
    pub id: i64,
    #[schema(example = "Hangzhou key accounts gone quiet")]
    pub name: String,
    pub kind: SegmentKind,
    /// The rule of a dynamic segment, as sent (see `SegmentCreate.rule`); null for static segments.
    #[schema(value_type = Option<Object>)]
    pub rule: Option<Value>,
    pub description: Option<String>,
    /// Ready-made segments (one per tier, funnel stage and CPR stage) are read-only.
    pub builtin: bool,
    /// Increases on every change; send it back in `If-Match`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Active (not archived) members now. Present when one segment is
    /// returned (read, create, change); absent in the list, where counting
    /// every segment would be expensive, and in the answer to a create or
    /// change that was saved but could not be counted then (the database
    /// busy: read the segment for its figures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub count: Option<i64>,
    /// Value sums over the active members; present with `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub totals: Option<SegmentTotals>,
}

impl SegmentView {
    /// Without the figures (a list item, a change in the feed: counting
    /// the members there would hold the write for a full scan).
    pub fn definition(row: SegmentRow) -> SegmentView {
        SegmentView::new(row, None)
    }

    fn new(row: SegmentRow, totals: Option<Totals>) -> SegmentView {
        SegmentView {
            id: row.id,
            name: row.name,
            kind: SegmentKind::parse(&row.kind).unwrap_or(SegmentKind::Static),
            rule: row
                .rule
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok()),
            description: row.description,
            builtin: row.builtin,
            version: row.version,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            count: totals.map(|t| t.count),
            totals: totals.map(SegmentTotals::from),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SegmentPage {
    pub items: Vec<SegmentView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A new segment: `dynamic` with a `rule`, or `static` with (optionally) its first `member_ids`.
///
/// **Rules.** A rule is one of
/// `{"all": [rule, …]}` (every rule matches; 1 to 100 rules),
/// `{"any": [rule, …]}` (at least one matches; 1 to 100 rules),
/// `{"not": rule}`, or a condition `{"field": name, "op": op, "value": value}`.
/// A rule is at most 8 levels deep (the rule itself is level 1) and holds at
/// most 10,000 values.
///
/// **Fields** (type: ops):
/// text — `name`, `company`, `email`, `phone`, `address`, `external_id`
/// (the ERP key), `region`, `industry`, `age_band`, `income_band`,
/// `occupation`, `education`, `currency`: `eq`, `ne`, `in` (exact, with the
/// value trimmed as stored text is; blank is refused; a `currency` value
/// must be an ISO 4217 code, three upper-case letters; an email is stored
/// in lower case: `eq` it so, or use `contains`; a phone as sent) and
/// `contains` (case-insensitive substring);
/// codes — `kind`, `gender`, `acquisition_source`, `personality_type`,
/// `social_style`, `funnel_stage`, `prospect_grade`, `tier`, `cpr_stage`,
/// `loyalty_type`, `churn_reason` (of a customer churned now): `eq`, `ne`,
/// `in` with valid codes (see `/reference`);
/// integers — `owner_id`, `employees`, `purchase_count`, `open_complaints`,
/// `source_customer_id` (the customer who referred the card) —
/// and money in cents — `annual_revenue_cents`, `wallet_size_cents`,
/// `lifetime_revenue_cents`, `lifetime_profit_cents`, `revenue_12m_cents`,
/// `profit_12m_cents`: `eq`, `ne`, `in`, `lt`, `lte`, `gt`, `gte`;
/// numbers — `share_of_wallet` (0–1) and `satisfaction_overall` (the card's
/// overall satisfaction, 1–5): `eq`, `ne`, `lt`, `lte`, `gt`, `gte`;
/// timestamps — `created_at`, `updated_at`, `last_contact_at`,
/// `first_purchase_at`, `last_purchase_at`, `churned_at` (set while the
/// customer is churned, cleared by its win-back: `{"field": "churned_at",
/// "op": "is_null", "value": false}` is the churned customers, as the list's
/// `churned=true`): `lt`, `lte`, `gt`, `gte` with an
/// RFC 3339 instant (years 0001–9999 in UTC, no leap second), a date
/// (`2026-01-31`, midnight UTC) or a relative date
/// (`-90d`, `+7d`, `-2w`, `-12m`, `-1y`, `-6h`: from the moment the segment
/// is read);
/// `tags`: `contains` (has this tag), `in` (has any of these tags),
/// `is_null` (true: no tag at all);
/// `birthday`: `within_days` with 0 to 366 (celebrated from the day the
/// segment is read to that many days later, both included: `0` today, `30`
/// the coming month, over the year end too; matched on month and day, a
/// 29 February birthday on 28 February in a common year; cards without a
/// birthday never match). The day is the server's UTC date when the segment
/// is read, so such a segment's members change with the date; its member
/// list counts from the list's own day (`birthday_from`, which goes with
/// `birthday_within_days`: `birthday_within_days=366&birthday_from=…` names
/// the day and keeps every birthday of the rule; else the UTC date), which
/// its cursors carry.
/// Fields that can be missing also take `is_null` (value `true`, the
/// default, or `false`): `company`, `email`, `phone`, `address`,
/// `external_id`, `region`, `industry`, `gender`,
/// `age_band`, `income_band`, `occupation`, `education`, `employees`,
/// `annual_revenue_cents`, `acquisition_source`, `source_customer_id`,
/// `personality_type`, `social_style`, `prospect_grade`, `wallet_size_cents`,
/// `birthday`, `last_contact_at`, `first_purchase_at`, `last_purchase_at`,
/// `share_of_wallet`, `satisfaction_overall`, `churned_at`, `churn_reason`.
/// `in` takes 1 to 500 values.
///
/// **Missing values** fail every test except `ne` (a missing value differs
/// from every value) and `is_null`, so `{"not": r}` matches exactly the
/// customers `r` does not: `{"not": {"field": "last_contact_at", "op": "gte",
/// "value": "-90d"}}` includes customers never contacted.
///
/// Every problem in a rule is reported at once as a 422 naming its path,
/// e.g. `rule.all[2].value`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Hangzhou key accounts gone quiet", "kind": "dynamic",
    "rule": {"all": [
        {"field": "region", "op": "eq", "value": "Hangzhou"},
        {"field": "tier", "op": "in", "value": ["important", "secondary"]},
        {"field": "last_contact_at", "op": "lt", "value": "-90d"}
    ]},
    "description": "Important and secondary customers in Hangzhou without contact for 90 days"
}))]
pub struct SegmentCreate {
    /// Unique; 1 to 200 characters.
    #[schema(required = true, value_type = String, example = "Hangzhou key accounts gone quiet", min_length = 1, max_length = 200, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub name: Option<String>,
    #[schema(required = true, value_type = SegmentKind)]
    pub kind: Option<Input<SegmentKind>>,
    /// Required for `dynamic`, absent for `static`.
    #[serde(default, deserialize_with = "super::unique_keys::optional")]
    #[schema(value_type = Option<Object>, example = json!({"field": "tier", "op": "eq", "value": "important"}))]
    pub rule: Option<Value>,
    /// `static` only: the first members (at most 1,000 existing customer ids; repeats are ignored).
    #[schema(example = json!([42, 43]), max_items = 1000)]
    pub member_ids: Option<Vec<i64>>,
    /// At most 2,000 characters.
    #[schema(max_length = 2000)]
    pub description: Option<String>,
}

/// Only the fields sent change; `null` clears the description. The kind of a
/// segment cannot change; a static segment's members change through
/// `/segments/{id}/members`. `null` for `name` or `kind`, or for the `rule`
/// of a dynamic segment, is a 422 `required`: none of them can be cleared.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"description": "Hangzhou accounts nobody called for two months"}))]
pub struct SegmentPatch {
    // `null` is read (not taken for "unchanged") to be refused as `required`
    // with the body's other rules: `"name": null` answered 200 and changed
    // nothing (a review).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        value_type = String,
        required = false,
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub name: Option<Option<String>>,
    /// Accepted only when it is the segment's current kind.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = SegmentKind, required = false)]
    pub kind: Option<Option<Input<SegmentKind>>>,
    /// Dynamic segments only; replaces the rule (same language as
    /// `SegmentCreate.rule`). A dynamic segment always has a rule: `null` is
    /// a 422 `required`. A static segment has none: `null` there states its
    /// current value and changes nothing (as `kind` may be sent unchanged);
    /// a rule is a 422 `not_allowed`.
    #[serde(default, deserialize_with = "super::unique_keys::nullable")]
    #[schema(value_type = Option<Object>)]
    pub rule: Option<Option<Value>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub description: Option<Option<String>>,
}

/// A rule to evaluate without saving it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"rule": {"all": [
    {"field": "cpr_stage", "op": "eq", "value": "penetration"},
    {"field": "share_of_wallet", "op": "lt", "value": 0.5},
    {"field": "tags", "op": "contains", "value": "wholesale"}
]}, "limit": 20}))]
pub struct SegmentPreview {
    /// Same language as `SegmentCreate.rule`.
    #[serde(default, deserialize_with = "super::unique_keys::optional")]
    #[schema(required = true, value_type = Object)]
    pub rule: Option<Value>,
    /// How many matching customers to return (1 to 500, default 50), by id.
    #[schema(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// What a rule matches now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SegmentPreviewResult {
    /// Active (not archived) customers matching the rule.
    #[schema(example = 12)]
    pub count: i64,
    pub totals: SegmentTotals,
    /// The first matching customers by id (at most `limit`); save the
    /// segment to page through all of them.
    pub items: Vec<CustomerView>,
}

/// Customers to add to a static segment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_ids": [42, 43, 57]}))]
pub struct MembersAdd {
    /// 1 to 1,000 existing customer ids; repeats and current members are ignored.
    #[schema(required = true, value_type = Vec<i64>, min_items = 1, max_items = 1000)]
    pub customer_ids: Option<Vec<i64>>,
}

/// The outcome of adding members.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MembersAdded {
    /// Customers that became members.
    #[schema(example = 2)]
    pub added: i64,
    /// Customers that were members already (or sent twice).
    #[schema(example = 1)]
    pub unchanged: i64,
    /// Active members now.
    #[schema(example = 25)]
    pub count: i64,
}

/// Filters and page of the segment list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SegmentQuery {
    /// Only segments of this kind.
    #[param(inline)]
    pub kind: Option<SegmentKind>,
    /// true: only the ready-made segments; false: only user-made ones.
    pub builtin: Option<bool>,
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

fn require_writer(user: &AuthUser) -> Result<(), ApiError> {
    user.require_any(WRITERS)
}

fn find_segment(conn: &mut DbConn, id: i64) -> Result<SegmentRow, ApiError> {
    store::find(conn, id)?.ok_or_else(|| ApiError::NotFound(format!("no segment {id}")))
}

fn not_builtin(row: &SegmentRow) -> Result<(), ApiError> {
    if row.builtin {
        Err(ApiError::Conflict(format!(
            "segment {} is ready-made and read-only",
            row.id
        )))
    } else {
        Ok(())
    }
}

/// Which customers a stored segment holds, evaluated at `now` (its
/// birthday windows from `now`'s UTC date).
pub fn scope_of(row: &SegmentRow, now: NaiveDateTime) -> Result<SegmentScope, ApiError> {
    Ok(match rule_of(row)? {
        None => SegmentScope::for_members(row.id),
        Some(rule) => SegmentScope::for_rule(&rule, now),
    })
}

/// The rule of a dynamic segment; none for a static one.
fn rule_of(row: &SegmentRow) -> Result<Option<Rule>, ApiError> {
    if row.kind == store::STATIC {
        return Ok(None);
    }
    let text = row.rule.as_deref().unwrap_or("null");
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::Internal(format!("segment {}: stored rule: {e}", row.id)))?;
    let rule = Rule::parse_stored(&value).map_err(|errors| {
        ApiError::Internal(format!(
            "segment {}: stored rule no longer valid: {errors:?}",
            row.id
        ))
    })?;
    Ok(Some(rule))
}

fn detail(conn: &mut DbConn, row: SegmentRow) -> Result<SegmentView, ApiError> {
    let scope = scope_of(&row, db::now())?;
    let totals = store::totals(conn, &scope)?;
    Ok(SegmentView::new(row, Some(totals)))
}

/// The answer to a committed create or change: with its figures, or without
/// them (`count` and `totals` absent) when counting fails (no connection in
/// time, a lost one). An error there answered a saved write with a 503, and
/// the client's retry met the name it had taken (409), its key applied
/// (409) or a new version (412).
async fn saved_view(state: &AppState, saved: SegmentRow) -> SegmentView {
    let row = saved.clone();
    match state.db.run(move |conn| detail(conn, row)).await {
        Ok(view) => view,
        Err(e) => {
            log::warn!("segment {} saved, its figures not counted: {e}", saved.id);
            SegmentView::definition(saved)
        }
    }
}

fn segment_response(status: StatusCode, view: SegmentView) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.insert_header(etag(view.version));
    if status == StatusCode::CREATED {
        response.insert_header((header::LOCATION, format!("/api/v1/segments/{}", view.id)));
    }
    response.json(view)
}

/// A name: trimmed, 1 to 200 characters.
fn name_errors(name: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    // The length is the name as sent (the schema's maxLength), the name
    // kept is trimmed.
    match name {
        None => None,
        Some(n) if n.chars().count() > MAX_NAME => {
            errors.push(FieldError::new(
                "name",
                "length",
                format!("must be at most {MAX_NAME} characters"),
            ));
            None
        }
        Some(n) if n.trim().is_empty() => {
            errors.push(FieldError::new("name", "blank", "must not be blank"));
            None
        }
        Some(n) => Some(n.trim().to_string()),
    }
}

/// A blank description is none; its length is judged as sent first, blank
/// or not (2,001 spaces were taken as none although the schema's maxLength
/// refuses them; a review).
fn description_errors(description: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let raw = description?;
    let d = raw.trim();
    if raw.chars().count() > MAX_DESCRIPTION {
        errors.push(FieldError::new(
            "description",
            "length",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
        return None;
    }
    (!d.is_empty()).then(|| d.to_string())
}

/// Parses `rule` (reported under `field`), keeping the JSON text to store.
fn rule_errors(value: &Value, field: &str, errors: &mut Vec<FieldError>) -> Option<(Rule, String)> {
    match Rule::parse(value, field) {
        Ok(rule) => Some((rule, value.to_string())),
        Err(found) => {
            errors.extend(found);
            None
        }
    }
}

/// 1 to 1,000 ids, in order, without repeats.
fn id_list(ids: &[i64], field: &str, allow_empty: bool, errors: &mut Vec<FieldError>) -> Vec<i64> {
    if ids.len() > MAX_IDS || (!allow_empty && ids.is_empty()) {
        errors.push(FieldError::new(
            field,
            "length",
            format!(
                "takes {} to {MAX_IDS} customer ids",
                if allow_empty { 0 } else { 1 }
            ),
        ));
        return Vec::new();
    }
    let mut seen = std::collections::HashSet::new();
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

/// 422 naming each id (by its first position in `sent`) that is no customer.
fn unknown_ids(conn: &mut DbConn, ids: &[i64], sent: &[i64], field: &str) -> Result<(), ApiError> {
    let found: std::collections::HashSet<i64> =
        store::existing_customers(conn, ids)?.into_iter().collect();
    let errors: Vec<FieldError> = ids
        .iter()
        .filter(|id| !found.contains(id))
        .map(|id| {
            let at = sent.iter().position(|s| s == id).unwrap_or_default();
            FieldError::new(
                format!("{field}[{at}]"),
                "unknown_customer",
                format!("no customer {id}"),
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn name_taken(conn: &mut DbConn, name: &str, except: Option<i64>) -> Result<(), ApiError> {
    match store::find_by_name(conn, name)? {
        Some(other) if Some(other.id) != except => Err(ApiError::field_conflict(
            "name",
            format!("segment {} is already named {name:?}", other.id),
        )),
        _ => Ok(()),
    }
}

/// List segments, ready-made ones included, by id. Member counts are not
/// included (read one segment for its count and totals).
#[utoipa::path(tag = "segments", params(SegmentQuery), responses((status = 200, body = SegmentPage)))]
#[get("/segments")]
pub async fn list(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: QueryParams<SegmentQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let since = super::common::query_instant("updated_since", q.updated_since)?;
    let limit = page::limit(q.limit)?;
    let kind = q.kind.map(SegmentKind::as_str);
    let list_name = super::common::filtered_list_name("segments", &(kind, q.builtin));
    let after = q
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &list_name, "id"))
        .transpose()?
        .map(|c| c.id);
    let rows = state
        .db
        .run(move |conn| Ok(store::page(conn, kind, q.builtin, since, after, limit)?))
        .await?;
    let page = page::finish(rows, limit, &list_name, |s| Cursor {
        s: "id".into(),
        k: Value::Null,
        id: s.id,
    });
    Ok(HttpResponse::Ok().json(SegmentPage {
        items: page
            .items
            .into_iter()
            .map(|r| SegmentView::new(r, None))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Create a segment: `dynamic` with a rule, or `static` with an optional
/// first member list. The response includes the member count and totals.
#[utoipa::path(
    tag = "segments",
    request_body = SegmentCreate,
    responses(
        (status = 201, body = SegmentView, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "The name is taken (`errors`: `[{field: name, code: conflict}]`, also when a concurrent write took it first)", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/segments")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    _query: NoQuery,
    body: JsonBody<SegmentCreate>,
) -> Result<HttpResponse, ApiError> {
    require_writer(&user)?;
    let input = body.0;
    let mut errors = Vec::new();
    if input.name.is_none() {
        errors.push(FieldError::new("name", "required", "is required"));
    }
    let name = name_errors(input.name.as_deref(), &mut errors);
    let description = description_errors(input.description.as_deref(), &mut errors);
    let kind = match &input.kind {
        None => {
            errors.push(FieldError::new(
                "kind",
                "required",
                "is required: dynamic or static",
            ));
            None
        }
        Some(k) => match k.get("kind") {
            Ok(k) => Some(k),
            Err(ApiError::Validation(e)) => {
                errors.extend(e);
                None
            }
            Err(other) => return Err(other),
        },
    };
    let mut rule_text = None;
    let mut members = Vec::new();
    let sent = input.member_ids.clone().unwrap_or_default();
    match kind {
        Some(SegmentKind::Dynamic) => {
            match &input.rule {
                None => errors.push(FieldError::new(
                    "rule",
                    "required",
                    "a dynamic segment needs a rule",
                )),
                Some(v) => rule_text = rule_errors(v, "rule", &mut errors).map(|(_, t)| t),
            }
            if input.member_ids.is_some() {
                errors.push(FieldError::new(
                    "member_ids",
                    "not_allowed",
                    "a dynamic segment's members are whoever matches its rule",
                ));
            }
        }
        Some(SegmentKind::Static) => {
            if input.rule.is_some() {
                errors.push(FieldError::new(
                    "rule",
                    "not_allowed",
                    "a static segment has no rule; send member_ids",
                ));
            }
            members = id_list(&sent, "member_ids", true, &mut errors);
        }
        None => {}
    }
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(ApiError::Validation(errors));
    }
    let (Some(name), Some(kind)) = (name, kind) else {
        return Err(ApiError::Internal("segment input lost".into()));
    };
    let now = db::now();
    let row = SegmentRow {
        id: 0,
        name,
        kind: kind.as_str().to_string(),
        rule: rule_text,
        description,
        builtin: false,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    // Counted after the COMMIT (`detail`): a count scans every card, and
    // inside the transaction it held SQLite's one write for as long.
    let saved = state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                unknown_ids(conn, &members, &sent, "member_ids")?;
                name_taken(conn, &row.name, None)?;
                let saved = store::insert(conn, &row)?;
                store::add_members(conn, saved.id, &members, now)?;
                Ok(saved)
            })
        })
        .await?;
    Ok(segment_response(
        StatusCode::CREATED,
        saved_view(&state, saved).await,
    ))
}

/// Read a segment with its member count and value totals, computed now.
#[utoipa::path(
    tag = "segments",
    params(("id" = i64, Path, description = "Segment id")),
    responses((status = 200, body = SegmentView, headers(("ETag" = String))))
)]
#[get("/segments/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let view = state
        .db
        .run(move |conn| {
            let row = find_segment(conn, id)?;
            detail(conn, row)
        })
        .await?;
    Ok(segment_response(StatusCode::OK, view))
}

/// Change a segment's name, description or (dynamic) rule. Ready-made
/// segments are read-only (409). Send `If-Match` with the ETag you read
/// (412 if the segment is no longer at that version).
#[utoipa::path(
    tag = "segments",
    params(("id" = i64, Path, description = "Segment id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the segment is no longer at that version")),
    request_body = SegmentPatch,
    responses(
        (status = 200, body = SegmentView, headers(("ETag" = String))),
        (status = 409, description = "Ready-made segment (no `errors`), or the name is taken (`errors`: `[{field: name, code: conflict}]`, also when a concurrent write took it first)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The segment is not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[patch("/segments/{id}")]
pub async fn patch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<SegmentPatch>,
) -> Result<HttpResponse, ApiError> {
    require_writer(&user)?;
    let id = path.into_inner();
    let expected = precondition::if_match(&req)?;
    let input = body.0;
    let mut errors = super::validation::nulls(&[
        ("kind", matches!(input.kind, Some(None))),
        ("name", matches!(input.name, Some(None))),
    ]);
    let name = name_errors(input.name.as_ref().and_then(|n| n.as_deref()), &mut errors);
    let description = input
        .description
        .as_ref()
        .map(|d| description_errors(d.as_deref(), &mut errors));
    let kind = match input.kind.as_ref().and_then(Option::as_ref) {
        None => None,
        Some(k) => match k.get("kind") {
            Ok(k) => Some(k),
            Err(ApiError::Validation(e)) => {
                errors.extend(e);
                None
            }
            Err(other) => return Err(other),
        },
    };
    let rule = input
        .rule
        .as_ref()
        .and_then(Option::as_ref)
        .map(|v| rule_errors(v, "rule", &mut errors));
    // Counted after the COMMIT, as in `create`.
    let saved = state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                lock(conn, Locked::Segments, id)?;
                let mut row = find_segment(conn, id)?;
                not_builtin(&row)?;
                let stored = row.clone();
                if kind.is_some_and(|k| k.as_str() != row.kind) {
                    errors.push(FieldError::new(
                        "kind",
                        "immutable",
                        format!("a segment's kind cannot change (this one is {})", row.kind),
                    ));
                }
                match &input.rule {
                    // The stored rule sent back as it is (a form resending
                    // the whole segment): read as stored rules are, so one
                    // saved before a newer check of its values still takes
                    // the body's other changes.
                    Some(Some(sent))
                        if row.rule.as_deref() == Some(sent.to_string().as_str())
                            && Rule::parse_stored(sent).is_ok() =>
                    {
                        errors.retain(|e| !e.field.starts_with("rule"));
                    }
                    Some(Some(_)) if row.kind == store::STATIC => {
                        errors.retain(|e| !e.field.starts_with("rule"));
                        errors.push(FieldError::new(
                            "rule",
                            "not_allowed",
                            "a static segment has no rule; change its members with /segments/{id}/members",
                        ));
                    }
                    Some(None) if row.kind != store::STATIC => errors.push(FieldError::new(
                        "rule",
                        "required",
                        "must not be null: a dynamic segment always has a rule",
                    )),
                    _ => {}
                }
                if !errors.is_empty() {
                    errors.sort_by(|a, b| a.field.cmp(&b.field));
                    return Err(ApiError::Validation(errors));
                }
                // After the body's checks: a 412 says the body was valid.
                precondition::check(expected.as_deref(), row.version)?;
                if let Some(name) = name {
                    name_taken(conn, &name, Some(row.id))?;
                    row.name = name;
                }
                if let Some(description) = description {
                    row.description = description;
                }
                if let Some(Some((_, text))) = rule {
                    row.rule = Some(text);
                }
                // Nothing differs: no write, no new version.
                if row == stored {
                    return Ok(row);
                }
                let before = row.version;
                row.version = before + 1;
                row.updated_at = db::now();
                precondition::require_saved(store::save(conn, &row, before)?, before)?;
                Ok(row)
            })
        })
        .await?;
    Ok(segment_response(
        StatusCode::OK,
        saved_view(&state, saved).await,
    ))
}

/// Delete a segment (and its member list; the customers stay). Ready-made
/// segments cannot be deleted (409).
///
/// The surveys that target it lose their target (each a change of the survey: new `version`, an entry in the
/// change feed), so a segment that a survey targets is deleted only by an
/// admin or a manager, who may change surveys: another role gets a 403
/// naming the surveys.
#[utoipa::path(
    tag = "segments",
    params(("id" = i64, Path, description = "Segment id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the segment is no longer at that version")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "A viewer; or the segment is the target of a survey and the user is not an admin or manager (the problem names the surveys)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Ready-made segment", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The segment is not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[delete("/segments/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i64>,
    _query: NoQuery,
    _body: NoBody,
) -> Result<HttpResponse, ApiError> {
    require_writer(&user)?;
    let id = path.into_inner();
    let expected = precondition::if_match(&req)?;
    state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                // Held to the commit: a survey created or re-targeted at this
                // segment (`surveys::hold_segment`) waits for the delete, so
                // the surveys read below are all those it takes the target off.
                lock(conn, Locked::Segments, id)?;
                let row = find_segment(conn, id)?;
                not_builtin(&row)?;
                may_untarget(conn, &user, id)?;
                precondition::check(expected.as_deref(), row.version)?;
                store::delete(conn, id)?;
                Ok(())
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The most survey ids a refusal names.
const NAMED_SURVEYS: usize = 20;

/// 403 unless `user` may change the surveys that target segment `id` (none
/// does, or the user is an admin or manager): deleting the segment takes
/// their target off. Called with the segment locked.
fn may_untarget(conn: &mut DbConn, user: &AuthUser, id: i64) -> Result<(), ApiError> {
    if user.require_any(super::surveys::EDITORS).is_ok() {
        return Ok(());
    }
    let surveys = crate::db::surveys::targeting(conn, id)?;
    if surveys.is_empty() {
        return Ok(());
    }
    let mut named: Vec<String> = surveys
        .iter()
        .take(NAMED_SURVEYS)
        .map(i64::to_string)
        .collect();
    if surveys.len() > NAMED_SURVEYS {
        named.push(format!("and {} more", surveys.len() - NAMED_SURVEYS));
    }
    let (noun, them) = if surveys.len() == 1 {
        ("survey", "it")
    } else {
        ("surveys", "them")
    };
    Err(ApiError::Forbidden(format!(
        "segment {id} is the target of {noun} {}: deleting it changes {them}, and only admins and managers may change surveys",
        named.join(", ")
    )))
}

/// List a segment's members: the customers a dynamic segment's rule matches
/// now, or a static segment's listed customers. Same shape, filters, sorts
/// and cursors as `GET /customers` (archived customers only with
/// `include_archived=true`); a rule's
/// `birthday` window counts from the list's day: `birthday_from` when sent
/// (with `birthday_within_days`, as always: `366` names the day and leaves
/// the rule alone to choose), else the server's UTC date, carried by the
/// cursors as the list's own window's day is.
#[utoipa::path(
    tag = "segments",
    params(("id" = i64, Path, description = "Segment id"), CustomerQuery),
    responses((status = 200, body = CustomerPage))
)]
#[get("/segments/{id}/members")]
pub async fn list_members(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    query: QueryParams<CustomerQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let q = query.0;
    let members = format!("segment-members:{id}");
    // The query's 400s before the segment's 404: the cursor's whole list is
    // known only with the segment's rule, its segment and filters now.
    let checked = CustomerQuery {
        cursor: None,
        ..q.clone()
    }
    .paged(&members)?;
    if let Some(raw) = q.cursor.as_deref() {
        Cursor::check_within(raw, checked.list(), &checked.sort.as_string())?;
    }
    let page = state
        .db
        .run(move |conn| {
            let row = find_segment(conn, id)?;
            // One list per segment and rule: another segment's cursor is
            // refused, and so is one from before the rule was edited (a QA
            // review: the next page was of the new rule, one list of two).
            let rule = super::common::filters_hash(&row.rule);
            let mut paged = q.paged_within(&members, rule.as_deref())?;
            let now = db::now();
            let scope = match rule_of(&row)? {
                None => SegmentScope::for_members(row.id),
                // A birthday rule's window moves with the date: the pages of
                // one list share a day, as the list's own window does.
                Some(rule) if rule.reads_birthdays() => {
                    let today = paged.hold_day(now.date());
                    SegmentScope::for_rule_on(&rule, now, today)
                }
                Some(rule) => SegmentScope::for_rule(&rule, now),
            };
            let filter = Filter {
                segment: Some(scope),
                ..paged.filter.clone()
            };
            // One snapshot: a rule on tags or tiers, read again by `views`
            // (as `GET /customers?tag=`).
            db::snapshot(conn, |conn| card_page(conn, &paged, &filter))
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Add customers to a static segment (409 for dynamic segments). Unknown
/// customer ids are a 422 naming each; current members and repeats are
/// ignored. Adding any raises the segment's `version` and `updated_at`.
///
/// Unconditional: `If-Match` is not read (adding a member is the same
/// whatever else changed); the segment's new `version` is on its next read.
#[utoipa::path(
    tag = "segments",
    params(("id" = i64, Path, description = "Segment id")),
    request_body = MembersAdd,
    responses(
        (status = 200, body = MembersAdded),
        (status = 409, description = "Not a static segment", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/segments/{id}/members")]
pub async fn add_members(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<MembersAdd>,
) -> Result<HttpResponse, ApiError> {
    require_writer(&user)?;
    let id = path.into_inner();
    let mut errors = Vec::new();
    let sent = match body.0.customer_ids {
        None => {
            errors.push(FieldError::new("customer_ids", "required", "is required"));
            Vec::new()
        }
        Some(ids) => ids,
    };
    let ids = id_list(&sent, "customer_ids", false, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let result = state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                // Concurrent adds of the same ids take turns: each sees the
                // members the other added (else both inserted them, and the
                // loser was a 409 on the members' key).
                lock(conn, Locked::Segments, id)?;
                let row = find_segment(conn, id)?;
                static_only(&row)?;
                unknown_ids(conn, &ids, &sent, "customer_ids")?;
                let present: std::collections::HashSet<i64> =
                    store::members_among(conn, id, &ids)?.into_iter().collect();
                let new: Vec<i64> = ids
                    .iter()
                    .copied()
                    .filter(|c| !present.contains(c))
                    .collect();
                let now = db::now();
                store::add_members(conn, id, &new, now)?;
                if !new.is_empty() {
                    store::touch(conn, id, now)?;
                }
                let totals = store::totals(conn, &SegmentScope::for_members(id))?;
                Ok(MembersAdded {
                    added: new.len() as i64,
                    unchanged: (sent.len() - new.len()) as i64,
                    count: totals.count,
                })
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

fn static_only(row: &SegmentRow) -> Result<(), ApiError> {
    if row.kind == store::STATIC {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "segment {} is dynamic: its members are whoever matches its rule",
            row.id
        )))
    }
}

/// Remove a customer from a static segment (409 for dynamic segments; 404
/// when the customer is not a member). Raises the segment's `version` and
/// `updated_at`.
///
/// Unconditional: `If-Match` is not read (removing a member is the same
/// whatever else changed); the segment's new `version` is on its next read.
#[utoipa::path(
    tag = "segments",
    params(("id" = i64, Path, description = "Segment id"),
        ("customer_id" = i64, Path, description = "Customer id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 409, description = "Not a static segment", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[delete("/segments/{id}/members/{customer_id}")]
pub async fn remove_member(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    _query: NoQuery,
    _body: NoBody,
) -> Result<HttpResponse, ApiError> {
    require_writer(&user)?;
    let (id, customer_id) = path.into_inner();
    state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                lock(conn, Locked::Segments, id)?;
                let row = find_segment(conn, id)?;
                static_only(&row)?;
                if store::remove_member(conn, id, customer_id)? {
                    store::touch(conn, id, db::now())?;
                    Ok(())
                } else {
                    Err(ApiError::NotFound(format!(
                        "customer {customer_id} is not a member of segment {id}"
                    )))
                }
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Evaluate a rule without saving it: how many active customers match now,
/// their value totals, and the first of them (by id).
#[utoipa::path(
    tag = "segments",
    request_body = SegmentPreview,
    responses((status = 200, body = SegmentPreviewResult))
)]
#[post("/segments/preview")]
pub async fn preview(
    state: web::Data<AppState>,
    _user: AuthUser,
    _query: NoQuery,
    body: JsonBody<SegmentPreview>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let mut errors = Vec::new();
    let rule = match &input.rule {
        None => {
            errors.push(FieldError::new("rule", "required", "is required"));
            None
        }
        Some(v) => rule_errors(v, "rule", &mut errors).map(|(r, _)| r),
    };
    let limit = match input.limit {
        None => page::DEFAULT_LIMIT,
        Some(n) if (1..=page::MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            errors.push(FieldError::new(
                "limit",
                "range",
                format!("must be between 1 and {}", page::MAX_LIMIT),
            ));
            0
        }
    };
    let Some(rule) = rule.filter(|_| errors.is_empty()) else {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(ApiError::Validation(errors));
    };
    let scope = SegmentScope::for_rule(&rule, db::now());
    let split =
        super::segment_totals::split_totals(&state.db, &scope, state.segment_split_from).await?;
    // One snapshot for the count, the members and their tags and tiers, as
    // the members' list reads them (a review: a tag removed between two of
    // the statements listed a card under its `tags contains` rule without
    // the tag). A split count (`segment_totals`) is read apart, before.
    let result = state
        .db
        .run(move |conn| {
            db::snapshot(conn, |conn| {
                let totals = match split {
                    Some(totals) => totals,
                    None => store::totals(conn, &scope)?,
                };
                let rows = store::first_members(conn, &scope, totals.count, limit)?;
                Ok(SegmentPreviewResult {
                    count: totals.count,
                    totals: totals.into(),
                    items: views(conn, rows)?,
                })
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

#[cfg(test)]
mod tests {
    use crate::domain::segments::FIELDS;

    /// The rule documentation in the spec names every field of the rule language.
    #[test]
    fn documentation_names_every_field() {
        let spec = crate::openapi::spec();
        let json = serde_json::to_value(&spec).unwrap_or_default();
        let description = json["components"]["schemas"]["SegmentCreate"]["description"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for field in FIELDS {
            assert!(
                description.contains(&format!("`{}`", field.name)),
                "SegmentCreate's description does not mention {}",
                field.name
            );
            if field.nullable {
                let part = description
                    .split("also take `is_null`")
                    .nth(1)
                    .unwrap_or_default();
                assert!(
                    part.contains(&format!("`{}`", field.name)),
                    "{} is nullable but not listed under is_null",
                    field.name
                );
            }
        }
    }
}
