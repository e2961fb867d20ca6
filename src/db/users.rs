//! Users: queries.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::page::Cursor;
use super::schema::users;
use super::DbConn;
use crate::error::{ApiError, FieldError};

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

/// The user a login (or `patron reset-admin-password`) typed as `typed`
/// names: the one whose stored email is `typed` as emails were stored
/// before `domain::email::normalize` (trimmed, lower-cased), else the one
/// holding its normal form. A start rewrites old spellings to the normal
/// form, except one whose form another user had already: typed as stored
/// it still reaches that user, and any other spelling reaches the holder.
/// An active user goes before a deactivated one: two rows for one mailbox
/// are mostly an old account switched off, and the address typed the
/// usual way must keep reaching the account in use.
pub fn find_for_login(conn: &mut DbConn, typed: &str) -> QueryResult<Option<UserRow>> {
    let (old, normal) = (
        crate::domain::email::old_form(typed),
        crate::domain::email::normalize(typed),
    );
    let found: Vec<UserRow> = users::table
        .filter(users::email.eq_any([&old, &normal]))
        .load(conn)?;
    Ok(found.into_iter().max_by_key(|u| (u.active, u.email == old)))
}

pub fn insert(conn: &mut DbConn, new: &NewUser) -> QueryResult<UserRow> {
    changed();
    diesel::insert_into(users::table)
        .values(new)
        .get_result(conn)
}

/// A user's email as stored, with what decides which of two spellings of
/// one email keeps it (`auth::stored_emails`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct StoredEmail {
    pub id: i64,
    pub email: String,
    pub role: String,
    pub active: bool,
}

/// Every user's email, in id order.
pub fn emails(conn: &mut DbConn) -> QueryResult<Vec<StoredEmail>> {
    users::table
        .select((users::id, users::email, users::role, users::active))
        .order(users::id.asc())
        .load(conn)
}

/// The emails of the active admins, in id order.
pub fn active_admin_emails(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    users::table
        .filter(users::role.eq("admin"))
        .filter(users::active.eq(true))
        .select(users::email)
        .order(users::id.asc())
        .load(conn)
}

/// Sets the email of the user `id`, as a change of the user (a new version).
pub fn set_email(
    conn: &mut DbConn,
    id: i64,
    email: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    changed();
    diesel::update(users::table.find(id))
        .set((
            users::email.eq(email),
            users::version.eq(users::version + 1),
            users::updated_at.eq(now),
        ))
        .execute(conn)
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

/// The number of active admins. Inside a write transaction the count holds
/// until commit: on PostgreSQL the admin rows are locked (in id order), so two
/// transactions demoting two different admins cannot both see "another admin
/// is left" (write skew); SQLite's `BEGIN IMMEDIATE` already serializes
/// writers. `FOR NO KEY UPDATE`, as `row_lock::lock`: it still excludes
/// itself, but not the `FOR KEY SHARE` that the foreign-key check of every
/// insert naming an admin takes (a card it owns, an interaction it logged).
/// With `FOR UPDATE` a role change waited for a bulk import creating cards
/// owned by an admin, and could deadlock with it (503).
pub fn count_active_admins(conn: &mut DbConn) -> QueryResult<i64> {
    let admins = users::table
        .filter(users::role.eq("admin"))
        .filter(users::active.eq(true));
    match conn {
        DbConn::Postgresql(pg) => {
            let ids: Vec<i64> = admins
                .select(users::id)
                .order(users::id.asc())
                .for_no_key_update()
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

/// The user list's filters; they combine with AND.
#[derive(Debug, Default)]
pub struct Filter {
    pub role: Option<&'static str>,
    pub active: Option<bool>,
    /// A substring of the email or the name, in any case.
    pub q: Option<String>,
    /// `q` in the name alone (the directory, which shows no email: a
    /// search of it would tell one letter by letter).
    pub q_name_only: bool,
    pub updated_since: Option<NaiveDateTime>,
}

/// The sortable fields of the user list.
pub const SORT_FIELDS: &[&str] = &["id", "email", "name", "created_at", "updated_at"];

/// The sortable fields of the directory (`GET /users/directory`).
pub const DIRECTORY_SORT_FIELDS: &[&str] = &["id", "name"];

pub use super::page::Sort;

/// `raw` as sent (default `id`), one of [`SORT_FIELDS`]; a 400 naming `sort`
/// otherwise.
pub fn sort(raw: Option<&str>) -> Result<Sort, ApiError> {
    Sort::parse_in(raw, SORT_FIELDS)
}

pub fn directory_sort(raw: Option<&str>) -> Result<Sort, ApiError> {
    Sort::parse_in(raw, DIRECTORY_SORT_FIELDS)
}

/// The cursor after `user` in `sort`'s order.
pub fn cursor_for(sort: &Sort, user: &UserRow) -> Cursor {
    use serde_json::Value;
    let stamp = |t: NaiveDateTime| Value::String(t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string());
    let k = match sort.field {
        "email" => Value::String(user.email.clone()),
        "name" => Value::String(user.name.clone()),
        "created_at" => stamp(user.created_at),
        "updated_at" => stamp(user.updated_at),
        _ => Value::Null,
    };
    Cursor {
        s: sort.as_string(),
        k,
        id: user.id,
    }
}

fn cursor_text(cursor: &Cursor) -> Result<String, ApiError> {
    cursor.k.as_str().map(str::to_string).ok_or_else(|| {
        ApiError::InvalidQuery(vec![FieldError::new(
            "cursor",
            "invalid_value",
            "corrupt cursor",
        )])
    })
}

/// One page of users in `sort` order (then by id), after the cursor's
/// user, `limit + 1` rows (so the caller knows if more exist).
pub fn page(
    conn: &mut DbConn,
    filter: &Filter,
    sort: Sort,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<UserRow>, ApiError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Text};
    use users::dsl as u;
    let postgres = matches!(conn, DbConn::Postgresql(_));
    let mut query = users::table.into_boxed();
    if let Some(role) = filter.role {
        query = query.filter(u::role.eq(role));
    }
    if let Some(active) = filter.active {
        query = query.filter(u::active.eq(active));
    }
    if let Some(since) = filter.updated_since {
        query = query.filter(u::updated_at.ge(since));
    }
    if let Some(term) = &filter.q {
        // Both sides lower-cased by Unicode's rules, as a segment rule's
        // `contains` is: SQLite's LOWER folds ASCII only (`patron_lower` is
        // Rust's, registered on each connection); the few users are read
        // whole, no index to keep.
        let lower = |col: &str| match postgres {
            true => format!("REPLACE(LOWER({col}), 'ς', 'σ')"),
            false => format!("patron_lower({col})"),
        };
        let pattern = super::segments::like_pattern(&super::segments::fold(term));
        query = if filter.q_name_only {
            query.filter(
                sql::<Bool>(&format!("{} LIKE ", lower("users.name")))
                    .bind::<Text, _>(pattern)
                    .sql(" ESCAPE '\\'"),
            )
        } else {
            query.filter(
                sql::<Bool>(&format!("({} LIKE ", lower("users.email")))
                    .bind::<Text, _>(pattern.clone())
                    .sql(&format!(" ESCAPE '\\' OR {} LIKE ", lower("users.name")))
                    .bind::<Text, _>(pattern)
                    .sql(" ESCAPE '\\')"),
            )
        };
    }
    // Keyset condition and order: (sort key, id) in the chosen direction.
    let after_id = after.map(|a| a.id).unwrap_or_default();
    macro_rules! keyset {
        ($col:expr, $key:expr) => {{
            if let Some(a) = after {
                let key = $key(a)?;
                query = if sort.descending {
                    query.filter($col.le(key.clone())).filter(
                        $col.lt(key.clone())
                            .or($col.eq(key).and(u::id.lt(after_id))),
                    )
                } else {
                    query.filter($col.ge(key.clone())).filter(
                        $col.gt(key.clone())
                            .or($col.eq(key).and(u::id.gt(after_id))),
                    )
                };
            }
            query = if sort.descending {
                query.order(($col.desc(), u::id.desc()))
            } else {
                query.order(($col.asc(), u::id.asc()))
            };
        }};
    }
    match sort.field {
        "email" => keyset!(u::email, cursor_text),
        "name" => keyset!(u::name, cursor_text),
        "created_at" => keyset!(u::created_at, Cursor::stamp_key),
        "updated_at" => keyset!(u::updated_at, Cursor::stamp_key),
        _ => super::page::keyset_by_id!(query, u::id, after.map(|a| a.id), sort.descending),
    }
    Ok(query.limit(limit + 1).load(conn)?)
}
