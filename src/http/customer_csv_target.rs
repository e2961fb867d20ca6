//! The `id` column of a CSV import: a row that holds one updates that card,
//! whatever its `external_id` cell says or leaves empty. The import ignored
//! the column and matched rows by `external_id` alone, so an edited export
//! failed the rows of cards made in the UI (no external id: `required`), a
//! key typed into such a row made a second card, and a row whose key was
//! changed to another card's key wrote over that card.

use std::collections::HashMap;

use serde_json::Value;

use super::bulk::{self, Applied};
use super::bulk_customers::{external_ids, stale_item, update_card};
use super::customer_csv::{stale, Exported};
use super::wording::quoted;
use crate::auth::AuthUser;
use crate::db::customers::{self, CustomerRow};
use crate::db::row_lock::{self, Locked};
use crate::db::DbConn;
use crate::error::{ApiError, FieldError};

/// A row's `id` cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// No column, or an empty cell: the row is matched by `external_id`.
    Key,
    Card(i64),
    /// Not a whole number: the row's error.
    Bad(String),
}

impl Target {
    pub fn of(cell: &str) -> Self {
        let cell = cell.trim();
        if cell.is_empty() {
            return Target::Key;
        }
        // `42.0` too: pandas writes the column so once appended rows
        // leave cells empty (a review).
        super::customer_csv::whole_number(cell)
            .map(Target::Card)
            .unwrap_or_else(|| Target::Bad(cell.to_string()))
    }
}

/// What the rows' ids came to, by row position (0 = the first data row).
#[derive(Default)]
pub struct Resolved {
    /// Rows refused for their `id` (unknown card, a key of another card).
    pub errors: HashMap<usize, ApiError>,
    /// Rows naming a card that has no `external_id`, with the card as it
    /// was before the import: they update it by id (`update_by_id`).
    pub keyless: HashMap<usize, CustomerRow>,
    /// One of those rows gives its card a key, which a later row may use:
    /// the rows then keep the in-order per-item path.
    pub assigns_key: bool,
}

/// Matches each row holding an `id` to its card, locked for the batch
/// (PostgreSQL) with the cards the other rows name by key (`lock_file`).
/// A row naming a card that has an `external_id` gets that
/// key (an empty cell) or must hold it; the other rows of the card are
/// `keyless`. Archived cards are matched too, as by key: a row that would
/// change one is its `archived` error, one that changes nothing `unchanged`.
pub fn resolve(
    conn: &mut DbConn,
    items: &mut [Value],
    targets: &[Target],
) -> Result<Resolved, ApiError> {
    let ids: Vec<i64> = targets
        .iter()
        .filter_map(|t| match t {
            Target::Card(id) => Some(*id),
            _ => None,
        })
        .collect();
    let mut resolved = Resolved::default();
    // Before the return below: in a file whose id cells were all bad, the
    // rows went on matched by external_id, their `id` ignored (found by a
    // test of `42.0` ids).
    for (pos, target) in targets.iter().enumerate() {
        if let Target::Bad(text) = target {
            resolved.errors.insert(pos, not_an_id(text));
        }
    }
    if ids.is_empty() {
        return Ok(resolved);
    }
    let mut named: HashMap<i64, usize> = HashMap::new();
    for id in &ids {
        *named.entry(*id).or_default() += 1;
    }
    lock_file(conn, items, &ids)?;
    let cards: HashMap<i64, CustomerRow> = customers::by_ids(conn, &ids)?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    for (pos, (item, target)) in items.iter_mut().zip(targets).enumerate() {
        let id = match target {
            Target::Key | Target::Bad(_) => continue,
            Target::Card(id) => *id,
        };
        let Some(card) = cards.get(&id) else {
            resolved.errors.insert(pos, unknown(id));
            continue;
        };
        // A key cell that is no key (a control character, blank) is the
        // row's error, as in a row without an id: not a missing key, which
        // the card's own key would fill in (review).
        let key = match bulk::key_of(item, "external_id") {
            Ok(key) => key,
            Err(e) => {
                let e = super::bulk_customers::with_other_errors(e, item);
                resolved.errors.insert(pos, e);
                continue;
            }
        };
        match (&card.external_id, key) {
            (Some(own), None) => {
                if let Some(obj) = item.as_object_mut() {
                    obj.insert("external_id".into(), Value::String(own.clone()));
                }
            }
            (Some(own), Some(key)) if *own == key => {}
            (Some(own), Some(key)) => {
                resolved.errors.insert(pos, other_key(id, own, &key));
            }
            // A copied row (a new customer typed over a copy of a UI
            // card's row, its id left as it was) would give the card a key
            // and write the new customer over it: with the card named by
            // another row of the file too, the key is not given (review).
            (None, Some(key)) if named.get(&id).copied().unwrap_or(0) > 1 => {
                resolved.errors.insert(pos, copied(id, &key));
            }
            (None, key) => {
                resolved.assigns_key |= key.is_some();
                resolved.keyless.insert(pos, card.clone());
            }
        }
    }
    Ok(resolved)
}

/// Locks every card of the file at once, in id order: those its rows name
/// by `id` and those they name by key (read first, unlocked). The cards
/// named by id were locked here alone and the keys' cards later, by the
/// bulk pass (`bulk_customers::existing`): a `POST /customers/bulk` naming
/// the same cards by key locks them all in id order, so with a key's card
/// below an id's, each held the card the other waited for, and PostgreSQL
/// failed one of them after its deadlock check (a 503). The later locks of
/// the bulk pass then find the cards already held.
fn lock_file(conn: &mut DbConn, items: &[Value], ids: &[i64]) -> Result<(), ApiError> {
    if !matches!(conn, DbConn::Postgresql(_)) {
        return Ok(());
    }
    let mut all = ids.to_vec();
    let keys = external_ids(items);
    if !keys.is_empty() {
        let named = crate::db::batch::external_ids(conn, "customers", &keys)?;
        all.extend(named.into_iter().map(|(_, id)| id));
    }
    row_lock::lock_all(conn, Locked::Customers, &all)?;
    Ok(())
}

/// Updates the card `before` (as it was before the import) by id, as a row
/// matched by key would be: the `version` cell is checked against `before`,
/// a key in the row is given to the card (another card's key is the row's
/// `external_id` conflict, from the update's own check).
pub fn update_by_id(
    conn: &mut DbConn,
    user: &AuthUser,
    before: &CustomerRow,
    exported: Option<&Exported>,
    known: &mut HashMap<String, CustomerRow>,
    item: Value,
) -> Result<Applied, ApiError> {
    let row = customers::by_ids(conn, &[before.id])?
        .pop()
        .ok_or_else(|| unknown(before.id))?;
    // An earlier row of the file gave the card its key.
    if let (Some(own), Some(key)) = (&row.external_id, external_id(&item)?) {
        if *own != key {
            return Err(other_key(row.id, own, &key));
        }
    }
    if let Some(Exported::At(wanted)) = exported {
        if *wanted != before.version {
            return stale_item(conn, user, &row, &item, || stale(*wanted, before.version));
        }
    }
    let (applied, row) = update_card(conn, user, row, item)?;
    if let Some(key) = row.external_id.clone() {
        known.insert(key, row);
    }
    Ok(applied)
}

fn copied(id: i64, key: &str) -> ApiError {
    ApiError::field_conflict(
        "id",
        format!(
            "card {id} has no external_id and several rows of this file name it: this one would \
             give it {} (a copied row?). Empty the id cell to create a card, or give card \
             {id} its key in a file that names it once",
            quoted(key)
        ),
    )
}

fn external_id(item: &Value) -> Result<Option<String>, ApiError> {
    bulk::key_of(item, "external_id")
}

fn not_an_id(text: &str) -> ApiError {
    ApiError::invalid(
        "id",
        "invalid_type",
        &format!(
            "{} is not a card id: a whole number (the card's, from the export), or empty to match the row by external_id",
            quoted(text)
        ),
    )
}

fn unknown(id: i64) -> ApiError {
    ApiError::invalid(
        "id",
        "not_found",
        &format!(
            "no card has id {id}: empty the cell to create a card from the row (with an external_id)"
        ),
    )
}

/// A row whose key is not that of the card its `id` names: a typo, or a key
/// moved between rows, which would otherwise write over another card.
fn other_key(id: i64, own: &str, key: &str) -> ApiError {
    ApiError::FieldConflict(FieldError::new(
        "external_id",
        "conflict",
        format!(
            "card {id} has external_id {}, not {}: a row's id and external_id name one card \
             (managers, admins and integrations change a card's external_id with PATCH /customers/{id})",
            quoted(own),
            quoted(key)
        ),
    ))
}
