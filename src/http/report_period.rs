//! The reporting period shared by the analytics endpoints: `[from, to)`,
//! defaulting to the 12 months before now.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::error::{ApiError, FieldError};

pub fn resolve(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(NaiveDateTime, NaiveDateTime), ApiError> {
    resolve_or(from, to, crate::db::stats::window_start)
}

/// [`resolve`] with another rule for the default `from`, given `to` (sent or
/// now): the same rule whether `to` was sent or not.
pub fn resolve_or(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    default_from: impl FnOnce(NaiveDateTime) -> NaiveDateTime,
) -> Result<(NaiveDateTime, NaiveDateTime), ApiError> {
    resolve_at(from, to, crate::db::now(), default_from)
}

/// [`resolve_or`] with `now` given (the default `to`).
pub fn resolve_at(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: NaiveDateTime,
    default_from: impl FnOnce(NaiveDateTime) -> NaiveDateTime,
) -> Result<(NaiveDateTime, NaiveDateTime), ApiError> {
    // Bounds beyond the four-digit years mean "since ever" or "until ever"
    // (schemathesis sends year 0 and 91 with offsets): clamped, as every
    // stored instant lies within them.
    use crate::domain::instants::bound;
    // Out-of-range years are clamped below; a leap second is refused.
    let leap: Vec<FieldError> = super::common::instants_out_of_range(&[("from", from), ("to", to)])
        .into_iter()
        .filter(|e| e.code == "leap_second")
        .collect();
    if !leap.is_empty() {
        return Err(ApiError::InvalidQuery(leap));
    }
    let to = to.map(|t| t.naive_utc()).unwrap_or(now);
    // As sent: two bounds that only meet once clamped (years 0 and 1) or
    // rounded to microseconds are an empty period, not a `from` after `to`
    // (a review: a 400 that was not true).
    if from.is_some_and(|f| f.naive_utc() >= to) {
        return Err(ApiError::InvalidQuery(vec![FieldError::new(
            "from",
            "range",
            "must be before `to`",
        )]));
    }
    let to = bound(to);
    let from = from
        .map(|t| bound(t.naive_utc()))
        // Clamped too (a `to` in year 1 put the default start in year 0),
        // and never past `to`: a default is not the client's error.
        .unwrap_or_else(|| bound(default_from(to)).min(to));
    Ok((from, to))
}
