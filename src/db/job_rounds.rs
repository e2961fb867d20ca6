//! Claims of the service's own periodic jobs' rounds: one round per period
//! across every process on the database (`jobs::spawn`). Without them each
//! replica ran every round, and N replicas walked every card N times an
//! hour (a rolling restart N times in a row).

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::Error;

use super::schema::job_rounds;
use super::DbConn;

/// The start-up and hourly recompute (window move, CPR, loyalty).
pub const RECOMPUTE: &str = "recompute";

/// The build that claims: a start-up round of another build walks even
/// after a recent round (`claim`), as its code may compute the cards'
/// figures differently. The package version plus a hash of the sources and
/// migrations (`build.rs`): the package version alone never changed.
const VERSION: &str = env!("PATRON_BUILD_ID");

/// A recorded start further ahead of the clock than this is taken as due: it
/// was written by a clock that was ahead (a host booted with a wrong time,
/// then corrected), and would otherwise keep every process from the round
/// until real time caught up with it.
/// (At most the time a round is recent: a shorter period would otherwise
/// wait out the tolerance.)
const AHEAD: chrono::Duration = chrono::Duration::minutes(10);

/// Which round a claim is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// The round a process runs when it starts.
    Startup,
    /// A round of its timer, or a retry.
    Timer,
}

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This process runs the round it recorded as started then.
    Claimed(NaiveDateTime),
    /// Another round is recent; the next one is due this long from now.
    /// `under_way`: it has not finished (it runs, or its process crashed),
    /// and a release (a failure, a stop) may make it due before then.
    Recent { due_in: Duration, under_way: bool },
}

/// Claims a round of the job `name` for this process: when the last one
/// started at least `due_after` ago, by the database's clock on PostgreSQL
/// (`db::clock`: replicas whose clocks differ still agree); when it is
/// `own`, this process's claim of a round that failed and whose release
/// failed too (a retry after an outage must not wait for the period); when
/// it lies more than `AHEAD` in the future; or, for a start-up round, when
/// another build claimed it. The row is read, then swapped only if it is
/// still what was read: of two processes at once, one claims. A round that
/// was claimed and never finished (its process crashed) is claimed again
/// once `due_after` has passed.
pub fn claim(
    conn: &mut DbConn,
    name: &str,
    due_after: Duration,
    round: Round,
    own: Option<NaiveDateTime>,
) -> QueryResult<Claim> {
    let due_after =
        chrono::Duration::from_std(due_after).map_err(|e| Error::QueryBuilderError(e.into()))?;
    let period_left = |started: NaiveDateTime, now: NaiveDateTime| {
        (started + due_after - now).to_std().unwrap_or_default()
    };
    super::write_tx(conn, |conn| {
        // A lost swap (the row changed between the read and the swap: another
        // claim, or a release or settings change making it due) decides again
        // on what is there now; a few times at most.
        for _ in 0..3 {
            let now = super::clock(conn)?;
            let last: Option<(NaiveDateTime, String, Option<NaiveDateTime>)> = job_rounds::table
                .find(name)
                .select((
                    job_rounds::started_at,
                    job_rounds::patron_version,
                    job_rounds::finished_at,
                ))
                .first(conn)
                .optional()?;
            let Some((started, version, finished)) = last else {
                // A new database, or the row was deleted. Another process's
                // insert meanwhile is its claim.
                let inserted = super::native!(conn, |c| diesel::insert_into(job_rounds::table)
                    .values((
                        job_rounds::name.eq(name),
                        job_rounds::started_at.eq(now),
                        job_rounds::patron_version.eq(VERSION),
                    ))
                    .on_conflict_do_nothing()
                    .execute(c))?;
                if inserted == 1 {
                    return Ok(Claim::Claimed(now));
                }
                continue;
            };
            // Every writer uses one clock (the database's, or SQLite's host):
            // a start ahead of it by more than a moment was written by a
            // clock that was wrong then.
            let ahead = started > now + AHEAD.min(due_after);
            if ahead {
                log::warn!(
                    "the last {name} round is recorded as started at {started}, ahead of the clock ({now}): taken as due"
                );
            }
            // Only a start-up round records its build: a timer round of an
            // older build beside a newer one would otherwise make the newer
            // build's next start walk again.
            let startup_walk = round == Round::Startup && version != VERSION;
            let due = started <= now - due_after || ahead || own == Some(started) || startup_walk;
            if !due {
                return Ok(Claim::Recent {
                    due_in: period_left(started, now),
                    under_way: finished.is_none(),
                });
            }
            if swap(
                conn,
                name,
                (started, &version),
                now,
                round == Round::Startup,
            )? == 1
            {
                return Ok(Claim::Claimed(now));
            }
        }
        Ok(Claim::Recent {
            due_in: due_after.to_std().unwrap_or_default(),
            under_way: true,
        })
    })
}

/// Claims the row of `name` at `now` if it is still `read` (PostgreSQL: by
/// value; SQLite's writers are serial from the transaction's start, and its
/// text timestamps need not be in the one form an `=` would match).
fn swap(
    conn: &mut DbConn,
    name: &str,
    read: (NaiveDateTime, &str),
    now: NaiveDateTime,
    record_build: bool,
) -> QueryResult<usize> {
    let claim = (
        job_rounds::started_at.eq(now),
        job_rounds::finished_at.eq(None::<NaiveDateTime>),
    );
    let build = job_rounds::patron_version.eq(VERSION);
    match conn {
        DbConn::Sqlite(c) => {
            let row = job_rounds::table.find(name);
            if record_build {
                diesel::update(row).set((claim, build)).execute(c)
            } else {
                diesel::update(row).set(claim).execute(c)
            }
        }
        DbConn::Postgresql(c) => {
            let row = ours(name, read.0).filter(job_rounds::patron_version.eq(read.1));
            if record_build {
                diesel::update(row).set((claim, build)).execute(c)
            } else {
                diesel::update(row).set(claim).execute(c)
            }
        }
    }
}

/// Records that the round claimed at `started` ran to its end.
pub fn finish(conn: &mut DbConn, name: &str, started: NaiveDateTime) -> QueryResult<()> {
    super::write_tx(conn, |conn| {
        let now = super::clock(conn)?;
        diesel::update(ours(name, started))
            .set(job_rounds::finished_at.eq(now))
            .execute(conn)
            .map(drop)
    })
}

/// Gives back the round claimed at `started` that failed or was stopped, so
/// that the retry (`PATRON_JOB_RETRY_SECS`), another replica's round or the
/// next start claims it at once instead of a period later: the claim is
/// moved back to the Unix epoch, unless another round was claimed since.
pub fn release(conn: &mut DbConn, name: &str, started: NaiveDateTime) -> QueryResult<()> {
    super::write_tx(conn, |conn| {
        diesel::update(ours(name, started))
            .set(job_rounds::started_at.eq(chrono::DateTime::UNIX_EPOCH.naive_utc()))
            .execute(conn)
            .map(drop)
    })
}

/// Makes the next round of `name` due at once, whoever claimed the last
/// (`settings::put` of the settings the round applies). Moves its start
/// back to the Unix epoch, as `release` does.
pub fn make_due(conn: &mut DbConn, name: &str) -> QueryResult<()> {
    diesel::update(job_rounds::table.find(name))
        .set(job_rounds::started_at.eq(chrono::DateTime::UNIX_EPOCH.naive_utc()))
        .execute(conn)
        .map(drop)
}

/// The row of `name` if its round is still the one claimed at `started`.
fn ours(
    name: &str,
    started: NaiveDateTime,
) -> diesel::dsl::Filter<
    diesel::dsl::Find<job_rounds::table, &str>,
    diesel::dsl::Eq<job_rounds::started_at, NaiveDateTime>,
> {
    job_rounds::table
        .find(name)
        .filter(job_rounds::started_at.eq(started))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::db::testing::db_tests;

    const HOUR: Duration = Duration::from_secs(3600);

    db_tests!(
        one_claim_per_period,
        a_released_round_is_claimed_again_at_once,
        a_failed_rounds_retry_claims_its_own_unreleased_round,
        a_start_ahead_of_the_clock_is_due,
        a_start_up_round_of_another_build_claims,
        a_start_written_by_hand_in_another_form_is_claimed,
    );

    /// The claim's start, or None when another round is recent.
    fn claimed(
        conn: &mut DbConn,
        round: Round,
        own: Option<NaiveDateTime>,
    ) -> Option<NaiveDateTime> {
        match claim(conn, RECOMPUTE, HOUR, round, own).unwrap() {
            Claim::Claimed(at) => Some(at),
            Claim::Recent { .. } => None,
        }
    }

    /// Moves the recorded start by `by` from the database's clock (the one
    /// claims compare with).
    fn set_start(conn: &mut DbConn, by: chrono::Duration) {
        let at = crate::db::clock(conn).unwrap() + by;
        diesel::update(job_rounds::table.find(RECOMPUTE))
            .set(job_rounds::started_at.eq(at))
            .execute(conn)
            .unwrap();
    }

    /// Two processes with the same period, a moment apart: the second one's
    /// claim, start-up or timer, finds the first one's round, and how long
    /// until the next is due.
    fn one_claim_per_period(conn: &mut DbConn) {
        let first = claimed(conn, Round::Startup, None);
        assert!(first.is_some(), "the first claim on a new database");
        assert_eq!(claimed(conn, Round::Startup, None), None);
        match claim(conn, RECOMPUTE, HOUR, Round::Timer, None).unwrap() {
            Claim::Recent { due_in, under_way } => {
                assert!(
                    due_in > Duration::from_secs(3500) && due_in <= HOUR,
                    "{due_in:?}"
                );
                assert!(under_way, "the first round has not finished");
            }
            other => panic!("{other:?}"),
        }
        finish(conn, RECOMPUTE, first.unwrap()).unwrap();
        assert!(matches!(
            claim(conn, RECOMPUTE, HOUR, Round::Timer, None).unwrap(),
            Claim::Recent {
                under_way: false,
                ..
            }
        ));
        // An hour later (less the slack between replicas' timers): due.
        set_start(conn, -chrono::Duration::hours(1));
        assert!(claimed(conn, Round::Timer, None).is_some());
        assert_eq!(claimed(conn, Round::Timer, None), None);
    }

    fn a_released_round_is_claimed_again_at_once(conn: &mut DbConn) {
        let started = claimed(conn, Round::Timer, None).unwrap();
        release(conn, RECOMPUTE, started).unwrap();
        assert!(
            claimed(conn, Round::Timer, None).is_some(),
            "the retry claims the released round"
        );
        // A release of the older claim leaves the newer one alone.
        release(conn, RECOMPUTE, started).unwrap();
        assert_eq!(claimed(conn, Round::Timer, None), None);
    }

    /// A round failed and so did its release (the database was down): the
    /// retry names the round it still holds and claims it; no one else does.
    fn a_failed_rounds_retry_claims_its_own_unreleased_round(conn: &mut DbConn) {
        let started = claimed(conn, Round::Timer, None).unwrap();
        assert_eq!(claimed(conn, Round::Timer, None), None, "another process");
        let retried = claimed(conn, Round::Timer, Some(started));
        assert!(retried.is_some(), "the retry of the round it holds");
        assert_eq!(
            claimed(conn, Round::Timer, Some(started)),
            None,
            "an older claim of its own"
        );
    }

    /// A start recorded by a clock that was ahead: due, not a wait of days.
    fn a_start_ahead_of_the_clock_is_due(conn: &mut DbConn) {
        claimed(conn, Round::Timer, None).unwrap();
        set_start(conn, chrono::Duration::days(1));
        assert!(claimed(conn, Round::Timer, None).is_some());
        // Within the tolerance: a recent round.
        set_start(conn, chrono::Duration::minutes(5));
        assert_eq!(claimed(conn, Round::Timer, None), None);
    }

    fn a_start_up_round_of_another_build_claims(conn: &mut DbConn) {
        claimed(conn, Round::Startup, None).unwrap();
        diesel::update(job_rounds::table.find(RECOMPUTE))
            .set(job_rounds::patron_version.eq("0.0.1-older"))
            .execute(conn)
            .unwrap();
        assert_eq!(
            claimed(conn, Round::Timer, None),
            None,
            "a timer's round waits for the period whoever ran the last one"
        );
        assert!(claimed(conn, Round::Startup, None).is_some());
        assert_eq!(claimed(conn, Round::Startup, None), None);
        // A timer round keeps the recorded build: an older build's timer
        // beside a newer one does not make the newer's next start walk.
        diesel::update(job_rounds::table.find(RECOMPUTE))
            .set(job_rounds::patron_version.eq("0.0.1-older"))
            .execute(conn)
            .unwrap();
        set_start(conn, -chrono::Duration::hours(1));
        assert!(claimed(conn, Round::Timer, None).is_some());
        let kept: String = job_rounds::table
            .find(RECOMPUTE)
            .select(job_rounds::patron_version)
            .first(conn)
            .unwrap();
        assert_eq!(kept, "0.0.1-older");
        assert!(
            VERSION.starts_with(env!("CARGO_PKG_VERSION"))
                && VERSION.len() > env!("CARGO_PKG_VERSION").len()
        );
    }

    /// A start repaired by hand in another text form (SQLite keeps the text
    /// as written; an `=` on it never matched diesel's own form, and every
    /// claim lost its swap for good).
    fn a_start_written_by_hand_in_another_form_is_claimed(conn: &mut DbConn) {
        use diesel::connection::SimpleConnection;
        claimed(conn, Round::Timer, None).unwrap();
        conn.batch_execute("UPDATE job_rounds SET started_at = '2001-01-01T00:00:00'")
            .unwrap();
        assert!(claimed(conn, Round::Timer, None).is_some());
        assert_eq!(claimed(conn, Round::Timer, None), None);
    }
}
