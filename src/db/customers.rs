//! Customers (the profile card): rows, filters, keyset pages, tags.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{customer_tags, customers};
use super::stamp::{OptStamp, Stamp};
use super::{json_ids, native, DbConn};

#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, AsChangeset)]
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
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
    #[diesel(deserialize_as = OptStamp)]
    pub archived_at: Option<NaiveDateTime>,
}

/// The card's own columns, in `CustomerRow` order.
pub type Card = (
    customers::id,
    customers::kind,
    customers::name,
    customers::company,
    customers::email,
    customers::phone,
    customers::address,
    customers::region,
    customers::birthday,
    customers::gender,
    customers::age_band,
    customers::income_band,
    customers::occupation,
    customers::education,
    customers::industry,
    customers::products,
    customers::employees,
    customers::annual_revenue_cents,
    customers::owner_id,
    customers::external_id,
    customers::acquisition_source,
    customers::source_customer_id,
    customers::personality_type,
    customers::social_style,
    customers::funnel_stage,
    customers::prospect_grade,
    customers::wallet_size_cents,
    customers::currency,
    customers::notes,
    customers::search_text,
    customers::version,
    customers::created_at,
    customers::updated_at,
    customers::archived_at,
);

pub const CARD: Card = (
    customers::id,
    customers::kind,
    customers::name,
    customers::company,
    customers::email,
    customers::phone,
    customers::address,
    customers::region,
    customers::birthday,
    customers::gender,
    customers::age_band,
    customers::income_band,
    customers::occupation,
    customers::education,
    customers::industry,
    customers::products,
    customers::employees,
    customers::annual_revenue_cents,
    customers::owner_id,
    customers::external_id,
    customers::acquisition_source,
    customers::source_customer_id,
    customers::personality_type,
    customers::social_style,
    customers::funnel_stage,
    customers::prospect_grade,
    customers::wallet_size_cents,
    customers::currency,
    customers::notes,
    customers::search_text,
    customers::version,
    customers::created_at,
    customers::updated_at,
    customers::archived_at,
);

/// Figures derived from interactions and transactions (see `db::stats`).
/// Kept apart from the card so a card edit can never overwrite them.
#[derive(Debug, Clone, Default, Queryable)]
pub struct StatsRow {
    #[diesel(deserialize_as = OptStamp)]
    pub last_contact_at: Option<NaiveDateTime>,
    pub purchase_count: i64,
    #[diesel(deserialize_as = OptStamp)]
    pub first_purchase_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = OptStamp)]
    pub last_purchase_at: Option<NaiveDateTime>,
    pub lifetime_revenue_cents: i64,
    pub lifetime_profit_cents: i64,
    pub revenue_12m_cents: i64,
    pub profit_12m_cents: i64,
    pub open_complaints: i64,
    pub cpr_stage: String,
    pub cpr_pinned: bool,
    pub share_of_wallet: Option<f64>,
    #[diesel(deserialize_as = OptStamp)]
    pub churned_at: Option<NaiveDateTime>,
    pub churn_reason: Option<String>,
    pub satisfaction_overall: Option<f64>,
    pub satisfaction_product: Option<f64>,
    pub satisfaction_service: Option<f64>,
    pub satisfaction_social: Option<f64>,
    #[diesel(deserialize_as = OptStamp)]
    pub satisfaction_at: Option<NaiveDateTime>,
    pub loyalty_type: String,
}

pub type Stats = (
    customers::last_contact_at,
    customers::purchase_count,
    customers::first_purchase_at,
    customers::last_purchase_at,
    customers::lifetime_revenue_cents,
    customers::lifetime_profit_cents,
    customers::revenue_12m_cents,
    customers::profit_12m_cents,
    customers::open_complaints,
    customers::cpr_stage,
    customers::cpr_pinned,
    customers::share_of_wallet,
    customers::churned_at,
    customers::churn_reason,
    customers::satisfaction_overall,
    customers::satisfaction_product,
    customers::satisfaction_service,
    customers::satisfaction_social,
    customers::satisfaction_at,
    customers::loyalty_type,
);

pub const STATS: Stats = (
    customers::last_contact_at,
    customers::purchase_count,
    customers::first_purchase_at,
    customers::last_purchase_at,
    customers::lifetime_revenue_cents,
    customers::lifetime_profit_cents,
    customers::revenue_12m_cents,
    customers::profit_12m_cents,
    customers::open_complaints,
    customers::cpr_stage,
    customers::cpr_pinned,
    customers::share_of_wallet,
    customers::churned_at,
    customers::churn_reason,
    customers::satisfaction_overall,
    customers::satisfaction_product,
    customers::satisfaction_service,
    customers::satisfaction_social,
    customers::satisfaction_at,
    customers::loyalty_type,
);

/// A card with its derived figures.
pub type Full = (CustomerRow, StatsRow);

/// The text `q` searches: name, company, email and phone, folded as the
/// term is (`segments::fold`: lower case, a word-final ς as σ, so "ΟΔΟΣ"
/// finds "Οδοστρωμα" and "οδοσ" finds "ΟΔΟΣ").
pub fn search_text(row: &CustomerRow) -> String {
    [
        Some(&row.name),
        row.company.as_ref(),
        row.email.as_ref(),
        row.phone.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|s| super::segments::fold(s))
    .collect::<Vec<_>>()
    .join("\u{1f}")
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<CustomerRow>> {
    native!(conn, |c| customers::table
        .find(id)
        .select(CARD)
        .first(c)
        .optional())
}

pub fn find_full(conn: &mut DbConn, id: i64) -> QueryResult<Option<Full>> {
    native!(conn, |c| customers::table
        .find(id)
        .select((CARD, STATS))
        .first(c)
        .optional())
}

/// A card as the API shows it: the row, its derived figures, its tier
/// (`None`: `small`) and its tags in byte order.
#[derive(Debug, Clone)]
pub struct CardParts {
    pub row: CustomerRow,
    pub stats: StatsRow,
    pub tier: Option<String>,
    pub tags: Vec<String>,
}

type PgCard = (Full, Option<String>, Option<Vec<String>>);

fn pg_card(((row, stats), tier, tags): PgCard) -> CardParts {
    CardParts {
        row,
        stats,
        tier,
        tags: tags.unwrap_or_default(),
    }
}

/// One card in as few statements as the engine allows: the card read's hot
/// path. On PostgreSQL, where each statement is a round trip (most of a card
/// read's time), the tier and the tags come in the card's statement; SQLite
/// runs in-process, where the tags' own cached statement is the cheaper one.
pub fn find_card(conn: &mut DbConn, id: i64) -> QueryResult<Option<CardParts>> {
    use super::schema::customer_tiers;
    match conn {
        DbConn::Postgresql(_) => Ok(find_cards(conn, &[id])?.pop()),
        DbConn::Sqlite(c) => {
            let found: Option<(CustomerRow, StatsRow, Option<String>)> = customers::table
                .left_join(customer_tiers::table)
                .filter(customers::id.eq(id))
                .select((CARD, STATS, customer_tiers::tier.nullable()))
                .first(c)
                .optional()?;
            let Some((row, stats, tier)) = found else {
                return Ok(None);
            };
            // The primary key (customer_id, tag) gives SQLite's BINARY order.
            let tags = customer_tags::table
                .filter(customer_tags::customer_id.eq(id))
                .select(customer_tags::tag)
                .order(customer_tags::tag)
                .load(c)?;
            Ok(Some(CardParts {
                row,
                stats,
                tier,
                tags,
            }))
        }
    }
}

/// The ids a card statement binds on PostgreSQL, at the least (see
/// `find_cards`).
const PADDED_IDS: usize = 64;

/// The cards of `ids` that exist, in no order: on PostgreSQL in one
/// statement with their tiers and tags (`db::card_reads` batches card reads
/// into it), on SQLite one card after the other.
///
/// On PostgreSQL the ids are one array bind (one prepared statement whatever
/// their number), padded to [`PADDED_IDS`] by repeating the last. PostgreSQL
/// costs a generic plan for an array of 10 and plans again for every
/// execution whose array makes a cheaper plan: with the 1 to 8 cards of a
/// typical batch that was every execution, ~150 µs of planning for ~50 µs
/// of reading. A longer array keeps the generic plan; the repeats are read
/// once (the index scan drops duplicate keys).
pub fn find_cards(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<CardParts>> {
    use super::schema::customer_tiers;
    match conn {
        DbConn::Postgresql(c) => Ok(customers::table
            .left_join(customer_tiers::table)
            .filter(customers::id.eq_any(padded(ids)))
            .select(((CARD, STATS), customer_tiers::tier.nullable(), TagsArray))
            .load::<PgCard>(c)?
            .into_iter()
            .map(pg_card)
            .collect()),
        DbConn::Sqlite(_) => {
            let mut cards = Vec::with_capacity(ids.len());
            for &id in ids {
                cards.extend(find_card(conn, id)?);
            }
            Ok(cards)
        }
    }
}

fn padded(ids: &[i64]) -> Vec<i64> {
    let mut all = ids.to_vec();
    if let Some(&last) = ids.last() {
        all.resize(ids.len().max(PADDED_IDS), last);
    }
    all
}

/// A card's tags as one array in its own statement (PostgreSQL). Written
/// out with a static query id so each connection prepares the card read
/// once: diesel never caches a statement with an `sql()` literal in it (that
/// cost more than the round trip it saves).
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId, diesel::expression::ValidGrouping)]
struct TagsArray;

impl Expression for TagsArray {
    type SqlType = diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Text>>;
}

impl<QS> AppearsOnTable<QS> for TagsArray {}

impl<QS> SelectableExpression<QS> for TagsArray {}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for TagsArray {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        // `COLLATE "C"`: byte order, as Rust sorts the tags everywhere else.
        out.push_sql(
            "(SELECT array_agg(t.tag ORDER BY t.tag COLLATE \"C\") \
             FROM customer_tags t WHERE t.customer_id = customers.id)",
        );
        Ok(())
    }
}

pub fn find_by_external_id(
    conn: &mut DbConn,
    external_id: &str,
) -> QueryResult<Option<CustomerRow>> {
    customers::table
        .filter(customers::external_id.eq(external_id))
        .select(CARD)
        .first(conn)
        .optional()
}

/// Takes the customer's row lock (PostgreSQL) for the rest of the
/// transaction, so concurrent writes for one customer recompute its figures
/// one after the other; whether the card exists. SQLite write transactions
/// are serialized anyway, so there it only looks.
///
/// Not `UPDATE customers SET id = id`, as it was: on SQLite an update of the
/// key makes every foreign key that references it check its child rows, and
/// `customers.source_customer_id` has no index, so each write of a
/// customer's contact, need, purchase or interaction scanned the whole card
/// table (~200 ms per request with 811,000 cards). `FOR NO KEY UPDATE` is the
/// lock that update took on PostgreSQL, without a new row version: it still
/// lets the inserts of the customer's records check their foreign key.
pub fn lock(conn: &mut DbConn, id: i64) -> QueryResult<bool> {
    let card = customers::table.find(id).select(customers::id);
    let found = match conn {
        DbConn::Postgresql(c) => card.for_no_key_update().first::<i64>(c).optional()?,
        DbConn::Sqlite(c) => card.first::<i64>(c).optional()?,
    };
    Ok(found.is_some())
}

/// Inserts a new card; `row.id` is ignored and assigned by the database.
pub fn insert(conn: &mut DbConn, row: &CustomerRow) -> QueryResult<CustomerRow> {
    let id = insert_returning_id(conn, row)?;
    super::changes::record(
        conn,
        super::changes::CUSTOMER,
        id,
        super::changes::CREATED,
        row.version,
    )?;
    // The row as written: every column comes from `row` but the id.
    Ok(CustomerRow { id, ..row.clone() })
}

/// The highest customer id (0 when there is none): where the id-range
/// chunks of a recompute, or the ranges of a split count, end.
pub fn last_id(conn: &mut DbConn) -> QueryResult<i64> {
    Ok(customers::table
        .select(diesel::dsl::max(customers::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// Stores a card's share of wallet (a new card's, which no refresh computed).
pub fn set_share_of_wallet(conn: &mut DbConn, id: i64, share: f64) -> QueryResult<()> {
    // By primary key, not through the list version: diesel does not cache
    // a statement with an `IN` list, and this one runs on every create.
    diesel::update(customers::table.find(id))
        .set(customers::share_of_wallet.eq(Some(share)))
        .execute(conn)
        .map(|_| ())
}

/// The same share of wallet for many cards (new cards of a bulk write), in
/// one statement.
pub fn set_share_of_wallet_many(conn: &mut DbConn, ids: &[i64], share: f64) -> QueryResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(customers::table.filter(customers::id.eq_any(ids)))
        .set(customers::share_of_wallet.eq(Some(share)))
        .execute(conn)
        .map(|_| ())
}

fn insert_returning_id(conn: &mut DbConn, row: &CustomerRow) -> QueryResult<i64> {
    native!(conn, |c| diesel::insert_into(customers::table)
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
        .returning(customers::id)
        .get_result(c))
}

/// Inserts many new cards (a bulk write), each with an `external_id`, and
/// records them in the change feed in this order. Returns their ids in the
/// same order.
pub fn insert_many(conn: &mut DbConn, rows: &[CustomerRow]) -> QueryResult<Vec<i64>> {
    use super::batch::{self, Bind};
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<Vec<Bind>> = rows
        .iter()
        .map(|r| {
            vec![
                (&r.kind).into(),
                (&r.name).into(),
                (&r.company).into(),
                (&r.email).into(),
                (&r.phone).into(),
                (&r.address).into(),
                (&r.region).into(),
                r.birthday.into(),
                (&r.gender).into(),
                (&r.age_band).into(),
                (&r.income_band).into(),
                (&r.occupation).into(),
                (&r.education).into(),
                (&r.industry).into(),
                (&r.products).into(),
                r.employees.into(),
                r.annual_revenue_cents.into(),
                r.owner_id.into(),
                (&r.external_id).into(),
                (&r.acquisition_source).into(),
                r.source_customer_id.into(),
                (&r.personality_type).into(),
                (&r.social_style).into(),
                (&r.funnel_stage).into(),
                (&r.prospect_grade).into(),
                r.wallet_size_cents.into(),
                (&r.currency).into(),
                (&r.notes).into(),
                (&r.search_text).into(),
                r.version.into(),
                r.created_at.into(),
                r.updated_at.into(),
                r.archived_at.into(),
            ]
        })
        .collect();
    let keys: Vec<(Option<&String>, i64)> = rows
        .iter()
        .map(|r| (r.external_id.as_ref(), r.version))
        .collect();
    batch::insert_recorded(
        conn,
        super::changes::CUSTOMER,
        "customers",
        &[
            "kind",
            "name",
            "company",
            "email",
            "phone",
            "address",
            "region",
            "birthday",
            "gender",
            "age_band",
            "income_band",
            "occupation",
            "education",
            "industry",
            "products",
            "employees",
            "annual_revenue_cents",
            "owner_id",
            "external_id",
            "acquisition_source",
            "source_customer_id",
            "personality_type",
            "social_style",
            "funnel_stage",
            "prospect_grade",
            "wallet_size_cents",
            "currency",
            "notes",
            "search_text",
            "version",
            "created_at",
            "updated_at",
            "archived_at",
        ],
        &values,
        &keys,
    )
}

/// Adds tags to many cards (a bulk write's new cards).
pub fn add_tags_many(conn: &mut DbConn, tags: &[(i64, String)]) -> QueryResult<()> {
    use super::batch::{self, Bind};
    let rows: Vec<Vec<Bind>> = tags
        .iter()
        .map(|(id, tag)| vec![(*id).into(), tag.into()])
        .collect();
    batch::insert_rows(conn, "customer_tags", &["customer_id", "tag"], &rows)?;
    Ok(())
}

/// Saves the whole card if it still has `expected_version`; false when
/// another writer got there first.
/// Records the change as an archive (delete), restore or update.
pub fn save(conn: &mut DbConn, row: &CustomerRow, expected_version: i64) -> QueryResult<bool> {
    use super::changes;
    let was_archived: Option<Option<NaiveDateTime>> = customers::table
        .find(row.id)
        .select(customers::archived_at)
        .first(conn)
        .optional()?;
    let operation = match (was_archived.flatten(), row.archived_at) {
        (None, Some(_)) => changes::DELETED,
        (Some(_), None) => changes::RESTORED,
        _ => changes::UPDATED,
    };
    let n = diesel::update(
        customers::table
            .filter(customers::id.eq(row.id))
            .filter(customers::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    if n == 1 {
        changes::record(conn, changes::CUSTOMER, row.id, operation, row.version)?;
    }
    Ok(n == 1)
}

/// The tags of the cards `ids`, as `(customer_id, tag)` ordered by card and
/// then tag in Rust's byte order: the order `normalize_tags` gives, whatever
/// the server's collation (a PostgreSQL `ORDER BY tag` follows its locale, so
/// comparing with a request's tags would see a change where there is none).
pub fn tags_of(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // One statement text for any number of cards, kept prepared by diesel
    // on both engines (`= ANY($1)`; on SQLite `json_ids`).
    let mut pairs: Vec<(i64, String)> = match conn {
        DbConn::Postgresql(c) => customer_tags::table
            .filter(customer_tags::customer_id.eq_any(ids))
            .select((customer_tags::customer_id, customer_tags::tag))
            .load(c)?,
        DbConn::Sqlite(c) => customer_tags::table
            .filter(json_ids::in_ids(customer_tags::customer_id, ids))
            .select((customer_tags::customer_id, customer_tags::tag))
            .load(c)?,
    };
    pairs.sort_unstable();
    Ok(pairs)
}

pub fn replace_tags(conn: &mut DbConn, id: i64, tags: &[String]) -> QueryResult<()> {
    diesel::delete(customer_tags::table.filter(customer_tags::customer_id.eq(id))).execute(conn)?;
    add_tags(conn, id, tags)
}

/// Tags a card that has none of `tags` yet (a new card): no delete first.
pub fn add_tags(conn: &mut DbConn, id: i64, tags: &[String]) -> QueryResult<()> {
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

pub fn exists(conn: &mut DbConn, id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(customers::table.find(id))).get_result(conn)
}

/// The cards with these ids, in one query (in no order; unknown ids are
/// left out).
pub fn by_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<CustomerRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    customers::table
        .filter(customers::id.eq_any(ids))
        .select(CARD)
        .load(conn)
}

/// The cards with these external ids (bulk upsert matching), in one query.
pub fn by_external_ids(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<CustomerRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<i64> = super::batch::external_ids(conn, "customers", ids)?
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    customers::table
        .filter(customers::id.eq_any(found))
        .select(CARD)
        .load(conn)
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;

    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn total_changes(conn: &mut super::DbConn) -> i64 {
        diesel::sql_query("SELECT total_changes() AS n")
            .get_result::<N>(conn)
            .unwrap_or_else(|e| panic!("{e}"))
            .n
    }

    /// On SQLite the card lock only looks: the `UPDATE` of the card's key it
    /// was made SQLite check every foreign key that references the card, and
    /// with no index on `source_customer_id` every write of a contact, need,
    /// purchase or interaction scanned the whole card table (~200 ms each
    /// with 811,000 cards; docs/BENCHMARKS.md, #7 session 18).
    /// SQLite only: `total_changes()` is SQLite's, and on PostgreSQL the
    /// lock is a real row lock (`FOR NO KEY UPDATE`).
    #[test]
    fn the_card_lock_writes_nothing_on_sqlite() {
        let mut c = crate::db::testing::sqlite();
        c.batch_execute(
            "PRAGMA foreign_keys = ON;
             INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at)
               VALUES (1, 'a@x.io', 'A', 'admin', 'x', '2026-12-01 00:00:00', '2026-12-01 00:00:00');
             INSERT INTO customers (id, kind, name, owner_id, created_at, updated_at)
               VALUES (1, 'individual', 'one', 1, '2026-12-01 00:00:00', '2026-12-01 00:00:00');",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let before = total_changes(&mut c);
        assert_eq!(super::lock(&mut c, 1).ok(), Some(true));
        assert_eq!(super::lock(&mut c, 2).ok(), Some(false));
        assert_eq!(total_changes(&mut c), before);
    }
}
