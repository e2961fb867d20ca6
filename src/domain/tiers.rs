//! Value tiers, the customer pyramid (客户分级): customers ranked by profit
//! in a window; the top `important_pct` % are important, the next
//! `secondary_pct` % secondary, the next `ordinary_pct` % ordinary, the rest
//! small. Ties are broken by id (older customers first), so a recompute is
//! deterministic.
//!
//! The percentages are of the customers who made a positive profit in the
//! window ([`ranked_population`]); everyone else (leads, lapsed customers,
//! break-even and loss-making ones) is small and outside the count. Counted
//! over every card, a CRM holding 10,000 leads beside 500 buyers made every
//! buyer a key customer and the top fifth's share of profit 1.0: the
//! pyramid said nothing about the customers who buy.

use serde::{Deserialize, Serialize};

use super::codes::{from_db, Tier};

/// A customer's tier from its stored tier row: only the customers above
/// `small` have one.
pub fn stored_tier(row: Option<&str>) -> Tier {
    row.map_or(Tier::Small, |t| from_db(t, Tier::Small))
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TierSettings {
    pub window_months: u32,
    pub important_pct: f64,
    pub secondary_pct: f64,
    pub ordinary_pct: f64,
}

impl Default for TierSettings {
    fn default() -> Self {
        TierSettings {
            window_months: 12,
            important_pct: 1.0,
            secondary_pct: 4.0,
            ordinary_pct: 15.0,
        }
    }
}

/// A share in whole basis points, as the cuts are made (0.01 % each).
fn basis_points(pct: f64) -> i64 {
    (pct * 100.0).round() as i64
}

impl TierSettings {
    /// The settings with each share as the cuts use it, in whole basis
    /// points: `problems` lets a share a floating-point step off two
    /// decimals through (32.02 is 3201.9999999999995 basis points), and
    /// 1.000000001 was stored and shown while the cuts used 1.00 (review).
    pub fn in_whole_points(self) -> Self {
        let points = |pct: f64| basis_points(pct) as f64 / 100.0;
        TierSettings {
            important_pct: points(self.important_pct),
            secondary_pct: points(self.secondary_pct),
            ordinary_pct: points(self.ordinary_pct),
            ..self
        }
    }

    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut whole_points = true;
        if !(1..=60).contains(&self.window_months) {
            out.push(("window_months", "must be between 1 and 60".to_string()));
        }
        for (name, v) in [
            ("important_pct", self.important_pct),
            ("secondary_pct", self.secondary_pct),
            ("ordinary_pct", self.ordinary_pct),
        ] {
            if !(0.0..=100.0).contains(&v) || v.is_nan() {
                out.push((name, "must be between 0 and 100".to_string()));
            } else if ((v * 100.0).round() - v * 100.0).abs() > 1e-6 {
                // The cuts are made in whole basis points: 33.335 was
                // rounded, so a sum of exactly 100 failed and one above
                // 100 passed, and the stored share was not the one used.
                whole_points = false;
                out.push((name, "must have at most two decimals (0.01 %)".to_string()));
            }
        }
        // In basis points, as the cuts are made: 32.02 + 40 + 27.98 adds up
        // to 100.00000000000001 in floating point.
        // Saturating: a share out of range (already named above) such as
        // 1e307 casts to i64::MAX, and a plain add overflowed (a panic in a
        // debug build, found by schemathesis).
        let total = basis_points(self.important_pct)
            .saturating_add(basis_points(self.secondary_pct))
            .saturating_add(basis_points(self.ordinary_pct));
        // The sum of shares already named would be a sum of rounded ones.
        if total > 10_000 && whole_points {
            out.push((
                "ordinary_pct",
                "important_pct + secondary_pct + ordinary_pct must not exceed 100".to_string(),
            ));
        }
        out
    }

    /// The last rank (1-based) of each tier above `small` among `n`
    /// customers: (important, secondary, ordinary), cumulative.
    pub fn cut_ranks(&self, n: i64) -> (i64, i64, i64) {
        let important = basis_points(self.important_pct);
        let secondary = important + basis_points(self.secondary_pct);
        let ordinary = secondary + basis_points(self.ordinary_pct);
        // ceil(n × basis points / 10,000), in integers: no float drift at
        // exact cut-offs such as 1% of 100.
        let cut = |points: i64| (n * points + 9_999) / 10_000;
        (cut(important), cut(secondary), cut(ordinary))
    }
}

/// The tier of the customer at `rank` (1-based, by profit descending).
pub fn tier_for(rank: i64, profit_cents: i64, cuts: (i64, i64, i64)) -> Tier {
    if profit_cents <= 0 {
        Tier::Small
    } else if rank <= cuts.0 {
        Tier::Important
    } else if rank <= cuts.1 {
        Tier::Secondary
    } else if rank <= cuts.2 {
        Tier::Ordinary
    } else {
        Tier::Small
    }
}

/// How many of these profits the cut-offs and the Pareto figure are taken
/// of: the positive ones.
pub fn ranked_population(profits: impl IntoIterator<Item = i64>) -> i64 {
    profits.into_iter().filter(|p| *p > 0).count() as i64
}

/// Ranks profits (customer id, profit) and gives each its tier, best first.
pub fn assign(profits: &[(i64, i64)], settings: &TierSettings) -> Vec<(i64, Tier)> {
    let mut ranked: Vec<(i64, i64)> = profits.to_vec();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let cuts = settings.cut_ranks(ranked_population(profits.iter().map(|(_, p)| *p)));
    ranked
        .iter()
        .enumerate()
        .map(|(i, (id, profit))| (*id, tier_for(i as i64 + 1, *profit, cuts)))
        .collect()
}

/// How many customers the Pareto figure's top fifth holds among the
/// `profitable` ones ([`ranked_population`]): 20 %, rounded up to a whole
/// customer.
pub fn top_fifth(profitable: i64) -> i64 {
    (profitable * 2 + 9) / 10
}

/// Share of the total positive profit made by the top fifth ([`top_fifth`]);
/// None without profit.
pub fn pareto_top20_share(top_fifth_profit_cents: i64, total_profit_cents: i64) -> Option<f64> {
    (total_profit_cents > 0).then(|| top_fifth_profit_cents as f64 / total_profit_cents as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_share_is_named_not_an_overflow() {
        let s = TierSettings {
            secondary_pct: 2.843e307,
            ..TierSettings::default()
        };
        let fields: Vec<&str> = s.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["secondary_pct", "ordinary_pct"]);
    }

    fn count(tiers: &[(i64, Tier)], tier: Tier) -> usize {
        tiers.iter().filter(|(_, t)| *t == tier).count()
    }

    #[test]
    fn hundred_distinct_profits_give_1_4_15_80() {
        let profits: Vec<(i64, i64)> = (1..=100).map(|i| (i, i * 100)).collect();
        let tiers = assign(&profits, &TierSettings::default());
        assert_eq!(count(&tiers, Tier::Important), 1);
        assert_eq!(count(&tiers, Tier::Secondary), 4);
        assert_eq!(count(&tiers, Tier::Ordinary), 15);
        assert_eq!(count(&tiers, Tier::Small), 80);
        assert_eq!(tiers[0], (100, Tier::Important));
    }

    #[test]
    fn cut_offs_adding_up_to_exactly_100_are_accepted() {
        let s = |i, se, o| TierSettings {
            window_months: 12,
            important_pct: i,
            secondary_pct: se,
            ordinary_pct: o,
        };
        let drifting: f64 = [32.02, 40.0, 27.98].iter().sum();
        assert!(drifting > 100.0, "the float sum drifts: {drifting}");
        assert_eq!(s(32.02, 40.0, 27.98).problems(), vec![]);
        assert_eq!(s(0.01, 0.02, 99.97).problems(), vec![]);
        let over = s(32.02, 40.0, 27.99).problems();
        assert_eq!(
            over.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
            vec!["ordinary_pct"]
        );
    }

    #[test]
    fn ties_are_broken_by_id() {
        let profits = vec![(7, 500), (3, 500), (5, 500)];
        let s = TierSettings {
            window_months: 12,
            important_pct: 33.0,
            secondary_pct: 0.0,
            ordinary_pct: 0.0,
        };
        let tiers = assign(&profits, &s);
        assert_eq!(tiers[0], (3, Tier::Important));
        assert_eq!(tiers[1].1, Tier::Small);
    }

    #[test]
    fn customers_without_profit_do_not_widen_the_cuts() {
        // 20 buyers among 100 leads and one loss: the cuts are taken of
        // the 20 (ranks 1 / 1 / 4: one important, three ordinary); taken
        // of all 121 cards (2 / 6 / 25) they made every buyer a key or
        // ordinary customer.
        let mut profits: Vec<(i64, i64)> = (1..=100).map(|id| (id, 0)).collect();
        profits.extend((101..=120).map(|id| (id, id * 10)));
        profits.push((121, -500));
        let tiers = assign(&profits, &TierSettings::default());
        assert_eq!(tiers[0], (120, Tier::Important));
        assert_eq!(tiers[1], (119, Tier::Ordinary));
        assert_eq!(tiers[3], (117, Tier::Ordinary));
        assert_eq!(tiers[4], (116, Tier::Small));
        assert_eq!(count(&tiers, Tier::Important), 1);
        assert_eq!(count(&tiers, Tier::Secondary), 0);
        assert_eq!(count(&tiers, Tier::Ordinary), 3);
        assert_eq!(ranked_population(profits.iter().map(|(_, p)| *p)), 20);
    }

    #[test]
    fn the_pareto_top_fifth_is_of_the_customers_who_made_a_profit() {
        // Ten buyers among ninety leads: the top fifth is two buyers, not
        // twenty cards (which would hold all ten buyers: a share of 1.0).
        let mut profits = vec![0; 90];
        profits.extend([50, 20, 10, 5, 5, 4, 3, 1, 1, 1]);
        let profitable = ranked_population(profits.iter().copied());
        assert_eq!(top_fifth(profitable), 2);
        assert_eq!(pareto_top20_share(50 + 20, 100), Some(0.7));
    }

    #[test]
    fn no_profit_is_small_whatever_the_rank() {
        let profits = vec![(1, 0), (2, -50)];
        let s = TierSettings {
            window_months: 12,
            important_pct: 50.0,
            secondary_pct: 50.0,
            ordinary_pct: 0.0,
        };
        assert!(assign(&profits, &s).iter().all(|(_, t)| *t == Tier::Small));
    }

    #[test]
    fn cut_ranks_round_up() {
        let s = TierSettings::default();
        assert_eq!(s.cut_ranks(100), (1, 5, 20));
        assert_eq!(s.cut_ranks(10), (1, 1, 2));
        assert_eq!(s.cut_ranks(0), (0, 0, 0));
        assert_eq!(s.cut_ranks(1_000_000), (10_000, 50_000, 200_000));
    }

    #[test]
    fn settings_are_checked() {
        assert!(TierSettings::default().problems().is_empty());
        let bad = TierSettings {
            window_months: 61,
            important_pct: 50.0,
            secondary_pct: 40.0,
            ordinary_pct: 20.0,
        };
        let fields: Vec<&str> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["window_months", "ordinary_pct"]);
    }

    #[test]
    fn the_top_fifth_rounds_up_to_a_whole_customer() {
        assert_eq!(top_fifth(0), 0);
        assert_eq!(top_fifth(1), 1);
        assert_eq!(top_fifth(5), 1);
        assert_eq!(top_fifth(6), 2);
        assert_eq!(top_fifth(10), 2);
        assert_eq!(top_fifth(11), 3);
        assert_eq!(pareto_top20_share(0, 0), None);
        assert_eq!(pareto_top20_share(85, 100), Some(0.85));
    }

    #[test]
    fn a_share_finer_than_a_basis_point_is_named() {
        let with = |important_pct: f64, secondary_pct: f64, ordinary_pct: f64| TierSettings {
            important_pct,
            secondary_pct,
            ordinary_pct,
            ..TierSettings::default()
        };
        let names = |s: TierSettings| s.problems().into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(
            names(with(33.335, 33.335, 33.33)),
            vec!["important_pct", "secondary_pct"]
        );
        assert_eq!(
            names(with(0.004, 0.0, 99.999)),
            vec!["important_pct", "ordinary_pct"]
        );
        assert!(names(with(33.33, 33.34, 33.33)).is_empty());
        assert!(names(with(32.02, 40.0, 27.98)).is_empty());
        assert!(names(with(0.01, 0.29, 99.7)).is_empty());
    }
}
