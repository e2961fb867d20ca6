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

/// Time in one stage: the stays in it that ended in the period.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FunnelStageStays {
    pub stage: FunnelStage,
    /// Stays in `stage` that ended in the period: moves out of it to any
    /// other stage (up or down; an entry into the stage the customer is
    /// already in moves nothing).
    pub stays_ended: i64,
    /// Median days of those stays, each from the move into `stage` (or the
    /// card's creation in it) to the move out, whenever the stay began; null
    /// when none ended. Stays still open at `to` are not counted.
    pub median_days_in_stage: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z",
    "steps": [
        {"from": "lead", "to": "prospect", "entered": 40, "converted": 18, "conversion_rate": 0.45, "median_days": 12.5},
        {"from": "prospect", "to": "ordinary", "entered": 25, "converted": 10, "conversion_rate": 0.4, "median_days": 30.0},
        {"from": "ordinary", "to": "key", "entered": 12, "converted": 3, "conversion_rate": 0.25, "median_days": 61.0},
        {"from": "key", "to": "won", "entered": 4, "converted": 1, "conversion_rate": 0.25, "median_days": 90.0}
    ],
    "stages": [
        {"stage": "lead", "stays_ended": 21, "median_days_in_stage": 14.0},
        {"stage": "prospect", "stays_ended": 12, "median_days_in_stage": 33.5},
        {"stage": "ordinary", "stays_ended": 4, "median_days_in_stage": 58.0},
        {"stage": "key", "stays_ended": 1, "median_days_in_stage": 90.0},
        {"stage": "won", "stays_ended": 0, "median_days_in_stage": null}
    ]
}))]
pub struct FunnelReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// lead → prospect → ordinary → key → won.
    pub steps: Vec<FunnelStep>,
    /// Time in stage, per stage in funnel order: the stays that ended in the
    /// period (DOMAIN.md §4), counted as `/analytics/cpr`'s `median_days_in_stage`.
    pub stages: Vec<FunnelStageStays>,
}

/// Funnel conversion over the customers who entered a stage in `[from, to)`:
/// the share that went on to the next stage (skipping ahead counts), and the
/// median days it took; and per stage, how long the stays that ended in the
/// period lasted. A customer's stage entries are its
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
    let stages = conversion
        .stays()
        .into_iter()
        .map(|s| FunnelStageStays {
            stage: s.stage,
            stays_ended: s.ended,
            median_days_in_stage: s.median_days,
        })
        .collect();
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
        stages,
    }))
}
