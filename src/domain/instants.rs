//! The instants both engines compare alike: years 0001–9999. PostgreSQL
//! refuses some years outside them and SQLite compares stored instants as
//! text, where `-5000-…` and `+10000-…` sort among the four-digit years.
//! Stored instants are kept inside (requests are checked); a bound computed
//! for a comparison (a segment rule's `+9999999d`, a report's period) is
//! clamped to them, which compares every stored instant the same way.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};

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

/// Why a request's date or instant was not read: its form is not RFC 3339's
/// (`Display`: [`FORMAT_ERROR`]), or it is not in the calendar (chrono's
/// words, [`CALENDAR_ERROR`]). `http::wording` words both for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    Format,
    Calendar,
    /// ` 08:00` where the offset goes: a `+` sent unencoded in a query
    /// string, which decodes it as a space ([`PLUS_AS_SPACE_ERROR`]).
    PlusAsSpace,
}

/// The text of [`Unreadable::Format`].
pub const FORMAT_ERROR: &str = "not in the RFC 3339 form";
/// The text of [`Unreadable::Calendar`]: chrono's, which the wording of
/// chrono's own errors already maps.
pub const CALENDAR_ERROR: &str = "input is out of range";
/// The text of [`Unreadable::PlusAsSpace`].
pub const PLUS_AS_SPACE_ERROR: &str = "not in the RFC 3339 form: a space where the offset's \
sign goes (2026-12-04T09:30:00+08:00); in a query string a `+` sent unencoded reads as a \
space: send it there as `%2B`";

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unreadable::Format => FORMAT_ERROR,
            Unreadable::Calendar => CALENDAR_ERROR,
            Unreadable::PlusAsSpace => PLUS_AS_SPACE_ERROR,
        })
    }
}

/// A date exactly as RFC 3339's `full-date` (`2026-01-05`): four-digit
/// year, two-digit month and day. chrono's own reader took `+2026-1-5`,
/// `02026-01-05` refused, and ` 2026-01-05` (padding and a sign allowed):
/// a form the spec (`format: date`) does not describe, silently normalized.
pub fn parse_date(s: &str) -> Result<NaiveDate, Unreadable> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if !shaped {
        return Err(Unreadable::Format);
    }
    let number = |from: usize, to: usize| -> u32 {
        b[from..to]
            .iter()
            .fold(0, |n, c| n * 10 + u32::from(c - b'0'))
    };
    // Four digits are at most 9999: the cast is exact.
    #[allow(clippy::cast_possible_wrap)]
    let year = number(0, 4) as i32;
    NaiveDate::from_ymd_opt(year, number(5, 7), number(8, 10)).ok_or(Unreadable::Calendar)
}

/// An instant exactly as RFC 3339's `date-time` (`2026-01-05T08:30:00Z`,
/// `…T08:30:00.5+08:00`; `T` and `Z` in either case). chrono's serde reader
/// is relaxed (`+2026-01-05T0:0:0Z`, surrounding spaces, `UTC` for `Z`);
/// its `parse_from_rfc3339` is RFC 3339 but for a space in place of `T`
/// (which the RFC leaves to applications) and U+2212 for the offset's minus,
/// both refused here. A leap second (`:60`) is read: the callers refuse it
/// with its own code.
pub fn parse_instant(s: &str) -> Result<DateTime<FixedOffset>, Unreadable> {
    let b = s.as_bytes();
    if !s.is_ascii() || !matches!(b.get(10), Some(b'T' | b't')) {
        return Err(Unreadable::Format);
    }
    DateTime::parse_from_rfc3339(s).map_err(|e| match e.kind() {
        chrono::format::ParseErrorKind::OutOfRange => Unreadable::Calendar,
        _ if plus_as_space(s) => Unreadable::PlusAsSpace,
        _ => Unreadable::Format,
    })
}

/// `…T09:30:00 08:00`: the instant with `+` in place of the space reads.
fn plus_as_space(s: &str) -> bool {
    let at = s.len().saturating_sub(6);
    s.as_bytes().get(at) == Some(&b' ')
        && DateTime::parse_from_rfc3339(&format!("{}+{}", &s[..at], &s[at + 1..])).is_ok()
}

/// Whether `t` holds a leap second (`:60`, which RFC 3339 parsers read at
/// any minute): chrono keeps it as a nanosecond past 999,999,999.
pub fn is_leap_second(t: NaiveDateTime) -> bool {
    use chrono::Timelike;
    t.nanosecond() >= 1_000_000_000
}

/// The words of a leap second refused.
pub const LEAP_SECOND_MESSAGE: &str =
    "must not be a leap second (:60); send :59.999999 or the next second";

/// The words of an instant of a filter outside [`YEARS`].
pub const YEARS_MESSAGE: &str = "must be in the years 0001 to 9999 (UTC)";

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

    #[test]
    fn dates_are_read_only_in_the_rfc_3339_form() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(parse_date("2026-01-05").ok(), day(2026, 1, 5));
        assert_eq!(parse_date("0000-01-01").ok(), day(0, 1, 1));
        assert_eq!(parse_date("9999-12-31").ok(), day(9999, 12, 31));
        for bad in [
            "+2026-1-1",
            "2026-2-3",
            " 2026-12-31",
            "2026-12-31 ",
            "+02026-01-01",
            "02026-01-01",
            "-2026-01-01",
            "2026/01/05",
            "20260105",
            "2026-01-05T00:00:00Z",
            "２０２６-01-05",
            "",
        ] {
            assert_eq!(parse_date(bad), Err(Unreadable::Format), "{bad:?}");
        }
        for off in ["2026-02-30", "2026-13-01", "2026-00-10", "2025-02-29"] {
            assert_eq!(parse_date(off), Err(Unreadable::Calendar), "{off:?}");
        }
    }

    #[test]
    fn instants_are_read_only_in_the_rfc_3339_form() {
        let utc = |s: &str| parse_instant(s).map(|t| t.naive_utc().to_string());
        assert_eq!(
            utc("2026-01-05T08:30:00Z").as_deref(),
            Ok("2026-01-05 08:30:00")
        );
        assert_eq!(
            utc("2026-01-05t08:30:00.25+08:00").as_deref(),
            Ok("2026-01-05 00:30:00.250")
        );
        assert_eq!(
            utc("2026-01-05T08:30:00.123456789z").as_deref(),
            Ok("2026-01-05 08:30:00.123456789")
        );
        assert!(parse_instant("2016-12-31T23:59:60Z").is_ok_and(|t| is_leap_second(t.naive_utc())));
        for bad in [
            "2026-01-05T0:0:0Z",
            "+2026-01-05T00:00:00Z",
            " 2026-01-05T00:00:00Z",
            "2026-01-05T00:00:00Z ",
            "2026-01-05 00:00:00Z",
            "2026-1-5T00:00:00Z",
            "02026-01-05T00:00:00Z",
            "2026-01-05T00:00:00",
            "2026-01-05T00:00:00UTC",
            "2026-01-05T00:00:00+0800",
            "2026-01-05T00:00:00+8:00",
            "2026-01-05T00:00:00\u{2212}08:00",
            "2026-01-05T00:00:00.Z",
            "2026-01-05",
            "",
        ] {
            assert_eq!(parse_instant(bad), Err(Unreadable::Format), "{bad:?}");
        }
        for off in [
            "2026-02-30T00:00:00Z",
            "2026-01-05T24:00:00Z",
            "2026-01-05T23:60:00Z",
            "2026-01-05T00:00:61Z",
            "2026-01-05T00:00:00+24:00",
        ] {
            assert_eq!(parse_instant(off), Err(Unreadable::Calendar), "{off:?}");
        }
    }
}
