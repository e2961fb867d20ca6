//! Funnel conversion (`/analytics/funnel`): of the customers who first
//! entered a stage in a period, how many went on to a later stage, and how
//! many days it took; and how long the stays in each stage that ended in the
//! period lasted (DOMAIN.md §4's time-in-stage). Fed one customer at a time,
//! so a report over a million customers keeps only the counts and the days.

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

/// The stays in one stage that ended in the period.
#[derive(Debug, Clone, PartialEq)]
pub struct Stays {
    pub stage: FunnelStage,
    /// How many stays in `stage` ended (the customer moved to another stage) in the period.
    pub ended: i64,
    /// Median days of those stays, each from its entry into `stage` to the move out.
    pub median_days: Option<f64>,
}

/// The tally over `[from, to)`.
pub struct Conversion {
    from: NaiveDateTime,
    to: NaiveDateTime,
    entered: [i64; STAGES - 1],
    days: [Vec<f64>; STAGES - 1],
    stays: [Vec<f64>; STAGES],
}

impl Conversion {
    pub fn new(from: NaiveDateTime, to: NaiveDateTime) -> Conversion {
        Conversion {
            from,
            to,
            entered: [0; STAGES - 1],
            days: Default::default(),
            stays: Default::default(),
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
                self.days[i].push(days(at, n));
            }
        }
        self.add_stays(entries);
    }

    /// The stays that ended in the period, as `cpr_moves::moves` counts the
    /// CPR stage's: a stay starts at the entry into its stage (the first, at
    /// the card's creation) and ends at the next entry into another stage;
    /// an entry into the stage the customer is already in moves nothing.
    fn add_stays(&mut self, entries: &[Entry]) {
        let mut in_order = entries.to_vec();
        // Stable: entries at the same instant keep the order they were recorded in.
        in_order.sort_by_key(|(_, at)| *at);
        let mut current: Option<Entry> = None;
        for (stage, at) in in_order {
            match current {
                Some((s, _)) if s == stage => {}
                Some((s, since)) => {
                    if at >= self.from && at < self.to {
                        self.stays[s].push(days(since, at));
                    }
                    current = Some((stage, at));
                }
                None => current = Some((stage, at)),
            }
        }
    }

    /// Per funnel stage, the stays that ended in the period.
    pub fn stays(&self) -> Vec<Stays> {
        self.stays
            .iter()
            .enumerate()
            .map(|(i, days)| Stays {
                stage: FunnelStage::ALL[i],
                ended: days.len() as i64,
                median_days: median(days.clone()),
            })
            .collect()
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

fn days(from: NaiveDateTime, to: NaiveDateTime) -> f64 {
    (to - from).num_seconds() as f64 / 86_400.0
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

    /// (stays ended, median days) per stage, lead first.
    fn stays(c: &Conversion) -> Vec<(i64, Option<f64>)> {
        c.stays().iter().map(|s| (s.ended, s.median_days)).collect()
    }

    #[test]
    fn stays_that_ended_in_the_period_count_from_their_entry() {
        let mut c = Conversion::new(day(10), day(20));
        // Lead from the 1st to the 11th (ended in the period: 10 days),
        // prospect from the 11th to the 14th (3 days), ordinary still.
        c.add(&[(0, day(1)), (1, day(11)), (2, day(14))]);
        // Lead from the 12th to the 20th: ended at the period's end
        // (exclusive), not counted; the prospect stay is still open.
        c.add(&[(0, day(12)), (1, day(20))]);
        // Lead from the 2nd to the 9th: ended before the period.
        c.add(&[(0, day(2)), (1, day(9)), (2, day(15))]);
        assert_eq!(
            stays(&c),
            [
                (1, Some(10.0)),
                (2, Some(4.5)),
                (0, None),
                (0, None),
                (0, None)
            ],
            "prospect: 3 days (11th to 14th) and 6 (9th to 15th)"
        );
    }

    #[test]
    fn a_move_down_ends_a_stay_and_a_repeat_entry_does_not() {
        let mut c = Conversion::new(day(1), day(30));
        // Key on the 5th, ordinary on the 12th, key again on the 15th, an
        // entry into key again on the 18th (no move), won on the 25th.
        c.add(&[
            (3, day(5)),
            (2, day(12)),
            (3, day(15)),
            (3, day(18)),
            (4, day(25)),
        ]);
        assert_eq!(
            stays(&c),
            [
                (0, None),
                (0, None),
                (1, Some(3.0)),
                (2, Some(8.5)),
                (0, None)
            ],
            "key: 7 days (5th to 12th) and 10 (15th to 25th)"
        );
        // Entries in any order are read in time order.
        let mut c = Conversion::new(day(1), day(30));
        c.add(&[(1, day(8)), (0, day(2))]);
        assert_eq!(stays(&c)[0], (1, Some(6.0)));
    }
}
