//! Walking every customer in id ranges, each its own short write
//! transaction: the recomputes of every card (CPR stages, loyalty types).
//! A walk can be told to stop (the process is stopping): it ends after the
//! range under way instead of walking on for minutes past the service
//! manager's grace period. Ending early is safe: each range commits on its
//! own, and nothing marks a walk as done; the next walk recomputes every
//! card again.
//!
//! A walk also ends when the settings it recomputes by were changed since
//! it read them (`Under`): another process's settings change and its
//! recompute would otherwise be undone, range by range, by a walk still
//! under the older settings (the process-local `settings::change_turn`
//! cannot order two replicas). The newer change's own recompute covers
//! every card.

use diesel::QueryResult;

use super::DbConn;

/// How far a walk got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walk {
    /// Ranges committed.
    pub chunks: u64,
    /// Ended by `stop` before the last range: the cards of the ranges after
    /// `chunks` were not recomputed.
    pub stopped: bool,
    /// Ended because the settings changed (`Under`): the ranges after
    /// `chunks` are left to the newer settings' recompute.
    pub superseded: bool,
}

/// The settings document a walk recomputes by, and the version it read.
#[derive(Debug, Clone, Copy)]
pub struct Under<'a> {
    pub name: &'a str,
    pub version: i64,
}

/// Calls `f(conn, low, high)` for the customers `low < id <= high`, in
/// ranges of `size` ids from 0 until one passes `last_id` (at least one),
/// each in its own write transaction. `stop` is asked before each range;
/// each range's transaction first checks that the settings are still at
/// `under`'s version (and, on PostgreSQL, keeps them so until it commits),
/// and the walk ends there when they are not.
pub fn walk(
    conn: &mut DbConn,
    last_id: i64,
    size: i64,
    under: Under,
    stop: &dyn Fn() -> bool,
    mut f: impl FnMut(&mut DbConn, i64, i64) -> QueryResult<()>,
) -> QueryResult<Walk> {
    let mut walk = Walk {
        chunks: 0,
        stopped: false,
        superseded: false,
    };
    let mut low = 0;
    while low <= last_id {
        if stop() {
            walk.stopped = true;
            break;
        }
        let current = super::write_tx(conn, |conn| {
            if super::settings::version_kept(conn, under.name)? != under.version {
                return Ok(false);
            }
            f(conn, low, low + size).map(|()| true)
        })?;
        if !current {
            walk.superseded = true;
            break;
        }
        walk.chunks += 1;
        low += size;
    }
    Ok(walk)
}

/// For the recomputes that a request asked for and waits on: never stops.
pub fn never() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    use super::*;
    use crate::db::testing::{db_tests, is_postgres};
    use crate::domain::cpr::CprSettings;
    use crate::domain::loyalty::LoyaltySettings;

    /// Settings never stored (version 0), as in a new database.
    const NONE: Under = Under {
        name: "cpr",
        version: 0,
    };

    /// A stop that answers "go on" `n` times, then "stop".
    fn after(n: u64) -> impl Fn() -> bool {
        let asked = Cell::new(0);
        move || {
            asked.set(asked.get() + 1);
            asked.get() > n
        }
    }

    db_tests!(
        a_stop_ends_the_walk_after_the_range_under_way,
        a_stopped_cpr_recompute_leaves_the_rest_to_the_next,
        a_stopped_loyalty_recompute_leaves_the_rest_to_the_next,
        a_cpr_recompute_under_older_settings_ends_at_a_newer_version,
        a_loyalty_recompute_under_older_settings_ends_at_a_newer_version,
    );

    fn a_stop_ends_the_walk_after_the_range_under_way(c: &mut DbConn) {
        let mut seen = Vec::new();
        let got = walk(c, 250, 100, NONE, &after(2), |_, low, high| {
            seen.push((low, high));
            Ok(())
        });
        assert_eq!(
            got.ok(),
            Some(Walk {
                chunks: 2,
                stopped: true,
                superseded: false
            })
        );
        assert_eq!(seen, vec![(0, 100), (100, 200)]);
        // Not stopped: every range, and a stop asked after the last one
        // does not count as an early end.
        let got = walk(c, 250, 100, NONE, &after(3), |_, _, _| Ok(()));
        assert_eq!(
            got.ok(),
            Some(Walk {
                chunks: 3,
                stopped: false,
                superseded: false
            })
        );
        // No customer yet: one range still runs (as the recomputes always did).
        assert_eq!(
            walk(c, 0, 100, NONE, &never, |_, _, _| Ok(()))
                .ok()
                .map(|w| w.chunks),
            Some(1)
        );
    }

    #[derive(QueryableByName)]
    struct Card {
        #[diesel(sql_type = diesel::sql_types::Text)]
        cpr_stage: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        loyalty_type: String,
    }

    fn cards(c: &mut DbConn) -> Vec<(String, String)> {
        diesel::sql_query("SELECT cpr_stage, loyalty_type FROM customers ORDER BY id")
            .load::<Card>(c)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|r| (r.cpr_stage, r.loyalty_type))
            .collect()
    }

    /// Two customers, one in each of the recomputes' first two ranges, both
    /// with a stage and a type their (empty) records do not give.
    fn two_wrong_cards(c: &mut DbConn) {
        c.batch_execute(
            "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at) \
               VALUES (1, 'a@x.io', 'A', 'admin', 'x', '2026-01-01 00:00:00', '2026-01-01 00:00:00');
             INSERT INTO customers (id, kind, name, owner_id, created_at, updated_at, cpr_stage, loyalty_type) VALUES
               (1, 'individual', 'first range', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'retention', 'high'),
               (50001, 'individual', 'second range', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'retention', 'high');",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    fn a_stopped_cpr_recompute_leaves_the_rest_to_the_next(c: &mut DbConn) {
        two_wrong_cards(c);
        let s = CprSettings::default();
        let now = crate::db::now();
        let got = crate::db::cpr::refresh_all_until(c, &s, 0, now, &after(1));
        assert_eq!(
            got.ok(),
            Some((
                1,
                Walk {
                    chunks: 1,
                    stopped: true,
                    superseded: false
                }
            ))
        );
        let stages: Vec<String> = cards(c).into_iter().map(|(s, _)| s).collect();
        assert_eq!(stages, ["not_started", "retention"]);
        // The next recompute (the next start's) finishes the work.
        assert_eq!(crate::db::cpr::refresh_all(c, &s, 0, now).ok(), Some(1));
        let stages: Vec<String> = cards(c).into_iter().map(|(s, _)| s).collect();
        assert_eq!(stages, ["not_started", "not_started"]);
    }

    fn a_stopped_loyalty_recompute_leaves_the_rest_to_the_next(c: &mut DbConn) {
        two_wrong_cards(c);
        let s = LoyaltySettings::default();
        let now = crate::db::now();
        let got = crate::db::loyalty::refresh_all_until(c, &s, 0, now, &after(1));
        assert_eq!(
            got.ok(),
            Some((
                1,
                Walk {
                    chunks: 1,
                    stopped: true,
                    superseded: false
                }
            ))
        );
        let types: Vec<String> = cards(c).into_iter().map(|(_, t)| t).collect();
        assert_eq!(types, ["unknown", "high"]);
        assert_eq!(crate::db::loyalty::refresh_all(c, &s, 0, now).ok(), Some(1));
        let types: Vec<String> = cards(c).into_iter().map(|(_, t)| t).collect();
        assert_eq!(types, ["unknown", "unknown"]);
    }

    /// Another writer stores version 2 of the settings `name` while the
    /// walk's first range runs (a trigger on that range's first event of
    /// `kind`): as a replica's PUT between two of this one's chunks.
    fn newer_settings_during_the_first_range(c: &mut DbConn, name: &str, kind: &str) {
        let when = format!("NEW.customer_id = 1 AND NEW.kind = '{kind}'");
        let update = format!("UPDATE settings SET version = 2 WHERE name = '{name}';");
        let trigger = if is_postgres(c) {
            format!(
                "CREATE FUNCTION newer_settings() RETURNS trigger LANGUAGE plpgsql AS $$ \
                   BEGIN IF {when} THEN {update} END IF; RETURN NEW; END $$; \
                 CREATE TRIGGER newer_settings AFTER INSERT ON customer_events \
                   FOR EACH ROW EXECUTE FUNCTION newer_settings();"
            )
        } else {
            format!(
                "CREATE TRIGGER newer_settings AFTER INSERT ON customer_events \
                   WHEN {when} BEGIN {update} END;"
            )
        };
        c.batch_execute(&format!(
            "INSERT INTO settings (name, value, version, updated_at) \
               VALUES ('{name}', '{{}}', 1, '2026-01-01 00:00:00'); {trigger}"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    }

    fn a_cpr_recompute_under_older_settings_ends_at_a_newer_version(c: &mut DbConn) {
        two_wrong_cards(c);
        newer_settings_during_the_first_range(c, "cpr", "cpr_stage_changed");
        let s = CprSettings::default();
        let now = crate::db::now();
        let got = crate::db::cpr::refresh_all_until(c, &s, 1, now, &never);
        assert_eq!(
            got.ok(),
            Some((
                1,
                Walk {
                    chunks: 1,
                    stopped: false,
                    superseded: true
                }
            ))
        );
        // The second range was left as it was, for the newer version's
        // recompute: not moved under the older one.
        let stages: Vec<String> = cards(c).into_iter().map(|(s, _)| s).collect();
        assert_eq!(stages, ["not_started", "retention"]);
        // A walk under the stored version goes through.
        assert_eq!(crate::db::cpr::refresh_all(c, &s, 2, now).ok(), Some(1));
    }

    fn a_loyalty_recompute_under_older_settings_ends_at_a_newer_version(c: &mut DbConn) {
        two_wrong_cards(c);
        newer_settings_during_the_first_range(c, "loyalty", "loyalty_changed");
        let s = LoyaltySettings::default();
        let now = crate::db::now();
        let got = crate::db::loyalty::refresh_all_until(c, &s, 1, now, &never);
        assert_eq!(
            got.ok(),
            Some((
                1,
                Walk {
                    chunks: 1,
                    stopped: false,
                    superseded: true
                }
            ))
        );
        let types: Vec<String> = cards(c).into_iter().map(|(_, t)| t).collect();
        assert_eq!(types, ["unknown", "high"]);
        assert_eq!(crate::db::loyalty::refresh_all(c, &s, 2, now).ok(), Some(1));
    }
}
