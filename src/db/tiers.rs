//! The customer pyramid: ranking customers by profit in the window and
//! storing each one's tier, in set-based SQL over id-range chunks that
//! writes only the rows whose tier or profit changed.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::stats::{literal, window_start_months};
use super::DbConn;
use crate::domain::tiers::TierSettings;

pub const TIER_CHANGED: &str = "tier_changed";

const CHUNK: i64 = 100_000;

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = Nullable<BigInt>)]
    n: Option<i64>,
}

fn scalar(conn: &mut DbConn, sql: &str) -> QueryResult<i64> {
    Ok(diesel::sql_query(sql)
        .get_result::<One>(conn)?
        .n
        .unwrap_or(0))
}

/// What a recompute did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recomputed {
    pub customers: i64,
    pub changed: i64,
}

/// Recomputes every active customer's tier. Runs on one connection: the
/// ranking lives in a temporary table for the duration.
pub fn recompute(
    conn: &mut DbConn,
    s: &TierSettings,
    now: NaiveDateTime,
) -> QueryResult<Recomputed> {
    let start = literal(window_start_months(now, s.window_months));
    conn.batch_execute("DROP TABLE IF EXISTS tier_rank")?;
    conn.batch_execute(&format!(
        "CREATE TEMPORARY TABLE tier_rank AS \
         SELECT p.id AS id, p.profit AS profit, ROW_NUMBER() OVER (ORDER BY p.profit DESC, p.id ASC) AS rn FROM ( \
           SELECT c.id AS id, COALESCE(s.profit, 0) AS profit FROM customers c LEFT JOIN ( \
             SELECT customer_id, CAST(SUM(amount_cents - cost_cents) AS BIGINT) AS profit \
             FROM transactions WHERE occurred_at >= {start} GROUP BY customer_id) s ON s.customer_id = c.id \
           WHERE c.archived_at IS NULL) p"
    ))?;
    // The chunks below read the ranking by id range.
    conn.batch_execute("CREATE INDEX tier_rank_id ON tier_rank (id)")?;
    let result = apply(conn, s, now);
    conn.batch_execute("DROP TABLE IF EXISTS tier_rank")?;
    result
}

fn apply(conn: &mut DbConn, s: &TierSettings, now: NaiveDateTime) -> QueryResult<Recomputed> {
    let n = scalar(conn, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM tier_rank")?;
    let (imp, sec, ord) = s.cut_ranks(n);
    let tier = format!(
        "(CASE WHEN r.profit <= 0 THEN 'small' WHEN r.rn <= {imp} THEN 'important' \
          WHEN r.rn <= {sec} THEN 'secondary' WHEN r.rn <= {ord} THEN 'ordinary' ELSE 'small' END)"
    );
    let at = literal(now);
    let max_id = scalar(conn, "SELECT MAX(id) AS n FROM tier_rank")?;
    let mut changed = 0;
    let mut low = 0;
    while low <= max_id {
        let high = low + CHUNK;
        let range = format!("r.id > {low} AND r.id <= {high}");
        changed += super::write_tx(conn, |conn| -> QueryResult<i64> {
            let moved = scalar(
                conn,
                &format!(
                    "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM tier_rank r JOIN customers c ON c.id = r.id \
                     WHERE {range} AND c.tier <> {tier}"
                ),
            )?;
            conn.batch_execute(&format!(
                "INSERT INTO customer_events (customer_id, kind, from_value, to_value, at) \
                   SELECT c.id, '{TIER_CHANGED}', c.tier, {tier}, {at} FROM tier_rank r JOIN customers c ON c.id = r.id \
                   WHERE {range} AND c.tier <> {tier};
                 UPDATE customers SET tier = {tier}, tier_profit_cents = r.profit FROM tier_rank r \
                   WHERE r.id = customers.id AND {range} \
                   AND (customers.tier <> {tier} OR customers.tier_profit_cents <> r.profit);"
            ))?;
            super::changes::record_stage_events(
                conn,
                &format!("e.at = {at} AND e.customer_id > {low} AND e.customer_id <= {high}"),
            )?;
            Ok(moved)
        })?;
        low = high;
    }
    Ok(Recomputed {
        customers: n,
        changed,
    })
}

/// One tier's count and profit.
#[derive(Debug, Clone, QueryableByName)]
pub struct TierTotal {
    #[diesel(sql_type = Text)]
    pub tier: String,
    #[diesel(sql_type = BigInt)]
    pub customers: i64,
    #[diesel(sql_type = BigInt)]
    pub profit_cents: i64,
}

pub fn totals(conn: &mut DbConn) -> QueryResult<Vec<TierTotal>> {
    diesel::sql_query(
        "SELECT tier, CAST(COUNT(*) AS BIGINT) AS customers, \
           CAST(COALESCE(SUM(CASE WHEN tier_profit_cents > 0 THEN tier_profit_cents ELSE 0 END), 0) AS BIGINT) AS profit_cents \
         FROM customers WHERE archived_at IS NULL GROUP BY tier",
    )
    .load(conn)
}

/// (positive profit of the top `top` customers, total positive profit).
pub fn top_profit(conn: &mut DbConn, top: i64) -> QueryResult<(i64, i64)> {
    let top_sum = scalar(
        conn,
        &format!(
            "SELECT CAST(SUM(p) AS BIGINT) AS n FROM (SELECT CASE WHEN tier_profit_cents > 0 THEN tier_profit_cents ELSE 0 END AS p \
             FROM customers WHERE archived_at IS NULL ORDER BY tier_profit_cents DESC, id ASC LIMIT {top}) x"
        ),
    )?;
    let total = scalar(
        conn,
        "SELECT CAST(SUM(tier_profit_cents) AS BIGINT) AS n FROM customers WHERE archived_at IS NULL AND tier_profit_cents > 0",
    )?;
    Ok((top_sum, total))
}

/// Profit by decile of customers (1 = the most profitable tenth).
#[derive(Debug, Clone, QueryableByName)]
pub struct Decile {
    #[diesel(sql_type = BigInt)]
    pub decile: i64,
    #[diesel(sql_type = BigInt)]
    pub customers: i64,
    #[diesel(sql_type = BigInt)]
    pub profit_cents: i64,
}

pub fn deciles(conn: &mut DbConn) -> QueryResult<Vec<Decile>> {
    diesel::sql_query(
        "SELECT CAST(d AS BIGINT) AS decile, CAST(COUNT(*) AS BIGINT) AS customers, CAST(SUM(p) AS BIGINT) AS profit_cents FROM ( \
           SELECT NTILE(10) OVER (ORDER BY tier_profit_cents DESC, id ASC) AS d, \
             CASE WHEN tier_profit_cents > 0 THEN tier_profit_cents ELSE 0 END AS p \
           FROM customers WHERE archived_at IS NULL) x GROUP BY d ORDER BY d",
    )
    .load(conn)
}
