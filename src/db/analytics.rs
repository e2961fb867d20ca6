//! Set-based report queries (churn, sales, the CRM questions, the funnel).
//! The only backend-specific SQL is the period bucket of a timestamp.
//! Only numbers, our own timestamps and fixed codes go into the text.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::stats::literal;
use super::DbConn;
use crate::domain::codes::{ChurnReason, Code, FunnelStage};
use crate::domain::cpr_moves::StageChange;
use crate::domain::funnel_conversion::Entry;

/// How a report buckets time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Month,
    Year,
}

/// `YYYY-MM` or `YYYY` of a timestamp column, on either backend.
fn bucket_sql(conn: &DbConn, bucket: Bucket, col: &str) -> String {
    match (conn, bucket) {
        (DbConn::Sqlite(_), Bucket::Month) => format!("strftime('%Y-%m', {col})"),
        (DbConn::Sqlite(_), Bucket::Year) => format!("strftime('%Y', {col})"),
        (DbConn::Postgresql(_), Bucket::Month) => format!("to_char({col}, 'YYYY-MM')"),
        (DbConn::Postgresql(_), Bucket::Year) => format!("to_char({col}, 'YYYY')"),
    }
}

#[derive(Debug, Clone, QueryableByName)]
pub struct ChurnCell {
    #[diesel(sql_type = Text)]
    pub period: String,
    #[diesel(sql_type = Text)]
    pub reason: String,
    #[diesel(sql_type = BigInt)]
    pub churned: i64,
    #[diesel(sql_type = BigInt)]
    pub lost_revenue_cents: i64,
    #[diesel(sql_type = BigInt)]
    pub won_back: i64,
}

/// Churns recorded in `[from, to)` by period and reason; of `owner_id`, the
/// churns recorded while the card was theirs (the record's owner, not the
/// card's current one: a handed-over card's losses stay with who lost it,
/// and past reports do not move when cards are reassigned).
pub fn churn_cells(
    conn: &mut DbConn,
    from: NaiveDateTime,
    to: NaiveDateTime,
    bucket: Bucket,
    owner_id: Option<i64>,
) -> QueryResult<Vec<ChurnCell>> {
    let period = bucket_sql(conn, bucket, "r.churned_at");
    let owner = owner_id
        .map(|o| format!(" AND r.owner_id = {o}"))
        .unwrap_or_default();
    diesel::sql_query(format!(
        "SELECT {period} AS period, r.reason AS reason, CAST(COUNT(*) AS BIGINT) AS churned, \
           {lost} AS lost_revenue_cents, \
           CAST(COALESCE(SUM(CASE WHEN r.reactivated_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS won_back \
         FROM churn_records r \
         WHERE r.churned_at >= {} AND r.churned_at < {}{owner} \
         GROUP BY {period}, r.reason ORDER BY 1, 2",
        literal(from),
        literal(to),
        lost = super::money_sum("r.lost_revenue_cents"),
    ))
    .load(conn)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct SalesCell {
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = BigInt)]
    pub transactions: i64,
    #[diesel(sql_type = BigInt)]
    pub customers: i64,
    #[diesel(sql_type = BigInt)]
    pub revenue_cents: i64,
    #[diesel(sql_type = BigInt)]
    pub profit_cents: i64,
}

/// What `/analytics/sales` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SalesKey {
    Month,
    Owner,
    Product,
}

/// Revenue and profit of transactions in `[from, to)`, by key.
pub fn sales(
    conn: &mut DbConn,
    from: NaiveDateTime,
    to: NaiveDateTime,
    key: SalesKey,
    owner_id: Option<i64>,
) -> QueryResult<Vec<SalesCell>> {
    let key_sql = match key {
        SalesKey::Month => bucket_sql(conn, Bucket::Month, "t.occurred_at"),
        SalesKey::Owner => "CAST(c.owner_id AS TEXT)".to_string(),
        SalesKey::Product => "t.product".to_string(),
    };
    let owner = owner_id
        .map(|o| format!(" AND c.owner_id = {o}"))
        .unwrap_or_default();
    // Ties by key in byte order on both engines (PostgreSQL's collation
    // put `apple` before `Banana`, SQLite after: a review).
    let order = match (key, &*conn) {
        (SalesKey::Month, _) => "1".to_string(),
        (_, DbConn::Postgresql(_)) => format!("4 DESC, {key_sql} COLLATE \"C\""),
        (_, DbConn::Sqlite(_)) => "4 DESC, 1".to_string(),
    };
    diesel::sql_query(format!(
        "SELECT {key_sql} AS key, CAST(COUNT(*) AS BIGINT) AS transactions, \
           CAST(COUNT(DISTINCT CASE WHEN {purchase} THEN t.customer_id END) AS BIGINT) AS customers, \
           {revenue} AS revenue_cents, \
           {profit} AS profit_cents \
         FROM transactions t JOIN customers c ON c.id = t.customer_id \
         WHERE t.occurred_at >= {} AND t.occurred_at < {}{owner} \
         GROUP BY {key_sql} ORDER BY {order}",
        literal(from),
        literal(to),
        purchase = super::purchase("t"),
        revenue = super::money_sum("t.amount_cents"),
        profit = super::money_sum("t.amount_cents - t.cost_cents"),
    ))
    .load(conn)
}

#[derive(Debug, Clone, Copy, QueryableByName)]
pub struct Overview {
    #[diesel(sql_type = BigInt)]
    pub customers: i64,
    #[diesel(sql_type = BigInt)]
    pub bought: i64,
    #[diesel(sql_type = BigInt)]
    pub bought_twice_or_more: i64,
    #[diesel(sql_type = BigInt)]
    pub bought_once: i64,
    #[diesel(sql_type = BigInt)]
    pub never_contacted: i64,
    #[diesel(sql_type = BigInt)]
    pub silent_losses: i64,
    #[diesel(sql_type = BigInt)]
    pub bought_before: i64,
    #[diesel(sql_type = BigInt)]
    pub bought_twice_before: i64,
}

/// The CRM questions over the customers existing at `to` (not archived),
/// optionally of one owner. `before` is the start of the same-length period
/// before `from`. Definitions: see `http::analytics_overview`.
pub fn overview(
    conn: &mut DbConn,
    before: NaiveDateTime,
    from: NaiveDateTime,
    to: NaiveDateTime,
    year_before_to: NaiveDateTime,
    owner_id: Option<i64>,
) -> QueryResult<Overview> {
    let period = Period {
        before: literal(before),
        from: literal(from),
        to: literal(to),
        year_before_to: literal(year_before_to),
    };
    let sql = match owner_id {
        Some(owner) => overview_of_owner(&period, owner),
        None => overview_of_all(conn, &period),
    };
    diesel::sql_query(sql).get_result(conn)
}

/// The overview's bounds, as SQL literals.
struct Period {
    before: String,
    from: String,
    to: String,
    /// Customers since before then are old ones (silent losses).
    year_before_to: String,
}

/// One owner's book, card by card: a few index look-ups per card, so the
/// cost follows the size of the book (61 ms for 50,000 cards on SQLite).
fn overview_of_owner(p: &Period, owner: i64) -> String {
    let (b, f, t, year_before_to) = (&p.before, &p.from, &p.to, &p.year_before_to);
    let bought = super::purchase("t");
    let count_in = |lo: &str, hi: &str| {
        format!(
            "(SELECT COUNT(*) FROM transactions t WHERE t.customer_id = c.id AND t.occurred_at >= {lo} AND t.occurred_at < {hi} AND {bought})"
        )
    };
    let in_period = count_in(f, t);
    let in_before = count_in(b, f);
    let since = customer_since("c");
    let unheard = unheard("x.id", b);
    format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS customers, \
           CAST(COALESCE(SUM(CASE WHEN x.n >= 1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS bought, \
           CAST(COALESCE(SUM(CASE WHEN x.n >= 2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS bought_twice_or_more, \
           CAST(COALESCE(SUM(CASE WHEN x.n = 1 AND x.lifetime = 1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS bought_once, \
           CAST(COALESCE(SUM(x.never_contacted), 0) AS BIGINT) AS never_contacted, \
           CAST(COALESCE(SUM(CASE WHEN x.n = 0 AND x.nb >= 1 AND x.old = 1 AND {unheard} THEN 1 ELSE 0 END), 0) AS BIGINT) AS silent_losses, \
           CAST(COALESCE(SUM(CASE WHEN x.nb >= 1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS bought_before, \
           CAST(COALESCE(SUM(CASE WHEN x.nb >= 2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS bought_twice_before \
         FROM (SELECT c.id, {in_period} AS n, {in_before} AS nb, c.purchase_count AS lifetime, \
             CASE WHEN NOT EXISTS (SELECT 1 FROM interactions i WHERE i.customer_id = c.id AND i.occurred_at < {t}) THEN 1 ELSE 0 END AS never_contacted, \
             CASE WHEN {since} < {year_before_to} THEN 1 ELSE 0 END AS old \
           FROM customers c WHERE c.archived_at IS NULL AND {since} < {t} AND c.owner_id = {owner}) x"
    )
}

/// No word from the customer `col` since `b` (a literal: the start of the
/// window before the period): no complaint, no churn recorded with a note.
/// Words from before that window were about an earlier lapse, which the
/// customer bought again after.
fn unheard(col: &str, b: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM interactions i WHERE i.customer_id = {col} AND i.type = 'complaint' AND i.occurred_at >= {b}) \
         AND NOT EXISTS (SELECT 1 FROM churn_records r WHERE r.customer_id = {col} AND r.note IS NOT NULL AND r.churned_at >= {b})"
    )
}

/// All cards, set by set: the purchases and contacts are grouped by customer
/// once, and only their customers are checked against the counted cards.
/// Card by card, a million cards took 5–8 s; this takes 0.7–0.9 s
/// (docs/BENCHMARKS.md, session 19), reading card rows only for the few
/// silent-loss candidates and first-time single buyers on SQLite.
fn overview_of_all(conn: &DbConn, p: &Period) -> String {
    let (b, f, t, year_before_to) = (&p.before, &p.from, &p.to, &p.year_before_to);
    let counted = |col: &str| counted_card(conn, col, t);
    let since = customer_since("c");
    let bought = super::purchase("t");
    let unheard = unheard("x.customer_id", b);
    let (cards, buyers, contacted) = (
        counted("c.id"),
        counted("x.customer_id"),
        counted("y.customer_id"),
    );
    format!(
        "SELECT a.customers AS customers, \
           CAST(COALESCE(p.bought, 0) AS BIGINT) AS bought, \
           CAST(COALESCE(p.twice, 0) AS BIGINT) AS bought_twice_or_more, \
           CAST(COALESCE(p.once, 0) AS BIGINT) AS bought_once, \
           CAST(a.customers - i.contacted AS BIGINT) AS never_contacted, \
           CAST(COALESCE(p.silent, 0) AS BIGINT) AS silent_losses, \
           CAST(COALESCE(p.bought_before, 0) AS BIGINT) AS bought_before, \
           CAST(COALESCE(p.twice_before, 0) AS BIGINT) AS bought_twice_before \
         FROM (SELECT CAST(COUNT(*) AS BIGINT) AS customers FROM customers c WHERE {cards}) a, \
         (SELECT SUM(CASE WHEN x.n >= 1 THEN 1 ELSE 0 END) AS bought, \
             SUM(CASE WHEN x.n >= 2 THEN 1 ELSE 0 END) AS twice, \
             SUM(CASE WHEN x.nb >= 1 THEN 1 ELSE 0 END) AS bought_before, \
             SUM(CASE WHEN x.nb >= 2 THEN 1 ELSE 0 END) AS twice_before, \
             SUM(CASE WHEN x.n = 1 AND x.earlier = 0 \
               AND EXISTS (SELECT 1 FROM customers c WHERE c.id = x.customer_id AND c.purchase_count = 1) \
               THEN 1 ELSE 0 END) AS once, \
             SUM(CASE WHEN x.n = 0 AND x.nb > 0 \
               AND EXISTS (SELECT 1 FROM customers c WHERE c.id = x.customer_id AND {since} < {year_before_to}) \
               AND {unheard} \
               THEN 1 ELSE 0 END) AS silent \
           FROM (SELECT t.customer_id, \
               SUM(CASE WHEN t.occurred_at >= {f} THEN 1 ELSE 0 END) AS n, \
               SUM(CASE WHEN t.occurred_at >= {b} AND t.occurred_at < {f} THEN 1 ELSE 0 END) AS nb, \
               SUM(CASE WHEN t.occurred_at < {f} THEN 1 ELSE 0 END) AS earlier \
             FROM transactions t WHERE t.occurred_at < {t} AND {bought} GROUP BY t.customer_id) x \
           WHERE {buyers}) p, \
         (SELECT CAST(COUNT(*) AS BIGINT) AS contacted FROM \
             (SELECT i.customer_id FROM interactions i WHERE i.occurred_at < {t} GROUP BY i.customer_id) y \
           WHERE {contacted}) i"
    )
}

/// The new customers of `overview` lost in `[from, to)`, and why.
#[derive(Debug, Clone)]
pub struct NewLosses {
    /// Customers with a churn in the period that found them new.
    pub customers: i64,
    /// Each churn reason recorded in the period with the customers it was
    /// recorded for (a customer with two churns of different reasons counts
    /// in both), most first, then by reason.
    pub by_reason: Vec<ReasonCount>,
}

#[derive(Debug, QueryableByName)]
struct Loss {
    #[diesel(sql_type = BigInt)]
    customer_id: i64,
    #[diesel(sql_type = Text)]
    reason: String,
    #[diesel(sql_type = Timestamp)]
    churned_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    since: NaiveDateTime,
}

/// The churns recorded in `[from, to)` of the cards the overview counts
/// that found the customer new (`domain::churn::new_when_lost`). Each churn
/// is judged at its own date, in Rust: the engines add months to a date
/// differently (SQLite's 29 February less 12 months is 1 March), and a
/// condition on the report's end counted a loss in a month's report and not
/// in the year's around it (a review). The SQL keeps the customers since 12
/// months before `from` (as the rule counts months), of which those are a
/// part: a churn at or after `from` judges from that point or later.
pub fn new_losses(
    conn: &mut DbConn,
    from: NaiveDateTime,
    to: NaiveDateTime,
    owner_id: Option<i64>,
) -> QueryResult<NewLosses> {
    let (f, t) = (literal(from), literal(to));
    // The rule's own month arithmetic (chrono's, ending a shorter month on
    // its last day), not the 12-month figures' window: that one starts 29
    // February's year on 1 March, and dropped a customer since 28 February
    // 20:00 whom the rule, at a churn on 29 February 13:00, found new.
    let year_before_from = literal(
        from.checked_sub_months(chrono::Months::new(12))
            .unwrap_or(NaiveDateTime::MIN),
    );
    let since = customer_since("c");
    let owner = owner_id
        .map(|o| format!(" AND c.owner_id = {o}"))
        .unwrap_or_default();
    let losses: Vec<Loss> = diesel::sql_query(format!(
        "SELECT r.customer_id AS customer_id, r.reason AS reason, r.churned_at AS churned_at, \
           {since} AS since \
         FROM churn_records r JOIN customers c ON c.id = r.customer_id \
         WHERE r.churned_at >= {f} AND r.churned_at < {t} AND c.archived_at IS NULL \
           AND {since} >= {year_before_from} AND {since} < {t}{owner}"
    ))
    .load(conn)?;
    let mut customers = BTreeSet::new();
    let mut by_reason: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for loss in losses
        .into_iter()
        .filter(|l| crate::domain::churn::new_when_lost(l.since, l.churned_at))
    {
        customers.insert(loss.customer_id);
        by_reason
            .entry(loss.reason)
            .or_default()
            .insert(loss.customer_id);
    }
    let mut by_reason: Vec<ReasonCount> = by_reason
        .into_iter()
        .map(|(reason, ids)| ReasonCount {
            reason,
            customers: ids.len() as i64,
        })
        .collect();
    // In Rust: the engines' collations order text differently. Ties in the
    // order of `/reference/churn-reasons`, as `/analytics/churn` lists them
    // (the codes' order differed: a review).
    let rank = |code: &str| ChurnReason::ALL.iter().position(|r| r.as_str() == code);
    by_reason.sort_by(|a, b| {
        b.customers
            .cmp(&a.customers)
            .then_with(|| rank(&a.reason).cmp(&rank(&b.reason)))
            .then_with(|| a.reason.cmp(&b.reason))
    });
    Ok(NewLosses {
        customers: customers.len() as i64,
        by_reason,
    })
}

#[derive(Debug, Clone, QueryableByName)]
pub struct ReasonCount {
    #[diesel(sql_type = Text)]
    pub reason: String,
    #[diesel(sql_type = BigInt)]
    pub customers: i64,
}

/// Since when the card `alias` is a customer: its first purchase when that
/// is older than the card (an ERP loads its cards with years of orders; by
/// the card's creation alone every past period counted nobody), else the
/// card's creation.
fn customer_since(alias: &str) -> String {
    format!(
        "(CASE WHEN {alias}.first_purchase_at < {alias}.created_at \
          THEN {alias}.first_purchase_at ELSE {alias}.created_at END)"
    )
}

/// A condition keeping the rows whose `col` is a card the overview counts:
/// not archived and a customer before `t` (a literal; `customer_since`). SQLite looks the id up in
/// lists read from the archived and creation indexes (reading its wide card
/// rows was most of the time); PostgreSQL anti-joins with a hash of the cards
/// that do not count, because its `NOT IN` falls back to a scan per row once
/// the list outgrows `work_mem`.
fn counted_card(conn: &DbConn, col: &str, t: &str) -> String {
    match conn {
        DbConn::Sqlite(_) => format!(
            "{col} NOT IN (SELECT z.id FROM customers z WHERE z.archived_at IS NOT NULL) \
             AND {col} NOT IN (SELECT z.id FROM customers z WHERE z.created_at >= {t} \
               AND (z.first_purchase_at IS NULL OR z.first_purchase_at >= {t}))"
        ),
        DbConn::Postgresql(_) => format!(
            "NOT EXISTS (SELECT 1 FROM customers z WHERE z.id = {col} \
             AND (z.archived_at IS NOT NULL OR (z.created_at >= {t} \
               AND (z.first_purchase_at IS NULL OR z.first_purchase_at >= {t}))))"
        ),
    }
}

/// One funnel-stage entry of a customer.
#[derive(Debug, Clone, QueryableByName)]
struct EntryRow {
    #[diesel(sql_type = BigInt)]
    customer_id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    to_value: Option<String>,
    #[diesel(sql_type = Timestamp)]
    at: NaiveDateTime,
}

/// Every funnel-stage entry (up to now) of each customer who entered some
/// stage in `[from, to)`: the period's cohort only, read in customer order
/// (the events' `(customer_id, at, id)` index) and handed to `each` one
/// customer at a time: collected first, the 951,777 customers of the
/// bench's cohort took the server from 38 to 396 MB.
pub fn funnel_entries(
    conn: &mut DbConn,
    from: NaiveDateTime,
    to: NaiveDateTime,
    owner_id: Option<i64>,
    mut each: impl FnMut(&[Entry]),
) -> QueryResult<()> {
    let owner = owner_id
        .map(|o| format!(" AND c.owner_id = {o}"))
        .unwrap_or_default();
    let query = diesel::sql_query(format!(
        "SELECT e.customer_id, e.to_value, e.at \
         FROM customer_events e JOIN customers c ON c.id = e.customer_id \
         WHERE e.kind = '{kind}' AND c.archived_at IS NULL{owner} AND e.customer_id IN ( \
           SELECT p.customer_id FROM customer_events p WHERE p.kind = '{kind}' \
           AND p.at >= {} AND p.at < {}) \
         ORDER BY e.customer_id, e.at, e.id",
        literal(from),
        literal(to),
        kind = super::events::FUNNEL_STAGE_CHANGED,
    ));
    let mut customer = None;
    let mut entries: Vec<Entry> = Vec::new();
    super::reports::each_row(conn, query, |r: EntryRow| {
        if customer != Some(r.customer_id) {
            if !entries.is_empty() {
                each(&entries);
            }
            entries.clear();
            customer = Some(r.customer_id);
        }
        let stage = r.to_value.as_deref().and_then(FunnelStage::parse);
        if let Some(i) = stage.and_then(|s| FunnelStage::ALL.iter().position(|a| *a == s)) {
            entries.push((i, r.at));
        }
    })?;
    if !entries.is_empty() {
        each(&entries);
    }
    Ok(())
}

#[derive(QueryableByName)]
struct StageChangeRow {
    #[diesel(sql_type = BigInt)]
    customer_id: i64,
    #[diesel(sql_type = Timestamp)]
    created_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Text>)]
    from_value: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    to_value: Option<String>,
    #[diesel(sql_type = Timestamp)]
    at: NaiveDateTime,
}

/// Every CPR stage change before `to` of each active customer with one in
/// `[from, to)` (only they move in the period; their earlier changes start
/// its stays), in customer order, handed to `each` one customer at a time,
/// as [`funnel_entries`] does: the report read every change of every
/// customer since the first start-up into memory, which grows with every
/// hourly window move (an outside review).
pub fn cpr_changes(
    conn: &mut DbConn,
    from: NaiveDateTime,
    to: NaiveDateTime,
    owner: Option<i64>,
    mut each: impl FnMut(&[StageChange]),
) -> QueryResult<()> {
    let owner = owner
        .map(|o| format!(" AND c.owner_id = {o}"))
        .unwrap_or_default();
    let query = diesel::sql_query(format!(
        "SELECT e.customer_id, c.created_at, e.from_value, e.to_value, e.at \
         FROM customer_events e JOIN customers c ON c.id = e.customer_id \
         WHERE e.kind = '{kind}' AND c.archived_at IS NULL AND e.at < {to}{owner} \
           AND e.customer_id IN (SELECT p.customer_id FROM customer_events p \
             WHERE p.kind = '{kind}' AND p.at >= {from} AND p.at < {to}) \
         ORDER BY e.customer_id, e.at, e.id",
        from = literal(from),
        to = literal(to),
        kind = super::cpr::CPR_STAGE_CHANGED,
    ));
    let mut changes: Vec<StageChange> = Vec::new();
    super::reports::each_row(conn, query, |r: StageChangeRow| {
        if changes
            .last()
            .is_some_and(|c| c.customer_id != r.customer_id)
        {
            each(&changes);
            changes.clear();
        }
        changes.push(StageChange {
            customer_id: r.customer_id,
            created_at: r.created_at,
            from: r.from_value.unwrap_or_default(),
            to: r.to_value.unwrap_or_default(),
            at: r.at,
        });
    })?;
    if !changes.is_empty() {
        each(&changes);
    }
    Ok(())
}
