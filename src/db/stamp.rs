//! Timestamp columns read without chrono's format-string parser.
//!
//! SQLite stores a timestamp as text (`2026-07-16 07:05:22.123456`), and
//! diesel decodes it by trying up to 18 `strftime` formats with
//! `NaiveDateTime::parse_from_str`, which re-parses the format string every
//! time: 7–8 % of a list page's CPU went there (ten timestamps a card,
//! docs/BENCHMARKS.md session 27). The card's structs read their timestamps
//! through [`Stamp`] and [`OptStamp`] (`#[diesel(deserialize_as = …)]`):
//! the shape diesel writes is parsed by hand, anything else goes to diesel's
//! own decoder, so every value diesel accepts is still accepted. PostgreSQL
//! sends timestamps in binary and gets diesel's decoder unchanged.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::Pg;
use diesel::sql_types::{Nullable, Timestamp};
use diesel::sqlite::{Sqlite, SqliteType};

use super::MultiBackend;

/// A `Timestamp` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub struct Stamp(pub NaiveDateTime);

/// A `Nullable<Timestamp>` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub struct OptStamp(pub Option<NaiveDateTime>);

impl From<Stamp> for NaiveDateTime {
    fn from(s: Stamp) -> Self {
        s.0
    }
}

impl From<OptStamp> for Option<NaiveDateTime> {
    fn from(s: OptStamp) -> Self {
        s.0
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional `.` and 1–9 digits of fraction
/// (`T` also separates date and time); `None` for anything else, which the
/// caller hands to diesel.
pub fn parse(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let digits = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let separators = b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b' ' || b[10] == b'T')
        && b[13] == b':'
        && b[16] == b':';
    if !separators {
        return None;
    }
    let year = i32::try_from(digits(0, 4)?).ok()?;
    let (month, day) = (digits(5, 7)?, digits(8, 10)?);
    let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
    // A leap second (60) is chrono's to represent: leave it to diesel.
    if second > 59 {
        return None;
    }
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(20, b.len())? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    NaiveDate::from_ymd_opt(year, month, day)?.and_hms_nano_opt(hour, minute, second, nanos)
}

impl FromSql<Timestamp, Sqlite> for Stamp {
    fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        if value.value_type() == Some(SqliteType::Text) {
            if let Some(t) = parse(value.read_text()) {
                return Ok(Stamp(t));
            }
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Stamp)
    }
}

impl FromSql<Timestamp, Pg> for Stamp {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Stamp)
    }
}

impl FromSql<Timestamp, MultiBackend> for Stamp {
    fn from_sql(value: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<Self, Timestamp>()
    }
}

/// The three backends' `Nullable<Timestamp>`: `NULL` is `None`, a value is
/// read as a [`Stamp`].
macro_rules! nullable_stamp {
    ($($backend:ty),*) => {$(
        impl FromSql<Nullable<Timestamp>, $backend> for OptStamp {
            fn from_sql(value: <$backend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                <Stamp as FromSql<Timestamp, $backend>>::from_sql(value).map(|s| OptStamp(Some(s.0)))
            }

            fn from_nullable_sql(
                value: Option<<$backend as Backend>::RawValue<'_>>,
            ) -> deserialize::Result<Self> {
                match value {
                    Some(value) => <Self as FromSql<Nullable<Timestamp>, $backend>>::from_sql(value),
                    None => Ok(OptStamp(None)),
                }
            }
        }
    )*};
}
nullable_stamp!(Sqlite, Pg, MultiBackend);

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use diesel::sql_types::Text;
    use diesel::{sql_query, Connection, QueryableByName, RunQueryDsl, SqliteConnection};

    #[derive(QueryableByName)]
    struct OursOnly {
        #[diesel(sql_type = Timestamp)]
        t: Stamp,
    }

    #[derive(QueryableByName)]
    struct DieselsOnly {
        #[diesel(sql_type = Timestamp)]
        t: NaiveDateTime,
    }

    /// `text` read from SQLite by [`Stamp`] and by diesel's own decoder.
    fn read_both(
        conn: &mut SqliteConnection,
        text: &str,
    ) -> (Option<NaiveDateTime>, Option<NaiveDateTime>) {
        let query = || sql_query("SELECT ? AS t").bind::<Text, _>(text.to_string());
        let ours = query().get_result::<OursOnly>(conn).ok().map(|r| r.t.0);
        let diesels = query().get_result::<DieselsOnly>(conn).ok().map(|r| r.t);
        (ours, diesels)
    }

    #[test]
    fn stamps_read_what_diesels_decoder_reads() {
        let mut conn = SqliteConnection::establish(":memory:").expect("an in-memory database");
        let hand_parsed = [
            "2026-07-16 07:05:22",
            "2026-07-16 07:05:22.5",
            "2026-07-16 07:05:22.123456",
            "2026-07-16 07:05:22.000000001",
            "2026-07-16 07:05:22.123456789",
            "0001-01-01 00:00:00",
            "0000-01-01 00:00:00",
            "9999-12-31 23:59:59.999999",
            "2024-02-29 12:00:00",
            "2026-07-16T07:05:22.25",
            "2026-07-16T07:05:22",
        ];
        let left_to_diesel = [
            "2026-07-16 07:05",
            "2026-07-16 07:05:22.",
            "2026-07-16 07:05:22.1234567890",
            "2026-07-16 07:05:22Z",
            "2026-07-16 07:05:22+08:00",
            "2026-07-16T07:05:22.5Z",
            "2016-12-31 23:59:60",
            "2026-02-30 07:05:22",
            "2026-07-16 24:00:00",
            "+2026-07-16 07:05:22",
            " 2026-07-16 07:05:22",
            "2459000.5",
            "not a time",
        ];
        for text in hand_parsed {
            assert!(parse(text).is_some(), "{text} is parsed by hand");
            let (ours, diesels) = read_both(&mut conn, text);
            assert!(diesels.is_some(), "diesel reads {text}");
            assert_eq!(ours, diesels, "{text}");
        }
        for text in left_to_diesel {
            assert_eq!(parse(text), None, "{text} is left to diesel");
            let (ours, diesels) = read_both(&mut conn, text);
            assert_eq!(ours, diesels, "{text}");
        }
        // Stored as a number (a julian day), not as text.
        let ours = sql_query("SELECT julianday('2026-07-20 12:00:00') AS t")
            .get_result::<OursOnly>(&mut conn)
            .map(|r| r.t.0.to_string());
        assert_eq!(ours.ok().as_deref(), Some("2026-07-20 12:00:00"));
    }
}
