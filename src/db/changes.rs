//! The change feed's storage. Every db-layer writer calls `record` (or
//! `record_stage_events` for set-based stage changes) inside the caller's
//! write transaction; nothing is written then. `db::write_tx` calls `seal`
//! just before COMMIT, which renders each changed entity, takes the commit
//! number and writes every change once, complete and numbered, in the
//! order recorded.
//!
//! Why a commit number and not the row id: ids come from a sequence handed
//! out at INSERT time, so with two writers a later id can commit first and a
//! reader that already moved past it would never see the earlier one. The
//! commit number is taken from the single `change_counter` row with an
//! UPDATE, whose row lock is held until COMMIT: the next writer waits on it,
//! so numbers are handed out in commit order and a reader that sees number
//! n has already been able to see every number below it. Readers order by
//! (seq, id). Writing each row once, at seal, replaced an insert at record
//! time, an update with the rendered data and an update with the number:
//! three versions of every feed row in each index of `changes` on
//! PostgreSQL.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::batch::{self, Bind};
use super::schema::{change_counter, change_type_purges, changes};
use super::{native, DbConn};

pub const CUSTOMER: &str = "customer";
pub const CONTACT: &str = "contact";
pub const INTERACTION: &str = "interaction";
pub const TRANSACTION: &str = "transaction";
pub const NEED: &str = "need";
/// A CPR stage, tier, funnel stage or loyalty type change of a customer (its
/// history event): derived state that no write of the card itself shows.
pub const STAGE_CHANGE: &str = "stage_change";
pub const SURVEY: &str = "survey";
pub const SURVEY_RESPONSE: &str = "survey_response";
/// A key-account plan with its actions (a change of an action is a change of
/// its plan).
pub const ACCOUNT_PLAN: &str = "account_plan";
/// A segment's definition (name, kind, rule, description); for a static
/// segment also a change of its member list (an `updated`: read its members
/// again). A dynamic segment's members follow its rule and the cards, with
/// no change of the segment's own.
pub const SEGMENT: &str = "segment";

/// Every entity type of the feed, for the `types` filter, webhook event
/// names and the spec. Adding one: append here, call `record` from its
/// db-layer writers, and give it a representation in `http::change_data`.
pub const ENTITY_TYPES: &[&str] = &[
    CUSTOMER,
    CONTACT,
    INTERACTION,
    TRANSACTION,
    NEED,
    STAGE_CHANGE,
    SURVEY,
    SURVEY_RESPONSE,
    ACCOUNT_PLAN,
    SEGMENT,
];

pub const CREATED: &str = "created";
pub const UPDATED: &str = "updated";
pub const DELETED: &str = "deleted";
pub const RESTORED: &str = "restored";
pub const OPERATIONS: &[&str] = &[CREATED, UPDATED, DELETED, RESTORED];

/// One change of an entity: a row of `changes` without its number.
struct Change {
    entity_type: String,
    entity_id: i64,
    operation: String,
    version: i64,
    at: NaiveDateTime,
    /// `None` until the seal renders the entity.
    data: Option<String>,
}

/// A change recorded in the current write transaction, not yet written:
/// [`seal`] writes every row of it once, complete, with its commit number.
enum Unsealed {
    Entity(Change),
    /// The stage changes of the history events `filter` matches, built in
    /// SQL; `new_only` when the events are new in this transaction (no feed
    /// entry to look for).
    StageEvents {
        filter: String,
        new_only: bool,
    },
    /// The entity's details out of its changes recorded before (`erase`).
    Erase {
        entity_type: String,
        entity_id: i64,
        customer_id: i64,
    },
}

thread_local! {
    /// The current write transaction's changes, in the order recorded. A
    /// write transaction runs on one thread from `begin` to `seal`.
    static UNSEALED: RefCell<Vec<Unsealed>> = const { RefCell::new(Vec::new()) };
}

fn push(change: Unsealed) {
    UNSEALED.with(|u| u.borrow_mut().push(change));
}

fn push_entity(
    entity_type: &str,
    entity_id: i64,
    operation: &str,
    version: i64,
    at: NaiveDateTime,
    data: Option<String>,
) {
    push(Unsealed::Entity(Change {
        entity_type: entity_type.to_string(),
        entity_id,
        operation: operation.to_string(),
        version,
        at,
        data,
    }));
}

#[derive(Debug, Clone, Queryable)]
pub struct ChangeRow {
    pub id: i64,
    pub seq: Option<i64>,
    pub entity_type: String,
    pub entity_id: i64,
    pub operation: String,
    pub version: i64,
    pub at: NaiveDateTime,
    pub data: Option<String>,
}

/// A position in the feed: after the change with this (seq, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub seq: i64,
    pub id: i64,
}

impl ChangeRow {
    pub fn position(&self) -> Position {
        Position {
            seq: self.seq.unwrap_or_default(),
            id: self.id,
        }
    }
}

/// Records a create, update or restore; the representation is taken when
/// the transaction is sealed, so it shows the entity as committed. `_conn`
/// is the transaction's connection: nothing is written before the seal.
pub fn record(
    _conn: &mut DbConn,
    entity_type: &str,
    entity_id: i64,
    operation: &str,
    version: i64,
) -> QueryResult<()> {
    push_entity(
        entity_type,
        entity_id,
        operation,
        version,
        super::now(),
        None,
    );
    Ok(())
}

/// Gives the changes of `entity_type` recorded so far without data their
/// data now, by entity id, so the seal does not read those entities back.
/// For a writer that holds the exact state it has just written (the bulk
/// plan's new cards); a later change of the same entity is recorded and
/// rendered as usual.
pub fn set_data(entity_type: &str, mut data: HashMap<i64, String>) {
    UNSEALED.with(|u| {
        for change in u.borrow_mut().iter_mut() {
            if let Unsealed::Entity(c) = change {
                if c.data.is_none() && c.entity_type == entity_type {
                    c.data = data.remove(&c.entity_id);
                }
            }
        }
    });
}

/// Records a hard delete with its tombstone (the row is gone at seal time).
pub fn record_deleted(
    _conn: &mut DbConn,
    entity_type: &str,
    entity_id: i64,
    version: i64,
    customer_id: Option<i64>,
) -> QueryResult<()> {
    let tombstone = serde_json::json!({
        "id": entity_id,
        "customer_id": customer_id,
        "deleted": true,
    });
    let data = Some(tombstone.to_string());
    push_entity(entity_type, entity_id, DELETED, version, super::now(), data);
    Ok(())
}

/// Replaces what the feed holds of an entity's changes recorded so far with
/// `{"id", "customer_id", "erased": true}`, at the seal: a deleted contact
/// person's name, email, phone and notes stayed readable in the feed (and
/// were sent again by a webhook replay) for its whole retention, though
/// README says contacts are deleted for real (a review: a request to erase
/// a person's details was not met). The entries stay, so a mirror's
/// positions and versions hold. Done at the seal, as a change recorded in
/// this transaction: a grouped write's earlier PATCH of the same contact
/// is erased too, and a delete rolled back (its savepoint) erases nothing.
/// Call it before recording the delete's own tombstone.
pub fn erase(
    _conn: &mut DbConn,
    entity_type: &str,
    entity_id: i64,
    customer_id: i64,
) -> QueryResult<()> {
    push(Unsealed::Erase {
        entity_type: entity_type.to_string(),
        entity_id,
        customer_id,
    });
    Ok(())
}

/// Erases the committed changes of each entity an `Erase` names (this
/// transaction's own are `erase_unsealed`'s). Before the commit number:
/// with the counter's lock held, the UPDATE waited on rows a purge batch
/// had locked while the purge waited on the counter, a deadlock on
/// PostgreSQL (a review); and every writer queued behind the rewrite. The
/// contact's card lock keeps its rows from changing meanwhile.
fn erase_committed(conn: &mut DbConn, unsealed: &[Unsealed]) -> QueryResult<()> {
    for change in unsealed {
        if let Unsealed::Erase {
            entity_type,
            entity_id,
            customer_id,
        } = change
        {
            diesel::update(
                changes::table
                    .filter(changes::entity_type.eq(entity_type))
                    .filter(changes::entity_id.eq(entity_id))
                    .filter(changes::operation.ne(DELETED)),
            )
            .set(changes::data.eq(erased(*entity_id, *customer_id)))
            .execute(conn)?;
        }
    }
    Ok(())
}

/// A change's data as stored now; None when the change is gone (purged).
pub fn data_of(conn: &mut DbConn, id: i64) -> QueryResult<Option<Option<String>>> {
    changes::table
        .find(id)
        .select(changes::data)
        .first(conn)
        .optional()
}

/// The data an erased entity's changes carry.
fn erased(entity_id: i64, customer_id: i64) -> String {
    serde_json::json!({
        "id": entity_id,
        "customer_id": customer_id,
        "erased": true,
    })
    .to_string()
}

/// Applies each `Erase` to the changes recorded before it in this
/// transaction (they then need no rendering).
fn erase_unsealed(unsealed: &mut [Unsealed]) {
    for i in 0..unsealed.len() {
        let Unsealed::Erase {
            entity_type,
            entity_id,
            customer_id,
        } = &unsealed[i]
        else {
            continue;
        };
        let (kind, id) = (entity_type.clone(), *entity_id);
        let data = erased(id, *customer_id);
        for earlier in &mut unsealed[..i] {
            if let Unsealed::Entity(c) = earlier {
                if c.entity_type == kind && c.entity_id == id {
                    c.data = Some(data.clone());
                }
            }
        }
    }
}

/// Records many changes of one type and operation at once (the bulk
/// paths): `(entity_id, version)` pairs, in this order.
pub fn record_many(
    _conn: &mut DbConn,
    entity_type: &'static str,
    operation: &'static str,
    entities: &[(i64, i64)],
) -> QueryResult<()> {
    let at = super::now();
    for (entity_id, version) in entities {
        push_entity(entity_type, *entity_id, operation, *version, at, None);
    }
    Ok(())
}

/// Set-based: one `stage_change` per customer event of a stage kind that
/// matches `event_filter` (SQL over `e`, the `customer_events` alias) and
/// has no change yet. The statement runs at seal, over the events that
/// exist now (an id bound is added): an event the transaction inserts later
/// is recorded by its own writer. The representation is built in SQL (codes
/// need no JSON escaping), so a recompute of every customer stays one
/// statement.
pub fn record_stage_events(conn: &mut DbConn, event_filter: &str) -> QueryResult<()> {
    push_stage_events(conn, event_filter, false)
}

/// [`record_stage_events`] for events this transaction inserted (a
/// recompute chunk): they cannot have a feed entry yet, so none is looked
/// for (a probe per event in `changes`, a third of the statement at 20,000
/// tier moves on PostgreSQL).
pub fn record_new_stage_events(conn: &mut DbConn, event_filter: &str) -> QueryResult<()> {
    push_stage_events(conn, event_filter, true)
}

fn push_stage_events(conn: &mut DbConn, event_filter: &str, new_only: bool) -> QueryResult<()> {
    let last = super::events::last_id(conn)?;
    push(Unsealed::StageEvents {
        filter: format!("({event_filter}) AND e.id <= {last}"),
        new_only,
    });
    Ok(())
}

fn stage_events_sql(event_filter: &str, seq: i64, new_only: bool) -> String {
    let kinds = STAGE_KINDS
        .iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let value = |col: &str| format!("COALESCE('\"' || {col} || '\"', 'null')");
    let data = format!(
        "'{{\"id\":' || e.id || ',\"customer_id\":' || e.customer_id || ',\"kind\":\"' || e.kind || '\",\"from\":' || {} || ',\"to\":' || {} || '}}'",
        value("e.from_value"),
        value("e.to_value"),
    );
    let unrecorded = if new_only {
        String::new()
    } else {
        format!(
            " AND NOT EXISTS (SELECT 1 FROM changes c \
             WHERE c.entity_type = '{STAGE_CHANGE}' AND c.entity_id = e.id)"
        )
    };
    format!(
        "INSERT INTO changes (entity_type, entity_id, operation, version, at, seq, data) \
         SELECT '{STAGE_CHANGE}', e.id, '{CREATED}', 1, e.at, {seq}, {data} FROM customer_events e \
         WHERE e.kind IN ({kinds}) AND ({event_filter}){unrecorded}"
    )
}

/// The next commit number; its row lock is held until COMMIT (see the
/// module's comment).
fn next_seq(conn: &mut DbConn) -> QueryResult<i64> {
    native!(conn, |c| NextSeq.get_result(c))
}

/// The counter's increment as a statement with a static query id, so each
/// connection prepares it once: diesel compiles every `UPDATE` it builds anew
/// (a changeset's SQL may vary), which was 3.4 % of a single create's CPU.
#[derive(diesel::query_builder::QueryId)]
struct NextSeq;

impl<DB: diesel::backend::Backend> diesel::query_builder::QueryFragment<DB> for NextSeq {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        out.push_sql("UPDATE change_counter SET last = last + 1 WHERE id = 1 RETURNING last");
        Ok(())
    }
}

impl diesel::query_builder::Query for NextSeq {
    type SqlType = diesel::sql_types::BigInt;
}

impl<C> RunQueryDsl<C> for NextSeq {}

/// One history event of a stage kind (just inserted), as its `stage_change`:
/// the text `record_stage_events` builds in SQL, rendered here so that a
/// single write's row goes out with its other rows (alone, through diesel's
/// cached insert) instead of an `INSERT … SELECT` compiled every time.
pub fn record_stage_event(
    _conn: &mut DbConn,
    event_id: i64,
    customer_id: i64,
    kind: &str,
    from: Option<&str>,
    to: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<()> {
    #[derive(serde::Serialize)]
    struct StageChange<'a> {
        id: i64,
        customer_id: i64,
        kind: &'a str,
        from: Option<&'a str>,
        to: Option<&'a str>,
    }
    let data = serde_json::to_string(&StageChange {
        id: event_id,
        customer_id,
        kind,
        from,
        to,
    })
    .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    push_entity(STAGE_CHANGE, event_id, CREATED, 1, at, Some(data));
    Ok(())
}

/// History event kinds that are stage changes in the feed.
pub const STAGE_KINDS: &[&str] = &[
    super::events::FUNNEL_STAGE_CHANGED,
    super::cpr::CPR_STAGE_CHANGED,
    super::tiers::TIER_CHANGED,
    super::loyalty::LOYALTY_CHANGED,
];

/// Called by `write_tx` when a transaction begins.
pub(super) fn begin() {
    UNSEALED.with(|u| u.borrow_mut().clear());
}

/// How many changes the transaction has recorded so far (see
/// `db::savepoint`).
pub(super) fn mark() -> usize {
    UNSEALED.with(|u| u.borrow().len())
}

/// Forgets the changes recorded after `mark`: their savepoint rolled back,
/// so what they describe was never written.
pub(super) fn forget_since(mark: usize) {
    UNSEALED.with(|u| u.borrow_mut().truncate(mark));
}

/// Called by `write_tx` just before COMMIT: renders the changed entities
/// (once each: a transaction may change one several times), takes the
/// commit number, and writes every change once, complete and numbered, in
/// the order recorded. The counter's lock is held from the number to
/// COMMIT: only the inserts come in between.
pub(super) fn seal(conn: &mut DbConn) -> QueryResult<()> {
    let mut unsealed = UNSEALED.with(|u| std::mem::take(&mut *u.borrow_mut()));
    if unsealed.is_empty() {
        return Ok(());
    }
    erase_unsealed(&mut unsealed);
    erase_committed(conn, &unsealed)?;
    let rendered = render(conn, &unsealed)?;
    let seq = next_seq(conn)?;
    let mut rows: Vec<Change> = Vec::new();
    for change in unsealed {
        match change {
            Unsealed::Entity(mut change) => {
                if change.data.is_none() {
                    let key = (change.entity_type.clone(), change.entity_id);
                    change.data = Some(rendered.get(&key).cloned().ok_or_else(|| {
                        diesel::result::Error::QueryBuilderError(
                            format!("{} {} left unrendered", key.0, key.1).into(),
                        )
                    })?);
                }
                rows.push(change);
            }
            Unsealed::StageEvents { filter, new_only } => {
                write_rows(conn, seq, &mut rows)?;
                use diesel::connection::SimpleConnection;
                conn.batch_execute(&stage_events_sql(&filter, seq, new_only))?;
            }
            // Applied before the number was taken (`erase_committed`).
            Unsealed::Erase { .. } => {}
        }
    }
    write_rows(conn, seq, &mut rows)
}

/// Renders now the changes recorded since `from` (a `mark`) that have no
/// data yet. For a grouped write (`db::group`) that another write of the
/// same group follows: the seal renders each entity once, as the group left
/// it, so a contact PATCHed by one request and deleted by the next showed
/// the PATCH's `updated` change with the delete's tombstone, and two PATCHes
/// both showed the second's version.
pub(super) fn render_since(conn: &mut DbConn, from: usize) -> QueryResult<()> {
    let mut by_type: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    UNSEALED.with(|u| {
        for change in u.borrow().iter().skip(from) {
            if let Unsealed::Entity(c) = change {
                if c.data.is_none() {
                    by_type
                        .entry(c.entity_type.clone())
                        .or_default()
                        .push(c.entity_id);
                }
            }
        }
    });
    if by_type.is_empty() {
        return Ok(());
    }
    let rendered = render_types(conn, by_type)?;
    UNSEALED.with(|u| {
        for change in u.borrow_mut().iter_mut().skip(from) {
            if let Unsealed::Entity(c) = change {
                if c.data.is_none() {
                    let key = (c.entity_type.clone(), c.entity_id);
                    c.data = rendered.get(&key).cloned();
                }
            }
        }
    });
    Ok(())
}

/// The representations of the entities changed without one, by (type, id),
/// one batch per type.
fn render(conn: &mut DbConn, unsealed: &[Unsealed]) -> QueryResult<HashMap<(String, i64), String>> {
    let mut by_type: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for change in unsealed {
        if let Unsealed::Entity(Change {
            entity_type,
            entity_id,
            data: None,
            ..
        }) = change
        {
            by_type
                .entry(entity_type.clone())
                .or_default()
                .push(*entity_id);
        }
    }
    render_types(conn, by_type)
}

fn render_types(
    conn: &mut DbConn,
    by_type: BTreeMap<String, Vec<i64>>,
) -> QueryResult<HashMap<(String, i64), String>> {
    let mut out = HashMap::new();
    for (entity_type, mut ids) in by_type {
        ids.sort_unstable();
        ids.dedup();
        let rendered = crate::http::change_data::render_many(conn, &entity_type, &ids)
            .map_err(crate::error::ApiError::into_diesel)?;
        out.extend(
            rendered
                .into_iter()
                .map(|(id, data)| ((entity_type.to_string(), id), data)),
        );
    }
    Ok(out)
}

const COLUMNS: [&str; 7] = [
    "entity_type",
    "entity_id",
    "operation",
    "version",
    "at",
    "seq",
    "data",
];

/// Inserts `rows` (in order) with the commit number `seq` and empties it.
/// One row goes through diesel's insert, a statement it caches (the single
/// writes); more as one multi-row statement.
fn write_rows(conn: &mut DbConn, seq: i64, rows: &mut Vec<Change>) -> QueryResult<()> {
    match std::mem::take(rows).as_slice() {
        [] => Ok(()),
        [c] => diesel::insert_into(changes::table)
            .values((
                changes::entity_type.eq(&c.entity_type),
                changes::entity_id.eq(c.entity_id),
                changes::operation.eq(&c.operation),
                changes::version.eq(c.version),
                changes::at.eq(c.at),
                changes::seq.eq(seq),
                changes::data.eq(&c.data),
            ))
            .execute(conn)
            .map(|_| ()),
        more => {
            let binds: Vec<Vec<Bind>> = more
                .iter()
                .map(|c| {
                    vec![
                        Bind::from(&c.entity_type),
                        c.entity_id.into(),
                        Bind::from(&c.operation),
                        c.version.into(),
                        c.at.into(),
                        seq.into(),
                        Bind::from(&c.data),
                    ]
                })
                .collect();
            batch::insert_rows(conn, "changes", &COLUMNS, &binds).map(|_| ())
        }
    }
}

/// Sealed changes after `after`, of `types` (all when empty), `limit` rows.
///
/// With types, each type's changes are walked in its own index order
/// (`changes_type_order`) and merged: a scan in feed order filtering by type
/// would read every change of other types between a rare type's changes,
/// and one query over several types is sorted whole by both engines.
pub fn page(
    conn: &mut DbConn,
    after: Position,
    types: &[String],
    limit: i64,
) -> QueryResult<Vec<ChangeRow>> {
    match types {
        [] => after_query(after).limit(limit).load(conn),
        [one] => after_query(after)
            .filter(changes::entity_type.eq(one))
            .limit(limit)
            .load(conn),
        several => {
            // Each type is its own statement, with its own snapshot: a seal
            // committing between two of them put a later type's change on
            // the page without an earlier type's change numbered before it,
            // and the cursor moved past that one for good (an outside
            // review). Everything up to the head read first has committed
            // (numbers are taken in commit order), so every statement sees
            // the same changes up to it; later ones wait for the next page.
            let end = head(conn)?;
            let mut next = Vec::new();
            for t in several {
                let positions: Vec<(Option<i64>, i64)> = after_query(after)
                    .filter(changes::seq.le(end.seq))
                    .filter(changes::entity_type.eq(t))
                    .select((changes::seq, changes::id))
                    .limit(limit)
                    .load(conn)?;
                next.extend(positions.into_iter().map(|(seq, id)| Position {
                    seq: seq.unwrap_or_default(),
                    id,
                }));
            }
            next.sort_unstable();
            next.truncate(usize::try_from(limit).unwrap_or(0));
            let ids: Vec<i64> = next.iter().map(|p| p.id).collect();
            changes::table
                .filter(changes::id.eq_any(ids))
                .order((changes::seq.asc(), changes::id.asc()))
                .load(conn)
        }
    }
}

/// Sealed changes after `after` in feed order. `seq >= after.seq` first, so
/// both engines seek to the cursor in the index rather than walk up to it.
fn after_query<'a>(after: Position) -> changes::BoxedQuery<'a, <DbConn as Connection>::Backend> {
    changes::table
        .filter(changes::seq.ge(after.seq))
        .filter(changes::seq.gt(after.seq).or(changes::id.gt(after.id)))
        .order((changes::seq.asc(), changes::id.asc()))
        .into_boxed()
}

/// `page` for a reader at `after`, or None when the retention purge has
/// passed `after` by the time the page was read. The caller checked
/// `purged_through` before, but the purge may commit between that check and
/// the page: the page then lacks the rows it deleted and would be handed out
/// as if nothing were missing. The purge deletes its rows and moves its
/// position in one transaction, so reading the position again after the page
/// tells: if `after` is still at or past it, no row after `after` was gone
/// when the page was read.
pub fn page_retained(
    conn: &mut DbConn,
    after: Position,
    types: &[String],
    limit: i64,
) -> QueryResult<Option<Vec<ChangeRow>>> {
    page_retained_for(conn, after, types, types, limit)
}

/// `page_retained` reading `types` for a reader that follows `followed`
/// (a webhook reads every type and skips what its filters leave out):
/// None only when a change of `followed` after `after` was purged.
pub fn page_retained_for(
    conn: &mut DbConn,
    after: Position,
    types: &[String],
    followed: &[String],
    limit: i64,
) -> QueryResult<Option<Vec<ChangeRow>>> {
    let rows = page(conn, after, types, limit)?;
    Ok((after >= purged_through_types(conn, followed)?).then_some(rows))
}

/// Whether the feed can ever hand out `p`: the start `(0, 0)` (an empty
/// feed's cursor, and the purge position before any purge), or a sealed
/// change's `(seq, id)`, both from 1 (the counter's first number is 1, and
/// ids start at 1). Anything else (a negative id, `(0, 5)`) was made by
/// hand: a bad cursor, not one "behind the purge", since no change can
/// have been purged after a position that no change follows.
pub fn can_be_cursor(p: Position) -> bool {
    p == Position::default() || (p.seq >= 1 && p.id >= 1)
}

/// The newest position the retention purge removed (`(0, 0)` before the
/// first purge); a cursor before it is expired: changes after it are gone.
pub fn purged_through(conn: &mut DbConn) -> QueryResult<Position> {
    let (seq, id): (i64, i64) = change_counter::table
        .find(1)
        .select((change_counter::purged_seq, change_counter::purged_id))
        .first(conn)?;
    Ok(Position { seq, id })
}

/// The newest position the retention purge removed among changes of
/// `types` (over all types when empty): a cursor read with `types` is
/// expired only when a change of one of them was purged after it.
pub fn purged_through_types(conn: &mut DbConn, types: &[String]) -> QueryResult<Position> {
    if types.is_empty() {
        return purged_through(conn);
    }
    let purged: Vec<(i64, i64)> = change_type_purges::table
        .filter(change_type_purges::entity_type.eq_any(types))
        .select((
            change_type_purges::purged_seq,
            change_type_purges::purged_id,
        ))
        .load(conn)?;
    Ok(purged
        .into_iter()
        .map(|(seq, id)| Position { seq, id })
        .max()
        .unwrap_or_default())
}

/// How many changes one purge transaction deletes at most: the writers
/// queued behind it (SQLite's writer lock; they give up after
/// `writer::WAIT`) wait for one batch, not for every change that aged out
/// at once (30 days after a million-row import, or a shortened retention).
pub const PURGE_BATCH: i64 = 10_000;

/// Deletes sealed changes older than `before` (in commit order: never a row
/// that a retained row precedes), remembering the newest removed position.
/// Returns how many were removed.
pub fn purge(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    purge_in_batches(conn, before, PURGE_BATCH)
}

/// `purge`, deleting at most `batch` changes per write transaction, oldest
/// first. Each batch moves the purge positions to its own newest change,
/// so between batches every change at or before them is gone and none
/// after them: a cursor's 410 stays exact while the purge goes on.
pub fn purge_in_batches(
    conn: &mut DbConn,
    before: NaiveDateTime,
    batch: i64,
) -> QueryResult<usize> {
    // Usually nothing is old enough: one step down `changes_at` says so
    // without taking the write lock.
    let oldest: Option<NaiveDateTime> = changes::table
        .select(diesel::dsl::min(changes::at))
        .first(conn)?;
    if oldest.is_none_or(|at| at >= before) {
        return Ok(0);
    }
    let Some(through) = newest_before(conn, before)? else {
        return Ok(0);
    };
    let mut purged = 0;
    loop {
        let (n, end) = super::write_tx(conn, |conn| {
            // The batch ends at its `batch`-th oldest change, or at
            // `through` when fewer are left before it. (The rows of a
            // purge of another process may already be gone: then this
            // deletes nothing, and the positions never move backwards.)
            let nth: Option<(Option<i64>, i64)> = changes::table
                .filter(changes::seq.ge(1))
                .order((changes::seq, changes::id))
                .select((changes::seq, changes::id))
                .offset(batch.max(1) - 1)
                .first(conn)
                .optional()?;
            let end = match nth {
                Some((Some(seq), id)) => through.min(Position { seq, id }),
                _ => through,
            };
            Ok::<_, diesel::result::Error>((delete_through(conn, end)?, end))
        })?;
        purged += n;
        if end == through {
            return Ok(purged);
        }
    }
}

/// The newest sealed position older than `before`, in two steps that each
/// have one plan whatever `before` is: the range of `changes_at`, then one
/// commit's rows. (Asked in one query ordered by position, SQLite cannot
/// see that the range is usually empty and walks every change in commit
/// order instead.) Rows only age: a change written later is not older
/// than `before`, so the position read here stays the purge's end.
fn newest_before(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<Option<Position>> {
    let newest_seq: Option<i64> = changes::table
        .filter(changes::at.lt(before))
        .select(diesel::dsl::max(changes::seq))
        .first(conn)?;
    let Some(seq) = newest_seq else {
        return Ok(None);
    };
    let newest_id: Option<i64> = changes::table
        .filter(changes::seq.eq(seq))
        .filter(changes::at.lt(before))
        .select(diesel::dsl::max(changes::id))
        .first(conn)?;
    Ok(newest_id.map(|id| Position { seq, id }))
}

/// In a write transaction: deletes every sealed change at or before `end`
/// and moves the purge positions (over all types and per type) to it.
fn delete_through(conn: &mut DbConn, end: Position) -> QueryResult<usize> {
    let Position { seq, id } = end;
    remember_type_purges(conn, end)?;
    // `seq <= s` first: a range of `changes_order` (an OR at the top
    // could not use the index as one range).
    let n = diesel::delete(
        changes::table
            .filter(changes::seq.le(seq))
            .filter(changes::seq.lt(seq).or(changes::id.le(id))),
    )
    .execute(conn)?;
    // Never backwards: a purge of another process that computed an
    // older position from its snapshot may commit after this one.
    diesel::update(
        change_counter::table.find(1).filter(
            change_counter::purged_seq
                .lt(seq)
                .or(change_counter::purged_seq
                    .eq(seq)
                    .and(change_counter::purged_id.lt(id))),
        ),
    )
    .set((
        change_counter::purged_seq.eq(seq),
        change_counter::purged_id.eq(id),
    ))
    .execute(conn)?;
    Ok(n)
}

/// Records, for each entity type, its newest change at or before `through`
/// (the purge is about to delete them all). One statement per type, each a
/// step down `changes_type_order`; the types are this file's constants and
/// the positions numbers, so they are written into the SQL.
fn remember_type_purges(conn: &mut DbConn, through: Position) -> QueryResult<()> {
    let Position { seq, id } = through;
    let mut sql = String::new();
    for t in ENTITY_TYPES {
        // `WHERE true` before `ON CONFLICT`: SQLite's parser needs it there.
        sql.push_str(&format!(
            "INSERT INTO change_type_purges (entity_type, purged_seq, purged_id) \
             SELECT '{t}', n.seq, n.id FROM (SELECT seq, id FROM changes \
               WHERE entity_type = '{t}' AND seq <= {seq} AND (seq < {seq} OR id <= {id}) \
               ORDER BY seq DESC, id DESC LIMIT 1) n WHERE true \
             ON CONFLICT (entity_type) DO UPDATE \
               SET purged_seq = excluded.purged_seq, purged_id = excluded.purged_id \
               WHERE change_type_purges.purged_seq < excluded.purged_seq \
                 OR (change_type_purges.purged_seq = excluded.purged_seq \
                     AND change_type_purges.purged_id < excluded.purged_id);"
        ));
    }
    conn.batch_execute(&sql)
}

/// The newest sealed position (where a new subscriber starts).
pub fn head(conn: &mut DbConn) -> QueryResult<Position> {
    let newest: Option<(Option<i64>, i64)> = changes::table
        .filter(changes::seq.is_not_null())
        .order((changes::seq.desc(), changes::id.desc()))
        .select((changes::seq, changes::id))
        .first(conn)
        .optional()?;
    Ok(match newest {
        Some((Some(seq), id)) => Position { seq, id },
        _ => purged_through(conn)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;
    use diesel::Connection;

    use crate::db::testing::db_tests;

    /// An erase covers the entity's changes recorded before it in the
    /// transaction (a grouped PATCH), not another entity's, nor the delete's
    /// tombstone recorded after it.
    #[test]
    fn an_erase_covers_the_changes_recorded_before_it_only() {
        let change = |id: i64, operation: &str, data: Option<&str>| {
            Unsealed::Entity(Change {
                entity_type: CONTACT.into(),
                entity_id: id,
                operation: operation.into(),
                version: 1,
                at: NaiveDateTime::default(),
                data: data.map(String::from),
            })
        };
        let mut unsealed = vec![
            change(5, UPDATED, None),
            change(5, UPDATED, Some("{\"name\":\"Li\"}")),
            change(6, UPDATED, None),
            Unsealed::Erase {
                entity_type: CONTACT.into(),
                entity_id: 5,
                customer_id: 9,
            },
            change(5, DELETED, Some("tombstone")),
        ];
        erase_unsealed(&mut unsealed);
        let data: Vec<Option<String>> = unsealed
            .iter()
            .filter_map(|u| match u {
                Unsealed::Entity(c) => Some(c.data.clone()),
                _ => None,
            })
            .collect();
        let stub = r#"{"customer_id":9,"erased":true,"id":5}"#.to_string();
        assert_eq!(
            data,
            [
                Some(stub.clone()),
                Some(stub),
                None,
                Some("tombstone".into())
            ]
        );
    }

    db_tests!(
        one_stage_event_reads_as_the_set_based_ones,
        a_seal_writes_the_changes_once_in_the_order_recorded,
    );

    /// The cards 7 and 8 the events below are of (the foreign keys hold on
    /// both engines).
    const CARDS: &str =
        "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at) \
           VALUES (1, 'a@x.io', 'A', 'admin', 'x', '2026-01-01 00:00:00', '2026-01-01 00:00:00'); \
         INSERT INTO customers (id, kind, name, owner_id, created_at, updated_at) VALUES \
           (7, 'individual', 'seven', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00'), \
           (8, 'individual', 'eight', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00');";

    fn stage_changes(conn: &mut DbConn) -> Vec<(i64, String, NaiveDateTime, Option<String>)> {
        changes::table
            .filter(changes::entity_type.eq(STAGE_CHANGE))
            .order(changes::entity_id)
            .select((
                changes::entity_id,
                changes::operation,
                changes::at,
                changes::data,
            ))
            .load(conn)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A single write renders its stage change in Rust; recomputes build the
    /// same text in SQL. Feed readers must not be able to tell them apart.
    fn one_stage_event_reads_as_the_set_based_ones(conn: &mut DbConn) {
        conn.batch_execute(&format!(
            "{CARDS} \
             INSERT INTO customer_events (customer_id, kind, from_value, to_value, at) VALUES \
               (7, 'funnel_stage_changed', NULL, 'lead', '2026-01-02 03:04:05.123456'), \
               (7, 'tier_changed', 'small', 'important', '2026-01-03 00:00:00'), \
               (8, 'loyalty_changed', 'high', NULL, '2026-01-04 00:00:00');"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        begin();
        record_stage_events(conn, "e.id > 0").unwrap_or_else(|e| panic!("{e}"));
        seal(conn).unwrap_or_else(|e| panic!("{e}"));
        let set_based = stage_changes(conn);
        assert_eq!(set_based.len(), 3, "{set_based:?}");

        conn.batch_execute("DELETE FROM changes")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut events: Vec<crate::db::events::Written> = diesel::sql_query(
            "SELECT id, customer_id, kind, from_value, to_value, at FROM customer_events",
        )
        .load(conn)
        .unwrap_or_else(|e| panic!("{e}"));
        begin();
        crate::db::events::record_stage_changes(conn, &mut events)
            .unwrap_or_else(|e| panic!("{e}"));
        seal(conn).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stage_changes(conn), set_based);
    }

    /// Nothing is written before the seal; then every change of the
    /// transaction is written once, complete, with one commit number, in
    /// the order recorded (entities and set-based stage changes mixed). The
    /// next transaction's changes get a later number.
    fn a_seal_writes_the_changes_once_in_the_order_recorded(conn: &mut DbConn) {
        conn.batch_execute(&format!(
            "{CARDS} \
             INSERT INTO customer_events (customer_id, kind, from_value, to_value, at) VALUES \
               (7, 'tier_changed', 'small', 'important', '2026-01-03 00:00:00'), \
               (8, 'tier_changed', 'ordinary', 'small', '2026-01-03 00:00:00');"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let rows = |conn: &mut DbConn| -> Vec<(String, i64, Option<i64>, bool)> {
            changes::table
                .order(changes::id)
                .select((
                    changes::entity_type,
                    changes::entity_id,
                    changes::seq,
                    changes::data.is_not_null(),
                ))
                .load(conn)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let delete = |conn: &mut DbConn, id: i64| {
            record_deleted(conn, CUSTOMER, id, 2, None).unwrap_or_else(|e| panic!("{e}"))
        };
        begin();
        delete(conn, 7);
        record_new_stage_events(conn, "e.id > 0").unwrap_or_else(|e| panic!("{e}"));
        delete(conn, 8);
        assert_eq!(rows(conn), vec![]);
        seal(conn).unwrap_or_else(|e| panic!("{e}"));
        let first = rows(conn);
        let kinds: Vec<(&str, i64)> = first.iter().map(|r| (r.0.as_str(), r.1)).collect();
        assert_eq!(
            kinds,
            [
                (CUSTOMER, 7),
                (STAGE_CHANGE, 1),
                (STAGE_CHANGE, 2),
                (CUSTOMER, 8)
            ]
        );
        let seq = first[0].2.unwrap_or_else(|| panic!("{first:?}"));
        assert!(first.iter().all(|r| r.2 == Some(seq) && r.3), "{first:?}");

        begin();
        delete(conn, 9);
        seal(conn).unwrap_or_else(|e| panic!("{e}"));
        let all = rows(conn);
        assert_eq!(all.len(), 5, "{all:?}");
        assert!(all[4].2 > Some(seq), "{all:?}");
        // A transaction that recorded nothing takes no number.
        begin();
        seal(conn).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows(conn).len(), 5);
    }

    /// The hourly purge usually has nothing to do; then it must not wait
    /// for, or hold, the write lock (it once held it for minutes at start-up
    /// while walking every change, and every write failed meanwhile).
    /// SQLite only: its database-wide write lock is what is tested
    /// (PostgreSQL's purge locks no more than the rows it deletes).
    #[test]
    fn a_purge_with_nothing_old_leaves_the_write_lock_alone() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("purge.db");
        let path = path.to_str().unwrap_or_else(|| panic!("path"));
        let mut writer = DbConn::Sqlite(
            diesel::SqliteConnection::establish(path).unwrap_or_else(|e| panic!("{e}")),
        );
        super::super::migrate::run(&mut writer).unwrap_or_else(|e| panic!("{e}"));
        writer
            .batch_execute(
                "INSERT INTO changes (entity_type, entity_id, operation, version, at, seq, data) \
                 VALUES ('customer', 1, 'created', 1, '2026-11-01 00:00:00', 1, '{}')",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        // Another connection holds the write lock; no busy timeout here, so
        // taking the lock would fail at once.
        writer
            .batch_execute("BEGIN IMMEDIATE")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut purger = DbConn::Sqlite(
            diesel::SqliteConnection::establish(path).unwrap_or_else(|e| panic!("{e}")),
        );
        let before = chrono::NaiveDate::from_ymd_opt(2026, 10, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or_else(|| panic!("date"));
        assert_eq!(purge(&mut purger, before).ok(), Some(0));
        // Something old: now it needs the lock.
        let after = before + chrono::Duration::days(60);
        assert!(purge(&mut purger, after).is_err());
        writer
            .batch_execute("ROLLBACK")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(purge(&mut purger, after).ok(), Some(1));
    }
}
