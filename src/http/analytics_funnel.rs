//! `/analytics/funnel`: conversion rate and median days between the funnel
//! stages, from the stage-change history `funnel.rs` records.

use std::collections::HashMap;

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::QueryParams;
use super::report_period;
use crate::auth::AuthUser;
use crate::db::analytics;
use crate::domain::codes::{Code, FunnelStage};
use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FunnelQuery {
    /// Start (inclusive); default: 12 months before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive); default: now.
    pub to: Option<DateTime<Utc>>,
    /// Only customers owned (now) by this user.
    pub owner_id: Option<i64>,
}

/// One step of the funnel, from a stage to the next.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FunnelStep {
    pub from: FunnelStage,
    pub to: FunnelStage,
    /// Customers who entered `from` in the period.
    pub entered: i64,
    /// Of those, how many have since reached `to` or a later stage.
    pub converted: i64,
    /// converted ÷ entered (0–1); null when nobody entered.
    pub conversion_rate: Option<f64>,
    /// Median days from first entering `from` to first reaching `to` (or later), over the converted.
    pub median_days: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FunnelReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// lead → prospect → ordinary → key → won.
    pub steps: Vec<FunnelStep>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Funnel conversion over the customers who entered a stage in `[from, to)`:
/// the share that went on to the next stage (skipping ahead counts), and the
/// median days it took. A customer's stage entries are its first
/// `funnel_stage_changed` event into each stage (creation included).
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
    let entries = state
        .db
        .report(move |conn| Ok(analytics::funnel_entries(conn, from, to, owner)?))
        .await?;
    let order = |s: &str| FunnelStage::ALL.iter().position(|x| x.as_code() == s);
    let mut firsts: HashMap<i64, [Option<NaiveDateTime>; 5]> = HashMap::new();
    for e in &entries {
        if let Some(i) = e.stage.as_deref().and_then(order) {
            firsts.entry(e.customer_id).or_insert([None; 5])[i] = Some(e.entered_at);
        }
    }
    let steps = (0..FunnelStage::ALL.len() - 1)
        .map(|i| {
            let mut entered = 0;
            let mut days = Vec::new();
            for stages in firsts.values() {
                let Some(at) = stages[i].filter(|at| *at >= from && *at < to) else {
                    continue;
                };
                entered += 1;
                // The earliest later stage reached after entering this one.
                let next = stages[i + 1..].iter().flatten().filter(|n| **n >= at).min();
                if let Some(n) = next {
                    days.push((*n - at).num_seconds() as f64 / 86_400.0);
                }
            }
            let converted = days.len() as i64;
            FunnelStep {
                from: FunnelStage::ALL[i],
                to: FunnelStage::ALL[i + 1],
                entered,
                converted,
                conversion_rate: (entered > 0).then(|| converted as f64 / entered as f64),
                median_days: median(days),
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(FunnelReport {
        from: from.and_utc(),
        to: to.and_utc(),
        steps,
    }))
}
