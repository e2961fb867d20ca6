//! The customer list: filters over the card and its derived figures, sorts,
//! and keyset pages.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Timestamp;

use super::customers::{Full, CARD, STATS};
use super::page::Cursor;
use super::schema::{customer_tags, customer_tiers, customers};
use super::{native, DbConn};
use crate::domain::codes::Tier;
use crate::error::{ApiError, FieldError};

/// List filters (all optional; combined with AND).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub q: Option<String>,
    pub kind: Option<String>,
    pub funnel_stage: Option<String>,
    pub prospect_grade: Option<String>,
    pub owner_id: Option<i64>,
    /// Only the cards this card referred (their `source_customer_id`).
    pub source_customer_id: Option<i64>,
    /// Only the cards whose birthday is celebrated in this window.
    pub birthdays: Option<crate::domain::birthdays::Window>,
    pub external_id: Option<String>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub acquisition_source: Option<String>,
    pub personality_type: Option<String>,
    pub social_style: Option<String>,
    pub tag: Option<String>,
    pub updated_since: Option<NaiveDateTime>,
    pub include_archived: bool,
    pub never_contacted: Option<bool>,
    pub last_contact_before: Option<NaiveDateTime>,
    pub last_contact_after: Option<NaiveDateTime>,
    pub min_purchase_count: Option<i64>,
    pub max_purchase_count: Option<i64>,
    pub last_purchase_before: Option<NaiveDateTime>,
    pub last_purchase_after: Option<NaiveDateTime>,
    pub min_revenue_12m_cents: Option<i64>,
    pub min_lifetime_revenue_cents: Option<i64>,
    pub has_open_complaints: Option<bool>,
    pub cpr_stage: Option<String>,
    pub tier: Option<String>,
    /// true: churned now; false: not churned.
    pub churned: Option<bool>,
    pub satisfaction_min: Option<f64>,
    pub satisfaction_max: Option<f64>,
    pub loyalty_type: Option<String>,
    /// Only the members of a segment (see `db::segments::SegmentScope`).
    pub segment: Option<super::segments::SegmentScope>,
}

/// The sortable fields of the customer list.
pub const SORT_FIELDS: &[&str] = &[
    "id",
    "name",
    "created_at",
    "updated_at",
    "last_contact_at",
    "last_purchase_at",
    "purchase_count",
    "lifetime_revenue_cents",
    "lifetime_profit_cents",
    "revenue_12m_cents",
    "profit_12m_cents",
    "open_complaints",
];

pub use super::page::Sort;

impl Sort {
    /// `raw` as sent (default `id`), one of the list's sort fields.
    pub fn parse(raw: Option<&str>) -> Result<Sort, ApiError> {
        Sort::parse_in(raw, SORT_FIELDS)
    }

    pub fn cursor_for(&self, (card, stats): &Full) -> Cursor {
        use serde_json::Value;
        let stamp = |t: Option<NaiveDateTime>| Value::String(stamp(t.unwrap_or_else(null_stamp)));
        let k = match self.field {
            "name" => Value::String(card.name.clone()),
            "created_at" => stamp(Some(card.created_at)),
            "updated_at" => stamp(Some(card.updated_at)),
            "last_contact_at" => stamp(stats.last_contact_at),
            "last_purchase_at" => stamp(stats.last_purchase_at),
            "purchase_count" => Value::from(stats.purchase_count),
            "lifetime_revenue_cents" => Value::from(stats.lifetime_revenue_cents),
            "lifetime_profit_cents" => Value::from(stats.lifetime_profit_cents),
            "revenue_12m_cents" => Value::from(stats.revenue_12m_cents),
            "profit_12m_cents" => Value::from(stats.profit_12m_cents),
            "open_complaints" => Value::from(stats.open_complaints),
            _ => Value::Null,
        };
        Cursor {
            s: self.as_string(),
            k,
            id: card.id,
        }
    }
}

/// The sort keys of the two dates a card may lack: a missing date sorts as
/// the earliest instant (`null_stamp`), the same on both backends. The indexes `customers_last_contact_sort` and
/// `customers_last_purchase_sort` hold exactly these expressions; an index
/// serves the order only while the text here and there agree (the plan test
/// in tests/api/customers_list/plans.rs checks it on both engines).
pub const LAST_CONTACT_KEY: &str = "COALESCE(customers.last_contact_at, '0001-01-01 00:00:00')";
pub const LAST_PURCHASE_KEY: &str = "COALESCE(customers.last_purchase_at, '0001-01-01 00:00:00')";

/// The sort keys' stand-in for a missing date, for cursors of rows without it.
fn null_stamp() -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or(NaiveDateTime::MIN)
}

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn bad_cursor() -> ApiError {
    ApiError::InvalidQuery(vec![FieldError::new(
        "cursor",
        "invalid_value",
        "corrupt cursor",
    )])
}

fn cursor_stamp(v: &serde_json::Value) -> Result<NaiveDateTime, ApiError> {
    super::page::stamp_of(v)
}

/// A name key: a cursor whose key is not a string was read as "" and paged
/// from the start again (a review); it is as corrupt as a wrong number.
fn cursor_text(v: &serde_json::Value) -> Result<String, ApiError> {
    v.as_str().map(str::to_string).ok_or_else(bad_cursor)
}

fn cursor_number(v: &serde_json::Value) -> Result<i64, ApiError> {
    v.as_i64().ok_or_else(bad_cursor)
}

/// `%` and `_` in a search term are literal. Folded as the stored
/// `search_text` is (`customers::search_text`).
fn like_pattern(term: &str) -> String {
    let escaped = super::segments::fold(term)
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// One page of customers (`limit + 1` rows, so the caller knows if more exist).
pub fn page(
    conn: &mut DbConn,
    filter: &Filter,
    sort: &Sort,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<Full>, ApiError> {
    use customers::dsl as c;
    let postgres = matches!(conn, DbConn::Postgresql(_));
    // Built on the backend's own connection: through `MultiConnection` the
    // page's SQL was rendered twice per request (7–8 % of a page's CPU,
    // docs/BENCHMARKS.md session 27). The body is compiled once per engine.
    native!(conn, |conn| {
        let mut query = customers::table.select((CARD, STATS)).into_boxed();
        if !filter.include_archived {
            query = query.filter(c::archived_at.is_null());
        }
        if let Some(q) = &filter.q {
            let pattern = like_pattern(q);
            query = match postgres {
                // PostgreSQL's trigram index (pg_trgm, a migration) serves this
                // LIKE for terms of three characters or more. Written as SQL so
                // that diesel does not keep the statement prepared: PostgreSQL
                // plans each search for its own term. A kept statement turned to
                // a generic plan after a few common terms (read the cards in the
                // list's order until a page is full), which then read every card
                // for a rare term (0.5 s at 1.4 million cards, not 3 ms).
                true => query.filter(
                    sql::<diesel::sql_types::Bool>("customers.search_text LIKE ")
                        .bind::<diesel::sql_types::Text, _>(pattern)
                        .sql(" ESCAPE '\\'"),
                ),
                // SQLite reads the cards (see docs/BENCHMARKS.md, #7 session 23,
                // for the trigram index tried here and what it cost the writes).
                false => query.filter(c::search_text.like(pattern).escape('\\')),
            };
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
        if let Some(v) = &filter.external_id {
            query = query.filter(c::external_id.eq(v.clone()));
        }
        if let Some(v) = filter.source_customer_id {
            query = query.filter(c::source_customer_id.eq(v));
        }
        if let Some(window) = &filter.birthdays {
            query = query.filter(super::segments::SegmentScope::birthdays(
                &window.key_ranges(),
            ));
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
        if let Some(v) = &filter.social_style {
            query = query.filter(c::social_style.eq(v.clone()));
        }
        if let Some(v) = &filter.cpr_stage {
            query = query.filter(c::cpr_stage.eq(v.clone()));
        }
        if let Some(v) = &filter.tier {
            // No tier row is `small`. `NOT EXISTS`, not `NOT IN`: PostgreSQL
            // runs a `NOT IN` list too big for `work_mem` as a scan per card,
            // and SQLite builds the list of 200,000 ids for every page (52 ms
            // against 0.2 ms for a page at 1M customers). The segment rules
            // (`segments::tier_in`) count whole sets, where SQLite's `NOT IN`
            // is the faster one (0.40 against 0.63 s), and sit under `OR` and
            // `NOT`, hence their own forms; here the filter is always ANDed.
            query = if v == Tier::Small.as_str() {
                query.filter(sql::<diesel::sql_types::Bool>(
                    "NOT EXISTS (SELECT 1 FROM customer_tiers WHERE customer_tiers.customer_id = customers.id)",
                ))
            } else {
                query.filter(
                    c::id.eq_any(
                        customer_tiers::table
                            .filter(customer_tiers::tier.eq(v.clone()))
                            .select(customer_tiers::customer_id),
                    ),
                )
            };
        }
        match filter.churned {
            Some(true) => query = query.filter(c::churned_at.is_not_null()),
            Some(false) => query = query.filter(c::churned_at.is_null()),
            None => {}
        }
        if let Some(v) = filter.satisfaction_min {
            query = query.filter(c::satisfaction_overall.ge(v));
        }
        if let Some(v) = filter.satisfaction_max {
            query = query.filter(c::satisfaction_overall.le(v));
        }
        if let Some(v) = &filter.loyalty_type {
            query = query.filter(c::loyalty_type.eq(v.clone()));
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
        match filter.never_contacted {
            Some(true) => query = query.filter(c::last_contact_at.is_null()),
            Some(false) => query = query.filter(c::last_contact_at.is_not_null()),
            None => {}
        }
        if let Some(v) = filter.last_contact_before {
            query = query.filter(c::last_contact_at.lt(v));
        }
        if let Some(v) = filter.last_contact_after {
            query = query.filter(c::last_contact_at.ge(v));
        }
        if let Some(v) = filter.min_purchase_count {
            query = query.filter(c::purchase_count.ge(v));
        }
        if let Some(v) = filter.max_purchase_count {
            query = query.filter(c::purchase_count.le(v));
        }
        if let Some(v) = filter.last_purchase_before {
            query = query.filter(c::last_purchase_at.lt(v));
        }
        if let Some(v) = filter.last_purchase_after {
            query = query.filter(c::last_purchase_at.ge(v));
        }
        if let Some(v) = filter.min_revenue_12m_cents {
            query = query.filter(c::revenue_12m_cents.ge(v));
        }
        if let Some(v) = filter.min_lifetime_revenue_cents {
            query = query.filter(c::lifetime_revenue_cents.ge(v));
        }
        if let Some(scope) = &filter.segment {
            query = query.filter(scope.clone());
        }
        match filter.has_open_complaints {
            Some(true) => query = query.filter(c::open_complaints.gt(0)),
            Some(false) => query = query.filter(c::open_complaints.eq(0)),
            None => {}
        }

        // Keyset condition and order: (sort key, id) in the chosen direction.
        let after_id = after.map(|a| a.id).unwrap_or_default();
        macro_rules! keyset {
            ($col:expr, $key:expr) => {{
                if let Some(key) = $key {
                    query = if sort.descending {
                        query.filter($col.le(key.clone())).filter(
                            $col.lt(key.clone())
                                .or($col.eq(key).and(c::id.lt(after_id))),
                        )
                    } else {
                        query.filter($col.ge(key.clone())).filter(
                            $col.gt(key.clone())
                                .or($col.eq(key).and(c::id.gt(after_id))),
                        )
                    };
                }
                query = if sort.descending {
                    query.order(($col.desc(), c::id.desc()))
                } else {
                    query.order(($col.asc(), c::id.asc()))
                };
            }};
        }
        let key = after.map(|a| &a.k);
        match sort.field {
            "name" => keyset!(c::name, key.map(cursor_text).transpose()?),
            "created_at" => keyset!(c::created_at, key.map(cursor_stamp).transpose()?),
            "updated_at" => keyset!(c::updated_at, key.map(cursor_stamp).transpose()?),
            "last_contact_at" => keyset!(
                sql::<Timestamp>(LAST_CONTACT_KEY),
                key.map(cursor_stamp).transpose()?
            ),
            "last_purchase_at" => keyset!(
                sql::<Timestamp>(LAST_PURCHASE_KEY),
                key.map(cursor_stamp).transpose()?
            ),
            "purchase_count" => keyset!(c::purchase_count, key.map(cursor_number).transpose()?),
            "lifetime_revenue_cents" => keyset!(
                c::lifetime_revenue_cents,
                key.map(cursor_number).transpose()?
            ),
            "lifetime_profit_cents" => keyset!(
                c::lifetime_profit_cents,
                key.map(cursor_number).transpose()?
            ),
            "revenue_12m_cents" => {
                keyset!(c::revenue_12m_cents, key.map(cursor_number).transpose()?)
            }
            "profit_12m_cents" => keyset!(c::profit_12m_cents, key.map(cursor_number).transpose()?),
            "open_complaints" => keyset!(c::open_complaints, key.map(cursor_number).transpose()?),
            _ => super::page::keyset_by_id!(query, c::id, after.map(|a| a.id), sort.descending),
        }
        Ok(query.limit(limit + 1).load(conn)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sort_keys_and_the_cursors_use_one_stand_in_for_a_missing_date() {
        let text = null_stamp().format("'%Y-%m-%d %H:%M:%S'").to_string();
        assert_eq!(text, "'0001-01-01 00:00:00'");
        assert!(LAST_CONTACT_KEY.contains(&text));
        assert!(LAST_PURCHASE_KEY.contains(&text));
    }
}
