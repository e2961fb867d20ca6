//! Idempotency keys: the first response to a keyed POST, per user.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::idempotency_keys as keys;
use super::DbConn;

/// A response as stored for replay.
#[derive(Debug, Clone)]
pub struct Stored {
    pub status: u16,
    /// `[[name, value], ...]` as JSON.
    pub headers: String,
    pub body: String,
}

/// What a keyed request finds.
#[derive(Debug)]
pub enum Claim {
    /// The key is new (or its stale claim was taken over): run the request;
    /// its writes mark the claim applied with this token.
    Fresh(String),
    /// The same request already ran: replay this.
    Replay(Stored),
    /// The key was used with another request.
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
    /// The first request's write committed, but its response was never
    /// stored (the process stopped, or the store failed): it must not run
    /// again, and there is nothing to replay.
    Applied,
}

/// Claims `key` for `user_id` (in its own write transaction, by the caller).
/// An unfinished claim older than `stale_before` is taken over when its
/// request died without its write (none marked it applied); one applied is
/// `Applied`, never run again. So is at once the claim of `released`, a
/// token whose run ended without a response to keep but could not free its
/// claim (the database busy: `http::idempotency_settle`). A claim taken
/// over takes the request's hash: its retry may carry another body. Another
/// body meanwhile is `InFlight` until the claim is applied or answered.
pub fn claim(
    conn: &mut DbConn,
    user_id: i64,
    key: &str,
    hash: &str,
    now: NaiveDateTime,
    stale_before: NaiveDateTime,
    released: Option<&str>,
) -> QueryResult<Claim> {
    type Found = (
        String,
        Option<i32>,
        String,
        String,
        NaiveDateTime,
        bool,
        Option<String>,
    );
    let found: Option<Found> = keys::table
        .find((user_id, key))
        .select((
            keys::request_hash,
            keys::status,
            keys::headers,
            keys::body,
            keys::created_at,
            keys::applied,
            keys::claim_token,
        ))
        .first(conn)
        .optional()?;
    match found {
        None => {
            let token = crate::config::random_string(16);
            diesel::insert_into(keys::table)
                .values((
                    keys::user_id.eq(user_id),
                    keys::idem_key.eq(key),
                    keys::request_hash.eq(hash),
                    keys::created_at.eq(now),
                    keys::claim_token.eq(&token),
                ))
                .execute(conn)?;
            Ok(Claim::Fresh(token))
        }
        Some((stored_hash, Some(status), headers, body, ..)) if stored_hash == hash => {
            Ok(Claim::Replay(Stored {
                status: u16::try_from(status).unwrap_or(500),
                headers,
                body,
            }))
        }
        Some((stored_hash, None, _, _, created, applied, held))
            if created < stale_before || (released.is_some() && held.as_deref() == released) =>
        {
            if applied {
                return Ok(if stored_hash == hash {
                    Claim::Applied
                } else {
                    Claim::Mismatch
                });
            }
            // Never applied: nothing was written under the key, so it is as
            // free as a refused request's, and its retry (usually the request
            // corrected) runs whatever its body, which the claim now holds.
            // Checking the old body first answered a corrected retry 422
            // "already used with a different request" for the key's whole
            // retention when the failed run's release never landed.
            //
            // Conditional: of two retries taking it over at once (on
            // PostgreSQL both read the stale row), one runs the request. The
            // new token makes the run it replaces unable to mark it applied:
            // a run only slow (waiting on a lock) rolls back instead.
            let token = crate::config::random_string(16);
            let free = keys::created_at
                .lt(stale_before)
                .or(keys::claim_token.eq(released));
            let taken = diesel::update(
                keys::table
                    .find((user_id, key))
                    .filter(keys::status.is_null())
                    .filter(keys::applied.eq(false))
                    .filter(free),
            )
            .set((
                keys::created_at.eq(now),
                keys::claim_token.eq(&token),
                keys::request_hash.eq(hash),
            ))
            .execute(conn)?;
            Ok(if taken == 1 {
                Claim::Fresh(token)
            } else {
                Claim::InFlight
            })
        }
        // Another request under a key whose request wrote (applied) or was
        // answered is a misuse, for good. One still running and not applied
        // may yet fail and free the key for this very body: a 409 to retry,
        // as the process holding a released claim (and, past the lease,
        // any) runs it. A 422 here, final for clients, depended on which
        // process the retry reached.
        Some((stored_hash, status, _, _, _, applied, _))
            if stored_hash != hash && (status.is_some() || applied) =>
        {
            Ok(Claim::Mismatch)
        }
        Some(_) => Ok(Claim::InFlight),
    }
}

/// Stores the response of the run holding the claim `token` (one a retry
/// took over stores nothing), only for a claim made after `claimed_after`:
/// past its lease, another process may have answered the key as applied,
/// for good, and a response stored then turned that into a replay. So even
/// right after its run: a run slow past the lease stores nothing.
pub fn complete(
    conn: &mut DbConn,
    user_id: i64,
    key: &str,
    token: &str,
    stored: &Stored,
    claimed_after: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        keys::table
            .find((user_id, key))
            .filter(keys::status.is_null())
            .filter(keys::claim_token.eq(token))
            .filter(keys::created_at.gt(claimed_after)),
    )
    .set((
        keys::status.eq(i32::from(stored.status)),
        keys::headers.eq(&stored.headers),
        keys::body.eq(&stored.body),
    ))
    .execute(conn)?;
    Ok(())
}

/// Records, in the transaction of a keyed request's write, that the request
/// was applied (`db::request_key`). Fails with [`Overtaken`] when a retry
/// took the claim over meanwhile (this run was slow, not dead): the write
/// must roll back, or the key's request would be applied twice.
pub fn mark_applied(conn: &mut DbConn, user_id: i64, key: &str, token: &str) -> QueryResult<()> {
    let marked = diesel::update(
        keys::table
            .find((user_id, key))
            .filter(keys::status.is_null())
            .filter(keys::claim_token.eq(token)),
    )
    .set(keys::applied.eq(true))
    .execute(conn)?;
    if marked == 0 {
        return Err(diesel::result::Error::QueryBuilderError(Box::new(
            Overtaken,
        )));
    }
    Ok(())
}

/// A keyed request whose claim a retry took over (see `mark_applied`).
#[derive(Debug)]
pub struct Overtaken;

impl std::fmt::Display for Overtaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "a retry with the same Idempotency-Key took this request over while it waited; \
             nothing of it was written: the retry's answer is the outcome (send this key again: a \
             retry that succeeded answers with its stored response if it was the same request, \
             otherwise a 422, the key being the retry's; one still running, a 409 to retry \
             later; one that failed lets the request run anew)",
        )
    }
}

impl std::error::Error for Overtaken {}

/// Frees the unfinished claim `token` holds, so a retry runs the request
/// (after a response that must not be replayed: 5xx, 401, 429). Only this
/// run's claim: a run a retry took over must not free the retry's. A claim
/// marked applied stays (its write committed, and running it again could
/// repeat it), its age set to `stale_at`: a retry learns it was applied now,
/// not after a minute of "still being processed", and the purge keeps it
/// for the whole retention (an age in 1970 had it purged within minutes,
/// and a retry after that ran the request again).
pub fn release(
    conn: &mut DbConn,
    user_id: i64,
    key: &str,
    token: &str,
    stale_at: NaiveDateTime,
) -> QueryResult<()> {
    let unfinished = keys::table
        .find((user_id, key))
        .filter(keys::status.is_null())
        .filter(keys::claim_token.eq(token));
    diesel::delete(unfinished.filter(keys::applied.eq(false))).execute(conn)?;
    diesel::update(unfinished.filter(keys::applied.eq(true)))
        .set(keys::created_at.eq(stale_at))
        .execute(conn)?;
    Ok(())
}

/// Forgets keys created before `before`; returns how many. Each write
/// transaction deletes one batch (`PURGE_BATCH`), as the change and delivery
/// purges do: a key keeps its whole stored answer, and a shortened TTL (or
/// the day after a burst of keyed bulk batches) ages out a month of them at
/// once, which in one transaction held SQLite's writer turn until every
/// other write gave up with a 503.
pub fn purge(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    purge_in_batches(conn, before, PURGE_BATCH)
}

/// Keys per purge transaction: fewer than the feed's 10,000 changes, as a
/// key can hold a bulk batch's whole answer (up to 1,000 item results,
/// ~80 KB): 10,000 such keys were most of a gigabyte in one transaction.
const PURGE_BATCH: i64 = 500;

/// `purge`, at most about `batch` keys per write transaction, oldest first
/// (keys created in the same microsecond as a batch's last go with it).
pub fn purge_in_batches(
    conn: &mut DbConn,
    before: NaiveDateTime,
    batch: i64,
) -> QueryResult<usize> {
    let mut purged = 0;
    loop {
        let (n, more) = super::write_tx(conn, |conn| {
            let old = keys::table.filter(keys::created_at.lt(before));
            let last: Option<NaiveDateTime> = old
                .select(keys::created_at)
                .order(keys::created_at)
                .offset(batch.max(1) - 1)
                .first(conn)
                .optional()?;
            let n = match last {
                Some(last) => {
                    diesel::delete(old.filter(keys::created_at.le(last))).execute(conn)?
                }
                None => diesel::delete(old).execute(conn)?,
            };
            Ok::<_, diesel::result::Error>((n, last.is_some()))
        })?;
        purged += n;
        if !more {
            return Ok(purged);
        }
    }
}

/// Makes a bulk batch with `key` wait, on PostgreSQL, for another batch of
/// the same user and key until that one's transaction ends (an advisory
/// lock on a hash of both, for the rest of the transaction). Without it a
/// retry sent while the first ran found no key yet, ran against the first's
/// result, and an `all_or_none` batch whose items carry `version` answered
/// 422 "nothing was applied" for a key whose batch had applied (a review).
/// With it, the retry finds the first's stored answer and replays it, as
/// SQLite's single writer always did. Two keys sharing a hash only wait for
/// each other.
pub fn wait_for_same_key(conn: &mut DbConn, user_id: i64, key: &str) -> QueryResult<()> {
    if let DbConn::Postgresql(c) = conn {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"patron idempotency key\0")
            .chain_update(user_id.to_be_bytes())
            .chain_update(key.as_bytes())
            .finalize();
        let mut first = [0_u8; 8];
        first.copy_from_slice(&digest[..8]);
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(i64::from_be_bytes(first))
            .execute(c)?;
    }
    Ok(())
}

/// The stored hash and, once complete, the response of a key.
pub fn find(
    conn: &mut DbConn,
    user_id: i64,
    key: &str,
) -> QueryResult<Option<(String, Option<Stored>)>> {
    let found: Option<(String, Option<i32>, String, String)> = keys::table
        .find((user_id, key))
        .select((keys::request_hash, keys::status, keys::headers, keys::body))
        .first(conn)
        .optional()?;
    Ok(found.map(|(hash, status, headers, body)| {
        let stored = status.map(|s| Stored {
            status: u16::try_from(s).unwrap_or(500),
            headers,
            body,
        });
        (hash, stored)
    }))
}

/// Inserts a key with its response at once (in the transaction of the write).
pub fn insert_complete(
    conn: &mut DbConn,
    user_id: i64,
    key: &str,
    hash: &str,
    stored: &Stored,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(keys::table)
        .values((
            keys::user_id.eq(user_id),
            keys::idem_key.eq(key),
            keys::request_hash.eq(hash),
            keys::status.eq(i32::from(stored.status)),
            keys::headers.eq(&stored.headers),
            keys::body.eq(&stored.body),
            keys::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
