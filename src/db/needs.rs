//! Needs (actual and latent) of a customer: queries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::needs;
use super::DbConn;

#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, AsChangeset)]
#[diesel(table_name = needs, treat_none_as_null = true)]
pub struct NeedRow {
    pub id: i64,
    pub customer_id: i64,
    pub kind: String,
    pub latent_type: Option<String>,
    pub description: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, r: &NeedRow) -> QueryResult<NeedRow> {
    let id: i64 = diesel::insert_into(needs::table)
        .values((
            needs::customer_id.eq(r.customer_id),
            needs::kind.eq(&r.kind),
            needs::latent_type.eq(&r.latent_type),
            needs::description.eq(&r.description),
            needs::version.eq(r.version),
            needs::created_at.eq(r.created_at),
            needs::updated_at.eq(r.updated_at),
        ))
        .returning(needs::id)
        .get_result(conn)?;
    super::changes::record(
        conn,
        super::changes::NEED,
        id,
        super::changes::CREATED,
        r.version,
    )?;
    needs::table.find(id).first(conn)
}

pub fn find(conn: &mut DbConn, customer_id: i64, id: i64) -> QueryResult<Option<NeedRow>> {
    needs::table
        .filter(needs::customer_id.eq(customer_id))
        .filter(needs::id.eq(id))
        .first(conn)
        .optional()
}

pub fn save(conn: &mut DbConn, row: &NeedRow, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::update(
        needs::table
            .filter(needs::id.eq(row.id))
            .filter(needs::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    if n == 1 {
        super::changes::record(
            conn,
            super::changes::NEED,
            row.id,
            super::changes::UPDATED,
            row.version,
        )?;
    }
    Ok(n == 1)
}

pub fn delete(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    let Some((customer_id, version)) = needs::table
        .find(id)
        .select((needs::customer_id, needs::version))
        .first::<(i64, i64)>(conn)
        .optional()?
    else {
        return Ok(0);
    };
    let n = diesel::delete(needs::table.find(id)).execute(conn)?;
    super::changes::record_deleted(
        conn,
        super::changes::NEED,
        id,
        version + 1,
        Some(customer_id),
    )?;
    Ok(n)
}

/// A customer's needs by id, after `after_id`, `limit + 1` rows.
pub fn page(
    conn: &mut DbConn,
    customer_id: i64,
    kind: Option<&str>,
    since: Option<NaiveDateTime>,
    after_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<NeedRow>> {
    let mut query = needs::table
        .filter(needs::customer_id.eq(customer_id))
        .order(needs::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(kind) = kind {
        query = query.filter(needs::kind.eq(kind.to_string()));
    }
    if let Some(since) = since {
        query = query.filter(needs::updated_at.ge(since));
    }
    if let Some(after) = after_id {
        query = query.filter(needs::id.gt(after));
    }
    query.load(conn)
}
