//! The care calendar's birthdays (DOMAIN §1, §2: the birthday greeting and
//! gift): which month-days are celebrated within some days of today.
//!
//! A birthday is matched on its month and day, as `month * 100 + day`
//! (`229` for 29 February), the key both engines compute from the stored
//! date. 29 February is celebrated on 28 February in a year without it:
//! a card born then is greeted every year, the day before 1 March as on
//! most calendars, never skipped for three years in four.

use chrono::{Datelike, NaiveDate};

/// The widest window: a year and a day, which holds every birthday.
pub const MAX_WINDOW_DAYS: i64 = 366;

/// Birthdays celebrated from `today` to `days` days later, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub today: NaiveDate,
    pub days: i64,
}

/// The day a birthday of `month`/`day` is celebrated in `year`.
fn celebrated(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day).or_else(|| {
        // Only 29 February is missing from some years.
        ((month, day) == (2, 29))
            .then(|| NaiveDate::from_ymd_opt(year, 2, 28))
            .flatten()
    })
}

/// Days from `today` to the next celebration of a birthday on
/// `month`/`day` (0: today), at most 365.
pub fn days_until(today: NaiveDate, month: u32, day: u32) -> Option<i64> {
    let this_year = celebrated(today.year(), month, day)?;
    let next = if this_year >= today {
        this_year
    } else {
        celebrated(today.year() + 1, month, day)?
    };
    Some((next - today).num_days())
}

/// Every month-day key in calendar order, 29 February included.
fn keys() -> impl Iterator<Item = (u32, u32)> {
    // 2000 is a leap year: its days are every birthday there is.
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .into_iter()
        .flat_map(|first| first.iter_days().take(366))
        .map(|d| (d.month(), d.day()))
}

/// The keys (`month * 100 + day`) whose next celebration is a number of
/// days from `today` that `accept` takes, as inclusive ranges in key
/// order: a window over the year end is two ranges (`1220..=1231`,
/// `101..=105`). None: no birthday is accepted.
pub fn key_ranges(today: NaiveDate, accept: impl Fn(i64) -> bool) -> Vec<(i64, i64)> {
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    let mut open = false;
    for (month, day) in keys() {
        let key = i64::from(month * 100 + day);
        let taken = days_until(today, month, day).is_some_and(&accept);
        match (taken, open, ranges.last_mut()) {
            (true, true, Some(last)) => last.1 = key,
            (true, _, _) => ranges.push((key, key)),
            _ => {}
        }
        open = taken;
    }
    ranges
}

impl Window {
    /// The key ranges of the birthdays in the window.
    pub fn key_ranges(&self) -> Vec<(i64, i64)> {
        key_ranges(self.today, |d| d <= self.days)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn window(today: NaiveDate, days: i64) -> Vec<(i64, i64)> {
        Window { today, days }.key_ranges()
    }

    #[test]
    fn a_window_is_today_and_the_days_after_it() {
        assert_eq!(window(day(2026, 6, 10), 0), vec![(610, 610)]);
        assert_eq!(window(day(2026, 6, 10), 7), vec![(610, 617)]);
        // One range: no key lies between 630 and 701.
        assert_eq!(window(day(2026, 6, 25), 10), vec![(625, 705)]);
    }

    #[test]
    fn a_window_wraps_over_the_year_end() {
        assert_eq!(window(day(2026, 12, 30), 3), vec![(101, 102), (1230, 1231)]);
        assert_eq!(window(day(2026, 12, 31), 0), vec![(1231, 1231)]);
        assert_eq!(window(day(2026, 12, 31), 1), vec![(101, 101), (1231, 1231)]);
    }

    #[test]
    fn the_29th_of_february_is_celebrated_on_the_28th_in_other_years() {
        // 2027 has no 29 February: those born then are greeted on the 28th.
        assert_eq!(days_until(day(2027, 2, 28), 2, 29), Some(0));
        assert_eq!(window(day(2027, 2, 28), 0), vec![(228, 229)]);
        assert_eq!(window(day(2027, 2, 27), 0), vec![(227, 227)]);
        assert_eq!(window(day(2027, 3, 1), 0), vec![(301, 301)]);
        // 2028 has it: the 28th is the 28th alone, the 29th its own day.
        assert_eq!(window(day(2028, 2, 28), 0), vec![(228, 228)]);
        assert_eq!(window(day(2028, 2, 29), 0), vec![(229, 229)]);
        assert_eq!(window(day(2028, 2, 27), 1), vec![(227, 228)]);
        // Past the 28th of a common year, the next one is in the leap year.
        assert_eq!(days_until(day(2027, 3, 1), 2, 29), Some(365));
        assert_eq!(days_until(day(2026, 3, 1), 2, 29), Some(364));
    }

    #[test]
    fn a_year_and_a_day_holds_every_birthday() {
        for today in [
            day(2026, 1, 1),
            day(2027, 3, 1),
            day(2028, 2, 29),
            day(2026, 12, 31),
        ] {
            assert_eq!(window(today, MAX_WINDOW_DAYS), vec![(101, 1231)], "{today}");
            let most = keys()
                .filter_map(|(m, d)| days_until(today, m, d))
                .max()
                .unwrap();
            assert!(most <= 365, "{today}: {most}");
        }
    }

    /// A segment rule binds four values per window (`Rule::values`): its
    /// days are one run, so at most two ranges of keys (split at the year
    /// end), on every day of a leap year and the common years around it.
    #[test]
    fn a_window_is_at_most_two_ranges() {
        for today in day(2027, 1, 1).iter_days().take(365 + 366 + 365) {
            for days in [0, 1, 30, 58, 59, 60, 300, 364, 365, MAX_WINDOW_DAYS] {
                let ranges = window(today, days);
                assert!(ranges.len() <= 2, "{today} +{days}: {ranges:?}");
            }
        }
    }

    #[test]
    fn a_predicate_can_leave_every_birthday_out() {
        assert!(key_ranges(day(2026, 5, 5), |d| d > 365).is_empty());
        assert_eq!(key_ranges(day(2026, 5, 5), |d| d == 1), vec![(506, 506)]);
    }
}
