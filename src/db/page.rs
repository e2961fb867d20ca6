//! Keyset pagination: a cursor holds the sort it belongs to and the sort key
//! and id of the last item seen, so pages never skip or repeat rows when
//! others are inserted meanwhile.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, FieldError};

/// A list's sort: one of its fields, ascending or (`-field`) descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub field: &'static str,
    pub descending: bool,
}

impl Sort {
    /// `raw` as sent (default `id`), one of `fields`; a 400 naming `sort`
    /// otherwise.
    pub fn parse_in(raw: Option<&str>, fields: &[&'static str]) -> Result<Sort, ApiError> {
        let raw = raw.unwrap_or("id");
        let (descending, name) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let field = fields.iter().find(|f| **f == name).ok_or_else(|| {
            ApiError::InvalidQuery(vec![FieldError::new(
                "sort",
                "invalid_value",
                format!(
                    "sort by one of {} (prefix - for descending)",
                    fields.join(", ")
                ),
            )])
        })?;
        Ok(Sort { field, descending })
    }

    /// As a cursor's `s` (`-updated_at`): a cursor pages only the sort it
    /// was made for.
    pub fn as_string(&self) -> String {
        if self.descending {
            format!("-{}", self.field)
        } else {
            self.field.to_string()
        }
    }
}

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cursor {
    /// The sort this cursor was made for, e.g. `-updated_at`.
    pub s: String,
    /// The last item's sort key (string, number or null).
    pub k: serde_json::Value,
    /// The last item's id (the tie-breaker).
    pub id: i64,
}

/// What a cursor string holds: the cursor and the list it was made for, so
/// that a cursor of one list is refused by another with the same sort (a
/// transactions cursor paged the interactions by its position). Cursors made
/// before lists were named have none and are taken as they were: an
/// integrator's saved change-feed cursor must survive an upgrade.
#[derive(Serialize, Deserialize)]
struct Tagged {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<String>,
    /// The day the list's first page took as today, for a list whose filter
    /// depends on the date (the customers' `birthday_within_days`): the
    /// following pages read the same day, so paging across midnight does
    /// not mix two days' windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    d: Option<NaiveDate>,
    #[serde(flatten)]
    c: Cursor,
}

impl Cursor {
    /// The opaque string of this cursor for `list`.
    pub fn encode(&self, list: &str) -> String {
        self.encode_on(list, None)
    }

    /// The opaque string of this cursor for `list`, read on `day` (see
    /// `Tagged::d`).
    pub fn encode_on(&self, list: &str, day: Option<NaiveDate>) -> String {
        let tagged = Tagged {
            l: Some(list.to_string()),
            d: day,
            c: self.clone(),
        };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tagged).unwrap_or_default())
    }

    /// Decodes a cursor and checks it was made for `list` and `sort`.
    pub fn decode(raw: &str, list: &str, sort: &str) -> Result<Cursor, ApiError> {
        Self::decode_on(raw, list, sort).map(|(cursor, _)| cursor)
    }

    /// As `decode`, with the day the cursor's list was read on, if it
    /// carries one (years 1900–9999, as a query's dates; a forged cursor
    /// with another is a 400).
    pub fn decode_on(
        raw: &str,
        list: &str,
        sort: &str,
    ) -> Result<(Cursor, Option<NaiveDate>), ApiError> {
        Self::decode_where(raw, |l| l == list, sort)
    }

    /// Checks a cursor as `decode` does, of `list` or of a list within it
    /// (`list:…`), whose full name is known only once its record is read
    /// (a dynamic segment's members, by its rule): the query's 400s before
    /// the record's 404.
    pub fn check_within(raw: &str, list: &str, sort: &str) -> Result<(), ApiError> {
        let within = |l: &str| {
            l.strip_prefix(list)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
        };
        Self::decode_where(raw, within, sort).map(drop)
    }

    fn decode_where(
        raw: &str,
        list_ok: impl Fn(&str) -> bool,
        sort: &str,
    ) -> Result<(Cursor, Option<NaiveDate>), ApiError> {
        let bad = |msg: &str| {
            ApiError::InvalidQuery(vec![FieldError::new("cursor", "invalid_value", msg)])
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim_end_matches('='))
            .map_err(|_| bad("not a cursor returned by this API"))?;
        let tagged: Tagged =
            serde_json::from_slice(&bytes).map_err(|_| bad("not a cursor returned by this API"))?;
        if tagged.l.as_deref().is_some_and(|l| !list_ok(l)) {
            return Err(bad(
                "this cursor belongs to another list; start again without a cursor",
            ));
        }
        // `sort` names the order and, for some lists, the filters (the
        // timeline's `types`): "another sort order" was untrue of a cursor
        // sent back with other types (a QA review).
        if tagged.c.s != sort {
            return Err(bad(
                "this cursor was made for another sort order or other filters; start again \
                 without a cursor",
            ));
        }
        // Patron's cursors hold no NUL; PostgreSQL refuses one in text (a 500).
        if has_nul(&tagged.c.k) {
            return Err(bad("not a cursor returned by this API"));
        }
        if tagged.d.is_some_and(|d| !DAY_YEARS.contains(&d.year())) {
            return Err(bad("corrupt cursor"));
        }
        Ok((tagged.c, tagged.d))
    }
}

/// The years of a cursor's day: those of a date in a request.
const DAY_YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

fn has_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        _ => false,
    }
}

impl Cursor {
    /// The key as an instant (the lists' `%Y-%m-%dT%H:%M:%S%.f` text), in the
    /// years 0001–9999: a forged cursor with another year, a NUL or no
    /// instant at all is a 400, not a statement the database refuses.
    pub fn stamp_key(&self) -> Result<chrono::NaiveDateTime, ApiError> {
        stamp_of(&self.k)
    }
}

/// An instant in a cursor's key (see [`Cursor::stamp_key`]). Only what the
/// server writes there: no leap second and no digit past the microsecond
/// (stored instants have neither), as the at-risk list echoes its key's
/// instant back as `as_of`, where a client's parser would refuse a `:60`.
pub fn stamp_of(v: &serde_json::Value) -> Result<chrono::NaiveDateTime, ApiError> {
    use crate::domain::instants;
    v.as_str()
        .and_then(|s| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok())
        .filter(|t| instants::YEARS.contains(&t.year()))
        .filter(|t| !instants::is_leap_second(*t) && super::micros(*t) == *t)
        .ok_or_else(|| {
            ApiError::InvalidQuery(vec![FieldError::new(
                "cursor",
                "invalid_value",
                "corrupt cursor",
            )])
        })
}

/// Checks `limit`, defaulting to 50.
pub fn limit(requested: Option<i64>) -> Result<i64, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::InvalidQuery(vec![FieldError::new(
            "limit",
            "range",
            format!("must be between 1 and {MAX_LIMIT}"),
        )])),
    }
}

/// One page of results.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Orders the boxed `$query` by `($col, $id)` (descending when
/// `$descending`) and, with a cursor's `$key` (`Option` of the sort key) and
/// `$after_id`, keeps the rows after it: the keyset paging of the lists
/// sorted by an instant (`$col` may be nullable: its rows without one are
/// the caller's to leave out).
macro_rules! keyset_by {
    ($query:ident, $col:expr, $id:expr, $key:expr, $after_id:expr, $descending:expr) => {{
        if let Some(key) = $key {
            $query = if $descending {
                $query
                    .filter($col.le(key))
                    .filter($col.lt(key).or($col.eq(key).and($id.lt($after_id))))
            } else {
                $query
                    .filter($col.ge(key))
                    .filter($col.gt(key).or($col.eq(key).and($id.gt($after_id))))
            };
        }
        $query = if $descending {
            $query.order(($col.desc(), $id.desc()))
        } else {
            $query.order(($col.asc(), $id.asc()))
        };
    }};
}
pub(crate) use keyset_by;

/// Orders the boxed `$query` by `$id` alone (descending when `$descending`)
/// and, with a cursor's `$after_id` (`Option`), keeps the rows after it: the
/// lists' default order.
macro_rules! keyset_by_id {
    ($query:ident, $id:expr, $after_id:expr, $descending:expr) => {{
        if let Some(after_id) = $after_id {
            $query = if $descending {
                $query.filter($id.lt(after_id))
            } else {
                $query.filter($id.gt(after_id))
            };
        }
        $query = if $descending {
            $query.order($id.desc())
        } else {
            $query.order($id.asc())
        };
    }};
}
pub(crate) use keyset_by_id;

/// Trims the extra row fetched to learn whether another page exists.
pub fn finish<T>(
    rows: Vec<T>,
    limit: i64,
    list: &str,
    cursor_of: impl Fn(&T) -> Cursor,
) -> Page<T> {
    finish_on(rows, limit, list, None, cursor_of)
}

/// As `finish`, for a list read on `day` (see `Tagged::d`).
pub fn finish_on<T>(
    mut rows: Vec<T>,
    limit: i64,
    list: &str,
    day: Option<NaiveDate>,
    cursor_of: impl Fn(&T) -> Cursor,
) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| cursor_of(r).encode_on(list, day))
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        let c = Cursor {
            s: "name".into(),
            k: serde_json::json!("张三"),
            id: 42,
        };
        let decoded = Cursor::decode(&c.encode("customers"), "customers", "name").ok();
        assert_eq!(decoded, Some(c.clone()));
        assert!(Cursor::decode(&c.encode("customers"), "customers", "-name").is_err());
        assert!(Cursor::decode(&c.encode("users"), "customers", "name").is_err());
        // A cursor made before lists were named is still good.
        let legacy = URL_SAFE_NO_PAD.encode(br#"{"s":"name","k":"\u5f20\u4e09","id":42}"#);
        assert_eq!(
            Cursor::decode(&legacy, "customers", "name").ok(),
            Some(c.clone())
        );
        assert!(Cursor::decode("garbage!", "customers", "name").is_err());
    }

    #[test]
    fn a_cursor_carries_the_day_its_list_was_read_on() {
        let c = Cursor {
            s: "id".into(),
            k: serde_json::Value::Null,
            id: 7,
        };
        let day = NaiveDate::from_ymd_opt(2026, 12, 31);
        let raw = c.encode_on("customers", day);
        assert_eq!(
            Cursor::decode_on(&raw, "customers", "id").ok(),
            Some((c.clone(), day))
        );
        // The day is checked with the rest: a foreign list is still refused.
        assert!(Cursor::decode_on(&raw, "users", "id").is_err());
        assert_eq!(
            Cursor::decode_on(&c.encode("customers"), "customers", "id").ok(),
            Some((c.clone(), None))
        );
        for forged in [
            br#"{"l":"customers","d":"0001-01-01","s":"id","k":null,"id":7}"#.as_slice(),
            br#"{"l":"customers","d":"2026-02-30","s":"id","k":null,"id":7}"#.as_slice(),
            br#"{"l":"customers","d":20261231,"s":"id","k":null,"id":7}"#.as_slice(),
        ] {
            let raw = URL_SAFE_NO_PAD.encode(forged);
            assert!(Cursor::decode_on(&raw, "customers", "id").is_err());
        }
    }

    #[test]
    fn limit_bounds() {
        assert_eq!(limit(None).ok(), Some(50));
        assert_eq!(limit(Some(500)).ok(), Some(500));
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(501)).is_err());
    }

    #[test]
    fn finish_sets_next_cursor_only_when_more() {
        let page = finish(vec![1, 2, 3], 2, "users", |n| Cursor {
            s: "id".into(),
            k: serde_json::Value::Null,
            id: *n,
        });
        assert_eq!(page.items, vec![1, 2]);
        assert!(page.next_cursor.is_some());
        let page = finish(vec![1, 2], 2, "users", |n| Cursor {
            s: "id".into(),
            k: serde_json::Value::Null,
            id: *n,
        });
        assert!(page.next_cursor.is_none());
    }
}

/// Where a newest-first feed resumes: strictly before `at`, at or before
/// `at`, or at `at` only for ids below `id` (the tie-breaker within one source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Before {
    Lt(chrono::NaiveDateTime),
    Le(chrono::NaiveDateTime),
    LtId(chrono::NaiveDateTime, i64),
}
