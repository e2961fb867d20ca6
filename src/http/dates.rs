//! Dates and instants of requests (bodies, bulk items, query strings), read
//! strictly in the RFC 3339 forms the spec names (`domain::instants`).
//!
//! chrono's serde impls are relaxed: `+2026-1-1`, ` 2026-12-31` and
//! `2026-01-05T0:0:0Z` were taken and normalized, `02026-01-01` refused. The
//! request structs keep chrono's types and read them through these functions
//! (`#[serde(default, deserialize_with = "dates::optional")]`, or
//! `dates::nullable` for a PATCH field where `null` clears or is refused).
//! The views keep chrono's readers: the server writes them.
//!
//! A value that does not read is a serde error worded by `wording` (the
//! field named, `invalid_type`; `invalid_value` when it is not in the
//! calendar), as any other type error.

use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::de::{self, Deserializer, Visitor};

use crate::domain::instants;

/// A date or an instant, read from its RFC 3339 text.
pub trait Strict: Sized {
    /// What serde says it expected when given another JSON type: chrono's
    /// words, which `wording::expected` turns into the API's.
    const EXPECTED: &'static str;
    fn read(s: &str) -> Result<Self, instants::Unreadable>;
}

impl Strict for NaiveDate {
    const EXPECTED: &'static str = "a formatted date string";
    fn read(s: &str) -> Result<Self, instants::Unreadable> {
        instants::parse_date(s)
    }
}

/// An instant with the offset it was sent with (its wall clock there).
impl Strict for DateTime<FixedOffset> {
    const EXPECTED: &'static str = "an RFC 3339 formatted date and time string";
    fn read(s: &str) -> Result<Self, instants::Unreadable> {
        instants::parse_instant(s)
    }
}

impl Strict for DateTime<Utc> {
    const EXPECTED: &'static str = "an RFC 3339 formatted date and time string";
    fn read(s: &str) -> Result<Self, instants::Unreadable> {
        instants::parse_instant(s).map(|t| t.with_timezone(&Utc))
    }
}

struct Text<T>(PhantomData<T>);

impl<T: Strict> Visitor<'_> for Text<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTED)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        T::read(s).map_err(E::custom)
    }
}

/// One value, not null.
struct One<T>(T);

impl<'de, T: Strict> serde::Deserialize<'de> for One<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Text(PhantomData)).map(One)
    }
}

/// An `Option<T>` field: absent (with `#[serde(default)]`) or `null` is
/// `None`.
pub fn optional<'de, D: Deserializer<'de>, T: Strict>(d: D) -> Result<Option<T>, D::Error> {
    <Option<One<T>> as serde::Deserialize>::deserialize(d).map(|v| v.map(|One(t)| t))
}

/// A PATCH's `Option<Option<T>>` field (with `#[serde(default)]`): absent is
/// `None`, `null` is `Some(None)` (see `customer_input::nullable`).
pub fn nullable<'de, D: Deserializer<'de>, T: Strict>(d: D) -> Result<Option<Option<T>>, D::Error> {
    optional(d).map(Some)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        #[serde(default, deserialize_with = "optional")]
        day: Option<NaiveDate>,
        #[serde(default, deserialize_with = "nullable")]
        at: Option<Option<DateTime<Utc>>>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Query {
        #[serde(default, deserialize_with = "optional")]
        from: Option<DateTime<Utc>>,
    }

    #[test]
    fn bodies_read_only_the_rfc_3339_forms() {
        let body: Body =
            serde_json::from_value(json!({"day": "2026-01-05", "at": null})).expect("reads");
        assert_eq!(body.day, NaiveDate::from_ymd_opt(2026, 1, 5));
        assert_eq!(body.at, Some(None));
        let body: Body = serde_json::from_value(json!({})).expect("reads");
        assert_eq!((body.day, body.at), (None, None));
        let body: Body =
            serde_json::from_value(json!({"at": "2026-01-05T08:00:00+08:00"})).expect("reads");
        assert_eq!(
            body.at.flatten().map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-01-05T00:00:00+00:00")
        );
        for bad in [
            json!({"day": "+2026-1-1"}),
            json!({"day": " 2026-12-31"}),
            json!({"at": "2026-01-05T0:0:0Z"}),
            json!({"at": "+2026-01-05T00:00:00Z"}),
            json!({"day": 20260105}),
        ] {
            assert!(
                serde_json::from_value::<Body>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn queries_read_only_the_rfc_3339_forms() {
        let q: Query = serde_urlencoded::from_str("from=2026-01-05T00%3A00%3A00Z").expect("reads");
        assert!(q.from.is_some());
        let q: Query = serde_urlencoded::from_str("").expect("reads");
        assert!(q.from.is_none());
        let e = serde_urlencoded::from_str::<Query>("from=%2B2026-1-1T0:0:0Z").expect_err("bad");
        assert_eq!(e.to_string(), instants::FORMAT_ERROR);
    }
}
