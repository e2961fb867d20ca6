//! Claims of the service's own periodic jobs' rounds: one round per period
//! across every process on the database (`jobs::spawn`). Without them each
//! replica ran every round, and N replicas walked every card N times an
//! hour (a rolling restart N times in a row).

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

use super::schema::job_rounds;
use super::DbConn;

/// The start-up and hourly recompute (window move, CPR, loyalty).
pub const RECOMPUTE: &str = "recompute";

/// The version that claims: a start-up round of another version walks even
/// after a recent round (`claim`).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Which round a claim is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// The round a process runs when it starts.
    Startup,
    /// A round of its timer, or a retry.
    Timer,
}

/// Claims a round of the job `name` for this process: when the last one
/// started at least `due_after` ago, by the database's clock on PostgreSQL
/// (`webhooks::clock`: replicas whose clocks differ still agree), or, for a
/// start-up round, when another Patron version claimed it (its code may
/// compute the cards' figures differently). Returns the start it recorded
/// (for `finish` and `release`), or None when another round is recent. A
/// conditional UPDATE: two processes at once, one waits for the other's row
/// lock (PostgreSQL re-checks the condition on the row it committed; SQLite
/// writes one at a time), and only one claims. A round that was claimed and
/// never finished (its process crashed) is claimed again once `due_after`
/// has passed.
pub fn claim(
    conn: &mut DbConn,
    name: &str,
    due_after: Duration,
    round: Round,
) -> QueryResult<Option<NaiveDateTime>> {
    super::write_tx(conn, |conn| {
        let now = super::webhooks::clock(conn)?;
        let due_after = chrono::Duration::from_std(due_after)
            .map_err(|e| Error::QueryBuilderError(e.into()))?;
        let due = job_rounds::started_at.le(now - due_after);
        let row = job_rounds::table.find(name);
        let set = (
            job_rounds::started_at.eq(now),
            job_rounds::finished_at.eq(None::<NaiveDateTime>),
            job_rounds::patron_version.eq(VERSION),
        );
        let claimed = match round {
            Round::Timer => diesel::update(row.filter(due)).set(set).execute(conn)?,
            Round::Startup => {
                diesel::update(row.filter(due.or(job_rounds::patron_version.ne(VERSION))))
                    .set(set)
                    .execute(conn)?
            }
        };
        if claimed == 1 {
            return Ok(Some(now));
        }
        // No row yet (a new database, or a migration deleted it); another
        // process's insert meanwhile is its claim.
        let inserted = super::savepoint(conn, |conn| {
            diesel::insert_into(job_rounds::table)
                .values((job_rounds::name.eq(name), set))
                .execute(conn)
        });
        match inserted {
            Ok(_) => Ok(Some(now)),
            Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(None),
            Err(e) => Err(e),
        }
    })
}

/// Records that the round claimed at `started` ran to its end.
pub fn finish(conn: &mut DbConn, name: &str, started: NaiveDateTime) -> QueryResult<()> {
    super::write_tx(conn, |conn| {
        let now = super::webhooks::clock(conn)?;
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
        a_round_that_never_finished_is_claimed_once_due,
        a_start_up_round_of_another_version_claims,
    );

    fn set_start(conn: &mut DbConn, hours_ago: i64) {
        let at = crate::db::now() - chrono::Duration::hours(hours_ago);
        diesel::update(job_rounds::table.find(RECOMPUTE))
            .set(job_rounds::started_at.eq(at))
            .execute(conn)
            .unwrap();
    }

    /// Two processes with the same period, a moment apart: the second one's
    /// claim, start-up or timer, finds the first one's round.
    fn one_claim_per_period(conn: &mut DbConn) {
        let first = claim(conn, RECOMPUTE, HOUR, Round::Startup).unwrap();
        assert!(first.is_some(), "the first claim on a new database");
        assert_eq!(claim(conn, RECOMPUTE, HOUR, Round::Startup).unwrap(), None);
        assert_eq!(claim(conn, RECOMPUTE, HOUR, Round::Timer).unwrap(), None);
        // An hour later (less the slack between replicas' timers): due.
        set_start(conn, 1);
        assert!(claim(conn, RECOMPUTE, HOUR, Round::Timer)
            .unwrap()
            .is_some());
        assert_eq!(claim(conn, RECOMPUTE, HOUR, Round::Timer).unwrap(), None);
    }

    fn a_released_round_is_claimed_again_at_once(conn: &mut DbConn) {
        let started = claim(conn, RECOMPUTE, HOUR, Round::Timer).unwrap().unwrap();
        release(conn, RECOMPUTE, started).unwrap();
        let again = claim(conn, RECOMPUTE, HOUR, Round::Timer).unwrap();
        assert!(again.is_some(), "the retry claims the released round");
        // A release of the older claim leaves the newer one alone.
        release(conn, RECOMPUTE, started).unwrap();
        assert_eq!(claim(conn, RECOMPUTE, HOUR, Round::Timer).unwrap(), None);
    }

    /// A crashed round: claimed, never finished nor released.
    fn a_round_that_never_finished_is_claimed_once_due(conn: &mut DbConn) {
        let started = claim(conn, RECOMPUTE, HOUR, Round::Timer).unwrap().unwrap();
        finish(conn, RECOMPUTE, started).unwrap();
        let finished: Option<NaiveDateTime> = job_rounds::table
            .find(RECOMPUTE)
            .select(job_rounds::finished_at)
            .first(conn)
            .unwrap();
        assert!(finished.is_some());
        set_start(conn, 2);
        let crashed = claim(conn, RECOMPUTE, HOUR, Round::Timer).unwrap();
        assert!(crashed.is_some());
        assert_eq!(claim(conn, RECOMPUTE, HOUR, Round::Startup).unwrap(), None);
        set_start(conn, 2);
        assert!(claim(conn, RECOMPUTE, HOUR, Round::Startup)
            .unwrap()
            .is_some());
    }

    fn a_start_up_round_of_another_version_claims(conn: &mut DbConn) {
        claim(conn, RECOMPUTE, HOUR, Round::Startup)
            .unwrap()
            .unwrap();
        diesel::update(job_rounds::table.find(RECOMPUTE))
            .set(job_rounds::patron_version.eq("0.0.1-older"))
            .execute(conn)
            .unwrap();
        assert_eq!(
            claim(conn, RECOMPUTE, HOUR, Round::Timer).unwrap(),
            None,
            "a timer's round waits for the period whoever ran the last one"
        );
        assert!(claim(conn, RECOMPUTE, HOUR, Round::Startup)
            .unwrap()
            .is_some());
        assert_eq!(claim(conn, RECOMPUTE, HOUR, Round::Startup).unwrap(), None);
    }
}
