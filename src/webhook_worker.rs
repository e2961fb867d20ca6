//! The webhook delivery worker: runs inside every Patron process, reads the
//! change feed from each subscription's stored position and POSTs the
//! selected changes one at a time, in feed order (at least once: the
//! position moves only after the receiver answered 2xx).
//!
//! Several processes may run it against one database: a process works on a
//! subscription only while it holds the subscription's lease (claimed with a
//! conditional UPDATE, with an expiry so a crashed process's lease frees
//! itself), and every position change is conditional on still holding it
//! and on the subscription's version it read (`webhooks::Held`). Leases and
//! retry times follow the database's clock on PostgreSQL (`db::clock`).
//! It stops when the application that started it is dropped, or when told
//! to (`Running::stop`, a graceful stop): then it finishes the delivery under
//! way, releases its leases itself and ends, so a restart need not wait the
//! leases out.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::config::Config;
use crate::db::webhooks::{self, NewDelivery};
use crate::db::{self, changes, Db};
use crate::domain::webhooks as rules;
use crate::error::ApiError;
use crate::webhook_target::{self, AllowedResolver};

/// Changes read from the feed per round trip.
const BATCH: i64 = 100;
/// Subscriptions one process serves at once.
const SIDE_BY_SIDE: usize = 8;
/// Error texts kept in the delivery log are cut to this many characters.
const MAX_ERROR_CHARS: usize = 500;

/// The `disabled_reason` of a subscription whose next changes were purged.
pub const PURGED: &str = "changes it had not delivered were purged (older than PATRON_CHANGES_RETENTION_DAYS): take the feed's head (GET /changes/head) first, then resync the receiver, POST /webhooks/{id}/replay with that head, then PATCH {\"active\": true}";

#[derive(Clone)]
struct Worker {
    db: Db,
    client: reqwest::Client,
    owner: String,
    lease: Duration,
    timeout: Duration,
    backoff_base_ms: u64,
    backoff_max_ms: u64,
    max_failures: i64,
    /// `PATRON_WEBHOOK_ALLOWED_NETWORKS`, for hosts given as addresses (the
    /// client's resolver holds it for host names).
    allowed: Arc<[ipnet::IpNet]>,
    /// Gone once the application stopped: no new delivery starts then.
    alive: Weak<()>,
    /// True once `Running::stop` was called: no new delivery starts then either.
    stopping: tokio::sync::watch::Receiver<bool>,
}

/// The worker of a running application, for its graceful stop.
pub struct Running {
    stopping: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Lets the delivery under way finish (its answer moves the position),
    /// after which the worker releases its leases through the usual path and
    /// ends. Releasing them while a delivery was still on the wire let another
    /// process send the same change, and the next one, at the same time.
    /// Waits at most `wait` (`startup::stop_wait`), then cancels the
    /// delivery still under way: left to run, it went on after the stop (a
    /// test's next instance saw it; a review).
    pub async fn stop(self, wait: Duration) {
        self.stopping.send_replace(true);
        let cancel = self.task.abort_handle();
        if tokio::time::timeout(wait, self.task).await.is_err() {
            cancel.abort();
            log::warn!(
                "a webhook delivery was still under way after {wait:?}: cancelled; its lease frees itself when it expires"
            );
        }
    }
}

/// Starts the worker unless `webhook_poll_ms` is 0. It stops once `alive`
/// can no longer be upgraded (the application's state was dropped), or when
/// the returned handle's `stop` is called.
pub fn spawn(db: Db, config: &Config, alive: Weak<()>) -> Option<Running> {
    if config.webhook_poll_ms == 0 {
        return None;
    }
    let timeout = Duration::from_secs(config.webhook_timeout_secs);
    let allowed: Arc<[ipnet::IpNet]> = config.webhook_allowed_networks.clone().into();
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        // Only public addresses and the allowed networks, checked as the
        // connection is made (`webhook_target`).
        .dns_resolver(Arc::new(AllowedResolver::new(allowed.clone())))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            log::error!("webhook worker not started: {e}");
            return None;
        }
    };
    let (stopping, stop_rx) = tokio::sync::watch::channel(false);
    let worker = Worker {
        db,
        client,
        owner: format!(
            "{}-{}",
            std::process::id(),
            crate::config::random_string(12)
        ),
        // At least 3 × the timeout (`config::webhook_lease_secs`).
        lease: Duration::from_secs(config.webhook_lease_secs),
        timeout,
        backoff_base_ms: config.webhook_backoff_base_ms,
        backoff_max_ms: config.webhook_backoff_max_secs.saturating_mul(1000),
        max_failures: config.webhook_max_failures,
        allowed,
        alive: alive.clone(),
        stopping: stop_rx,
    };
    let every = Duration::from_millis(config.webhook_poll_ms);
    let task = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut serving = Serving::default();
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = worker.stop_asked() => {}
            }
            serving.reap();
            if alive.strong_count() == 0 || worker.stopped() {
                // The serves under way finish their delivery and release
                // their leases themselves.
                serving.finish().await;
                log::debug!("webhook worker stopped");
                return;
            }
            if let Err(e) = worker.start_due(&mut serving).await {
                log::warn!("listing the due webhooks failed: {e}");
            }
        }
    });
    Some(Running { stopping, task })
}

impl Worker {
    /// True once no new delivery may start.
    fn stopped(&self) -> bool {
        *self.stopping.borrow() || self.alive.strong_count() == 0
    }

    /// Resolves once a stop was asked, so an idle worker ends at once rather
    /// than at its next tick.
    async fn stop_asked(&self) {
        let mut stopping = self.stopping.clone();
        // An error: the handle was dropped without a stop; wait for the tick.
        if stopping.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Starts serving the due subscriptions this process is not serving
    /// already, up to `SIDE_BY_SIDE` at once. There is no round to wait
    /// for: a slow receiver (answering at its timeout, or a long backlog)
    /// holds one slot, and the others' changes start at the next tick.
    async fn start_due(&self, serving: &mut Serving) -> Result<(), ApiError> {
        if serving.len() >= SIDE_BY_SIDE {
            return Ok(());
        }
        let due = self
            .db
            .run(move |conn| {
                let head = changes::head(conn)?;
                Ok(webhooks::due(conn, head)?)
            })
            .await?;
        for id in serving.next_turns(due, SIDE_BY_SIDE) {
            let worker = self.clone();
            serving.start(id, async move {
                if let Err(e) = worker.claim_and_serve(id).await {
                    log::warn!("webhook {id}: serving it failed: {e}");
                }
            });
        }
        Ok(())
    }

    /// Serves subscription `id` if this process can claim it.
    async fn claim_and_serve(&self, id: i64) -> Result<(), ApiError> {
        // Stopping: no claim (it would be released unused, or kept if the
        // stop's wait ended in between).
        if self.stopped() {
            return Ok(());
        }
        let owner = self.owner.clone();
        let lease = chrono::Duration::from_std(self.lease).unwrap_or_default();
        let claimed = self
            .db
            .write(move |conn| {
                // Through the write path (on SQLite the process's writer
                // queue): an autocommit write beside a long import failed
                // with SQLITE_BUSY, and a failed release kept the lease.
                db::write_tx(conn, |conn| {
                    Ok::<_, ApiError>(webhooks::claim(conn, id, &owner, lease)?)
                })
            })
            .await?;
        if !claimed {
            return Ok(());
        }
        let result = self.serve(id).await;
        let owner = self.owner.clone();
        self.db
            .write(move |conn| {
                db::write_tx(conn, |conn| {
                    Ok::<_, ApiError>(webhooks::release(conn, id, &owner)?)
                })
            })
            .await?;
        result
    }

    /// Delivers this subscription's pending changes in order until it is
    /// caught up, a delivery fails, or the lease is nearly used up.
    async fn serve(&self, id: i64) -> Result<(), ApiError> {
        let started = Instant::now();
        // The rest of the page read last, after a change delivered and the
        // position moved under the same version: served without reading
        // the page again (each delivery read up to 100 changes with their
        // data, and used one: a subscription 1,000 changes behind read
        // ~95,000, a review). Any other turn reads afresh.
        let mut carried: Option<Page> = None;
        loop {
            if !self.fits_in_lease(started) || self.stopped() {
                return Ok(());
            }
            let batch = match carried.take() {
                Some(page) => Some(page),
                None => self.read_page(id).await?,
            };
            let Some(Page {
                hook,
                rows,
                head,
                jumped,
                full,
                fresh,
            }) = batch
            else {
                return Ok(());
            };
            let filters = hook.filters();
            // The purged changes passed over count as skipped: the move
            // starts the next change's attempts at 1.
            let mut last_skipped = jumped;
            let mut next = None;
            let mut rows = rows.into_iter();
            for row in rows.by_ref() {
                if rules::matches(&filters, &row.entity_type, &row.operation) {
                    next = Some(row);
                    break;
                }
                last_skipped = Some(row.position());
            }
            if next.is_none() && !full {
                last_skipped = last_skipped.max(Some(head));
            }
            // The failures read count those of the change at the position:
            // once it moved, the next change's attempts start at 1.
            let mut attempt = hook.failures + 1;
            if let Some(to) = last_skipped {
                let (owner, version) = (self.owner.clone(), hook.version);
                let moved = self
                    .db
                    .write(move |conn| {
                        let held = webhooks::Held {
                            id,
                            owner: &owner,
                            version,
                        };
                        db::write_tx(conn, |conn| {
                            Ok::<_, ApiError>(webhooks::advance(conn, held, to)?)
                        })
                    })
                    .await?;
                if !moved {
                    return Ok(());
                }
                attempt = 1;
            }
            let next = match next {
                Some(row) => Some(self.as_stored(row, fresh).await?),
                None => None,
            };
            match next {
                Some(_) if self.stopped() => return Ok(()),
                // Again before the send: the reads and the skip's write
                // above may have waited (for a pooled connection, for the
                // writer), and a send begun past it could outlast the lease;
                // another process then took the subscription over and sent
                // the same change, and the next, beside this one (a review).
                Some(_) if !self.fits_in_lease(started) => return Ok(()),
                Some(row) => match self
                    .deliver(&hook, attempt, row, started + self.lease)
                    .await?
                {
                    Delivered::Failed => return Ok(()),
                    Delivered::Moved => {}
                    Delivered::Advanced => {
                        let rest: Vec<changes::ChangeRow> = rows.collect();
                        // An empty rest of a full page: the next page is read.
                        if !rest.is_empty() || !full {
                            let hook = webhooks::WebhookRow {
                                failures: 0,
                                ..hook
                            };
                            carried = Some(Page {
                                hook,
                                rows: rest,
                                head,
                                jumped: None,
                                full,
                                fresh: false,
                            });
                        }
                    }
                },
                None if full => continue,
                None => return Ok(()),
            }
        }
    }

    /// The subscription as this process holds it, and the next page of the
    /// changes of the types it follows; None when it is not held, is off,
    /// or was just stopped behind the purge.
    async fn read_page(&self, id: i64) -> Result<Option<Page>, ApiError> {
        let owner = self.owner.clone();
        self.db
            .run(move |conn| {
                let Some(hook) = webhooks::held(conn, id, &owner)? else {
                    return Ok(None);
                };
                if !hook.active {
                    return Ok(None);
                }
                // Changes it has not delivered were purged (it was off, or
                // failing, longer than the retention): reading on would skip
                // them without a word, so it stops and says why, as the
                // feed answers such a cursor 410. Checked again after the
                // read: a purge committing in between leaves a gap too.
                // Only changes of the types its filters select count: one
                // following a rare type is not stopped because others
                // aged out behind it (as the feed's typed cursors).
                // Only changes of those types are read (one following a
                // rare type read the whole feed, a page and a position
                // write per 100 changes of other types); the head, read
                // first, is where it stands once a page that is not full
                // held nothing for it: every change up to the head has
                // committed, so none of its types before it was missed.
                let followed = rules::entity_types(&hook.filters());
                let head = changes::head(conn)?;
                let purged = changes::purged_through_types(conn, &followed)?;
                // Replayed from the oldest retained change: what the
                // purge took of the changes the replay covered was not
                // retained, so it reads on from the oldest still there.
                // A purge past a later change is a gap as for any other.
                let covered = hook.replay_through();
                let from = match hook.position() {
                    p if p < purged && covered.is_some_and(|t| purged <= t) => purged,
                    p => p,
                };
                let rows = if from < purged {
                    None
                } else {
                    changes::page_retained_for(conn, from, &followed, &followed, BATCH)?
                };
                let Some(rows) = rows else {
                    // A purge that committed during the read and took
                    // only the replay's own changes: read again at the
                    // next round, from the oldest retained then. A purge
                    // past them (before the read or during it) is a gap.
                    let purged = changes::purged_through_types(conn, &followed)?;
                    if covered.is_some_and(|t| purged <= t) {
                        return Ok(None);
                    }
                    let held = webhooks::Held {
                        id,
                        owner: &owner,
                        version: hook.version,
                    };
                    db::write_tx(conn, |conn| webhooks::disable(conn, held, PURGED))?;
                    return Ok(None);
                };
                // Passed over: written with the page's move below.
                let jumped = (from != hook.position()).then_some(from);
                let full = rows.len() as i64 == BATCH;
                Ok(Some(Page {
                    hook,
                    rows,
                    head,
                    jumped,
                    full,
                    fresh: true,
                }))
            })
            .await
    }

    /// A change of a page read earlier (not `fresh`), with its data as
    /// stored now: a contact deleted since had its details erased from the
    /// feed (`changes::erase`), and the page held them (a review). One read
    /// by key; a change purged since goes out as read.
    async fn as_stored(
        &self,
        mut row: changes::ChangeRow,
        fresh: bool,
    ) -> Result<changes::ChangeRow, ApiError> {
        if fresh {
            return Ok(row);
        }
        let id = row.id;
        if let Some(data) = self
            .db
            .run(move |conn| Ok(changes::data_of(conn, id)?))
            .await?
        {
            row.data = data;
        }
        Ok(row)
    }

    /// Whether a send and the write of its result still fit in the lease
    /// taken at `started`: two timeouts, with a margin.
    fn fits_in_lease(&self, started: Instant) -> bool {
        started.elapsed() + self.timeout * 2 <= self.lease
    }

    /// One attempt, numbered `attempt`, and what it came to.
    async fn deliver(
        &self,
        hook: &webhooks::WebhookRow,
        attempt: i64,
        row: changes::ChangeRow,
        lease_ends: Instant,
    ) -> Result<Delivered, ApiError> {
        let event = rules::event_name(&row.entity_type, &row.operation);
        let position = row.position();
        let change_id = row.id;
        let item = crate::http::changes::item(row)?;
        let delivery_id = item.cursor.clone();
        let body = serde_json::json!({
            "event": event,
            "attempt": attempt,
            "change": item,
        })
        .to_string();
        let timestamp = Utc::now().timestamp();
        let signature = rules::signature(&hook.secret, timestamp, &body);
        let began = Instant::now();
        // A refused target is a failed attempt like an unreachable one:
        // logged, retried with backoff, counted toward disabling.
        let sent = match webhook_target::refusal(&hook.url, &self.allowed) {
            Some(refused) => Err(refused),
            None => self
                .client
                .post(&hook.url)
                .header("content-type", "application/json")
                .header("user-agent", "Patron-Webhooks/1")
                .header("patron-event", &event)
                .header("patron-delivery", &delivery_id)
                .header("patron-signature", signature)
                .body(body)
                .send()
                .await
                .map_err(|e| failure_text(&e, self.timeout)),
        };
        let duration_ms = began.elapsed().as_millis() as i64;
        let (ok, status, error) = match sent {
            Ok(resp) if resp.status().is_success() => (true, Some(resp.status().as_u16()), None),
            Ok(resp) => (
                false,
                Some(resp.status().as_u16()),
                Some(short(&answer_text(&resp))),
            ),
            Err(text) => (false, None, Some(short(&text))),
        };
        let outcome = Outcome {
            id: hook.id,
            version: hook.version,
            change_id,
            position,
            event,
            attempt,
            ok,
            status,
            error,
            duration_ms,
            at: db::now(),
        };
        let advanced = self.record(outcome, &delivery_id, lease_ends).await?;
        Ok(match (ok, advanced) {
            (false, _) => Delivered::Failed,
            (true, true) => Delivered::Advanced,
            (true, false) => Delivered::Moved,
        })
    }

    /// Writes an attempt's outcome: its delivery-log row, and the position
    /// moved past the change or the failure counted. The receiver has
    /// answered: a write that fails as the database being unavailable
    /// (SQLite's write lock held past its wait by another process's long
    /// import, a PostgreSQL connection lost) is tried again for up to one
    /// delivery timeout, while the lease lasts (`serve` starts no delivery
    /// with less than two timeouts of it left; past it, another process may
    /// have taken the subscription over). Any other error, or one past that,
    /// is given up: the change is sent again later (at least once), and the
    /// error says so.
    /// True when the position moved past the change here (as the version
    /// read, still held).
    async fn record(
        &self,
        outcome: Outcome,
        delivery_id: &str,
        lease_ends: Instant,
    ) -> Result<bool, ApiError> {
        let given_up_at = lease_ends.min(Instant::now() + self.timeout);
        let mut pause = Duration::from_millis(250);
        let mut again = false;
        loop {
            let (this, owner) = (outcome.clone(), self.owner.clone());
            let (max_failures, base, max) =
                (self.max_failures, self.backoff_base_ms, self.backoff_max_ms);
            let written = self
                .db
                .write(move |conn| {
                    db::write_tx(conn, |conn| {
                        this.write(conn, &owner, again, (max_failures, base, max))
                    })
                })
                .await;
            let e = match written {
                Ok(advanced) => return Ok(advanced),
                Err(e) => e,
            };
            let what = if outcome.ok { "delivered" } else { "failed" };
            let transient = matches!(e, ApiError::Unavailable(_));
            if !transient || Instant::now() + pause >= given_up_at {
                log::error!(
                    "webhook {}: the outcome of attempt {} ({what}) of delivery {delivery_id} was not recorded: {e}; the change will be sent again",
                    outcome.id,
                    outcome.attempt
                );
                return Err(e);
            }
            log::warn!(
                "webhook {}: recording the outcome of delivery {delivery_id} ({what}) failed, trying again: {e}",
                outcome.id
            );
            tokio::time::sleep(pause).await;
            pause *= 2;
            again = true;
        }
    }
}

/// A page of the changes of the types a subscription follows, read for it
/// as it stood then (`Worker::read_page`).
struct Page {
    hook: webhooks::WebhookRow,
    rows: Vec<changes::ChangeRow>,
    /// The feed's head, read before the page.
    head: changes::Position,
    /// Where a replay's purged changes were passed over to, to be written.
    jumped: Option<changes::Position>,
    /// As many rows as asked for: more may follow.
    full: bool,
    /// Read just now (not the rest of a page read before a delivery).
    fresh: bool,
}

/// What an attempt came to.
enum Delivered {
    /// Not delivered: counted as a failure (or its count was not written).
    Failed,
    /// Delivered, and the position moved past it as the version read: the
    /// page's next changes follow without a read.
    Advanced,
    /// Delivered, but a replay or PATCH made meanwhile (`webhooks::Held`)
    /// moved it elsewhere, or the move's write is not known: read afresh.
    Moved,
}

/// What one attempt came to, to be written (`Worker::record`).
#[derive(Clone)]
struct Outcome {
    id: i64,
    version: i64,
    change_id: i64,
    position: changes::Position,
    event: String,
    attempt: i64,
    ok: bool,
    status: Option<u16>,
    error: Option<String>,
    duration_ms: i64,
    /// When the answer came: the log row's instant, the same on every try.
    at: chrono::NaiveDateTime,
}

impl Outcome {
    /// `again`: an earlier write of it failed, perhaps only its COMMIT's
    /// answer (a PostgreSQL connection lost after the server committed):
    /// once its log row is there, the whole write is. True when a delivery
    /// moved the position (false when that is not known: read afresh).
    fn write(
        &self,
        conn: &mut db::DbConn,
        owner: &str,
        again: bool,
        (max_failures, backoff_base_ms, backoff_max_ms): (i64, u64, u64),
    ) -> Result<bool, ApiError> {
        let delivery = NewDelivery {
            webhook_id: self.id,
            change_id: self.change_id,
            event: &self.event,
            attempt: self.attempt,
            outcome: if self.ok {
                rules::DELIVERED
            } else {
                rules::FAILED
            },
            http_status: self.status.map(i64::from),
            error: self.error.as_deref(),
            duration_ms: self.duration_ms,
            at: self.at,
        };
        // Deleted meanwhile, or the earlier write landed whole: nothing
        // left to record.
        if !webhooks::log_delivery(conn, &delivery, again)? {
            return Ok(false);
        }
        let held = webhooks::Held {
            id: self.id,
            owner,
            version: self.version,
        };
        if self.ok {
            return Ok(webhooks::advance(conn, held, self.position)?);
        }
        // At most 30 days, so the instant cannot overflow.
        let wait =
            rules::backoff_ms(self.attempt, backoff_base_ms, backoff_max_ms).min(30 * 86_400_000);
        let wait = chrono::Duration::milliseconds(wait as i64);
        webhooks::fail(conn, held, self.attempt, max_failures, wait)?;
        Ok(false)
    }
}

/// The subscriptions this process is serving, each in its own task.
#[derive(Default)]
struct Serving {
    tasks: tokio::task::JoinSet<()>,
    ids: std::collections::HashMap<tokio::task::Id, i64>,
    /// The subscription started last: the next start goes to the ids after
    /// it first, so with more than `SIDE_BY_SIDE` due the low ids do not
    /// take every freed slot.
    last: i64,
}

impl Serving {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn start(&mut self, id: i64, serve: impl std::future::Future<Output = ()> + Send + 'static) {
        let task = self.tasks.spawn(serve).id();
        self.ids.insert(task, id);
        self.last = id;
    }

    /// Forgets the serves that ended (or panicked).
    fn reap(&mut self) {
        while let Some(ended) = self.tasks.try_join_next_with_id() {
            let task = match ended {
                Ok((task, ())) => task,
                Err(e) => {
                    log::error!("a webhook serve ended abnormally: {e}");
                    e.id()
                }
            };
            self.ids.remove(&task);
        }
    }

    /// Of `due` (ascending ids), those to start now: not served here
    /// already, the ids after the last one started first, at most up to
    /// `cap` serves in all.
    fn next_turns(&self, due: Vec<i64>, cap: usize) -> Vec<i64> {
        let busy: std::collections::HashSet<i64> = self.ids.values().copied().collect();
        let (before, after): (Vec<i64>, Vec<i64>) = due
            .into_iter()
            .filter(|id| !busy.contains(id))
            .partition(|id| *id <= self.last);
        after
            .into_iter()
            .chain(before)
            .take(cap.saturating_sub(self.len()))
            .collect()
    }

    /// Waits for every serve under way to end.
    async fn finish(&mut self) {
        while self.tasks.join_next().await.is_some() {}
        self.ids.clear();
    }
}

/// What the delivery log says of a request that got no answer. reqwest's
/// own text is `error sending request for url (...)` for a receiver that
/// never answered and for one that could not be reached alike; an admin needs
/// to know which (a slow receiver, or a wrong host or port, a firewall), or
/// that the receiver hung up or answered something that is not HTTP.
fn failure_text(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("timed out: no answer within {} s", timeout.as_secs())
    } else if e.is_connect() {
        format!("connection failed: {}", root_cause(e))
    } else {
        format!("request failed: {}", root_cause(e))
    }
}

/// The innermost error (`Connection refused (os error 111)`, `dns error:
/// ...`): the outer ones only say a request was being sent.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A receiver's non-2xx answer as the log shows it. A redirect is not
/// followed (its target was never checked against the allowed networks):
/// the log names where it pointed, so that the integrator can set the
/// subscription's `url` there (it read only `308 Permanent Redirect`).
fn answer_text(resp: &reqwest::Response) -> String {
    let status = resp.status();
    if !status.is_redirection() {
        return format!("the receiver answered {status}");
    }
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or("(none)");
    format!(
        "the receiver answered {status}, Location {location}: redirects are not followed (set the url to where it points)"
    )
}

fn short(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    use super::*;
    use crate::db::schema::{webhook_deliveries, webhooks as hooks};
    use crate::db::testing::db_tests;

    db_tests!(an_outcome_written_again_is_logged_once);

    /// A write tried again after its COMMIT's answer was lost (the server had
    /// committed) finds its row and writes nothing; another attempt of the
    /// same change (a replay sends it again, numbered 1 again) is its own row.
    fn an_outcome_written_again_is_logged_once(conn: &mut db::DbConn) {
        conn.batch_execute(
            "INSERT INTO webhooks (id, url, events, secret, active, cursor_seq, cursor_id, failures, \
               lease_owner, version, created_at, updated_at) \
             VALUES (1, 'https://erp.example.com/hooks', '[\"*\"]', 'a-long-shared-secret', TRUE, \
               0, 0, 0, 'me', 1, '2026-12-01 00:00:00', '2026-12-01 00:00:00')",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let delivered = Outcome {
            id: 1,
            version: 1,
            change_id: 5,
            position: changes::Position { seq: 3, id: 5 },
            event: "customer.created".into(),
            attempt: 1,
            ok: true,
            status: Some(200),
            error: None,
            duration_ms: 12,
            at: db::micros(
                chrono::NaiveDate::from_ymd_opt(2026, 12, 6)
                    .and_then(|d| d.and_hms_micro_opt(5, 6, 7, 123_456))
                    .unwrap_or_default(),
            ),
        };
        let write = |conn: &mut db::DbConn, outcome: &Outcome, again: bool| {
            db::write_tx(conn, |conn| {
                outcome.write(conn, "me", again, (10, 100, 1000))
            })
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let logged = |conn: &mut db::DbConn| -> i64 {
            webhook_deliveries::table
                .count()
                .get_result(conn)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let cursor = |conn: &mut db::DbConn| -> (i64, i64, i64) {
            hooks::table
                .find(1)
                .select((hooks::cursor_seq, hooks::cursor_id, hooks::failures))
                .first(conn)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        write(conn, &delivered, false);
        assert_eq!((logged(conn), cursor(conn)), (1, (3, 5, 0)));
        write(conn, &delivered, true);
        assert_eq!(logged(conn), 1, "written again: no second row");
        // The same change sent again later (a replay moved the position
        // back), and failed: a row of its own, its failure counted.
        conn.batch_execute("UPDATE webhooks SET cursor_seq = 0, cursor_id = 0")
            .unwrap_or_else(|e| panic!("{e}"));
        let failed = Outcome {
            ok: false,
            status: Some(503),
            error: Some("the receiver answered 503".into()),
            at: delivered.at + chrono::Duration::seconds(30),
            ..delivered.clone()
        };
        write(conn, &failed, true);
        assert_eq!((logged(conn), cursor(conn)), (2, (0, 0, 1)));
    }

    /// Freed slots go round the due subscriptions, not always to the lowest
    /// ids; one already served here is not started twice.
    #[tokio::test]
    async fn turns_go_round_and_skip_those_served() {
        let mut serving = Serving::default();
        assert_eq!(serving.next_turns(vec![1, 2, 3], 2), [1, 2]);
        serving.start(2, std::future::pending());
        assert_eq!(serving.next_turns(vec![1, 2, 3, 4], 3), [3, 4]);
        assert_eq!(serving.next_turns(vec![1, 2, 3, 4], 2), [3]);
        assert_eq!(serving.next_turns(vec![1, 2], 8), [1]);
        serving.tasks.abort_all();
    }
}
