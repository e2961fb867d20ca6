//! A card's `currency` labels every amount recorded for it: its
//! transactions, its account plans' budgets and action costs, its churn
//! records' lost revenue, and the card's own wallet size and annual
//! revenue. Patron converts nothing, so a new currency would re-label
//! those amounts as they are (CNY 12,000 becoming USD 12,000).

use crate::db::customers::CustomerRow;
use crate::db::{account_plans, churn, transactions, DbConn};
use crate::error::ApiError;

/// Refuses a change of `original`'s currency (the card as stored, locked)
/// that would re-label recorded money, naming `currency`: 422 `immutable`
/// while the card has transactions, account plans or churn records (their
/// amounts cannot be restated through the card), and 422 `not_restated`
/// while it holds a wallet size or an annual revenue that the same request
/// does not restate: send it again as another figure, or null (0 needs
/// nothing: it is the same amount in any currency). The same
/// figure sent again is not restated: a CSV export re-imported with only the
/// currency cell edited, or an ERP's whole-card upsert, sends every figure
/// as it was, and re-labelled CNY 1,000,000 as USD 1,000,000 (a review).
pub fn check_change(
    conn: &mut DbConn,
    original: &CustomerRow,
    changed: &CustomerRow,
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
    // 0 is the same amount in any currency.
    let kept_as_was =
        |was: Option<i64>, now: Option<i64>| was.is_some_and(|w| w != 0) && now == was;
    if kept_as_was(original.wallet_size_cents, changed.wallet_size_cents) {
        kept.push("wallet_size_cents");
    }
    if kept_as_was(original.annual_revenue_cents, changed.annual_revenue_cents) {
        kept.push("annual_revenue_cents");
    }
    if !kept.is_empty() {
        let verb = if kept.len() == 1 { "is" } else { "are" };
        return Err(ApiError::invalid(
            "currency",
            "not_restated",
            &format!(
                "the card's {} {verb} in {was}: send the figure in the new currency \
                 (another figure, or null) with the change",
                kept.join(" and ")
            ),
        ));
    }
    Ok(())
}
