//! Interactions (contact history): queries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::page::{Before, Cursor};
use super::schema::{customers, interactions};
use super::DbConn;
use crate::domain::codes::ComplaintStatus;
use crate::error::{ApiError, FieldError};

#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, AsChangeset)]
#[diesel(table_name = interactions, treat_none_as_null = true)]
pub struct InteractionRow {
    pub id: i64,
    pub customer_id: i64,
    pub kind: String,
    pub occurred_at: NaiveDateTime,
    pub user_id: i64,
    pub channel: Option<String>,
    pub summary: String,
    pub outcome: Option<String>,
    pub follow_up_at: Option<NaiveDateTime>,
    pub follow_up_done_at: Option<NaiveDateTime>,
    pub complaint_status: Option<String>,
    pub resolved_at: Option<NaiveDateTime>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, r: &InteractionRow) -> QueryResult<InteractionRow> {
    let id: i64 = diesel::insert_into(interactions::table)
        .values((
            interactions::customer_id.eq(r.customer_id),
            interactions::kind.eq(&r.kind),
            interactions::occurred_at.eq(r.occurred_at),
            interactions::user_id.eq(r.user_id),
            interactions::channel.eq(&r.channel),
            interactions::summary.eq(&r.summary),
            interactions::outcome.eq(&r.outcome),
            interactions::follow_up_at.eq(r.follow_up_at),
            interactions::follow_up_done_at.eq(r.follow_up_done_at),
            interactions::complaint_status.eq(&r.complaint_status),
            interactions::resolved_at.eq(r.resolved_at),
            interactions::version.eq(r.version),
            interactions::created_at.eq(r.created_at),
            interactions::updated_at.eq(r.updated_at),
        ))
        .returning(interactions::id)
        .get_result(conn)?;
    super::changes::record(
        conn,
        super::changes::INTERACTION,
        id,
        super::changes::CREATED,
        r.version,
    )?;
    interactions::table.find(id).first(conn)
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<InteractionRow>> {
    interactions::table.find(id).first(conn).optional()
}

pub fn save(conn: &mut DbConn, row: &InteractionRow, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::update(
        interactions::table
            .filter(interactions::id.eq(row.id))
            .filter(interactions::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    if n == 1 {
        super::changes::record(
            conn,
            super::changes::INTERACTION,
            row.id,
            super::changes::UPDATED,
            row.version,
        )?;
    }
    Ok(n == 1)
}

pub fn delete(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    let Some((customer_id, version)) = interactions::table
        .find(id)
        .select((interactions::customer_id, interactions::version))
        .first::<(i64, i64)>(conn)
        .optional()?
    else {
        return Ok(0);
    };
    let n = diesel::delete(interactions::table.find(id)).execute(conn)?;
    super::changes::record_deleted(
        conn,
        super::changes::INTERACTION,
        id,
        version + 1,
        Some(customer_id),
    )?;
    Ok(n)
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub customer_id: Option<i64>,
    pub kind: Option<String>,
    pub user_id: Option<i64>,
    /// Interactions on the cards this user owns now.
    pub owner_id: Option<i64>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    /// Pending follow-ups due before this instant.
    pub follow_up_before: Option<NaiveDateTime>,
    pub complaint_status: Option<String>,
    pub updated_since: Option<NaiveDateTime>,
}

/// `occurred_at` (default newest first), `follow_up_at`, `updated_at` (a
/// sync's poll, on `interactions_updated`) or `id`.
pub const SORTS: &[&str] = &[
    "-occurred_at",
    "occurred_at",
    "follow_up_at",
    "-follow_up_at",
    "updated_at",
    "-updated_at",
    "id",
    "-id",
];

pub fn parse_sort(raw: Option<&str>, default: &'static str) -> Result<&'static str, ApiError> {
    let raw = raw.unwrap_or(default);
    SORTS.iter().find(|s| **s == raw).copied().ok_or_else(|| {
        ApiError::InvalidQuery(vec![FieldError::new(
            "sort",
            "invalid_value",
            format!("one of {}", SORTS.join(", ")),
        )])
    })
}

pub fn cursor_for(sort: &str, row: &InteractionRow) -> Cursor {
    let key = match sort.trim_start_matches('-') {
        "occurred_at" => Some(row.occurred_at),
        "follow_up_at" => row.follow_up_at,
        "updated_at" => Some(row.updated_at),
        _ => None,
    };
    Cursor {
        s: sort.to_string(),
        k: key
            .map(|t| serde_json::Value::String(t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()))
            .unwrap_or_default(),
        id: row.id,
    }
}

fn key_of(cursor: &Cursor) -> Result<NaiveDateTime, ApiError> {
    cursor.stamp_key()
}

pub fn page(
    conn: &mut DbConn,
    filter: &Filter,
    sort: &str,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<InteractionRow>, ApiError> {
    use interactions::dsl as i;
    let mut query = interactions::table.into_boxed();
    if let Some(v) = filter.customer_id {
        query = query.filter(i::customer_id.eq(v));
    }
    if let Some(v) = &filter.kind {
        query = query.filter(i::kind.eq(v.clone()));
    }
    if let Some(v) = filter.user_id {
        query = query.filter(i::user_id.eq(v));
    }
    if let Some(v) = filter.owner_id {
        // The card's current owner, as the transactions list reads it: a
        // card handed over brings its owed follow-ups and open complaints.
        let owned = customers::table
            .filter(customers::owner_id.eq(v))
            .select(customers::id);
        query = query.filter(i::customer_id.eq_any(owned));
    }
    if let Some(v) = filter.from {
        query = query.filter(i::occurred_at.ge(v));
    }
    if let Some(v) = filter.to {
        query = query.filter(i::occurred_at.lt(v));
    }
    // The lists of work to do, the due follow-ups and the open complaints,
    // leave archived cards out: their records take no change until the card
    // is restored (a review: a rep's open complaints listed ones whose
    // resolution was a 409), and they come back with it.
    let archived = || {
        customers::table
            .filter(customers::id.eq(i::customer_id))
            .filter(customers::archived_at.is_not_null())
    };
    if let Some(v) = filter.follow_up_before {
        query = query
            .filter(i::follow_up_at.lt(v))
            .filter(i::follow_up_done_at.is_null())
            .filter(diesel::dsl::not(diesel::dsl::exists(archived())));
    }
    if let Some(v) = &filter.complaint_status {
        query = query.filter(i::complaint_status.eq(v.clone()));
        if v == ComplaintStatus::Open.as_str() {
            query = query.filter(diesel::dsl::not(diesel::dsl::exists(archived())));
        }
    }
    if let Some(v) = filter.updated_since {
        query = query.filter(i::updated_at.ge(v));
    }
    let descending = sort.starts_with('-');
    let after_id = after.map(|a| a.id).unwrap_or_default();
    // The cursor's instant, read only for the orders by an instant (an
    // order by id has none).
    macro_rules! keyset {
        ($col:expr) => {{
            let key = after.map(key_of).transpose()?;
            super::page::keyset_by!(query, $col, i::id, key, after_id, descending)
        }};
    }
    match sort.trim_start_matches('-') {
        "occurred_at" => keyset!(i::occurred_at),
        "updated_at" => keyset!(i::updated_at),
        "follow_up_at" => {
            // Sorting by follow-up lists only interactions that have one.
            query = query.filter(i::follow_up_at.is_not_null());
            keyset!(i::follow_up_at)
        }
        _ => super::page::keyset_by_id!(query, i::id, after.map(|a| a.id), descending),
    }
    Ok(query.limit(limit + 1).load(conn)?)
}

/// A customer's interactions, newest first, resuming at `before`.
pub fn timeline(
    conn: &mut DbConn,
    customer_id: i64,
    before: Option<Before>,
    limit: i64,
) -> QueryResult<Vec<InteractionRow>> {
    use interactions::dsl as i;
    let mut query = interactions::table
        .filter(i::customer_id.eq(customer_id))
        .into_boxed();
    query = match before {
        None => query,
        Some(Before::Lt(at)) => query.filter(i::occurred_at.lt(at)),
        Some(Before::Le(at)) => query.filter(i::occurred_at.le(at)),
        Some(Before::LtId(at, id)) => query.filter(i::occurred_at.le(at)).filter(
            i::occurred_at
                .lt(at)
                .or(i::occurred_at.eq(at).and(i::id.lt(id))),
        ),
    };
    query
        .order((i::occurred_at.desc(), i::id.desc()))
        .limit(limit)
        .load(conn)
}
