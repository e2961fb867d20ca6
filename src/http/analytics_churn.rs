//! `/analytics/churn`: churn count and lost revenue by reason and period.

use std::collections::BTreeMap;

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dates;
use super::extract::QueryParams;
use super::report_period;
use crate::auth::AuthUser;
use crate::db::analytics::{self, Bucket};
use crate::domain::codes::{from_db, ChurnReason};
use crate::error::ApiError;
use crate::startup::AppState;

/// How to bucket a report in time.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodBucket {
    Month,
    Year,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChurnReportQuery {
    /// Start (inclusive); default: 12 months before `to`.
    #[serde(default, deserialize_with = "dates::optional")]
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive); default: now.
    #[serde(default, deserialize_with = "dates::optional")]
    pub to: Option<DateTime<Utc>>,
    /// `month` (default) or `year`, in UTC.
    #[param(inline)]
    pub period: Option<PeriodBucket>,
    /// Only the churns recorded while this user owned the card: a churn
    /// stays with the owner of that moment when the card is handed over
    /// later (archived cards included, as in the whole report).
    pub owner_id: Option<i64>,
}

/// Churn figures of one group.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct ChurnFigures {
    /// Churns recorded.
    pub churned: i64,
    /// Sum over those churns of the customer's revenue in the 12 months
    /// before the churn, each in its customer's currency, added as recorded
    /// whatever the currency (no conversion).
    pub lost_revenue_cents: i64,
    /// Of those churns, how many were since won back.
    pub won_back: i64,
}

impl ChurnFigures {
    fn add(&mut self, c: &analytics::ChurnCell) {
        // Held at the 64-bit range like each cell (README): two huge cells
        // wrapped to a negative total.
        self.churned = self.churned.saturating_add(c.churned);
        self.lost_revenue_cents = self.lost_revenue_cents.saturating_add(c.lost_revenue_cents);
        self.won_back = self.won_back.saturating_add(c.won_back);
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReasonFigures {
    pub reason: ChurnReason,
    #[serde(flatten)]
    pub figures: ChurnFigures,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PeriodChurn {
    /// `YYYY-MM` or `YYYY`.
    #[schema(example = "2026-03")]
    pub period: String,
    #[serde(flatten)]
    pub figures: ChurnFigures,
    /// Only the reasons with churns in the period, in the order of the
    /// report's `by_reason` (that of `/reference/churn-reasons`).
    pub by_reason: Vec<ReasonFigures>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChurnReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub period: PeriodBucket,
    pub total: ChurnFigures,
    /// Every reason of `/reference/churn-reasons`, in order, zeros included.
    pub by_reason: Vec<ReasonFigures>,
    /// Periods with churns, in order.
    pub by_period: Vec<PeriodChurn>,
}

/// Churns recorded in `[from, to)`: count, lost revenue (each churned
/// customer's revenue in the 12 months before its churn, fixed when the churn
/// is recorded) and win-backs, in total, by reason and by period.
#[utoipa::path(tag = "analytics", params(ChurnReportQuery), responses((status = 200, body = ChurnReport)))]
#[get("/analytics/churn")]
pub async fn churn_report(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: QueryParams<ChurnReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let (from, to) = report_period::resolve(q.from, q.to)?;
    let period = q.period.unwrap_or(PeriodBucket::Month);
    let bucket = match period {
        PeriodBucket::Month => Bucket::Month,
        PeriodBucket::Year => Bucket::Year,
    };
    let owner = q.owner_id;
    let cells = state
        .db
        .report(move |conn| Ok(analytics::churn_cells(conn, from, to, bucket, owner)?))
        .await?;
    let mut total = ChurnFigures::default();
    let mut by_reason: Vec<ReasonFigures> = ChurnReason::ALL
        .iter()
        .map(|r| ReasonFigures {
            reason: *r,
            figures: ChurnFigures::default(),
        })
        .collect();
    let mut periods: BTreeMap<String, PeriodChurn> = BTreeMap::new();
    for c in &cells {
        total.add(c);
        let reason = from_db(&c.reason, ChurnReason::Natural);
        if let Some(r) = by_reason.iter_mut().find(|r| r.reason == reason) {
            r.figures.add(c);
        }
        let p = periods
            .entry(c.period.clone())
            .or_insert_with(|| PeriodChurn {
                period: c.period.clone(),
                figures: ChurnFigures::default(),
                by_reason: Vec::new(),
            });
        p.figures.add(c);
        let mut f = ChurnFigures::default();
        f.add(c);
        p.by_reason.push(ReasonFigures { reason, figures: f });
    }
    // The cells come in the codes' order; a chart per period follows the
    // totals' order (a review).
    let rank = |r: &ReasonFigures| ChurnReason::ALL.iter().position(|x| *x == r.reason);
    for p in periods.values_mut() {
        p.by_reason.sort_by_key(rank);
    }
    Ok(HttpResponse::Ok().json(ChurnReport {
        from: from.and_utc(),
        to: to.and_utc(),
        period,
        total,
        by_reason,
        by_period: periods.into_values().collect(),
    }))
}
