//! The sales funnel rules (大客户销售漏斗): which stage moves are legal.
//!
//! - Stages run lead → prospect → ordinary → key → won. Moving forward may
//!   skip stages (a walk-in can be an ordinary customer at once).
//! - `won` needs at least one purchase (the card's `purchase_count`: a
//!   transaction with an amount above 0): a customer is won when they have
//!   bought, not when someone says so (nor when an order was refunded to 0
//!   or only a free service was recorded).
//! - Moving back down the funnel (e.g. key → ordinary, won → key) is allowed
//!   only with a reason, so that the history explains every step back.

use super::codes::FunnelStage;

/// Why a stage move is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunnelError {
    WonWithoutPurchase,
    BackwardWithoutReason { from: FunnelStage, to: FunnelStage },
}

impl std::fmt::Display for FunnelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FunnelError::WonWithoutPurchase => f.write_str(
                "a customer can move to `won` only after at least one purchase (a transaction with an amount above 0) is recorded",
            ),
            FunnelError::BackwardWithoutReason { from, to } => write!(
                f,
                "moving back down the funnel from `{from}` to `{to}` needs a `change_reason`"
            ),
        }
    }
}

pub fn rank(stage: FunnelStage) -> u8 {
    match stage {
        FunnelStage::Lead => 0,
        FunnelStage::Prospect => 1,
        FunnelStage::Ordinary => 2,
        FunnelStage::Key => 3,
        FunnelStage::Won => 4,
    }
}

/// Checks a move from `from` (None for a new customer) to `to`.
pub fn check_move(
    from: Option<FunnelStage>,
    to: FunnelStage,
    purchase_count: i64,
    has_reason: bool,
) -> Result<(), FunnelError> {
    if from == Some(to) {
        return Ok(());
    }
    if to == FunnelStage::Won && purchase_count < 1 {
        return Err(FunnelError::WonWithoutPurchase);
    }
    if let Some(from) = from {
        if rank(to) < rank(from) && !has_reason {
            return Err(FunnelError::BackwardWithoutReason { from, to });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use FunnelStage::*;

    #[test]
    fn forward_moves_may_skip_stages() {
        assert_eq!(check_move(Some(Lead), Prospect, 0, false), Ok(()));
        assert_eq!(check_move(Some(Lead), Key, 0, false), Ok(()));
        assert_eq!(check_move(None, Ordinary, 0, false), Ok(()));
    }

    #[test]
    fn won_needs_a_transaction() {
        assert_eq!(
            check_move(Some(Key), Won, 0, true),
            Err(FunnelError::WonWithoutPurchase)
        );
        assert_eq!(
            check_move(None, Won, 0, false),
            Err(FunnelError::WonWithoutPurchase)
        );
        assert_eq!(check_move(Some(Key), Won, 1, false), Ok(()));
    }

    #[test]
    fn backward_needs_a_reason() {
        assert_eq!(
            check_move(Some(Key), Ordinary, 3, false),
            Err(FunnelError::BackwardWithoutReason {
                from: Key,
                to: Ordinary
            })
        );
        assert_eq!(check_move(Some(Key), Ordinary, 3, true), Ok(()));
        assert_eq!(check_move(Some(Won), Lead, 3, true), Ok(()));
    }

    #[test]
    fn staying_put_is_always_fine() {
        assert_eq!(check_move(Some(Won), Won, 0, false), Ok(()));
    }
}
