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
    /// The purchase that won the customer back by being recorded; None for
    /// a manual reactivation (final) and for an open record.
    pub reactivated_by_transaction_id: Option<i64>,
}

/// A purchase a write recorded: (customer, occurred at, transaction id).
pub type Purchase = (i64, NaiveDateTime, i64);

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
fn reactivate(
    conn: &mut DbConn,
    customer_id: i64,
    note: Option<&str>,
    by_purchase: Option<i64>,
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
            churn_records::reactivated_by_transaction_id.eq(by_purchase),
        ))
        .execute(conn)?;
    mark_card(conn, customer_id, None, None, now)?;
    churn_records::table.find(open.id).first(conn).optional()
}

/// Wins the customer back: closes the open churn record, clears the card
/// and adds the `reactivated` event to its history (by `user_id`, with the
/// note). None when the customer has no open record. Both the manual
/// reactivation and a purchase after the churn (`win_back_buyers`, which
/// passes the purchase as `by_purchase`) come here, so they leave the same
/// trail.
pub fn win_back(
    conn: &mut DbConn,
    customer_id: i64,
    note: Option<&str>,
    by_purchase: Option<i64>,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<ChurnRecordRow>> {
    let Some(row) = reactivate(conn, customer_id, note, by_purchase, user_id, now)? else {
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

/// The purchases among transaction rows a request wrote: what
/// [`win_back_buyers`] judges.
pub fn purchases_in<'a>(rows: impl IntoIterator<Item = &'a TransactionRow>) -> Vec<Purchase> {
    rows.into_iter()
        .filter(|r| r.amount_cents > 0)
        .map(|r| (r.customer_id, r.occurred_at, r.id))
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
/// date, in the wrong period (an outside review). For the same reason an
/// update wins back only when it makes the order a purchase after the
/// churn: `was` holds the updated orders' purchases as they were before the
/// write (empty for creates), and an order that already was one (a notes
/// or product fix of an order dated after a churn kept from before this
/// rule, or dated a few minutes ahead when the churn was recorded) wins
/// nothing back (a review). Called in the write's
/// transaction with the cards locked; `user_id` is the writer, the note
/// names the first such purchase written, and the record keeps its id
/// ([`reopen_unbought`] undoes the win-back if it goes).
pub fn win_back_buyers(
    conn: &mut DbConn,
    purchases: &[Purchase],
    was: &[Purchase],
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if purchases.is_empty() {
        return Ok(());
    }
    let mut customer_ids: Vec<i64> = purchases.iter().map(|(c, _, _)| *c).collect();
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
            .filter(|(c, at, _)| *c == customer_id && *at > churned_at)
            .filter(|(_, _, id)| {
                !was.iter()
                    .any(|(_, at, before)| before == id && *at > churned_at)
            })
            .map(|(_, at, id)| (*at, *id))
            .min();
        if let Some((at, id)) = first {
            let note = win_back_note(at);
            win_back(conn, customer_id, Some(&note), Some(id), user_id, now)?;
        }
    }
    Ok(())
}

/// Undoes the automatic win-backs that no purchase supports any more: for
/// each of `customer_ids` whose latest churn record was closed by a
/// purchase (`win_back_buyers`), when the card has no purchase (amount
/// above 0) dated after the churn left, because the write deleted that
/// order or corrected it to 0 or to before the churn (an order recorded on
/// the wrong card, then deleted "as recorded by mistake", kept the customer
/// won back), the record is opened again and the card churned as before:
/// the churn's date and reason back on the card (a new version and change,
/// as a churn is), and a `churned` event by `user_id` saying why. A
/// purchase after the churn still there keeps the win-back: linked to the
/// same purchase while it is one, else to the earliest such purchase. A manual reactivation is final, and a record
/// followed by a later churn is history: neither is touched. Called in the
/// write's transaction with the cards locked, after `win_back_buyers`.
pub fn reopen_unbought(
    conn: &mut DbConn,
    customer_ids: &[i64],
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    let won: Vec<ChurnRecordRow> = churn_records::table
        .filter(churn_records::customer_id.eq_any(customer_ids))
        .filter(churn_records::reactivated_by_transaction_id.is_not_null())
        .load(conn)?;
    for record in won {
        let latest: i64 = churn_records::table
            .filter(churn_records::customer_id.eq(record.customer_id))
            .select(diesel::dsl::max(churn_records::id))
            .first::<Option<i64>>(conn)?
            .unwrap_or(record.id);
        if latest != record.id {
            continue;
        }
        let after_churn = transactions::table
            .filter(transactions::customer_id.eq(record.customer_id))
            .filter(transactions::occurred_at.gt(record.churned_at))
            .filter(transactions::amount_cents.gt(0))
            .select((transactions::id, transactions::occurred_at));
        // The purchase that won the customer back keeps the record while it
        // is one: relinked to the earliest, a record changed with every
        // write of the card after a backfilled order, and a bulk batch's
        // end relinked what a single POST left alone (a review).
        let linked: Option<(i64, NaiveDateTime)> = match record.reactivated_by_transaction_id {
            Some(id) => after_churn
                .filter(transactions::id.eq(id))
                .first(conn)
                .optional()?,
            None => None,
        };
        let still = match linked {
            Some(linked) => Some(linked),
            None => after_churn
                .order((transactions::occurred_at, transactions::id))
                .first(conn)
                .optional()?,
        };
        match still {
            Some((id, at))
                if Some(id) == record.reactivated_by_transaction_id
                    && record.reactivation_note.as_deref() == Some(&win_back_note(at)) => {}
            // The note names the purchase's day, as `win_back_buyers` wrote
            // it: it kept the day of a purchase gone, or of the purchase's
            // date before a correction (reviews).
            Some((id, at)) => {
                diesel::update(churn_records::table.find(record.id))
                    .set((
                        churn_records::reactivated_by_transaction_id.eq(Some(id)),
                        churn_records::reactivation_note.eq(Some(win_back_note(at))),
                    ))
                    .execute(conn)?;
            }
            None => reopen(conn, &record, user_id, now)?,
        }
    }
    Ok(())
}

/// The note of a win-back by the purchase made at `at`.
fn win_back_note(at: NaiveDateTime) -> String {
    format!("purchase on {}", at.date())
}

/// What an event of a reopened churn says.
pub const REOPENED_NOTE: &str = "win-back undone: no purchase after the churn is left";

fn reopen(
    conn: &mut DbConn,
    record: &ChurnRecordRow,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(churn_records::table.find(record.id))
        .set((
            churn_records::reactivated_at.eq(None::<NaiveDateTime>),
            churn_records::reactivated_by.eq(None::<i64>),
            churn_records::reactivation_note.eq(None::<String>),
            churn_records::reactivated_by_transaction_id.eq(None::<i64>),
        ))
        .execute(conn)?;
    mark_card(
        conn,
        record.customer_id,
        Some(record.churned_at),
        Some(&record.reason),
        now,
    )?;
    events::insert(
        conn,
        &NewEvent {
            customer_id: record.customer_id,
            kind: CHURNED,
            from_value: None,
            to_value: Some(record.reason.as_str()),
            subject_id: Some(record.id),
            reason: Some(REOPENED_NOTE),
            user_id: Some(user_id),
            at: now,
        },
    )
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
