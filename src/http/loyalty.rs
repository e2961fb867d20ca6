//! `/settings/loyalty` (the thresholds of `domain::loyalty`) and
//! `/analytics/loyalty` (customers per type; satisfaction against repeat
//! purchase). Changing the thresholds recomputes every customer's type.

use actix_web::http::StatusCode;
use actix_web::{get, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::versioned;
use super::extract::{JsonBody, NoQuery};
use super::precondition;
use super::settings::{answer, field, months, problems, store, EDITORS};
use crate::auth::AuthUser;
use crate::db::{self, loyalty, settings, DbConn};
use crate::domain::codes::{Code, LoyaltyType};
use crate::domain::loyalty::LoyaltySettings;
use crate::domain::surveys::ratio;
use crate::error::ApiError;
use crate::startup::AppState;

/// Thresholds of the loyalty type.
///
/// Attitude is high when the latest overall satisfaction ≥
/// `attitude_min_satisfaction`. Behaviour is high when the customer bought
/// at least `repeat_min_purchases` times (purchases: transactions with an
/// amount above 0) in the last `window_months` and,
/// when its share of wallet (the CPR share) is known, that share ≥
/// `share_of_wallet_min`, and it has no open churn (a lost customer no
/// longer buys). Types: both high `high`; attitude only `latent`;
/// behaviour only `inertial`; neither `none`; no satisfaction data `unknown`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"attitude_min_satisfaction": 4.0, "window_months": 12, "repeat_min_purchases": 2, "share_of_wallet_min": 0.5}))]
pub struct LoyaltySettingsBody {
    /// 1–5.
    #[schema(minimum = 1, maximum = 5)]
    pub attitude_min_satisfaction: f64,
    /// 1–60.
    #[schema(minimum = 1, maximum = 60)]
    pub window_months: u32,
    /// 2–1000.
    #[schema(minimum = 2, maximum = 1000)]
    pub repeat_min_purchases: i64,
    /// 0–1.
    #[schema(minimum = 0, maximum = 1)]
    pub share_of_wallet_min: f64,
}

impl From<LoyaltySettings> for LoyaltySettingsBody {
    fn from(s: LoyaltySettings) -> Self {
        LoyaltySettingsBody {
            attitude_min_satisfaction: s.attitude_min_satisfaction,
            window_months: s.window_months,
            repeat_min_purchases: s.repeat_min_purchases,
            share_of_wallet_min: s.share_of_wallet_min,
        }
    }
}

/// As sent: every field may be missing, so all missing ones are named at once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoyaltySettingsInput {
    attitude_min_satisfaction: Option<f64>,
    window_months: Option<i64>,
    repeat_min_purchases: Option<i64>,
    share_of_wallet_min: Option<f64>,
}

impl LoyaltySettingsInput {
    fn settings(self) -> Result<LoyaltySettings, ApiError> {
        let mut missing = Vec::new();
        let value = LoyaltySettings {
            attitude_min_satisfaction: field(
                self.attitude_min_satisfaction,
                "attitude_min_satisfaction",
                4.0,
                &mut missing,
            ),
            window_months: field(
                self.window_months.map(months),
                "window_months",
                12,
                &mut missing,
            ),
            repeat_min_purchases: field(
                self.repeat_min_purchases,
                "repeat_min_purchases",
                2,
                &mut missing,
            ),
            share_of_wallet_min: field(
                self.share_of_wallet_min,
                "share_of_wallet_min",
                0.5,
                &mut missing,
            ),
        };
        problems(missing, value.problems())?;
        Ok(value)
    }
}

/// The loyalty thresholds. The ETag is `"<version>.<digest>"`, the settings version first (`0` for the defaults); a PUT takes it as `If-Match`.
#[utoipa::path(tag = "settings", responses((status = 200, body = LoyaltySettingsBody, headers(("ETag" = String)))))]
#[get("/settings/loyalty")]
pub async fn get_settings(
    state: web::Data<AppState>,
    _user: AuthUser,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    answer::<LoyaltySettings, LoyaltySettingsBody>(&state, settings::LOYALTY).await
}

/// Replace the loyalty thresholds (admin or manager). Every customer's type
/// is recomputed under the new thresholds before the answer; each change is
/// a `loyalty_changed` event in the customer's history.
#[utoipa::path(
    tag = "settings",
    params(("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the settings is no longer at that version")),
    request_body = LoyaltySettingsBody,
    responses(
        (status = 200, body = LoyaltySettingsBody, headers(("ETag" = String))),
        (status = 403, description = "Not admin or manager", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or out-of-range thresholds, each named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[put("/settings/loyalty")]
pub async fn put_settings(
    state: web::Data<AppState>,
    user: AuthUser,
    _query: NoQuery,
    req: HttpRequest,
    body: JsonBody<LoyaltySettingsInput>,
) -> Result<HttpResponse, ApiError> {
    user.require_any(EDITORS)?;
    let expected = precondition::if_match(&req)?;
    let value = body.0.settings()?;
    // Before the write turn: see `settings::change_turn`.
    let turn = settings::change_turn().await;
    let version = state
        .db
        .write(move |conn| {
            let _turn = turn;
            let version = db::write_tx(conn, |conn| {
                store(conn, settings::LOYALTY, &value, expected, &user)
            })?;
            loyalty::refresh_all(conn, &value, version, db::now()).map_err(|e| {
                super::settings::saved_but_not_applied(
                    version,
                    e.into(),
                    "the next hourly job recomputes them",
                )
            })?;
            Ok(version)
        })
        .await?;
    Ok(versioned(
        StatusCode::OK,
        version,
        None,
        &LoyaltySettingsBody::from(value),
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TypeCount {
    pub loyalty_type: LoyaltyType,
    /// Active (not archived) customers of this type.
    pub customers: i64,
}

/// The customers whose latest overall satisfaction rounds to one level.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LevelFigures {
    /// 1 (`very_dissatisfied`) to 5 (`very_satisfied`); a mean rounds half up (4.5 is 5).
    #[schema(example = 4)]
    pub level: i64,
    #[schema(value_type = super::code_schemas::SatisfactionLevel, example = "satisfied")]
    pub code: String,
    pub customers: i64,
    /// Of them, customers with at least `repeat_min_purchases` purchases in
    /// the window, counted at the request (live, unlike the stored `types`).
    pub repeat_customers: i64,
    /// `repeat_customers` ÷ `customers` (0–1, four decimals); null without customers.
    pub repeat_purchase_rate: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "types": [{"loyalty_type": "high", "customers": 120}, {"loyalty_type": "latent", "customers": 45},
        {"loyalty_type": "inertial", "customers": 80}, {"loyalty_type": "none", "customers": 30},
        {"loyalty_type": "unknown", "customers": 900}],
    "satisfaction": [{"level": 5, "code": "very_satisfied", "customers": 60, "repeat_customers": 48, "repeat_purchase_rate": 0.8}],
    "unrated_customers": 900,
    "settings": {"attitude_min_satisfaction": 4.0, "window_months": 12, "repeat_min_purchases": 2, "share_of_wallet_min": 0.5}
}))]
pub struct LoyaltyAnalytics {
    /// Every type, in order `high`, `latent`, `inertial`, `none`, `unknown`:
    /// the types stored on the cards, which a purchase leaving the window
    /// moves only at the periodic job's next round (`satisfaction`'s repeat
    /// counts are live).
    pub types: Vec<TypeCount>,
    /// Satisfaction against repeat purchase: one row per level 1–5
    /// (satisfied is not loyal: compare the rates). A churned customer is
    /// no repeat buyer, as in its type.
    pub satisfaction: Vec<LevelFigures>,
    /// Active customers without satisfaction data (not in `satisfaction`).
    pub unrated_customers: i64,
    /// The thresholds in force (`repeat_min_purchases` and `window_months` define a repeat customer).
    pub settings: LoyaltySettingsBody,
}

pub const LEVEL_CODES: [&str; 5] = [
    "very_dissatisfied",
    "dissatisfied",
    "neutral",
    "satisfied",
    "very_satisfied",
];

fn analytics(conn: &mut DbConn) -> Result<LoyaltyAnalytics, ApiError> {
    let (s, _) = settings::get::<LoyaltySettings>(conn, settings::LOYALTY)?;
    let counts = loyalty::counts(conn, &s, db::now())?;
    let types = LoyaltyType::ALL
        .iter()
        .map(|t| TypeCount {
            loyalty_type: *t,
            customers: counts
                .per_type
                .iter()
                .filter(|(code, _)| LoyaltyType::parse(code) == Some(*t))
                .map(|(_, n)| n)
                .sum(),
        })
        .collect();
    let level_of = |level: Option<i64>| {
        counts
            .per_level
            .iter()
            .find(|r| r.level == level)
            .map(|r| (r.customers, r.repeat_customers))
            .unwrap_or((0, 0))
    };
    let satisfaction = (1..=5_i64)
        .zip(LEVEL_CODES)
        .map(|(level, code)| {
            let (customers, repeat) = level_of(Some(level));
            LevelFigures {
                level,
                code: code.to_string(),
                customers,
                repeat_customers: repeat,
                repeat_purchase_rate: (customers > 0).then(|| ratio(repeat, customers, 4)),
            }
        })
        .collect();
    Ok(LoyaltyAnalytics {
        types,
        satisfaction,
        unrated_customers: level_of(None).0,
        settings: s.into(),
    })
}

/// Loyalty now: active customers per loyalty type, and per satisfaction
/// level (the latest overall satisfaction, rounded) how many customers
/// there are and what share of them are repeat buyers in the loyalty window.
#[utoipa::path(tag = "analytics", responses((status = 200, body = LoyaltyAnalytics)))]
#[get("/analytics/loyalty")]
pub async fn report(
    state: web::Data<AppState>,
    _user: AuthUser,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let body = state.db.report(analytics).await?;
    Ok(HttpResponse::Ok().json(body))
}
