//! Group commit of small writes: several requests' writes in one
//! transaction, each in a savepoint of its own.
//!
//! SQLite commits one transaction at a time, and a commit writes the WAL
//! frames of every page the transaction changed: for a single create,
//! `COMMIT` was 16 % of its CPU, and the pages of the `customers` indexes
//! and the change feed it shares with the next create were written again by
//! that one. PostgreSQL commits the writes that record changes one at a time
//! as well, in effect: each takes its feed number from the one
//! `change_counter` row just before COMMIT and holds that row's lock until
//! the commit is flushed (`changes`), so every create paid for a WAL flush of
//! its own while the others waited for the lock (7 ms of waiting per create
//! at 64 connections). There only card creates are grouped
//! (`Db::write_grouped_insert`): they wait for no other transaction's rows,
//! so a group of them is never held up by one of its writes.
//!
//! So a writer that gets its turn takes every write queued behind
//! it (up to [`MAX`]) into its transaction: each runs in a savepoint (a
//! failing one rolls back alone, with the feed changes it recorded), the
//! feed is sealed once and the group commits once. Nobody learns an outcome
//! before the group's `COMMIT`: a request is answered from its own result
//! after it, or with a 503 when the commit itself fails.
//!
//! Only for callers whose work touches nothing but the database (see
//! `Db::write_grouped`): a grouped call's effects elsewhere would happen
//! before its commit is known.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use super::changes;
use super::request_key::{self, RequestKey};
use super::{savepoint, write_tx, DbConn};
use crate::error::ApiError;

/// The most writes one transaction takes: a group's requests all wait for
/// its last one, so the group stays short.
pub const MAX: usize = 32;

/// Delivers a grouped write's outcome once its group's transaction ended:
/// `None` when it committed, else why it did not.
type Deliver = Box<dyn FnOnce(Option<&str>) + Send>;

/// A queued write: runs in the group's transaction (told whether other
/// writes of the group follow it) and returns how to deliver its result.
type Job = Box<dyn FnOnce(&mut DbConn, bool) -> Deliver + Send>;

/// The writes of one database waiting for a group.
#[derive(Clone, Default)]
pub struct Queue(Arc<Mutex<Pending>>);

#[derive(Default)]
struct Pending {
    next: u64,
    /// Each write with its id and its `order` (see `push`).
    jobs: VecDeque<(u64, Option<String>, Job)>,
}

impl Queue {
    /// Queues `f`; its result (or the group's failure) goes to `reply`.
    /// `key`: the keyed request the write belongs to, marked applied in the
    /// write's savepoint (`request_key`). `order`: where the write runs in
    /// its group, by this key (`None` first, then in the order queued): a
    /// card create's external id, so that a group inserts its new keys in
    /// key order, as bulk batches do (in arrival order, a group and a batch
    /// creating the same new keys could each wait in the unique index for a
    /// key the other had inserted, a deadlock on PostgreSQL).
    pub fn push<T, F>(
        &self,
        f: F,
        key: Option<RequestKey>,
        order: Option<String>,
        reply: tokio::sync::oneshot::Sender<Result<T, ApiError>>,
    ) -> u64
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let job: Job = Box::new(move |conn, others_follow| {
            let result = savepoint(conn, |conn| {
                let from = changes::mark();
                let value = f(conn)?;
                request_key::mark_applied_for(conn, key.as_ref())?;
                // The feed shows the state this write left: a later write of
                // the group may change or delete the same entity.
                if others_follow {
                    changes::render_since(conn, from)?;
                }
                Ok(value)
            });
            Box::new(move |failed| {
                let outcome = match failed {
                    None => result,
                    Some(why) => Err(ApiError::Unavailable(format!(
                        "the write was not committed: {why}"
                    ))),
                };
                // The request may be gone (client disconnected): nothing to tell.
                let _ = reply.send(outcome);
            })
        });
        let mut pending = self.0.lock();
        pending.next += 1;
        let id = pending.next;
        pending.jobs.push_back((id, order, job));
        id
    }

    /// Whether the write `id` still waits (no group has taken it).
    pub fn is_pending(&self, id: u64) -> bool {
        self.0.lock().jobs.iter().any(|(i, _, _)| *i == id)
    }

    /// Takes the write `id` back if no group has taken it yet.
    pub fn withdraw(&self, id: u64) -> bool {
        let mut pending = self.0.lock();
        match pending.jobs.iter().position(|(i, _, _)| *i == id) {
            Some(at) => pending.jobs.remove(at).is_some(),
            None => false,
        }
    }

    /// Runs the queued writes (up to [`MAX`]) in one write transaction and
    /// then delivers each outcome. They are taken once the transaction has
    /// begun (on SQLite: once this process's previous writer committed), so
    /// the group holds everything that queued meanwhile.
    /// An error means the transaction failed (nothing of it committed).
    pub fn run(&self, conn: &mut DbConn) -> Result<(), String> {
        let mut delivers: Vec<Deliver> = Vec::new();
        let outcome = write_tx(conn, |conn| {
            let mut taken: Vec<(u64, Option<String>, Job)> = {
                let mut pending = self.0.lock();
                let n = pending.jobs.len().min(MAX);
                pending.jobs.drain(..n).collect()
            };
            // Ids grow in the order queued: the order among equal keys.
            taken.sort_by(|a, b| (&a.1, a.0).cmp(&(&b.1, b.0)));
            let jobs: Vec<Job> = taken.into_iter().map(|(_, _, job)| job).collect();
            let last = jobs.len().saturating_sub(1);
            for (i, job) in jobs.into_iter().enumerate() {
                delivers.push(job(conn, i < last));
            }
            Ok::<_, ApiError>(())
        });
        let failed = outcome.err().map(|e| e.to_string());
        for deliver in delivers {
            deliver(failed.as_deref());
        }
        failed.map_or(Ok(()), Err)
    }
}

/// Withdraws a queued write whose request went away before a group took
/// it, so that nothing is written for a request nobody waits for.
pub struct Withdraw<'a> {
    pub queue: &'a Queue,
    pub id: u64,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        self.queue.withdraw(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::db_tests;
    use diesel::connection::SimpleConnection;
    use diesel::sql_types::BigInt;
    use diesel::RunQueryDsl;
    use tokio::sync::oneshot;

    type Reply = oneshot::Receiver<Result<(), ApiError>>;

    // Both engines: PostgreSQL groups card creates (`Db::write_grouped_insert`).
    db_tests!(
        a_failing_write_rolls_back_alone,
        a_failed_commit_fails_every_write_of_the_group,
        a_group_takes_at_most_max_writes_and_never_a_withdrawn_one,
        a_group_runs_its_writes_in_key_order,
    );

    /// A review: a group of card creates inserted their external ids in
    /// arrival order, and a bulk batch inserting the same new keys in key
    /// order could deadlock with it on PostgreSQL. Writes run by their
    /// `order` key (none first), equal keys in the order queued.
    fn a_group_runs_its_writes_in_key_order(conn: &mut DbConn) {
        exec(conn, "CREATE TABLE o (pos BIGINT, label TEXT)").unwrap_or_else(|e| panic!("{e}"));
        let q = Queue::default();
        let mut replies = Vec::new();
        for (order, label) in [
            (Some("K2"), "K2"),
            (None, "none"),
            (Some("K1"), "K1 first"),
            (Some("K1"), "K1 second"),
        ] {
            let (reply, answer) = oneshot::channel();
            let sql = format!("INSERT INTO o SELECT COUNT(*), '{label}' FROM o");
            q.push(
                move |conn: &mut DbConn| exec(conn, &sql),
                None,
                order.map(str::to_string),
                reply,
            );
            replies.push(answer);
        }
        assert_eq!(q.run(conn), Ok(()));
        assert!(replies.into_iter().all(|r| answer(r).is_ok()));
        #[derive(diesel::QueryableByName)]
        struct L {
            #[diesel(sql_type = diesel::sql_types::Text)]
            label: String,
        }
        let labels: Vec<String> = diesel::sql_query("SELECT label FROM o ORDER BY pos")
            .load::<L>(conn)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|l| l.label)
            .collect();
        assert_eq!(labels, ["none", "K1 first", "K1 second", "K2"]);
    }

    fn exec(conn: &mut DbConn, sql: &str) -> Result<(), ApiError> {
        conn.batch_execute(sql).map_err(ApiError::from)
    }

    /// Queues a write of `sql` that then answers `fails` (or Ok).
    fn queue(q: &Queue, sql: &'static str, fails: Option<ApiError>) -> Reply {
        let (reply, answer) = oneshot::channel();
        q.push(
            move |conn: &mut DbConn| {
                write_tx(conn, |conn| {
                    exec(conn, sql)?;
                    fails.map_or(Ok(()), Err)
                })
            },
            None,
            None,
            reply,
        );
        answer
    }

    fn rows(conn: &mut DbConn) -> Vec<i64> {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        diesel::sql_query("SELECT n FROM t ORDER BY n")
            .load::<N>(conn)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|r| r.n)
            .collect()
    }

    fn answer(mut reply: Reply) -> Result<(), ApiError> {
        reply
            .try_recv()
            .unwrap_or_else(|e| panic!("no answer: {e}"))
    }

    /// A write that fails in a group rolls back alone; the others commit and
    /// each caller gets its own outcome.
    fn a_failing_write_rolls_back_alone(conn: &mut DbConn) {
        exec(conn, "CREATE TABLE t (n BIGINT)").unwrap_or_else(|e| panic!("{e}"));
        let q = Queue::default();
        let first = queue(&q, "INSERT INTO t VALUES (1)", None);
        let failing = queue(
            &q,
            "INSERT INTO t VALUES (2)",
            Some(ApiError::Conflict("taken".into())),
        );
        let third = queue(&q, "INSERT INTO t VALUES (3)", None);
        assert_eq!(q.run(conn), Ok(()));
        assert!(answer(first).is_ok());
        assert!(matches!(answer(failing), Err(ApiError::Conflict(_))));
        assert!(answer(third).is_ok());
        assert_eq!(rows(conn), vec![1, 3]);
    }

    /// When the group's COMMIT fails, nothing of it is written and every
    /// caller is told (503), also those whose own work succeeded.
    fn a_failed_commit_fails_every_write_of_the_group(conn: &mut DbConn) {
        exec(
            conn,
            "CREATE TABLE t (n BIGINT); \
             CREATE TABLE p (id INTEGER PRIMARY KEY); \
             CREATE TABLE c (p INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let q = Queue::default();
        let good = queue(&q, "INSERT INTO t VALUES (1)", None);
        // Checked only at COMMIT: the orphan makes the group's commit fail.
        let orphan = queue(&q, "INSERT INTO c VALUES (99)", None);
        assert!(q.run(conn).is_err());
        assert!(matches!(answer(good), Err(ApiError::Unavailable(_))));
        assert!(matches!(answer(orphan), Err(ApiError::Unavailable(_))));
        assert_eq!(rows(conn), Vec::<i64>::new());
        // The connection is fine for the next group.
        let next = queue(&q, "INSERT INTO t VALUES (4)", None);
        assert_eq!(q.run(conn), Ok(()));
        assert!(answer(next).is_ok());
        assert_eq!(rows(conn), vec![4]);
    }

    /// A group takes at most `MAX` writes; a withdrawn one never runs.
    fn a_group_takes_at_most_max_writes_and_never_a_withdrawn_one(conn: &mut DbConn) {
        exec(conn, "CREATE TABLE t (n BIGINT)").unwrap_or_else(|e| panic!("{e}"));
        let q = Queue::default();
        let (reply, _withdrawn) = oneshot::channel::<Result<(), ApiError>>();
        let id = q.push(
            |conn: &mut DbConn| exec(conn, "INSERT INTO t VALUES (-1)"),
            None,
            None,
            reply,
        );
        assert!(q.withdraw(id));
        let replies: Vec<Reply> = (0..=MAX)
            .map(|_| queue(&q, "INSERT INTO t VALUES (1)", None))
            .collect();
        assert_eq!(q.run(conn), Ok(()));
        assert_eq!(rows(conn).len(), MAX);
        assert_eq!(q.run(conn), Ok(()));
        assert_eq!(rows(conn).len(), MAX + 1);
        assert!(replies.into_iter().all(|r| answer(r).is_ok()));
    }
}
