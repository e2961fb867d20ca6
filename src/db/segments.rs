//! Segments (客户细分): rows, static members, and the translation of a rule
//! into SQL over `customers`, so that members are found, counted and summed
//! by the database, never by loading customers into memory.

use std::borrow::Cow;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::sql;
use diesel::expression::{
    is_aggregate, AppearsOnTable, Expression, SelectableExpression, ValidGrouping,
};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Double, Text, Timestamp};

use super::customers::{Full, CARD, STATS};
use super::schema::{customers, segment_members, segments};
use super::{changes, DbConn};
use crate::domain::birthdays::Window;
use crate::domain::codes::{Code, Tier};
use crate::domain::segments::{Cmp, Cond, Field, FieldType, Rule, Scalar, Test};

/// The backend of [`DbConn`] (either engine).
pub type DbBackend = <DbConn as diesel::Connection>::Backend;

pub const DYNAMIC: &str = "dynamic";
pub const STATIC: &str = "static";

#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, AsChangeset)]
#[diesel(table_name = segments, treat_none_as_null = true)]
pub struct SegmentRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    /// The rule as sent (JSON text); null for static segments.
    pub rule: Option<String>,
    pub description: Option<String>,
    pub builtin: bool,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<SegmentRow>> {
    segments::table.find(id).first(conn).optional()
}

pub fn find_by_name(conn: &mut DbConn, name: &str) -> QueryResult<Option<SegmentRow>> {
    segments::table
        .filter(segments::name.eq(name))
        .first(conn)
        .optional()
}

/// One page of segments by id (`limit + 1` rows).
pub fn page(
    conn: &mut DbConn,
    kind: Option<&str>,
    builtin: Option<bool>,
    since: Option<NaiveDateTime>,
    after: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<SegmentRow>> {
    let mut query = segments::table.into_boxed();
    if let Some(since) = since {
        query = query.filter(segments::updated_at.ge(since));
    }
    if let Some(kind) = kind {
        query = query.filter(segments::kind.eq(kind.to_string()));
    }
    if let Some(builtin) = builtin {
        query = query.filter(segments::builtin.eq(builtin));
    }
    if let Some(after) = after {
        query = query.filter(segments::id.gt(after));
    }
    query.order(segments::id.asc()).limit(limit + 1).load(conn)
}

/// Inserts a new segment; `row.id` is ignored and assigned by the database.
pub fn insert(conn: &mut DbConn, row: &SegmentRow) -> QueryResult<SegmentRow> {
    let id: i64 = diesel::insert_into(segments::table)
        .values((
            segments::name.eq(&row.name),
            segments::kind.eq(&row.kind),
            segments::rule.eq(&row.rule),
            segments::description.eq(&row.description),
            segments::builtin.eq(row.builtin),
            segments::version.eq(row.version),
            segments::created_at.eq(row.created_at),
            segments::updated_at.eq(row.updated_at),
        ))
        .returning(segments::id)
        .get_result(conn)?;
    changes::record(conn, changes::SEGMENT, id, changes::CREATED, row.version)?;
    segments::table.find(id).first(conn)
}

/// Saves the row if it still has `expected_version`; false when another
/// writer got there first.
pub fn save(conn: &mut DbConn, row: &SegmentRow, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::update(
        segments::table
            .filter(segments::id.eq(row.id))
            .filter(segments::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    if n == 1 {
        changes::record(
            conn,
            changes::SEGMENT,
            row.id,
            changes::UPDATED,
            row.version,
        )?;
    }
    Ok(n == 1)
}

/// Deletes a segment and its member list; the surveys that target it lose
/// their target (`surveys::untarget`).
pub fn delete(conn: &mut DbConn, id: i64) -> QueryResult<bool> {
    let Some(version) = segments::table
        .find(id)
        .select(segments::version)
        .first::<i64>(conn)
        .optional()?
    else {
        return Ok(false);
    };
    changes::record_deleted(conn, changes::SEGMENT, id, version + 1, None)?;
    super::surveys::untarget(conn, id, super::now())?;
    diesel::delete(segment_members::table.filter(segment_members::segment_id.eq(id)))
        .execute(conn)?;
    Ok(diesel::delete(segments::table.find(id)).execute(conn)? == 1)
}

/// Which of `ids` are customers (archived ones included).
pub fn existing_customers(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<i64>> {
    let mut found = Vec::new();
    // Chunks keep the bind count far below either engine's limit.
    for chunk in ids.chunks(500) {
        let part: Vec<i64> = customers::table
            .filter(customers::id.eq_any(chunk))
            .select(customers::id)
            .load(conn)?;
        found.extend(part);
    }
    Ok(found)
}

/// Which of `ids` are already members of `segment_id`.
pub fn members_among(conn: &mut DbConn, segment_id: i64, ids: &[i64]) -> QueryResult<Vec<i64>> {
    let mut found = Vec::new();
    for chunk in ids.chunks(500) {
        let part: Vec<i64> = segment_members::table
            .filter(segment_members::segment_id.eq(segment_id))
            .filter(segment_members::customer_id.eq_any(chunk))
            .select(segment_members::customer_id)
            .load(conn)?;
        found.extend(part);
    }
    Ok(found)
}

/// Adds customers to a static segment; the caller has removed ids that are
/// members already. One statement per row: multi-row inserts do not compile
/// through the multi-backend connection.
pub fn add_members(
    conn: &mut DbConn,
    segment_id: i64,
    ids: &[i64],
    now: NaiveDateTime,
) -> QueryResult<()> {
    for id in ids {
        diesel::insert_into(segment_members::table)
            .values((
                segment_members::segment_id.eq(segment_id),
                segment_members::customer_id.eq(id),
                segment_members::added_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Records a change of a static segment's member list on the segment: a new
/// version and `updated_at`, so `GET /segments?updated_since=` and the
/// segment's ETag tell a syncing client to read its members again.
pub fn touch(conn: &mut DbConn, segment_id: i64, now: NaiveDateTime) -> QueryResult<()> {
    let version: i64 = diesel::update(segments::table.find(segment_id))
        .set((
            segments::version.eq(segments::version + 1),
            segments::updated_at.eq(now),
        ))
        .returning(segments::version)
        .get_result(conn)?;
    changes::record(
        conn,
        changes::SEGMENT,
        segment_id,
        changes::UPDATED,
        version,
    )
}

/// Removes one member; false when the customer was not a member.
pub fn remove_member(conn: &mut DbConn, segment_id: i64, customer_id: i64) -> QueryResult<bool> {
    let n = diesel::delete(
        segment_members::table
            .filter(segment_members::segment_id.eq(segment_id))
            .filter(segment_members::customer_id.eq(customer_id)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Member count and value totals of a segment (active customers only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub count: i64,
    pub revenue_12m_cents: i64,
    pub profit_12m_cents: i64,
    pub lifetime_revenue_cents: i64,
    pub lifetime_profit_cents: i64,
}

/// Counts and sums the active (not archived) customers in `scope`, in one
/// aggregate query. Sums are cast to BIGINT: PostgreSQL's SUM of bigint is
/// numeric.
pub fn totals(conn: &mut DbConn, scope: &SegmentScope) -> QueryResult<Totals> {
    totals_between(conn, scope, i64::MIN, i64::MAX)
}

/// As [`totals`], over the customers with an id in (`after`, `upto`]: one
/// part of a count split by id range (see `http::segment_totals`).
pub fn totals_between(
    conn: &mut DbConn,
    scope: &SegmentScope,
    after: i64,
    upto: i64,
) -> QueryResult<Totals> {
    let (count, revenue_12m_cents, profit_12m_cents, lifetime_revenue_cents, lifetime_profit_cents) =
        customers::table
            .filter(customers::id.gt(after))
            .filter(customers::id.le(upto))
            .filter(customers::archived_at.is_null())
            .filter(scope.clone())
            .select(sql::<(BigInt, BigInt, BigInt, BigInt, BigInt)>(&format!(
                "COUNT(*), {}, {}, {}, {}",
                super::money_sum("customers.revenue_12m_cents"),
                super::money_sum("customers.profit_12m_cents"),
                super::money_sum("customers.lifetime_revenue_cents"),
                super::money_sum("customers.lifetime_profit_cents"),
            )))
            .get_result::<(i64, i64, i64, i64, i64)>(conn)?;
    Ok(Totals {
        count,
        revenue_12m_cents,
        profit_12m_cents,
        lifetime_revenue_cents,
        lifetime_profit_cents,
    })
}

impl std::ops::Add for Totals {
    type Output = Totals;

    /// Held at the 64-bit range, as each part's sums are (`money_sum`).
    fn add(self, other: Totals) -> Totals {
        Totals {
            count: self.count.saturating_add(other.count),
            revenue_12m_cents: self
                .revenue_12m_cents
                .saturating_add(other.revenue_12m_cents),
            profit_12m_cents: self.profit_12m_cents.saturating_add(other.profit_12m_cents),
            lifetime_revenue_cents: self
                .lifetime_revenue_cents
                .saturating_add(other.lifetime_revenue_cents),
            lifetime_profit_cents: self
                .lifetime_profit_cents
                .saturating_add(other.lifetime_profit_cents),
        }
    }
}

/// Above this many matches, the first members by id are found by walking
/// the primary key (it soon meets enough of them); at or below it, by the
/// rule's own best plan and a sort of the few matches, so that a rare rule
/// does not walk the whole primary key looking for its members.
const SELECTIVE: i64 = 5_000;

/// The first `limit` active members by id, given their `count` (from
/// [`totals`]).
pub fn first_members(
    conn: &mut DbConn,
    scope: &SegmentScope,
    count: i64,
    limit: i64,
) -> QueryResult<Vec<Full>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let query = customers::table
        .filter(customers::archived_at.is_null())
        .filter(scope.clone())
        .select((CARD, STATS))
        .limit(limit)
        .into_boxed();
    if count <= SELECTIVE {
        // `id + 0` hides the order from the primary key index.
        query.order(sql::<BigInt>("customers.id + 0")).load(conn)
    } else {
        query.order(customers::id.asc()).load(conn)
    }
}

/// One piece of the generated SQL: trusted text or a bound value.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Sql(Cow<'static, str>),
    /// SQL that differs by engine: (PostgreSQL, SQLite).
    Engine(&'static str, &'static str),
    Text(String),
    Int(i64),
    Double(f64),
    Time(NaiveDateTime),
}

/// A boolean SQL condition over `customers` selecting a segment's members:
/// a dynamic rule translated to SQL (relative dates resolved at one instant),
/// or membership of a static segment. Use it in `.filter(...)` on any query
/// over `customers`, boxed or not. Every value is a bind parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentScope {
    parts: Vec<Part>,
}

/// Whether a comparison is written `col + 0 < ?`, which no index serves. For
/// ranges over numbers: SQLite keeps no histograms (`sqlite_stat1` has rows
/// per value only), guesses every range selective and then reads a broad
/// segment by one index lookup per member (1.1 s of CPU where a scan takes
/// 0.3 s at 1M customers). Codes, texts and dates keep their indexes; a rule
/// has nearly always one of those to narrow it, and a scan is the bounded
/// worst case.
fn unindexed_range(field: &Field, op: Cmp) -> bool {
    matches!(
        field.ty,
        FieldType::Integer | FieldType::Money | FieldType::Double
    ) && !matches!(op, Cmp::Eq | Cmp::Ne)
}

/// Where a field lives. Fields are `customers` columns of the same name
/// unless listed here.
enum Source {
    Column(&'static str),
    Tags,
    /// `customer_tiers`, which holds only the customers above `small`.
    Tier,
    /// `customers.birthday`, whose window is a set of month-day keys.
    Birthday,
}

fn source(field: &Field) -> Source {
    match field.name {
        "tags" => Source::Tags,
        "tier" => Source::Tier,
        "birthday" => Source::Birthday,
        name => Source::Column(name),
    }
}

/// When a rule is read: `now` for its instants (`-90d`), `today` for its
/// birthday windows (the day a list's pages share, see `for_rule_on`).
#[derive(Debug, Clone, Copy)]
struct At {
    now: NaiveDateTime,
    today: NaiveDate,
}

/// The tiers `not rule` accepts, when `rule` is a tier test [`tier_set`]
/// can read: the other tiers (a card always has a tier).
fn negated_tiers(rule: &Rule) -> Option<Vec<&'static str>> {
    match rule {
        Rule::Cond(c) if matches!(source(c.field), Source::Tier) => {
            let accepted = tier_set(&c.test)?;
            Some(
                Tier::CODES
                    .iter()
                    .copied()
                    .filter(|t| !accepted.contains(t))
                    .collect(),
            )
        }
        _ => None,
    }
}

/// The tiers a test on the tier accepts, when it is a set of codes (the
/// parser allows only codes as values).
fn tier_set(test: &Test) -> Option<Vec<&'static str>> {
    let text = |v: &Scalar| match v {
        Scalar::Text(t) => Some(t.clone()),
        _ => None,
    };
    let named = |names: &[String]| -> Vec<&'static str> {
        Tier::CODES
            .iter()
            .copied()
            .filter(|c| names.iter().any(|n| n == c))
            .collect()
    };
    match test {
        Test::Cmp(Cmp::Eq, v) => Some(named(&[text(v)?])),
        Test::Cmp(Cmp::Ne, v) => {
            let out = text(v)?;
            Some(Tier::CODES.iter().copied().filter(|c| *c != out).collect())
        }
        Test::In(values) => Some(named(&values.iter().map(text).collect::<Option<Vec<_>>>()?)),
        _ => None,
    }
}

impl SegmentScope {
    /// The members of a dynamic segment with `rule`, evaluated at `now`
    /// (its birthday windows from `now`'s date, UTC).
    pub fn for_rule(rule: &Rule, now: NaiveDateTime) -> SegmentScope {
        Self::for_rule_on(rule, now, now.date())
    }

    /// As [`for_rule`](Self::for_rule), with the birthday windows counted
    /// from `today`: a member list's day, which its cursors carry so that
    /// paging across midnight UTC does not mix two days' windows.
    pub fn for_rule_on(rule: &Rule, now: NaiveDateTime, today: NaiveDate) -> SegmentScope {
        let mut scope = SegmentScope { parts: Vec::new() };
        scope.rule(rule, At { now, today });
        scope
    }

    /// The members of the static segment `segment_id`.
    pub fn for_members(segment_id: i64) -> SegmentScope {
        SegmentScope {
            parts: vec![
                Part::Sql(Cow::Borrowed(
                    "customers.id IN (SELECT segment_members.customer_id FROM segment_members \
                     WHERE segment_members.segment_id = ",
                )),
                Part::Int(segment_id),
                Part::Sql(Cow::Borrowed(")")),
            ],
        }
    }

    /// The frozen panel of survey `survey_id` (`db::surveys::freeze_panel`).
    pub fn for_panel(survey_id: i64) -> SegmentScope {
        SegmentScope {
            parts: vec![
                Part::Sql(Cow::Borrowed(
                    "customers.id IN (SELECT survey_panel.customer_id FROM survey_panel \
                     WHERE survey_panel.survey_id = ",
                )),
                Part::Int(survey_id),
                Part::Sql(Cow::Borrowed(")")),
            ],
        }
    }

    /// The cards whose birthday's key (`domain::birthdays`) is in one of
    /// `ranges`: the customer list's `birthday_within_days` (also on the
    /// export and a segment's members) and a rule's `birthday` `within_days`.
    /// The key is computed from the stored date on each
    /// engine (SQLite keeps a date as `YYYY-MM-DD` text) and compared as an
    /// integer, so both engines agree whatever their collation.
    pub fn birthdays(ranges: &[(i64, i64)]) -> SegmentScope {
        let mut scope = SegmentScope { parts: Vec::new() };
        scope.birthday_keys(ranges);
        scope
    }

    fn birthday_keys(&mut self, ranges: &[(i64, i64)]) {
        if ranges.is_empty() {
            self.sql("1 = 0");
            return;
        }
        self.sql("(customers.birthday IS NOT NULL AND (");
        for (i, (low, high)) in ranges.iter().enumerate() {
            if i > 0 {
                self.sql(" OR ");
            }
            self.parts.push(Part::Engine(
                "CAST(to_char(customers.birthday, 'MMDD') AS BIGINT) BETWEEN ",
                "CAST(strftime('%m%d', customers.birthday) AS INTEGER) BETWEEN ",
            ));
            self.parts.push(Part::Int(*low));
            self.sql(" AND ");
            self.parts.push(Part::Int(*high));
        }
        self.sql("))");
    }

    fn sql(&mut self, s: &'static str) {
        self.parts.push(Part::Sql(Cow::Borrowed(s)));
    }

    fn owned(&mut self, s: String) {
        self.parts.push(Part::Sql(Cow::Owned(s)));
    }

    fn value(&mut self, v: &Scalar, at: At) {
        self.parts.push(match v {
            Scalar::Text(s) => Part::Text(s.clone()),
            Scalar::Int(n) => Part::Int(*n),
            Scalar::Double(x) => Part::Double(*x),
            Scalar::Time(w) => Part::Time(super::micros(w.resolve(at.now))),
        });
    }

    /// The value compared by `op`. Instants are stored to the microsecond:
    /// a finer instant is rounded up as the bound of `<` and `>=` and cut
    /// down as that of `<=` and `>`, so each holds for exactly the stored
    /// instants it would hold for at full precision, as the list filters'
    /// bounds do (`instants::bound`). Cut down alone, `gte …00.0000005Z`
    /// took a card stored at `…00.000000`.
    fn compared(&mut self, op: Cmp, v: &Scalar, at: At) {
        match (op, v) {
            (Cmp::Lt | Cmp::Gte, Scalar::Time(w)) => self.parts.push(Part::Time(
                crate::domain::instants::bound(w.resolve(at.now)),
            )),
            _ => self.value(v, at),
        }
    }

    fn list(&mut self, values: &[Scalar], at: At) {
        self.sql("(");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.sql(", ");
            }
            self.value(v, at);
        }
        self.sql(")");
    }

    fn rule(&mut self, rule: &Rule, at: At) {
        match rule {
            Rule::All(rules) | Rule::Any(rules) => {
                let glue = if matches!(rule, Rule::All(_)) {
                    " AND "
                } else {
                    " OR "
                };
                self.sql("(");
                for (i, r) in rules.iter().enumerate() {
                    if i > 0 {
                        self.sql(glue);
                    }
                    self.rule(r, at);
                }
                self.sql(")");
            }
            Rule::Not(r) => match negated_tiers(r) {
                // PostgreSQL joins an `EXISTS` it meets among the ANDs, but
                // runs one under `NOT` (`not small`: `NOT NOT EXISTS`) as a
                // probe per card: 0.3 s more for a rule over 100,000 cards.
                Some(accepted) => self.tier_in(&accepted),
                None => {
                    self.sql("(NOT ");
                    self.rule(r, at);
                    self.sql(")");
                }
            },
            Rule::Cond(c) => self.condition(c, at),
        }
    }

    /// Every condition is true or false, never SQL NULL, so that `not` is
    /// the exact complement: a missing value fails every test except `ne`
    /// and `is_null`.
    fn condition(&mut self, c: &Cond, at: At) {
        match source(c.field) {
            Source::Tags => self.tags(&c.test, at),
            Source::Tier => match tier_set(&c.test) {
                Some(accepted) => self.tier_in(&accepted),
                // The parser allows only `eq`, `ne` and `in` with tier codes.
                None => self.sql("1 = 0"),
            },
            Source::Birthday => match c.test {
                Test::WithinDays(days) => self.birthday_keys(
                    &Window {
                        today: at.today,
                        days,
                    }
                    .key_ranges(),
                ),
                _ => self.compare("customers.birthday".to_string(), c, at),
            },
            Source::Column(name) => self.compare(format!("customers.{name}"), c, at),
        }
    }

    /// Membership of a set of tiers: a tier row of one of them, or for a
    /// set with `small`, no tier row of the others. PostgreSQL gets
    /// `EXISTS`, which it joins among the ANDs and probes by key elsewhere
    /// (an `IN` list of 200,000 ids under `OR` or `NOT` would be a hashed
    /// subplan only while it fits `work_mem`). SQLite gets `id IN (SELECT
    /// …)`, which it reads once and can start from (the tier's index, then
    /// cards by key); a correlated `EXISTS` made it probe the tier of every
    /// card in the id range (0.5 s instead of 25 ms for a rare rule). For a
    /// set with `small`, SQLite's `NOT IN` counts 800,000 members in 0.40 s
    /// (`NOT EXISTS`: 0.63 s) but builds its id list for every statement,
    /// so a members page of such a rule costs ~50 ms at 1M customers (the
    /// customer list's `?tier=small` uses `NOT EXISTS` for that reason).
    fn tier_in(&mut self, accepted: &[&'static str]) {
        let small = Tier::Small.as_str();
        let (negate, tiers): (bool, Vec<&str>) = if accepted.contains(&small) {
            (
                true,
                Tier::CODES
                    .iter()
                    .copied()
                    .filter(|c| !accepted.contains(c))
                    .collect(),
            )
        } else {
            (false, accepted.to_vec())
        };
        if tiers.is_empty() {
            self.sql(if negate { "1 = 1" } else { "1 = 0" });
            return;
        }
        self.parts.push(if negate {
            Part::Engine(
                "NOT EXISTS (SELECT 1 FROM customer_tiers WHERE customer_tiers.customer_id = customers.id \
                 AND customer_tiers.tier IN ",
                "customers.id NOT IN (SELECT customer_tiers.customer_id FROM customer_tiers \
                 WHERE customer_tiers.tier IN ",
            )
        } else {
            Part::Engine(
                "EXISTS (SELECT 1 FROM customer_tiers WHERE customer_tiers.customer_id = customers.id \
                 AND customer_tiers.tier IN ",
                "customers.id IN (SELECT customer_tiers.customer_id FROM customer_tiers \
                 WHERE customer_tiers.tier IN ",
            )
        });
        self.sql("(");
        for (i, tier) in tiers.iter().enumerate() {
            if i > 0 {
                self.sql(", ");
            }
            self.parts.push(Part::Text(tier.to_string()));
        }
        self.sql("))");
    }

    /// A test of the value `col` (SQL over `customers`).
    fn compare(&mut self, col: String, c: &Cond, at: At) {
        let nullable = c.field.nullable;
        match &c.test {
            Test::IsNull(true) => self.owned(format!("{col} IS NULL")),
            Test::IsNull(false) => self.owned(format!("{col} IS NOT NULL")),
            Test::Cmp(Cmp::Ne, v) if nullable => {
                self.owned(format!("({col} IS NULL OR {col} <> "));
                self.value(v, at);
                self.sql(")");
            }
            test => {
                self.owned(if nullable {
                    format!("({col} IS NOT NULL AND ")
                } else {
                    "(".to_string()
                });
                match test {
                    Test::Cmp(op, v) if unindexed_range(c.field, *op) => {
                        self.owned(format!("{col} + 0 {} ", op.sql()));
                        self.compared(*op, v, at);
                    }
                    Test::Cmp(op, v) => {
                        self.owned(format!("{col} {} ", op.sql()));
                        self.compared(*op, v, at);
                    }
                    Test::In(values) => {
                        self.owned(format!("{col} IN "));
                        self.list(values, at);
                    }
                    Test::Contains(term) => {
                        // SQLite's LOWER folds ASCII letters only: a term with
                        // other cased letters ("école") compares through Rust's
                        // Unicode lower-casing, as the term itself was; others
                        // (ASCII, Chinese) keep the built-in, cheaper per row.
                        if needs_unicode_lower(term) {
                            self.parts
                                .push(Part::Engine("REPLACE(LOWER(", "patron_lower("));
                            self.owned(col.to_string());
                            // PostgreSQL's LOWER makes every Σ a σ; a stored
                            // ς is made one too, as `fold` does.
                            self.parts
                                .push(Part::Engine("), 'ς', 'σ') LIKE ", ") LIKE "));
                        } else {
                            self.owned(format!("LOWER({col}) LIKE "));
                        }
                        self.parts.push(Part::Text(like_pattern(&fold(term))));
                        self.sql(" ESCAPE '\\'");
                    }
                    Test::IsNull(_) => self.sql("1 = 1"),
                    // The parser allows a window on a birthday alone.
                    Test::WithinDays(_) => self.sql("1 = 0"),
                }
                self.sql(")");
            }
        }
    }

    fn tags(&mut self, test: &Test, at: At) {
        const TAGGED: &str =
            "customers.id IN (SELECT customer_tags.customer_id FROM customer_tags \
                              WHERE customer_tags.tag ";
        const ANY_TAG: &str = "EXISTS (SELECT 1 FROM customer_tags \
                               WHERE customer_tags.customer_id = customers.id)";
        match test {
            Test::Contains(tag) => {
                self.sql(TAGGED);
                self.sql("= ");
                self.parts.push(Part::Text(tag.clone()));
                self.sql(")");
            }
            Test::In(tags) => {
                self.sql(TAGGED);
                self.sql("IN ");
                self.list(tags, at);
                self.sql(")");
            }
            Test::IsNull(true) => {
                self.sql("NOT ");
                self.sql(ANY_TAG);
            }
            Test::IsNull(false) => self.sql(ANY_TAG),
            // The parser allows no other test on tags.
            Test::Cmp(..) | Test::WithinDays(_) => self.sql("1 = 0"),
        }
    }
}

diesel::define_sql_function! {
    /// Unicode lower-casing on SQLite (`register_unicode_lower`).
    fn patron_lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Registers `patron_lower` on an SQLite connection: [`fold`], the folding
/// the rule's term gets.
pub fn register_unicode_lower(conn: &mut diesel::SqliteConnection) -> QueryResult<()> {
    patron_lower_utils::register_impl(conn, |text: String| fold(&text))
}

/// Lower case, with the word-final sigma ς as σ: Rust lower-cases a
/// word-final Σ to ς and PostgreSQL to σ, so "ΟΔΟΣ" matched on one engine
/// and not on the other until both sides were folded to σ.
pub fn fold(text: &str) -> String {
    text.to_lowercase().replace('ς', "σ")
}

/// Whether `term` has a cased letter outside ASCII, which SQLite's LOWER
/// leaves as it is. Titlecase letters (ǅ, ᾼ) are neither upper nor lower
/// case yet lower-case to another letter: they count too (a review: "ǅ"
/// matched "ǅepina" on PostgreSQL only).
fn needs_unicode_lower(term: &str) -> bool {
    term.chars().any(|c| {
        !c.is_ascii()
            && (c.is_uppercase() || c.is_lowercase() || c.to_lowercase().ne(std::iter::once(c)))
    })
}

/// `%term%`, lower-cased, with `%`, `_` and `\` in the term matched literally.
pub fn like_pattern(term: &str) -> String {
    let escaped = term
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A scope's SQL and binds, the same for every backend type; `postgres`
/// picks the text of the parts that differ by engine.
macro_rules! walk_scope {
    ($scope:expr, $out:ident, $postgres:expr) => {{
        // Every rule makes different SQL: keep it out of the statement cache.
        $out.unsafe_to_cache_prepared();
        for part in &$scope.parts {
            match part {
                Part::Sql(s) => $out.push_sql(s),
                Part::Engine(postgres, sqlite) => {
                    $out.push_sql(if $postgres { postgres } else { sqlite })
                }
                Part::Text(v) => $out.push_bind_param::<Text, _>(v)?,
                Part::Int(v) => $out.push_bind_param::<BigInt, _>(v)?,
                Part::Double(v) => $out.push_bind_param::<Double, _>(v)?,
                Part::Time(v) => $out.push_bind_param::<Timestamp, _>(v)?,
            }
        }
        Ok(())
    }};
}

impl Expression for SegmentScope {
    type SqlType = Bool;
}

impl<QS> AppearsOnTable<QS> for SegmentScope {}

impl<QS> SelectableExpression<QS> for SegmentScope {}

impl ValidGrouping<()> for SegmentScope {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for SegmentScope {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<DbBackend> for SegmentScope {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DbBackend>) -> QueryResult<()> {
        let postgres = matches!(out.backend(), DbBackend::Postgresql(_));
        walk_scope!(self, out, postgres)
    }
}

/// For queries built on the backend's own connection (`db::native`: the
/// customer list).
impl QueryFragment<diesel::pg::Pg> for SegmentScope {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        walk_scope!(self, out, true)
    }
}

impl QueryFragment<diesel::sqlite::Sqlite> for SegmentScope {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::sqlite::Sqlite>) -> QueryResult<()> {
        walk_scope!(self, out, false)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The SQLite text of a rule, with `?` for each bound value.
    fn sql_of(rule: serde_json::Value) -> (String, usize) {
        sql_on(rule, false)
    }

    fn sql_on(rule: serde_json::Value, postgres: bool) -> (String, usize) {
        let rule = Rule::parse(&rule, "rule").unwrap();
        let now = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let scope = SegmentScope::for_rule(&rule, now);
        let mut text = String::new();
        let mut binds = 0;
        for p in &scope.parts {
            match p {
                Part::Sql(s) => text.push_str(s),
                Part::Engine(postgres_sql, sqlite) => {
                    text.push_str(if postgres { postgres_sql } else { sqlite })
                }
                _ => {
                    binds += 1;
                    text.push('?');
                }
            }
        }
        (text, binds)
    }

    #[test]
    fn translates_to_two_valued_sql() {
        let (sql, binds) = sql_of(json!({"all": [
            {"field": "tier", "op": "in", "value": ["important", "secondary"]},
            {"not": {"field": "region", "op": "eq", "value": "Hangzhou"}},
            {"field": "region", "op": "ne", "value": "x"},
            {"field": "tags", "op": "contains", "value": "vip"},
            {"field": "last_contact_at", "op": "lt", "value": "-90d"},
            {"field": "company", "op": "contains", "value": "50%_off"},
            {"field": "purchase_count", "op": "gte", "value": 2},
            {"field": "share_of_wallet", "op": "lt", "value": 0.5}
        ]}));
        assert_eq!(
            sql,
            "(customers.id IN (SELECT customer_tiers.customer_id FROM customer_tiers \
             WHERE customer_tiers.tier IN (?, ?)) AND (NOT (customers.region IS NOT NULL AND customers.region = ?)) \
             AND (customers.region IS NULL OR customers.region <> ?) \
             AND customers.id IN (SELECT customer_tags.customer_id FROM customer_tags WHERE customer_tags.tag = ?) \
             AND (customers.last_contact_at IS NOT NULL AND customers.last_contact_at < ?) \
             AND (customers.company IS NOT NULL AND LOWER(customers.company) LIKE ? ESCAPE '\\') \
             AND (customers.purchase_count + 0 >= ?) \
             AND (customers.share_of_wallet IS NOT NULL AND customers.share_of_wallet + 0 < ?))"
        );
        assert_eq!(binds, 9);
    }

    /// A tier test's text on (PostgreSQL, SQLite) and the tiers bound in.
    fn tier_sql(test: serde_json::Value) -> (String, String, Vec<String>) {
        let scope = match Rule::parse(&test, "rule") {
            Ok(rule) => SegmentScope::for_rule(&rule, NaiveDateTime::default()),
            Err(e) => panic!("{e:?}"),
        };
        let tiers = scope
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.clone()),
                _ => None,
            })
            .collect();
        (sql_on(test.clone(), true).0, sql_on(test, false).0, tiers)
    }

    /// No `customer_tiers` row is `small`: a set of tiers with `small` is
    /// the absence of a row of the other tiers, and a set of every tier (or
    /// none) needs no lookup at all.
    #[test]
    fn tier_tests_are_tier_rows_present_or_absent() {
        let list = |n: usize| format!("({}))", vec!["?"; n].join(", "));
        let pg = |n: usize| {
            format!(
                "EXISTS (SELECT 1 FROM customer_tiers WHERE customer_tiers.customer_id = customers.id \
                 AND customer_tiers.tier IN {}",
                list(n)
            )
        };
        let sqlite = |not: &str, n: usize| {
            format!(
                "customers.id {not}IN (SELECT customer_tiers.customer_id FROM customer_tiers \
                 WHERE customer_tiers.tier IN {}",
                list(n)
            )
        };
        let present = |n: usize| (pg(n), sqlite("", n));
        let absent = |n: usize| (format!("NOT {}", pg(n)), sqlite("NOT ", n));
        let cases = [
            (
                json!({"field": "tier", "op": "eq", "value": "important"}),
                present(1),
                vec!["important"],
            ),
            (
                json!({"field": "tier", "op": "eq", "value": "small"}),
                absent(3),
                vec!["important", "secondary", "ordinary"],
            ),
            (
                json!({"field": "tier", "op": "ne", "value": "small"}),
                present(3),
                vec!["important", "secondary", "ordinary"],
            ),
            (
                json!({"field": "tier", "op": "ne", "value": "ordinary"}),
                absent(1),
                vec!["ordinary"],
            ),
            (
                json!({"field": "tier", "op": "in", "value": ["small", "secondary"]}),
                absent(2),
                vec!["important", "ordinary"],
            ),
            (
                json!({"not": {"field": "tier", "op": "eq", "value": "small"}}),
                present(3),
                vec!["important", "secondary", "ordinary"],
            ),
            (
                json!({"not": {"field": "tier", "op": "in", "value": ["important", "secondary"]}}),
                absent(2),
                vec!["important", "secondary"],
            ),
            (
                json!({"not": {"not": {"field": "tier", "op": "ne", "value": "small"}}}),
                {
                    let (p, s) = absent(3);
                    (format!("(NOT {p})"), format!("(NOT {s})"))
                },
                vec!["important", "secondary", "ordinary"],
            ),
            (
                json!({"field": "tier", "op": "in", "value": ["ordinary", "small", "important", "secondary"]}),
                ("1 = 1".to_string(), "1 = 1".to_string()),
                vec![],
            ),
        ];
        for (test, (pg, sqlite), tiers) in cases {
            assert_eq!(
                tier_sql(test.clone()),
                (pg, sqlite, tiers.iter().map(|t| t.to_string()).collect()),
                "{test}"
            );
        }
        // Every value of `ne` is a code, so the set is never empty; an
        // empty `in` is refused by the parser.
        assert!(Rule::parse(&json!({"field": "tier", "op": "in", "value": []}), "rule").is_err());
    }

    /// A rule's text and its bound integers on (PostgreSQL, SQLite), read
    /// at noon on `today`.
    fn on_day(rule: serde_json::Value, today: NaiveDate) -> (String, String, Vec<i64>) {
        let parsed = Rule::parse(&rule, "rule").unwrap();
        let now = NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let scope = SegmentScope::for_rule_on(&parsed, now, today);
        let text = |postgres: bool| {
            scope
                .parts
                .iter()
                .map(|p| match p {
                    Part::Sql(s) => s.to_string(),
                    Part::Engine(pg, sqlite) => (if postgres { *pg } else { *sqlite }).to_string(),
                    _ => "?".to_string(),
                })
                .collect::<String>()
        };
        let ints = scope
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Int(n) => Some(*n),
                _ => None,
            })
            .collect();
        (text(true), text(false), ints)
    }

    /// A birthday window is the list filter's SQL (`birthday_keys`), from
    /// the day given, not the instant's.
    #[test]
    fn a_birthday_window_is_the_lists_month_day_keys() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let within = |days: i64| json!({"field": "birthday", "op": "within_days", "value": days});
        let (pg, sqlite, keys) = on_day(within(3), day(2026, 12, 30));
        assert_eq!(
            sqlite,
            "(customers.birthday IS NOT NULL AND (\
             CAST(strftime('%m%d', customers.birthday) AS INTEGER) BETWEEN ? AND ? OR \
             CAST(strftime('%m%d', customers.birthday) AS INTEGER) BETWEEN ? AND ?))"
        );
        assert_eq!(
            pg,
            "(customers.birthday IS NOT NULL AND (\
             CAST(to_char(customers.birthday, 'MMDD') AS BIGINT) BETWEEN ? AND ? OR \
             CAST(to_char(customers.birthday, 'MMDD') AS BIGINT) BETWEEN ? AND ?))"
        );
        assert_eq!(keys, vec![101, 102, 1230, 1231]);
        // The same as the list's filter for that window.
        let list = SegmentScope::birthdays(
            &Window {
                today: day(2026, 12, 30),
                days: 3,
            }
            .key_ranges(),
        );
        let rule = SegmentScope::for_rule_on(
            &Rule::parse(&within(3), "rule").unwrap(),
            NaiveDateTime::default(),
            day(2026, 12, 30),
        );
        assert_eq!(rule, list);
        // 28 February of a common year greets the 29th too.
        assert_eq!(on_day(within(0), day(2027, 2, 28)).2, vec![228, 229]);
        // `not` is the complement: cards without a birthday included.
        let (_, sqlite, _) = on_day(json!({"not": within(0)}), day(2026, 6, 10));
        assert!(
            sqlite.starts_with("(NOT (customers.birthday IS NOT NULL AND"),
            "{sqlite}"
        );
        let (_, sqlite, _) = on_day(
            json!({"field": "birthday", "op": "is_null"}),
            day(2026, 6, 10),
        );
        assert_eq!(sqlite, "customers.birthday IS NULL");
        // `for_rule` counts from the instant's UTC date.
        let at = day(2026, 6, 10).and_hms_opt(23, 59, 0).unwrap();
        assert_eq!(
            SegmentScope::for_rule(&Rule::parse(&within(0), "rule").unwrap(), at),
            SegmentScope::birthdays(&[(610, 610)])
        );
    }

    /// `eq` on the referrer is `IS NOT NULL AND =`, which implies the
    /// condition of the partial index `customers_source` on both engines
    /// (tests/api/customers_list/plans.rs runs this text's plan).
    #[test]
    fn a_referrer_test_keeps_the_partial_index() {
        assert_eq!(
            sql_of(json!({"field": "source_customer_id", "op": "eq", "value": 5})),
            (
                "(customers.source_customer_id IS NOT NULL AND customers.source_customer_id = ?)"
                    .to_string(),
                1
            )
        );
        assert_eq!(
            sql_of(json!({"field": "source_customer_id", "op": "ne", "value": 5})).0,
            "(customers.source_customer_id IS NULL OR customers.source_customer_id <> ?)"
        );
    }

    #[test]
    fn like_patterns_are_literal() {
        assert_eq!(like_pattern("50%_Off\\"), "%50\\%\\_off\\\\%");
    }
}
