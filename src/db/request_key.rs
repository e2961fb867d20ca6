//! The `Idempotency-Key` of the request a write belongs to, so that the
//! write's own transaction records that the keyed request was applied
//! (`idempotency::mark_applied`). The middleware stores the response only
//! after the handler's commit; a crash, a failed store or a dropped request
//! in between left a claim without a response, and a retry after the claim's
//! lease ran the request again (a second customer, a second purchase). With
//! the mark in the write's transaction, such a claim is known to have been
//! applied and is never run again.
//!
//! The key travels as the request task's task-local (set around the handler
//! by the middleware), is handed to the blocking thread that runs the
//! database call (`Db::run`) or to the grouped write that carries it, and is
//! read by the outermost `write_tx` before it seals and commits.

use std::cell::RefCell;

use super::DbConn;

/// Whose key, which key, and which run of the request holds its claim.
#[derive(Debug, Clone)]
pub struct RequestKey {
    pub user_id: i64,
    pub key: String,
    pub token: String,
}

tokio::task_local! {
    static REQUEST: RequestKey;
}

thread_local! {
    static CURRENT: RefCell<Option<RequestKey>> = const { RefCell::new(None) };
}

/// Runs `f` (the handler) as the request keyed `key`.
pub async fn scope<F: std::future::Future>(key: RequestKey, f: F) -> F::Output {
    REQUEST.scope(key, f).await
}

/// The key of the request this task serves, if it is keyed.
pub(super) fn of_task() -> Option<RequestKey> {
    REQUEST.try_with(Clone::clone).ok()
}

/// Runs `f` on this (blocking) thread with `key` as its request's key.
pub(super) fn on_thread<T>(key: Option<RequestKey>, f: impl FnOnce() -> T) -> T {
    // Restored even when `f` panics, so a pooled thread never keeps it.
    struct Restore(Option<RequestKey>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let before = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = before);
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(key)));
    f()
}

/// Marks this thread's request key applied, in the caller's transaction.
pub(super) fn mark_applied(conn: &mut DbConn) -> diesel::QueryResult<()> {
    let key = CURRENT.with(|c| c.borrow().clone());
    mark_applied_for(conn, key.as_ref())
}

/// Marks `key` applied, in the caller's transaction.
pub(super) fn mark_applied_for(
    conn: &mut DbConn,
    key: Option<&RequestKey>,
) -> diesel::QueryResult<()> {
    match key {
        Some(k) => super::idempotency::mark_applied(conn, k.user_id, &k.key, &k.token),
        None => Ok(()),
    }
}
