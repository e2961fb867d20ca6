//! `/settings/cpr` and `/settings/tiers`: thresholds and cut-offs, read by
//! everyone, changed by managers and admins. Changing the CPR thresholds
//! recomputes every customer's stage at once; tiers change on the next
//! `POST /tiers/recompute`.

use actix_web::http::StatusCode;
use actix_web::{get, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::versioned;
use super::extract::{JsonBody, NoQuery};
use super::precondition;
use crate::auth::AuthUser;
use crate::db::{self, cpr, settings};
use crate::domain::codes::Role;
use crate::domain::cpr::CprSettings;
use crate::domain::tiers::TierSettings;
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

/// Thresholds of the CPR development cycle.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"window_months": 12, "conversion_share_max": 0.10, "retention_share_min": 0.80,
    "retention_min_tenure_days": 180, "retention_min_purchases": 4}))]
pub struct CprSettingsBody {
    /// Trailing window of the share of wallet, in months (1–60).
    #[schema(minimum = 1, maximum = 60)]
    pub window_months: u32,
    /// A share at or below this is `conversion` (0–1).
    #[schema(minimum = 0, maximum = 1)]
    pub conversion_share_max: f64,
    /// A share at or above this, with the tenure, is `retention` (0–1, above conversion_share_max).
    #[schema(minimum = 0, maximum = 1)]
    pub retention_share_min: f64,
    /// Days since the first purchase before `retention` (0–3650).
    #[schema(minimum = 0, maximum = 3650)]
    pub retention_min_tenure_days: i64,
    /// Without a wallet size (or with 0): the lifetime purchases (amounts
    /// above 0) needed for `retention` (2–1000), with the tenure and
    /// revenue in the window (none in the window is `conversion`).
    #[schema(minimum = 2, maximum = 1000)]
    pub retention_min_purchases: i64,
}

/// Cut-offs of the customer pyramid, in percent of customers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"window_months": 12, "important_pct": 1, "secondary_pct": 4, "ordinary_pct": 15}))]
pub struct TierSettingsBody {
    /// Profit window, in months (1–60).
    #[schema(minimum = 1, maximum = 60)]
    pub window_months: u32,
    /// Top share of customers that are `important` (0–100, at most two
    /// decimals: the cuts are made in whole basis points).
    #[schema(minimum = 0, maximum = 100)]
    pub important_pct: f64,
    /// The next share that is `secondary` (0–100, at most two decimals).
    #[schema(minimum = 0, maximum = 100)]
    pub secondary_pct: f64,
    /// The next share that is `ordinary` (0–100, at most two decimals); the
    /// rest are `small`. The three add up to at most 100.
    #[schema(minimum = 0, maximum = 100)]
    pub ordinary_pct: f64,
}

impl From<CprSettings> for CprSettingsBody {
    fn from(s: CprSettings) -> Self {
        CprSettingsBody {
            window_months: s.window_months,
            conversion_share_max: s.conversion_share_max,
            retention_share_min: s.retention_share_min,
            retention_min_tenure_days: s.retention_min_tenure_days,
            retention_min_purchases: s.retention_min_purchases,
        }
    }
}

impl From<CprSettingsBody> for CprSettings {
    fn from(b: CprSettingsBody) -> Self {
        CprSettings {
            window_months: b.window_months,
            conversion_share_max: b.conversion_share_max,
            retention_share_min: b.retention_share_min,
            retention_min_tenure_days: b.retention_min_tenure_days,
            retention_min_purchases: b.retention_min_purchases,
        }
    }
}

impl From<TierSettings> for TierSettingsBody {
    fn from(s: TierSettings) -> Self {
        TierSettingsBody {
            window_months: s.window_months,
            important_pct: s.important_pct,
            secondary_pct: s.secondary_pct,
            ordinary_pct: s.ordinary_pct,
        }
    }
}

impl From<TierSettingsBody> for TierSettings {
    fn from(b: TierSettingsBody) -> Self {
        TierSettings {
            window_months: b.window_months,
            important_pct: b.important_pct,
            secondary_pct: b.secondary_pct,
            ordinary_pct: b.ordinary_pct,
        }
    }
}

/// A settings document as sent: every field may be missing, so that all the
/// missing ones are named at once (serde would stop at the first).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CprSettingsInput {
    window_months: Option<i64>,
    conversion_share_max: Option<f64>,
    retention_share_min: Option<f64>,
    retention_min_tenure_days: Option<i64>,
    retention_min_purchases: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSettingsInput {
    window_months: Option<i64>,
    important_pct: Option<f64>,
    secondary_pct: Option<f64>,
    ordinary_pct: Option<f64>,
}

/// A window in months as sent: any integer reads, and one outside `u32` is
/// 0, which the settings' own rule refuses naming their range (`-1` was
/// told "an integer from 0 to 4294967295", a range no setting has).
pub fn months(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

/// Takes a field's value, or notes it as missing and stands in `neutral`
/// (a value that cannot itself break a rule, so that the fields sent are
/// still checked against each other).
pub fn field<T>(
    value: Option<T>,
    name: &'static str,
    neutral: T,
    missing: &mut Vec<&'static str>,
) -> T {
    value.unwrap_or_else(|| {
        missing.push(name);
        neutral
    })
}

impl CprSettingsInput {
    fn settings(self) -> Result<CprSettings, ApiError> {
        let mut missing = Vec::new();
        let value = CprSettings {
            window_months: field(
                self.window_months.map(months),
                "window_months",
                12,
                &mut missing,
            ),
            conversion_share_max: field(
                self.conversion_share_max,
                "conversion_share_max",
                0.0,
                &mut missing,
            ),
            retention_share_min: field(
                self.retention_share_min,
                "retention_share_min",
                1.0,
                &mut missing,
            ),
            retention_min_tenure_days: field(
                self.retention_min_tenure_days,
                "retention_min_tenure_days",
                0,
                &mut missing,
            ),
            retention_min_purchases: field(
                self.retention_min_purchases,
                "retention_min_purchases",
                2,
                &mut missing,
            ),
        };
        problems(missing, value.problems())?;
        Ok(value)
    }
}

impl TierSettingsInput {
    fn settings(self) -> Result<TierSettings, ApiError> {
        let mut missing = Vec::new();
        let value = TierSettings {
            window_months: field(
                self.window_months.map(months),
                "window_months",
                12,
                &mut missing,
            ),
            important_pct: field(self.important_pct, "important_pct", 0.0, &mut missing),
            secondary_pct: field(self.secondary_pct, "secondary_pct", 0.0, &mut missing),
            ordinary_pct: field(self.ordinary_pct, "ordinary_pct", 0.0, &mut missing),
        };
        problems(missing, value.problems())?;
        Ok(value.in_whole_points())
    }
}

/// One 422 naming every missing field and every broken rule of the fields sent.
pub fn problems(
    missing: Vec<&'static str>,
    list: Vec<(&'static str, String)>,
) -> Result<(), ApiError> {
    let mut errors: Vec<FieldError> = missing
        .iter()
        .map(|f| FieldError::new(*f, "required", "is required"))
        .collect();
    errors.extend(
        list.into_iter()
            .filter(|(f, _)| !missing.contains(f))
            .map(|(f, m)| FieldError::new(f, "range", m)),
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

pub const EDITORS: &[Role] = &[Role::Admin, Role::Manager];

/// The CPR thresholds. The ETag is `"<version>.<digest>"`, the settings version first (`0` for the defaults); a PUT takes it as `If-Match`.
#[utoipa::path(tag = "settings", responses((status = 200, body = CprSettingsBody, headers(("ETag" = String)))))]
#[get("/settings/cpr")]
pub async fn get_cpr(
    state: web::Data<AppState>,
    _user: AuthUser,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    answer::<CprSettings, CprSettingsBody>(&state, settings::CPR).await
}

/// Replace the CPR thresholds (admin or manager). Every customer's stage is
/// recomputed under the new thresholds before the answer, and then every
/// loyalty type (it reads the share of wallet).
#[utoipa::path(
    tag = "settings",
    params(("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the settings is no longer at that version")),
    request_body = CprSettingsBody,
    responses(
        (status = 200, body = CprSettingsBody, headers(("ETag" = String))),
        (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[put("/settings/cpr")]
pub async fn put_cpr(
    state: web::Data<AppState>,
    user: AuthUser,
    _query: NoQuery,
    req: HttpRequest,
    body: JsonBody<CprSettingsInput>,
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
                store(conn, settings::CPR, &value, expected, &user)
            })?;
            let now = db::now();
            cpr::refresh_all(conn, &value, version, now)
                .map_err(ApiError::from)
                .and_then(|_| db::loyalty::refresh_all_current(conn, now))
                .map_err(|e| {
                    saved_but_not_applied(
                        version,
                        e,
                        "the next hourly job recomputes them, or POST /cpr/recompute now",
                    )
                })?;
            Ok(version)
        })
        .await?;
    Ok(versioned(
        StatusCode::OK,
        version,
        None,
        &CprSettingsBody::from(value),
    ))
}

/// A settings change stored, whose recompute of the cards then failed (the
/// database busy or gone): a 503 that says the change was kept and under
/// which version, so that the client neither takes it for lost nor retries
/// with its old `If-Match` (a 412) without knowing why.
pub fn saved_but_not_applied(version: i64, e: ApiError, then: &str) -> ApiError {
    log::warn!("settings saved as version {version}, but the recompute failed: {e}");
    let why = match &e {
        ApiError::Unavailable(_) => "the database is busy or not reachable",
        _ => "an unexpected error (logged)",
    };
    ApiError::StoredNotApplied(format!(
        "the settings were saved (version {version}), but recomputing \
         the cards failed ({why}); {then}"
    ))
}

/// What every `GET /settings/...` answers: the document (defaults until
/// first saved) shaped as its body, with the settings version as ETag.
pub async fn answer<T, B>(state: &AppState, name: &'static str) -> Result<HttpResponse, ApiError>
where
    T: serde::de::DeserializeOwned + Default + Send + 'static,
    B: From<T> + Serialize,
{
    let (value, version) = state
        .db
        .run(move |conn| settings::get::<T>(conn, name))
        .await?;
    Ok(versioned(StatusCode::OK, version, None, &B::from(value)))
}

pub fn store<T: Serialize + serde::de::DeserializeOwned + Default>(
    conn: &mut db::DbConn,
    name: &str,
    value: &T,
    expected: Option<Vec<i64>>,
    user: &AuthUser,
) -> Result<i64, ApiError> {
    settings::lock(conn, name)?;
    let (stored, current) = settings::get::<T>(conn, name)?;
    precondition::check(expected.as_deref(), current)?;
    // The stored document again (a retry, a form saved unchanged) is no
    // change: its version stays, so another editor's `If-Match` still holds.
    // The defaults, never saved, are the stored document too (GET serves
    // them as version 0): saving them unchanged writes nothing and stays 0.
    if serde_json::to_value(&stored).ok() == serde_json::to_value(value).ok() {
        return Ok(current);
    }
    // `settings::lock` is held before the first save too (an advisory
    // lock, not the row's): no other writer saves between the read and this.
    let saved = settings::put(conn, name, value, current, user.id, db::now())?.ok_or(
        ApiError::PreconditionFailed {
            current: current + 1,
        },
    )?;
    user.unchanged_in(conn)?;
    Ok(saved)
}

/// The tier cut-offs.
#[utoipa::path(tag = "settings", responses((status = 200, body = TierSettingsBody, headers(("ETag" = String)))))]
#[get("/settings/tiers")]
pub async fn get_tiers(
    state: web::Data<AppState>,
    _user: AuthUser,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    answer::<TierSettings, TierSettingsBody>(&state, settings::TIERS).await
}

/// Replace the tier cut-offs (admin or manager); they apply from the next
/// `POST /tiers/recompute`.
#[utoipa::path(
    tag = "settings",
    params(("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the settings is no longer at that version")),
    request_body = TierSettingsBody,
    responses(
        (status = 200, body = TierSettingsBody, headers(("ETag" = String))),
        (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[put("/settings/tiers")]
pub async fn put_tiers(
    state: web::Data<AppState>,
    user: AuthUser,
    _query: NoQuery,
    req: HttpRequest,
    body: JsonBody<TierSettingsInput>,
) -> Result<HttpResponse, ApiError> {
    user.require_any(EDITORS)?;
    let expected = precondition::if_match(&req)?;
    let value = body.0.settings()?;
    let version = state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                store(conn, settings::TIERS, &value, expected, &user)
            })
        })
        .await?;
    Ok(versioned(
        StatusCode::OK,
        version,
        None,
        &TierSettingsBody::from(value),
    ))
}
