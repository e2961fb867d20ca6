//! The query planner's statistics after writes that reshape a table.
//!
//! PostgreSQL keeps its own: autovacuum analyzes a table once a fifth of it
//! changed. SQLite plans with whatever `ANALYZE` last wrote, and a recompute
//! can move a fifth of the cards between tiers or stages without changing
//! how many rows there are (so `PRAGMA optimize` would not notice). Stale
//! figures made SQLite read a segment rule through the wrong index (345 ms
//! instead of 50 ms at a million cards, docs/BENCHMARKS.md), hence this.

use diesel::connection::SimpleConnection;
use diesel::QueryResult;

use super::DbConn;

/// How many index entries SQLite's ANALYZE reads per index: enough for the
/// planner's per-value estimates, bounded in time on any table size.
const ANALYSIS_LIMIT: u32 = 2_000;

/// Whether `changed` rows out of `total` are enough to re-analyze: a tenth.
pub fn reshaped(changed: i64, total: i64) -> bool {
    changed > 0 && changed.saturating_mul(10) >= total
}

/// Re-analyzes `table` on SQLite after `changed` of `total` cards moved (see
/// [`reshaped`]): `customers` after a CPR recompute, `customer_tiers` after
/// a tier recompute. Nothing to do on PostgreSQL.
pub fn after_rows_moved(
    conn: &mut DbConn,
    table: &str,
    changed: i64,
    total: i64,
) -> QueryResult<()> {
    if !reshaped(changed, total) {
        return Ok(());
    }
    if let DbConn::Postgresql(_) = conn {
        return Ok(());
    }
    // A write: in the writer's queue like any other (outside it, it waited
    // on SQLite's busy handler, which loses to the queued writers). And
    // best effort: the recompute it follows has committed, and a busy
    // database must not answer that recompute with a 503 (a review).
    let analyzed = super::write_tx(conn, |conn| {
        conn.batch_execute(&format!(
            "PRAGMA analysis_limit = {ANALYSIS_LIMIT}; ANALYZE {table}; PRAGMA analysis_limit = 0;"
        ))
    });
    if let Err(e) = analyzed {
        log::warn!(
            "ANALYZE {table} after a recompute failed (the planner keeps its older figures): {e}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::reshaped;

    #[test]
    fn a_tenth_of_the_rows_reshapes_a_table() {
        assert!(reshaped(100, 1_000));
        assert!(!reshaped(99, 1_000));
        assert!(reshaped(1, 1));
        assert!(!reshaped(0, 0));
        assert!(!reshaped(0, 10));
        assert!(reshaped(i64::MAX, i64::MAX));
    }
}
