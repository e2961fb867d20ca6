//! The instants both engines compare alike: years 0001–9999. PostgreSQL
//! refuses some years outside them and SQLite compares stored instants as
//! text, where `-5000-…` and `+10000-…` sort among the four-digit years.
//! Stored instants are kept inside (requests are checked); a bound computed
//! for a comparison (a segment rule's `+9999999d`, a report's period) is
//! clamped to them, which compares every stored instant the same way.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// The years both engines compare alike.
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// The first and last instants of [`YEARS`].
pub fn range() -> (NaiveDateTime, NaiveDateTime) {
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    (
        day(*YEARS.start(), 1, 1).and_time(NaiveTime::MIN),
        day(*YEARS.end(), 12, 31)
            .and_hms_micro_opt(23, 59, 59, 999_999)
            .unwrap_or_default(),
    )
}

/// `t`, clamped to years 0001–9999.
pub fn comparable(t: NaiveDateTime) -> NaiveDateTime {
    let (first, last) = range();
    t.clamp(first, last)
}

/// A query's instant as the bound of a `>=` or `<` comparison with stored
/// instants (microseconds on both engines): clamped, and a fraction finer
/// than a microsecond rounded up, so `t >= bound` and `t < bound` hold for
/// exactly the stored instants they would hold for at full precision.
/// (PostgreSQL truncated the bound: `from=…30.9021145Z` took a row stored at
/// `…30.902114`.)
pub fn bound(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::{SubsecRound, TimeDelta};
    let t = comparable(t);
    let whole = t.trunc_subsecs(6);
    if whole == t {
        return t;
    }
    whole
        .checked_add_signed(TimeDelta::microseconds(1))
        .unwrap_or(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_finer_than_a_microsecond_round_up() {
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.naive_utc())
                .unwrap_or_else(|e| panic!("{s}: {e}"))
        };
        assert_eq!(
            bound(at("2026-12-03T10:00:30.9021145Z")),
            at("2026-12-03T10:00:30.902115Z")
        );
        assert_eq!(
            bound(at("2026-12-03T10:00:30.902114001Z")),
            at("2026-12-03T10:00:30.902115Z")
        );
        for exact in ["2026-12-03T10:00:30.902114Z", "2026-12-03T10:00:30Z"] {
            assert_eq!(bound(at(exact)), at(exact));
        }
        assert_eq!(
            bound(at("2026-12-31T23:59:59.9999999Z")),
            at("2027-01-01T00:00:00Z")
        );
        let (_, last) = range();
        assert_eq!(bound(NaiveDateTime::MAX), last);
    }

    #[test]
    fn instants_beyond_the_four_digit_years_are_clamped_to_them() {
        let (first, last) = range();
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.naive_utc())
                .unwrap_or_else(|e| panic!("{s}: {e}"))
        };
        assert_eq!(comparable(at("9999-12-31T23:59:59-23:59")), last);
        assert_eq!(last.to_string(), "9999-12-31 23:59:59.999999");
        assert_eq!(first.to_string(), "0001-01-01 00:00:00");
        let inside = at("2026-12-03T08:00:00Z");
        assert_eq!(comparable(inside), inside);
        assert_eq!(comparable(NaiveDateTime::MIN), first);
        assert_eq!(comparable(NaiveDateTime::MAX), last);
    }
}
