//! Card reads on PostgreSQL, several requests' cards in one statement.
//!
//! On PostgreSQL each statement is a round trip, and the server's work per
//! statement (a snapshot, the executor's start and end, the protocol's
//! messages) costs more than finding one card by its key: at 64 connections
//! the card read ran at ~12 % of the machine's HTTP ceiling, one blocking
//! thread and one backend busy per read. So a card read joins a queue, and
//! a reader takes every card queued (up to [`MAX`]) into one
//! `WHERE id = ANY($1)` statement and answers each request from it.
//!
//! Readers are started by the requests themselves: a request that finds
//! fewer readers at work than `PATRON_PG_CARD_READERS` starts one on the
//! blocking pool, and a reader goes on while cards are queued. When the
//! server is quiet, a read is a batch of one and takes the same path as
//! before (one blocking call, one statement); under load the queue fills
//! while the reader waits on its round trip. A read never sees less than
//! what was committed when it was asked: its statement starts after that.
//!
//! Fewer readers make larger batches. On 2 cores with PostgreSQL on the same
//! machine, card reads at 64 connections: one reader 43,400/s (22 µs of
//! Patron's CPU per read), two 36,000/s, four 24,700–27,500/s, eight
//! 17,200–19,100/s, one statement per read (before) 16,800–18,500/s
//! (docs/BENCHMARKS.md, #7 session 26). One reader still reads up to
//! [`MAX`] cards per round trip: ~100,000 cards/s at a 0.5 ms round trip.
//!
//! SQLite has no queue: it reads in-process, where the lookup lane
//! (`lookups`) is cheaper than any statement it could save.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::customers::{self, CardParts};
use super::{checked_out, Db, DbPool};
use crate::error::ApiError;

/// The most cards one statement reads: a batch's requests all wait for it.
pub const MAX: usize = 64;

/// The most reads waiting at once; beyond, a read is a 503 at once. Only
/// reached when the readers are held up (a statement waiting on a lock):
/// without a bound the queue would grow by every read until they are back.
const MAX_WAITING: usize = 8192;

/// How much longer than the pool's timeout a read waits for its answer:
/// the time its statement may take once the reader has a connection.
const STATEMENT_ALLOWANCE: Duration = Duration::from_secs(1);

type Reply = oneshot::Sender<Result<Option<CardParts>, ApiError>>;

/// The card reads of one database waiting for a reader.
#[derive(Clone)]
pub struct Queue(Arc<Mutex<Pending>>);

struct Pending {
    waiting: Vec<Waiting>,
    /// Readers at work, and the most there may be (each holds a connection).
    readers: usize,
    max_readers: usize,
    /// Batches taken so far: one statement each.
    batches: u64,
}

struct Waiting {
    id: i64,
    asked: Instant,
    reply: Reply,
}

impl Queue {
    fn new(max_readers: usize) -> Queue {
        Queue(Arc::new(Mutex::new(Pending {
            waiting: Vec::new(),
            readers: 0,
            max_readers: max_readers.max(1),
            batches: 0,
        })))
    }

    /// Queues a read of card `id`; true when the caller is to start a reader.
    fn push(&self, id: i64, reply: Reply) -> Result<bool, ApiError> {
        let mut pending = self.0.lock();
        if pending.waiting.len() >= MAX_WAITING {
            crate::metrics::queue_timed_out("card_read");
            return Err(ApiError::Unavailable(format!(
                "{MAX_WAITING} card reads are waiting for the database already"
            )));
        }
        crate::metrics::CARD_READS.inc();
        pending.waiting.push(Waiting {
            id,
            asked: Instant::now(),
            reply,
        });
        let start = pending.readers < pending.max_readers;
        if start {
            pending.readers += 1;
        }
        Ok(start)
    }

    /// The next batch, oldest first; `None` when nothing waits, and then the
    /// calling reader has stopped (under the same lock as `push` counts the
    /// readers, so a read queued as the last reader stops starts a new one).
    fn take(&self) -> Option<Vec<Waiting>> {
        let mut pending = self.0.lock();
        if pending.waiting.is_empty() {
            pending.readers = pending.readers.saturating_sub(1);
            return None;
        }
        let n = pending.waiting.len().min(MAX);
        pending.batches += 1;
        crate::metrics::CARD_READ_STATEMENTS.inc();
        Some(pending.waiting.drain(..n).collect())
    }
}

impl Db {
    /// Batches this PostgreSQL database's card reads with at most `readers`
    /// statements at once; 0, or an SQLite database, reads each card on its
    /// own (`lookup`).
    pub fn with_card_readers(mut self, readers: usize) -> Db {
        self.card_reads =
            (self.backend == super::Backend::Postgres && readers > 0).then(|| Queue::new(readers));
        self
    }

    /// The statements card reads have run through the queue: fewer than the
    /// reads when they were batched; 0 where there is no queue (SQLite).
    pub fn card_read_statements(&self) -> u64 {
        self.card_reads.as_ref().map_or(0, |q| q.0.lock().batches)
    }

    /// One card, its derived figures, tier and tags (`None`: no such card).
    pub async fn card(&self, id: i64) -> Result<Option<CardParts>, ApiError> {
        let Some(queue) = self.card_reads.clone() else {
            return self
                .lookup(move |conn| Ok(customers::find_card(conn, id)?))
                .await;
        };
        let (reply, answer) = oneshot::channel();
        if queue.push(id, reply)? {
            let (pool, writer) = (self.pool.clone(), self.writer.clone());
            // Not awaited: the reader answers the requests queued behind this
            // one too; this one waits for its answer like them.
            let claim = Claim(Some(queue));
            // On the home runtime: the reader is counted from now on, and a
            // worker's blocking threads may all be busy (see `Db::home`).
            drop(self.spawn_in_turn(move || read_until_empty(claim, &pool, &writer)));
        }
        // Bounded: a reader held up in its statement (a lock, a server that
        // stopped answering) holds up every read queued behind it, where
        // each read used to hold up only itself and its connection.
        let limit = self.pool.connection_timeout() + STATEMENT_ALLOWANCE;
        match tokio::time::timeout(limit, answer).await {
            Ok(Ok(card)) => card,
            Ok(Err(_)) => Err(ApiError::Internal(
                "the card's reader stopped without an answer".into(),
            )),
            Err(_) => Err(ApiError::Unavailable(format!(
                "the database did not answer the card read within {} s",
                limit.as_secs()
            ))),
        }
    }
}

/// A reader's place among the queue's readers. `take` gives it back when
/// the queue is empty; a reader that never ran (its runtime was shutting
/// down and dropped the task) gives it back on drop, and with no reader
/// left the reads still queued are failed (a 500 each) rather than left
/// waiting for one.
struct Claim(Option<Queue>);

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(queue) = self.0.take() {
            let mut pending = queue.0.lock();
            pending.readers = pending.readers.saturating_sub(1);
            if pending.readers == 0 {
                pending.waiting.clear();
            }
        }
    }
}

fn read_until_empty(claim: Claim, pool: &DbPool, writer: &super::writer::Queue) {
    serve(claim, |batch| read_batch(batch, pool, writer));
}

/// Answers batches with `read` until the queue is empty.
fn serve(mut claim: Claim, mut read: impl FnMut(Vec<Waiting>)) {
    let Some(queue) = claim.0.take() else {
        return;
    };
    while let Some(batch) = queue.take() {
        // A panic fails this batch's reads (their replies are dropped: a
        // 500 each), not the reads queued after it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(batch)));
    }
}

fn read_batch(batch: Vec<Waiting>, pool: &DbPool, writer: &super::writer::Queue) {
    // The oldest request's wait counts against the pool's timeout, as for
    // every call (`checked_out`).
    let asked = batch
        .iter()
        .map(|w| w.asked)
        .min()
        .unwrap_or_else(Instant::now);
    let ids: Vec<i64> = batch.iter().map(|w| w.id).collect();
    let read = checked_out(pool, writer, asked, |conn| {
        Ok(customers::find_cards(conn, &ids)?)
    });
    let cards = match read {
        Ok(cards) => cards,
        Err(e) => {
            for waiting in batch {
                let _ = waiting.reply.send(Err(e.clone()));
            }
            return;
        }
    };
    deliver(batch, cards);
}

/// Answers each request of `batch` from `cards`; a card asked for by
/// several requests is copied for all but the last.
fn deliver(batch: Vec<Waiting>, cards: Vec<CardParts>) {
    let mut askers: HashMap<i64, usize> = HashMap::with_capacity(batch.len());
    for waiting in &batch {
        *askers.entry(waiting.id).or_default() += 1;
    }
    let mut cards: HashMap<i64, CardParts> = cards.into_iter().map(|c| (c.row.id, c)).collect();
    for waiting in batch {
        let left = askers.entry(waiting.id).or_default();
        *left = left.saturating_sub(1);
        let card = if *left == 0 {
            cards.remove(&waiting.id)
        } else {
            cards.get(&waiting.id).cloned()
        };
        let _ = waiting.reply.send(Ok(card));
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn reply() -> (
        Reply,
        oneshot::Receiver<Result<Option<CardParts>, ApiError>>,
    ) {
        oneshot::channel()
    }

    const READERS: usize = 3;

    #[test]
    fn at_most_readers_are_started_and_the_last_one_out_stops() {
        let queue = Queue::new(READERS);
        let mut answers = Vec::new();
        let mut started = 0;
        for id in 0..(READERS as i64 + 3) {
            let (tx, rx) = reply();
            answers.push(rx);
            started += usize::from(queue.push(id, tx).expect("room"));
        }
        assert_eq!(started, READERS);
        // One reader takes everything queued, oldest first.
        let batch = queue
            .take()
            .map(|b| b.iter().map(|w| w.id).collect::<Vec<_>>());
        assert_eq!(batch, Some((0..READERS as i64 + 3).collect()));
        // Each reader then finds the queue empty and stops ...
        for _ in 0..READERS {
            assert!(queue.take().is_none());
        }
        assert_eq!(queue.0.lock().readers, 0);
        // ... so the next read starts one again.
        let (tx, _rx) = reply();
        assert_eq!(queue.push(99, tx).ok(), Some(true));
    }

    #[test]
    fn a_reader_that_never_ran_gives_its_place_back() {
        let queue = Queue::new(1);
        let (tx, mut rx) = reply();
        assert_eq!(queue.push(1, tx).ok(), Some(true));
        drop(Claim(Some(queue.clone())));
        assert_eq!(queue.0.lock().readers, 0);
        // The read it was to serve fails instead of waiting forever ...
        assert!(matches!(
            rx.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        // ... and the next read starts a reader again.
        let (tx, _rx) = reply();
        assert_eq!(queue.push(2, tx).ok(), Some(true));
    }

    #[test]
    fn a_panicking_batch_fails_its_reads_and_the_reader_goes_on() {
        let queue = Queue::new(1);
        let mut answers = Vec::new();
        let mut started = 0;
        for id in 0..(MAX as i64 + 1) {
            let (tx, rx) = reply();
            answers.push(rx);
            started += usize::from(queue.push(id, tx).expect("room"));
        }
        assert_eq!(started, 1);
        let mut batches = 0;
        serve(Claim(Some(queue.clone())), |batch| {
            batches += 1;
            if batches == 1 {
                panic!("a reader's bug");
            }
            deliver(batch, Vec::new());
        });
        assert_eq!(batches, 2);
        // The first batch's reads fail (a 500 each, not a wait to the
        // timeout); the read queued after them is answered (no such card).
        for (i, answer) in answers.iter_mut().enumerate() {
            let got = answer.try_recv();
            if i < MAX {
                assert!(
                    matches!(got, Err(oneshot::error::TryRecvError::Closed)),
                    "read {i}"
                );
            } else {
                assert!(matches!(got, Ok(Ok(None))), "read {i}");
            }
        }
        // The reader stopped when the queue was empty: the next read starts one.
        assert_eq!(queue.0.lock().readers, 0);
        let (tx, _rx) = reply();
        assert_eq!(queue.push(0, tx).ok(), Some(true));
    }

    #[test]
    fn a_batch_holds_at_most_max_reads() {
        let queue = Queue::new(1);
        let mut answers = Vec::new();
        for id in 0..(MAX as i64 * 2 + 1) {
            let (tx, rx) = reply();
            answers.push(rx);
            queue.push(id, tx).expect("room");
        }
        let sizes: Vec<usize> = std::iter::from_fn(|| queue.take().map(|b| b.len())).collect();
        assert_eq!(sizes, vec![MAX, MAX, 1]);
    }

    #[test]
    fn a_full_queue_refuses_the_next_read() {
        let queue = Queue::new(1);
        let mut answers = Vec::new();
        for id in 0..MAX_WAITING as i64 {
            let (tx, rx) = reply();
            answers.push(rx);
            queue.push(id, tx).expect("room");
        }
        let (tx, _rx) = reply();
        assert!(matches!(queue.push(0, tx), Err(ApiError::Unavailable(_))));
        // Once a reader takes a batch there is room again.
        assert!(queue.take().is_some());
        let (tx, _rx) = reply();
        assert_eq!(queue.push(0, tx).ok(), Some(false), "the reader is at work");
    }
}
