//! The CPR development cycle (客户开发周期): conversion → penetration →
//! retention, measured by share of wallet (DOMAIN.md §5).
//!
//! Share of wallet = our revenue from the customer in the trailing window ÷
//! the wallet for the same span (the annual `wallet_size_cents` scaled by
//! `window_months / 12`), capped at 1. With no (or a zero) wallet the share
//! is unknown and the stage follows the number of purchases instead.

use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::codes::CprStage;

/// Thresholds of the cycle; settings, not constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CprSettings {
    pub window_months: u32,
    pub conversion_share_max: f64,
    pub retention_share_min: f64,
    pub retention_min_tenure_days: i64,
    pub retention_min_purchases: i64,
}

impl Default for CprSettings {
    fn default() -> Self {
        CprSettings {
            window_months: 12,
            conversion_share_max: 0.10,
            retention_share_min: 0.80,
            retention_min_tenure_days: 180,
            retention_min_purchases: 4,
        }
    }
}

impl CprSettings {
    /// Problems with these settings, as (field, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(1..=60).contains(&self.window_months) {
            out.push(("window_months", "must be between 1 and 60".to_string()));
        }
        for (name, v) in [
            ("conversion_share_max", self.conversion_share_max),
            ("retention_share_min", self.retention_share_min),
        ] {
            if !(0.0..=1.0).contains(&v) || v.is_nan() {
                out.push((name, "must be between 0 and 1".to_string()));
            }
        }
        if self.retention_share_min <= self.conversion_share_max {
            out.push((
                "retention_share_min",
                "must be greater than conversion_share_max".to_string(),
            ));
        }
        if !(0..=3650).contains(&self.retention_min_tenure_days) {
            out.push((
                "retention_min_tenure_days",
                "must be between 0 and 3650".to_string(),
            ));
        }
        if !(2..=1000).contains(&self.retention_min_purchases) {
            out.push((
                "retention_min_purchases",
                "must be between 2 and 1000".to_string(),
            ));
        }
        out
    }
}

/// What the stage is computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CprInputs {
    /// Transactions ever.
    pub purchase_count: i64,
    pub first_purchase_at: Option<NaiveDateTime>,
    /// Our revenue from the customer in the trailing window.
    pub revenue_in_window_cents: i64,
    /// The customer's annual spend on what we sell.
    pub wallet_size_cents: Option<i64>,
}

/// The wallet for the window: the annual wallet scaled to the window.
pub fn wallet_in_window(wallet_size_cents: Option<i64>, window_months: u32) -> Option<i64> {
    wallet_size_cents
        .filter(|w| *w > 0)
        .map(|w| (i128::from(w) * i128::from(window_months) / 12).min(i128::from(i64::MAX)) as i64)
}

/// Share of wallet in [0, 1]; None without a positive wallet size.
pub fn share_of_wallet(
    revenue_in_window_cents: i64,
    wallet_size_cents: Option<i64>,
    window_months: u32,
) -> Option<f64> {
    let wallet = wallet_size_cents.filter(|w| *w > 0)?;
    // revenue / (wallet × months / 12), computed as (revenue × 12) / (wallet × months)
    // in floating point, exactly as the database does it.
    let numerator = revenue_in_window_cents.max(0) as f64 * 12.0;
    let denominator = wallet as f64 * f64::from(window_months);
    Some(if numerator >= denominator {
        1.0
    } else {
        numerator / denominator
    })
}

/// The share of wallet of every card with a wallet and no revenue yet.
pub const NEW_CARD_SHARE: f64 = 0.0;

/// The share of wallet of a card that has no revenue yet (a new card):
/// [`NEW_CARD_SHARE`] of a known wallet whatever the window, None without
/// one. Its stage is `not_started`, the column default, so this is all a
/// create stores.
pub fn new_card_share(wallet_size_cents: Option<i64>) -> Option<f64> {
    wallet_size_cents.filter(|w| *w > 0).map(|_| NEW_CARD_SHARE)
}

/// The stage of a customer now.
pub fn stage(inputs: &CprInputs, settings: &CprSettings, now: NaiveDateTime) -> CprStage {
    if inputs.purchase_count == 0 {
        return CprStage::NotStarted;
    }
    let tenure_reached = inputs
        .first_purchase_at
        .is_some_and(|first| first <= now - Duration::days(settings.retention_min_tenure_days));
    match share_of_wallet(
        inputs.revenue_in_window_cents,
        inputs.wallet_size_cents,
        settings.window_months,
    ) {
        Some(share) => {
            if share >= settings.retention_share_min && tenure_reached {
                CprStage::Retention
            } else if share <= settings.conversion_share_max {
                CprStage::Conversion
            } else {
                CprStage::Penetration
            }
        }
        // Without a wallet size the stage follows purchases, but no business
        // in the window is conversion as a share of 0 would be: a customer
        // who stopped buying falls back (DOMAIN.md §5), it does not stay in
        // retention on purchases made years ago.
        None if inputs.revenue_in_window_cents <= 0 => CprStage::Conversion,
        None => {
            if inputs.purchase_count >= settings.retention_min_purchases && tenure_reached {
                CprStage::Retention
            } else if inputs.purchase_count == 1 {
                CprStage::Conversion
            } else {
                CprStage::Penetration
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .unwrap_or_default()
    }

    fn inputs(purchases: i64, tenure_days: i64, revenue: i64, wallet: Option<i64>) -> CprInputs {
        CprInputs {
            purchase_count: purchases,
            first_purchase_at: (purchases > 0).then(|| now() - Duration::days(tenure_days)),
            revenue_in_window_cents: revenue,
            wallet_size_cents: wallet,
        }
    }

    fn stage_of(i: CprInputs) -> CprStage {
        stage(&i, &CprSettings::default(), now())
    }

    #[test]
    fn no_transaction_is_not_started() {
        assert_eq!(stage_of(inputs(0, 0, 0, Some(1000))), CprStage::NotStarted);
        assert_eq!(stage_of(inputs(0, 0, 0, None)), CprStage::NotStarted);
    }

    #[test]
    fn share_exactly_at_conversion_max_is_conversion() {
        // 100 of a 1,000 wallet = 0.10 exactly.
        assert_eq!(share_of_wallet(100, Some(1000), 12), Some(0.1));
        assert_eq!(
            stage_of(inputs(1, 10, 100, Some(1000))),
            CprStage::Conversion
        );
        assert_eq!(
            stage_of(inputs(1, 10, 101, Some(1000))),
            CprStage::Penetration
        );
    }

    #[test]
    fn retention_needs_share_and_tenure() {
        // 800 of 1,000 = 0.80 exactly, tenure exactly 180 days.
        assert_eq!(
            stage_of(inputs(2, 180, 800, Some(1000))),
            CprStage::Retention
        );
        assert_eq!(
            stage_of(inputs(2, 179, 800, Some(1000))),
            CprStage::Penetration
        );
        assert_eq!(
            stage_of(inputs(2, 400, 799, Some(1000))),
            CprStage::Penetration
        );
    }

    #[test]
    fn share_is_capped_at_one_and_scaled_to_the_window() {
        assert_eq!(share_of_wallet(5000, Some(1000), 12), Some(1.0));
        // a 6-month window sees half the annual wallet: 300 of 500.
        assert_eq!(share_of_wallet(300, Some(1000), 6), Some(0.6));
        assert_eq!(wallet_in_window(Some(1000), 6), Some(500));
    }

    #[test]
    fn missing_or_zero_wallet_follows_purchases() {
        // A new card's share is the share of no revenue, whatever the window.
        for wallet in [None, Some(0), Some(1), Some(1000)] {
            for months in [1, 12, 60] {
                assert_eq!(new_card_share(wallet), share_of_wallet(0, wallet, months));
            }
        }
        assert_eq!(new_card_share(Some(1)), Some(0.0));
        assert_eq!(share_of_wallet(100, None, 12), None);
        assert_eq!(share_of_wallet(100, Some(0), 12), None);
        assert_eq!(stage_of(inputs(1, 400, 100, None)), CprStage::Conversion);
        assert_eq!(stage_of(inputs(2, 10, 100, None)), CprStage::Penetration);
        assert_eq!(stage_of(inputs(4, 179, 100, None)), CprStage::Penetration);
        assert_eq!(stage_of(inputs(4, 180, 100, Some(0))), CprStage::Retention);
        assert_eq!(stage_of(inputs(3, 400, 100, None)), CprStage::Penetration);
        // No business in the window: conversion, as with a known wallet,
        // however many purchases came before it.
        assert_eq!(stage_of(inputs(4, 700, 0, None)), CprStage::Conversion);
        assert_eq!(
            stage_of(inputs(4, 700, 0, Some(100_000))),
            CprStage::Conversion
        );
        assert_eq!(stage_of(inputs(2, 700, 0, Some(0))), CprStage::Conversion);
    }

    #[test]
    fn settings_are_checked() {
        assert!(CprSettings::default().problems().is_empty());
        let bad = CprSettings {
            window_months: 0,
            conversion_share_max: 0.9,
            retention_share_min: 0.8,
            retention_min_tenure_days: -1,
            retention_min_purchases: 1,
        };
        let fields: Vec<&str> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "window_months",
                "retention_share_min",
                "retention_min_tenure_days",
                "retention_min_purchases"
            ]
        );
    }
}
