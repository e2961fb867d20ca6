//! Transactions (orders and services delivered): queries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::page::{Before, Cursor};
use super::schema::{customers, transactions};
use super::DbConn;
use crate::error::{ApiError, FieldError};

#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, AsChangeset)]
#[diesel(table_name = transactions, treat_none_as_null = true)]
pub struct TransactionRow {
    pub id: i64,
    pub customer_id: i64,
    pub occurred_at: NaiveDateTime,
    pub amount_cents: i64,
    pub cost_cents: i64,
    pub currency: String,
    pub product: String,
    pub external_id: Option<String>,
    pub notes: Option<String>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, r: &TransactionRow) -> QueryResult<TransactionRow> {
    let id: i64 = diesel::insert_into(transactions::table)
        .values((
            transactions::customer_id.eq(r.customer_id),
            transactions::occurred_at.eq(r.occurred_at),
            transactions::amount_cents.eq(r.amount_cents),
            transactions::cost_cents.eq(r.cost_cents),
            transactions::currency.eq(&r.currency),
            transactions::product.eq(&r.product),
            transactions::external_id.eq(&r.external_id),
            transactions::notes.eq(&r.notes),
            transactions::version.eq(r.version),
            transactions::created_at.eq(r.created_at),
            transactions::updated_at.eq(r.updated_at),
        ))
        .returning(transactions::id)
        .get_result(conn)?;
    super::changes::record(
        conn,
        super::changes::TRANSACTION,
        id,
        super::changes::CREATED,
        r.version,
    )?;
    transactions::table.find(id).first(conn)
}

/// Inserts new transactions, each with an `external_id` (the bulk
/// upsert's creates), in one statement per engine chunk, and records their
/// creates in the change feed in this order. Returns each row's id, in the
/// order of `rows`.
pub fn insert_many(conn: &mut DbConn, rows: &[TransactionRow]) -> QueryResult<Vec<i64>> {
    use super::batch::{self, Bind};
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<Vec<Bind>> = rows
        .iter()
        .map(|r| {
            vec![
                r.customer_id.into(),
                r.occurred_at.into(),
                r.amount_cents.into(),
                r.cost_cents.into(),
                (&r.currency).into(),
                (&r.product).into(),
                (&r.external_id).into(),
                (&r.notes).into(),
                r.version.into(),
                r.created_at.into(),
                r.updated_at.into(),
            ]
        })
        .collect();
    let keys: Vec<(Option<&String>, i64)> = rows
        .iter()
        .map(|r| (r.external_id.as_ref(), r.version))
        .collect();
    batch::insert_recorded(
        conn,
        super::changes::TRANSACTION,
        "transactions",
        &[
            "customer_id",
            "occurred_at",
            "amount_cents",
            "cost_cents",
            "currency",
            "product",
            "external_id",
            "notes",
            "version",
            "created_at",
            "updated_at",
        ],
        &values,
        &keys,
    )
}

/// Saves changed transactions (the bulk upsert's corrections), each
/// `version` one above the stored one, in one statement per engine chunk,
/// and records the updates in the change feed in this order. Returns how
/// many rows were saved: fewer than `rows` means one changed meanwhile
/// (its stored version was not `version - 1`).
pub fn update_many(conn: &mut DbConn, rows: &[TransactionRow]) -> QueryResult<usize> {
    use super::batch::{self, Bind};
    let values: Vec<Vec<Bind>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.into(),
                r.occurred_at.into(),
                r.amount_cents.into(),
                r.cost_cents.into(),
                (&r.currency).into(),
                (&r.product).into(),
                (&r.notes).into(),
                r.version.into(),
                r.updated_at.into(),
            ]
        })
        .collect();
    let saved = batch::with_values(conn, 9, &values, |values| {
        format!(
            "UPDATE transactions SET occurred_at = v.column2, amount_cents = v.column3, \
             cost_cents = v.column4, currency = v.column5, product = v.column6, notes = v.column7, \
             version = v.column8, updated_at = v.column9 \
             FROM ({values}) AS v WHERE transactions.id = v.column1 AND transactions.version = v.column8 - 1"
        )
    })?;
    let updated: Vec<(i64, i64)> = rows.iter().map(|r| (r.id, r.version)).collect();
    super::changes::record_many(
        conn,
        super::changes::TRANSACTION,
        super::changes::UPDATED,
        &updated,
    )?;
    Ok(saved)
}

/// Whether the customer has any transaction.
pub fn any_of(conn: &mut DbConn, customer_id: i64) -> QueryResult<bool> {
    let first: Option<i64> = transactions::table
        .filter(transactions::customer_id.eq(customer_id))
        .select(transactions::id)
        .first(conn)
        .optional()?;
    Ok(first.is_some())
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<TransactionRow>> {
    transactions::table.find(id).first(conn).optional()
}

pub fn find_by_external_id(
    conn: &mut DbConn,
    external_id: &str,
) -> QueryResult<Option<TransactionRow>> {
    transactions::table
        .filter(transactions::external_id.eq(external_id))
        .first(conn)
        .optional()
}

pub fn save(conn: &mut DbConn, row: &TransactionRow, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::update(
        transactions::table
            .filter(transactions::id.eq(row.id))
            .filter(transactions::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    if n == 1 {
        super::changes::record(
            conn,
            super::changes::TRANSACTION,
            row.id,
            super::changes::UPDATED,
            row.version,
        )?;
    }
    Ok(n == 1)
}

pub fn delete(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    let Some((customer_id, version)) = transactions::table
        .find(id)
        .select((transactions::customer_id, transactions::version))
        .first::<(i64, i64)>(conn)
        .optional()?
    else {
        return Ok(0);
    };
    let n = diesel::delete(transactions::table.find(id)).execute(conn)?;
    super::changes::record_deleted(
        conn,
        super::changes::TRANSACTION,
        id,
        version + 1,
        Some(customer_id),
    )?;
    Ok(n)
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub customer_id: Option<i64>,
    /// Transactions of customers owned by this user.
    pub owner_id: Option<i64>,
    pub external_id: Option<String>,
    pub product: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    pub updated_since: Option<NaiveDateTime>,
}

/// `occurred_at` (default newest first), `updated_at` (a sync's poll, on
/// `transactions_updated`) or `id`.
pub const SORTS: &[&str] = &[
    "-occurred_at",
    "occurred_at",
    "updated_at",
    "-updated_at",
    "id",
    "-id",
];

pub fn parse_sort(raw: Option<&str>) -> Result<&'static str, ApiError> {
    let raw = raw.unwrap_or("-occurred_at");
    SORTS.iter().find(|s| **s == raw).copied().ok_or_else(|| {
        ApiError::InvalidQuery(vec![FieldError::new(
            "sort",
            "invalid_value",
            format!("one of {}", SORTS.join(", ")),
        )])
    })
}

pub fn cursor_for(sort: &str, row: &TransactionRow) -> Cursor {
    let stamp =
        |t: NaiveDateTime| serde_json::Value::String(t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string());
    let k = match sort.trim_start_matches('-') {
        "occurred_at" => stamp(row.occurred_at),
        "updated_at" => stamp(row.updated_at),
        _ => serde_json::Value::Null,
    };
    Cursor {
        s: sort.to_string(),
        k,
        id: row.id,
    }
}

pub fn page(
    conn: &mut DbConn,
    filter: &Filter,
    sort: &str,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<TransactionRow>, ApiError> {
    use transactions::dsl as t;
    let mut query = transactions::table.into_boxed();
    if let Some(v) = filter.customer_id {
        query = query.filter(t::customer_id.eq(v));
    }
    if let Some(v) = filter.owner_id {
        let owned = customers::table
            .filter(customers::owner_id.eq(v))
            .select(customers::id);
        query = query.filter(t::customer_id.eq_any(owned));
    }
    if let Some(v) = &filter.external_id {
        query = query.filter(t::external_id.eq(v.clone()));
    }
    if let Some(v) = &filter.product {
        query = query.filter(t::product.eq(v.clone()));
    }
    if let Some(v) = filter.from {
        query = query.filter(t::occurred_at.ge(v));
    }
    if let Some(v) = filter.to {
        query = query.filter(t::occurred_at.lt(v));
    }
    if let Some(v) = filter.updated_since {
        query = query.filter(t::updated_at.ge(v));
    }
    let descending = sort.starts_with('-');
    let after_id = after.map(|a| a.id).unwrap_or_default();
    // The cursor's instant, read only for the orders by an instant (an
    // order by id has none).
    macro_rules! keyset {
        ($col:expr) => {{
            let key = after.map(Cursor::stamp_key).transpose()?;
            super::page::keyset_by!(query, $col, t::id, key, after_id, descending)
        }};
    }
    match sort.trim_start_matches('-') {
        "occurred_at" => keyset!(t::occurred_at),
        "updated_at" => keyset!(t::updated_at),
        _ => super::page::keyset_by_id!(query, t::id, after.map(|a| a.id), descending),
    }
    Ok(query.limit(limit + 1).load(conn)?)
}

/// A customer's transactions, newest first, resuming at `before`.
pub fn timeline(
    conn: &mut DbConn,
    customer_id: i64,
    before: Option<Before>,
    limit: i64,
) -> QueryResult<Vec<TransactionRow>> {
    use transactions::dsl as t;
    let mut query = transactions::table
        .filter(t::customer_id.eq(customer_id))
        .into_boxed();
    query = match before {
        None => query,
        Some(Before::Lt(at)) => query.filter(t::occurred_at.lt(at)),
        Some(Before::Le(at)) => query.filter(t::occurred_at.le(at)),
        Some(Before::LtId(at, id)) => query.filter(t::occurred_at.le(at)).filter(
            t::occurred_at
                .lt(at)
                .or(t::occurred_at.eq(at).and(t::id.lt(id))),
        ),
    };
    query
        .order((t::occurred_at.desc(), t::id.desc()))
        .limit(limit)
        .load(conn)
}

/// The transactions with these external ids (bulk upsert matching), in one query.
pub fn by_external_ids(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<TransactionRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<i64> = super::batch::external_ids(conn, "transactions", ids)?
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    transactions::table
        .filter(transactions::id.eq_any(found))
        .load(conn)
}
