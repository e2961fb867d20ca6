//! A card's `currency` labels every amount recorded for it: its
//! transactions, its account plans' budgets and action costs, its churn
//! records' lost revenue, and the card's own wallet size and annual
//! revenue. Patron converts nothing, so a new currency would re-label
//! those amounts as they are (CNY 12,000 becoming USD 12,000).

use super::customer_input::CustomerPatch;
use crate::db::customers::CustomerRow;
use crate::db::{account_plans, churn, transactions, DbConn};
use crate::error::ApiError;

/// Which of the card's own money figures a PATCH sends (a figure or
/// `null`): sent with a new currency, it is stated in that currency.
#[derive(Debug, Clone, Copy)]
pub struct Restated {
    wallet_size_cents: bool,
    annual_revenue_cents: bool,
}

impl Restated {
    /// Read before `CustomerPatch::apply`, which takes the patch.
    pub fn of(input: &CustomerPatch) -> Restated {
        Restated {
            wallet_size_cents: input.wallet_size_cents.is_some(),
            annual_revenue_cents: input.annual_revenue_cents.is_some(),
        }
    }
}

/// Refuses a change of `original`'s currency (the card as stored, locked)
/// that would re-label recorded money, naming `currency`: 422 `immutable`
/// while the card has transactions, account plans or churn records (their
/// amounts cannot be restated through the card), and 422 `not_restated`
/// while it holds a wallet size or an annual revenue that the same request
/// does not send again.
pub fn check_change(
    conn: &mut DbConn,
    original: &CustomerRow,
    restated: Restated,
) -> Result<(), ApiError> {
    let id = original.id;
    let was = &original.currency;
    let mut records = Vec::new();
    if transactions::any_of(conn, id)? {
        records.push("transactions");
    }
    if account_plans::any_of(conn, id)? {
        records.push("account plans");
    }
    if churn::any_of(conn, id)? {
        records.push("churn records");
    }
    if !records.is_empty() {
        return Err(ApiError::invalid(
            "currency",
            "immutable",
            &format!(
                "the card has {} in {was}: its currency cannot change",
                records.join(", ")
            ),
        ));
    }
    let mut kept = Vec::new();
    if original.wallet_size_cents.is_some() && !restated.wallet_size_cents {
        kept.push("wallet_size_cents");
    }
    if original.annual_revenue_cents.is_some() && !restated.annual_revenue_cents {
        kept.push("annual_revenue_cents");
    }
    if !kept.is_empty() {
        let verb = if kept.len() == 1 { "is" } else { "are" };
        return Err(ApiError::invalid(
            "currency",
            "not_restated",
            &format!(
                "the card's {} {verb} in {was}: send the figure in the new currency \
                 (or null) with the change",
                kept.join(" and ")
            ),
        ));
    }
    Ok(())
}
