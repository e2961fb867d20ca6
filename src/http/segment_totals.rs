//! A segment's count and totals over every card, for the preview: the one
//! segment read that scans the cards while a user waits on it.
//!
//! PostgreSQL splits a large scan over worker processes by itself. SQLite
//! has no parallel scan, so at a million cards a broad rule (400,000
//! members) took ~0.45 s on one core. Here a large table is counted in id
//! ranges on several pooled connections at once (WAL lets readers run side
//! by side), each on its own blocking task. Each part is exact; the parts
//! are read a moment apart, like two pages of a list, so a card written in
//! between counts as it was when its own part read it. Every part but the
//! first holds a report slot taken without waiting (`Db::spare_report_slots`):
//! beside a running report there are fewer parts, or one, and the pool keeps
//! its connections for the short requests, as reports leave them.

use crate::db::segments::{self as store, SegmentScope, Totals};
use crate::db::{Backend, Db};
use crate::error::ApiError;

/// At most this many parts: a part per core, and no more than a few of the
/// pool's connections for one request.
const MAX_PARTS: i64 = 4;

/// The totals of `scope` counted in parallel parts (see the module comment),
/// or `None` when a split does not pay: on PostgreSQL, on one core, below
/// `split_from` customer ids, or with no report slot free. Then the caller counts with one query in the
/// same database call that reads the first page, as before the split.
pub async fn split_totals(
    db: &Db,
    scope: &SegmentScope,
    split_from: i64,
) -> Result<Option<Totals>, ApiError> {
    let parts = match db.backend() {
        Backend::Postgres => return Ok(None),
        Backend::Sqlite => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            i64::try_from(cores).unwrap_or(1).clamp(1, MAX_PARTS)
        }
    };
    if parts == 1 {
        return Ok(None);
    }
    let last = db
        .run(|conn| Ok(crate::db::customers::last_id(conn)?))
        .await?;
    if last < split_from {
        return Ok(None);
    }
    // Held until every part is read.
    let spare = db.spare_report_slots(usize::try_from(parts - 1).unwrap_or(0));
    let parts = 1 + i64::try_from(spare.len()).unwrap_or(0);
    if parts == 1 {
        return Ok(None);
    }
    let runs = bounds(last, parts).into_iter().map(|(after, upto)| {
        let scope = scope.clone();
        db.run(move |conn| Ok(store::totals_between(conn, &scope, after, upto)?))
    });
    let mut sum = Totals::default();
    for part in futures_util::future::try_join_all(runs).await? {
        sum = sum + part;
    }
    drop(spare);
    Ok(Some(sum))
}

/// `parts` id ranges (after, upto] covering every id: the last one is open
/// ended, so a card created after `last` was read is counted too.
fn bounds(last: i64, parts: i64) -> Vec<(i64, i64)> {
    let step = last / parts;
    (0..parts)
        .map(|i| {
            let after = if i == 0 { i64::MIN } else { i * step };
            let upto = if i == parts - 1 {
                i64::MAX
            } else {
                (i + 1) * step
            };
            (after, upto)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::bounds;

    #[test]
    fn the_ranges_cover_every_id_once() {
        assert_eq!(
            bounds(1_000_000, 2),
            [(i64::MIN, 500_000), (500_000, i64::MAX)]
        );
        assert_eq!(bounds(10, 3), [(i64::MIN, 3), (3, 6), (6, i64::MAX)]);
        assert_eq!(bounds(7, 1), [(i64::MIN, i64::MAX)]);
    }
}
