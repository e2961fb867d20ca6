//! Work the service does on its own schedule, inside the process.

use std::sync::Weak;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::db::job_rounds::{self, Round};
use crate::db::{self, changes, chunks, cpr, loyalty, settings, stats, wal, Db};
use crate::domain::cpr::CprSettings;
use crate::domain::loyalty::LoyaltySettings;
use crate::error::ApiError;

/// Starts the periodic jobs: moving the 12-month window of the derived
/// figures and the CPR window (which can move a customer's stage as old
/// purchases leave it), once at start, then every `stats_refresh_secs`; the
/// purges; and on SQLite the log checkpoints. Of the processes on one
/// database, one runs each recompute round (`job_rounds`): a process whose
/// round, at start or on its timer, finds another's started less than 0.9
/// periods ago skips it and sleeps until that one's 0.9 periods are up (at
/// most the retry delay while that round is under way: a failed or stopped
/// one is given back, to be taken over).
/// Every job stops once `alive` can no longer be upgraded (the application
/// that started it is gone); the recomputes also when the returned handle's
/// `stop` is called.
pub fn spawn(db: Db, config: &Config, alive: Weak<()>) -> Running {
    if db.backend() == db::Backend::Sqlite {
        spawn_checkpointer(db.clone(), alive.clone());
    }
    spawn_purge(db.clone(), config, alive.clone());
    spawn_idempotency_purge(db.clone(), config, alive.clone());
    let every = Duration::from_secs(config.stats_refresh_secs);
    let retry = retry_after(config);
    let (stopping, stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut wait = Duration::ZERO;
        let mut round = Round::Startup;
        // This process's failed round whose release failed too (the
        // database was down): its retry claims it back (`job_rounds::claim`).
        let mut unreleased = None;
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stop_asked(&stop_rx) => {}
            }
            if alive.strong_count() == 0 || *stop_rx.borrow() {
                return;
            }
            wait = match claim(&db, every, round, unreleased).await {
                // Still the start-up round's claim when tried again.
                Claimed::Failed => next_wait(true, every, retry),
                Claimed::Not { due_in, under_way } => {
                    round = Round::Timer;
                    unreleased = None;
                    // When the other round's period ends, not a whole period
                    // after this skip: the cards wait no longer than the
                    // period promises (a second's slack for the clocks).
                    let due = every.min(due_in + Duration::from_secs(1));
                    // A round under way is given back if it fails or its
                    // process stops (SIGTERM in a rolling restart): looked
                    // at again after the retry delay, so that another
                    // process takes it over then, not 0.9 periods later.
                    if under_way {
                        due.min(retry)
                    } else {
                        due
                    }
                }
                Claimed::At(started) => {
                    round = Round::Timer;
                    let outcome = recompute(&db, &stop_rx).await;
                    let settled = settle(&db, started, outcome).await;
                    unreleased = (outcome != Outcome::Done && !settled).then_some(started);
                    next_wait(outcome == Outcome::Failed, every, retry)
                }
            };
        }
    });
    Running { stopping, task }
}

/// The recompute job of a running application, for its graceful stop.
pub struct Running {
    stopping: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Ends the recompute under way after its chunk and waits for that. Each
    /// chunk commits on its own and the round's claim is given back
    /// (`settle`), so the next round (the next start's, or another
    /// process's) recomputes every card. Left to run, a recompute of a
    /// million cards (minutes on a first run) outlasted the grace before
    /// SIGKILL: the process could not exit while it ran.
    /// Waits at most `wait` (`startup::stop_wait`).
    pub async fn stop(self, wait: Duration) {
        self.stopping.send_replace(true);
        if tokio::time::timeout(wait, self.task).await.is_err() {
            log::warn!(
                "a recompute step was still under way after {wait:?}; it is cut off when the process exits (1 s after the drain, at once on an immediate stop): its chunk rolls back, and its round's claim stands as a crashed process's does: the round claimed once it is due (0.9 periods after its start, on any process) recomputes its cards"
            );
        }
    }
}

/// Resolves once a stop was asked (at once if it already was).
async fn stop_asked(stopping: &watch::Receiver<bool>) {
    let mut stopping = stopping.clone();
    // An error: the handle was dropped without a stop (tests serving the
    // bare server); only `alive` ends the job then.
    if stopping.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What the claim of a recompute round gave.
enum Claimed {
    /// This process runs the round claimed at this start.
    At(chrono::NaiveDateTime),
    /// Another process's round is recent; the next is due this long from
    /// now. `under_way`: that round has not finished.
    Not { due_in: Duration, under_way: bool },
    /// The claim failed (a locked or unreachable database): tried again
    /// after the retry delay.
    Failed,
}

/// The slack between replicas' timers: a round is due when the last one,
/// this process's or another's, started at least 0.9 periods ago. With the
/// whole period, a replica whose timer fires a moment before the last round
/// is a period old would find it not yet due, and the cards would wait
/// almost two periods for the next.
fn due_after(every: Duration) -> Duration {
    every / 10 * 9
}

/// Claims this period's recompute round for this process
/// (`job_rounds::claim`): of every process on the database, one runs it.
/// `unreleased`: this process's failed round it could not give back.
async fn claim(
    db: &Db,
    every: Duration,
    round: Round,
    unreleased: Option<chrono::NaiveDateTime>,
) -> Claimed {
    let due = due_after(every);
    // `write`: on SQLite it waits for the turn holding no connection.
    let result = db
        .write(move |conn| {
            Ok(job_rounds::claim(
                conn,
                job_rounds::RECOMPUTE,
                due,
                round,
                unreleased,
            )?)
        })
        .await;
    match result {
        Ok(job_rounds::Claim::Claimed(started)) => Claimed::At(started),
        Ok(job_rounds::Claim::Recent { due_in, under_way }) => {
            log::debug!("recompute round skipped: another process ran one less than {due:?} ago (under way: {under_way}); due in {due_in:?}");
            Claimed::Not { due_in, under_way }
        }
        Err(e) => {
            log::warn!("claiming the recompute round failed: {e}");
            Claimed::Failed
        }
    }
}

/// Records how the round claimed at `started` ended: finished, or given
/// back (failed or stopped: its retry, the next process's round or the
/// next start claims it at once, not a period later). False when the
/// record failed.
async fn settle(db: &Db, started: chrono::NaiveDateTime, outcome: Outcome) -> bool {
    let result = db
        .write(move |conn| {
            let ended = match outcome {
                Outcome::Done => job_rounds::finish,
                Outcome::Failed | Outcome::Stopped => job_rounds::release,
            };
            Ok(ended(conn, job_rounds::RECOMPUTE, started)?)
        })
        .await;
    // A failed round that could not be given back is claimed by this
    // process's retry (`unreleased`), or by any once due.
    !warn_if_failed("recording the recompute round's end", &result)
}

/// How a recompute round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Every step ran (a walk superseded by newer settings included: that
    /// change's own recompute covers every card).
    Done,
    /// A step failed.
    Failed,
    /// A stop was asked before every step had run (or just after the last
    /// chunk: the round is then given back whole, and the next start walks
    /// once more).
    Stopped,
}

/// One round: the window move, then the CPR and loyalty recomputes, each
/// begun only if no stop was asked.
async fn recompute(db: &Db, stopping: &watch::Receiver<bool>) -> Outcome {
    let outcome = |failed: bool| {
        if failed {
            Outcome::Failed
        } else if *stopping.borrow() {
            Outcome::Stopped
        } else {
            Outcome::Done
        }
    };
    let stopped = || *stopping.borrow();
    let mut failed = false;
    let result = db
        .run(|conn| Ok(stats::refresh_windows(conn, db::now())?))
        .await;
    failed |= warn_if_failed("window refresh", &result);
    if let Ok(n) = result {
        log::debug!("moved the 12-month window of {n} customers");
    }
    if stopped() {
        return outcome(failed);
    }
    failed |= !walk_step(
        db,
        stopping,
        "CPR recompute",
        "stage changes",
        |conn, stop| {
            let (s, version) = settings::get::<CprSettings>(conn, settings::CPR)?;
            Ok(cpr::refresh_all_until(conn, &s, version, db::now(), stop)?)
        },
    )
    .await;
    if stopped() {
        return outcome(failed);
    }
    // After the CPR refresh: loyalty reads the share of wallet it sets,
    // and purchases leave the loyalty window as time passes.
    failed |= !walk_step(
        db,
        stopping,
        "loyalty recompute",
        "type changes",
        |conn, stop| {
            let (s, version) = settings::get::<LoyaltySettings>(conn, settings::LOYALTY)?;
            Ok(loyalty::refresh_all_until(
                conn,
                &s,
                version,
                db::now(),
                stop,
            )?)
        },
    )
    .await;
    outcome(failed)
}

/// One recompute of every card, chunk by chunk until a stop is asked, under
/// the settings lock; false when it failed.
async fn walk_step<F>(
    db: &Db,
    stopping: &watch::Receiver<bool>,
    what: &'static str,
    counted: &'static str,
    step: F,
) -> bool
where
    F: FnOnce(&mut db::DbConn, &dyn Fn() -> bool) -> Result<(i64, chunks::Walk), ApiError>
        + Send
        + 'static,
{
    let stop = stopping.clone();
    // Awaited holding nothing: see `settings::change_turn`. A stop ends the
    // wait (a `POST /cpr/recompute` holds the turn for its whole walk): a
    // stop that timed out here left the round's claim standing, and the
    // other replicas could not take the round for 0.9 periods.
    let turn = tokio::select! {
        biased;
        () = stop_asked(stopping) => return true,
        turn = settings::change_turn() => turn,
    };
    let result = db
        .run(move |conn| {
            let _turn = turn;
            step(conn, &|| *stop.borrow())
        })
        .await;
    let failed = warn_if_failed(what, &result);
    if let Ok((n, walk)) = result {
        log_walk(what, walk);
        log::debug!("{what}: {n} {counted}");
    }
    !failed
}

/// Says so when a recompute ended early, for a stop or for newer settings.
fn log_walk(what: &str, walk: chunks::Walk) {
    if walk.superseded {
        log::info!(
            "{what} stopped after {} chunks: its settings were changed meanwhile (another instance, or this one), and that change recomputes every card",
            walk.chunks
        );
    }
    if walk.stopped {
        log::info!(
            "{what} stopped after {} chunks for the process's stop; the round is given back, and the next round (this database's next start, or another process's) recomputes every card",
            walk.chunks
        );
    }
}

/// Logs a failed step of a round; true when it failed.
fn warn_if_failed<T>(what: &str, result: &Result<T, ApiError>) -> bool {
    match result {
        Ok(_) => false,
        Err(e) => {
            log::warn!("{what} failed: {e}");
            true
        }
    }
}

/// The delay before a job's next round: its period, or the retry delay
/// after a round that failed (a database that was locked by a long write,
/// or down, is usually back well before the next period).
fn next_wait(failed: bool, every: Duration, retry: Duration) -> Duration {
    if failed {
        retry.min(every)
    } else {
        every
    }
}

fn retry_after(config: &Config) -> Duration {
    Duration::from_secs(config.job_retry_secs)
}

/// Drops changes older than `changes_retention_days` from the change feed,
/// and webhook delivery attempts as old from their log, at start and then
/// every `changes_purge_secs`.
fn spawn_purge(db: Db, config: &Config, alive: Weak<()>) {
    let every = Duration::from_secs(config.changes_purge_secs);
    let retry = retry_after(config);
    let retention = chrono::Duration::days(config.changes_retention_days);
    tokio::spawn(async move {
        let mut wait = Duration::ZERO;
        loop {
            tokio::time::sleep(wait).await;
            if alive.strong_count() == 0 {
                return;
            }
            let mut failed = false;
            let before = db::now() - retention;
            let purged = db.run(move |conn| Ok(changes::purge(conn, before)?)).await;
            failed |= warn_if_failed("change purge", &purged);
            if let Ok(n @ 1..) = purged {
                log::info!("purged {n} changes older than the retention");
            }
            let purged = db
                .run(move |conn| Ok(crate::db::webhooks::purge_deliveries(conn, before)?))
                .await;
            failed |= warn_if_failed("delivery log purge", &purged);
            if let Ok(n @ 1..) = purged {
                log::info!("purged {n} webhook delivery attempts older than the retention");
            }
            wait = next_wait(failed, every, retry);
        }
    });
}

/// Checkpoints SQLite's log beside the writers (see `db::wal`): every 100 ms
/// while commits come in, every second otherwise.
fn spawn_checkpointer(db: Db, alive: Weak<()>) {
    const BUSY: Duration = Duration::from_millis(100);
    const IDLE: Duration = Duration::from_secs(1);
    tokio::spawn(async move {
        let mut last = None;
        let mut wait = IDLE;
        loop {
            tokio::time::sleep(wait).await;
            if alive.strong_count() == 0 {
                return;
            }
            wait = match db.run(|conn| Ok(wal::checkpoint(conn)?)).await {
                Ok(Some(progress)) if Some(progress.log) != last => {
                    last = Some(progress.log);
                    BUSY
                }
                Ok(Some(_)) => IDLE,
                Ok(None) => return,
                Err(e) => {
                    // The writers' own backstop keeps the log bounded.
                    log::debug!("checkpoint failed: {e}");
                    IDLE
                }
            };
        }
    });
}

/// Forgets idempotency keys older than the TTL, at start and then every ten
/// minutes (a key is kept at least the TTL, at most ten minutes more); a
/// round that failed is tried again after `job_retry_secs`.
fn spawn_idempotency_purge(db: Db, config: &Config, alive: Weak<()>) {
    const EVERY: Duration = Duration::from_secs(600);
    let ttl_secs = config.idempotency_ttl_secs;
    let ttl = chrono::Duration::seconds(i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2_000_000));
    let retry = retry_after(config);
    tokio::spawn(async move {
        let mut wait = Duration::ZERO;
        loop {
            tokio::time::sleep(wait).await;
            if alive.strong_count() == 0 {
                return;
            }
            // `run`: each batch's write transaction takes the writer turn.
            let result = db
                .run(move |conn| {
                    let before = db::now() - ttl;
                    Ok(crate::db::idempotency::purge(conn, before)?)
                })
                .await;
            let failed = warn_if_failed("idempotency purge", &result);
            if let Ok(n) = result {
                log::debug!("purged {n} idempotency keys");
            }
            wait = next_wait(failed, EVERY, retry);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stop asked while the step waits for the settings turn ends the
    /// wait: the step never runs, and is no failure (the round is given
    /// back as stopped).
    #[tokio::test]
    async fn a_stop_ends_the_wait_for_the_settings_turn() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
        let db = Db::connect(&url, 2).unwrap_or_else(|e| panic!("{e}"));
        let held = settings::change_turn().await;
        let (stop, stopping) = watch::channel(false);
        let step = walk_step(&db, &stopping, "test step", "changes", |_, _| {
            panic!("the step ran without the turn")
        });
        stop.send_replace(true);
        let ended = tokio::time::timeout(Duration::from_secs(10), step).await;
        assert_eq!(ended.ok(), Some(true), "the wait outlived the stop");
        drop(held);
    }

    #[test]
    fn a_round_is_due_a_tenth_of_its_period_early() {
        assert_eq!(
            due_after(Duration::from_secs(3600)),
            Duration::from_secs(3240)
        );
        assert_eq!(
            due_after(Duration::from_secs(1)),
            Duration::from_millis(900)
        );
    }

    #[test]
    fn a_failed_round_is_retried_sooner_never_later() {
        let hour = Duration::from_secs(3600);
        let minute = Duration::from_secs(60);
        assert_eq!(next_wait(false, hour, minute), hour);
        assert_eq!(next_wait(true, hour, minute), minute);
        // A period shorter than the retry delay is kept.
        assert_eq!(
            next_wait(true, Duration::from_secs(5), minute),
            Duration::from_secs(5)
        );
    }
}
