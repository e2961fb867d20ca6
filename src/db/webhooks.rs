//! Webhook subscriptions, their delivery state (position in the change
//! feed, consecutive failures, the lease) and the delivery log.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::changes::Position;
use super::schema::{webhook_deliveries, webhooks};
use super::DbConn;

#[derive(Debug, Clone, Queryable, Identifiable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    pub id: i64,
    pub url: String,
    /// JSON array of event filters.
    pub events: String,
    pub secret: String,
    pub active: bool,
    pub description: Option<String>,
    pub cursor_seq: i64,
    pub cursor_id: i64,
    pub failures: i64,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The head when a replay from the oldest retained change was asked
    /// (`replay_through`).
    pub replay_through_seq: Option<i64>,
    pub replay_through_id: Option<i64>,
}

impl WebhookRow {
    pub fn filters(&self) -> Vec<String> {
        serde_json::from_str(&self.events).unwrap_or_default()
    }

    pub fn position(&self) -> Position {
        Position {
            seq: self.cursor_seq,
            id: self.cursor_id,
        }
    }

    /// The changes a replay from the oldest retained change covered: those
    /// through the feed's head when it was asked. Those the purge takes
    /// before they are delivered were not retained; a purge past a later
    /// change is a gap (`webhook_worker`).
    pub fn replay_through(&self) -> Option<Position> {
        Some(Position {
            seq: self.replay_through_seq?,
            id: self.replay_through_id?,
        })
    }
}

/// The fields a client sets.
#[derive(PartialEq)]
pub struct WebhookInput {
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    pub active: bool,
    pub description: Option<String>,
}

pub fn insert(
    conn: &mut DbConn,
    w: &WebhookInput,
    start: Position,
    now: NaiveDateTime,
) -> QueryResult<WebhookRow> {
    let id: i64 = diesel::insert_into(webhooks::table)
        .values((
            webhooks::url.eq(&w.url),
            webhooks::events.eq(serde_json::json!(w.events).to_string()),
            webhooks::secret.eq(&w.secret),
            webhooks::active.eq(w.active),
            webhooks::description.eq(&w.description),
            webhooks::cursor_seq.eq(start.seq),
            webhooks::cursor_id.eq(start.id),
            webhooks::version.eq(1),
            webhooks::created_at.eq(now),
            webhooks::updated_at.eq(now),
        ))
        .returning(webhooks::id)
        .get_result(conn)?;
    webhooks::table.find(id).first(conn)
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<WebhookRow>> {
    webhooks::table.find(id).first(conn).optional()
}

pub fn page(conn: &mut DbConn, after_id: Option<i64>, limit: i64) -> QueryResult<Vec<WebhookRow>> {
    let mut query = webhooks::table
        .order(webhooks::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = after_id {
        query = query.filter(webhooks::id.gt(after));
    }
    query.load(conn)
}

/// Saves the client's fields if the row still has `expected_version`.
/// Re-activating clears the failure count and the disabled reason. The new
/// version makes the outcome of an attempt on the wire not count (`Held`):
/// its failure cannot undo the reset and disable the subscription again.
pub fn save(
    conn: &mut DbConn,
    id: i64,
    w: &WebhookInput,
    expected_version: i64,
    reactivate: bool,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let target = webhooks::table
        .filter(webhooks::id.eq(id))
        .filter(webhooks::version.eq(expected_version));
    let events = serde_json::json!(w.events).to_string();
    // Other events: the failures counted were another change's, which the
    // new filter may now put behind older ones (a review: a widened filter
    // sent an older change as the last attempt before disabling); so was the
    // wait they set before the next attempt (a review: a filter narrowed to
    // leave out a failing type still waited up to the back-off's hour).
    // Another URL or secret: they were another receiver's, or another
    // signature's (a review: a mistyped URL corrected waited out the old
    // back-off, and its first failure disabled it).
    let other = webhooks::events
        .ne(&events)
        .or(webhooks::url.ne(&w.url))
        .or(webhooks::secret.ne(&w.secret));
    diesel::update(target.filter(other))
        .set((
            webhooks::failures.eq(0),
            webhooks::next_attempt_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    let n = diesel::update(target)
        .set((
            webhooks::url.eq(&w.url),
            webhooks::events.eq(&events),
            webhooks::secret.eq(&w.secret),
            webhooks::active.eq(w.active),
            webhooks::description.eq(&w.description),
            webhooks::version.eq(expected_version + 1),
            webhooks::updated_at.eq(now),
        ))
        .execute(conn)?;
    if n == 1 && reactivate {
        diesel::update(webhooks::table.find(id))
            .set((
                webhooks::failures.eq(0),
                webhooks::disabled_reason.eq(None::<String>),
                webhooks::next_attempt_at.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
    }
    Ok(n == 1)
}

/// The `disabled_reason` of a subscription whose delete began.
pub const BEING_DELETED: &str = "being deleted";

/// Switches a subscription off for its delete, under the caller's lock: the
/// worker claims it no more, and a delivery under way (claimed at the older
/// version) moves no position and counts no failure (its attempt may still
/// be logged: the row goes with the subscription). Its log then goes in batches
/// (`delete_log_batch`) before the row does.
pub fn stop_for_delete(conn: &mut DbConn, id: i64) -> QueryResult<()> {
    diesel::update(webhooks::table.find(id))
        .set((
            webhooks::active.eq(false),
            webhooks::disabled_reason.eq(Some(BEING_DELETED)),
            webhooks::next_attempt_at.eq(None::<NaiveDateTime>),
            webhooks::version.eq(webhooks::version + 1),
            webhooks::updated_at.eq(super::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets at most `batch` attempts of one subscription's log, in a write
/// transaction of its own; returns how many. A subscription's delete takes
/// its log this way first: in the delete's one transaction, a busy
/// subscription's month of attempts held the writer long enough for the
/// writers queued behind it to give up (503), as the purge once did (a
/// review).
pub fn delete_log_batch(conn: &mut DbConn, webhook_id: i64, batch: i64) -> QueryResult<usize> {
    super::write_tx(conn, |conn| {
        let ids: Vec<i64> = webhook_deliveries::table
            .filter(webhook_deliveries::webhook_id.eq(webhook_id))
            .select(webhook_deliveries::id)
            .limit(batch.max(1))
            .load(conn)?;
        if ids.is_empty() {
            return Ok(0);
        }
        diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(ids)))
            .execute(conn)
    })
}

pub fn delete(conn: &mut DbConn, id: i64) -> QueryResult<bool> {
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(id)))
        .execute(conn)?;
    Ok(diesel::delete(webhooks::table.find(id)).execute(conn)? == 1)
}

/// Moves the delivery position (replay) and clears the backoff, so an
/// active subscription retries at once; a disabled one stays disabled (only
/// `save` with `reactivate` turns it back on). The lease stays with the
/// process that holds it: dropping it let another process claim at once and
/// POST the replayed changes while the holder's delivery was still on the
/// wire (two POSTs at once, out of order). The new version makes that
/// delivery's outcome not count (`advance`, `fail` and `disable` need the
/// version read at the claim), so it cannot move the position over the
/// replay; the holder then serves the replayed position itself.
pub fn rewind(
    conn: &mut DbConn,
    id: i64,
    to: Position,
    through: Option<Position>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(webhooks::table.find(id))
        .set((
            webhooks::cursor_seq.eq(to.seq),
            webhooks::cursor_id.eq(to.id),
            webhooks::replay_through_seq.eq(through.map(|p| p.seq)),
            webhooks::replay_through_id.eq(through.map(|p| p.id)),
            webhooks::failures.eq(0),
            webhooks::next_attempt_at.eq(None::<NaiveDateTime>),
            webhooks::version.eq(webhooks::version + 1),
            webhooks::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Active subscriptions whose next attempt is due, whose lease is free and
/// whose position is before the feed's head `head`. A subscription at the
/// head has nothing to deliver: every process claimed and released each idle
/// one at every poll (two writes), which on SQLite queue behind a bulk
/// import. Behind the head is an over-approximation for one whose types have
/// no change after it: serving it moves it to the head (`webhook_worker`).
pub fn due(conn: &mut DbConn, head: Position) -> QueryResult<Vec<i64>> {
    let now = super::clock(conn)?;
    webhooks::table
        .filter(webhooks::active.eq(true))
        .filter(
            webhooks::cursor_seq.lt(head.seq).or(webhooks::cursor_seq
                .eq(head.seq)
                .and(webhooks::cursor_id.lt(head.id))),
        )
        .filter(
            webhooks::next_attempt_at
                .is_null()
                .or(webhooks::next_attempt_at.le(now)),
        )
        .filter(
            webhooks::lease_until
                .is_null()
                .or(webhooks::lease_until.lt(now)),
        )
        .order(webhooks::id)
        .select(webhooks::id)
        .load(conn)
}

/// Claims the subscription for `owner` for `lease` (by `clock`), if no other process
/// holds an unexpired lease and its next attempt is due: one conditional
/// UPDATE, so of two processes racing for it exactly one wins. The due time
/// is checked here too, not only in `due`: another process that listed it
/// before a failure set the backoff would otherwise claim it right after the
/// failure's lease was released, and retry at once.
pub fn claim(
    conn: &mut DbConn,
    id: i64,
    owner: &str,
    lease: chrono::Duration,
) -> QueryResult<bool> {
    let now = super::clock(conn)?;
    let until = now + lease;
    let n = diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(id))
            .filter(webhooks::active.eq(true))
            .filter(
                webhooks::next_attempt_at
                    .is_null()
                    .or(webhooks::next_attempt_at.le(now)),
            )
            .filter(
                webhooks::lease_until
                    .is_null()
                    .or(webhooks::lease_until.lt(now)),
            ),
    )
    .set((
        webhooks::lease_owner.eq(owner),
        webhooks::lease_until.eq(until),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn release(conn: &mut DbConn, id: i64, owner: &str) -> QueryResult<()> {
    diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(id))
            .filter(webhooks::lease_owner.eq(owner)),
    )
    .set((
        webhooks::lease_owner.eq(None::<String>),
        webhooks::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(())
}

/// The subscription while `owner` still holds its lease.
pub fn held(conn: &mut DbConn, id: i64, owner: &str) -> QueryResult<Option<WebhookRow>> {
    webhooks::table
        .filter(webhooks::id.eq(id))
        .filter(webhooks::lease_owner.eq(owner))
        .first(conn)
        .optional()
}

/// The subscription as a delivery read it: who holds the lease, and the
/// version its position and failure count were read at. An outcome counts
/// only while both hold: a replay or a PATCH (a new version) made while the
/// request was on the wire wins over it, so an attempt of a change before a
/// replay cannot move the position over the replayed ones, nor a failure undo
/// a `PATCH {"active": true}`. The lease stays, so no other process delivers
/// meanwhile; the holder carries on from what the replay or PATCH left.
#[derive(Clone, Copy)]
pub struct Held<'a> {
    pub id: i64,
    pub owner: &'a str,
    pub version: i64,
}

/// Moves past changes (delivered or not selected), if `held` still holds.
pub fn advance(conn: &mut DbConn, held: Held, to: Position) -> QueryResult<bool> {
    let n = diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(held.id))
            .filter(webhooks::lease_owner.eq(held.owner))
            .filter(webhooks::version.eq(held.version))
            .filter(
                webhooks::cursor_seq.lt(to.seq).or(webhooks::cursor_seq
                    .eq(to.seq)
                    .and(webhooks::cursor_id.lt(to.id))),
            ),
    )
    .set((
        webhooks::cursor_seq.eq(to.seq),
        webhooks::cursor_id.eq(to.id),
        webhooks::failures.eq(0),
        webhooks::next_attempt_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Counts a failed attempt, if `held` still holds: the next one waits
/// `wait` (by `clock`), or the subscription is disabled once `max_failures`
/// failed in a row.
pub fn fail(
    conn: &mut DbConn,
    held: Held,
    failures: i64,
    max_failures: i64,
    wait: chrono::Duration,
) -> QueryResult<()> {
    let target = webhooks::table
        .filter(webhooks::id.eq(held.id))
        .filter(webhooks::lease_owner.eq(held.owner))
        .filter(webhooks::version.eq(held.version));
    if failures >= max_failures {
        diesel::update(target)
            .set(webhooks::failures.eq(failures))
            .execute(conn)?;
        disable(
            conn,
            held,
            &format!("disabled after {failures} consecutive failed deliveries"),
        )?;
    } else {
        let retry_at = super::clock(conn)? + wait;
        diesel::update(target)
            .set((
                webhooks::failures.eq(failures),
                webhooks::next_attempt_at.eq(Some(retry_at)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Stops deliveries (`active: false`) with the reason an admin reads; only
/// a `PATCH {"active": true}` starts them again (a replay moves the position
/// and leaves it disabled). A change of the
/// subscription like any other (new version and `updated_at`); no next
/// attempt is left showing. Only if `held` still holds.
pub fn disable(conn: &mut DbConn, held: Held, reason: &str) -> QueryResult<()> {
    diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(held.id))
            .filter(webhooks::lease_owner.eq(held.owner))
            .filter(webhooks::version.eq(held.version)),
    )
    .set((
        webhooks::active.eq(false),
        webhooks::disabled_reason.eq(Some(reason)),
        webhooks::next_attempt_at.eq(None::<NaiveDateTime>),
        webhooks::version.eq(webhooks::version + 1),
        webhooks::updated_at.eq(super::now()),
    ))
    .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable)]
pub struct DeliveryRow {
    pub id: i64,
    pub webhook_id: i64,
    pub change_id: i64,
    pub event: String,
    pub attempt: i64,
    pub outcome: String,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub at: NaiveDateTime,
}

pub struct NewDelivery<'a> {
    pub webhook_id: i64,
    pub change_id: i64,
    pub event: &'a str,
    pub attempt: i64,
    pub outcome: &'a str,
    pub http_status: Option<i64>,
    pub error: Option<&'a str>,
    pub duration_ms: i64,
    pub at: NaiveDateTime,
}

/// Logs an attempt, in the write transaction that records its outcome; false
/// (nothing written) when the subscription was deleted while the request was
/// on the wire: its log went with it, and the insert would break the foreign
/// key. The row is locked first (PostgreSQL), so a DELETE under way waits for
/// this transaction's COMMIT (its cascade then removes this row) or this one
/// for the DELETE's, and then finds nothing. Also false with `again` when
/// the attempt is logged already.
pub fn log_delivery(conn: &mut DbConn, d: &NewDelivery, again: bool) -> QueryResult<bool> {
    super::row_lock::lock(conn, super::row_lock::Locked::Webhooks, d.webhook_id)?;
    if find(conn, d.webhook_id)?.is_none() {
        return Ok(false);
    }
    // Written again after a write that failed, perhaps only its COMMIT's
    // answer (a PostgreSQL connection lost after the server committed):
    // its row there, the whole write is. Read under the lock, which that
    // write held until its COMMIT landed.
    if again {
        let logged = webhook_deliveries::table
            .filter(webhook_deliveries::at.eq(d.at))
            .filter(webhook_deliveries::webhook_id.eq(d.webhook_id))
            .filter(webhook_deliveries::change_id.eq(d.change_id))
            .filter(webhook_deliveries::attempt.eq(d.attempt))
            .select(webhook_deliveries::id)
            .first::<i64>(conn)
            .optional()?;
        if logged.is_some() {
            return Ok(false);
        }
    }
    diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::webhook_id.eq(d.webhook_id),
            webhook_deliveries::change_id.eq(d.change_id),
            webhook_deliveries::event.eq(d.event),
            webhook_deliveries::attempt.eq(d.attempt),
            webhook_deliveries::outcome.eq(d.outcome),
            webhook_deliveries::http_status.eq(d.http_status),
            webhook_deliveries::error.eq(d.error),
            webhook_deliveries::duration_ms.eq(d.duration_ms),
            webhook_deliveries::at.eq(d.at),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Forgets delivery attempts older than `before` (the change feed's
/// retention: the changes they delivered are gone too). Returns how many.
pub fn purge_deliveries(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    purge_deliveries_in_batches(conn, before, super::changes::PURGE_BATCH)
}

/// `purge_deliveries`, at most `batch` attempts per write transaction, as
/// the change purge: in the writer queue (one DELETE outside it met this
/// process's writers only in SQLite's busy handler, and failed when they
/// kept the lock 5 s), and never holding the lock for a whole month of
/// attempts. Which old attempts go first does not matter: none is read
/// once it is older than the retention.
pub fn purge_deliveries_in_batches(
    conn: &mut DbConn,
    before: NaiveDateTime,
    batch: i64,
) -> QueryResult<usize> {
    let batch = batch.max(1);
    let mut purged = 0;
    loop {
        let n = super::write_tx(conn, |conn| {
            let old: Vec<i64> = webhook_deliveries::table
                .filter(webhook_deliveries::at.lt(before))
                .select(webhook_deliveries::id)
                .limit(batch)
                .load(conn)?;
            if old.is_empty() {
                return Ok(0);
            }
            diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(old)))
                .execute(conn)
        })?;
        purged += n;
        if i64::try_from(n).map_or(true, |n| n < batch) {
            return Ok(purged);
        }
    }
}

/// A subscription's delivery log, newest first, before `before_id`.
pub fn deliveries(
    conn: &mut DbConn,
    webhook_id: i64,
    before_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<DeliveryRow>> {
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .order(webhook_deliveries::id.desc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(before) = before_id {
        query = query.filter(webhook_deliveries::id.lt(before));
    }
    query.load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::stats::literal;
    use crate::db::testing::{db_tests, insert_rows};

    db_tests!(a_log_goes_in_batches_and_only_its_own);

    /// Seven attempts of subscription 1 go in batches of three (3, 3, 1,
    /// then none), and subscription 2's two stay.
    fn a_log_goes_in_batches_and_only_its_own(c: &mut DbConn) {
        let at = literal(
            chrono::NaiveDate::from_ymd_opt(2026, 12, 6)
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .unwrap_or_default(),
        );
        insert_rows(
            c,
            "webhooks (id, url, events, secret, active, created_at, updated_at)",
            [1, 2].map(|id| {
                format!("({id}, 'https://x.example/', '[\"*\"]', 's', TRUE, {at}, {at})")
            }),
        );
        insert_rows(
            c,
            "webhook_deliveries (webhook_id, change_id, event, attempt, outcome, duration_ms, at)",
            (0..9).map(|n| {
                let hook = if n < 7 { 1 } else { 2 };
                format!("({hook}, {n}, 'customer.created', 1, 'delivered', 5, {at})")
            }),
        );
        let left = |c: &mut DbConn, hook: i64| -> i64 {
            webhook_deliveries::table
                .filter(webhook_deliveries::webhook_id.eq(hook))
                .count()
                .get_result(c)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let batches: Vec<usize> = (0..4)
            .map(|_| delete_log_batch(c, 1, 3).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        assert_eq!(batches, [3, 3, 1, 0]);
        assert_eq!((left(c, 1), left(c, 2)), (0, 2));
    }
}
