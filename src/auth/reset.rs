//! `patron reset-admin-password <email>`: the way back in when no admin's
//! password is known. `PATRON_ADMIN_PASSWORD` is read on an empty database
//! only, and `PATCH /users` needs an admin's token.

use crate::auth::password;
use crate::config::Config;
use crate::db::{self, users, Db};
use crate::domain::email::normalize;
use crate::error::ApiError;
use crate::http::users::UserPatch;
use crate::http::validation::check;

/// Sets the password of the active admin `email`, on the database the
/// server would open (migrated first, as a start does), and revokes the
/// admin's tokens. Only an active admin: there is always one (the last
/// cannot be demoted or deactivated), and any other user's password an
/// admin sets with `PATCH /users/{id}` once logged in. Returns what it did.
pub async fn reset_admin_password(
    config: &Config,
    email: &str,
    new_password: String,
) -> Result<String, String> {
    check_password(&new_password)?;
    existing_sqlite_file(&config.database_url)?;
    let (url, timeout, locking) = (
        config.database_url.clone(),
        config.db_timeout_secs,
        config.sqlite_locking,
    );
    let db = actix_web::web::block(move || Db::connect_with_timeout(&url, 1, timeout, locking))
        .await
        .map_err(|e| e.to_string())??;
    // As a start does: an account from before `domain::email` is found by
    // the form typed now.
    crate::auth::stored_emails::normalize_stored(&db).await?;
    let hash = password::hash_off_pool(new_password)
        .await
        .map_err(|e| e.to_string())?;
    let typed = email.to_string();
    let (id, email) = db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                // The stored emails: each, typed so, names its admin here.
                let admins = users::active_admin_emails(conn)?.join(", ");
                if admins.is_empty() {
                    return Err(ApiError::NotFound(
                        "this database has no admin: is DATABASE_URL the server's?".into(),
                    ));
                }
                // As a login finds it: an email kept in its old spelling at
                // start-up (its normal form is another user's) is found
                // typed as stored.
                let user = users::find_for_login(conn, &typed)?.ok_or_else(|| {
                    ApiError::NotFound(format!(
                        "no user has the email {}; the active admins: {admins}",
                        normalize(&typed)
                    ))
                })?;
                if user.role != "admin" || !user.active {
                    return Err(ApiError::Conflict(format!(
                        "{} is not an active admin; the active admins: {admins}",
                        user.email
                    )));
                }
                let changes = users::UserChanges {
                    email: user.email.clone(),
                    name: user.name.clone(),
                    role: user.role.clone(),
                    password_hash: hash,
                    active: true,
                    // Tokens already handed out (to whoever has the old
                    // password) stop working.
                    token_generation: user.token_generation + 1,
                    version: user.version + 1,
                    updated_at: db::now(),
                };
                // The row is read and written in one write transaction.
                if users::update(conn, user.id, user.version, &changes)? == 0 {
                    return Err(ApiError::Conflict(format!(
                        "{} changed meanwhile; run the command again",
                        user.email
                    )));
                }
                Ok((user.id, user.email))
            })
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "The password of admin {email} (user {id}) is reset; the tokens it had are revoked."
    ))
}

/// The rule of `POST /users` (10 to 128 characters).
fn check_password(new_password: &str) -> Result<(), String> {
    let input = UserPatch {
        email: None,
        name: None,
        role: None,
        password: Some(Some(new_password.to_string())),
        active: None,
    };
    match check(&input, Vec::new()) {
        Ok(()) => Ok(()),
        Err(ApiError::Validation(errors)) => Err(errors
            .iter()
            .map(|e| format!("the new password {}", e.message))
            .collect::<Vec<_>>()
            .join("; ")),
        Err(other) => Err(other.to_string()),
    }
}

/// A reset opens the server's SQLite file, never a new one: run from another
/// directory, the default `sqlite://patron.db` made an empty database there
/// and answered "no user has the email" (a review).
fn existing_sqlite_file(url: &str) -> Result<(), String> {
    if db::Backend::of_url(url) != Some(db::Backend::Sqlite) {
        return Ok(());
    }
    let path = db::sqlite_path(url);
    // An SQLite URI (`sqlite:file:…?mode=rw`) says for itself whether a
    // missing file is made; its path is not a file name to look up.
    if path.starts_with("file:") || std::path::Path::new(path).is_file() {
        Ok(())
    } else {
        Err(format!(
            "no SQLite database at {path} (DATABASE_URL {url}): run this from the directory \
             the server runs in, with its DATABASE_URL"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::check_password;

    #[test]
    fn the_new_password_follows_post_users() {
        assert_eq!(check_password("ten chars!"), Ok(()));
        assert_eq!(check_password(&"密".repeat(128)), Ok(()));
        for bad in ["", "nine char", &"p".repeat(129)] {
            assert_eq!(
                check_password(bad),
                Err("the new password must be 10 to 128 characters long".into()),
                "{bad:?}"
            );
        }
        // A login's body may not hold it: the admin could never log in.
        for bad in [
            "new\u{7f}passphrase1",
            "new\u{0}passphrase1",
            "passphrase\u{85}1",
        ] {
            let refused = check_password(bad).err().unwrap_or_default();
            assert!(
                refused.starts_with("the new password must not contain control characters"),
                "{bad:?}: {refused}"
            );
        }
        assert_eq!(check_password("tab\tin a passphrase"), Ok(()));
    }
}
