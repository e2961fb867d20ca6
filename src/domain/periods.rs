//! The period a report compares its own with.

use chrono::{Datelike, Months, NaiveDateTime, TimeDelta};

/// The start (UTC) of the period just before `[from, to)` (UTC), of the same
/// length: the same number of calendar months when the period is whole
/// calendar months on the wall clocks it was sent in (`offsets`: seconds
/// east of UTC of `from` and of `to`; March is `2025-03-01T00:00:00+08:00`
/// to `2025-04-01T00:00:00+08:00`, and its period before is February there;
/// month-end to month-end, 30 April to 31 May, has 31 March to 30 April),
/// else the same time. Days alone made back-to-back months overlap or leave
/// gaps (March's 31 days before began on 29 January), so a customer who
/// lapsed in January was the overview's silent loss in February and again
/// in March, and one who lapsed on 1 March in no month at all (a review).
pub fn start_before(from: NaiveDateTime, to: NaiveDateTime, offsets: (i32, i32)) -> NaiveDateTime {
    let shift = |t: NaiveDateTime, secs: i32| t.checked_add_signed(TimeDelta::seconds(secs.into()));
    let by_months = shift(from, offsets.0)
        .zip(shift(to, offsets.1))
        .and_then(|(from, to)| Some(from).zip(whole_months(from, to)))
        .and_then(|(from, (months, month_end))| months_back(from, months, month_end))
        .and_then(|before| shift(before, -offsets.0));
    by_months.unwrap_or_else(|| from - (to - from))
}

/// `months` calendar months before `t` on the clock `offset_secs` east of
/// UTC (the same instant in UTC when the months are out of range): 12 months
/// before 1 March 00:00 at +08:00 is 1 March there, 29 February 16:00 UTC in
/// a leap year, where 12 months before its UTC instant (28 February 16:00)
/// is a day earlier. chrono's clamp, as a churn judges a customer new
/// (`churn::new_when_lost`): the overview's old and new customers meet
/// there. Not [`window_start`]'s rule, which a moving window needs.
pub fn months_before(t: NaiveDateTime, months: u32, offset_secs: i32) -> NaiveDateTime {
    let shift = |t: NaiveDateTime, secs: i32| t.checked_add_signed(TimeDelta::seconds(secs.into()));
    shift(t, offset_secs)
        .and_then(|local| local.checked_sub_months(Months::new(months)))
        .and_then(|before| shift(before, -offset_secs))
        .or_else(|| t.checked_sub_months(Months::new(months)))
        .unwrap_or(NaiveDateTime::MIN)
}

/// The start of a trailing window of `months` calendar months ending at
/// `now`: the same day and time of day that many months before, or, when
/// that month has no such day (29 February 2028 a year back, 31 May three
/// months back), the start of the next month. chrono's clamp to the month's
/// last day kept the time of day, so the start went back ~23 hours at
/// midnight of such a day (2028-02-28 23:00 → 2027-02-28 23:00, then
/// 2028-02-29 00:00 → 2027-02-28 00:00): the window's move found nothing to
/// take out, cards written that day counted orders the others did not (a
/// review). Never earlier for a later `now`.
pub fn window_start(now: NaiveDateTime, months: u32) -> NaiveDateTime {
    let Some(start) = now.checked_sub_months(Months::new(months)) else {
        return NaiveDateTime::MIN;
    };
    if start.day() == now.day() {
        return start;
    }
    start
        .date()
        .checked_add_months(Months::new(1))
        .and_then(|d| d.with_day(1))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or(start)
}

/// `to - from` in calendar months, when it is a whole number of them: the
/// same day of the month and time of day (15 January to 15 February), or the
/// last day of a month to the last day of another, at the same time (30 April
/// to 31 May). chrono's clamp alone took 31 March to 30 April as a month but
/// 30 April to 31 May as 31 days, whose period before (30 March on) overlapped
/// the month-end report before it: one lapse was a silent loss twice.
fn whole_months(from: NaiveDateTime, to: NaiveDateTime) -> Option<(Months, bool)> {
    let months = (to.year() - from.year()) * 12 + to.month() as i32 - from.month() as i32;
    let months = u32::try_from(months)
        .ok()
        .filter(|m| *m > 0)
        .map(Months::new)?;
    let month_ends = is_last_day(from) && is_last_day(to) && from.time() == to.time();
    let same_day = from.day() == to.day() && from.checked_add_months(months) == Some(to);
    (month_ends || same_day).then_some((months, month_ends))
}

fn is_last_day(t: NaiveDateTime) -> bool {
    t.date().succ_opt().is_some_and(|next| next.day() == 1)
}

/// `months` before `from`, at the last day of that month when `month_end`.
fn months_back(from: NaiveDateTime, months: Months, month_end: bool) -> Option<NaiveDateTime> {
    let before = from.checked_sub_months(months)?;
    if !month_end {
        return Some(before);
    }
    let first_of_next = before
        .date()
        .with_day(1)?
        .checked_add_months(Months::new(1))?;
    Some(first_of_next.pred_opt()?.and_time(before.time()))
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
        // The day clamped (the overview's default `from` on 29 February),
        // where a moving window starts on 1 March.
        assert_eq!(
            months_before(t("2028-02-29 10:00"), 12, 0),
            t("2027-02-28 10:00")
        );
        assert_eq!(
            window_start(t("2028-02-29 10:00"), 12),
            t("2027-03-01 00:00")
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

    /// Month-end to month-end reports chain: each one's period before is the
    /// report before it.
    #[test]
    fn month_ends_compare_with_the_month_end_before() {
        let cases = [
            ("2026-02-28 00:00", "2026-03-31 00:00", "2026-01-31 00:00"),
            ("2026-03-31 00:00", "2026-04-30 00:00", "2026-02-28 00:00"),
            ("2026-04-30 00:00", "2026-05-31 00:00", "2026-03-31 00:00"),
            ("2026-04-30 18:00", "2026-06-30 18:00", "2026-02-28 18:00"),
            ("2024-03-31 00:00", "2024-04-30 00:00", "2024-02-29 00:00"),
            ("2025-02-28 00:00", "2026-02-28 00:00", "2024-02-29 00:00"),
            // A month-end start to the same day of a longer month: a month
            // from that day.
            ("2026-04-30 00:00", "2026-05-30 00:00", "2026-03-30 00:00"),
            // Month ends at different times of day: the same time.
            ("2026-04-30 00:00", "2026-05-31 12:00", "2026-03-29 12:00"),
            // A clamped day that is not a month end is no month (29 January
            // plus a month is 28 February): the same time.
            ("2026-01-29 00:00", "2026-02-28 00:00", "2025-12-30 00:00"),
        ];
        check_utc(&cases);
    }

    /// Never earlier for a later instant, across days the earlier month
    /// lacks; a day it has keeps its time of day.
    #[test]
    fn window_start_never_moves_back() {
        assert_eq!(
            window_start(t("2028-02-28 23:00"), 12),
            t("2027-02-28 23:00")
        );
        assert_eq!(
            window_start(t("2028-02-29 00:00"), 12),
            t("2027-03-01 00:00")
        );
        assert_eq!(
            window_start(t("2028-02-29 23:59"), 12),
            t("2027-03-01 00:00")
        );
        assert_eq!(
            window_start(t("2028-03-01 00:00"), 12),
            t("2027-03-01 00:00")
        );
        assert_eq!(
            window_start(t("2026-05-30 08:00"), 3),
            t("2026-03-01 00:00")
        );
        assert_eq!(
            window_start(t("2026-05-28 08:00"), 3),
            t("2026-02-28 08:00")
        );
        assert_eq!(window_start(NaiveDateTime::MIN, 1), NaiveDateTime::MIN);
        for months in [1, 3, 6, 12, 24] {
            let mut at = t("2027-12-25 00:00");
            let mut last = window_start(at, months);
            while at < t("2028-04-05 00:00") {
                at += TimeDelta::minutes(30);
                let start = window_start(at, months);
                assert!(start >= last, "{months} months at {at}: {start} < {last}");
                assert!(start <= at, "{at}");
                last = start;
            }
        }
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
        // Read in UTC, March at +08:00 runs from a month's last day to the
        // next one's, at the same time: the same month before.
        let before = start_before(t("2025-02-28 16:00"), t("2025-03-31 16:00"), (0, 0));
        assert_eq!(before, t("2025-01-31 16:00"));
        // Europe's March read in UTC is not whole months (23:00 to 22:00).
        let before = start_before(t("2025-02-28 23:00"), t("2025-03-31 22:00"), (0, 0));
        assert_eq!(before, t("2025-01-29 00:00"));
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
