//! Key-account plans (重要客户管理, DOMAIN.md §11): who may have one, and how
//! a plan's return is measured.

use chrono::{Duration, NaiveDate};

use super::codes::{AccountPlanStatus, Tier};

/// The most actions a plan holds. Every change of an action records the
/// plan with all its actions in the change feed, and a list of plans loads
/// them all: unbounded, a plan's n-th action wrote n actions to the feed. A
/// plan's measures are a handful; 100 leaves room, as for a survey's questions.
pub const MAX_ACTIONS: i64 = 100;

/// Plans are for key customers (关键客户): the `important` and `secondary` tiers.
pub fn eligible(tier: Tier) -> bool {
    matches!(tier, Tier::Important | Tier::Secondary)
}

/// A completed or cancelled plan is closed: its objective, period, budget
/// and actions stay as they were signed off (and the day its evaluation is
/// judged as of) until it is reopened; its revenue and profit are read from
/// the customer's transactions as they stand. Any status may follow any other: a plan closed by mistake
/// is reopened, not recreated.
pub fn is_closed(status: AccountPlanStatus) -> bool {
    matches!(
        status,
        AccountPlanStatus::Completed | AccountPlanStatus::Cancelled
    )
}

/// The last day a plan starting on `start` may run to: ten years on. A plan is
/// a key-account plan for a coming period; a longer one is a typing error, and
/// its period before would reach back past any data.
pub fn longest_period_end(start: NaiveDate) -> Option<NaiveDate> {
    start
        .checked_add_months(chrono::Months::new(120))?
        .pred_opt()
}

/// The first day a plan ending on `end` may start on: the other side of
/// `longest_period_end` (a start on it or later has `end` within reach).
pub fn earliest_period_start(end: NaiveDate) -> Option<NaiveDate> {
    let mut first = end
        .checked_sub_months(chrono::Months::new(120))?
        .succ_opt()?;
    // Month ends clamp (2028-02-29 plus 120 months is 2038-02-28): step
    // past the starts that fall short, a few days at most.
    while longest_period_end(first)? < end {
        first = first.succ_opt()?;
    }
    Some(first)
}

/// The whole days of the plan period `[start, end]` by `today`: from its
/// start to the earlier of its end and yesterday (inclusive days). A running
/// plan is judged on the days it has run, against as many days before it:
/// judged on its whole period, a December plan seen on the 4th compared four
/// days of profit with 31 and showed a loss. Today does not count until it
/// is over: counted, a plan starting today and read at 09:00 compared nine
/// hours of profit with the whole of yesterday (an outside review). `None`
/// until the plan has run a whole day: nothing to compare yet.
pub fn elapsed(
    start: NaiveDate,
    end: NaiveDate,
    today: NaiveDate,
) -> Option<(NaiveDate, NaiveDate)> {
    let last = today.pred_opt()?;
    (last >= start).then(|| (start, end.min(last)))
}

/// The day a plan's evaluation is judged as of (`today` while it runs).
/// A closed plan is judged as of the day it closed, so that days passing
/// do not move what was signed off; one closed on or after its last day is
/// judged on its whole period, that last day included (as of the day after
/// it, even on the closing day itself): closed on its `period_end`, it was
/// judged as still running, a day short, for good (review).
pub fn judged_as_of(
    closed: Option<NaiveDate>,
    period_end: NaiveDate,
    today: NaiveDate,
) -> NaiveDate {
    let Some(closed) = closed else {
        return today;
    };
    let as_of = closed.min(today);
    match period_end.succ_opt() {
        Some(after) if closed >= period_end => as_of.max(after),
        _ => as_of,
    }
}

/// The last day whose actions have fallen due: today while the plan runs,
/// the day it closed once closed. Unlike [`judged_as_of`], a plan closed on
/// its last day does not reach past it: an action due the day after (a
/// follow-up) had not fallen due when the manager signed off, and counting
/// it halved the execution rate of the plan for good (a review). The
/// actions due by then and not done are late as of [`judged_as_of`]: closed
/// on its last day, that day is over for the plan.
pub fn actions_due_by(closed: Option<NaiveDate>, today: NaiveDate) -> NaiveDate {
    closed.map_or(today, |closed| closed.min(today))
}

/// The same-length period just before `[start, end]` (both inclusive days):
/// `[start − len, start − 1]`.
pub fn period_before(start: NaiveDate, end: NaiveDate) -> (NaiveDate, NaiveDate) {
    let days = (end - start).num_days() + 1;
    (start - Duration::days(days), start - Duration::days(1))
}

/// The profit the plan's period made over the period before. Each side is a
/// sum held at the 64-bit range; their difference is held there too (a
/// review found it overflowed: a 500, or a wrapped figure in a release build).
pub fn uplift(profit_in_period: i64, profit_before: i64) -> i64 {
    profit_in_period.saturating_sub(profit_before)
}

/// Return on the plan's cost: (profit in the period − profit in the period
/// before − cost) ÷ cost. The uplift over the period before is what the
/// plan earned; the cost is what it spent. None without cost (no ratio).
pub fn roi(profit_in_period: i64, profit_before: i64, cost: i64) -> Option<f64> {
    (cost > 0).then(|| (profit_in_period as f64 - profit_before as f64 - cost as f64) / cost as f64)
}

/// Whether an action's cost has been incurred by `as_of`: it is done, or its
/// due day has passed (one overdue has its money committed all the same:
/// leaving it out would flatter a plan that lets its actions slip). Due
/// today and not done, it is not charged yet: the profit side counts whole
/// days through yesterday, and charging today's cost against it put a cost
/// before its day (an outside review).
/// An action due later and not done has spent nothing yet. Cancelled actions
/// never count (the caller leaves them out).
pub fn cost_incurred(due: NaiveDate, as_of: NaiveDate, done: bool) -> bool {
    done || due < as_of
}

/// Whether an action's cost goes into the ROI read on `as_of`: while the
/// plan runs (`as_of` on or before its last day), the cost incurred to date
/// ([`cost_incurred`]), as the profit side counts only the days run (an
/// outside review: a December forum's cost weighed against January's uplift
/// read as a loss of nearly all of it); once the period is over, the cost
/// incurred by its end, as the whole period is judged: done, or due on or
/// before `period_end` (overdue then, its money committed all the same).
/// An action due after the period and not done belongs to no day the profit
/// side counts: charging the whole committed cost once the period ended
/// moved a December action of a plan ending in June into its ROI overnight
/// (an outside review). Cancelled actions never count (the caller leaves
/// them out).
pub fn charged(due: NaiveDate, done: bool, period_end: NaiveDate, as_of: NaiveDate) -> bool {
    if as_of > period_end {
        done || due <= period_end
    } else {
        cost_incurred(due, as_of, done)
    }
}

/// An action counts toward the execution rate from its due day on
/// (`due <= due_by`, [`actions_due_by`]), and is overdue only once that day
/// has passed without it done: an action due today is not late yet (a review
/// found it counted so).
pub fn is_due(due: NaiveDate, due_by: NaiveDate) -> bool {
    due <= due_by
}

pub fn is_overdue(due: NaiveDate, as_of: NaiveDate, done: bool) -> bool {
    !done && due < as_of
}

/// Share of `part` in `whole`; None when `whole` is 0.
pub fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_plan_is_judged_as_of_its_closing_day_or_its_whole_period() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).expect("a date");
        let end = d(6, 30);
        // Running: today.
        assert_eq!(judged_as_of(None, end, d(6, 10)), d(6, 10));
        // Closed inside its period: that day, however late it is read.
        assert_eq!(judged_as_of(Some(d(6, 10)), end, d(8, 1)), d(6, 10));
        // Closed on its last day: the whole period, read that day or later.
        assert_eq!(judged_as_of(Some(end), end, end), d(7, 1));
        assert_eq!(judged_as_of(Some(end), end, d(8, 1)), d(7, 1));
        // Closed after it: the closing day, as before.
        assert_eq!(judged_as_of(Some(d(7, 5)), end, d(8, 1)), d(7, 5));
        let max = NaiveDate::MAX;
        assert_eq!(judged_as_of(Some(max), max, max), max);
    }

    /// Closed on its last day: the actions due that day are due (and late
    /// if not done: the period is over), the next day's follow-up is not.
    #[test]
    fn a_plan_closed_on_its_last_day_has_no_action_of_the_day_after_due() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).expect("a date");
        let end = d(6, 30);
        let closed = Some(end);
        let due_by = actions_due_by(closed, d(8, 1));
        let as_of = judged_as_of(closed, end, d(8, 1));
        assert_eq!(due_by, end);
        assert!(is_due(end, due_by));
        assert!(!is_due(d(7, 1), due_by));
        assert!(is_overdue(end, as_of, false));
        assert!(!is_overdue(end, as_of, true));
        // Running: today's actions are due, not late.
        assert_eq!(actions_due_by(None, d(6, 10)), d(6, 10));
        assert!(!is_overdue(
            d(6, 10),
            judged_as_of(None, end, d(6, 10)),
            false
        ));
        // Closed inside the period or after it: the closing day.
        assert_eq!(actions_due_by(Some(d(6, 10)), d(8, 1)), d(6, 10));
        assert_eq!(actions_due_by(Some(d(7, 5)), d(8, 1)), d(7, 5));
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn completed_and_cancelled_plans_are_closed() {
        assert!(!is_closed(AccountPlanStatus::Draft));
        assert!(!is_closed(AccountPlanStatus::Active));
        assert!(is_closed(AccountPlanStatus::Completed));
        assert!(is_closed(AccountPlanStatus::Cancelled));
    }

    #[test]
    fn a_running_plan_is_judged_on_the_whole_days_it_has_run() {
        let (start, end) = (day("2026-12-02"), day("2026-12-31"));
        assert_eq!(elapsed(start, end, day("2026-12-01")), None);
        // Its first day is not over: nothing to compare yet.
        assert_eq!(elapsed(start, end, day("2026-12-02")), None);
        assert_eq!(elapsed(start, end, day("2026-12-03")), Some((start, start)));
        assert_eq!(
            elapsed(start, end, day("2026-12-05")),
            Some((start, day("2026-12-04")))
        );
        // Its last day counts once it is over.
        assert_eq!(
            elapsed(start, end, day("2026-12-31")),
            Some((start, day("2026-12-30")))
        );
        assert_eq!(elapsed(start, end, day("2027-01-01")), Some((start, end)));
        assert_eq!(elapsed(start, end, day("2027-01-15")), Some((start, end)));
        assert_eq!(elapsed(NaiveDate::MIN, end, NaiveDate::MIN), None);
        // Three days run: the three days before.
        assert_eq!(
            period_before(start, day("2026-12-04")),
            (day("2026-11-29"), day("2026-12-01"))
        );
    }

    #[test]
    fn only_key_tiers_are_eligible() {
        assert!(eligible(Tier::Important));
        assert!(eligible(Tier::Secondary));
        assert!(!eligible(Tier::Ordinary));
        assert!(!eligible(Tier::Small));
    }

    #[test]
    fn a_plan_runs_at_most_ten_years() {
        assert_eq!(
            longest_period_end(day("2026-01-01")),
            Some(day("2035-12-31"))
        );
        assert_eq!(
            longest_period_end(day("2024-02-29")),
            Some(day("2034-02-27"))
        );
    }

    #[test]
    fn the_period_before_has_the_same_length() {
        assert_eq!(
            period_before(day("2026-04-01"), day("2026-06-30")),
            (day("2025-12-31"), day("2026-03-31"))
        );
        assert_eq!(
            period_before(day("2026-01-01"), day("2026-01-01")),
            (day("2025-12-31"), day("2025-12-31"))
        );
    }

    #[test]
    fn the_earliest_start_is_the_longest_ends_other_side() {
        let mut end = day("2035-01-01");
        while end < day("2038-12-31") {
            let first = earliest_period_start(end);
            let reach = first.and_then(longest_period_end);
            assert!(reach.is_some_and(|r| r >= end), "{end}: {first:?}");
            let before = first
                .and_then(|f| f.pred_opt())
                .and_then(longest_period_end);
            assert!(before.is_some_and(|r| r < end), "{end}: {first:?}");
            end = end.succ_opt().unwrap_or(NaiveDate::MAX);
        }
    }

    #[test]
    fn uplift_is_held_at_the_64_bit_range() {
        assert_eq!(uplift(30_000, 10_000), 20_000);
        assert_eq!(uplift(-5, 10), -15);
        assert_eq!(uplift(i64::MAX / 2 + 10, -(i64::MAX / 2) - 10), i64::MAX);
        assert_eq!(uplift(-(i64::MAX / 2) - 10, i64::MAX / 2 + 10), i64::MIN);
    }

    #[test]
    fn roi_is_uplift_minus_cost_over_cost() {
        assert_eq!(roi(30_000, 10_000, 10_000), Some(1.0));
        assert_eq!(roi(20_000, 10_000, 10_000), Some(0.0), "break-even");
        assert_eq!(
            roi(10_000, 10_000, 10_000),
            Some(-1.0),
            "no uplift: the cost is lost"
        );
        assert_eq!(roi(50_000, 0, 0), None, "no cost: no ratio");
    }

    #[test]
    fn reference_lists_hold_the_enum_codes() {
        use crate::domain::codes::{AccountPlanActionType, ChurnReason, Code};
        let codes = |name| -> Vec<&str> {
            crate::domain::reference::list(name)
                .unwrap_or_default()
                .iter()
                .map(|e| e.code)
                .collect()
        };
        assert_eq!(codes("account-plan-actions"), AccountPlanActionType::CODES);
        assert_eq!(codes("churn-reasons"), ChurnReason::CODES);
    }

    #[test]
    fn an_action_due_today_is_due_but_not_overdue() {
        let today = day("2026-12-04");
        assert!(is_due(today, today));
        assert!(!is_overdue(today, today, false));
        assert!(is_overdue(day("2026-12-03"), today, false));
        assert!(!is_overdue(day("2026-12-03"), today, true));
        assert!(!is_due(day("2026-12-05"), today));
    }

    #[test]
    fn a_running_plan_is_charged_the_cost_incurred_so_far() {
        let as_of = day("2026-02-01");
        // Done (whenever due), or its due day passed: incurred.
        assert!(cost_incurred(day("2026-12-01"), as_of, true));
        assert!(cost_incurred(day("2026-01-31"), as_of, false));
        // Due today, not done: not yet, as today's profit is not counted.
        assert!(!cost_incurred(as_of, as_of, false));
        assert!(cost_incurred(day("2026-01-15"), as_of, false), "overdue");
        // Due later, not done: nothing spent yet.
        assert!(!cost_incurred(day("2026-12-01"), as_of, false));
        // The plan 2026-01-01..2026-12-31, a forum due 2026-12-15 not done.
        let (end, forum) = (day("2026-12-31"), day("2026-12-15"));
        assert!(!charged(forum, false, end, as_of));
        assert!(charged(forum, false, end, end), "overdue on its last day");
        assert!(!charged(day("2026-12-31"), false, end, end), "due today");
        assert!(charged(forum, false, end, day("2027-01-01")));
    }

    #[test]
    fn an_ended_plan_is_charged_what_was_incurred_by_its_end() {
        // The plan 2026-01-01..2026-06-30.
        let end = day("2026-06-30");
        for as_of in [day("2026-07-01"), day("2027-03-01")] {
            // Done in March: charged.
            assert!(charged(day("2026-03-10"), true, end, as_of));
            // Planned for December, not done: after the period, not charged.
            assert!(!charged(day("2026-12-15"), false, end, as_of));
            // Due after the period but done: its money was spent.
            assert!(charged(day("2026-12-15"), true, end, as_of));
            // Due within the period and not done (overdue), or on its last
            // day: committed, charged.
            assert!(charged(day("2026-05-01"), false, end, as_of));
            assert!(charged(end, false, end, as_of));
        }
        // On its last day the plan still runs: the action due that day is not
        // charged yet; the next day it is.
        assert!(!charged(end, false, end, end));
    }

    #[test]
    fn ratio_without_a_whole_is_none() {
        assert_eq!(ratio(1, 4), Some(0.25));
        assert_eq!(ratio(0, 0), None);
    }
}
