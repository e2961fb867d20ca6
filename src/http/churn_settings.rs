//! `/settings/churn`: the thresholds and weights of the at-risk rule
//! (`domain::churn`), read by everyone, changed by managers and admins.
//! They apply at once: the at-risk list is evaluated on every request.

use actix_web::http::StatusCode;
use actix_web::{get, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::versioned;
use super::extract::{JsonBody, NoQuery};
use super::precondition;
use super::settings::{answer, field, problems, store, EDITORS};
use crate::auth::AuthUser;
use crate::db::{self, settings};
use crate::domain::churn::ChurnSettings;
use crate::error::ApiError;
use crate::startup::AppState;

/// Thresholds and weights of the churn-risk score.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"no_contact_days": 90, "share_window_days": 90, "share_drop_pct": 50,
    "no_purchase_days": 180, "low_satisfaction_below": 3.0, "min_open_complaints": 1,
    "weight_no_contact": 30, "weight_falling_share": 25, "weight_no_purchase": 25,
    "weight_low_satisfaction": 20, "weight_open_complaints": 15, "weight_owner_inactive": 10,
    "min_score": 1}))]
pub struct ChurnSettingsBody {
    /// `no_contact` when nothing was heard from us for at least this many days: since the
    /// last contact, the first purchase or the card's creation, whichever is latest (1–3650).
    #[schema(minimum = 1, maximum = 3650)]
    pub no_contact_days: i64,
    /// Length of the recent window and of the window before it, in days (7–1830).
    #[schema(minimum = 7, maximum = 1830)]
    pub share_window_days: i64,
    /// `falling_share` when recent revenue ≤ (100 − this) % of a positive revenue in the window before (1–100).
    #[schema(minimum = 1, maximum = 100)]
    pub share_drop_pct: i64,
    /// `no_purchase` when the last purchase is at least this many days ago (1–3650). The falling
    /// share goes quiet 2 × `share_window_days` after the last purchase (both windows empty);
    /// set this at most that long for a lapse to stay listed without a gap.
    #[schema(minimum = 1, maximum = 3650)]
    pub no_purchase_days: i64,
    /// `low_satisfaction` when the latest overall satisfaction (1–5) is strictly below this (1–5).
    #[schema(minimum = 1, maximum = 5)]
    pub low_satisfaction_below: f64,
    /// `open_complaints` when at least this many complaints are open (1–1000).
    #[schema(minimum = 1, maximum = 1000)]
    pub min_open_complaints: i64,
    /// Score added by `no_contact` (0–100).
    #[schema(minimum = 0, maximum = 100)]
    pub weight_no_contact: i64,
    /// Score added by `falling_share` (0–100).
    #[schema(minimum = 0, maximum = 100)]
    pub weight_falling_share: i64,
    /// Score added by `no_purchase` (0–100).
    #[schema(minimum = 0, maximum = 100)]
    pub weight_no_purchase: i64,
    /// Score added by `low_satisfaction` (0–100).
    #[schema(minimum = 0, maximum = 100)]
    pub weight_low_satisfaction: i64,
    /// Score added by `open_complaints` (0–100).
    #[schema(minimum = 0, maximum = 100)]
    pub weight_open_complaints: i64,
    /// Score added by `owner_inactive`, the owner's account being deactivated (0–100).
    #[schema(minimum = 0, maximum = 100)]
    pub weight_owner_inactive: i64,
    /// Customers scoring at least this are listed (1–600).
    #[schema(minimum = 1, maximum = 600)]
    pub min_score: i64,
}

impl From<ChurnSettings> for ChurnSettingsBody {
    fn from(s: ChurnSettings) -> Self {
        ChurnSettingsBody {
            no_contact_days: s.no_contact_days,
            share_window_days: s.share_window_days,
            share_drop_pct: s.share_drop_pct,
            no_purchase_days: s.no_purchase_days,
            low_satisfaction_below: s.low_satisfaction_below,
            min_open_complaints: s.min_open_complaints,
            weight_no_contact: s.weight_no_contact,
            weight_falling_share: s.weight_falling_share,
            weight_no_purchase: s.weight_no_purchase,
            weight_low_satisfaction: s.weight_low_satisfaction,
            weight_open_complaints: s.weight_open_complaints,
            weight_owner_inactive: s.weight_owner_inactive,
            min_score: s.min_score,
        }
    }
}

/// Thresholds and weights of the churn-risk score, as a `PUT` sends them: the
/// whole document, which replaces the stored one. `no_purchase_days` and
/// `weight_no_purchase` are optional, so that a body written before they
/// existed still saves; the others are required.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"no_contact_days": 90, "share_window_days": 90, "share_drop_pct": 50,
    "no_purchase_days": 180, "low_satisfaction_below": 3.0, "min_open_complaints": 1,
    "weight_no_contact": 30, "weight_falling_share": 25, "weight_no_purchase": 25,
    "weight_low_satisfaction": 20, "weight_open_complaints": 15, "weight_owner_inactive": 10,
    "min_score": 1}))]
// Required fields are `Option`s too: serde would stop at the first missing
// one, `settings` names them all at once.
pub struct ChurnSettingsInput {
    /// `no_contact` when nothing was heard from us for at least this many days: since the
    /// last contact, the first purchase or the card's creation, whichever is latest (1–3650).
    #[schema(required = true, value_type = i64, minimum = 1, maximum = 3650)]
    no_contact_days: Option<i64>,
    /// Length of the recent window and of the window before it, in days (7–1830).
    #[schema(required = true, value_type = i64, minimum = 7, maximum = 1830)]
    share_window_days: Option<i64>,
    /// `falling_share` when recent revenue ≤ (100 − this) % of a positive revenue in the window before (1–100).
    #[schema(required = true, value_type = i64, minimum = 1, maximum = 100)]
    share_drop_pct: Option<i64>,
    /// `no_purchase` when the last purchase is at least this many days ago (1–3650). The falling
    /// share goes quiet 2 × `share_window_days` after the last purchase (both windows empty);
    /// set this at most that long for a lapse to stay listed without a gap. Optional: absent or
    /// `null` is the default, 180, as in settings saved before the field existed. The PUT
    /// replaces the whole settings, so leaving it out sets 180, not the value stored before.
    #[schema(minimum = 1, maximum = 3650, default = crate::domain::churn::defaults::no_purchase_days)]
    no_purchase_days: Option<i64>,
    /// `low_satisfaction` when the latest overall satisfaction (1–5) is strictly below this (1–5).
    #[schema(required = true, value_type = f64, minimum = 1, maximum = 5)]
    low_satisfaction_below: Option<f64>,
    /// `open_complaints` when at least this many complaints are open (1–1000).
    #[schema(required = true, value_type = i64, minimum = 1, maximum = 1000)]
    min_open_complaints: Option<i64>,
    /// Score added by `no_contact` (0–100).
    #[schema(required = true, value_type = i64, minimum = 0, maximum = 100)]
    weight_no_contact: Option<i64>,
    /// Score added by `falling_share` (0–100).
    #[schema(required = true, value_type = i64, minimum = 0, maximum = 100)]
    weight_falling_share: Option<i64>,
    /// Score added by `no_purchase` (0–100). Optional: absent or `null` is the default, 25, as in
    /// settings saved before the field existed. The PUT replaces the whole settings, so leaving
    /// it out sets 25, not the value stored before.
    #[schema(minimum = 0, maximum = 100, default = crate::domain::churn::defaults::weight_no_purchase)]
    weight_no_purchase: Option<i64>,
    /// Score added by `low_satisfaction` (0–100).
    #[schema(required = true, value_type = i64, minimum = 0, maximum = 100)]
    weight_low_satisfaction: Option<i64>,
    /// Score added by `open_complaints` (0–100).
    #[schema(required = true, value_type = i64, minimum = 0, maximum = 100)]
    weight_open_complaints: Option<i64>,
    /// Score added by `owner_inactive`, the owner's account being deactivated (0–100).
    #[schema(required = true, value_type = i64, minimum = 0, maximum = 100)]
    weight_owner_inactive: Option<i64>,
    /// Customers scoring at least this are listed (1–600).
    #[schema(required = true, value_type = i64, minimum = 1, maximum = 600)]
    min_score: Option<i64>,
}

impl ChurnSettingsInput {
    fn settings(self) -> Result<ChurnSettings, ApiError> {
        let d = ChurnSettings::default();
        let mut m = Vec::new();
        let value = ChurnSettings {
            no_contact_days: field(
                self.no_contact_days,
                "no_contact_days",
                d.no_contact_days,
                &mut m,
            ),
            share_window_days: field(
                self.share_window_days,
                "share_window_days",
                d.share_window_days,
                &mut m,
            ),
            share_drop_pct: field(
                self.share_drop_pct,
                "share_drop_pct",
                d.share_drop_pct,
                &mut m,
            ),
            // Optional (absent or null): the default, as a stored
            // document without it reads.
            no_purchase_days: self.no_purchase_days.unwrap_or(d.no_purchase_days),
            low_satisfaction_below: field(
                self.low_satisfaction_below,
                "low_satisfaction_below",
                d.low_satisfaction_below,
                &mut m,
            ),
            min_open_complaints: field(self.min_open_complaints, "min_open_complaints", 1, &mut m),
            weight_no_contact: field(self.weight_no_contact, "weight_no_contact", 0, &mut m),
            weight_falling_share: field(
                self.weight_falling_share,
                "weight_falling_share",
                0,
                &mut m,
            ),
            weight_no_purchase: self.weight_no_purchase.unwrap_or(d.weight_no_purchase),
            weight_low_satisfaction: field(
                self.weight_low_satisfaction,
                "weight_low_satisfaction",
                0,
                &mut m,
            ),
            weight_open_complaints: field(
                self.weight_open_complaints,
                "weight_open_complaints",
                0,
                &mut m,
            ),
            weight_owner_inactive: field(
                self.weight_owner_inactive,
                "weight_owner_inactive",
                0,
                &mut m,
            ),
            min_score: field(self.min_score, "min_score", 1, &mut m),
        };
        problems(m, value.problems())?;
        Ok(value)
    }
}

/// The churn-risk thresholds and weights. The ETag is `"<version>.<digest>"`, the settings version first (`0` for the defaults); a PUT takes it as `If-Match`.
#[utoipa::path(tag = "settings", responses((status = 200, body = ChurnSettingsBody, headers(("ETag" = String)))))]
#[get("/settings/churn")]
pub async fn get_churn(
    state: web::Data<AppState>,
    _user: AuthUser,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    answer::<ChurnSettings, ChurnSettingsBody>(&state, settings::CHURN).await
}

/// Replace the churn-risk thresholds and weights (admin or manager). Every
/// field is required but `no_purchase_days` and `weight_no_purchase`, added
/// later: absent or `null`, they take their defaults (180 and 25), so a
/// client written before them still saves. The PUT replaces the whole
/// settings: leaving them out sets the defaults, not the values stored
/// before. `GET /churn/at-risk` uses them from the next request.
#[utoipa::path(
    tag = "settings",
    params(("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the settings is no longer at that version")),
    request_body = ChurnSettingsInput,
    responses(
        (status = 200, body = ChurnSettingsBody, headers(("ETag" = String))),
        (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[put("/settings/churn")]
pub async fn put_churn(
    state: web::Data<AppState>,
    user: AuthUser,
    _query: NoQuery,
    req: HttpRequest,
    body: JsonBody<ChurnSettingsInput>,
) -> Result<HttpResponse, ApiError> {
    user.require_any(EDITORS)?;
    let expected = precondition::if_match(&req)?;
    let value = body.0.settings()?;
    let version = state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                store(conn, settings::CHURN, &value, expected, &user)
            })
        })
        .await?;
    Ok(versioned(
        StatusCode::OK,
        version,
        None,
        &ChurnSettingsBody::from(value),
    ))
}
