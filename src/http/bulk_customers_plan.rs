//! The set-based pass of the customer bulk upsert (and CSV import): it
//! settles the common items of an ERP sync — new cards and cards that did
//! not change — in a few statements for the whole batch, and leaves every
//! real update to the per-item path (`bulk_customers::upsert_one`).
//!
//! It applies the same rules as the single writes, in memory: the field
//! rules, permissions, the owner and source-customer checks of a new card
//! (one query each for the batch) and its funnel rule. Anything it cannot
//! settle exactly as the per-item path would goes to that path.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::Value;

use super::bulk::{self, Applied, ItemStatus, Planned};
use super::bulk_customers::{existing, external_id_key, external_id_of, item_patch, new_card};
use super::change_data;
use super::customer_input::normalize_tags;
use super::customers::{link_errors, new_card_view};
use crate::auth::AuthUser;
use crate::db::changes;
use crate::db::customers::{self, CustomerRow};
use crate::db::events::{self, NewEvent};
use crate::db::schema::{customers as customers_table, users};
use crate::db::{self, DbConn};
use crate::domain::cpr::{new_card_share, NEW_CARD_SHARE};
use crate::error::{ApiError, FieldError};

/// A new card that passed every in-memory rule.
struct NewCard {
    index: usize,
    item: Value,
    row: CustomerRow,
    tags: Vec<String>,
    reason: Option<String>,
}

/// The set-based pass over a whole batch (see the module comment).
pub fn plan(
    conn: &mut DbConn,
    user: &AuthUser,
    items: Vec<Value>,
) -> Result<Vec<Planned<Value>>, ApiError> {
    let keys: Vec<Option<String>> = items.iter().map(external_id_key).collect();
    let ids: Vec<String> = keys.iter().flatten().cloned().collect();
    // The cards are locked here, in the batch's transaction, whatever path
    // the items take: locked first inside an item's savepoint (the per-item
    // path reads them when its first item runs), a failed first item's
    // ROLLBACK TO SAVEPOINT released the locks on PostgreSQL while the
    // batch went on with the cards as read under them.
    let known = existing(conn, &ids)?;
    // A later item with the same external id updates what an earlier one
    // wrote: such a batch keeps the in-order per-item path.
    let mut seen = HashSet::new();
    if keys.iter().flatten().any(|k| !seen.insert(k.as_str())) {
        return Ok(bulk::in_order(items, &keys));
    }
    let known_ids: Vec<i64> = known.values().map(|r| r.id).collect();
    let mut tags: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, tag) in customers::tags_of(conn, &known_ids)? {
        tags.entry(id).or_default().push(tag);
    }
    let now = db::now();
    let mut out: Vec<Option<Planned<Value>>> = Vec::with_capacity(items.len());
    let mut new_cards = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let key = match external_id_of(&item) {
            Ok(key) => key,
            Err(e) => {
                out.push(Some(Planned::Done(Err(e))));
                continue;
            }
        };
        match known.get(&key) {
            Some(row) => {
                // An unchanged card keeps its stored owner and source, checked
                // when written (an owner deactivated since may stay, as in a
                // PATCH).
                let row_tags = tags.get(&row.id).map(Vec::as_slice).unwrap_or_default();
                if unchanged(row, row_tags, item.clone()) {
                    out.push(Some(Planned::Done(Ok(Applied {
                        status: ItemStatus::Unchanged,
                        id: row.id,
                        version: row.version,
                    }))));
                } else {
                    out.push(Some(Planned::Each(item)));
                }
            }
            None => match new_card(user, item.clone(), now) {
                Ok((row, tags, reason)) => {
                    new_cards.push(NewCard {
                        index,
                        item,
                        row,
                        tags,
                        reason,
                    });
                    out.push(None);
                }
                Err(e) => out.push(Some(Planned::Done(Err(e)))),
            },
        }
    }
    let (owners, sources) = references(conn, new_cards.iter().map(|c| &c.row))?;
    // The caller, deactivated since its token was checked, owning new cards
    // (its id is the default owner): the batch is a 401, not a 422 per item.
    if new_cards.iter().any(|c| c.row.owner_id == user.id) {
        user.still_active(user.id, owners.contains(&user.id))?;
    }
    let mut good = Vec::new();
    for card in new_cards {
        let errors = reference_errors(&card.row, &owners, &sources);
        if errors.is_empty() {
            good.push(card);
        } else {
            out[card.index] = Some(Planned::Done(Err(ApiError::Validation(errors))));
        }
    }
    // In key order: two batches creating the same new keys in other orders
    // each waited in the unique index on a key the other had inserted, a
    // deadlock on PostgreSQL that failed a whole batch with a 503 (a
    // review). In one order the later batch waits for the first, then goes
    // item by item (below) and updates the cards the first created.
    good.sort_by(|a, b| a.row.external_id.cmp(&b.row.external_id));
    // In a savepoint: should the database refuse the batch (a unique or
    // foreign-key conflict with another writer that committed meanwhile),
    // the per-item path reports each item.
    match db::savepoint(conn, |conn| create_all(conn, user, &good, now)) {
        Ok(ids) => {
            for (card, id) in good.iter().zip(ids) {
                out[card.index] = Some(Planned::Done(Ok(Applied {
                    status: ItemStatus::Created,
                    id,
                    version: card.row.version,
                })));
            }
        }
        // A key taken meanwhile (the unique index names its field since a
        // review) or a link gone: each item then gets its own answer.
        Err(ApiError::Conflict(why))
        | Err(ApiError::FieldConflict(FieldError { message: why, .. })) => {
            log::info!(
                "bulk create of {} cards goes item by item: {why}",
                good.len()
            );
            for card in good {
                out[card.index] = Some(Planned::Each(card.item));
            }
        }
        Err(e) => return Err(e),
    }
    bulk::settled(out)
}

/// True when the item would change nothing on `row` (the rules of
/// `update_in_tx` that need no query), whoever sends it: a card the caller
/// may not write is still `unchanged` when nothing differs. Every role reads
/// every card, so that says nothing new, and a sales user re-importing an
/// export with colleagues' rows got `forbidden` for each row it left as it
/// was (a review).
pub fn unchanged(row: &CustomerRow, row_tags: &[String], item: Value) -> bool {
    let Ok(input) = item_patch(item, row) else {
        return false;
    };
    let wanted_tags = input
        .tags
        .as_ref()
        .map(|t| normalize_tags(t.as_deref().unwrap_or_default()));
    let mut patched = row.clone();
    if input.apply(&mut patched).is_err() || patched != *row {
        return false;
    }
    wanted_tags.is_none_or(|wanted| wanted == row_tags)
}

/// The active users and existing customers among the rows' owners and
/// source customers: one query each.
fn references<'a>(
    conn: &mut DbConn,
    rows: impl Iterator<Item = &'a CustomerRow>,
) -> Result<(HashSet<i64>, HashSet<i64>), ApiError> {
    let (mut owner_ids, mut source_ids) = (HashSet::new(), HashSet::new());
    for row in rows {
        owner_ids.insert(row.owner_id);
        source_ids.extend(row.source_customer_id);
    }
    let owner_ids: Vec<i64> = owner_ids.into_iter().collect();
    let source_ids: Vec<i64> = source_ids.into_iter().collect();
    let owners: Vec<i64> = users::table
        .filter(users::id.eq_any(&owner_ids))
        .filter(users::active.eq(true))
        .select(users::id)
        .load(conn)?;
    let sources: Vec<i64> = customers_table::table
        .filter(customers_table::id.eq_any(&source_ids))
        .select(customers_table::id)
        .load(conn)?;
    Ok((owners.into_iter().collect(), sources.into_iter().collect()))
}

/// The checks of `customers::reference_errors`, against the loaded sets.
fn reference_errors(
    row: &CustomerRow,
    owners: &HashSet<i64>,
    sources: &HashSet<i64>,
) -> Vec<FieldError> {
    let source_exists = row.source_customer_id.is_some_and(|s| sources.contains(&s));
    link_errors(row, owners.contains(&row.owner_id), source_exists)
}

/// Writes the new cards, their tags and funnel history, and the share of a
/// known wallet: a few statements for the whole batch. Returns their ids.
fn create_all(
    conn: &mut DbConn,
    user: &AuthUser,
    cards: &[NewCard],
    now: NaiveDateTime,
) -> Result<Vec<i64>, ApiError> {
    if cards.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<CustomerRow> = cards.iter().map(|c| c.row.clone()).collect();
    let ids = customers::insert_many(conn, &rows)?;
    let tags: Vec<(i64, String)> = ids
        .iter()
        .zip(cards)
        .flat_map(|(id, c)| c.tags.iter().map(move |t| (*id, t.clone())))
        .collect();
    customers::add_tags_many(conn, &tags)?;
    let mut history = Vec::with_capacity(cards.len());
    for (id, c) in ids.iter().zip(cards) {
        history.push(NewEvent {
            customer_id: *id,
            kind: events::FUNNEL_STAGE_CHANGED,
            from_value: None,
            to_value: Some(&c.row.funnel_stage),
            subject_id: None,
            reason: c.reason.as_deref(),
            user_id: Some(user.id),
            at: now,
        });
        if c.row.prospect_grade.is_some() {
            history.push(NewEvent {
                customer_id: *id,
                kind: events::PROSPECT_GRADE_CHANGED,
                from_value: None,
                to_value: c.row.prospect_grade.as_deref(),
                subject_id: None,
                reason: c.reason.as_deref(),
                user_id: Some(user.id),
                at: now,
            });
        }
    }
    events::insert_many(conn, &history)?;
    // As in `customers::create_in_tx`: new cards have no transactions and no
    // survey responses, so `not_started` and `unknown` (the column defaults)
    // are their CPR stage and loyalty type, and only a known wallet's share
    // (0) is stored, in one statement for the batch.
    let with_wallet: Vec<i64> = ids
        .iter()
        .zip(cards)
        .filter(|(_, c)| new_card_share(c.row.wallet_size_cents).is_some())
        .map(|(id, _)| *id)
        .collect();
    customers::set_share_of_wallet_many(conn, &with_wallet, NEW_CARD_SHARE)?;
    // The feed's data from the rows just written: reading 1,000 cards back
    // at the seal was a tenth of a bulk's time on SQLite (docs/BENCHMARKS.md).
    let mut data = HashMap::with_capacity(cards.len());
    for (id, c) in ids.iter().zip(cards) {
        let row = CustomerRow {
            id: *id,
            ..c.row.clone()
        };
        let view = new_card_view(row, c.tags.clone());
        data.insert(*id, change_data::to_text(view)?);
    }
    changes::set_data(changes::CUSTOMER, data);
    Ok(ids)
}
