//! `/analytics/cpr` and `/analytics/pareto`.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dates;
use super::extract::{NoQuery, QueryParams};
use crate::auth::AuthUser;
use crate::db::schema::customers;
use crate::db::{self, tiers, DbConn};
use crate::domain::codes::{from_db, Code, CprStage};
use crate::domain::cpr_moves::Moves;
use crate::domain::statistics::median;
use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// Start of the period (inclusive); default: 12 months before `to`.
    #[serde(default, deserialize_with = "dates::optional")]
    pub from: Option<DateTime<Utc>>,
    /// End of the period (exclusive); default: now.
    #[serde(default, deserialize_with = "dates::optional")]
    pub to: Option<DateTime<Utc>>,
    /// Only customers owned (now) by this user: a rep's cycle (the funnel
    /// and the sales report take it too; a QA review found none here).
    pub owner_id: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StageFigures {
    pub stage: CprStage,
    /// Active customers now in the stage.
    pub customers: i64,
    /// Their revenue in the CPR window, each customer's in its currency,
    /// added as recorded whatever the currency (no conversion).
    pub revenue_cents: i64,
    /// Median days spent in the stage, over stays that ended in the period.
    pub median_days_in_stage: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Transition {
    pub from: CprStage,
    pub to: CprStage,
    pub count: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CprAnalytics {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub stages: Vec<StageFigures>,
    /// Stage changes in the period, by from → to.
    pub transitions: Vec<Transition>,
}

fn cpr_analytics(
    conn: &mut DbConn,
    from: NaiveDateTime,
    to: NaiveDateTime,
    owner: Option<i64>,
) -> Result<CprAnalytics, ApiError> {
    let mut per_stage = customers::table
        .filter(customers::archived_at.is_null())
        .group_by(customers::cpr_stage)
        .select((
            customers::cpr_stage,
            diesel::dsl::count_star(),
            diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>(
                &crate::db::money_sum("cpr_revenue_window_cents"),
            ),
        ))
        .into_boxed();
    if let Some(owner) = owner {
        per_stage = per_stage.filter(customers::owner_id.eq(owner));
    }
    let per_stage: Vec<(String, i64, Option<i64>)> = per_stage.load(conn)?;
    // Each active customer's stage changes before `to`, in order, with the
    // card's creation (where its first stay starts), streamed one customer
    // at a time. Archived cards leave the moves and stays as they leave the
    // stage counts: one population per report.
    let mut moves = Moves::default();
    db::analytics::cpr_changes(conn, from, to, owner, |changes| moves.add(changes, from))?;
    let Moves {
        transitions,
        mut stays,
    } = moves;
    let stages = CprStage::ALL
        .iter()
        .map(|stage| {
            let row = per_stage.iter().find(|(s, _, _)| s == stage.as_code());
            StageFigures {
                stage: *stage,
                customers: row.map_or(0, |r| r.1),
                revenue_cents: row.and_then(|r| r.2).unwrap_or(0),
                median_days_in_stage: median(stays.remove(stage.as_code()).unwrap_or_default()),
            }
        })
        .collect();
    Ok(CprAnalytics {
        from: from.and_utc(),
        to: to.and_utc(),
        stages,
        transitions: transitions
            .into_iter()
            .map(|((from, to), count)| Transition {
                from: from_db(&from, CprStage::NotStarted),
                to: from_db(&to, CprStage::NotStarted),
                count,
            })
            .collect(),
    })
}

/// Customers and revenue per CPR stage, the stage changes in a period, and
/// the median days customers spend in each stage; of one owner's cards
/// (now) with `owner_id`. A stage change is dated
/// when Patron computed it (the write or recompute), not at the purchase
/// behind it: backdated purchases (an ERP's first load) move their cards at
/// the load's instant.
#[utoipa::path(tag = "analytics", params(PeriodQuery), responses((status = 200, body = CprAnalytics)))]
#[get("/analytics/cpr")]
pub async fn cpr_report(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: QueryParams<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = super::report_period::resolve(query.0.from, query.0.to)?;
    let owner = query.0.owner_id;
    Ok(HttpResponse::Ok().json(
        state
            .db
            // One snapshot: a stage change committed between the counts
            // and the moves made them disagree (a customer counted in the
            // stage it had just left).
            .report(move |conn| db::snapshot(conn, |conn| cpr_analytics(conn, from, to, owner)))
            .await?,
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DecileRow {
    /// 1 = the most profitable tenth of customers.
    pub decile: i64,
    pub customers: i64,
    pub profit_cents: i64,
    pub profit_share: Option<f64>,
    /// Share of profit from this decile and all above it.
    pub cumulative_share: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ParetoView {
    /// Active customers with a positive profit in the window, the ones cut
    /// into deciles (leads and customers without profit are left out: they
    /// would fill the bottom deciles with zeros and the top fifth with
    /// every buyer).
    pub customers: i64,
    pub total_profit_cents: i64,
    /// Share of profit from the top 20% of those customers, rounded up to a
    /// whole customer (the top 3 of 13), as `GET /tiers` gives it. Not the
    /// `cumulative_share` of decile 2 whenever the count is not a multiple
    /// of ten: the deciles are cut as SQL's `NTILE(10)` (the first
    /// count-mod-10 deciles hold one customer more: 2 + 2 of 13).
    pub top20_share: Option<f64>,
    /// Up to ten rows, one per non-empty tenth, most profitable first, cut
    /// as SQL's `NTILE(10)` (the first count-mod-10 deciles hold one
    /// customer more): with fewer than ten customers each is one customer;
    /// none, empty.
    #[schema(max_items = 10)]
    pub deciles: Vec<DecileRow>,
    /// The window the tiers were last ranked over, whose profit this is (a
    /// new window in `/settings/tiers` applies from the next recompute), as
    /// in `GET /tiers`.
    pub window_months: u32,
}

/// The Pareto view of profit: profit by decile of the customers who made a
/// profit, and the top-20% share, over the window of the last tier
/// recompute (`window_months`; a new window in `/settings/tiers` applies
/// from the next recompute). With 12 months, the cards' live 12-month
/// profit; with another window, the profit that recompute ranked by.
#[utoipa::path(tag = "analytics", responses((status = 200, body = ParetoView)))]
#[get("/analytics/pareto")]
pub async fn pareto_report(
    state: web::Data<AppState>,
    _user: AuthUser,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .db
        .report(|conn| {
            let (window, ranked) = tiers::pareto(conn)?;
            let customers: i64 = ranked.deciles.iter().map(|d| d.customers).sum();
            let total = ranked
                .deciles
                .iter()
                .fold(0_i64, |sum, d| sum.saturating_add(d.profit_cents));
            let share = |p: i64| (total > 0).then(|| p as f64 / total as f64);
            let mut running: i64 = 0;
            let rows = ranked
                .deciles
                .into_iter()
                .map(|d| {
                    running = running.saturating_add(d.profit_cents);
                    DecileRow {
                        decile: d.decile,
                        customers: d.customers,
                        profit_cents: d.profit_cents,
                        profit_share: share(d.profit_cents),
                        cumulative_share: share(running),
                    }
                })
                .collect();
            Ok(ParetoView {
                customers,
                total_profit_cents: total,
                top20_share: share(ranked.top_fifth_cents),
                deciles: rows,
                window_months: window.window_months,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
