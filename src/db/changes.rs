//! The change feed's storage. Every db-layer writer calls `record` (or
//! `record_stage_events` for set-based stage changes) inside the caller's
//! write transaction; `db::write_tx` calls `seal` just before COMMIT, which
//! fills in each change's API representation and takes the commit number.
//!
//! Why a commit number and not the row id: ids come from a sequence handed
//! out at INSERT time, so with two writers a later id can commit first and a
//! reader that already moved past it would never see the earlier one. The
//! commit number is taken from the single `change_counter` row with an
//! UPDATE, whose row lock is held until COMMIT: the next writer waits on it,
//! so numbers are handed out in commit order and a reader that sees number
//! n has already been able to see every number below it. Readers order by
//! (seq, id) and only read sealed rows. A set-based writer that records
//! nothing else may take its number first and insert its rows numbered
//! (`record_stage_events_numbered`): the same lock, held a little longer.

use std::cell::Cell;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::batch::{self, Bind};
use super::schema::{change_counter, changes};
use super::DbConn;

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
];

pub const CREATED: &str = "created";
pub const UPDATED: &str = "updated";
pub const DELETED: &str = "deleted";
pub const RESTORED: &str = "restored";
pub const OPERATIONS: &[&str] = &[CREATED, UPDATED, DELETED, RESTORED];

thread_local! {
    /// Set when the current write transaction recorded a change, so that
    /// transactions that change nothing in the feed skip the counter.
    static PENDING: Cell<bool> = const { Cell::new(false) };
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
/// the transaction is sealed, so it shows the entity as committed.
pub fn record(
    conn: &mut DbConn,
    entity_type: &str,
    entity_id: i64,
    operation: &str,
    version: i64,
) -> QueryResult<()> {
    insert(
        conn,
        entity_type,
        entity_id,
        operation,
        version,
        super::now(),
        None,
    )
}

/// Records a hard delete with its tombstone (the row is gone at seal time).
pub fn record_deleted(
    conn: &mut DbConn,
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
    insert(
        conn,
        entity_type,
        entity_id,
        DELETED,
        version,
        super::now(),
        Some(tombstone.to_string()),
    )
}

/// Records many changes of one type and operation at once (the bulk
/// paths): `(entity_id, version)` pairs, in this order.
pub fn record_many(
    conn: &mut DbConn,
    entity_type: &'static str,
    operation: &'static str,
    entities: &[(i64, i64)],
) -> QueryResult<()> {
    if entities.is_empty() {
        return Ok(());
    }
    let at = super::now();
    let rows: Vec<Vec<Bind>> = entities
        .iter()
        .map(|(id, version)| {
            vec![
                entity_type.into(),
                (*id).into(),
                operation.into(),
                (*version).into(),
                at.into(),
            ]
        })
        .collect();
    batch::insert_rows(
        conn,
        "changes",
        &["entity_type", "entity_id", "operation", "version", "at"],
        &rows,
    )?;
    PENDING.with(|p| p.set(true));
    Ok(())
}

fn insert(
    conn: &mut DbConn,
    entity_type: &str,
    entity_id: i64,
    operation: &str,
    version: i64,
    at: NaiveDateTime,
    data: Option<String>,
) -> QueryResult<()> {
    diesel::insert_into(changes::table)
        .values((
            changes::entity_type.eq(entity_type),
            changes::entity_id.eq(entity_id),
            changes::operation.eq(operation),
            changes::version.eq(version),
            changes::at.eq(at),
            changes::data.eq(data),
        ))
        .execute(conn)?;
    PENDING.with(|p| p.set(true));
    Ok(())
}

/// Set-based: one `stage_change` per customer event of a stage kind that
/// matches `event_filter` (SQL over `e`, the `customer_events` alias) and has
/// no change yet. The representation is built in SQL (codes need no JSON
/// escaping), so a recompute of every customer stays one statement.
pub fn record_stage_events(conn: &mut DbConn, event_filter: &str) -> QueryResult<()> {
    use diesel::connection::SimpleConnection;
    conn.batch_execute(&stage_events_sql(event_filter, None))?;
    PENDING.with(|p| p.set(true));
    Ok(())
}

/// [`record_stage_events`] for a transaction that recorded nothing else
/// before (a recompute chunk): takes the commit number now and inserts the
/// rows with it, so each row is written once instead of inserted and then
/// stamped at seal (on PostgreSQL the stamp is a second version of every
/// row in each index of `changes`: 2 s of a first tier recompute at 1M
/// customers). The counter's lock is held from here to COMMIT, so this
/// should be the transaction's last statement. A change recorded after it
/// gets a later number at seal: the feed keeps the order of recording.
///
/// `event_filter` must match only events this transaction inserted: they
/// cannot have a feed entry yet, so no entry is looked for (a probe per
/// event in `changes`, a third of the statement).
pub fn record_stage_events_numbered(conn: &mut DbConn, event_filter: &str) -> QueryResult<()> {
    use diesel::connection::SimpleConnection;
    if PENDING.with(|p| p.get()) {
        return Err(diesel::result::Error::QueryBuilderError(
            "stage changes numbered after unsealed changes would come before them in the feed"
                .into(),
        ));
    }
    let seq = next_seq(conn)?;
    conn.batch_execute(&stage_events_sql(event_filter, Some(seq)))
}

fn stage_events_sql(event_filter: &str, seq: Option<i64>) -> String {
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
    // Numbered rows are for new events only (see `record_stage_events_numbered`).
    let (seq, unrecorded) = match seq {
        Some(seq) => (seq.to_string(), String::new()),
        None => (
            "NULL".to_string(),
            format!(
                " AND NOT EXISTS (SELECT 1 FROM changes c \
                 WHERE c.entity_type = '{STAGE_CHANGE}' AND c.entity_id = e.id)"
            ),
        ),
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
    diesel::update(change_counter::table.find(1))
        .set(change_counter::last.eq(change_counter::last + 1))
        .returning(change_counter::last)
        .get_result(conn)
}

/// One history event of a stage kind (just inserted), as its `stage_change`:
/// the text `record_stage_events` builds in SQL, rendered here so that a
/// single write sends a statement diesel can cache instead of compiling a
/// new one every time.
pub fn record_stage_event(
    conn: &mut DbConn,
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
    insert(conn, STAGE_CHANGE, event_id, CREATED, 1, at, Some(data))
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
    PENDING.with(|p| p.set(false));
}

/// Called by `write_tx` just before COMMIT: fills in the representations,
/// then takes the commit number (the last statement but one, so the counter
/// lock is held for as short as possible) and stamps this transaction's rows.
pub(super) fn seal(conn: &mut DbConn) -> QueryResult<()> {
    if !PENDING.with(|p| p.replace(false)) {
        return Ok(());
    }
    // Render once per entity (a transaction may change one several times),
    // one batch per type.
    let unrendered: Vec<(i64, String, i64)> = changes::table
        .filter(changes::seq.is_null())
        .filter(changes::data.is_null())
        .select((changes::id, changes::entity_type, changes::entity_id))
        .load(conn)?;
    let mut by_type: std::collections::BTreeMap<String, Vec<(i64, i64)>> = Default::default();
    for (change_id, entity_type, entity_id) in unrendered {
        by_type
            .entry(entity_type)
            .or_default()
            .push((change_id, entity_id));
    }
    for (entity_type, rows) in by_type {
        let mut entities: Vec<i64> = rows.iter().map(|(_, entity)| *entity).collect();
        entities.sort_unstable();
        entities.dedup();
        let rendered: std::collections::HashMap<i64, String> =
            crate::http::change_data::render_many(conn, &entity_type, &entities)
                .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))?
                .into_iter()
                .collect();
        fill_data(conn, &rows, &rendered)?;
    }
    let seq = next_seq(conn)?;
    diesel::update(changes::table.filter(changes::seq.is_null()))
        .set(changes::seq.eq(seq))
        .execute(conn)?;
    Ok(())
}

/// Writes the representations into this transaction's unsealed rows
/// (`(change id, entity id)`), in one statement per chunk keyed by the
/// change's own id: both engines then step from each value row to its change
/// by primary key. SQLite used to run one UPDATE per row, compiled each
/// time, because keyed by entity its planner could scan the `VALUES` list
/// per row.
fn fill_data(
    conn: &mut DbConn,
    rows: &[(i64, i64)],
    rendered: &std::collections::HashMap<i64, String>,
) -> QueryResult<()> {
    let values = rows
        .iter()
        .map(|(change_id, entity_id)| {
            let data = rendered.get(entity_id).ok_or_else(|| {
                diesel::result::Error::QueryBuilderError("a change left unrendered".into())
            })?;
            Ok(vec![Bind::from(*change_id), Bind::from(data)])
        })
        .collect::<QueryResult<Vec<Vec<Bind>>>>()?;
    batch::with_values(conn, 2, &values, fill_data_sql)?;
    Ok(())
}

fn fill_data_sql(values: &str) -> String {
    format!("UPDATE changes SET data = v.column2 FROM ({values}) AS v WHERE changes.id = v.column1")
}

/// Sealed changes after `after`, of `types` (all when empty), `limit` rows.
pub fn page(
    conn: &mut DbConn,
    after: Position,
    types: &[String],
    limit: i64,
) -> QueryResult<Vec<ChangeRow>> {
    let mut query = changes::table
        .filter(changes::seq.is_not_null())
        .filter(
            changes::seq
                .gt(after.seq)
                .or(changes::seq.eq(after.seq).and(changes::id.gt(after.id))),
        )
        .into_boxed();
    if !types.is_empty() {
        query = query.filter(changes::entity_type.eq_any(types.to_vec()));
    }
    query
        .order((changes::seq.asc(), changes::id.asc()))
        .limit(limit)
        .load(conn)
}

/// The newest position the retention purge removed; cursors before it are
/// expired.
pub fn purged_through(conn: &mut DbConn) -> QueryResult<Position> {
    let (seq, id): (i64, i64) = change_counter::table
        .find(1)
        .select((change_counter::purged_seq, change_counter::purged_id))
        .first(conn)?;
    Ok(Position { seq, id })
}

/// Deletes sealed changes older than `before` (in commit order: never a row
/// that a retained row precedes), remembering the newest removed position.
/// Returns how many were removed.
pub fn purge(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    // Usually nothing is old enough: one step down `changes_at` says so
    // without taking the write lock.
    let oldest: Option<NaiveDateTime> = changes::table
        .select(diesel::dsl::min(changes::at))
        .first(conn)?;
    if oldest.is_none_or(|at| at >= before) {
        return Ok(0);
    }
    super::write_tx(conn, |conn| {
        // The newest sealed position that is older than the retention, in
        // two steps that each have one plan whatever `before` is: the range
        // of `changes_at`, then one commit's rows. (Asked in one query
        // ordered by position, SQLite cannot see that the range is usually
        // empty and walks every change in commit order instead.)
        let newest_seq: Option<i64> = changes::table
            .filter(changes::at.lt(before))
            .select(diesel::dsl::max(changes::seq))
            .first(conn)?;
        let Some(seq) = newest_seq else {
            return Ok(0);
        };
        let newest_id: Option<i64> = changes::table
            .filter(changes::seq.eq(seq))
            .filter(changes::at.lt(before))
            .select(diesel::dsl::max(changes::id))
            .first(conn)?;
        let Some(id) = newest_id else {
            return Ok(0);
        };
        let n = diesel::delete(
            changes::table.filter(changes::seq.is_not_null()).filter(
                changes::seq
                    .lt(seq)
                    .or(changes::seq.eq(seq).and(changes::id.le(id))),
            ),
        )
        .execute(conn)?;
        diesel::update(change_counter::table.find(1))
            .set((
                change_counter::purged_seq.eq(seq),
                change_counter::purged_id.eq(id),
            ))
            .execute(conn)?;
        Ok(n)
    })
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

    use crate::db::memory_db as conn;

    /// The data fill steps from each value row to its change by primary key,
    /// whatever the statistics: never a scan of the changes or of the list.
    #[test]
    fn the_data_fill_finds_each_change_by_its_id() {
        let mut conn = conn();
        conn.batch_execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
               INSERT INTO changes (entity_type, entity_id, operation, version, at, seq, data) \
               SELECT 'customer', i, 'created', 1, '2026-01-01 00:00:00', i, '{}' FROM n; \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) \
               INSERT INTO changes (entity_type, entity_id, operation, version, at) \
               SELECT 'customer', 5000 + i, 'created', 1, '2026-01-01 00:00:00' FROM n; \
             ANALYZE;",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let DbConn::Sqlite(c) = &mut conn else {
            panic!("SQLite");
        };
        let values = format!("VALUES {}", vec!["(?, ?)"; 500].join(", "));
        let plan = batch::sqlite_plan(c, &fill_data_sql(&values), &[])
            .unwrap_or_else(|e| panic!("{e}"))
            .join("; ");
        assert!(
            plan.contains("SEARCH changes USING INTEGER PRIMARY KEY"),
            "{plan}"
        );
        assert!(!plan.contains("SCAN changes"), "{plan}");
    }

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
    #[test]
    fn one_stage_event_reads_as_the_set_based_ones() {
        let mut conn = conn();
        // Only the feed's text is compared: no customers are needed.
        conn.batch_execute(
            "PRAGMA foreign_keys = OFF; \
             INSERT INTO customer_events (customer_id, kind, from_value, to_value, at) VALUES \
               (7, 'funnel_stage_changed', NULL, 'lead', '2026-01-02 03:04:05.123456'), \
               (7, 'tier_changed', 'small', 'important', '2026-01-03 00:00:00'), \
               (8, 'loyalty_changed', 'high', NULL, '2026-01-04 00:00:00');",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        record_stage_events(&mut conn, "e.id > 0").unwrap_or_else(|e| panic!("{e}"));
        let set_based = stage_changes(&mut conn);
        assert_eq!(set_based.len(), 3, "{set_based:?}");

        conn.batch_execute("DELETE FROM changes")
            .unwrap_or_else(|e| panic!("{e}"));
        let events: Vec<EventRow> = diesel::sql_query(
            "SELECT id, customer_id, kind, from_value, to_value, at FROM customer_events ORDER BY id",
        )
        .load(&mut conn)
        .unwrap_or_else(|e| panic!("{e}"));
        for e in &events {
            record_stage_event(
                &mut conn,
                e.id,
                e.customer_id,
                &e.kind,
                e.from_value.as_deref(),
                e.to_value.as_deref(),
                e.at,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(stage_changes(&mut conn), set_based);
    }

    /// Numbered stage changes are complete and numbered when inserted;
    /// a change recorded after them gets a later number at seal, and one
    /// recorded before them is refused (it would come after them).
    #[test]
    fn numbered_stage_changes_keep_the_order_of_recording() {
        let mut conn = conn();
        conn.batch_execute(
            "PRAGMA foreign_keys = OFF; \
             INSERT INTO customer_events (customer_id, kind, from_value, to_value, at) VALUES \
               (7, 'tier_changed', 'small', 'important', '2026-01-03 00:00:00'), \
               (8, 'tier_changed', 'ordinary', 'small', '2026-01-03 00:00:00');",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let rows = |conn: &mut DbConn| -> Vec<(String, Option<i64>, bool)> {
            changes::table
                .order(changes::id)
                .select((
                    changes::entity_type,
                    changes::seq,
                    changes::data.is_not_null(),
                ))
                .load(conn)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        begin();
        record_stage_events_numbered(&mut conn, "e.id > 0").unwrap_or_else(|e| panic!("{e}"));
        let numbered = rows(&mut conn);
        assert_eq!(numbered.len(), 2, "{numbered:?}");
        let first = numbered[0]
            .1
            .unwrap_or_else(|| panic!("numbered: {numbered:?}"));
        assert!(
            numbered.iter().all(|r| r.1 == Some(first) && r.2),
            "{numbered:?}"
        );

        let delete = |conn: &mut DbConn, id: i64| {
            insert(
                conn,
                CUSTOMER,
                id,
                DELETED,
                2,
                crate::db::now(),
                Some("{}".into()),
            )
            .unwrap_or_else(|e| panic!("{e}"))
        };
        delete(&mut conn, 7);
        seal(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        let all = rows(&mut conn);
        assert_eq!(all.len(), 3, "{all:?}");
        assert!(all[2].1 > Some(first), "{all:?}");

        begin();
        delete(&mut conn, 8);
        assert!(record_stage_events_numbered(&mut conn, "e.id > 0").is_err());
        begin();
    }

    /// The hourly purge usually has nothing to do; then it must not wait
    /// for, or hold, the write lock (it once held it for minutes at start-up
    /// while walking every change, and every write failed meanwhile).
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

    #[derive(QueryableByName)]
    struct EventRow {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        customer_id: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        kind: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        from_value: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        to_value: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Timestamp)]
        at: NaiveDateTime,
    }
}
