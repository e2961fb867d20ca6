//! Users' emails stored before `domain::email::normalize`, brought to its
//! form at start-up.
//!
//! Emails used to be only lower-cased, so a domain typed in Unicode
//! (`li@café.fr`) was stored so; a login now looks up the Punycode form
//! (`li@xn--caf-dma.fr`) and would never find that account again. SQL
//! cannot write Punycode, so the start does it, before serving. Emails that
//! were all ASCII were stored in the normal form already.

use std::collections::HashMap;

use crate::db::users::{self, StoredEmail};
use crate::db::{self, Db, DbConn};
use crate::domain::email::normalize;
use crate::error::ApiError;

/// Rewrites each stored email not in the normal form; one whose normal form
/// another user has already is left as it is, with a warning (two accounts
/// for one mailbox: an admin changes one's email). Typed as stored, such an
/// email still logs in (`users::find_for_login`).
pub async fn normalize_stored(db: &Db) -> Result<(), String> {
    // Read first, outside a write: a start with nothing to rewrite (every
    // start after the first, also one with only kept spellings left) takes
    // no write lock.
    let first = db
        .run(|conn| Ok(plan(&users::emails(conn)?)))
        .await
        .map_err(|e| format!("cannot read the users' emails: {e}"))?;
    if first.rewrite.is_empty() {
        first.kept.iter().for_each(Kept::log);
        return Ok(());
    }
    db.run(|conn| db::write_tx(conn, rewrite))
        .await
        .map_err(|e| format!("cannot rewrite the users' emails: {e}"))
}

fn rewrite(conn: &mut DbConn) -> Result<(), ApiError> {
    // Another process starting on the database does the same: one at a time.
    db::migrate::start_lock_in_tx(conn)?;
    let planned = plan(&users::emails(conn)?);
    let now = db::now();
    for (id, old, new) in &planned.rewrite {
        users::set_email(conn, *id, new, now)?;
        log::info!("user {id}'s email {old:?} is now written {new:?}");
    }
    planned.kept.iter().for_each(Kept::log);
    Ok(())
}

/// What a start does to the stored emails.
#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    /// (id, stored, normal form) of each email to rewrite.
    rewrite: Vec<(i64, String, String)>,
    kept: Vec<Kept>,
}

/// An email left in its old spelling: its normal form is another user's.
#[derive(Debug, PartialEq, Eq)]
struct Kept {
    id: i64,
    old: String,
    new: String,
    holder: i64,
    active_admin: bool,
}

impl Kept {
    fn log(&self) {
        let Kept {
            id,
            old,
            new,
            holder,
            active_admin,
        } = self;
        if *active_admin {
            log::error!(
                "user {id}, an active admin, keeps its email {old:?}: {new:?}, another spelling \
                 of it, is user {holder}'s. It logs in with {old:?} typed as stored (any other \
                 spelling logs in as user {holder}); if its password is lost, `patron \
                 reset-admin-password '{old}'` sets it. Change one of the two emails \
                 (PATCH /api/v1/users/{{id}}) to end this"
            );
        } else {
            log::warn!(
                "user {id}'s email {old:?} is another spelling of {new:?}, which user {holder} \
                 has: kept as it is, and it logs in only typed as stored; change one of the two \
                 emails"
            );
        }
    }
}

/// Which stored emails get their normal form. Among spellings of one
/// email that no user holds in the normal form yet, an active admin gets it
/// first, then an active user, then the lowest id: the accounts that matter
/// most are reached however their email is typed.
fn plan(stored: &[StoredEmail]) -> Plan {
    let mut holders: HashMap<String, i64> =
        stored.iter().map(|u| (u.email.clone(), u.id)).collect();
    let mut pending: Vec<(&StoredEmail, String)> = stored
        .iter()
        .filter_map(|u| {
            let normal = normalize(&u.email);
            (normal != u.email).then_some((u, normal))
        })
        .collect();
    let rank = |u: &StoredEmail| match (u.active, u.role == "admin") {
        (true, true) => 0,
        (true, false) => 1,
        (false, _) => 2,
    };
    pending.sort_by_key(|(u, _)| (rank(u), u.id));
    let mut planned = Plan::default();
    for (u, normal) in pending {
        match holders.get(&normal).copied() {
            Some(holder) => planned.kept.push(Kept {
                id: u.id,
                old: u.email.clone(),
                new: normal,
                holder,
                active_admin: rank(u) == 0,
            }),
            None => {
                holders.insert(normal.clone(), u.id);
                planned.rewrite.push((u.id, u.email.clone(), normal));
            }
        }
    }
    planned.rewrite.sort();
    planned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, email: &str, role: &str, active: bool) -> StoredEmail {
        StoredEmail {
            id,
            email: email.into(),
            role: role.into(),
            active,
        }
    }

    /// Found by a review: a kept spelling stayed in the list of emails to
    /// rewrite, so every start (and every `reset-admin-password`) opened a
    /// write transaction and took the start lock for nothing.
    #[test]
    fn kept_spellings_alone_leave_nothing_to_rewrite() {
        let stored = [
            user(3, "boss@café.fr", "admin", true),
            user(7, "boss@xn--caf-dma.fr", "viewer", true),
            user(8, "plain@example.com", "sales", true),
        ];
        let planned = plan(&stored);
        assert_eq!(planned.rewrite, []);
        assert_eq!(
            planned.kept,
            [Kept {
                id: 3,
                old: "boss@café.fr".into(),
                new: "boss@xn--caf-dma.fr".into(),
                holder: 7,
                active_admin: true,
            }]
        );
    }

    /// Two old spellings of one email, neither in the normal form: the
    /// active admin gets it, whatever its id; then an active user before an
    /// inactive one.
    #[test]
    fn the_active_admin_gets_the_normal_form_first() {
        let nfd = "chief@cafe\u{301}.fr";
        let stored = [
            user(2, "chief@café.fr", "viewer", true),
            user(5, nfd, "admin", true),
            user(6, "li@café.fr", "admin", false),
            user(9, "li@ｃａｆé.fr", "sales", true),
        ];
        let planned = plan(&stored);
        assert_eq!(
            planned.rewrite,
            [
                (5, nfd.to_string(), "chief@xn--caf-dma.fr".to_string()),
                (9, "li@ｃａｆé.fr".into(), "li@xn--caf-dma.fr".into()),
            ]
        );
        let kept: Vec<_> = planned.kept.iter().map(|k| (k.id, k.holder)).collect();
        assert_eq!(kept, [(2, 5), (6, 9)]);
    }
}
