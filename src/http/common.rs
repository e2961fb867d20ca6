//! Small pieces the resource handlers share.

use std::borrow::Cow;

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use validator::ValidationError;

use super::precondition::etag;
use crate::error::{ApiError, FieldError};

/// Clock skew tolerated for "when it happened" fields.
const FUTURE_SKEW_MINUTES: i64 = 5;

/// Validator rule: a past (or present) instant, not a future one.
pub fn not_future(t: &DateTime<Utc>) -> Result<(), ValidationError> {
    if *t > Utc::now() + Duration::minutes(FUTURE_SKEW_MINUTES) {
        Err(ValidationError::new("range").with_message(Cow::Borrowed("must not be in the future")))
    } else {
        Ok(())
    }
}

/// A versioned resource response: `ETag`, and `Location` when created.
pub fn versioned<T: Serialize>(
    status: StatusCode,
    version: i64,
    location: Option<String>,
    body: &T,
) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.insert_header(etag(version));
    if let Some(location) = location.filter(|_| status == StatusCode::CREATED) {
        response.insert_header((header::LOCATION, location));
    }
    response.json(body)
}

/// Trims optional text; blank becomes absent.
pub fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The customer a list of a customer's records is for: the path's on
/// `/customers/{id}/…`, the query's `customer_id` on the list of all. Both,
/// naming different customers, is a 400 (the query's was ignored before).
pub fn listed_customer(path: Option<i64>, query: Option<i64>) -> Result<Option<i64>, ApiError> {
    match (path, query) {
        (Some(p), Some(q)) if p != q => Err(ApiError::InvalidQuery(vec![FieldError::new(
            "customer_id",
            "not_allowed",
            "the path names the customer; leave customer_id out",
        )])),
        _ => Ok(path.or(query)),
    }
}
