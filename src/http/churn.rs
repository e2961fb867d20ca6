//! `/customers/{id}/churn` and `/customers/{id}/reactivate`: mark a customer
//! lost with a reason (客户流失) and win it back; every churn is kept as a
//! record and as history events, so the timeline shows both.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::common::clean;
use super::customers::{find_customer, writable_customer};
use super::extract::{JsonBody, NoQuery};
use super::validation::{check, known_code, Input};
use super::views::utc;
use crate::auth::AuthUser;
use crate::db::churn::{self as churn_db, ChurnRecordRow};
use crate::db::events::{self, NewEvent};
use crate::db::{self, loyalty, stats};
use crate::domain::codes::{from_db, ChurnReason};
use crate::error::ApiError;
use crate::startup::AppState;

/// One churn of a customer and, once won back, its reactivation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChurnRecordView {
    pub id: i64,
    pub customer_id: i64,
    pub reason: ChurnReason,
    pub note: Option<String>,
    pub churned_at: DateTime<Utc>,
    /// The user who recorded the churn.
    pub churned_by: Option<i64>,
    /// Lost revenue: the customer's revenue in the 12 months before the churn.
    pub lost_revenue_cents: i64,
    /// The customer's currency (ISO 4217): the unit of `lost_revenue_cents`.
    #[schema(example = "CNY")]
    pub currency: String,
    /// Set when the customer was won back.
    pub reactivated_at: Option<DateTime<Utc>>,
    pub reactivated_by: Option<i64>,
    pub reactivation_note: Option<String>,
    /// The purchase whose recording won the customer back; null for a
    /// manual reactivation. If that purchase is deleted or corrected (to 0,
    /// or to before the churn) and no purchase after the churn is left, the
    /// churn is open again.
    pub reactivated_by_transaction_id: Option<i64>,
    /// The card's owner when the churn was recorded: the owner whose churn
    /// figures (`/analytics/churn?owner_id=`) count it, also after the card
    /// is handed over. Null only for a churn recorded before it was kept
    /// (those were given the card's owner at the upgrade).
    pub owner_id: Option<i64>,
}

impl ChurnRecordView {
    /// The record of a card whose currency is `currency`.
    fn new(r: ChurnRecordRow, currency: String) -> Self {
        ChurnRecordView {
            id: r.id,
            customer_id: r.customer_id,
            reason: from_db(&r.reason, ChurnReason::Natural),
            note: r.note,
            churned_at: utc(r.churned_at),
            churned_by: r.churned_by,
            lost_revenue_cents: r.lost_revenue_cents,
            currency,
            reactivated_at: r.reactivated_at.map(utc),
            reactivated_by: r.reactivated_by,
            reactivation_note: r.reactivation_note,
            owner_id: r.owner_id,
            reactivated_by_transaction_id: r.reactivated_by_transaction_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChurnHistory {
    /// Newest first; at most one is open (not reactivated).
    pub items: Vec<ChurnRecordView>,
    /// Always null: the list comes whole (the shape of every list, whose
    /// last page has a null cursor).
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "competition", "note": "Moved to a rival's cheaper herbal range"}))]
pub struct ChurnCreate {
    /// Why the customer left (see `/reference/churn-reasons`).
    #[validate(required, custom(function = "known_code"))]
    #[schema(required = true, value_type = ChurnReason)]
    pub reason: Option<Input<ChurnReason>>,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "Won back with a loyalty rebate after an executive visit"}))]
pub struct ReactivateBody {
    /// How the customer was won back.
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// Mark the customer churned with a reason (sales: own customers only).
/// Records the churn with the customer's revenue in the 12 months before it
/// (the lost revenue), sets `churned_at`/`churn_reason` on the card and adds
/// a `churned` event to the history and timeline. 409 if already churned.
///
/// Unconditional: `If-Match` is not read (a churn sets only its own fields,
/// whatever else changed on the card; a second one is the 409).
#[utoipa::path(
    tag = "churn",
    params(("id" = i64, Path, description = "Customer id")),
    request_body = ChurnCreate,
    responses(
        (status = 201, body = ChurnRecordView, headers(("Location" = String, description = "The customer's churn history"))),
        (status = 409, description = "The customer is already churned (no `errors`)", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/customers/{id}/churn")]
pub async fn churn(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<ChurnCreate>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let input = body.0;
    check(&input, Vec::new())?;
    let reason = input
        .reason
        .as_ref()
        .map(|r| r.get("reason"))
        .transpose()?
        .unwrap_or(ChurnReason::Natural);
    let note = clean(input.note);
    let record = state
        .db
        .write_grouped(move |conn| {
            let card = writable_customer(conn, &user, customer_id)?;
            if churn_db::open_record(conn, customer_id)?.is_some() {
                return Err(ApiError::Conflict(format!(
                    "customer {customer_id} is already churned; reactivate it first"
                )));
            }
            let now = db::now();
            let lost = churn_db::revenue_between(conn, customer_id, stats::window_start(now), now)?;
            let row = churn_db::churn(
                conn,
                customer_id,
                reason.as_str(),
                note.as_deref(),
                user.id,
                lost,
                now,
            )?;
            events::insert(
                conn,
                &NewEvent {
                    customer_id,
                    kind: churn_db::CHURNED,
                    from_value: None,
                    to_value: Some(reason.as_str()),
                    subject_id: Some(row.id),
                    reason: note.as_deref(),
                    user_id: Some(user.id),
                    at: now,
                },
            )?;
            // A lost customer is no repeat buyer (`domain::loyalty`).
            loyalty::refresh_current(conn, customer_id, now)?;
            Ok(ChurnRecordView::new(row, card.currency))
        })
        .await?;
    let loc = format!("/api/v1/customers/{customer_id}/churn");
    Ok(HttpResponse::build(StatusCode::CREATED)
        .insert_header(("Location", loc))
        .json(record))
}

/// Win the customer back (sales: own customers only): closes the open churn
/// record, clears `churned_at`/`churn_reason` on the card and adds a
/// `reactivated` event. 409 if the customer is not churned. A purchase
/// dated after the churn does the same by itself (note `purchase on <date>`).
///
/// Unconditional: `If-Match` is not read (a win-back clears only the churn's
/// fields, whatever else changed on the card; a second one is the 409).
#[utoipa::path(
    tag = "churn",
    params(("id" = i64, Path, description = "Customer id")),
    request_body = ReactivateBody,
    responses(
        (status = 200, body = ChurnRecordView),
        (status = 409, description = "The customer is not churned (no `errors`)", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/customers/{id}/reactivate")]
pub async fn reactivate(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<ReactivateBody>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let input = body.0;
    check(&input, Vec::new())?;
    let note = clean(input.note);
    let record = state
        .db
        .write_grouped(move |conn| {
            let card = writable_customer(conn, &user, customer_id)?;
            let now = db::now();
            let record =
                churn_db::win_back(conn, customer_id, note.as_deref(), None, user.id, now)?
                    .ok_or_else(|| {
                        ApiError::Conflict(format!("customer {customer_id} is not churned"))
                    })?;
            // Every figure as of now, stamped: see `survey_responses::record`.
            stats::refresh_card(conn, customer_id, now)?;
            Ok(ChurnRecordView::new(record, card.currency))
        })
        .await?;
    Ok(HttpResponse::Ok().json(record))
}

/// The customer's churns and win-backs, newest first, whole: one record per
/// churn (a handful per customer), so the list is not paged. `next_cursor`
/// is always null (the shape of every list's last page), and `limit` and
/// `cursor` are refused (400, `unknown_field`).
#[utoipa::path(
    tag = "churn",
    params(("id" = i64, Path, description = "Customer id")),
    responses((status = 200, body = ChurnHistory))
)]
#[get("/customers/{id}/churn")]
pub async fn history(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let items = state
        .db
        .run(move |conn| {
            let card = find_customer(conn, customer_id)?;
            let rows = churn_db::history(conn, customer_id)?;
            Ok(rows
                .into_iter()
                .map(|r| ChurnRecordView::new(r, card.currency.clone()))
                .collect())
        })
        .await?;
    Ok(HttpResponse::Ok().json(ChurnHistory {
        items,
        next_cursor: None,
    }))
}
