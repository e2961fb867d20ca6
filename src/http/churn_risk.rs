//! `GET /churn/at-risk`: customers ranked by churn risk, each with the
//! signals behind the score (rule: `domain::churn`, thresholds and weights:
//! `/settings/churn`).

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::QueryParams;
use super::views::utc;
use crate::auth::AuthUser;
use crate::db::churn_risk::{self, RiskRow};
use crate::db::page::{self, Cursor};
use crate::db::{self, settings};
use crate::domain::churn::ChurnSettings;
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AtRiskQuery {
    /// Only customers owned by this user.
    pub owner_id: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, read with the same
    /// `owner_id` (another owner's cursor is a 400 naming `cursor`). It
    /// carries the first page's `as_of` and churn settings: the pages after
    /// it score as of that instant, and are a 400 naming `cursor` once the
    /// settings changed (start again without a cursor).
    pub cursor: Option<String>,
}

/// The signals a customer shows; each adds its weight to the score.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RiskSignals {
    /// Nothing heard from us for at least `no_contact_days` days: `silent_since`
    /// is that long ago.
    pub no_contact: bool,
    /// Revenue in the recent window at most (100 − `share_drop_pct`) % of the window before.
    pub falling_share: bool,
    /// No purchase for at least `no_purchase_days` days: the lapse the falling
    /// share stops seeing once both its windows are empty.
    pub no_purchase: bool,
    /// Latest overall satisfaction below `low_satisfaction_below`.
    pub low_satisfaction: bool,
    /// At least `min_open_complaints` complaints open.
    pub open_complaints: bool,
    /// The owning rep's account is deactivated (the owner left).
    pub owner_inactive: bool,
}

/// One customer at risk.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AtRiskItem {
    pub customer_id: i64,
    pub name: String,
    pub owner_id: i64,
    /// Sum of the weights of the signals present.
    #[schema(example = 55)]
    pub score: i64,
    pub signals: RiskSignals,
    pub last_contact_at: Option<DateTime<Utc>>,
    /// Where the silence counts from: the latest of the last contact, the
    /// first purchase and the card's creation (a new buyer, or a card an ERP
    /// sync just loaded with years of orders, is no long silence).
    pub silent_since: DateTime<Utc>,
    pub last_purchase_at: Option<DateTime<Utc>>,
    /// Revenue in the last `share_window_days` days.
    pub revenue_recent_cents: i64,
    /// Revenue in the `share_window_days` days before that.
    pub revenue_before_cents: i64,
    /// The customer's currency (ISO 4217): the unit of the two revenues.
    #[schema(example = "CNY")]
    pub currency: String,
    pub satisfaction_overall: Option<f64>,
    pub open_complaints: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AtRiskPage {
    /// Highest score first; equal scores by customer id.
    pub items: Vec<AtRiskItem>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
    /// The instant the scores are reckoned at (the day counts and the
    /// revenue windows' starts): the first page's, kept by the pages read
    /// with its cursors, so that a card crossing a threshold as time passes
    /// is neither skipped nor listed twice. Writes made meanwhile still
    /// count (a new contact or order moves the card's score and place).
    pub as_of: DateTime<Utc>,
}

impl From<RiskRow> for AtRiskItem {
    fn from(r: RiskRow) -> Self {
        AtRiskItem {
            customer_id: r.id,
            name: r.name,
            owner_id: r.owner_id,
            score: r.score,
            signals: RiskSignals {
                no_contact: r.s_no_contact == 1,
                falling_share: r.s_falling_share == 1,
                no_purchase: r.s_no_purchase == 1,
                low_satisfaction: r.s_low_satisfaction == 1,
                open_complaints: r.s_open_complaints == 1,
                owner_inactive: r.s_owner_inactive == 1,
            },
            last_contact_at: r.last_contact_at.map(utc),
            silent_since: utc(r.silent_since),
            last_purchase_at: r.last_purchase_at.map(utc),
            revenue_recent_cents: r.revenue_recent_cents,
            revenue_before_cents: r.revenue_before_cents,
            currency: r.currency,
            satisfaction_overall: r.satisfaction_overall,
            open_complaints: r.open_complaints,
        }
    }
}

const SORT: &str = "churn_risk";

/// Customers at risk of churning: active, not churned, who have bought (a
/// purchase count above 0: a free service or a refunded order is none), with
/// a score of at least `min_score`; ranked by score (highest first). Signals:
/// no contact for N days (since the last contact, the first purchase or the
/// card's creation, whichever is latest), falling share of wallet (recent
/// revenue against the window before), no purchase for N days, low
/// satisfaction, open complaints, owner deactivated. The pages after the
/// first score as of its `as_of` under the same settings (their cursors
/// carry both).
#[utoipa::path(tag = "churn", params(AtRiskQuery), responses((status = 200, body = AtRiskPage)))]
#[get("/churn/at-risk")]
pub async fn at_risk(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: QueryParams<AtRiskQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let limit = page::limit(q.limit)?;
    let owner = q.owner_id;
    // One owner's cursor resumes only that owner's list: taken by another
    // owner's (or the whole list) it silently skipped the rows before it.
    let list = super::common::list_name("at-risk", owner);
    let after = q
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c, &list))
        .transpose()?;
    let (page, as_of) = state
        .db
        .report(move |conn| {
            let (s, version) = settings::get::<ChurnSettings>(conn, settings::CHURN)?;
            if after.as_ref().is_some_and(|a| a.version != version) {
                return Err(bad_cursor(
                    "the churn settings changed since this list's first page; start again without a cursor",
                ));
            }
            let as_of = after.as_ref().map_or_else(db::now, |a| a.as_of);
            let resume = after.map(|a| (a.score, a.id));
            let rows = churn_risk::page(conn, &s, as_of, owner, resume, limit)?;
            let page = page::finish(rows, limit, &list, |r| Cursor {
                s: SORT.into(),
                k: serde_json::json!([r.score, stamp(as_of), version]),
                id: r.id,
            });
            Ok((page, as_of))
        })
        .await?;
    Ok(HttpResponse::Ok().json(AtRiskPage {
        items: page.items.into_iter().map(AtRiskItem::from).collect(),
        next_cursor: page.next_cursor,
        as_of: utc(as_of),
    }))
}

/// Where a later page resumes, and what its first page was scored under.
/// Scored anew at each page's own "now", a card crossing a cutoff between
/// two pages (no contact for N days, a purchase leaving a window) changed
/// score and was skipped or listed twice without any write.
struct After {
    score: i64,
    id: i64,
    as_of: NaiveDateTime,
    /// The churn settings' version: other weights or thresholds reorder
    /// the whole list, which no position in the old order resumes.
    version: i64,
}

/// A cursor's key is `[score, as_of, settings version]`; one holding the
/// score alone was made before pages kept their instant and is refused.
fn decode_cursor(raw: &str, list: &str) -> Result<After, ApiError> {
    let c = Cursor::decode(raw, list, SORT)?;
    if c.k.is_number() {
        return Err(bad_cursor(
            "this cursor predates the list's fixed instant; start again without a cursor",
        ));
    }
    let corrupt = || bad_cursor("corrupt cursor");
    let [score, as_of, version] = c.k.as_array().map(Vec::as_slice).unwrap_or_default() else {
        return Err(corrupt());
    };
    Ok(After {
        score: score.as_i64().ok_or_else(corrupt)?,
        id: c.id,
        as_of: page::stamp_of(as_of)?,
        version: version.as_i64().ok_or_else(corrupt)?,
    })
}

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn bad_cursor(msg: &str) -> ApiError {
    ApiError::InvalidQuery(vec![FieldError::new("cursor", "invalid_value", msg)])
}
