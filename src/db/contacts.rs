//! Contacts of a customer: queries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::contacts;
use super::DbConn;

#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, AsChangeset)]
#[diesel(table_name = contacts, treat_none_as_null = true)]
pub struct ContactRow {
    pub id: i64,
    pub customer_id: i64,
    pub name: String,
    pub role: String,
    pub title: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub notes: Option<String>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, row: &ContactRow) -> QueryResult<ContactRow> {
    diesel::insert_into(contacts::table)
        .values((
            contacts::customer_id.eq(row.customer_id),
            contacts::name.eq(&row.name),
            contacts::role.eq(&row.role),
            contacts::title.eq(&row.title),
            contacts::email.eq(&row.email),
            contacts::phone.eq(&row.phone),
            contacts::notes.eq(&row.notes),
            contacts::version.eq(row.version),
            contacts::created_at.eq(row.created_at),
            contacts::updated_at.eq(row.updated_at),
        ))
        .get_result::<ContactRow>(conn)
        .and_then(|saved| {
            super::changes::record(
                conn,
                super::changes::CONTACT,
                saved.id,
                super::changes::CREATED,
                saved.version,
            )?;
            Ok(saved)
        })
}

pub fn find(conn: &mut DbConn, customer_id: i64, id: i64) -> QueryResult<Option<ContactRow>> {
    contacts::table
        .filter(contacts::customer_id.eq(customer_id))
        .filter(contacts::id.eq(id))
        .first(conn)
        .optional()
}

pub fn save(conn: &mut DbConn, row: &ContactRow, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::update(
        contacts::table
            .filter(contacts::id.eq(row.id))
            .filter(contacts::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    if n == 1 {
        super::changes::record(
            conn,
            super::changes::CONTACT,
            row.id,
            super::changes::UPDATED,
            row.version,
        )?;
    }
    Ok(n == 1)
}

pub fn delete(conn: &mut DbConn, customer_id: i64, id: i64) -> QueryResult<usize> {
    let Some(version) = find(conn, customer_id, id)?.map(|c| c.version) else {
        return Ok(0);
    };
    super::changes::erase(conn, super::changes::CONTACT, id, customer_id)?;
    super::changes::record_deleted(
        conn,
        super::changes::CONTACT,
        id,
        version + 1,
        Some(customer_id),
    )?;
    diesel::delete(
        contacts::table
            .filter(contacts::customer_id.eq(customer_id))
            .filter(contacts::id.eq(id)),
    )
    .execute(conn)
}

/// A customer's contacts by id, after `after_id`, `limit + 1` rows.
pub fn page(
    conn: &mut DbConn,
    customer_id: i64,
    since: Option<NaiveDateTime>,
    after_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<ContactRow>> {
    let mut query = contacts::table
        .filter(contacts::customer_id.eq(customer_id))
        .order(contacts::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(since) = since {
        query = query.filter(contacts::updated_at.ge(since));
    }
    if let Some(after) = after_id {
        query = query.filter(contacts::id.gt(after));
    }
    query.load(conn)
}
