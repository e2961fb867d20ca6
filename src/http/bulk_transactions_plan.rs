//! The set-based pass of the transaction bulk upsert: it settles the items
//! of an ERP sync — new orders, corrections and orders that did not change
//! — in a few statements for the whole batch, and leaves every item that
//! fails a rule (or that it cannot settle exactly as the per-item path
//! would) to that path (`bulk_transactions::upsert_one`), which names the
//! errors.
//!
//! Item by item, a new order cost nine statements on PostgreSQL (its
//! savepoint, the card read and lock, the external id check, the insert and
//! its read-back, the feed's read at the seal), each a round trip: a batch
//! of 1,000 took ~2 s there against 0.3 s on SQLite (docs/BENCHMARKS.md).
//! The rules are the single writes', in memory: the field rules, a card the
//! user may write to (not archived), the card's currency, an external id
//! not yet recorded (the batch's were all looked up; the unique index
//! catches a writer that committed meanwhile).

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use serde_json::Value;

use super::bulk::{self, Applied, ItemStatus, Planned};
use super::bulk_transactions::{customer_id_of, customer_ref, external_id_of};
use super::change_data;
use super::customers::may_write;
use super::transactions::{
    fill_currency, new_row, patch_row, TransactionCreate, TransactionPatch, TransactionView,
};
use super::validation::check;
use crate::auth::AuthUser;
use crate::db::customers::{self, CustomerRow};
use crate::db::row_lock::{self, Locked};
use crate::db::transactions::{self, TransactionRow};
use crate::db::{self, changes, DbConn};
use crate::error::{ApiError, FieldError};

/// The cards a batch names, read once.
struct Cards {
    by_id: HashMap<i64, CustomerRow>,
    id_of_external: HashMap<String, i64>,
}

impl Cards {
    /// Every card the items name by id or external id, or own a known
    /// transaction of, locked (PostgreSQL) and then read: three queries.
    fn read(
        conn: &mut DbConn,
        items: &[Value],
        known: &HashMap<String, TransactionRow>,
    ) -> Result<Cards, ApiError> {
        let named: Vec<String> = items
            .iter()
            .filter_map(|i| bulk::key_of(i, "customer_external_id").ok().flatten())
            .collect();
        let id_of_external: HashMap<String, i64> =
            db::batch::external_ids(conn, "customers", &named)?
                .into_iter()
                .collect();
        let ids: HashSet<i64> = items
            .iter()
            .filter_map(|i| customer_id_of(i).ok().flatten())
            .chain(id_of_external.values().copied())
            .chain(known.values().map(|t| t.customer_id))
            .collect();
        let ids: Vec<i64> = ids.into_iter().collect();
        // `bulk_transactions::lock_cards` locked the cards it found before
        // it waited; a card created with a named external id meanwhile (or
        // owning an order recorded meanwhile) is found only here, and was
        // read and written unlocked: a currency change committed while the
        // batch planned left an order in the old currency on the card. The
        // rows already held cost nothing.
        row_lock::lock_all(conn, Locked::Customers, &ids)?;
        let by_id = customers::by_ids(conn, &ids)?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        Ok(Cards {
            by_id,
            id_of_external,
        })
    }

    /// The card an item names, if it names one that exists.
    fn named(&self, id: Option<i64>, external: Option<&str>) -> Option<Option<&CustomerRow>> {
        match (id, external) {
            (Some(id), _) => self.by_id.get(&id).map(Some),
            (None, Some(ext)) => self
                .id_of_external
                .get(ext)
                .and_then(|id| self.by_id.get(id))
                .map(Some),
            (None, None) => Some(None),
        }
    }

    /// The card, if `user` may write to its activity.
    fn writable(&self, user: &AuthUser, id: i64) -> Option<&CustomerRow> {
        self.by_id.get(&id).filter(|c| may_write(user, c).is_ok())
    }
}

/// What the set-based pass made of one item.
enum Settled {
    /// A known transaction the item leaves as it is.
    Unchanged(TransactionRow),
    /// A known transaction as the item changes it (a new version).
    Changed(TransactionRow),
    /// A new transaction that passed every rule.
    New(TransactionRow),
}

/// The set-based pass over a whole batch (see the module comment). `known`
/// holds the batch's transactions already recorded, by external id, read
/// after their cards were locked; `touched` gets the cards of the
/// transactions it created or changed.
pub fn plan(
    conn: &mut DbConn,
    user: &AuthUser,
    items: Vec<Value>,
    versions: &[Option<i64>],
    known: &HashMap<String, TransactionRow>,
    touched: &mut super::bulk_transactions::Touched,
) -> Result<Vec<Planned<Value>>, ApiError> {
    // A later item with the same external id updates what an earlier one
    // wrote: such a batch keeps the in-order per-item path.
    let keys: Vec<Option<String>> = items.iter().map(|i| external_id_of(i).ok()).collect();
    let mut seen = HashSet::new();
    if keys.iter().flatten().any(|k| !seen.insert(k)) {
        return Ok(bulk::in_order(items, &keys));
    }
    let cards = Cards::read(conn, &items, known)?;
    let now = db::now();
    let mut out: Vec<Option<Planned<Value>>> = Vec::with_capacity(items.len());
    let (mut new, mut changed) = (Vec::new(), Vec::new());
    for (index, item) in items.into_iter().enumerate() {
        let sent = versions.get(index).copied().flatten();
        match settle(user, known, &cards, item.clone(), sent, now) {
            Some(Settled::Unchanged(row)) => out.push(Some(Planned::Done(Ok(Applied {
                status: ItemStatus::Unchanged,
                id: row.id,
                version: row.version,
            })))),
            Some(Settled::New(row)) => {
                new.push((index, item, row));
                out.push(None);
            }
            Some(Settled::Changed(row)) => {
                changed.push((index, item, row));
                out.push(None);
            }
            None => out.push(Some(Planned::Each(item))),
        }
    }
    if new.is_empty() && changed.is_empty() {
        return bulk::settled(out);
    }
    // In a savepoint: should the database refuse the batch (an external id
    // another writer recorded meanwhile), the per-item path reports each.
    let new_rows: Vec<TransactionRow> = new.iter().map(|(_, _, row)| row.clone()).collect();
    let changed_rows: Vec<TransactionRow> = changed.iter().map(|(_, _, row)| row.clone()).collect();
    match db::savepoint(conn, |conn| write_all(conn, &new_rows, &changed_rows)) {
        Ok(ids) => {
            // The new rows with their ids: `touched` keeps each order once,
            // by id (the plan's rows have none yet).
            for (row, id) in new_rows.iter().zip(&ids) {
                touched.add(&TransactionRow {
                    id: *id,
                    ..row.clone()
                });
            }
            for row in &changed_rows {
                match row.external_id.as_ref().and_then(|k| known.get(k)) {
                    Some(before) => touched.add_update(before, row),
                    None => touched.add(row),
                }
            }
            for ((index, _, row), id) in new.iter().zip(ids) {
                out[*index] = Some(Planned::Done(Ok(Applied {
                    status: ItemStatus::Created,
                    id,
                    version: row.version,
                })));
            }
            for (index, _, row) in &changed {
                out[*index] = Some(Planned::Done(Ok(Applied {
                    status: ItemStatus::Updated,
                    id: row.id,
                    version: row.version,
                })));
            }
        }
        // A key taken meanwhile (the unique index names its field since a
        // review) or a link gone: each item then gets its own answer.
        Err(ApiError::Conflict(why))
        | Err(ApiError::FieldConflict(FieldError { message: why, .. })) => {
            log::info!(
                "bulk write of {} transactions goes item by item: {why}",
                new.len() + changed.len()
            );
            for (index, item, _) in new.into_iter().chain(changed) {
                out[index] = Some(Planned::Each(item));
            }
        }
        Err(e) => return Err(e),
    }
    bulk::settled(out)
}

/// An item the set-based pass can settle exactly as the per-item path
/// would; `None` leaves it to that path. `sent` is the item's `version`
/// (`bulk_version`): a change to an order at another version is left to
/// the per-item path, which refuses it.
fn settle(
    user: &AuthUser,
    known: &HashMap<String, TransactionRow>,
    cards: &Cards,
    mut item: Value,
    sent: Option<i64>,
    now: NaiveDateTime,
) -> Option<Settled> {
    let (customer_id, customer_ext) = customer_ref(&mut item).ok()?;
    let key = external_id_of(&item).ok()?;
    let named = cards.named(customer_id, customer_ext.as_deref())?;
    match known.get(&key) {
        Some(row) => {
            if named.is_some_and(|c| c.id != row.customer_id) {
                return None; // a move: refused by the per-item path
            }
            // A resend that changes nothing is `unchanged` on an archived
            // card too, and on a card the user may not write (`update_in_tx`'s
            // `resend`); a change is checked below.
            let card = cards.by_id.get(&row.customer_id)?;
            bulk::drop_defaulted_nulls(&mut item, super::bulk_transactions::DEFAULTED_ON_CREATE);
            let input: TransactionPatch = bulk::parse_item(item).ok()?;
            check(&input, input.null_errors()).ok()?;
            let mut patched = row.clone();
            patch_row(&mut patched, input, &card.currency).ok()?;
            if patched == *row {
                return Some(Settled::Unchanged(patched));
            }
            if sent.is_some_and(|v| v != row.version) {
                return None; // stale: the per-item path names the error
            }
            cards.writable(user, row.customer_id)?;
            if patched.external_id != row.external_id {
                return None; // a new key: the per-item path checks it is free
            }
            patched.version = row.version + 1;
            patched.updated_at = now;
            Some(Settled::Changed(patched))
        }
        None => {
            let input: TransactionCreate = bulk::parse_item(item).ok()?;
            check(&input, Vec::new()).ok()?;
            let card = cards.writable(user, named?.id)?;
            let mut row = new_row(card.id, input, now);
            fill_currency(&mut row, &card.currency).ok()?;
            Some(Settled::New(row))
        }
    }
}

/// Inserts the new transactions, saves the changed ones, and gives the
/// change feed their data from the rows written (the seal would read each
/// back). Returns the new ones' ids.
fn write_all(
    conn: &mut DbConn,
    new: &[TransactionRow],
    changed: &[TransactionRow],
) -> Result<Vec<i64>, ApiError> {
    let ids = transactions::insert_many(conn, new)?;
    if transactions::update_many(conn, changed)? != changed.len() {
        // Not while the cards are locked (PostgreSQL) or the database is
        // (SQLite); the per-item path would answer it as it does.
        return Err(ApiError::Conflict("a transaction changed meanwhile".into()));
    }
    let written = ids
        .iter()
        .zip(new)
        .map(|(id, row)| TransactionRow {
            id: *id,
            ..row.clone()
        })
        .chain(changed.iter().cloned());
    let mut data = HashMap::with_capacity(new.len() + changed.len());
    for row in written {
        data.insert(row.id, change_data::to_text(TransactionView::from(row))?);
    }
    changes::set_data(changes::TRANSACTION, data);
    Ok(ids)
}
