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

/// The years a stored instant may fall in (UTC), as for dates: chrono reads
/// any signed year, PostgreSQL refuses some (a 500) and SQLite stores the
/// rest as text that sorts wrongly (`-5000` before `2026`, `+10000` too).
const STORED_YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

/// The years an instant in a query may name (a filter bound, a cursor's
/// key): 0001 is the lists' stand-in for "no date", and every such year
/// compares the same way on both engines.
pub const QUERY_YEARS: std::ops::RangeInclusive<i32> = crate::domain::instants::YEARS;

/// Validator rule: an instant in years 1900–9999 (UTC), not a leap second.
pub fn instant(t: &DateTime<Utc>) -> Result<(), ValidationError> {
    use chrono::Datelike;
    if is_leap_second(t) {
        return Err(ValidationError::new("leap_second").with_message(Cow::Borrowed(LEAP_SECOND)));
    }
    if STORED_YEARS.contains(&t.year()) {
        Ok(())
    } else {
        Err(ValidationError::new("range")
            .with_message(Cow::Borrowed("must be in the years 1900 to 9999 (UTC)")))
    }
}

const LEAP_SECOND: &str = crate::domain::instants::LEAP_SECOND_MESSAGE;

/// chrono reads a second of 60 at any minute (RFC 3339 allows it only at a
/// real leap second); neither engine stores one alike (SQLite's `strftime`
/// returns NULL for it: a 500 in the monthly report), and clients' parsers
/// refuse it on the way back.
fn is_leap_second(t: &DateTime<Utc>) -> bool {
    crate::domain::instants::is_leap_second(t.naive_utc())
}

/// Validator rule: a past (or present) instant, not a future one, from 1900.
pub fn not_future(t: &DateTime<Utc>) -> Result<(), ValidationError> {
    instant(t)?;
    if *t > Utc::now() + Duration::minutes(FUTURE_SKEW_MINUTES) {
        Err(ValidationError::new("range").with_message(Cow::Borrowed(
            "must not be in the future (more than 5 minutes ahead of the server's clock)",
        )))
    } else {
        Ok(())
    }
}

/// One instant filter of a list (see `query_instants`), as the bound of the
/// database's `>=` (`updated_since`).
pub fn query_instant(
    name: &str,
    t: Option<DateTime<Utc>>,
) -> Result<Option<chrono::NaiveDateTime>, ApiError> {
    query_instants(&[(name, t)])?;
    Ok(bound(t))
}

/// A query's instant as the bound of the database's `>=` or `<` (every
/// list filter is one or the other): see `domain::instants::bound`.
pub fn bound(t: Option<DateTime<Utc>>) -> Option<chrono::NaiveDateTime> {
    t.map(|t| crate::domain::instants::bound(t.naive_utc()))
}

/// A list's instant filters, each checked against `QUERY_YEARS`: a 400
/// naming every parameter out of range.
pub fn query_instants(filters: &[(&str, Option<DateTime<Utc>>)]) -> Result<(), ApiError> {
    query_errors(instants_out_of_range(filters))
}

/// A list's query errors as its 400, or none.
pub fn query_errors(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::InvalidQuery(errors))
    }
}

/// A pair of a list's instant filters, `low` (its `>=`) and `high` (its
/// `<`), that no stored instant meets together: a 400 naming `low`, as the
/// period reports refuse `from >= to`. It was an empty page, which reads as
/// "nothing happened" to a client that swapped the two. Compared as bounds,
/// so a pair a sub-microsecond apart is judged as the database would.
pub fn empty_period(
    low: (&str, Option<DateTime<Utc>>),
    high: (&str, Option<DateTime<Utc>>),
) -> Option<FieldError> {
    match (bound(low.1), bound(high.1)) {
        (Some(l), Some(h)) if l >= h => Some(FieldError::new(
            low.0,
            "range",
            format!("must be before `{}`", high.0),
        )),
        _ => None,
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

/// Whether a PATCH's `external_id` (`sent`: absent, null or a value,
/// stored trimmed) changes or clears the key `current` a record already
/// has. Read from the request, before the `If-Match` check, as an owner
/// change is: a user who may not change it got a 412 for a stale version,
/// then a 403 on the resend with the fresh one.
pub fn changes_set_key(current: Option<&str>, sent: Option<&Option<String>>) -> bool {
    match (current, sent) {
        (Some(current), Some(sent)) => clean(sent.clone()).as_deref() != Some(current),
        _ => false,
    }
}

/// The customer of a list of a customer's records is named by the path on
/// `/customers/{id}/…`, by the query's `customer_id` on the list of all:
/// both, naming different customers, is this error (the query's was ignored
/// before), collected with the query's others.
pub fn customer_mismatch(path: Option<i64>, query: Option<i64>) -> Option<FieldError> {
    match (path, query) {
        (Some(p), Some(q)) if p != q => Some(FieldError::new(
            "customer_id",
            "not_allowed",
            "the path names the customer; leave customer_id out",
        )),
        _ => None,
    }
}

/// An error for each of `filters` outside `QUERY_YEARS`, for a check that
/// collects its own.
pub fn instants_out_of_range(filters: &[(&str, Option<DateTime<Utc>>)]) -> Vec<FieldError> {
    use chrono::Datelike;
    filters
        .iter()
        .filter_map(|(name, t)| match t {
            Some(t) if is_leap_second(t) => {
                Some(FieldError::new(*name, "leap_second", LEAP_SECOND))
            }
            Some(t) if !QUERY_YEARS.contains(&t.year()) => Some(FieldError::new(
                *name,
                "range",
                crate::domain::instants::YEARS_MESSAGE,
            )),
            _ => None,
        })
        .collect()
}

/// The cursor's list name of a list that is also nested under a customer
/// (`/interactions` and `/customers/{id}/interactions`): one list per
/// customer listed (by the path or by `?customer_id=`, which list the
/// same), so another card's cursor is a 400, not a page that silently skips
/// rows.
pub fn list_name(list: &str, customer_id: Option<i64>) -> String {
    match customer_id {
        Some(id) => format!("{list}:{id}"),
        None => list.to_string(),
    }
}

/// The cursor's list name of `list` asked with `filters`: a cursor is one
/// list's, so one taken by other filters (a status tab switched with the
/// cursor kept) is a 400, where it resumed at its position and silently
/// skipped the rows of the other list before it (a QA review; the customer
/// list's rule). `filters` are the codes, ids and texts that pick the rows,
/// not the time bounds (`from`, `to`, `updated_since`, `follow_up_before`),
/// which a client may move between pages ("due now", a sliding window) and
/// which never put rows before the cursor's position in a list sorted by
/// them. Without any (all `None`), the plain name: its cursors made before
/// this rule still read.
pub fn filtered_list_name(list: &str, filters: &impl std::fmt::Debug) -> String {
    match filters_hash(filters) {
        Some(hash) => format!("{list}:{hash}"),
        None => list.to_string(),
    }
}

/// `filters` in their `Debug` form, hashed; `None` when none is set (the
/// form holds no `Some(`: every filter must be an `Option`, as a `Vec` or a
/// `bool` set would not show). A release that changes a filter's form names
/// the list anew: cursors are not kept across an upgrade.
pub fn filters_hash(filters: &impl std::fmt::Debug) -> Option<String> {
    use sha2::{Digest, Sha256};
    let text = format!("{filters:?}");
    if !text.contains("Some(") {
        return None;
    }
    let digest = Sha256::digest(text.as_bytes());
    Some(hex::encode(&digest[..8]))
}
