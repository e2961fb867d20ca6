//! `POST /analytics/customer-share`: the market customer-share calculator
//! (客户份额, DOMAIN.md §12). Pure arithmetic: `domain::market`.

use actix_web::{post, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{JsonBody, NoQuery};
use crate::auth::AuthUser;
use crate::domain::market::{self, MarketInputs};
use crate::error::{ApiError, FieldError};

/// The market funnel, from population to spenders.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"population": 5000000, "segment_ratio": 0.15, "reachable_ratio": 0.20,
    "valid_ratio": 0.6666666667, "spender_ratio": 0.20, "annual_spend": 3000}))]
pub struct CustomerShareInput {
    /// People in the market area (> 0).
    #[schema(required = true, value_type = i64, minimum = 1, example = 5000000)]
    pub population: Option<i64>,
    /// Share of the population in the segment, e.g. aged 45+ (0–1).
    #[schema(required = true, value_type = f64, minimum = 0, maximum = 1)]
    pub segment_ratio: Option<f64>,
    /// Share of the segment reachable and with purchasing power: the target customers (0–1).
    #[schema(required = true, value_type = f64, minimum = 0, maximum = 1)]
    pub reachable_ratio: Option<f64>,
    /// Share of target customers that are valid (0–1).
    #[schema(required = true, value_type = f64, minimum = 0, maximum = 1)]
    pub valid_ratio: Option<f64>,
    /// Share of valid customers who spend (0–1).
    #[schema(required = true, value_type = f64, minimum = 0, maximum = 1)]
    pub spender_ratio: Option<f64>,
    /// Yearly spend of one spender (≥ 0; any unit, the revenue is in the same unit).
    #[schema(required = true, value_type = i64, minimum = 0)]
    pub annual_spend: Option<i64>,
    /// Customers won so far (0 to the target customers); default: the valid
    /// customers. The revenue at stake must fit in 64 bits.
    #[schema(minimum = 0)]
    pub customers_won: Option<i64>,
}

/// Each count is rounded to a whole customer at its own step.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"segment_size": 750000, "target_customers": 150000, "valid_customers": 100000,
    "spenders": 20000, "revenue": 60000000, "customers_won": 100000, "customer_share": 0.667}))]
pub struct CustomerShareResult {
    /// population × segment_ratio.
    pub segment_size: i64,
    /// segment_size × reachable_ratio.
    pub target_customers: i64,
    /// target_customers × valid_ratio.
    pub valid_customers: i64,
    /// valid_customers × spender_ratio.
    pub spenders: i64,
    /// spenders × annual_spend: the revenue at stake per year.
    pub revenue: i64,
    /// As sent, or the valid customers.
    pub customers_won: i64,
    /// customers_won ÷ target_customers, rounded to 3 decimals; null without target customers.
    pub customer_share: Option<f64>,
}

/// Compute the customer share of a market: segment, target, valid customers,
/// spenders, revenue at stake and the share won (422 naming every bad field).
#[utoipa::path(tag = "analytics", request_body = CustomerShareInput, responses((status = 200, body = CustomerShareResult)))]
#[post("/analytics/customer-share")]
pub async fn customer_share(
    _user: AuthUser,
    _query: NoQuery,
    body: JsonBody<CustomerShareInput>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let mut errors: Vec<FieldError> = [
        ("population", b.population.is_none()),
        ("segment_ratio", b.segment_ratio.is_none()),
        ("reachable_ratio", b.reachable_ratio.is_none()),
        ("valid_ratio", b.valid_ratio.is_none()),
        ("spender_ratio", b.spender_ratio.is_none()),
        ("annual_spend", b.annual_spend.is_none()),
    ]
    .into_iter()
    .filter(|(_, missing)| *missing)
    .map(|(f, _)| FieldError::new(f, "required", "is required"))
    .collect();
    // Missing fields stand in as neutral values so the others are still checked.
    let inputs = MarketInputs {
        population: b.population.unwrap_or(1),
        segment_ratio: b.segment_ratio.unwrap_or(0.0),
        reachable_ratio: b.reachable_ratio.unwrap_or(0.0),
        valid_ratio: b.valid_ratio.unwrap_or(0.0),
        spender_ratio: b.spender_ratio.unwrap_or(0.0),
        annual_spend: b.annual_spend.unwrap_or(0),
        customers_won: b.customers_won,
    };
    let missing: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    let problems = market::problems(&inputs, &missing);
    errors.extend(
        problems
            .into_iter()
            .map(|(f, m)| FieldError::new(f, "range", m)),
    );
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let r = market::customer_share(&inputs);
    Ok(HttpResponse::Ok().json(CustomerShareResult {
        segment_size: r.segment_size,
        target_customers: r.target_customers,
        valid_customers: r.valid_customers,
        spenders: r.spenders,
        revenue: r.revenue,
        customers_won: r.customers_won,
        customer_share: r.customer_share.map(|s| (s * 1000.0).round() / 1000.0),
    }))
}
