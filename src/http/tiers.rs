//! `/tiers`: the customer pyramid (客户分级) — counts and profit share per
//! tier — and `POST /tiers/recompute`.

use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::NoQuery;
use super::no_body::NoBody;
use crate::auth::AuthUser;
use crate::db::{self, settings, tiers};
use crate::domain;
use crate::domain::codes::{Role, Tier};
use crate::domain::tiers::TierSettings;
use crate::error::ApiError;
use crate::startup::AppState;

/// One level of the pyramid.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TierRow {
    pub tier: Tier,
    /// Active customers in the tier.
    pub customers: i64,
    /// Their positive profit in the tier window. With the default 12-month
    /// window this is the customers' current 12-month profit (kept up to
    /// date by every transaction); with another window, the profit the last
    /// recompute ranked them by. The tiers themselves are those of the last
    /// recompute.
    pub profit_cents: i64,
    /// Their share of all positive profit (0–1); null when there is no profit.
    pub profit_share: Option<f64>,
}

/// The pyramid of customer counts, the inverted pyramid of profit, and the
/// Pareto figure.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TiersView {
    /// From `important` down to `small`.
    pub tiers: Vec<TierRow>,
    /// Share of profit from the top 20% of the customers who made a profit,
    /// rounded up to a whole customer (the top 3 of 13; the texts cite
    /// 80/20); null without profit.
    pub pareto_top20_share: Option<f64>,
    /// Active customers with a positive profit in the window: the population
    /// the Pareto figure is taken of, and the one the cut-off percentages
    /// apply to (leads and customers without profit are `small` and outside
    /// it). With the default window this is the current count; the tiers
    /// are those the last recompute gave over the count it saw.
    #[schema(example = 1840)]
    pub profitable_customers: i64,
    /// The window the tiers were last ranked over, whose profit these are (a
    /// new window in `/settings/tiers` applies from the next recompute).
    pub window_months: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TiersRecomputed {
    /// Customers ranked: the active ones with a positive profit in the
    /// window, the count the cut-off percentages were taken of.
    pub customers: i64,
    /// Customers whose tier changed (each recorded in its history).
    pub changed: i64,
    pub pyramid: TiersView,
}

fn share(part: i64, total: i64) -> Option<f64> {
    (total > 0).then(|| part as f64 / total as f64)
}

/// The pyramid, its statements read from one snapshot
/// (`reports::snapshot`): a purchase committed between the totals and the
/// top fifth's sum made the Pareto figure exceed 1, and one between the
/// window's mark and the totals read a profit column beside tiers of
/// another recompute. Call it outside any transaction.
pub fn pyramid(conn: &mut db::DbConn) -> Result<TiersView, ApiError> {
    db::snapshot(conn, pyramid_now)
}

fn pyramid_now(conn: &mut db::DbConn) -> Result<TiersView, ApiError> {
    let ranked = tiers::ranked(conn)?;
    let col = tiers::profit_column(ranked.window_months);
    let totals = tiers::totals(conn, col)?;
    let profitable: i64 = totals.iter().map(|t| t.profitable).sum();
    let top_sum = tiers::top_profit(conn, col, domain::tiers::top_fifth(profitable))?;
    let total = totals
        .iter()
        .fold(0_i64, |sum, t| sum.saturating_add(t.profit_cents));
    let rows = Tier::ALL
        .iter()
        .map(|tier| {
            let t = totals.iter().find(|t| t.tier == tier.as_str());
            let profit = t.map_or(0, |t| t.profit_cents);
            TierRow {
                tier: *tier,
                customers: t.map_or(0, |t| t.customers),
                profit_cents: profit,
                profit_share: share(profit, total),
            }
        })
        .collect();
    Ok(TiersView {
        tiers: rows,
        pareto_top20_share: domain::tiers::pareto_top20_share(top_sum, total),
        profitable_customers: profitable,
        window_months: ranked.window_months,
    })
}

/// The customer pyramid as of the last recompute.
#[utoipa::path(tag = "tiers", responses((status = 200, body = TiersView)))]
#[get("/tiers")]
pub async fn get(
    state: web::Data<AppState>,
    _user: AuthUser,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.db.report(pyramid).await?))
}

/// Rank every active customer by profit in the window and store its tier
/// (admins and managers). The cut-off percentages are of the customers with
/// a positive profit in the window; everyone else is `small`. Ties are
/// broken by id; every change is recorded in the customer's history.
#[utoipa::path(tag = "tiers", responses((status = 200, body = TiersRecomputed)))]
#[post("/tiers/recompute")]
pub async fn recompute(
    state: web::Data<AppState>,
    user: AuthUser,
    _query: NoQuery,
    _body: NoBody,
) -> Result<HttpResponse, ApiError> {
    user.require_any(&[Role::Admin, Role::Manager])?;
    // Before any blocking thread or connection: see `settings::change_turn`.
    let turn = settings::change_turn().await;
    let result = state
        .db
        .run(move |conn| {
            let (s, _) = settings::get::<TierSettings>(conn, settings::TIERS)?;
            let now = db::now();
            // The 12-month window moved for the ranking, and the stages
            // that read the card's 12-month revenue brought along.
            db::cpr::follow_window(conn, now, &turn)?;
            // Records the window ranked over with its last tiers.
            let done = tiers::recompute(conn, &s, now)?;
            Ok(TiersRecomputed {
                customers: done.customers,
                changed: done.changed,
                pyramid: pyramid(conn)?,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}
