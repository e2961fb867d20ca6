//! `/customers/{id}/cpr`: where a customer stands in the CPR development
//! cycle, the strategy for that stage, and its history; pinning a stage by
//! hand; `POST /cpr/recompute`.

use actix_web::{delete, get, post, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::customers::{find_customer, writable_customer};
use super::extract::{JsonBody, NoQuery};
use super::no_body::NoBody;
use super::timeline::EventView;
use super::validation::{check, known_code, not_blank, Input};
use super::views::{utc, StrategyView};
use crate::auth::AuthUser;
use crate::db::events::EventRow;
use crate::db::schema::{customer_events, customers};
use crate::db::{self, cpr, settings, DbConn};
use crate::domain::codes::{from_db, CprStage, Role};
use crate::domain::cpr::{wallet_in_window, CprSettings};
use crate::domain::reference;
use crate::error::ApiError;
use crate::startup::AppState;
use diesel::prelude::*;

/// A customer's place in the CPR development cycle.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CprView {
    pub customer_id: i64,
    pub stage: CprStage,
    /// True when a manager pinned the stage by hand.
    pub pinned: bool,
    pub pin_reason: Option<String>,
    /// Our revenue ÷ the wallet for the window, capped at 1; null without a
    /// wallet size or with a wallet size of 0 (unknown).
    pub share_of_wallet: Option<f64>,
    /// Our revenue from the customer in the window.
    pub revenue_in_window_cents: i64,
    /// The customer's annual wallet (`wallet_size_cents` of the card).
    pub wallet_size_cents: Option<i64>,
    /// The wallet scaled to the window.
    pub wallet_in_window_cents: Option<i64>,
    /// The customer's currency (ISO 4217): the unit of every `_cents` figure here.
    #[schema(example = "CNY")]
    pub currency: String,
    /// The window, in months, that the revenue, share and stage were computed
    /// over: the CPR settings' `window_months` once the recompute after a
    /// change of it has reached this card; until then (a recompute under way,
    /// stopped, or failed: `PUT /settings/cpr`'s 503), the window before, so
    /// that the share is still the revenue ÷ the wallet for the window. The
    /// settings' window for a card with no figures yet, and for one whose
    /// figures were computed before the window was stored with them (an
    /// upgrade), until the next recompute, the hourly one's included.
    pub window_months: u32,
    /// When the current stage began.
    pub since: DateTime<Utc>,
    /// How to work a customer in this stage: S (sales), V (value) or B (brand/relationship) marketing.
    pub strategy: Option<StrategyView>,
    /// The stage changes, newest first: the latest 500 (all of them, paged:
    /// `GET /customers/{id}/history?kind=cpr_stage_changed`).
    pub history: Vec<EventView>,
}

/// Pin a stage by hand.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"stage": "retention", "reason": "Framework contract signed for three years"}))]
pub struct CprPin {
    #[validate(required, custom(function = "known_code"))]
    #[schema(required = true, value_type = CprStage)]
    pub stage: Option<Input<CprStage>>,
    #[validate(required, length(max = 500), custom(function = "not_blank"))]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 500, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub reason: Option<String>,
}

/// What a recompute did.
#[derive(Debug, Serialize, ToSchema)]
pub struct CprRecomputed {
    /// Stage changes made.
    pub changed: i64,
}

/// The card's stored CPR columns.
#[derive(Queryable)]
struct CprRow {
    stage: String,
    pinned: bool,
    reason: Option<String>,
    since: Option<chrono::NaiveDateTime>,
    share: Option<f64>,
    revenue: i64,
    /// The window `share` and `revenue` were computed over.
    computed_over: Option<i32>,
}

fn load(conn: &mut DbConn, id: i64) -> Result<CprView, ApiError> {
    let card = find_customer(conn, id)?;
    let (s, _) = settings::get::<CprSettings>(conn, settings::CPR)?;
    let row: CprRow = customers::table
        .find(id)
        .select((
            customers::cpr_stage,
            customers::cpr_pinned,
            customers::cpr_pin_reason,
            customers::cpr_since,
            customers::share_of_wallet,
            customers::cpr_revenue_window_cents,
            customers::cpr_window_months,
        ))
        .first(conn)?;
    // No window stored: no figures other than zero computed yet, which are
    // every window's, or figures from before the window was stored, whose
    // window is not known (the next recompute stores it).
    let window_months = row
        .computed_over
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or(s.window_months);
    let history: Vec<EventRow> = customer_events::table
        .filter(customer_events::customer_id.eq(id))
        .filter(customer_events::kind.eq(cpr::CPR_STAGE_CHANGED))
        .order((customer_events::at.desc(), customer_events::id.desc()))
        .limit(500)
        .load(conn)?;
    Ok(CprView {
        customer_id: id,
        stage: from_db(&row.stage, CprStage::NotStarted),
        pinned: row.pinned,
        pin_reason: row.reason,
        share_of_wallet: row.share,
        revenue_in_window_cents: row.revenue,
        wallet_size_cents: card.wallet_size_cents,
        wallet_in_window_cents: wallet_in_window(card.wallet_size_cents, window_months),
        currency: card.currency,
        window_months,
        since: utc(row.since.unwrap_or(card.created_at)),
        strategy: reference::cpr_strategy(&row.stage).map(StrategyView::from),
        history: history.into_iter().map(EventView::from).collect(),
    })
}

/// The customer's CPR stage, share of wallet, strategy and stage history.
#[utoipa::path(tag = "cpr", params(("id" = i64, Path, description = "Customer id")), responses((status = 200, body = CprView)))]
#[get("/customers/{id}/cpr")]
pub async fn get(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    // One snapshot: the card's wallet, its stored share and its history
    // read apart could each see another write (a review).
    let view = state
        .db
        .run(move |conn| db::snapshot(conn, |conn| load(conn, id)))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Pin the stage by hand (managers and admins), with a reason; it stays
/// until unpinned, whatever the transactions say.
///
/// Unconditional: a pin has no version, so `If-Match` is not read (the
/// last pin wins, and the stage history records each).
#[utoipa::path(
    tag = "cpr",
    params(("id" = i64, Path, description = "Customer id")),
    request_body = CprPin,
    responses((status = 200, body = CprView))
)]
#[put("/customers/{id}/cpr/pin")]
pub async fn pin(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<CprPin>,
) -> Result<HttpResponse, ApiError> {
    user.require_any(&[Role::Admin, Role::Manager])?;
    let id = path.into_inner();
    let input = body.0;
    check(&input, Vec::new())?;
    let stage = input
        .stage
        .as_ref()
        .map(|s| s.get("stage"))
        .transpose()?
        .unwrap_or(CprStage::NotStarted);
    let reason = input.reason.unwrap_or_default().trim().to_string();
    let view = state
        .db
        .write_grouped(move |conn| {
            writable_customer(conn, &user, id)?;
            let (s, _) = settings::get::<CprSettings>(conn, settings::CPR)?;
            cpr::set_pin(
                conn,
                id,
                Some((stage.as_str(), &reason)),
                user.id,
                &s,
                db::now(),
            )?;
            load(conn, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Unpin: the stage returns to the computed one.
///
/// Unconditional: a pin has no version, so `If-Match` is not read
/// (unpinning twice changes nothing).
#[utoipa::path(tag = "cpr", params(("id" = i64, Path, description = "Customer id")), responses((status = 200, body = CprView)))]
#[delete("/customers/{id}/cpr/pin")]
pub async fn unpin(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
    _body: NoBody,
) -> Result<HttpResponse, ApiError> {
    user.require_any(&[Role::Admin, Role::Manager])?;
    let id = path.into_inner();
    let view = state
        .db
        .write_grouped(move |conn| {
            writable_customer(conn, &user, id)?;
            let s = cpr::settings_kept(conn)?;
            let now = db::now();
            cpr::set_pin(conn, id, None, user.id, &s, now)?;
            // The unpin's stage is judged on the window as of now: the
            // card's 12-month figures and its loyalty type (judged on the
            // share) follow, or they stayed on the window of the last
            // refresh beside the new share until the hourly job (review).
            db::stats::refresh_card(conn, id, now)?;
            load(conn, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Recompute every customer's CPR stage now (admins and managers), with
/// the window figures it is judged on (a 12-month window moves the cards'
/// 12-month revenue and profit to now) and every customer's loyalty type.
/// The service also does this on its own as time moves the window.
#[utoipa::path(tag = "cpr", responses((status = 200, body = CprRecomputed)))]
#[post("/cpr/recompute")]
pub async fn recompute(
    state: web::Data<AppState>,
    user: AuthUser,
    _query: NoQuery,
    _body: NoBody,
) -> Result<HttpResponse, ApiError> {
    user.require_any(&[Role::Admin, Role::Manager])?;
    // Before any blocking thread or connection: see `settings::change_turn`.
    let turn = db::settings::change_turn().await;
    let changed = state
        .db
        .run(move |conn| cpr::refresh_stages(conn, db::now(), &turn))
        .await?;
    Ok(HttpResponse::Ok().json(CprRecomputed { changed }))
}
