//! The customer pyramid: ranking customers by profit in the window and
//! storing each one's tier, in set-based SQL over id-range chunks that
//! writes only the rows whose tier or profit changed.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::stats::literal;
use super::DbConn;
use crate::domain::pareto::{Pareto, Ranking};
use crate::domain::periods::window_start;
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

/// Recomputes every active customer's tier, and records the window ranked
/// over with the last of them ([`mark_ranked`]). Runs on one connection:
/// the ranking lives in a temporary table for the duration.
///
/// With the default 12-month window the ranking reads each card's
/// `profit_12m_cents` (kept current by every transaction write; the caller
/// moves the window to `now` first, `cpr::follow_window`, which touches only
/// the customers whose purchases left it since the last move), so no
/// transaction is read. Any
/// other window sums the window's transactions in one grouped scan:
/// correct, but seconds to minutes at millions of transactions.
pub fn recompute(
    conn: &mut DbConn,
    s: &TierSettings,
    now: NaiveDateTime,
) -> QueryResult<Recomputed> {
    conn.batch_execute(DROP_TEMPORARY)?;
    let result = rank(conn, s, now).and_then(|n| apply(conn, s, n, now));
    conn.batch_execute(DROP_TEMPORARY)?;
    let done = result?;
    super::statistics::after_rows_moved(conn, "customer_tiers", done.changed, done.customers)?;
    Ok(done)
}

const DROP_TEMPORARY: &str = "DROP TABLE IF EXISTS tier_rank; DROP TABLE IF EXISTS tier_now; \
     DROP TABLE IF EXISTS tier_moves; DROP TABLE IF EXISTS tier_chunk; \
     DROP TABLE IF EXISTS tier_stale";

/// Fills the temporary `tier_rank (id, profit, rn)` and returns how many
/// customers the cut-offs apply to: the active ones with a positive profit
/// in the window (`domain::tiers::ranked_population`).
fn rank(conn: &mut DbConn, s: &TierSettings, now: NaiveDateTime) -> QueryResult<i64> {
    let n = if s.window_months == 12 {
        // The caller moved the window (`cpr::follow_window`, which brings
        // the CPR figures along): moved again here, a write committed in
        // between could be rewritten with nothing to bring its CPR figures
        // along (a review).
        rank_from_cards(conn, s)?
    } else {
        rank_from_transactions(conn, s, now)?
    };
    // The chunks below read the ranking by id.
    conn.batch_execute("CREATE INDEX tier_rank_id ON tier_rank (id)")?;
    Ok(n)
}

/// Ranks from the cards. Only the customers that can be above `small`
/// (the first `ordinary` ranks among those with a positive profit) go into
/// the ranking table; everyone else is `small`. The profit ranked by is the
/// card's `profit_12m_cents`, which the pyramid reads (see
/// [`profit_column`]): no copy of it is written.
fn rank_from_cards(conn: &mut DbConn, s: &TierSettings) -> QueryResult<i64> {
    // A range of `customers_profit_12m`.
    let n = scalar(
        conn,
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM customers \
         WHERE profit_12m_cents > 0 AND archived_at IS NULL",
    )?;
    let (_, _, ord) = s.cut_ranks(n);
    // `customers_profit_12m` (profit_12m_cents DESC, id, archived_at) hands
    // these over in order: no sort of a million rows.
    conn.batch_execute(&format!(
        "CREATE TEMPORARY TABLE tier_rank AS \
         SELECT x.id AS id, x.profit AS profit, ROW_NUMBER() OVER (ORDER BY x.profit DESC, x.id ASC) AS rn FROM ( \
           SELECT id, profit_12m_cents AS profit FROM customers \
           WHERE archived_at IS NULL AND profit_12m_cents > 0 \
           ORDER BY profit_12m_cents DESC, id ASC LIMIT {ord}) x"
    ))?;
    Ok(n)
}

/// Ranks every active customer from the transactions of the window (any
/// window length). All of them are in the ranking, not only those with a
/// profit: each ranked card's `tier_profit_cents` is rewritten from it.
fn rank_from_transactions(
    conn: &mut DbConn,
    s: &TierSettings,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    let start = literal(window_start(now, s.window_months));
    conn.batch_execute(&format!(
        "CREATE TEMPORARY TABLE tier_rank AS \
         SELECT p.id AS id, p.profit AS profit, ROW_NUMBER() OVER (ORDER BY p.profit DESC, p.id ASC) AS rn FROM ( \
           SELECT c.id AS id, COALESCE(s.profit, 0) AS profit FROM customers c LEFT JOIN ( \
             SELECT customer_id, {profit} AS profit \
             FROM transactions WHERE occurred_at >= {start} GROUP BY customer_id) s ON s.customer_id = c.id \
           WHERE c.archived_at IS NULL) p",
        profit = super::money_sum("amount_cents - cost_cents"),
    ))?;
    scalar(
        conn,
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM tier_rank WHERE profit > 0",
    )
}

/// Finds the moves and writes them in id-range chunks, each in its own
/// transaction with its history events and feed entries.
///
/// The moves are the ranked whose tier differs, and the customers above
/// `small` who are no longer ranked (archived ones included). Both sides
/// are at most the customers above `small` (~20 %), read from
/// `customer_tiers` and the ranking, so nothing reads the other 80 % of the
/// cards. Both are indexed temporary
/// tables, so each join is a lookup per row on both engines.
fn apply(
    conn: &mut DbConn,
    s: &TierSettings,
    n: i64,
    now: NaiveDateTime,
) -> QueryResult<Recomputed> {
    let (imp, sec, ord) = s.cut_ranks(n);
    let tier = tier_sql(imp, sec, ord);
    // Archived cards' tiers too: not ranked, they go back to `small`. Kept,
    // a card restored after this recompute came back in a tier no recompute
    // had given it since, above the pyramid's cut (an outside review).
    conn.batch_execute(&format!(
        "CREATE TEMPORARY TABLE tier_now AS SELECT t.customer_id AS id, t.tier AS tier \
           FROM customer_tiers t; \
         CREATE INDEX tier_now_id ON tier_now (id); \
         CREATE TEMPORARY TABLE tier_moves AS \
           SELECT r.id AS id, COALESCE(n.tier, '{SMALL}') AS old_tier, {tier} AS new_tier \
             FROM tier_rank r LEFT JOIN tier_now n ON n.id = r.id \
             WHERE COALESCE(n.tier, '{SMALL}') <> {tier} \
           UNION ALL \
           SELECT n.id, n.tier, '{SMALL}' FROM tier_now n \
             WHERE NOT EXISTS (SELECT 1 FROM tier_rank r WHERE r.id = n.id); \
         CREATE INDEX tier_moves_id ON tier_moves (id);"
    ))?;
    // Another window than 12 months also keeps the profit ranked by on the
    // card, for the pyramid (`tier_profit_cents`): every ranked card, not
    // only the moves. The archived cards, which this recompute gives no
    // tier, get 0: kept, an earlier recompute's figure came back with the
    // card's restore and counted in the pyramid and the Pareto view beside
    // this recompute's (an outside review). Zeroed after the copy: a card
    // archived after the ranking, before this list, gets no tier either
    // (`write_moves`).
    let copy_profit = s.window_months != 12;
    let mut max_id = scalar(conn, "SELECT MAX(id) AS n FROM tier_moves")?;
    if copy_profit {
        // From the small index of archived cards (`customers_archived`).
        conn.batch_execute(
            "CREATE TEMPORARY TABLE tier_stale AS SELECT c.id AS id FROM customers c \
               WHERE c.archived_at IS NOT NULL AND c.tier_profit_cents <> 0; \
             CREATE INDEX tier_stale_id ON tier_stale (id);",
        )?;
        max_id = max_id
            .max(scalar(conn, "SELECT MAX(id) AS n FROM tier_rank")?)
            .max(scalar(conn, "SELECT MAX(id) AS n FROM tier_stale")?);
    }
    let at = literal(now);
    let mut changed = 0;
    let mut low = 0;
    loop {
        let high = low + CHUNK;
        // The last chunk (the only one, without moves) records the window.
        let last = high >= max_id;
        changed += super::write_tx(conn, |conn| -> QueryResult<i64> {
            serialize_chunks(conn)?;
            lock_chunk(conn, low, high, copy_profit)?;
            let before = super::events::last_id(conn)?;
            let moved = write_moves(conn, low, high, &at)?;
            if copy_profit {
                conn.batch_execute(&format!(
                    "UPDATE customers SET tier_profit_cents = r.profit FROM tier_rank r \
                     WHERE r.id = customers.id AND r.id > {low} AND r.id <= {high} \
                     AND customers.tier_profit_cents <> r.profit; \
                     UPDATE customers SET tier_profit_cents = 0 \
                     WHERE id IN (SELECT id FROM tier_stale WHERE id > {low} AND id <= {high}) \
                     AND tier_profit_cents <> 0"
                ))?;
            }
            if moved > 0 {
                super::changes::record_new_stage_events(
                    conn,
                    &format!(
                        "e.id > {before} AND e.kind = '{TIER_CHANGED}' AND e.at = {at} \
                         AND e.customer_id > {low} AND e.customer_id <= {high}"
                    ),
                )?;
            }
            if last {
                mark_ranked(conn, s, now)?;
            }
            i64::try_from(moved)
                .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))
        })?;
        if last {
            break;
        }
        low = high;
    }
    Ok(Recomputed {
        customers: n,
        changed,
    })
}

/// Records the window the tiers were ranked over ([`Ranked`]), in the
/// transaction of the last chunk: the pyramid reads the profit of that
/// window ([`profit_column`]), and the mark must change with the tiers it
/// describes. Written after that transaction, a failure in between (a crash,
/// the settings write refused) left the new tiers beside the old window's
/// profit, the copy of an earlier recompute or another window's figure,
/// until the next recompute; written before the chunks, a failed chunk left
/// the old tiers beside a profit column no recompute had written for them.
/// In the last chunk, a recompute that fails leaves the old mark with the
/// profit column it names unchanged when either window is 12 months: a
/// window other than 12 months writes `tier_profit_cents`, which the old
/// 12-month mark does not read, and a 12-month window writes no profit
/// (over chunks, the committed ones hold some tiers of the new ranking, as
/// for any recompute that fails midway). From one other window to another
/// (6 to 3) the old mark reads `tier_profit_cents` as the chunks rewrite
/// it: the sums mix the two windows until the last chunk commits (README,
/// an outside review; a column per window would be needed to avoid it).
fn mark_ranked(conn: &mut DbConn, s: &TierSettings, now: NaiveDateTime) -> QueryResult<()> {
    let ranked = Ranked {
        window_months: s.window_months,
    };
    let json = serde_json::to_string(&ranked)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    super::settings::set_json(conn, super::settings::TIERS_RANKED, &json, now)
}

/// The tier a customer without a `customer_tiers` row has.
const SMALL: &str = "small";

/// Applies the moves of ids in (`low`, `high`] and records one history
/// event per card actually moved. The moves were computed before this
/// transaction, so each card is re-checked here (still active unless it
/// moves to `small`, still in the tier the move starts from): a concurrent
/// recompute that moved it first must not make this one record the same
/// change again. The chunk holds
/// [`serialize_chunks`]'s lock, so the check sees the other recompute's
/// chunks committed; nothing else writes `customer_tiers`. The checked
/// moves are kept in `tier_chunk`, and the events and the tier rows are
/// written from that one reading: checked again by each statement, a card
/// archived or restored between two of them (PostgreSQL reads each
/// statement afresh) would get an event without a move, or a move without
/// one.
/// The chunk's cards come locked ([`lock_chunk`]).
fn write_moves(conn: &mut DbConn, low: i64, high: i64, at: &str) -> QueryResult<usize> {
    conn.batch_execute(&format!(
        "DROP TABLE IF EXISTS tier_chunk; \
         CREATE TEMPORARY TABLE tier_chunk AS SELECT m.id AS id, m.old_tier AS old_tier, m.new_tier AS new_tier \
           FROM tier_moves m LEFT JOIN customer_tiers t ON t.customer_id = m.id \
           WHERE m.id > {low} AND m.id <= {high} AND (m.new_tier = '{SMALL}' OR {}) \
             AND COALESCE(t.tier, '{SMALL}') = m.old_tier;",
        active("m.id")
    ))?;
    let moved = diesel::sql_query(format!(
        "INSERT INTO customer_events (customer_id, kind, from_value, to_value, at) \
         SELECT id, '{TIER_CHANGED}', old_tier, new_tier, {at} FROM tier_chunk"
    ))
    .execute(conn)?;
    // `WHERE` before `ON CONFLICT`: SQLite's parser needs it there.
    conn.batch_execute(&format!(
        "INSERT INTO customer_tiers (customer_id, tier) SELECT id, new_tier FROM tier_chunk \
           WHERE new_tier <> '{SMALL}' \
         ON CONFLICT (customer_id) DO UPDATE SET tier = excluded.tier; \
         DELETE FROM customer_tiers WHERE customer_id IN \
           (SELECT id FROM tier_chunk WHERE new_tier = '{SMALL}'); \
         DROP TABLE tier_chunk;"
    ))?;
    Ok(moved)
}

/// Locks the cards a chunk writes, in id order (PostgreSQL; SQLite's writers
/// take turns), as the CPR and loyalty recomputes lock theirs: the cards it
/// may move, and with `copy_profit` those whose window profit it rewrites.
/// A card write renders the card (its tier included) for the change feed
/// before it queues for its feed number, so one that read the old tier
/// while a chunk was uncommitted got a number after the chunk's
/// `tier_changed`, and a mirror applying the feed in order kept the old
/// tier (a review). Each now waits for the other, and in id order: the
/// profit copy's UPDATE, locking in no order, could meet a writer that
/// locks in id order (a bulk batch, the CPR walk) and deadlock. The moves
/// were found before the lock: [`write_moves`]' checks read what the
/// writers it waited for committed.
fn lock_chunk(conn: &mut DbConn, low: i64, high: i64, copy_profit: bool) -> QueryResult<()> {
    if let DbConn::Sqlite(_) = conn {
        return Ok(());
    }
    // The id range outermost: inside an OR it bounds no index scan, and
    // PostgreSQL read every card per chunk.
    let moves = "id IN (SELECT id FROM tier_moves)";
    let written = if copy_profit {
        format!(
            "{moves} OR EXISTS (SELECT 1 FROM tier_rank r WHERE r.id = customers.id \
               AND r.profit <> customers.tier_profit_cents) \
             OR (tier_profit_cents <> 0 AND id IN (SELECT id FROM tier_stale))"
        )
    } else {
        moves.to_string()
    };
    let condition = format!("id > {low} AND id <= {high} AND ({written})");
    super::row_lock::lock_where(conn, super::row_lock::Locked::Customers, &condition)?;
    Ok(())
}

/// "The card `id` is not archived", from the small index of archived cards
/// (`customers_archived`): reading `archived_at` from the cards would read
/// a wide card page per move. Customers are never deleted, so every id here
/// has a card.
fn active(id: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM customers a WHERE a.id = {id} AND a.archived_at IS NOT NULL)"
    )
}

/// Makes this chunk transaction wait for any other recompute's chunk that
/// is writing (PostgreSQL; SQLite's `BEGIN IMMEDIATE` already does). The
/// statements that follow read the tiers as committed after that wait, so
/// two recomputes at once never record the same move twice.
fn serialize_chunks(conn: &mut DbConn) -> QueryResult<()> {
    match conn {
        DbConn::Postgresql(_) => {
            conn.batch_execute(&format!("SELECT pg_advisory_xact_lock({TIER_CHUNK_LOCK})"))
        }
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// The advisory lock key of [`serialize_chunks`] ("tier" in ASCII).
pub const TIER_CHUNK_LOCK: i64 = 0x7469_6572;

/// The tier of rank `r.rn` with profit `r.profit`.
fn tier_sql(imp: i64, sec: i64, ord: i64) -> String {
    format!(
        "(CASE WHEN r.profit <= 0 THEN '{SMALL}' WHEN r.rn <= {imp} THEN 'important' \
          WHEN r.rn <= {sec} THEN 'secondary' WHEN r.rn <= {ord} THEN 'ordinary' ELSE '{SMALL}' END)"
    )
}

/// The tiers of the customers `ids` that are above `small`, as
/// (customer id, tier): a customer not listed is `small`.
pub fn of(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    use super::schema::customer_tiers as t;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // One statement text for any number of cards, kept prepared by diesel
    // on both engines (`= ANY($1)`; on SQLite `json_ids`).
    match conn {
        DbConn::Postgresql(c) => t::table
            .filter(t::customer_id.eq_any(ids))
            .select((t::customer_id, t::tier))
            .load(c),
        DbConn::Sqlite(c) => t::table
            .filter(super::json_ids::in_ids(t::customer_id, ids))
            .select((t::customer_id, t::tier))
            .load(c),
    }
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
    /// Those of them with a positive profit: the customers the Pareto
    /// figure and the cut-offs are taken of.
    #[diesel(sql_type = BigInt)]
    pub profitable: i64,
}

/// The column holding the profit customers were ranked by: the card's own
/// 12-month profit with the default window (kept current by every
/// transaction write, indexed for the pyramid), else the copy a recompute
/// over another window stored in `tier_profit_cents`.
/// The window the stored tiers were ranked over: the pyramid and the
/// Pareto view read the profit of that window, not of the settings' current
/// one (which applies from the next recompute: switching it made them read a
/// profit no recompute had written yet).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Ranked {
    pub window_months: u32,
}

impl Default for Ranked {
    /// Before any recompute, the default window's (the cards' own figure).
    fn default() -> Ranked {
        Ranked { window_months: 12 }
    }
}

/// The window of the last recompute, for the profit column to read.
pub fn ranked(conn: &mut DbConn) -> Result<Ranked, crate::error::ApiError> {
    Ok(super::settings::get::<Ranked>(conn, super::settings::TIERS_RANKED)?.0)
}

pub fn profit_column(window_months: u32) -> &'static str {
    if window_months == 12 {
        "profit_12m_cents"
    } else {
        "tier_profit_cents"
    }
}

/// Customers and positive profit per stored tier (`col` from
/// [`profit_column`]), every tier present. The tiers above `small` come
/// from their rows in `customer_tiers` (at most ~20 % of the cards); `small`
/// is what remains of all the active cards.
pub fn totals(conn: &mut DbConn, col: &str) -> QueryResult<Vec<TierTotal>> {
    let positive = |c: &str| super::money_sum(&format!("CASE WHEN {c} > 0 THEN {c} ELSE 0 END"));
    let profitable =
        |c: &str| format!("CAST(COALESCE(SUM(CASE WHEN {c} > 0 THEN 1 ELSE 0 END), 0) AS BIGINT)");
    let mut rows: Vec<TierTotal> = diesel::sql_query(format!(
        "SELECT t.tier AS tier, CAST(COUNT(*) AS BIGINT) AS customers, {} AS profit_cents, \
             {} AS profitable \
           FROM customer_tiers t JOIN customers c ON c.id = t.customer_id \
           WHERE c.archived_at IS NULL GROUP BY t.tier \
         UNION ALL \
         SELECT '' AS tier, CAST(COUNT(*) AS BIGINT) AS customers, {} AS profit_cents, \
             {} AS profitable \
           FROM customers WHERE archived_at IS NULL",
        positive(&format!("c.{col}")),
        profitable(&format!("c.{col}")),
        positive(col),
        profitable(col),
    ))
    .load(conn)?;
    let all = rows
        .iter()
        .position(|t| t.tier.is_empty())
        .map(|i| rows.remove(i))
        .unwrap_or(TierTotal {
            tier: String::new(),
            customers: 0,
            profit_cents: 0,
            profitable: 0,
        });
    let (customers, profit_cents, profitable) = rows.iter().fold(
        (all.customers, all.profit_cents, all.profitable),
        |(n, p, k), t| {
            // Held at the 64-bit range, as the sums are (`money_sum`).
            (
                n - t.customers,
                p.saturating_sub(t.profit_cents),
                k - t.profitable,
            )
        },
    );
    rows.push(TierTotal {
        tier: SMALL.to_string(),
        customers,
        profit_cents,
        profitable,
    });
    Ok(rows)
}

/// The positive profit of the top `top` customers by `col` (ties do not
/// change the sum). The total positive profit is the sum of [`totals`],
/// which the caller has already.
pub fn top_profit(conn: &mut DbConn, col: &str, top: i64) -> QueryResult<i64> {
    scalar(
        conn,
        &format!(
            "SELECT {} AS n FROM (SELECT CASE WHEN {col} > 0 THEN {col} ELSE 0 END AS p \
             FROM customers WHERE archived_at IS NULL ORDER BY {col} DESC, id ASC LIMIT {top}) x",
            super::money_sum("p")
        ),
    )
}

#[derive(QueryableByName)]
struct Profit {
    #[diesel(sql_type = BigInt)]
    p: i64,
}

/// The Pareto view of the profit the last recompute's window names
/// ([`ranked`], [`profit_column`]) of the active customers who made one
/// (`domain::tiers::ranked_population`): counted, then each profit read
/// best first into `domain::pareto` (row by row on PostgreSQL), all three
/// from one snapshot (`reports::snapshot`: with the window read apart, a
/// recompute over another window committed in between left the view on the
/// column of a window the tiers were no longer ranked by). Returns the
/// window with the view. Ranking them in SQL with `NTILE(10)` took 0.7–1.5 s
/// at a million cards; collecting the million values first was as fast, but
/// left the server at 125–137 MB after ten calls against 71–77 MB this way.
/// Call it outside any transaction.
pub fn pareto(conn: &mut DbConn) -> Result<(Ranked, Pareto), crate::error::ApiError> {
    super::reports::snapshot(conn, |conn| {
        let window = ranked(conn)?;
        let col = profit_column(window.window_months);
        let customers = scalar(
            conn,
            &format!(
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM customers \
                 WHERE {col} > 0 AND archived_at IS NULL"
            ),
        )?;
        let mut ranking = Ranking::new(usize::try_from(customers).unwrap_or(0));
        let query = diesel::sql_query(format!(
            "SELECT {col} AS p FROM customers WHERE {col} > 0 AND archived_at IS NULL \
             ORDER BY {col} DESC"
        ));
        super::reports::each_row(conn, query, |row: Profit| ranking.add(row.p))?;
        Ok((window, ranking.finish()))
    })
}

#[cfg(test)]
mod tests {
    //! The recompute's ranking in SQL must give the tiers
    //! `domain::tiers::assign` gives, and the pyramid's Pareto figure the
    //! rule of `domain::tiers`, from real cards and purchases.
    use std::collections::HashMap;

    use chrono::Duration;

    use super::*;
    use crate::db::testing::{db_tests, insert_rows};
    use crate::domain::codes::Tier;
    use crate::domain::tiers::{assign, ranked_population, stored_tier, top_fifth};

    db_tests!(recomputed_tiers_match_the_domain_rule);

    #[derive(QueryableByName)]
    struct Stored {
        #[diesel(sql_type = BigInt)]
        customer_id: i64,
        #[diesel(sql_type = Text)]
        tier: String,
    }

    /// 60 cards: ties of profit (broken by id), leads without a purchase,
    /// losses, and archived cards among the most profitable (never ranked).
    /// Each card's profit is a purchase a month ago; every fifth card also
    /// bought nine months ago (in the 12-month window, not in a 6-month
    /// one), and every card bought 400 days ago (in neither). Recomputed
    /// under each window (the 12-month one ranks the cards' own figures,
    /// another sums the purchases) and two sets of cut-offs.
    fn recomputed_tiers_match_the_domain_rule(c: &mut DbConn) {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 30)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .unwrap_or_default();
        let at = literal(now);
        let ids: Vec<i64> = (1..=60).collect();
        let archived = |id: i64| id == 13 || id == 26;
        // (when, amount, cost) of each card's purchases.
        let purchases = |id: i64| -> Vec<(NaiveDateTime, i64, i64)> {
            let mut out = vec![(now - Duration::days(400), 90_000, 0)];
            // The archived cards make the most profit in every window: ranked,
            // they would take the top tiers.
            if archived(id) {
                out.push((now - Duration::days(30), 1_000_000, 0));
            }
            match id % 10 {
                // A lead: no purchase in any window.
                0 => return out,
                // A loss.
                7 => out.push((now - Duration::days(30), 100, 400)),
                // Ties: id % 13 repeats the same profit.
                _ => out.push((now - Duration::days(30), (id % 13) * 1000 + 500, 500)),
            }
            if id % 5 == 0 || id % 5 == 3 {
                out.push((now - Duration::days(270), 2500, 0));
            }
            out
        };
        c.batch_execute(crate::db::testing::OWNER)
            .unwrap_or_else(|e| panic!("{e}"));
        insert_rows(
            c,
            "customers (id, kind, name, owner_id, created_at, updated_at, archived_at)",
            ids.iter().map(|id| {
                let gone = if archived(*id) { at.as_str() } else { "NULL" };
                format!("({id}, 'individual', 'c{id}', 1, {at}, {at}, {gone})")
            }),
        );
        insert_rows(
            c,
            "transactions (customer_id, occurred_at, amount_cents, cost_cents, currency, \
               product, created_at, updated_at)",
            ids.iter().flat_map(|id| {
                let at = &at;
                purchases(*id).into_iter().map(move |(when, amount, cost)| {
                    format!(
                        "({id}, {}, {amount}, {cost}, 'CNY', 'p', {at}, {at})",
                        literal(when)
                    )
                })
            }),
        );
        let pyramid = TierSettings::default();
        let wide = TierSettings {
            important_pct: 10.0,
            secondary_pct: 20.0,
            ordinary_pct: 30.0,
            ..pyramid
        };
        for s in [
            pyramid,
            wide,
            TierSettings {
                window_months: 6,
                ..wide
            },
            TierSettings {
                window_months: 6,
                ..pyramid
            },
        ] {
            let start = window_start(now, s.window_months);
            let profits: Vec<(i64, i64)> = ids
                .iter()
                .filter(|id| !archived(**id))
                .map(|id| {
                    let profit = purchases(*id)
                        .iter()
                        .filter(|(when, _, _)| *when >= start)
                        .map(|(_, amount, cost)| amount - cost)
                        .sum();
                    (*id, profit)
                })
                .collect();
            // As if archived after an earlier recompute over another window
            // had stored their profit: this one gives them none.
            c.batch_execute(
                "UPDATE customers SET tier_profit_cents = 77700 WHERE archived_at IS NOT NULL",
            )
            .unwrap_or_else(|e| panic!("{e}"));
            // The window move the caller makes first (`cpr::follow_window`).
            crate::db::stats::refresh_windows(c, now).unwrap_or_else(|e| panic!("{e}"));
            let done = recompute(c, &s, now).unwrap_or_else(|e| panic!("{e}"));
            let what = format!("{s:?}");
            // The 12-month window ranks `profit_12m_cents` and leaves
            // `tier_profit_cents` alone (nothing reads it then).
            if s.window_months != 12 {
                assert_eq!(
                    scalar(
                        c,
                        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM customers \
                         WHERE archived_at IS NOT NULL AND tier_profit_cents <> 0"
                    )
                    .ok(),
                    Some(0),
                    "{what}: archived cards keep no profit"
                );
            }
            assert_eq!(
                done.customers,
                ranked_population(profits.iter().map(|(_, p)| *p)),
                "{what}"
            );
            let stored: HashMap<i64, String> = diesel::sql_query(
                "SELECT customer_id, tier FROM customer_tiers ORDER BY customer_id",
            )
            .load::<Stored>(c)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|r| (r.customer_id, r.tier))
            .collect();
            let want = assign(&profits, &s);
            let got: Vec<(i64, Tier)> = want
                .iter()
                .map(|(id, _)| (*id, stored_tier(stored.get(id).map(String::as_str))))
                .collect();
            assert_eq!(got, want, "{what}");
            assert!(
                want.iter().any(|(_, t)| *t == Tier::Ordinary),
                "the fixture reaches the cut-offs: {what}"
            );
            // Archived cards hold no tier.
            assert!(stored.keys().all(|id| !archived(*id)), "{what}: {stored:?}");

            // The pyramid's Pareto fifth: the top fifth of the profitable.
            let col = profit_column(s.window_months);
            let totals = totals(c, col).unwrap_or_else(|e| panic!("{e}"));
            let profitable: i64 = totals.iter().map(|t| t.profitable).sum();
            assert_eq!(profitable, done.customers, "{what}");
            let mut positive: Vec<i64> =
                profits.iter().map(|(_, p)| *p).filter(|p| *p > 0).collect();
            positive.sort_by(|a, b| b.cmp(a));
            let top = top_fifth(profitable);
            let want_top: i64 = positive.iter().take(top as usize).sum();
            assert_eq!(top_profit(c, col, top).ok(), Some(want_top), "{what}");
            let total: i64 = totals.iter().map(|t| t.profit_cents).sum();
            assert_eq!(total, positive.iter().sum::<i64>(), "{what}");
        }
    }
}
