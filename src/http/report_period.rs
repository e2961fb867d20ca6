//! The reporting period shared by the analytics endpoints: `[from, to)`,
//! defaulting to the 12 months before now.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::error::{ApiError, FieldError};

pub fn resolve(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(NaiveDateTime, NaiveDateTime), ApiError> {
    super::common::query_instants(&[("from", from), ("to", to)])?;
    let to = to.map(|t| t.naive_utc()).unwrap_or_else(crate::db::now);
    let from = from
        .map(|t| t.naive_utc())
        .unwrap_or_else(|| crate::db::stats::window_start(to));
    if from >= to {
        return Err(ApiError::InvalidQuery(vec![FieldError::new(
            "from",
            "range",
            "must be before `to`",
        )]));
    }
    Ok((from, to))
}
