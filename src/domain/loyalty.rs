//! Loyalty (客户忠诚, DOMAIN.md §9): the type from attitude and behaviour.
//!
//! - **Attitude** is high when the customer's latest overall satisfaction
//!   (from survey responses, 1–5) is at or above `attitude_min_satisfaction`.
//! - **Behaviour** is high when the customer bought at least
//!   `repeat_min_purchases` times in the trailing `window_months` **and**,
//!   when its share of wallet is known (the CPR share, see `domain::cpr`),
//!   that share is at or above `share_of_wallet_min`. An unknown share does
//!   not count against the customer. A customer with an open churn
//!   (DOMAIN.md §10: it used to buy and no longer does) is low whatever it
//!   bought before: a lost customer reads `latent` or `none`, never `high`
//!   or `inertial` (a review found churned cards among the highly loyal).
//! - Without any satisfaction data the type is `unknown`: behaviour alone
//!   cannot tell `high` from `inertial`.
//!
//! | | behaviour high | behaviour low |
//! |---|---|---|
//! | attitude high | `high` | `latent` |
//! | attitude low | `inertial` | `none` |

use serde::{Deserialize, Serialize};

use super::codes::{LoyaltyType, Trend};

/// Thresholds; settings, not constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoyaltySettings {
    /// Latest overall satisfaction at or above this is a high attitude (1–5).
    pub attitude_min_satisfaction: f64,
    /// Trailing window for counting purchases, in months (1–60).
    pub window_months: u32,
    /// Purchases in the window needed for high behaviour (2–1000).
    pub repeat_min_purchases: i64,
    /// Share of wallet needed for high behaviour, when known (0–1).
    pub share_of_wallet_min: f64,
}

impl Default for LoyaltySettings {
    fn default() -> Self {
        LoyaltySettings {
            attitude_min_satisfaction: 4.0,
            window_months: 12,
            repeat_min_purchases: 2,
            share_of_wallet_min: 0.5,
        }
    }
}

impl LoyaltySettings {
    /// Problems with these settings, as (field, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let a = self.attitude_min_satisfaction;
        if a.is_nan() || !(1.0..=5.0).contains(&a) {
            out.push((
                "attitude_min_satisfaction",
                "must be between 1 and 5".to_string(),
            ));
        }
        if !(1..=60).contains(&self.window_months) {
            out.push(("window_months", "must be between 1 and 60".to_string()));
        }
        if !(2..=1000).contains(&self.repeat_min_purchases) {
            out.push((
                "repeat_min_purchases",
                "must be between 2 and 1000".to_string(),
            ));
        }
        let s = self.share_of_wallet_min;
        if s.is_nan() || !(0.0..=1.0).contains(&s) {
            out.push(("share_of_wallet_min", "must be between 0 and 1".to_string()));
        }
        out
    }
}

/// What the type is computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoyaltyInputs {
    /// Latest overall satisfaction (1–5); None without survey data.
    pub satisfaction_overall: Option<f64>,
    /// Transactions in the trailing window.
    pub purchases_in_window: i64,
    /// CPR share of wallet (0–1); None when the wallet is unknown.
    pub share_of_wallet: Option<f64>,
    /// An open churn record (`churned_at` set on the card).
    pub churned: bool,
}

pub fn attitude_high(satisfaction: f64, s: &LoyaltySettings) -> bool {
    satisfaction >= s.attitude_min_satisfaction
}

pub fn behaviour_high(i: &LoyaltyInputs, s: &LoyaltySettings) -> bool {
    !i.churned
        && i.purchases_in_window >= s.repeat_min_purchases
        && i.share_of_wallet
            .is_none_or(|share| share >= s.share_of_wallet_min)
}

pub fn loyalty_type(i: &LoyaltyInputs, s: &LoyaltySettings) -> LoyaltyType {
    let Some(satisfaction) = i.satisfaction_overall else {
        return LoyaltyType::Unknown;
    };
    match (attitude_high(satisfaction, s), behaviour_high(i, s)) {
        (true, true) => LoyaltyType::High,
        (true, false) => LoyaltyType::Latent,
        (false, true) => LoyaltyType::Inertial,
        (false, false) => LoyaltyType::None,
    }
}

/// The direction of the repeat-purchase rate (`twice` of `bought` now,
/// against `twice_before` of `bought_before`): `rising` or `falling` when it
/// moved by at least one percentage point, else `steady`; `unknown` when
/// nobody bought in either period. Compared on the counts, exactly: as
/// floats, 3/50 − 1/20 came out 0.009999… and read as `steady`.
pub fn repeat_trend(twice: i64, bought: i64, twice_before: i64, bought_before: i64) -> Trend {
    if bought <= 0 || bought_before <= 0 {
        return Trend::Unknown;
    }
    // change × both wholes = a·d − c·b; one point of it is b·d / 100, so
    // |change| ≥ 0.01 ⇔ |a·d − c·b| ≥ ⌈b·d / 100⌉ (no product overflows i128).
    let (a, b, c, d) = (
        i128::from(twice),
        i128::from(bought),
        i128::from(twice_before),
        i128::from(bought_before),
    );
    let scaled_change = a * d - c * b;
    let point = (b * d + 99) / 100;
    if scaled_change >= point {
        Trend::Rising
    } else if scaled_change <= -point {
        Trend::Falling
    } else {
        Trend::Steady
    }
}

/// The change of the repeat-purchase rate (the arguments of
/// `repeat_trend`), on the counts, to four decimal places cut toward zero:
/// |change| ≥ 0.01 exactly when the trend is `rising` or `falling` (as a
/// float subtraction, 3/50 − 1/20 gave 0.00999… beside `rising`; rounded,
/// 0.00995 would read 0.01 beside `steady`). None when nobody bought in
/// either period.
pub fn repeat_change(
    twice: i64,
    bought: i64,
    twice_before: i64,
    bought_before: i64,
) -> Option<f64> {
    if bought <= 0 || bought_before <= 0 {
        return None;
    }
    let (a, b, c, d) = (
        i128::from(twice),
        i128::from(bought),
        i128::from(twice_before),
        i128::from(bought_before),
    );
    // Each product is below 2^126; the rest times 10^4 may not be, and then
    // the whole (b·d above 2^113) loses its last four digits instead.
    let (diff, whole) = (a * d - c * b, b * d);
    let (units, rest) = (diff / whole, diff % whole);
    let places = match rest.checked_mul(10_000) {
        Some(r) => r / whole,
        None => rest / (whole / 10_000),
    };
    Some((units * 10_000 + places) as f64 / 10_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(sat: Option<f64>, purchases: i64, share: Option<f64>) -> LoyaltyInputs {
        LoyaltyInputs {
            satisfaction_overall: sat,
            purchases_in_window: purchases,
            share_of_wallet: share,
            churned: false,
        }
    }

    #[test]
    fn the_four_types_and_unknown() {
        let s = LoyaltySettings::default();
        let t = |sat, n, share| loyalty_type(&inputs(sat, n, share), &s);
        assert_eq!(t(Some(4.0), 2, None), LoyaltyType::High);
        assert_eq!(t(Some(4.0), 1, None), LoyaltyType::Latent);
        assert_eq!(t(Some(3.99), 2, None), LoyaltyType::Inertial);
        assert_eq!(t(Some(3.99), 1, None), LoyaltyType::None);
        assert_eq!(t(None, 10, Some(1.0)), LoyaltyType::Unknown);
        assert_eq!(t(None, 0, None), LoyaltyType::Unknown);
    }

    #[test]
    fn attitude_boundary_is_inclusive() {
        let s = LoyaltySettings::default();
        assert!(attitude_high(4.0, &s));
        assert!(!attitude_high(3.999, &s));
        assert!(attitude_high(5.0, &s));
    }

    #[test]
    fn behaviour_needs_repeat_purchases_and_known_share() {
        let s = LoyaltySettings::default();
        assert!(behaviour_high(&inputs(None, 2, None), &s));
        assert!(!behaviour_high(&inputs(None, 1, None), &s));
        assert!(behaviour_high(&inputs(None, 2, Some(0.5)), &s));
        assert!(!behaviour_high(&inputs(None, 2, Some(0.4999)), &s));
        assert!(!behaviour_high(&inputs(None, 1, Some(1.0)), &s));
        assert!(behaviour_high(&inputs(None, 50, Some(1.0)), &s));
        assert!(!behaviour_high(&inputs(None, 0, None), &s));
    }

    #[test]
    fn a_churned_customer_is_never_a_repeat_buyer() {
        let s = LoyaltySettings::default();
        let churned = |sat| LoyaltyInputs {
            churned: true,
            ..inputs(sat, 50, Some(1.0))
        };
        assert!(!behaviour_high(&churned(None), &s));
        assert_eq!(loyalty_type(&churned(Some(5.0)), &s), LoyaltyType::Latent);
        assert_eq!(loyalty_type(&churned(Some(1.0)), &s), LoyaltyType::None);
        assert_eq!(loyalty_type(&churned(None), &s), LoyaltyType::Unknown);
    }

    #[test]
    fn settings_bounds() {
        assert!(LoyaltySettings::default().problems().is_empty());
        let bad = LoyaltySettings {
            attitude_min_satisfaction: 5.01,
            window_months: 0,
            repeat_min_purchases: 1,
            share_of_wallet_min: 1.01,
        };
        let fields: Vec<&str> = bad.problems().iter().map(|(f, _)| *f).collect();
        assert_eq!(
            fields,
            vec![
                "attitude_min_satisfaction",
                "window_months",
                "repeat_min_purchases",
                "share_of_wallet_min"
            ]
        );
        let edge = LoyaltySettings {
            attitude_min_satisfaction: 1.0,
            window_months: 60,
            repeat_min_purchases: 1000,
            share_of_wallet_min: 0.0,
        };
        assert!(edge.problems().is_empty());
        let nan = LoyaltySettings {
            attitude_min_satisfaction: f64::NAN,
            share_of_wallet_min: f64::NAN,
            ..LoyaltySettings::default()
        };
        assert_eq!(nan.problems().len(), 2);
    }

    #[test]
    fn a_trend_of_exactly_one_point_moves() {
        assert_eq!(
            super::repeat_trend(3, 50, 1, 20),
            Trend::Rising,
            "0.06 against 0.05"
        );
        assert_eq!(
            super::repeat_trend(1, 20, 3, 50),
            Trend::Falling,
            "0.05 against 0.06"
        );
        assert_eq!(
            super::repeat_trend(299, 10_000, 3, 100),
            Trend::Steady,
            "0.0299 against 0.03"
        );
        assert_eq!(super::repeat_trend(1, 2, 1, 2), Trend::Steady);
        // One point of 3 × 50 is 1.5, rounded up to 2: 2/3 against 33/50 is
        // 100 − 99 = 1 below it, steady (0.0067; rounded down it was rising).
        assert_eq!(super::repeat_trend(2, 3, 33, 50), Trend::Steady);
        assert_eq!(super::repeat_trend(33, 50, 2, 3), Trend::Steady);
        assert_eq!(super::repeat_trend(0, 0, 1, 2), Trend::Unknown);
        assert_eq!(super::repeat_trend(1, 2, 0, 0), Trend::Unknown);
        assert_eq!(
            super::repeat_trend(i64::MAX, i64::MAX, 0, i64::MAX),
            Trend::Rising
        );
    }

    #[test]
    fn the_repeat_change_agrees_with_its_trend() {
        assert_eq!(super::repeat_change(3, 50, 1, 20), Some(0.01));
        assert_eq!(super::repeat_change(1, 20, 3, 50), Some(-0.01));
        // 0.0299 against 0.03: −0.0001, steady.
        assert_eq!(super::repeat_change(299, 10_000, 3, 100), Some(-0.0001));
        // 199/20,000 − 0 = 0.00995: cut to 0.0099 (steady), not rounded to 0.01.
        assert_eq!(super::repeat_change(199, 20_000, 0, 1), Some(0.0099));
        assert_eq!(super::repeat_trend(199, 20_000, 0, 1), Trend::Steady);
        assert_eq!(super::repeat_change(1, 3, 0, 1), Some(0.3333));
        assert_eq!(super::repeat_change(0, 3, 1, 1), Some(-1.0));
        assert_eq!(super::repeat_change(0, 0, 1, 2), None);
        assert_eq!(super::repeat_change(1, 2, 0, 0), None);
        assert_eq!(
            super::repeat_change(i64::MAX, i64::MAX, 0, i64::MAX),
            Some(1.0)
        );
        let half = i64::MAX / 2;
        assert_eq!(
            super::repeat_change(half, i64::MAX, 0, i64::MAX),
            Some(0.4999)
        );
    }
}
