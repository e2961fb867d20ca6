//! `/analytics/funnel`: conversion rate and median days between the funnel
//! stages, from the stage-change history `funnel.rs` records.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dates;
use super::extract::QueryParams;
use super::report_period;
use crate::auth::AuthUser;
use crate::db::analytics;
use crate::domain::codes::FunnelStage;
use crate::domain::funnel_conversion::Conversion;
use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FunnelQuery {
    /// Start (inclusive); default: 12 months before `to`.
    #[serde(default, deserialize_with = "dates::optional")]
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive); default: now.
    #[serde(default, deserialize_with = "dates::optional")]
    pub to: Option<DateTime<Utc>>,
    /// Only customers owned (now) by this user.
    pub owner_id: Option<i64>,
}

/// One step of the funnel, from a stage to the next.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FunnelStep {
    pub from: FunnelStage,
    pub to: FunnelStage,
    /// Customers whose first entry into `from` lies in the period.
    pub entered: i64,
    /// Of those, how many entered `to` or a later stage at or after that first
    /// entry (also after moving down and back up: key, ordinary, key converts
    /// the ordinary entry), at any time up to now, not only before the
    /// period's `to`: a cohort's figures keep growing as it converts later.
    pub converted: i64,
    /// converted ÷ entered (0–1); null when nobody entered.
    pub conversion_rate: Option<f64>,
    /// Median days from first entering `from` to the earliest entry into `to`
    /// or a later stage after it, over the converted.
    pub median_days: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FunnelReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// lead → prospect → ordinary → key → won.
    pub steps: Vec<FunnelStep>,
}

/// Funnel conversion over the customers who entered a stage in `[from, to)`:
/// the share that went on to the next stage (skipping ahead counts), and the
/// median days it took. A customer's stage entries are its
/// `funnel_stage_changed` events (creation included); a stage counts from
/// its first entry.
#[utoipa::path(tag = "analytics", params(FunnelQuery), responses((status = 200, body = FunnelReport)))]
#[get("/analytics/funnel")]
pub async fn funnel_report(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: QueryParams<FunnelQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let (from, to) = report_period::resolve(q.from, q.to)?;
    let owner = q.owner_id;
    let conversion = state
        .db
        .report(move |conn| {
            let mut tally = Conversion::new(from, to);
            analytics::funnel_entries(conn, from, to, owner, |entries| tally.add(entries))?;
            Ok(tally)
        })
        .await?;
    let steps = conversion
        .steps()
        .into_iter()
        .map(|s| FunnelStep {
            from: s.from,
            to: s.to,
            entered: s.entered,
            converted: s.converted,
            conversion_rate: (s.entered > 0).then(|| s.converted as f64 / s.entered as f64),
            median_days: s.median_days,
        })
        .collect();
    Ok(HttpResponse::Ok().json(FunnelReport {
        from: from.and_utc(),
        to: to.and_utc(),
        steps,
    }))
}
