//! Customers (the profile card): rows, filters, keyset pages, tags.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::page::Cursor;
use super::schema::{customer_tags, customers};
use super::DbConn;
use crate::error::{ApiError, FieldError};

#[derive(Debug, Clone, Queryable, Identifiable, AsChangeset)]
#[diesel(table_name = customers, treat_none_as_null = true)]
pub struct CustomerRow {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub company: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub region: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub gender: Option<String>,
    pub age_band: Option<String>,
    pub income_band: Option<String>,
    pub occupation: Option<String>,
    pub education: Option<String>,
    pub industry: Option<String>,
    pub products: Option<String>,
    pub employees: Option<i64>,
    pub annual_revenue_cents: Option<i64>,
    pub owner_id: i64,
    pub external_id: Option<String>,
    pub acquisition_source: Option<String>,
    pub source_customer_id: Option<i64>,
    pub personality_type: Option<String>,
    pub social_style: Option<String>,
    pub funnel_stage: String,
    pub prospect_grade: Option<String>,
    pub wallet_size_cents: Option<i64>,
    pub currency: String,
    pub notes: Option<String>,
    pub search_text: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub archived_at: Option<NaiveDateTime>,
}

/// The text `q` searches: lower-cased name, company, email and phone.
pub fn search_text(row: &CustomerRow) -> String {
    [
        Some(&row.name),
        row.company.as_ref(),
        row.email.as_ref(),
        row.phone.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|s| s.to_lowercase())
    .collect::<Vec<_>>()
    .join("\u{1f}")
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<CustomerRow>> {
    customers::table.find(id).first(conn).optional()
}

pub fn find_by_external_id(
    conn: &mut DbConn,
    external_id: &str,
) -> QueryResult<Option<CustomerRow>> {
    customers::table
        .filter(customers::external_id.eq(external_id))
        .first(conn)
        .optional()
}

/// Inserts a new card; `row.id` is ignored and assigned by the database.
pub fn insert(conn: &mut DbConn, row: &CustomerRow) -> QueryResult<CustomerRow> {
    diesel::insert_into(customers::table)
        .values((
            customers::kind.eq(&row.kind),
            customers::name.eq(&row.name),
            customers::company.eq(&row.company),
            customers::email.eq(&row.email),
            customers::phone.eq(&row.phone),
            customers::address.eq(&row.address),
            customers::region.eq(&row.region),
            customers::birthday.eq(&row.birthday),
            customers::gender.eq(&row.gender),
            customers::age_band.eq(&row.age_band),
            customers::income_band.eq(&row.income_band),
            customers::occupation.eq(&row.occupation),
            customers::education.eq(&row.education),
            customers::industry.eq(&row.industry),
            customers::products.eq(&row.products),
            customers::employees.eq(&row.employees),
            customers::annual_revenue_cents.eq(&row.annual_revenue_cents),
            customers::owner_id.eq(&row.owner_id),
            customers::external_id.eq(&row.external_id),
            customers::acquisition_source.eq(&row.acquisition_source),
            customers::source_customer_id.eq(&row.source_customer_id),
            customers::personality_type.eq(&row.personality_type),
            customers::social_style.eq(&row.social_style),
            customers::funnel_stage.eq(&row.funnel_stage),
            customers::prospect_grade.eq(&row.prospect_grade),
            customers::wallet_size_cents.eq(&row.wallet_size_cents),
            customers::currency.eq(&row.currency),
            customers::notes.eq(&row.notes),
            customers::search_text.eq(&row.search_text),
            customers::version.eq(&row.version),
            customers::created_at.eq(&row.created_at),
            customers::updated_at.eq(&row.updated_at),
            customers::archived_at.eq(&row.archived_at),
        ))
        .get_result(conn)
}

/// Saves the whole card if it still has `expected_version`; false when
/// another writer got there first.
pub fn save(conn: &mut DbConn, row: &CustomerRow, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::update(
        customers::table
            .filter(customers::id.eq(row.id))
            .filter(customers::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn tags_of(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    customer_tags::table
        .filter(customer_tags::customer_id.eq_any(ids))
        .order((customer_tags::customer_id, customer_tags::tag))
        .select((customer_tags::customer_id, customer_tags::tag))
        .load(conn)
}

pub fn replace_tags(conn: &mut DbConn, id: i64, tags: &[String]) -> QueryResult<()> {
    diesel::delete(customer_tags::table.filter(customer_tags::customer_id.eq(id))).execute(conn)?;
    // One statement per tag: multi-row inserts do not compile through the
    // multi-backend connection, and a card has few tags.
    for tag in tags {
        diesel::insert_into(customer_tags::table)
            .values((
                customer_tags::customer_id.eq(id),
                customer_tags::tag.eq(tag),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// List filters (all optional; combined with AND).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub q: Option<String>,
    pub kind: Option<String>,
    pub funnel_stage: Option<String>,
    pub prospect_grade: Option<String>,
    pub owner_id: Option<i64>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub acquisition_source: Option<String>,
    pub personality_type: Option<String>,
    pub tag: Option<String>,
    pub updated_since: Option<NaiveDateTime>,
    pub include_archived: bool,
}

/// The sortable fields of the customer list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Id,
    Name,
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub field: SortField,
    pub descending: bool,
}

pub const SORT_FIELDS: &[&str] = &["id", "name", "created_at", "updated_at"];

impl Sort {
    pub fn parse(raw: Option<&str>) -> Result<Sort, ApiError> {
        let raw = raw.unwrap_or("id");
        let (descending, name) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let field = match name {
            "id" => SortField::Id,
            "name" => SortField::Name,
            "created_at" => SortField::CreatedAt,
            "updated_at" => SortField::UpdatedAt,
            _ => {
                return Err(ApiError::InvalidQuery(vec![FieldError::new(
                    "sort",
                    "invalid_value",
                    format!(
                        "sort by one of {} (prefix - for descending)",
                        SORT_FIELDS.join(", ")
                    ),
                )]))
            }
        };
        Ok(Sort { field, descending })
    }

    pub fn as_string(&self) -> String {
        let name = match self.field {
            SortField::Id => "id",
            SortField::Name => "name",
            SortField::CreatedAt => "created_at",
            SortField::UpdatedAt => "updated_at",
        };
        if self.descending {
            format!("-{name}")
        } else {
            name.to_string()
        }
    }

    pub fn cursor_for(&self, row: &CustomerRow) -> Cursor {
        let k = match self.field {
            SortField::Id => serde_json::Value::Null,
            SortField::Name => serde_json::Value::String(row.name.clone()),
            SortField::CreatedAt => serde_json::Value::String(stamp(row.created_at)),
            SortField::UpdatedAt => serde_json::Value::String(stamp(row.updated_at)),
        };
        Cursor {
            s: self.as_string(),
            k,
            id: row.id,
        }
    }
}

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn parse_stamp(v: &serde_json::Value) -> Result<NaiveDateTime, ApiError> {
    v.as_str()
        .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok())
        .ok_or_else(|| {
            ApiError::InvalidQuery(vec![FieldError::new(
                "cursor",
                "invalid_value",
                "corrupt cursor",
            )])
        })
}

/// `%` and `_` in a search term are literal.
fn like_pattern(term: &str) -> String {
    let escaped = term
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// One page of customers (`limit + 1` rows, so the caller knows if more exist).
pub fn page(
    conn: &mut DbConn,
    filter: &Filter,
    sort: Sort,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<CustomerRow>, ApiError> {
    use customers::dsl as c;
    let mut query = customers::table.into_boxed();
    if !filter.include_archived {
        query = query.filter(c::archived_at.is_null());
    }
    if let Some(q) = &filter.q {
        query = query.filter(c::search_text.like(like_pattern(q)).escape('\\'));
    }
    if let Some(v) = &filter.kind {
        query = query.filter(c::kind.eq(v.clone()));
    }
    if let Some(v) = &filter.funnel_stage {
        query = query.filter(c::funnel_stage.eq(v.clone()));
    }
    if let Some(v) = &filter.prospect_grade {
        query = query.filter(c::prospect_grade.eq(v.clone()));
    }
    if let Some(v) = filter.owner_id {
        query = query.filter(c::owner_id.eq(v));
    }
    if let Some(v) = &filter.region {
        query = query.filter(c::region.eq(v.clone()));
    }
    if let Some(v) = &filter.industry {
        query = query.filter(c::industry.eq(v.clone()));
    }
    if let Some(v) = &filter.acquisition_source {
        query = query.filter(c::acquisition_source.eq(v.clone()));
    }
    if let Some(v) = &filter.personality_type {
        query = query.filter(c::personality_type.eq(v.clone()));
    }
    if let Some(v) = &filter.tag {
        let tagged = customer_tags::table
            .filter(customer_tags::tag.eq(v.clone()))
            .select(customer_tags::customer_id);
        query = query.filter(c::id.eq_any(tagged));
    }
    if let Some(v) = filter.updated_since {
        query = query.filter(c::updated_at.ge(v));
    }

    // Keyset condition and order: (sort key, id) in the chosen direction.
    macro_rules! keyset {
        ($col:expr, $key:expr) => {{
            if let Some(key) = $key {
                let id = after.map(|a| a.id).unwrap_or_default();
                query = if sort.descending {
                    query.filter($col.lt(key.clone()).or($col.eq(key).and(c::id.lt(id))))
                } else {
                    query.filter($col.gt(key.clone()).or($col.eq(key).and(c::id.gt(id))))
                };
            }
            query = if sort.descending {
                query.order(($col.desc(), c::id.desc()))
            } else {
                query.order(($col.asc(), c::id.asc()))
            };
        }};
    }
    match sort.field {
        SortField::Id => {
            if let Some(a) = after {
                query = if sort.descending {
                    query.filter(c::id.lt(a.id))
                } else {
                    query.filter(c::id.gt(a.id))
                };
            }
            query = if sort.descending {
                query.order(c::id.desc())
            } else {
                query.order(c::id.asc())
            };
        }
        SortField::Name => {
            let key = after.map(|a| a.k.as_str().unwrap_or_default().to_string());
            keyset!(c::name, key);
        }
        SortField::CreatedAt => {
            let key = after.map(|a| parse_stamp(&a.k)).transpose()?;
            keyset!(c::created_at, key);
        }
        SortField::UpdatedAt => {
            let key = after.map(|a| parse_stamp(&a.k)).transpose()?;
            keyset!(c::updated_at, key);
        }
    }
    Ok(query.limit(limit + 1).load(conn)?)
}

pub fn exists(conn: &mut DbConn, id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(customers::table.find(id))).get_result(conn)
}
