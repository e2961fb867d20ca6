//! `/analytics/sales`: revenue and profit grouped by month, owner or product.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dates;
use super::extract::QueryParams;
use super::report_period;
use crate::auth::AuthUser;
use crate::db::analytics::{self, SalesKey};
use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SalesGroup {
    Month,
    Owner,
    Product,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SalesQuery {
    /// Start (inclusive); default: 12 months before `to`.
    #[serde(default, deserialize_with = "dates::optional")]
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive); default: now.
    #[serde(default, deserialize_with = "dates::optional")]
    pub to: Option<DateTime<Utc>>,
    /// `month` (default, UTC `YYYY-MM`), `owner` (the customer's current owner id) or `product`.
    #[param(inline)]
    pub group_by: Option<SalesGroup>,
    /// Only customers owned by this user.
    pub owner_id: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SalesRow {
    /// The month (`YYYY-MM`), the owner's user id (as text) or the product.
    #[schema(example = "2026-03")]
    pub key: String,
    /// Transactions recorded, free services (amount 0) included.
    pub transactions: i64,
    /// Distinct customers who bought: with a purchase (amount above 0)
    /// under the key.
    pub customers: i64,
    /// Sum of `amount_cents`.
    pub revenue_cents: i64,
    /// Sum of `amount_cents − cost_cents`.
    pub profit_cents: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SalesReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub group_by: SalesGroup,
    pub revenue_cents: i64,
    pub profit_cents: i64,
    /// Months in order; owners and products by revenue, highest first.
    pub rows: Vec<SalesRow>,
}

/// Revenue and profit of the transactions that occurred in `[from, to)`,
/// grouped by month, owner or product (amounts summed as recorded, whatever
/// their currency).
#[utoipa::path(tag = "analytics", params(SalesQuery), responses((status = 200, body = SalesReport)))]
#[get("/analytics/sales")]
pub async fn sales_report(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: QueryParams<SalesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let (from, to) = report_period::resolve(q.from, q.to)?;
    let group_by = q.group_by.unwrap_or(SalesGroup::Month);
    let key = match group_by {
        SalesGroup::Month => SalesKey::Month,
        SalesGroup::Owner => SalesKey::Owner,
        SalesGroup::Product => SalesKey::Product,
    };
    let owner = q.owner_id;
    let cells = state
        .db
        .report(move |conn| Ok(analytics::sales(conn, from, to, key, owner)?))
        .await?;
    Ok(HttpResponse::Ok().json(SalesReport {
        from: from.and_utc(),
        to: to.and_utc(),
        group_by,
        revenue_cents: cells
            .iter()
            .fold(0, |t, c| t.saturating_add(c.revenue_cents)),
        profit_cents: cells
            .iter()
            .fold(0, |t, c| t.saturating_add(c.profit_cents)),
        rows: cells
            .into_iter()
            .map(|c| SalesRow {
                key: c.key,
                transactions: c.transactions,
                customers: c.customers,
                revenue_cents: c.revenue_cents,
                profit_cents: c.profit_cents,
            })
            .collect(),
    }))
}
