//! The period a report compares its own with.

use chrono::{Datelike, Months, NaiveDateTime, TimeDelta};

/// The start (UTC) of the period just before `[from, to)` (UTC), of the same
/// length: the same number of calendar months when the period is whole
/// calendar months on the wall clocks it was sent in (`offsets`: seconds
/// east of UTC of `from` and of `to`; March is `2025-03-01T00:00:00+08:00`
/// to `2025-04-01T00:00:00+08:00`, and its period before is February there),
/// else the same time. Days alone made back-to-back months overlap or leave
/// gaps (March's 31 days before began on 29 January), so a customer who
/// lapsed in January was the overview's silent loss in February and again
/// in March, and one who lapsed on 1 March in no month at all (a review).
pub fn start_before(from: NaiveDateTime, to: NaiveDateTime, offsets: (i32, i32)) -> NaiveDateTime {
    let shift = |t: NaiveDateTime, secs: i32| t.checked_add_signed(TimeDelta::seconds(secs.into()));
    let by_months = shift(from, offsets.0)
        .zip(shift(to, offsets.1))
        .and_then(|(from, to)| Some(from).zip(whole_months(from, to)))
        .and_then(|(from, months)| from.checked_sub_months(months))
        .and_then(|before| shift(before, -offsets.0));
    by_months.unwrap_or_else(|| from - (to - from))
}

/// `months` calendar months before `t` on the clock `offset_secs` east of
/// UTC (the same instant in UTC when the months are out of range): 12 months
/// before 1 March 00:00 at +08:00 is 1 March there, 29 February 16:00 UTC in
/// a leap year, where 12 months before its UTC instant (28 February 16:00)
/// is a day earlier.
pub fn months_before(t: NaiveDateTime, months: u32, offset_secs: i32) -> NaiveDateTime {
    let shift = |t: NaiveDateTime, secs: i32| t.checked_add_signed(TimeDelta::seconds(secs.into()));
    shift(t, offset_secs)
        .and_then(|local| local.checked_sub_months(Months::new(months)))
        .and_then(|before| shift(before, -offset_secs))
        .or_else(|| t.checked_sub_months(Months::new(months)))
        .unwrap_or(NaiveDateTime::MIN)
}

/// `to - from` in calendar months, when it is a whole number of them.
fn whole_months(from: NaiveDateTime, to: NaiveDateTime) -> Option<Months> {
    let months = (to.year() - from.year()) * 12 + to.month() as i32 - from.month() as i32;
    u32::try_from(months)
        .ok()
        .filter(|m| *m > 0)
        .map(Months::new)
        .filter(|m| from.checked_add_months(*m) == Some(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap_or_default()
    }

    /// Each `(from, to, the period before's start)`, all in UTC.
    fn check_utc(cases: &[(&str, &str, &str)]) {
        for (from, to, before) in cases {
            assert_eq!(
                start_before(t(from), t(to), (0, 0)),
                t(before),
                "{from}..{to}"
            );
        }
    }

    #[test]
    fn months_before_count_on_the_clock_given() {
        // 1 March 00:00 at +08:00, the year after a leap year.
        assert_eq!(
            months_before(t("2025-02-28 16:00"), 12, 8 * 3600),
            t("2024-02-29 16:00")
        );
        assert_eq!(
            months_before(t("2025-02-28 16:00"), 12, 0),
            t("2024-02-28 16:00")
        );
        // West of UTC: 31 March 20:00 at -05:00 is 1 April 01:00 UTC.
        assert_eq!(
            months_before(t("2025-04-01 01:00"), 1, -5 * 3600),
            t("2025-03-01 01:00")
        );
        assert_eq!(
            months_before(NaiveDateTime::MIN, 12, 8 * 3600),
            NaiveDateTime::MIN
        );
    }

    #[test]
    fn calendar_months_and_years_compare_with_the_ones_before() {
        let cases = [
            ("2026-03-01 00:00", "2026-04-01 00:00", "2026-02-01 00:00"),
            ("2026-02-01 00:00", "2026-03-01 00:00", "2026-01-01 00:00"),
            ("2026-04-01 00:00", "2026-07-01 00:00", "2026-01-01 00:00"),
            ("2025-01-01 00:00", "2026-01-01 00:00", "2024-01-01 00:00"),
            ("2024-01-01 00:00", "2025-01-01 00:00", "2023-01-01 00:00"),
            // A month from the 15th, at any hour: still a calendar month.
            ("2026-01-15 09:30", "2026-02-15 09:30", "2025-12-15 09:30"),
            // The 31st plus a month is the last of February.
            ("2026-01-31 00:00", "2026-02-28 00:00", "2025-12-31 00:00"),
        ];
        check_utc(&cases);
    }

    #[test]
    fn other_periods_compare_with_the_same_time_before() {
        let cases = [
            ("2026-03-01 00:00", "2026-03-08 00:00", "2026-02-22 00:00"),
            ("2026-03-01 00:00", "2026-04-01 12:00", "2026-01-28 12:00"),
            ("2026-03-10 00:00", "2026-04-01 00:00", "2026-02-16 00:00"),
            // Backwards or empty: no month count.
            ("2026-03-01 00:00", "2026-03-01 00:00", "2026-03-01 00:00"),
        ];
        check_utc(&cases);
    }

    /// March in UTC+8 is 28 Feb 16:00 to 31 Mar 16:00 in UTC; its period
    /// before is February there. Bounds sent in two offsets (a summer time
    /// change inside the period) are months on their own wall clocks.
    #[test]
    fn months_are_those_of_the_wall_clocks_sent() {
        let east = 8 * 3600;
        let before = start_before(t("2025-02-28 16:00"), t("2025-03-31 16:00"), (east, east));
        assert_eq!(before, t("2025-01-31 16:00"));
        let before = start_before(t("2025-04-30 16:00"), t("2025-05-31 16:00"), (east, east));
        assert_eq!(before, t("2025-03-31 16:00"));
        // Europe: +01:00 in March, +02:00 from the end of March.
        let before = start_before(t("2025-02-28 23:00"), t("2025-03-31 22:00"), (3600, 7200));
        assert_eq!(before, t("2025-01-31 23:00"));
        // The same instants read in UTC are not whole months.
        let before = start_before(t("2025-02-28 16:00"), t("2025-03-31 16:00"), (0, 0));
        assert_eq!(before, t("2025-01-28 16:00"));
    }

    #[test]
    fn the_widest_periods_do_not_overflow() {
        let (from, to) = (t("0001-01-01 00:00"), t("9999-01-01 00:00"));
        assert!(start_before(from, to, (0, 0)) < from);
        let to = t("9999-12-31 23:59");
        assert!(start_before(from, to, (0, 0)) < from);
        let far = 14 * 3600;
        assert!(start_before(from, to, (-far, far)) < from);
    }
}
