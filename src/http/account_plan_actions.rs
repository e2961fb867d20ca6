//! `/account-plans/{id}/actions`: the measures of a plan (具体措施), each with
//! an owner, a due date, a status and a cost.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::account_plans::{find_plan, locked_plan, refuse_closed, writable_plan};
use super::common::{clean, versioned};
use super::customer_input::nullable;
use super::customers::refuse_archived;
use super::dates;
use super::extract::{JsonBody, NoQuery};
use super::no_body::NoBody;
use super::precondition;
use super::validation::{calendar_date, check, known_code, Input};
use super::views::utc;
use crate::auth::AuthUser;
use crate::db::account_plans::{self as plans, ActionRow};
use crate::db::{self, DbConn};
use crate::domain::account_plans::MAX_ACTIONS;
use crate::domain::codes::{from_db, AccountPlanActionType, ActionStatus};
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

/// One action of a plan.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActionView {
    pub id: i64,
    pub plan_id: i64,
    /// The measure (see `/reference/account-plan-actions`).
    #[serde(rename = "type")]
    pub kind: AccountPlanActionType,
    pub description: Option<String>,
    /// The user responsible.
    pub owner_id: i64,
    pub due_date: NaiveDate,
    pub status: ActionStatus,
    /// What the action costs, in minor units of its plan's `currency` (the
    /// customer's; `GET /account-plans/{id}`).
    pub cost_cents: i64,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ActionRow> for ActionView {
    fn from(r: ActionRow) -> Self {
        ActionView {
            id: r.id,
            plan_id: r.plan_id,
            kind: from_db(&r.kind, AccountPlanActionType::ExecutiveVisit),
            description: r.description,
            owner_id: r.owner_id,
            due_date: r.due_date,
            status: from_db(&r.status, ActionStatus::Planned),
            cost_cents: r.cost_cents,
            version: r.version,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionList {
    /// By due date, then id.
    pub items: Vec<ActionView>,
    /// Always null: the list comes whole (the shape of every list, whose
    /// last page has a null cursor).
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "executive_visit", "description": "Our GM visits their purchasing director",
    "owner_id": 1, "due_date": "2026-02-15", "cost_cents": 300000}))]
pub struct ActionCreate {
    #[serde(rename = "type")]
    #[validate(required, custom(function = "known_code"))]
    #[schema(required = true, value_type = AccountPlanActionType)]
    pub kind: Option<Input<AccountPlanActionType>>,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// An active user; default: you.
    pub owner_id: Option<i64>,
    /// From 1900-01-01.
    #[serde(default, deserialize_with = "dates::optional")]
    #[validate(required, custom(function = "calendar_date"))]
    #[schema(required = true, value_type = NaiveDate, pattern = "^(19|[2-9][0-9])")]
    pub due_date: Option<NaiveDate>,
    /// Default `planned`.
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<ActionStatus>)]
    pub status: Option<Input<ActionStatus>>,
    /// At least 0 (default), at most 10^14 (a trillion in currency units,
    /// as for transactions: a plan's sums cannot overflow).
    #[validate(range(min = 0, max = 100_000_000_000_000i64))]
    #[schema(minimum = 0, maximum = 100_000_000_000_000.0)]
    pub cost_cents: Option<i64>,
}

/// Only the fields sent change.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"description": "Quarterly review with the purchasing director"}))]
pub struct ActionPatch {
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = AccountPlanActionType, required = false)]
    pub kind: Option<Option<Input<AccountPlanActionType>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 2000))]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = i64, required = false)]
    pub owner_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "dates::nullable")]
    #[validate(custom(function = "calendar_date"))]
    #[schema(value_type = NaiveDate, required = false, pattern = "^(19|[2-9][0-9])")]
    pub due_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = ActionStatus, required = false)]
    pub status: Option<Option<Input<ActionStatus>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(range(min = 0, max = 100_000_000_000_000i64))]
    #[schema(value_type = i64, required = false, minimum = 0, maximum = 100_000_000_000_000.0)]
    pub cost_cents: Option<Option<i64>>,
}

/// `validation::check`, naming `kind` by its wire name `type` (validator
/// reports the Rust field name, not serde's rename).
fn check_input<T: Validate>(input: &T, extra: Vec<FieldError>) -> Result<(), ApiError> {
    match check(input, extra) {
        Err(ApiError::Validation(mut errors)) => {
            for e in &mut errors {
                if e.field == "kind" {
                    e.field = "type".into();
                }
            }
            Err(ApiError::Validation(errors))
        }
        other => other,
    }
}

fn find_action(conn: &mut DbConn, plan_id: i64, id: i64) -> Result<ActionRow, ApiError> {
    plans::find_action(conn, plan_id, id)?
        .ok_or_else(|| ApiError::NotFound(format!("account plan {plan_id} has no action {id}")))
}

fn respond(status: StatusCode, row: ActionRow) -> HttpResponse {
    let loc = format!("/api/v1/account-plans/{}/actions/{}", row.plan_id, row.id);
    versioned(status, row.version, Some(loc), &ActionView::from(row))
}

/// A plan's actions, whole: a plan holds at most 100, so the list is not
/// paged. `next_cursor` is always null (the shape of every list's last
/// page), and `limit` and `cursor` are refused (400, `unknown_field`).
#[utoipa::path(tag = "account-plans", params(("id" = i64, Path, description = "Plan id")), responses((status = 200, body = ActionList)))]
#[get("/account-plans/{id}/actions")]
pub async fn list(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let rows = state
        .db
        .run(move |conn| {
            // One snapshot: a plan deleted between the two reads was a 200
            // with no actions (PostgreSQL), not its 404.
            db::snapshot(conn, |conn| {
                find_plan(conn, id)?;
                Ok(plans::actions_of(conn, id)?)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(ActionList {
        items: rows.into_iter().map(ActionView::from).collect(),
        next_cursor: None,
    }))
}

/// Read one action of a plan (where a created action's `Location` points).
#[utoipa::path(
    tag = "account-plans",
    params(("id" = i64, Path, description = "Plan id"), ("action_id" = i64, Path, description = "Action id")),
    responses((status = 200, body = ActionView, headers(("ETag" = String))))
)]
#[get("/account-plans/{id}/actions/{action_id}")]
pub async fn get(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<(i64, i64)>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let (plan_id, id) = path.into_inner();
    let row = state
        .db
        .lookup(move |conn| find_action(conn, plan_id, id))
        .await?;
    Ok(respond(StatusCode::OK, row))
}

/// Add an action to a plan (owner: an active user, default you). A plan
/// holds at most 100 actions: the 101st is a 422 naming `actions` (code
/// `length`); delete one first.
#[utoipa::path(
    tag = "account-plans",
    params(("id" = i64, Path, description = "Plan id")),
    request_body = ActionCreate,
    responses(
        (status = 201, body = ActionView, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "The card is archived (`customer_id`, code `archived`); or the plan is completed or cancelled (`plan_id`, code `closed`): reopen it first", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/account-plans/{id}/actions")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<ActionCreate>,
) -> Result<HttpResponse, ApiError> {
    let plan_id = path.into_inner();
    let input = body.0;
    check_input(&input, Vec::new())?;
    let kind = input.kind.as_ref().map(|k| k.get("type")).transpose()?;
    let status = input.status.as_ref().map(|s| s.get("status")).transpose()?;
    let now = db::now();
    let row = ActionRow {
        id: 0,
        plan_id,
        kind: kind
            .unwrap_or(AccountPlanActionType::ExecutiveVisit)
            .as_str()
            .into(),
        description: clean(input.description),
        owner_id: input.owner_id.unwrap_or(user.id),
        due_date: input.due_date.unwrap_or_default(),
        status: status.unwrap_or(ActionStatus::Planned).as_str().into(),
        cost_cents: input.cost_cents.unwrap_or(0),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let saved = state
        .db
        .write_grouped(move |conn| {
            let plan = writable_plan(conn, &user, plan_id)?;
            refuse_closed(&plan, "plan_id")?;
            // Counted under the card's lock (`writable_plan`), which every
            // write of the plan's actions takes: two adds cannot both pass.
            if plans::action_count(conn, plan_id)? >= MAX_ACTIONS {
                return Err(ApiError::invalid(
                    "actions",
                    "length",
                    &format!("an account plan holds at most {MAX_ACTIONS} actions"),
                ));
            }
            super::users::require_active(conn, &user, row.owner_id, "owner_id")?;
            plans::touch(conn, &plan, row.created_at)?;
            Ok(plans::insert_action(conn, &row)?)
        })
        .await?;
    Ok(respond(StatusCode::CREATED, saved))
}

/// Change an action (e.g. mark it `done` with its actual cost). Those who
/// may change the customer change any field; the action's owner, on a card
/// it does not own, records its execution: `status`, `cost_cents` and
/// `description`. A completed or cancelled plan's actions take no change
/// (409) until the plan is reopened.
#[utoipa::path(
    tag = "account-plans",
    params(("id" = i64, Path, description = "Plan id"), ("action_id" = i64, Path, description = "Action id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if it is no longer at that version")),
    request_body = ActionPatch,
    responses(
        (status = 200, body = ActionView, headers(("ETag" = String))),
        (status = 403, description = "A viewer; or a sales user on a card owned by someone else, unless it is the action's owner changing only its `status` (not to or from `cancelled`), `cost_cents` and `description`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The card is archived (`customer_id`, code `archived`); or the plan is completed or cancelled (`plan_id`, code `closed`): reopen it first", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[patch("/account-plans/{id}/actions/{action_id}")]
pub async fn patch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    _query: NoQuery,
    body: JsonBody<ActionPatch>,
) -> Result<HttpResponse, ApiError> {
    let (plan_id, id) = path.into_inner();
    let expected = precondition::if_match(&req)?;
    let input = body.0;
    let nulls = super::validation::nulls(&[
        ("type", matches!(input.kind, Some(None))),
        ("owner_id", matches!(input.owner_id, Some(None))),
        ("due_date", matches!(input.due_date, Some(None))),
        ("status", matches!(input.status, Some(None))),
        ("cost_cents", matches!(input.cost_cents, Some(None))),
    ]);
    check_input(&input, nulls)?;
    let kind = input
        .kind
        .as_ref()
        .and_then(Option::as_ref)
        .map(|k| k.get("type"))
        .transpose()?;
    let status = input
        .status
        .as_ref()
        .and_then(Option::as_ref)
        .map(|s| s.get("status"))
        .transpose()?;
    let saved = state
        .db
        .write_grouped(move |conn| {
            let (plan, customer) = locked_plan(conn, plan_id)?;
            let mut row = find_action(conn, plan_id, id)?;
            if user.require_action_write(customer.owner_id, row.owner_id)? {
                owner_may_change(&input, &row, kind, status)?;
            }
            let stored = row.clone();
            let before = row.version;
            if let Some(k) = kind {
                row.kind = k.as_str().into();
            }
            if let Some(d) = input.description {
                row.description = clean(d);
            }
            // Re-sending the stored owner is no change, even one since
            // deactivated: a form that sends the whole action could not close
            // the actions of a rep who has left.
            let new_owner = input.owner_id.flatten().filter(|o| *o != row.owner_id);
            if let Some(o) = new_owner {
                row.owner_id = o;
            }
            if let Some(d) = input.due_date.flatten() {
                row.due_date = d;
            }
            if let Some(s) = status {
                row.status = s.as_str().into();
            }
            if let Some(c) = input.cost_cents.flatten() {
                row.cost_cents = c;
            }
            if row != stored {
                refuse_archived(&customer)?;
                refuse_closed(&plan, "plan_id")?;
            }
            // After the 409s: a 422 on the owner, fixed and resent, only met
            // the archived card's or the closed plan's 409.
            if let Some(o) = new_owner {
                super::users::require_active(conn, &user, o, "owner_id")?;
            }
            // After the body's checks (the owner's too). Unchanged: its plan
            // gets no new version either.
            if !super::customers::record_patch_writes(
                &customer,
                row != stored,
                expected.as_deref(),
                before,
            )? {
                return Ok(row);
            }
            row.version = before + 1;
            row.updated_at = db::now();
            precondition::require_saved(plans::save_action(conn, &row, before)?, before)?;
            plans::touch(conn, &plan, row.updated_at)?;
            Ok(row)
        })
        .await?;
    Ok(respond(StatusCode::OK, saved))
}

/// What an action's owner who may not write its card may change: the
/// record of its execution. Its type, owner and due date are the plan's, for
/// the card's writers; sending them unchanged is no change. So is cancelling
/// it or taking it out of `cancelled`: a cancelled action leaves every
/// figure of the evaluation, as a deleted one does, and its owner could
/// have taken its own overdue work out of the execution rate (review).
fn owner_may_change(
    input: &ActionPatch,
    row: &ActionRow,
    kind: Option<AccountPlanActionType>,
    status: Option<ActionStatus>,
) -> Result<(), ApiError> {
    let cancelled = |s: ActionStatus| s == ActionStatus::Cancelled;
    let stored = from_db(&row.status, ActionStatus::Planned);
    let moved = kind.is_some_and(|k| k.as_str() != row.kind)
        || input.owner_id.flatten().is_some_and(|o| o != row.owner_id)
        || input.due_date.flatten().is_some_and(|d| d != row.due_date)
        || status.is_some_and(|s| cancelled(s) != cancelled(stored));
    if moved {
        return Err(ApiError::Forbidden(
            "as this action's owner you may change its status (but not to or from cancelled), \
             cost_cents and description; its type, owner_id and due_date, and cancelling it, \
             are for those who may change the customer"
                .into(),
        ));
    }
    Ok(())
}

/// Delete an action.
#[utoipa::path(
    tag = "account-plans",
    params(("id" = i64, Path, description = "Plan id"), ("action_id" = i64, Path, description = "Action id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if it is no longer at that version")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The card is archived (`customer_id`, code `archived`); or the plan is completed or cancelled (`plan_id`, code `closed`): reopen it first", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[delete("/account-plans/{id}/actions/{action_id}")]
pub async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    _query: NoQuery,
    _body: NoBody,
) -> Result<HttpResponse, ApiError> {
    let (plan_id, id) = path.into_inner();
    let expected = precondition::if_match(&req)?;
    state
        .db
        .write_grouped(move |conn| {
            let plan = writable_plan(conn, &user, plan_id)?;
            let found = find_action(conn, plan_id, id)?;
            refuse_closed(&plan, "plan_id")?;
            precondition::check(expected.as_deref(), found.version)?;
            plans::delete_action(conn, id)?;
            plans::touch(conn, &plan, db::now())?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
