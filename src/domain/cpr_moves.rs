//! The CPR report's movements: the stage changes in a period, and how long
//! customers stayed in each stage before leaving it.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

/// One recorded CPR stage change (a history event) of a customer.
#[derive(Debug, Clone)]
pub struct StageChange {
    pub customer_id: i64,
    /// When the customer's card was created: the first stay starts there.
    pub created_at: NaiveDateTime,
    pub from: String,
    pub to: String,
    pub at: NaiveDateTime,
}

#[derive(Debug, Default, PartialEq)]
pub struct Moves {
    /// How many moves from one stage to another happened in the period.
    pub transitions: BTreeMap<(String, String), i64>,
    /// Per stage, the days of each stay that ended in the period.
    pub stays: BTreeMap<String, Vec<f64>>,
}

/// The moves among `changes` (each customer's in time order, customers one
/// after another) that happened at or after `from`; the caller leaves out
/// those at or after the period's end. A change to the stage the customer is
/// already in (a pin that keeps the stage) moves nothing: it is neither a
/// transition nor the end or start of a stay. A stay starts at the
/// customer's previous move, or at its creation for the first one.
pub fn moves(changes: &[StageChange], from: NaiveDateTime) -> Moves {
    let mut out = Moves::default();
    out.add(changes, from);
    out
}

impl Moves {
    /// Adds the moves of `changes` as [`moves`] counts them: a report
    /// streams its events and adds them one customer at a time.
    pub fn add(&mut self, changes: &[StageChange], from: NaiveDateTime) {
        let mut previous: Option<(i64, NaiveDateTime)> = None;
        for change in changes.iter().filter(|c| c.from != c.to) {
            let started = match previous {
                Some((customer, at)) if customer == change.customer_id => at,
                _ => change.created_at,
            };
            if change.at >= from {
                *self
                    .transitions
                    .entry((change.from.clone(), change.to.clone()))
                    .or_default() += 1;
                let days = (change.at - started).num_seconds() as f64 / 86_400.0;
                self.stays
                    .entry(change.from.clone())
                    .or_default()
                    .push(days);
            }
            previous = Some((change.customer_id, change.at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 1, d)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or_default()
    }

    fn change(customer_id: i64, created: u32, from: &str, to: &str, at: u32) -> StageChange {
        StageChange {
            customer_id,
            created_at: day(created),
            from: from.into(),
            to: to.into(),
            at: day(at),
        }
    }

    #[test]
    fn the_first_stay_starts_at_creation_and_later_ones_at_the_previous_move() {
        let changes = [
            change(1, 1, "not_started", "conversion", 5),
            change(1, 1, "conversion", "penetration", 15),
            change(2, 2, "not_started", "conversion", 4),
        ];
        let m = moves(&changes, day(1));
        assert_eq!(m.stays["not_started"], [4.0, 2.0]);
        assert_eq!(m.stays["conversion"], [10.0]);
        assert_eq!(
            m.transitions[&("not_started".into(), "conversion".into())],
            2
        );
        assert_eq!(
            m.transitions[&("conversion".into(), "penetration".into())],
            1
        );
    }

    #[test]
    fn only_moves_in_the_period_count_but_earlier_ones_start_stays() {
        let changes = [
            change(1, 1, "not_started", "conversion", 5),
            change(1, 1, "conversion", "penetration", 15),
        ];
        let m = moves(&changes, day(10));
        assert_eq!(m.transitions.len(), 1);
        assert_eq!(m.stays.get("not_started"), None);
        assert_eq!(m.stays["conversion"], [10.0]);
        // A change at `from` itself is the period's (its bound is inclusive,
        // as the SQL choosing the customers: `at >= from`).
        let m = moves(&changes, day(15));
        assert_eq!(
            m.transitions.keys().cloned().collect::<Vec<_>>(),
            [("conversion".to_string(), "penetration".to_string())]
        );
        assert_eq!(m.stays["conversion"], [10.0]);
    }

    #[test]
    fn customers_added_one_at_a_time_count_as_all_at_once() {
        let changes = [
            change(1, 1, "not_started", "conversion", 5),
            change(1, 1, "conversion", "penetration", 15),
            change(2, 2, "not_started", "conversion", 12),
            change(2, 2, "conversion", "conversion", 13),
            change(3, 3, "not_started", "penetration", 4),
        ];
        let mut streamed = Moves::default();
        for customer in changes.chunk_by(|a, b| a.customer_id == b.customer_id) {
            streamed.add(customer, day(10));
        }
        assert_eq!(streamed, moves(&changes, day(10)));
        assert_eq!(streamed.stays["not_started"], [10.0]);
        assert_eq!(streamed.stays["conversion"], [10.0]);
    }

    #[test]
    fn a_pin_to_the_current_stage_moves_nothing() {
        let changes = [
            change(1, 1, "not_started", "penetration", 3),
            change(1, 1, "penetration", "penetration", 6),
            change(1, 1, "penetration", "retention", 13),
        ];
        let m = moves(&changes, day(1));
        assert_eq!(
            m.transitions.keys().cloned().collect::<Vec<_>>(),
            [
                ("not_started".to_string(), "penetration".to_string()),
                ("penetration".to_string(), "retention".to_string())
            ]
        );
        assert_eq!(m.stays["penetration"], [10.0], "from day 3, not day 6");
    }
}
