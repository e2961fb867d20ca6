//! Funnel conversion (`/analytics/funnel`): of the customers who first
//! entered a stage in a period, how many went on to a later stage, and how
//! many days it took. Fed one customer at a time, so a report over a million
//! customers keeps only the counts and the converted customers' days.

use chrono::NaiveDateTime;

use super::codes::FunnelStage;
use super::statistics::median;

/// The funnel's stages: lead, prospect, ordinary, key, won.
pub const STAGES: usize = 5;

/// One entry of a customer into a stage: the stage's position in
/// `FunnelStage::ALL`, and when.
pub type Entry = (usize, NaiveDateTime);

/// One step, from a stage to the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub from: FunnelStage,
    pub to: FunnelStage,
    /// Customers whose first entry into `from` lies in the period.
    pub entered: i64,
    /// Of those, how many entered `to` or a later stage at or after that entry.
    pub converted: i64,
    /// Median days from the entry to the earliest later stage, over the converted.
    pub median_days: Option<f64>,
}

/// The tally over `[from, to)`.
pub struct Conversion {
    from: NaiveDateTime,
    to: NaiveDateTime,
    entered: [i64; STAGES - 1],
    days: [Vec<f64>; STAGES - 1],
}

impl Conversion {
    pub fn new(from: NaiveDateTime, to: NaiveDateTime) -> Conversion {
        Conversion {
            from,
            to,
            entered: [0; STAGES - 1],
            days: Default::default(),
        }
    }

    /// Counts one customer from all its stage entries, in any order. A stage
    /// counts from its first entry; any later-stage entry at or after it
    /// converts (skipping ahead does, and so does coming back after a move
    /// down: key, ordinary, key converts the ordinary entry, which only the
    /// first entry into each stage did not see).
    pub fn add(&mut self, entries: &[Entry]) {
        for i in 0..STAGES - 1 {
            let first = entries
                .iter()
                .filter(|(s, _)| *s == i)
                .map(|(_, at)| *at)
                .min();
            let Some(at) = first.filter(|at| *at >= self.from && *at < self.to) else {
                continue;
            };
            self.entered[i] += 1;
            let next = entries
                .iter()
                .filter(|(s, n)| *s > i && *n >= at)
                .map(|(_, n)| *n)
                .min();
            if let Some(n) = next {
                self.days[i].push((n - at).num_seconds() as f64 / 86_400.0);
            }
        }
    }

    pub fn steps(self) -> Vec<Step> {
        self.days
            .into_iter()
            .enumerate()
            .map(|(i, days)| Step {
                from: FunnelStage::ALL[i],
                to: FunnelStage::ALL[i + 1],
                entered: self.entered[i],
                converted: days.len() as i64,
                median_days: median(days),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveDate};

    use super::*;

    fn day(d: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 3, d)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or_default()
    }

    /// Each customer as its first entry into each stage (or none).
    fn tally(customers: &[[Option<NaiveDateTime>; STAGES]]) -> Vec<Step> {
        let mut c = Conversion::new(day(10), day(20));
        for f in customers {
            let entries: Vec<Entry> = f
                .iter()
                .enumerate()
                .filter_map(|(s, at)| at.map(|at| (s, at)))
                .collect();
            c.add(&entries);
        }
        c.steps()
    }

    #[test]
    fn one_step_per_pair_of_stages_in_funnel_order() {
        assert_eq!(STAGES, FunnelStage::ALL.len());
        let steps = tally(&[]);
        let pairs: Vec<_> = steps.iter().map(|s| (s.from, s.to)).collect();
        assert_eq!(
            pairs,
            [
                (FunnelStage::Lead, FunnelStage::Prospect),
                (FunnelStage::Prospect, FunnelStage::Ordinary),
                (FunnelStage::Ordinary, FunnelStage::Key),
                (FunnelStage::Key, FunnelStage::Won),
            ]
        );
        assert!(steps
            .iter()
            .all(|s| s.entered == 0 && s.converted == 0 && s.median_days.is_none()));
    }

    #[test]
    fn entries_in_the_period_count_and_later_stages_convert() {
        let steps = tally(&[
            // Lead on the 10th, prospect two days later.
            [Some(day(10)), Some(day(12)), None, None, None],
            // Lead on the 11th, skipped to ordinary six days later: converts.
            [Some(day(11)), None, Some(day(17)), None, None],
            // Lead on the 12th, still a lead.
            [Some(day(12)), None, None, None, None],
            // Lead before the period: not counted as entered.
            [Some(day(1)), Some(day(15)), None, None, None],
            // Lead at the period's end (exclusive): not counted.
            [Some(day(20)), Some(day(21)), None, None, None],
        ]);
        assert_eq!((steps[0].entered, steps[0].converted), (3, 2));
        assert_eq!(steps[0].median_days, Some(4.0), "2 and 6 days");
        // Prospects entered on the 12th and the 15th; neither went further.
        assert_eq!((steps[1].entered, steps[1].converted), (2, 0));
        assert_eq!(steps[1].median_days, None);
        // The ordinary customer of the 17th.
        assert_eq!((steps[2].entered, steps[2].converted), (1, 0));
    }

    #[test]
    fn a_later_stage_reached_before_the_entry_does_not_convert() {
        // Prospect first (skipping lead), lead later (moved back down):
        // the lead entry of the 15th has no later stage after it.
        let steps = tally(&[[Some(day(15)), Some(day(11)), None, None, None]]);
        assert_eq!((steps[0].entered, steps[0].converted), (1, 0));
        assert_eq!((steps[1].entered, steps[1].converted), (1, 0));
    }

    #[test]
    fn coming_back_to_a_later_stage_after_a_move_down_converts() {
        // Key on the 5th, down to ordinary on the 12th, key again on the 15th.
        let mut c = Conversion::new(day(10), day(20));
        c.add(&[(3, day(5)), (2, day(12)), (3, day(15))]);
        let steps = c.steps();
        assert_eq!((steps[2].entered, steps[2].converted), (1, 1));
        assert_eq!(steps[2].median_days, Some(3.0));
        // A second entry into a stage is not a new entry of it.
        let mut c = Conversion::new(day(10), day(20));
        c.add(&[(2, day(5)), (3, day(8)), (2, day(12))]);
        assert_eq!(c.steps()[2].entered, 0);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let at = |d: u32, hours: i64| Some(day(d) + Duration::hours(hours));
        let steps = tally(&[
            [at(10, 0), at(11, 0), None, None, None],
            [at(10, 0), at(13, 0), None, None, None],
        ]);
        assert_eq!(steps[0].median_days, Some(2.0));
        let steps = tally(&[[at(10, 0), at(10, 12), None, None, None]]);
        assert_eq!(steps[0].median_days, Some(0.5));
    }
}
