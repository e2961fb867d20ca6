//! Users' emails stored before `domain::email::normalize`, brought to its
//! form at start-up.
//!
//! Emails used to be only lower-cased, so a domain typed in Unicode
//! (`li@café.fr`) was stored so; a login now looks up the Punycode form
//! (`li@xn--caf-dma.fr`) and would never find that account again. SQL
//! cannot write Punycode, so the start does it, before serving. Emails that
//! were all ASCII were stored in the normal form already.

use std::collections::HashSet;

use crate::db::{self, users, Db, DbConn};
use crate::domain::email::normalize;
use crate::error::ApiError;

/// Rewrites each stored email not in the normal form; one whose normal form
/// another user has already is left as it is, with a warning (two accounts
/// for one mailbox: an admin changes one's email).
pub async fn normalize_stored(db: &Db) -> Result<(), String> {
    // Read first, outside a write: a start with nothing to rewrite (every
    // start after the first) takes no write lock.
    let pending = db
        .run(|conn| Ok(!to_rewrite(&users::emails(conn)?).is_empty()))
        .await
        .map_err(|e| format!("cannot read the users' emails: {e}"))?;
    if !pending {
        return Ok(());
    }
    db.run(|conn| db::write_tx(conn, rewrite))
        .await
        .map_err(|e| format!("cannot rewrite the users' emails: {e}"))
}

fn rewrite(conn: &mut DbConn) -> Result<(), ApiError> {
    // Another process starting on the database does the same: one at a time.
    db::migrate::start_lock_in_tx(conn)?;
    let stored = users::emails(conn)?;
    let mut taken: HashSet<String> = stored.iter().map(|(_, e)| e.clone()).collect();
    let now = db::now();
    for (id, old, new) in to_rewrite(&stored) {
        if taken.contains(&new) {
            log::warn!(
                "user {id}'s email {old:?} is another spelling of {new:?}, which another user \
                 has: kept as it is, and it can no longer log in; change one of the two emails"
            );
            continue;
        }
        users::set_email(conn, id, &new, now)?;
        log::info!("user {id}'s email {old:?} is now written {new:?}");
        taken.insert(new);
    }
    Ok(())
}

/// (id, stored, normal form) of each email not in its normal form.
fn to_rewrite(stored: &[(i64, String)]) -> Vec<(i64, String, String)> {
    stored
        .iter()
        .filter_map(|(id, email)| {
            let normal = normalize(email);
            (normal != *email).then(|| (*id, email.clone(), normal))
        })
        .collect()
}
