//! Named settings, stored as JSON documents with a version.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::schema::settings;
use super::DbConn;
use crate::error::ApiError;

pub const CPR: &str = "cpr";
pub const TIERS: &str = "tiers";
pub const CHURN: &str = "churn";
pub const LOYALTY: &str = "loyalty";
/// What the last tier recompute ranked by (`tiers::Ranked`): written by the
/// recompute, not by users.
pub const TIERS_RANKED: &str = "tiers_ranked";

/// This database's installation id (a JSON string), made by its first
/// start: tokens carry it as `aud` (`auth::jwt`). Not a user's setting.
pub const INSTALLATION: &str = "installation";

/// The installation id, stored as `fresh` when the database has none yet
/// (replicas starting together on a new database agree: the first insert
/// wins, the others read it).
pub fn installation_id(
    conn: &mut DbConn,
    fresh: &str,
    now: NaiveDateTime,
) -> Result<String, ApiError> {
    let read = |conn: &mut DbConn| {
        settings::table
            .find(INSTALLATION)
            .select(settings::value)
            .first::<String>(conn)
            .optional()
    };
    let stored = match read(conn)? {
        Some(stored) => stored,
        None => {
            let json = serde_json::Value::from(fresh).to_string();
            super::native!(conn, |c| diesel::insert_into(settings::table)
                .values((
                    settings::name.eq(INSTALLATION),
                    settings::value.eq(&json),
                    settings::version.eq(1),
                    settings::updated_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(c))?;
            read(conn)?.unwrap_or_default()
        }
    };
    match serde_json::from_str::<String>(&stored) {
        Ok(id) if !id.is_empty() => Ok(id),
        _ => Err(ApiError::Internal(format!(
            "the settings row {INSTALLATION:?} holds {stored:?}, not an installation id"
        ))),
    }
}

/// The stored value (or the default when never set) and its version (0 when never set).
pub fn get<T: DeserializeOwned + Default>(
    conn: &mut DbConn,
    name: &str,
) -> Result<(T, i64), ApiError> {
    let row: Option<(String, i64)> = settings::table
        .find(name)
        .select((settings::value, settings::version))
        .first(conn)
        .optional()?;
    match row {
        None => Ok((T::default(), 0)),
        Some((json, version)) => {
            let value = serde_json::from_str(&json).map_err(|e| {
                ApiError::Internal(format!("stored setting {name} is unreadable: {e}"))
            })?;
            Ok((value, version))
        }
    }
}

/// PostgreSQL advisory lock keys, one per settings document: its writers
/// (`lock`) and the card writes and recompute ranges that read it
/// (`version_kept`) meet there. An advisory lock exists before the document
/// was ever saved (a row lock had no row to take on a new database, and the
/// race it closed stayed open until the first save), writes no tuple (`FOR
/// SHARE` on one hot row wrote a tuple lock, and MultiXacts under
/// concurrent card writes), and a queued exclusive request blocks later
/// shared ones, so a save is not starved by a stream of card writes.
/// The high half spells "stng" so that `pg_locks` shows whose they are.
pub const CPR_LOCK: i64 = 0x7374_6e67_0000_0001;
pub const TIERS_LOCK: i64 = 0x7374_6e67_0000_0002;
pub const CHURN_LOCK: i64 = 0x7374_6e67_0000_0003;
pub const LOYALTY_LOCK: i64 = 0x7374_6e67_0000_0004;
pub const TIERS_RANKED_LOCK: i64 = 0x7374_6e67_0000_0005;
/// Any other name: one key for all, coarser but still correct.
pub const OTHER_LOCK: i64 = 0x7374_6e67_0000_0000;

fn lock_key(name: &str) -> i64 {
    match name {
        CPR => CPR_LOCK,
        TIERS => TIERS_LOCK,
        CHURN => CHURN_LOCK,
        LOYALTY => LOYALTY_LOCK,
        TIERS_RANKED => TIERS_RANKED_LOCK,
        _ => OTHER_LOCK,
    }
}

/// Locks the document `name` against its other writers and its readers
/// that keep it (`version_kept`) until the transaction ends (PostgreSQL;
/// SQLite writes one at a time), so that a read of its version and the save
/// that follows are not overtaken by another writer: two PUTs without
/// `If-Match` at once were a 412 for one of them. Reads after it see every
/// save committed before it was granted (READ COMMITTED: each statement
/// takes a new snapshot).
pub fn lock(conn: &mut DbConn, name: &str) -> QueryResult<()> {
    if let DbConn::Postgresql(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(lock_key(name))
            .execute(c)?;
    }
    Ok(())
}

/// Keeps the document `name` from changing until the transaction ends
/// (PostgreSQL: a shared advisory lock, `lock` waits for it and it for
/// `lock`'s holder; SQLite writes one at a time). Its own statement, taken
/// before the document is read: a read in the same statement would use the
/// snapshot taken before the wait, and so miss a save committed during it.
pub fn keep(conn: &mut DbConn, name: &str) -> QueryResult<()> {
    if let DbConn::Postgresql(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock_shared($1)")
            .bind::<diesel::sql_types::BigInt, _>(lock_key(name))
            .execute(c)?;
    }
    Ok(())
}

/// The stored version of `name` (0 when never set), kept from changing
/// until the transaction ends (`keep`). A recompute's range reads it first,
/// so that no range under older settings commits after a newer version was
/// stored (see `chunks::walk`).
pub fn version_kept(conn: &mut DbConn, name: &str) -> QueryResult<i64> {
    keep(conn, name)?;
    let version = settings::table
        .find(name)
        .select(settings::version)
        .first(conn)
        .optional()?;
    Ok(version.unwrap_or(0))
}

/// The stored value of `name` (or the default) and its version, kept from
/// changing until the transaction ends (`keep`): for a card write that
/// refreshes by them, so that a settings change's recompute, which starts
/// after its save, sees the card write, or the card write reads the saved
/// settings.
pub fn get_kept<T: DeserializeOwned + Default>(
    conn: &mut DbConn,
    name: &str,
) -> Result<(T, i64), ApiError> {
    keep(conn, name)?;
    get(conn, name)
}

/// The turn of settings changes and recomputes in this process (`change_turn`).
static TURN: std::sync::LazyLock<std::sync::Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(Default::default);

/// Held while a settings change and the recompute it starts, or a recompute,
/// runs: one at a time in this process, as a recompute that finished after a
/// later change's would leave every customer under the older thresholds
/// until the hourly job. (Across processes each chunk checks the settings'
/// version, `chunks::walk`.)
pub type Turn = tokio::sync::OwnedMutexGuard<()>;

/// Waits for the turn, holding nothing else: awaited before any blocking
/// thread, pooled connection or write permit is taken, and moved into the
/// database closure, which it outlives the request for. Waited for on a
/// blocking thread (a request's closure, the hourly job), the waiters held
/// those while the holder's closure queued for a blocking thread they
/// filled: every database call of that worker hung for good (an outside
/// review); inside a `Db::write` closure, two PUTs behind a recompute held
/// both write permits and every other write got a 503 after 5 s.
pub async fn change_turn() -> Turn {
    TURN.clone().lock_owned().await
}

/// Stores `value` if the stored version is still `expected` (0: never set);
/// returns the new version, or None when someone else changed it first (a
/// first version another writer inserted meanwhile included).
pub fn put<T: Serialize>(
    conn: &mut DbConn,
    name: &str,
    value: &T,
    expected: i64,
    user_id: i64,
    now: NaiveDateTime,
) -> Result<Option<i64>, ApiError> {
    let json = serde_json::to_string(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    let written = if expected == 0 {
        match super::savepoint(conn, |conn| insert(conn, name, &json, Some(user_id), now)) {
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => 0,
            other => other?,
        }
    } else {
        diesel::update(
            settings::table
                .find(name)
                .filter(settings::version.eq(expected)),
        )
        .set((
            settings::value.eq(&json),
            settings::version.eq(expected + 1),
            settings::updated_at.eq(now),
            settings::updated_by.eq(Some(user_id)),
        ))
        .execute(conn)?
    };
    // The settings the recompute round applies: the next round, of any
    // process or at the next start, is due. A change whose own recompute
    // was cut off (a crash, a kill) is then finished by the next start, as
    // before rounds were claimed, not up to two periods later.
    if written == 1 && (name == CPR || name == LOYALTY) {
        super::job_rounds::make_due(conn, super::job_rounds::RECOMPUTE)?;
    }
    Ok((written == 1).then_some(expected + 1))
}

/// Stores `value` whatever the stored version (a document the service itself
/// keeps, not a user's settings).
pub fn set<T: Serialize>(
    conn: &mut DbConn,
    name: &str,
    value: &T,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let json = serde_json::to_string(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(set_json(conn, name, &json, now)?)
}

/// `set` of a document already in JSON.
pub fn set_json(conn: &mut DbConn, name: &str, json: &str, now: NaiveDateTime) -> QueryResult<()> {
    let update = |conn: &mut DbConn| {
        diesel::update(settings::table.find(name))
            .set((
                settings::value.eq(json),
                settings::version.eq(settings::version + 1),
                settings::updated_at.eq(now),
                settings::updated_by.eq(None::<i64>),
            ))
            .execute(conn)
    };
    if update(conn)? == 0 {
        // Two first writers (concurrent recomputes): the loser's insert hits
        // the key in its own savepoint and it updates the winner's row.
        match super::savepoint(conn, |conn| insert(conn, name, json, None, now)) {
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {
                update(conn)?;
            }
            other => {
                other?;
            }
        }
    }
    Ok(())
}

/// A document's first version.
fn insert(
    conn: &mut DbConn,
    name: &str,
    json: &str,
    user_id: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::insert_into(settings::table)
        .values((
            settings::name.eq(name),
            settings::value.eq(json),
            settings::version.eq(1),
            settings::updated_at.eq(now),
            settings::updated_by.eq(user_id),
        ))
        .execute(conn)
}
