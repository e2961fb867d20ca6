//! Customer share of a market (客户份额, DOMAIN.md §12): from a population
//! down to the revenue at stake, and the share of target customers won.
//!
//! Each count is rounded to the nearest whole customer at its own step, so
//! that the chain reads like the texts' worked example (5,000,000 × 15% =
//! 750,000; × 20% = 150,000; × 2/3 = 100,000; × 20% = 20,000 spenders; ×
//! 3,000 = 60,000,000).

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarketInputs {
    pub population: i64,
    pub segment_ratio: f64,
    pub reachable_ratio: f64,
    pub valid_ratio: f64,
    pub spender_ratio: f64,
    /// Yearly spend of one spender, in whole currency units or cents (as sent).
    pub annual_spend: i64,
    /// Customers already won; defaults to the valid customers.
    pub customers_won: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarketFigures {
    pub segment_size: i64,
    pub target_customers: i64,
    pub valid_customers: i64,
    pub spenders: i64,
    pub revenue: i64,
    pub customers_won: i64,
    /// customers_won ÷ target_customers; None when there is no target customer.
    pub customer_share: Option<f64>,
}

fn times(n: i64, ratio: f64) -> i64 {
    (n as f64 * ratio).round() as i64
}

pub fn customer_share(i: &MarketInputs) -> MarketFigures {
    let segment_size = times(i.population, i.segment_ratio);
    let target_customers = times(segment_size, i.reachable_ratio);
    let valid_customers = times(target_customers, i.valid_ratio);
    let spenders = times(valid_customers, i.spender_ratio);
    let revenue = spenders.saturating_mul(i.annual_spend);
    let customers_won = i.customers_won.unwrap_or(valid_customers);
    MarketFigures {
        segment_size,
        target_customers,
        valid_customers,
        spenders,
        revenue,
        customers_won,
        customer_share: (target_customers > 0)
            .then(|| customers_won as f64 / target_customers as f64),
    }
}

/// Rules on the inputs, by field: ratios in 0..=1, population positive,
/// spend and won not negative, won at most the target customers (a share
/// is of them: 4,000,000 won of 150,000 targets gave a share of 26.7), and
/// a revenue at stake that fits in 64 bits (it was capped without a word).
/// `missing`: the inputs the caller does not have (stand-in values in `i`),
/// which no rule reads: a rule on a stand-in named a field that was right
/// (a review: "must not exceed the target customers" of a target computed
/// from a missing ratio).
pub fn problems(i: &MarketInputs, missing: &[&str]) -> Vec<(&'static str, &'static str)> {
    let has = |field: &str| !missing.contains(&field);
    let mut out = Vec::new();
    if has("population") && i.population <= 0 {
        out.push(("population", "must be positive"));
    }
    for (name, r) in [
        ("segment_ratio", i.segment_ratio),
        ("reachable_ratio", i.reachable_ratio),
        ("valid_ratio", i.valid_ratio),
        ("spender_ratio", i.spender_ratio),
    ] {
        if has(name) && !(0.0..=1.0).contains(&r) {
            out.push((name, "must be between 0 and 1"));
        }
    }
    if has("annual_spend") && i.annual_spend < 0 {
        out.push(("annual_spend", "must not be negative"));
    }
    match i.customers_won {
        Some(w) if w < 0 => out.push(("customers_won", "must not be negative")),
        Some(w) if has("population") && w > i.population => {
            out.push(("customers_won", "must not exceed the population"))
        }
        _ => {}
    }
    // The rules on derived figures run once the inputs each reads are sent
    // and sound, whatever else is wrong: gated on a clean request, a bad
    // field elsewhere hid them until a second try (a review).
    let sound = |fields: &[&str], out: &[(&str, &str)]| {
        fields
            .iter()
            .all(|f| has(f) && !out.iter().any(|(bad, _)| bad == f))
    };
    let f = customer_share(i);
    let target_inputs = ["population", "segment_ratio", "reachable_ratio"];
    let revenue_inputs = [
        "population",
        "segment_ratio",
        "reachable_ratio",
        "valid_ratio",
        "spender_ratio",
        "annual_spend",
    ];
    let revenue_fits = f.spenders.checked_mul(i.annual_spend).is_some();
    let won_fits = i.customers_won.is_none_or(|w| w <= f.target_customers);
    if !revenue_fits && sound(&revenue_inputs, &out) {
        out.push((
            "annual_spend",
            "times the spenders, exceeds the largest revenue this API counts (2^63 - 1)",
        ));
    }
    if !won_fits && sound(&target_inputs, &out) && sound(&["customers_won"], &out) {
        out.push((
            "customers_won",
            "must not exceed the target customers (population × segment × reachable ratio)",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts() -> MarketInputs {
        MarketInputs {
            population: 5_000_000,
            segment_ratio: 0.15,
            reachable_ratio: 0.20,
            valid_ratio: 2.0 / 3.0,
            spender_ratio: 0.20,
            annual_spend: 3_000,
            customers_won: None,
        }
    }

    #[test]
    fn the_texts_worked_example() {
        let f = customer_share(&texts());
        assert_eq!(f.segment_size, 750_000);
        assert_eq!(f.target_customers, 150_000);
        assert_eq!(f.valid_customers, 100_000);
        assert_eq!(f.spenders, 20_000);
        assert_eq!(f.revenue, 60_000_000);
        assert_eq!(f.customers_won, 100_000);
        let share = f.customer_share.unwrap_or_default();
        assert!((share - 0.6667).abs() < 1e-4, "{share}");
    }

    #[test]
    fn customers_won_overrides_valid_and_zero_target_has_no_share() {
        let f = customer_share(&MarketInputs {
            customers_won: Some(15_000),
            ..texts()
        });
        assert_eq!(f.customer_share, Some(0.1));
        let none = customer_share(&MarketInputs {
            segment_ratio: 0.0,
            ..texts()
        });
        assert_eq!(none.target_customers, 0);
        assert_eq!(none.customer_share, None);
    }

    #[test]
    fn won_beyond_the_targets_and_an_overflowing_revenue_are_refused() {
        let won = MarketInputs {
            customers_won: Some(150_001),
            ..texts()
        };
        assert_eq!(
            problems(&won, &[]).first().map(|p| p.0),
            Some("customers_won")
        );
        let at_most = MarketInputs {
            customers_won: Some(150_000),
            ..texts()
        };
        assert!(problems(&at_most, &[]).is_empty());
        let huge = MarketInputs {
            population: i64::MAX,
            segment_ratio: 1.0,
            reachable_ratio: 1.0,
            valid_ratio: 1.0,
            spender_ratio: 1.0,
            annual_spend: 2,
            customers_won: Some(0),
        };
        assert_eq!(
            problems(&huge, &[]).first().map(|p| p.0),
            Some("annual_spend")
        );
    }

    fn fields_of(problems: Vec<(&'static str, &'static str)>) -> Vec<&'static str> {
        problems.into_iter().map(|(f, _)| f).collect()
    }

    /// A review: the two rules on derived figures ran only on an otherwise
    /// clean request, so a negative spend hid "won beyond the targets" until
    /// a second try, and a negative won figure hid the overflow.
    #[test]
    fn a_bad_field_elsewhere_hides_no_rule_on_derived_figures() {
        let won_and_spend = MarketInputs {
            population: 1000,
            segment_ratio: 0.1,
            reachable_ratio: 0.1,
            annual_spend: -1,
            customers_won: Some(50),
            ..texts()
        };
        let fields = fields_of(problems(&won_and_spend, &[]));
        assert_eq!(fields, ["annual_spend", "customers_won"]);
        // The won check reads neither ratio after the target: a bad valid
        // ratio leaves it on, and a missing spend too.
        let won_and_ratio = MarketInputs {
            valid_ratio: 2.0,
            ..won_and_spend
        };
        let fields = fields_of(problems(&won_and_ratio, &["annual_spend"]));
        assert_eq!(fields, ["valid_ratio", "customers_won"]);
        // The overflow reads every input but the won figure.
        let huge = MarketInputs {
            population: i64::MAX,
            segment_ratio: 1.0,
            reachable_ratio: 1.0,
            valid_ratio: 1.0,
            spender_ratio: 1.0,
            annual_spend: i64::MAX,
            customers_won: Some(-1),
        };
        let fields = fields_of(problems(&huge, &[]));
        assert_eq!(fields, ["customers_won", "annual_spend"]);
        // A derived rule on an unsound input stays quiet: the target of a
        // bad ratio means nothing.
        let bad_target = MarketInputs {
            reachable_ratio: 1.5,
            customers_won: Some(1_000_000),
            ..texts()
        };
        let fields = fields_of(problems(&bad_target, &[]));
        assert_eq!(fields, ["reachable_ratio"]);
    }

    #[test]
    fn ratio_bounds_are_inclusive() {
        let edge = MarketInputs {
            segment_ratio: 0.0,
            reachable_ratio: 1.0,
            ..texts()
        };
        assert!(problems(&edge, &[]).is_empty());
        let bad = MarketInputs {
            population: 0,
            segment_ratio: -0.01,
            reachable_ratio: 1.01,
            valid_ratio: f64::NAN,
            spender_ratio: 0.5,
            annual_spend: -1,
            customers_won: Some(-1),
        };
        let fields = fields_of(problems(&bad, &[]));
        assert_eq!(
            fields,
            [
                "population",
                "segment_ratio",
                "reachable_ratio",
                "valid_ratio",
                "annual_spend",
                "customers_won"
            ]
        );
        let too_many = MarketInputs {
            customers_won: Some(5_000_001),
            ..texts()
        };
        assert_eq!(problems(&too_many, &[]).len(), 1);
    }

    #[test]
    fn no_rule_reads_a_missing_input() {
        // A missing ratio stands in as 0: no target to hold the won to.
        let stand_in = MarketInputs {
            reachable_ratio: 0.0,
            customers_won: Some(10),
            ..texts()
        };
        assert_eq!(
            problems(&stand_in, &[]).len(),
            1,
            "sent as 0, it is refused"
        );
        assert!(problems(&stand_in, &["reachable_ratio"]).is_empty());
        let no_population = MarketInputs {
            population: 1,
            customers_won: Some(5),
            ..texts()
        };
        assert_eq!(
            problems(&no_population, &[]).first().map(|p| p.0),
            Some("customers_won")
        );
        assert!(problems(&no_population, &["population"]).is_empty());
    }
}
