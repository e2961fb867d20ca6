//! `/account-plans`: key-account plans (重要客户管理) for customers in the
//! `important` or `secondary` tier; actions are a sub-resource
//! (`account_plan_actions.rs`), the return is `account_plan_evaluation.rs`.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::account_plan_actions::ActionView;
use super::common::versioned;
use super::customer_input::nullable;
use super::customers::{locked_customer, record_patch_writes, refuse_archived, writable_customer};
use super::dates;
use super::extract::{JsonBody, NoQuery, QueryParams};
use super::no_body::NoBody;
use super::precondition;
use super::validation::{calendar_date, check, known_code, not_blank, Input};
use super::views::utc;
use crate::auth::AuthUser;
use crate::db::account_plans::{self as plans, PlanRow};
use crate::db::customers;
use crate::db::customers::CustomerRow;
use crate::db::page::{self, Cursor};
use crate::db::{self, DbConn};
use crate::domain::account_plans::{
    earliest_period_start, eligible, is_closed, longest_period_end,
};
use crate::domain::codes::{from_db, AccountPlanStatus};
use crate::domain::tiers::stored_tier;
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

/// A key-account plan.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanView {
    pub id: i64,
    pub customer_id: i64,
    pub objective: String,
    /// First day of the plan period.
    pub period_start: NaiveDate,
    /// Last day of the plan period (inclusive).
    pub period_end: NaiveDate,
    /// Budget for the plan's actions, in minor units of `currency`.
    pub budget_cents: i64,
    /// The customer's currency (ISO 4217): the unit of `budget_cents`, of the
    /// actions' `cost_cents` and of the plan's evaluation.
    #[schema(example = "CNY")]
    pub currency: String,
    pub status: AccountPlanStatus,
    pub created_by: Option<i64>,
    /// The plan's actions, by due date (at most 100).
    pub actions: Vec<ActionView>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the plan was completed or cancelled (null while draft or
    /// active): its evaluation is judged as of that day (closed on its
    /// `period_end`: on its whole period, as of the day after).
    #[schema(required = true)]
    pub closed_at: Option<DateTime<Utc>>,
}

impl PlanView {
    pub fn new(r: PlanRow, currency: String, actions: Vec<ActionView>) -> PlanView {
        PlanView {
            id: r.id,
            customer_id: r.customer_id,
            objective: r.objective,
            period_start: r.period_start,
            period_end: r.period_end,
            budget_cents: r.budget_cents,
            currency,
            status: from_db(&r.status, AccountPlanStatus::Draft),
            created_by: r.created_by,
            actions,
            version: r.version,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            closed_at: r.closed_at.map(utc),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanPage {
    pub items: Vec<PlanView>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_id": 42, "objective": "Grow the herbal-tea volume by 30% and secure peak-season supply",
    "period_start": "2026-01-01", "period_end": "2026-06-30", "budget_cents": 5000000}))]
pub struct PlanCreate {
    /// A customer in the `important` or `secondary` tier (409 otherwise).
    #[validate(required)]
    #[schema(required = true, value_type = i64)]
    pub customer_id: Option<i64>,
    #[validate(required, length(max = 2000), custom(function = "not_blank"))]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 2000, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub objective: Option<String>,
    /// From 1900-01-01.
    #[serde(default, deserialize_with = "dates::optional")]
    #[validate(required, custom(function = "calendar_date"))]
    #[schema(required = true, value_type = NaiveDate, pattern = "^(19|[2-9][0-9])")]
    pub period_start: Option<NaiveDate>,
    /// On or after `period_start`; the period is at most ten years long (its
    /// last day at most ten years after `period_start`, less a day).
    #[serde(default, deserialize_with = "dates::optional")]
    #[validate(required, custom(function = "calendar_date"))]
    #[schema(required = true, value_type = NaiveDate, pattern = "^(19|[2-9][0-9])")]
    pub period_end: Option<NaiveDate>,
    /// From 0 to 10^14 (as transactions' amounts).
    #[validate(required, range(min = 0, max = 100_000_000_000_000i64))]
    #[schema(required = true, value_type = i64, minimum = 0, maximum = 100_000_000_000_000.0)]
    pub budget_cents: Option<i64>,
    /// Default `draft`.
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<AccountPlanStatus>)]
    pub status: Option<Input<AccountPlanStatus>>,
}

/// Only the fields sent change.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"objective": "Raise our share of the packaging budget to 40 %"}))]
pub struct PlanPatch {
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 2000), custom(function = "not_blank"))]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 2000, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub objective: Option<Option<String>>,
    #[serde(default, deserialize_with = "dates::nullable")]
    #[validate(custom(function = "calendar_date"))]
    #[schema(value_type = NaiveDate, required = false, pattern = "^(19|[2-9][0-9])")]
    pub period_start: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "dates::nullable")]
    #[validate(custom(function = "calendar_date"))]
    #[schema(value_type = NaiveDate, required = false, pattern = "^(19|[2-9][0-9])")]
    pub period_end: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(range(min = 0, max = 100_000_000_000_000i64))]
    #[schema(value_type = i64, required = false, minimum = 0, maximum = 100_000_000_000_000.0)]
    pub budget_cents: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = AccountPlanStatus, required = false)]
    pub status: Option<Option<Input<AccountPlanStatus>>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PlanQuery {
    /// Only the plans of this customer.
    pub customer_id: Option<i64>,
    /// Only plans in this status. `draft` and `active`, the plans still
    /// to run, leave out those of archived cards (they take no change until
    /// the card is restored); `updated_since` without `status` lists them all.
    #[param(inline)]
    pub status: Option<AccountPlanStatus>,
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

/// The period's rule, named on `blamed` (`period_end`, or `period_start`
/// when a PATCH sent only that one).
fn period_errors(start: NaiveDate, end: NaiveDate, blamed: &str) -> Vec<FieldError> {
    // A date out of range is reported on its own field already.
    if calendar_date(&start).is_err() || calendar_date(&end).is_err() {
        return Vec::new();
    }
    let start_blamed = blamed == "period_start";
    let message = match longest_period_end(start) {
        _ if end < start && start_blamed => format!("must be on or before period_end ({end})"),
        _ if end < start => "must be on or after period_start".to_string(),
        Some(last) if end <= last => return Vec::new(),
        // Ten years of days, both ends counted: the last allowed day named.
        Some(last) if !start_blamed => format!(
            "the period is at most ten years long: period_end at most {last} (ten years after period_start, less a day)"
        ),
        _ if start_blamed => match earliest_period_start(end) {
            Some(first) => format!(
                "the period is at most ten years long: period_start at least {first} (period_end {end} less ten years, plus a day)"
            ),
            None => "the period is at most ten years long".to_string(),
        },
        _ => "the period is at most ten years long".to_string(),
    };
    vec![FieldError::new(blamed, "range", message)]
}

pub fn find_plan(conn: &mut DbConn, id: i64) -> Result<PlanRow, ApiError> {
    plans::find(conn, id)?.ok_or_else(|| ApiError::NotFound(format!("no account plan {id}")))
}

/// The plan, for a write: this user may change its customer (locked), and
/// the customer is not archived.
pub fn writable_plan(conn: &mut DbConn, user: &AuthUser, id: i64) -> Result<PlanRow, ApiError> {
    let (plan, customer) = patchable_plan(conn, user, id)?;
    refuse_archived(&customer)?;
    Ok(plan)
}

/// The plan and its customer, for a PATCH: this user may change the
/// customer (locked), archived or not: a PATCH that changes nothing is a 200
/// on an archived card, as for its other records; `refuse_archived` before
/// a write.
pub fn patchable_plan(
    conn: &mut DbConn,
    user: &AuthUser,
    id: i64,
) -> Result<(PlanRow, CustomerRow), ApiError> {
    let (plan, customer) = locked_plan(conn, id)?;
    user.require_customer_write(customer.owner_id)?;
    Ok((plan, customer))
}

/// The plan and its customer, locked, before any check of who writes.
pub fn locked_plan(conn: &mut DbConn, id: i64) -> Result<(PlanRow, CustomerRow), ApiError> {
    let plan = find_plan(conn, id)?;
    let customer = locked_customer(conn, plan.customer_id)?;
    // Read again under the card's lock, which every write of a plan takes:
    // the first read may predate a write that committed while this one
    // waited, and saving by that version would be a 412 nobody asked for.
    Ok((find_plan(conn, id)?, customer))
}

/// The 409 for a change to a closed plan or its actions (`is_closed`),
/// naming `field`.
pub fn refuse_closed(plan: &PlanRow, field: &str) -> Result<(), ApiError> {
    let status = from_db(&plan.status, AccountPlanStatus::Draft);
    if !is_closed(status) {
        return Ok(());
    }
    Err(ApiError::FieldConflict(FieldError::new(
        field,
        "closed",
        format!(
            "account plan {} is {}: reopen it first (PATCH its status to active or draft)",
            plan.id,
            status.as_str()
        ),
    )))
}

pub fn plan_view(conn: &mut DbConn, row: PlanRow) -> Result<PlanView, ApiError> {
    let actions = plans::actions_of(conn, row.id)?
        .into_iter()
        .map(ActionView::from)
        .collect();
    let currency = plans::currency_of(conn, row.customer_id)?;
    Ok(PlanView::new(row, currency, actions))
}

/// The views of a page of plans, with three statements whatever its length.
fn plan_views(conn: &mut DbConn, rows: Vec<PlanRow>) -> Result<Vec<PlanView>, ApiError> {
    let plan_ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut customer_ids: Vec<i64> = rows.iter().map(|r| r.customer_id).collect();
    customer_ids.sort_unstable();
    customer_ids.dedup();
    let mut actions = plans::actions_of_many(conn, &plan_ids)?;
    let currencies = plans::currencies_of(conn, &customer_ids)?;
    rows.into_iter()
        .map(|row| {
            // The plan's customer_id references the card, and cards are
            // archived, never deleted: a missing currency is a broken database.
            let currency = currencies.get(&row.customer_id).cloned().ok_or_else(|| {
                ApiError::Internal(format!("account plan {} has no customer", row.id))
            })?;
            let acts = actions.remove(&row.id).unwrap_or_default();
            Ok(PlanView::new(
                row,
                currency,
                acts.into_iter().map(ActionView::from).collect(),
            ))
        })
        .collect()
}

fn respond(status: StatusCode, view: PlanView) -> HttpResponse {
    let loc = format!("/api/v1/account-plans/{}", view.id);
    versioned(status, view.version, Some(loc), &view)
}

/// Key-account plans, by id; filter by customer and status.
#[utoipa::path(tag = "account-plans", params(PlanQuery), responses((status = 200, body = PlanPage)))]
#[get("/account-plans")]
pub async fn list(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: QueryParams<PlanQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let since = super::common::query_instant("updated_since", q.updated_since)?;
    let limit = page::limit(q.limit)?;
    // One customer's plans are a list of their own: another's cursor would
    // skip this customer's plans before its position; so is each status.
    let list_name = super::common::filtered_list_name(
        &super::common::list_name("account-plans", q.customer_id),
        &q.status.map(|s| s.as_str()),
    );
    let after = q
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &list_name, "id"))
        .transpose()?
        .map(|c| c.id);
    let status = q.status.map(|s| s.as_str());
    let open_only = q.status.is_some_and(|s| !is_closed(s));
    let customer = q.customer_id;
    let page = state
        .db
        .run(move |conn| {
            db::snapshot(conn, |conn| {
                // One snapshot, as for one plan: each version beside its actions.
                let rows = plans::page(conn, customer, status, open_only, since, after, limit)?;
                let page = page::finish(rows, limit, &list_name, |r| Cursor {
                    s: "id".into(),
                    k: serde_json::Value::Null,
                    id: r.id,
                });
                let items = plan_views(conn, page.items)?;
                Ok(PlanPage {
                    items,
                    next_cursor: page.next_cursor,
                })
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Create a plan for a key customer (tier `important` or `secondary`, as of
/// the last `POST /tiers/recompute`; 409 otherwise, or if the customer is
/// archived). Sales users only for customers they own. A plan keeps running
/// if the customer's tier later drops.
#[utoipa::path(
    tag = "account-plans",
    request_body = PlanCreate,
    responses(
        (status = 201, body = PlanView, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "The customer is not a key customer (tier important or secondary; no `errors`)", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/account-plans")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    _query: NoQuery,
    body: JsonBody<PlanCreate>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let extra = match (input.period_start, input.period_end) {
        (Some(s), Some(e)) => period_errors(s, e, "period_end"),
        _ => Vec::new(),
    };
    check(&input, extra)?;
    let status = input
        .status
        .as_ref()
        .map(|s| s.get("status"))
        .transpose()?
        .unwrap_or(AccountPlanStatus::Draft);
    let customer_id = input.customer_id.unwrap_or_default();
    let now = db::now();
    let row = PlanRow {
        id: 0,
        customer_id,
        objective: input.objective.unwrap_or_default().trim().to_string(),
        period_start: input.period_start.unwrap_or_default(),
        period_end: input.period_end.unwrap_or_default(),
        budget_cents: input.budget_cents.unwrap_or_default(),
        status: status.as_str().into(),
        created_by: Some(user.id),
        version: 1,
        created_at: now,
        updated_at: now,
        closed_at: is_closed(status).then_some(now),
    };
    let view = state
        .db
        .write_grouped(move |conn| {
            if customers::find_full(conn, customer_id)?.is_none() {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "customer_id",
                    "unknown_customer",
                    "must be the id of an existing customer",
                )]));
            }
            // Refuses an archived card too.
            writable_customer(conn, &user, customer_id)?;
            let stored = db::tiers::of(conn, &[customer_id])?.pop();
            let tier = stored_tier(stored.as_ref().map(|(_, t)| t.as_str()));
            if !eligible(tier) {
                return Err(ApiError::Conflict(format!(
                    "customer {customer_id} is in tier {tier}; account plans are for key customers (important or secondary)"
                )));
            }
            let saved = plans::insert(conn, &row)?;
            plan_view(conn, saved)
        })
        .await?;
    Ok(respond(StatusCode::CREATED, view))
}

/// Read a plan with its actions.
#[utoipa::path(
    tag = "account-plans",
    params(("id" = i64, Path, description = "Plan id")),
    responses((status = 200, body = PlanView, headers(("ETag" = String))))
)]
#[get("/account-plans/{id}")]
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
            // Not a lookup: a plan brings up to 100 actions, more than the
            // lookup lane's small reads. One snapshot: on PostgreSQL an
            // action written between the reads put a newer action list
            // beside the plan's older version and ETag (an outside review).
            db::snapshot(conn, |conn| {
                let row = find_plan(conn, id)?;
                plan_view(conn, row)
            })
        })
        .await?;
    Ok(respond(StatusCode::OK, view))
}

/// Change a plan (objective, period, budget, status); `period_end` stays on
/// or after `period_start`. Any status may follow any other, but a completed
/// or cancelled plan is closed: a body that changes more than its status is
/// a 409 unless it also reopens the plan (`draft` or `active`).
#[utoipa::path(
    tag = "account-plans",
    params(("id" = i64, Path, description = "Plan id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if it is no longer at that version")),
    request_body = PlanPatch,
    responses(
        (status = 200, body = PlanView, headers(("ETag" = String))),
        (status = 409, description = "The card is archived (`customer_id`, code `archived`); or the plan is completed or cancelled and the body changes more than its status without reopening it (`status`, code `closed`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[patch("/account-plans/{id}")]
pub async fn patch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<PlanPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let expected = precondition::if_match(&req)?;
    let input = body.0;
    let nulls = super::validation::nulls(&[
        ("objective", matches!(input.objective, Some(None))),
        ("period_start", matches!(input.period_start, Some(None))),
        ("period_end", matches!(input.period_end, Some(None))),
        ("budget_cents", matches!(input.budget_cents, Some(None))),
        ("status", matches!(input.status, Some(None))),
    ]);
    // Both dates sent: with another rule of the body broken, their rule is
    // named with it (every bad field at once). Alone, the period is checked
    // in the write against the stored plan, and only when it moves: a plan
    // stored before the ten-year rule takes a form that resends its dates.
    // One sent: it is checked against the stored other one, and named.
    let (start, end) = (input.period_start.flatten(), input.period_end.flatten());
    let mut extra = nulls;
    if let (Some(start), Some(end)) = (start, end) {
        // Only an end before the start, which no stored plan has: the
        // ten-year rule needs the stored period to know it moved.
        if end < start && check(&input, extra.clone()).is_err() {
            extra.extend(period_errors(start, end, "period_end"));
        }
    }
    check(&input, extra)?;
    let blamed = if start.is_some() && end.is_none() {
        "period_start"
    } else {
        "period_end"
    };
    let status = input
        .status
        .as_ref()
        .and_then(Option::as_ref)
        .map(|s| s.get("status"))
        .transpose()?;
    let view = state
        .db
        .write_grouped(move |conn| {
            let (mut row, customer) = patchable_plan(conn, &user, id)?;
            let stored = row.clone();
            let before = row.version;
            if let Some(o) = input.objective.flatten() {
                row.objective = o.trim().to_string();
            }
            if let Some(d) = input.period_start.flatten() {
                row.period_start = d;
            }
            if let Some(d) = input.period_end.flatten() {
                row.period_end = d;
            }
            if let Some(b) = input.budget_cents.flatten() {
                row.budget_cents = b;
            }
            if let Some(s) = status {
                row.status = s.as_str().into();
            }
            // Only a period the body moves: a plan stored before the
            // ten-year rule keeps taking its other changes (a status-only
            // form could not close it, refused on a date it never sent).
            let moved =
                (row.period_start, row.period_end) != (stored.period_start, stored.period_end);
            // A closed plan takes its reopening (with other changes in the
            // same body) or a move between the two closed statuses, nothing
            // else: its signed-off figures stay put.
            let closed = |r: &PlanRow| is_closed(from_db(&r.status, AccountPlanStatus::Draft));
            let mut others = row.clone();
            others.status.clone_from(&stored.status);
            if others != stored && closed(&row) {
                refuse_archived(&customer)?;
                refuse_closed(&stored, "status")?;
            }
            // The period against the stored plan after the 409s (an archived
            // card's, a closed plan's), before If-Match's 412: its 422, fixed
            // and resent, would only have met the 409.
            if moved {
                refuse_archived(&customer)?;
            }
            let errors = period_errors(row.period_start, row.period_end, blamed);
            if moved && !errors.is_empty() {
                return Err(ApiError::Validation(errors));
            }
            if !record_patch_writes(&customer, row != stored, expected.as_deref(), before)? {
                return plan_view(conn, row);
            }
            row.version = before + 1;
            row.updated_at = db::now();
            // Closed when it leaves draft or active; a move between the two
            // closed statuses keeps the day it closed; reopened, none.
            row.closed_at = match (closed(&stored), closed(&row)) {
                (false, true) => Some(row.updated_at),
                (true, true) => stored.closed_at.or(Some(row.updated_at)),
                (_, false) => None,
            };
            precondition::require_saved(plans::save(conn, &row, before)?, before)?;
            plan_view(conn, row)
        })
        .await?;
    Ok(respond(StatusCode::OK, view))
}

/// Delete a plan and its actions. A completed or cancelled plan is kept as
/// signed off: reopen it first (409 otherwise).
#[utoipa::path(
    tag = "account-plans",
    params(("id" = i64, Path, description = "Plan id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if it is no longer at that version")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The card is archived (`customer_id`, code `archived`); or the plan is completed or cancelled (`status`, code `closed`): reopen it first", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[delete("/account-plans/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i64>,
    _query: NoQuery,
    _body: NoBody,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let expected = precondition::if_match(&req)?;
    state
        .db
        .write_grouped(move |conn| {
            let plan = writable_plan(conn, &user, id)?;
            refuse_closed(&plan, "status")?;
            precondition::check(expected.as_deref(), plan.version)?;
            plans::delete(conn, &plan)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
