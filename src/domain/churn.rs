//! Churn risk (客户流失预警): which signals a customer shows and the score
//! they add up to. The same rule runs in SQL over every customer
//! (`db::churn_risk`), and a test there checks SQL and Rust agree.
//!
//! Signals, for a customer who has bought and is not churned:
//! - `no_contact`: nothing heard from us for at least `no_contact_days` days:
//!   since the last interaction, the first purchase or the card's creation,
//!   whichever is latest (see `silent_days`);
//! - `falling_share`: revenue in the last `share_window_days` days is at most
//!   `(100 − share_drop_pct)` % of the revenue in the window before, which
//!   was positive (with a fixed wallet size, share of wallet falls exactly
//!   when revenue does);
//! - `no_purchase`: no purchase for at least `no_purchase_days` days. The
//!   falling share compares two windows and goes quiet once both are empty
//!   (2 × `share_window_days` after the last purchase): without this signal a
//!   lapsed customer who still took the rep's calls left the list exactly as
//!   the lapse grew (DOMAIN.md §10: a churned customer used to buy and no
//!   longer does);
//! - `low_satisfaction`: latest overall satisfaction (1–5) strictly below
//!   `low_satisfaction_below`;
//! - `open_complaints`: at least `min_open_complaints` complaints open;
//! - `owner_inactive`: the owning rep's user account is deactivated.
//!
//! The score is the sum of the weights of the signals present (0–600);
//! customers scoring at least `min_score` are at risk.

use chrono::{Months, NaiveDateTime};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChurnSettings {
    pub no_contact_days: i64,
    pub share_window_days: i64,
    pub share_drop_pct: i64,
    /// Absent from settings stored before the signal existed: they read as
    /// the default, not as an unreadable document.
    #[serde(default = "defaults::no_purchase_days")]
    pub no_purchase_days: i64,
    pub low_satisfaction_below: f64,
    pub min_open_complaints: i64,
    pub weight_no_contact: i64,
    pub weight_falling_share: i64,
    #[serde(default = "defaults::weight_no_purchase")]
    pub weight_no_purchase: i64,
    pub weight_low_satisfaction: i64,
    pub weight_open_complaints: i64,
    pub weight_owner_inactive: i64,
    pub min_score: i64,
}

/// The defaults of the fields a document may lack (stored before the
/// signal existed, or a PUT written then): one source for the reader, the
/// PUT and the spec.
pub mod defaults {
    /// Twice the default share window: where the falling share goes quiet,
    /// this takes over.
    pub fn no_purchase_days() -> i64 {
        180
    }
    /// The falling share's weight: the same lapse, carried on.
    pub fn weight_no_purchase() -> i64 {
        25
    }
}

impl Default for ChurnSettings {
    fn default() -> Self {
        ChurnSettings {
            no_contact_days: 90,
            share_window_days: 90,
            share_drop_pct: 50,
            no_purchase_days: defaults::no_purchase_days(),
            low_satisfaction_below: 3.0,
            min_open_complaints: 1,
            weight_no_contact: 30,
            weight_falling_share: 25,
            weight_no_purchase: defaults::weight_no_purchase(),
            weight_low_satisfaction: 20,
            weight_open_complaints: 15,
            weight_owner_inactive: 10,
            min_score: 1,
        }
    }
}

impl ChurnSettings {
    /// Every broken range, by field.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut range = |name: &'static str, v: i64, lo: i64, hi: i64| {
            if !(lo..=hi).contains(&v) {
                out.push((name, format!("must be between {lo} and {hi}")));
            }
        };
        range("no_contact_days", self.no_contact_days, 1, 3650);
        range("share_window_days", self.share_window_days, 7, 1830);
        range("share_drop_pct", self.share_drop_pct, 1, 100);
        range("no_purchase_days", self.no_purchase_days, 1, 3650);
        range("min_open_complaints", self.min_open_complaints, 1, 1000);
        range("weight_no_contact", self.weight_no_contact, 0, 100);
        range("weight_falling_share", self.weight_falling_share, 0, 100);
        range("weight_no_purchase", self.weight_no_purchase, 0, 100);
        range(
            "weight_low_satisfaction",
            self.weight_low_satisfaction,
            0,
            100,
        );
        range(
            "weight_open_complaints",
            self.weight_open_complaints,
            0,
            100,
        );
        range("weight_owner_inactive", self.weight_owner_inactive, 0, 100);
        range("min_score", self.min_score, 1, 600);
        let s = self.low_satisfaction_below;
        if !(1.0..=5.0).contains(&s) || s.is_nan() {
            out.push(("low_satisfaction_below", "must be between 1 and 5".into()));
        }
        out
    }
}

/// What the rule looks at, for one customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskInputs {
    /// Whole days since the last contact; None if never contacted.
    pub days_since_contact: Option<i64>,
    /// Whole days since the first purchase; None if never bought.
    pub days_since_first_purchase: Option<i64>,
    /// Whole days since the card was created.
    pub days_since_created: i64,
    pub revenue_recent_cents: i64,
    pub revenue_before_cents: i64,
    /// Whole days since the last purchase; None if never bought.
    pub days_since_purchase: Option<i64>,
    pub satisfaction_overall: Option<f64>,
    pub open_complaints: i64,
    pub owner_active: bool,
}

/// The signals present, in the order of the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Signals {
    pub no_contact: bool,
    pub falling_share: bool,
    pub no_purchase: bool,
    pub low_satisfaction: bool,
    pub open_complaints: bool,
    pub owner_inactive: bool,
}

pub fn signals(i: &RiskInputs, s: &ChurnSettings) -> Signals {
    Signals {
        no_contact: silent_days(i) >= s.no_contact_days,
        falling_share: falling_share(i.revenue_recent_cents, i.revenue_before_cents, s),
        no_purchase: i
            .days_since_purchase
            .is_some_and(|d| d >= s.no_purchase_days),
        low_satisfaction: i
            .satisfaction_overall
            .is_some_and(|v| v < s.low_satisfaction_below),
        open_complaints: i.open_complaints >= s.min_open_complaints,
        owner_inactive: !i.owner_active,
    }
}

/// How long the customer has heard nothing from us: since the latest of its
/// last contact, its first purchase (it became a customer) and the card's
/// creation (Patron learnt of it). Counted from "never" for a card never
/// contacted, every new buyer and every card an ERP sync loads with years of
/// orders topped the at-risk list at once, and a lead contacted before its
/// first order looked more silent than one never contacted (reviews): a rep
/// has `no_contact_days` from each of these to log a contact.
pub fn silent_days(i: &RiskInputs) -> i64 {
    [i.days_since_contact, i.days_since_first_purchase]
        .into_iter()
        .flatten()
        .fold(i.days_since_created, i64::min)
}

/// Recent revenue at most (100 − drop) % of a positive revenue before; in
/// integers (i128: no overflow, no float drift at the boundary).
pub fn falling_share(recent: i64, before: i64, s: &ChurnSettings) -> bool {
    before > 0 && (recent as i128) * 100 <= (before as i128) * (100 - s.share_drop_pct) as i128
}

pub fn score(sig: &Signals, s: &ChurnSettings) -> i64 {
    [
        (sig.no_contact, s.weight_no_contact),
        (sig.falling_share, s.weight_falling_share),
        (sig.no_purchase, s.weight_no_purchase),
        (sig.low_satisfaction, s.weight_low_satisfaction),
        (sig.open_complaints, s.weight_open_complaints),
        (sig.owner_inactive, s.weight_owner_inactive),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, w)| w)
    .sum()
}

pub fn at_risk(score: i64, s: &ChurnSettings) -> bool {
    score >= s.min_score
}

/// Was a customer since `since` new when it was lost at `churned_at`? A
/// customer for at most 12 calendar months then (DOMAIN.md §12, "why do new
/// customers leave"). Judged at the churn, not at a report's end: a year's
/// report and a month's inside it count the same loss alike.
pub fn new_when_lost(since: NaiveDateTime, churned_at: NaiveDateTime) -> bool {
    churned_at
        .checked_sub_months(Months::new(12))
        .is_none_or(|start| since >= start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calm() -> RiskInputs {
        RiskInputs {
            days_since_contact: Some(1),
            days_since_first_purchase: Some(400),
            days_since_created: 500,
            revenue_recent_cents: 100,
            revenue_before_cents: 100,
            days_since_purchase: Some(1),
            satisfaction_overall: Some(4.0),
            open_complaints: 0,
            owner_active: true,
        }
    }

    #[test]
    fn a_calm_customer_has_no_signal_and_is_not_at_risk() {
        let s = ChurnSettings::default();
        let sig = signals(&calm(), &s);
        assert_eq!(sig, Signals::default());
        assert_eq!(score(&sig, &s), 0);
        assert!(!at_risk(0, &s));
        assert!(at_risk(1, &s));
    }

    #[test]
    fn no_contact_starts_at_exactly_n_days_and_when_never_contacted() {
        let s = ChurnSettings::default();
        let with = |contact, first_purchase, created| {
            signals(
                &RiskInputs {
                    days_since_contact: contact,
                    days_since_first_purchase: first_purchase,
                    days_since_created: created,
                    ..calm()
                },
                &s,
            )
            .no_contact
        };
        assert!(!with(Some(89), Some(400), 500));
        assert!(with(Some(90), Some(400), 500));
        // Never contacted: silent since the first purchase.
        assert!(with(None, Some(400), 500));
        assert!(with(None, Some(90), 500));
        assert!(
            !with(None, Some(89), 500),
            "a new buyer is not a long silence"
        );
        assert!(!with(None, Some(0), 500));
        // A card loaded with years of orders: silent since it was created.
        assert!(!with(None, Some(2000), 89), "an ERP load is no silence");
        assert!(with(None, Some(2000), 90));
        assert!(!with(None, None, 89));
        assert!(with(None, None, 90));
        // The latest of the three counts, whichever it is: a lead contacted
        // before its first order is not silent for that contact.
        assert!(!with(Some(120), Some(5), 200));
        assert!(!with(Some(10), Some(400), 500));
        assert!(!with(Some(400), Some(400), 10));
    }

    #[test]
    fn falling_share_at_the_drop_boundary() {
        let s = ChurnSettings::default(); // 50 %
        assert!(falling_share(50, 100, &s));
        assert!(!falling_share(51, 100, &s));
        assert!(falling_share(0, 1, &s));
        assert!(!falling_share(0, 0, &s), "nothing before: nothing can fall");
        let all = ChurnSettings {
            share_drop_pct: 100,
            ..s
        };
        assert!(falling_share(0, 100, &all));
        assert!(!falling_share(1, 100, &all));
        assert!(falling_share(i64::MAX / 4, i64::MAX / 2, &s), "no overflow");
    }

    #[test]
    fn no_purchase_starts_at_exactly_n_days_and_never_without_a_purchase() {
        let s = ChurnSettings::default(); // 180 days
        let with = |d| {
            signals(
                &RiskInputs {
                    days_since_purchase: d,
                    ..calm()
                },
                &s,
            )
            .no_purchase
        };
        assert!(!with(Some(179)));
        assert!(with(Some(180)));
        assert!(with(Some(5000)));
        assert!(!with(None), "never bought: nothing lapsed");
    }

    /// The review's case: monthly purchases until the lapse, a rep call
    /// every 60 days. The falling share holds from 90 days on and goes quiet
    /// at 180, when both windows are empty; the lapse must stay scored on
    /// every day after (it scored 0 from day 181, and left the list).
    #[test]
    fn a_lapse_stays_at_risk_however_long_it_lasts() {
        let s = ChurnSettings::default();
        let w = s.share_window_days;
        for lapse in 0..=3000_i64 {
            // Purchases of 1,000 on days lapse, lapse + 30, ... (days ago).
            let revenue = |lo: i64, hi: i64| {
                (0..100)
                    .map(|k| lapse + 30 * k)
                    .filter(|d| (lo..hi).contains(d))
                    .count() as i64
                    * 1_000
            };
            let inputs = RiskInputs {
                days_since_contact: Some(lapse % 60),
                revenue_recent_cents: revenue(0, w),
                revenue_before_cents: revenue(w, 2 * w),
                days_since_purchase: Some(lapse),
                ..calm()
            };
            let sc = score(&signals(&inputs, &s), &s);
            if lapse >= w {
                assert!(at_risk(sc, &s), "lapsed {lapse} days: score {sc}");
            }
            if lapse < 60 {
                assert_eq!(sc, 0, "two of the last three months bought at {lapse} days");
            }
        }
    }

    #[test]
    fn low_satisfaction_is_strictly_below_the_threshold() {
        let s = ChurnSettings::default(); // below 3.0
        let with = |v| {
            signals(
                &RiskInputs {
                    satisfaction_overall: v,
                    ..calm()
                },
                &s,
            )
            .low_satisfaction
        };
        assert!(with(Some(2.99)));
        assert!(!with(Some(3.0)));
        assert!(!with(None), "no survey answered: no signal");
    }

    #[test]
    fn complaints_and_owner_signals() {
        let s = ChurnSettings {
            min_open_complaints: 2,
            ..ChurnSettings::default()
        };
        let c = |n| {
            signals(
                &RiskInputs {
                    open_complaints: n,
                    ..calm()
                },
                &s,
            )
            .open_complaints
        };
        assert!(!c(1));
        assert!(c(2));
        let gone = signals(
            &RiskInputs {
                owner_active: false,
                ..calm()
            },
            &s,
        );
        assert!(gone.owner_inactive);
    }

    #[test]
    fn score_adds_the_weights_of_the_signals_present() {
        let s = ChurnSettings::default();
        let all = Signals {
            no_contact: true,
            falling_share: true,
            no_purchase: true,
            low_satisfaction: true,
            open_complaints: true,
            owner_inactive: true,
        };
        assert_eq!(score(&all, &s), 125);
        let top = ChurnSettings {
            weight_no_contact: 100,
            weight_falling_share: 100,
            weight_no_purchase: 100,
            weight_low_satisfaction: 100,
            weight_open_complaints: 100,
            weight_owner_inactive: 100,
            min_score: 600,
            ..s
        };
        assert!(top.problems().is_empty(), "every signal can be required");
        assert!(at_risk(score(&all, &top), &top));
        let two = Signals {
            no_contact: true,
            owner_inactive: true,
            ..Signals::default()
        };
        assert_eq!(score(&two, &s), 40);
    }

    #[test]
    fn settings_ranges() {
        assert!(ChurnSettings::default().problems().is_empty());
        let bad = ChurnSettings {
            no_contact_days: 0,
            share_drop_pct: 101,
            no_purchase_days: 0,
            low_satisfaction_below: 5.5,
            weight_no_purchase: 101,
            weight_owner_inactive: -1,
            min_score: 0,
            ..ChurnSettings::default()
        };
        let fields: Vec<_> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "no_contact_days",
                "share_drop_pct",
                "no_purchase_days",
                "weight_no_purchase",
                "weight_owner_inactive",
                "min_score",
                "low_satisfaction_below"
            ]
        );
        let edges = |no_purchase_days, weight_no_purchase, min_score| {
            ChurnSettings {
                no_purchase_days,
                weight_no_purchase,
                min_score,
                ..ChurnSettings::default()
            }
            .problems()
            .into_iter()
            .map(|(f, _)| f)
            .collect::<Vec<_>>()
        };
        assert!(edges(1, 0, 600).is_empty());
        assert!(edges(3650, 100, 1).is_empty());
        assert_eq!(
            edges(3651, -1, 601),
            ["no_purchase_days", "weight_no_purchase", "min_score"]
        );
    }

    #[test]
    fn a_customer_is_new_when_lost_within_12_months_of_becoming_one() {
        let at =
            |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap_or_default();
        let lost = at("2026-12-06 10:00:00");
        assert!(new_when_lost(at("2025-12-17 00:00:00"), lost));
        assert!(new_when_lost(at("2025-12-06 10:00:00"), lost));
        assert!(!new_when_lost(at("2025-12-06 09:59:59"), lost));
        assert!(new_when_lost(at("2026-12-06 10:00:00"), lost));
        // A month's end: 12 months before 29 February is 28 February.
        let leap = at("2024-02-29 12:00:00");
        assert!(new_when_lost(at("2023-02-28 12:00:00"), leap));
        assert!(!new_when_lost(at("2023-02-28 11:59:59"), leap));
        // Before any calendar: nothing is older than the start of time.
        assert!(new_when_lost(NaiveDateTime::MIN, NaiveDateTime::MIN));
    }

    /// Settings stored before `no_purchase` existed read with its defaults
    /// (an unreadable document was a 500 on every at-risk request).
    #[test]
    fn settings_stored_without_the_no_purchase_fields_read_with_its_defaults() {
        let old = r#"{"no_contact_days":60,"share_window_days":30,"share_drop_pct":40,
            "low_satisfaction_below":2.5,"min_open_complaints":2,"weight_no_contact":10,
            "weight_falling_share":20,"weight_low_satisfaction":30,"weight_open_complaints":40,
            "weight_owner_inactive":50,"min_score":5}"#;
        let s: ChurnSettings = serde_json::from_str(old).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.no_purchase_days, s.weight_no_purchase), (180, 25));
        assert_eq!((s.no_contact_days, s.min_score), (60, 5));
    }
}
