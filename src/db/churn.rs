//! Churn records (流失记录): one row per churn, closed by a win-back; the
//! card carries the open one as `churned_at` / `churn_reason`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::events::{self, NewEvent};
use super::schema::{churn_records, customers, transactions};
use super::transactions::TransactionRow;
use super::{changes, DbConn};

pub const CHURNED: &str = "churned";
pub const REACTIVATED: &str = "reactivated";

#[derive(Debug, Clone, Queryable)]
pub struct ChurnRecordRow {
    pub id: i64,
    pub customer_id: i64,
    pub reason: String,
    pub note: Option<String>,
    pub churned_at: NaiveDateTime,
    pub churned_by: Option<i64>,
    pub lost_revenue_cents: i64,
    pub reactivated_at: Option<NaiveDateTime>,
    pub reactivated_by: Option<i64>,
    pub reactivation_note: Option<String>,
    /// The card's owner when the churn was recorded: the churn figures of
    /// an owner count it, whoever owns the card later.
    pub owner_id: Option<i64>,
}

/// Whether the customer has any churn record, open or won back (its lost
/// revenue is in the card's currency).
pub fn any_of(conn: &mut DbConn, customer_id: i64) -> QueryResult<bool> {
    let first: Option<i64> = churn_records::table
        .filter(churn_records::customer_id.eq(customer_id))
        .select(churn_records::id)
        .first(conn)
        .optional()?;
    Ok(first.is_some())
}

/// Revenue of the customer in `[from, to)`.
pub fn revenue_between(
    conn: &mut DbConn,
    customer_id: i64,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<i64> {
    let sum: Option<i64> = transactions::table
        .filter(transactions::customer_id.eq(customer_id))
        .filter(transactions::occurred_at.ge(from))
        .filter(transactions::occurred_at.lt(to))
        .select(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
        >(&super::money_sum("amount_cents")))
        .first(conn)?;
    Ok(sum.unwrap_or(0))
}

/// Opens a churn record and marks the card; call inside the write
/// transaction with the customer locked. The record keeps the card's owner
/// of the moment (a handed-over card's losses stay with who lost it).
pub fn churn(
    conn: &mut DbConn,
    customer_id: i64,
    reason: &str,
    note: Option<&str>,
    user_id: i64,
    lost_revenue_cents: i64,
    now: NaiveDateTime,
) -> QueryResult<ChurnRecordRow> {
    let owner_id: i64 = customers::table
        .find(customer_id)
        .select(customers::owner_id)
        .first(conn)?;
    let id: i64 = diesel::insert_into(churn_records::table)
        .values((
            churn_records::customer_id.eq(customer_id),
            churn_records::owner_id.eq(Some(owner_id)),
            churn_records::reason.eq(reason),
            churn_records::note.eq(note),
            churn_records::churned_at.eq(now),
            churn_records::churned_by.eq(Some(user_id)),
            churn_records::lost_revenue_cents.eq(lost_revenue_cents),
        ))
        .returning(churn_records::id)
        .get_result(conn)?;
    mark_card(conn, customer_id, Some(now), Some(reason), now)?;
    churn_records::table.find(id).first(conn)
}

/// Closes the open churn record and clears the card; None when the
/// customer has no open record.
pub fn reactivate(
    conn: &mut DbConn,
    customer_id: i64,
    note: Option<&str>,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<ChurnRecordRow>> {
    let Some(open) = open_record(conn, customer_id)? else {
        return Ok(None);
    };
    diesel::update(churn_records::table.find(open.id))
        .set((
            churn_records::reactivated_at.eq(Some(now)),
            churn_records::reactivated_by.eq(Some(user_id)),
            churn_records::reactivation_note.eq(note),
        ))
        .execute(conn)?;
    mark_card(conn, customer_id, None, None, now)?;
    churn_records::table.find(open.id).first(conn).optional()
}

/// Wins the customer back: closes the open churn record, clears the card
/// and adds the `reactivated` event to its history (by `user_id`, with the
/// note). None when the customer has no open record. Both the manual
/// reactivation and a purchase after the churn (`win_back_buyers`) come
/// here, so they leave the same trail.
pub fn win_back(
    conn: &mut DbConn,
    customer_id: i64,
    note: Option<&str>,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<ChurnRecordRow>> {
    let Some(row) = reactivate(conn, customer_id, note, user_id, now)? else {
        return Ok(None);
    };
    events::insert(
        conn,
        &NewEvent {
            customer_id,
            kind: REACTIVATED,
            from_value: Some(row.reason.as_str()),
            to_value: None,
            subject_id: Some(row.id),
            reason: note,
            user_id: Some(user_id),
            at: now,
        },
    )?;
    Ok(Some(row))
}

/// The purchases (customer, occurred at) among transaction rows a request
/// wrote: what [`win_back_buyers`] judges.
pub fn purchases_in<'a>(
    rows: impl IntoIterator<Item = &'a TransactionRow>,
) -> Vec<(i64, NaiveDateTime)> {
    rows.into_iter()
        .filter(|r| r.amount_cents > 0)
        .map(|r| (r.customer_id, r.occurred_at))
        .collect()
}

/// Wins back each customer that is churned and for whom this write recorded
/// a purchase (a transaction with a positive amount, `purchases` from
/// [`purchases_in`]) dated after its churn: a churned customer who buys
/// again is a customer again (DOMAIN.md §10), and left churned it stayed out
/// of the at-risk list and never counted as won back. An order dated before
/// the churn (a backfill) wins nothing back, and neither does a write of
/// anything else (a free service, an older order's correction): judged by
/// every purchase on the card, any write to a card churned before this
/// version, which had bought again meanwhile, won it back at that write's
/// date, in the wrong period (an outside review). Called in the write's
/// transaction with the cards locked; `user_id` is the writer, the note
/// names the first such purchase written.
pub fn win_back_buyers(
    conn: &mut DbConn,
    purchases: &[(i64, NaiveDateTime)],
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if purchases.is_empty() {
        return Ok(());
    }
    let mut customer_ids: Vec<i64> = purchases.iter().map(|(c, _)| *c).collect();
    customer_ids.sort_unstable();
    customer_ids.dedup();
    let open: Vec<(i64, NaiveDateTime)> = churn_records::table
        .filter(churn_records::customer_id.eq_any(&customer_ids))
        .filter(churn_records::reactivated_at.is_null())
        .select((churn_records::customer_id, churn_records::churned_at))
        .load(conn)?;
    for (customer_id, churned_at) in open {
        let first = purchases
            .iter()
            .filter(|(c, at)| *c == customer_id && *at > churned_at)
            .map(|(_, at)| *at)
            .min();
        if let Some(at) = first {
            let note = format!("purchase on {}", at.date());
            win_back(conn, customer_id, Some(&note), user_id, now)?;
        }
    }
    Ok(())
}

/// A card write like any other: a new version, and a change in the feed
/// (integrators and webhooks learn of the churn or the win-back from it).
fn mark_card(
    conn: &mut DbConn,
    customer_id: i64,
    at: Option<NaiveDateTime>,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let version: i64 = diesel::update(customers::table.find(customer_id))
        .set((
            customers::churned_at.eq(at),
            customers::churn_reason.eq(reason),
            customers::version.eq(customers::version + 1),
            customers::updated_at.eq(now),
        ))
        .returning(customers::version)
        .get_result(conn)?;
    changes::record(
        conn,
        changes::CUSTOMER,
        customer_id,
        changes::UPDATED,
        version,
    )
}

pub fn open_record(conn: &mut DbConn, customer_id: i64) -> QueryResult<Option<ChurnRecordRow>> {
    churn_records::table
        .filter(churn_records::customer_id.eq(customer_id))
        .filter(churn_records::reactivated_at.is_null())
        .order(churn_records::id.desc())
        .first(conn)
        .optional()
}

/// A customer's churns and win-backs, newest first.
pub fn history(conn: &mut DbConn, customer_id: i64) -> QueryResult<Vec<ChurnRecordRow>> {
    churn_records::table
        .filter(churn_records::customer_id.eq(customer_id))
        .order(churn_records::id.desc())
        .load(conn)
}
