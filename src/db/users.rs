//! Users: queries.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::users;
use super::DbConn;

#[derive(Debug, Clone, Queryable, Identifiable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub active: bool,
    pub token_generation: i64,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub active: bool,
    pub token_generation: i64,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub email: String,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub active: bool,
    pub token_generation: i64,
    pub version: i64,
    pub updated_at: NaiveDateTime,
}

/// Moves on every write to `users` in this process: the auth cache
/// (`auth::user_cache`) drops what it read before.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// The current users epoch (read it before reading a user to cache).
pub fn epoch() -> u64 {
    EPOCH.load(Ordering::SeqCst)
}

/// Marks the users as changed. The writes below call it; a handler calls it
/// again once its transaction committed (a row read between the write and
/// the commit is then dropped too).
pub fn changed() {
    EPOCH.fetch_add(1, Ordering::SeqCst);
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<UserRow>> {
    users::table.find(id).first(conn).optional()
}

pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::email.eq(email))
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConn, new: &NewUser) -> QueryResult<UserRow> {
    changed();
    diesel::insert_into(users::table)
        .values(new)
        .get_result(conn)
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

/// The number of active admins. Inside a write transaction the count holds
/// until commit: on PostgreSQL the admin rows are locked (`FOR UPDATE`, in id
/// order), so two transactions demoting two different admins cannot both see
/// "another admin is left" (write skew); SQLite's `BEGIN IMMEDIATE` already
/// serializes writers.
pub fn count_active_admins(conn: &mut DbConn) -> QueryResult<i64> {
    let admins = users::table
        .filter(users::role.eq("admin"))
        .filter(users::active.eq(true));
    match conn {
        DbConn::Postgresql(pg) => {
            let ids: Vec<i64> = admins
                .select(users::id)
                .order(users::id.asc())
                .for_update()
                .load(pg)?;
            Ok(ids.len() as i64)
        }
        DbConn::Sqlite(_) => admins.count().get_result(conn),
    }
}

/// Writes `changes` only if the row still has `expected_version`; returns
/// the number of rows written (0 means someone else changed it first).
pub fn update(
    conn: &mut DbConn,
    id: i64,
    expected_version: i64,
    changes: &UserChanges,
) -> QueryResult<usize> {
    changed();
    let written = diesel::update(
        users::table
            .filter(users::id.eq(id))
            .filter(users::version.eq(expected_version)),
    )
    .set(changes)
    .execute(conn);
    changed();
    written
}

/// Users ordered by id, after `after_id`, `limit + 1` rows.
pub fn page(
    conn: &mut DbConn,
    since: Option<NaiveDateTime>,
    after_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<UserRow>> {
    let mut query = users::table
        .order(users::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(since) = since {
        query = query.filter(users::updated_at.ge(since));
    }
    if let Some(after) = after_id {
        query = query.filter(users::id.gt(after));
    }
    query.load(conn)
}
