//! The first admin, created when the database has no user at all.

use crate::auth::password;
use crate::config::{random_string, Config, DEFAULT_ADMIN_EMAIL};
use crate::db::{self, users, Db};
use crate::domain::codes::Role;
use crate::error::ApiError;
use crate::http::users::UserCreate;
use crate::http::validation::{check, Input};

/// What a start did about the first admin (`main` says it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstAdmin {
    /// Created, with a generated password: printed this once.
    Generated { email: String, password: String },
    /// Created, with `PATRON_ADMIN_PASSWORD`.
    Chosen { email: String },
    /// The database had users: nothing created.
    Existing,
}

/// Creates the first admin if there is no user.
pub async fn first_admin(db: &Db, config: &Config) -> Result<FirstAdmin, String> {
    let email = crate::domain::email::normalize(&config.admin_email);
    let (password, generated) = match &config.admin_password {
        Some(p) => (p.clone(), false),
        None => (random_string(20), true),
    };
    // Checked only when they are used: a deployment whose users exist keeps
    // starting whatever its environment still holds.
    let lookup = email.clone();
    let (users_exist, admin_email_names_a_user) = db
        .run(move |conn| {
            Ok((
                users::count(conn)? > 0,
                users::find_by_email(conn, &lookup)?.is_some(),
            ))
        })
        .await
        .map_err(|e| format!("cannot count the users: {e}"))?;
    if users_exist {
        warn_ignored(config, admin_email_names_a_user);
        return Ok(FirstAdmin::Existing);
    }
    check_settings(&email, &password)?;
    let result = db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                // Two processes starting on an empty database both counted
                // no user under READ COMMITTED; the second's insert failed on
                // the email and it stopped.
                db::migrate::start_lock_in_tx(conn)?;
                if users::count(conn)? > 0 {
                    return Ok(None);
                }
                let now = db::now();
                users::insert(
                    conn,
                    &users::NewUser {
                        email: email.clone(),
                        name: "Administrator".into(),
                        role: Role::Admin.as_str().into(),
                        password_hash: password::hash(&password)?,
                        active: true,
                        token_generation: 0,
                        version: 1,
                        created_at: now,
                        updated_at: now,
                    },
                )?;
                Ok(Some((email, password)))
            })
        })
        .await
        .map_err(|e| format!("cannot create the first admin: {e}"))?;
    Ok(match result {
        // Another process created it first.
        None => FirstAdmin::Existing,
        Some((email, password)) if generated => FirstAdmin::Generated { email, password },
        Some((email, _)) => FirstAdmin::Chosen { email },
    })
}

/// The first admin's settings are read on an empty database only: an
/// operator who missed the generated password, set `PATRON_ADMIN_PASSWORD`
/// and restarted got 401s with no word why.
fn warn_ignored(config: &Config, admin_email_names_a_user: bool) {
    if config.admin_password.is_some() {
        log::warn!(
            "PATRON_ADMIN_PASSWORD is ignored: the database already has users; to reset a \
             password use `patron reset-admin-password <email>`"
        );
    }
    // Set and naming no one (the default is no sign of intent): a new
    // email does not make a new admin.
    if config.admin_email != DEFAULT_ADMIN_EMAIL && !admin_email_names_a_user {
        log::warn!(
            "PATRON_ADMIN_EMAIL {:?} is ignored: the database already has users, none with \
             this email; an admin creates users with POST /api/v1/users",
            config.admin_email
        );
    }
}

/// The first admin is held to the rules of `POST /users` (an email address,
/// a password of 10 to 128 characters): without this check a 1-character
/// password or an email such as `not an email` went in unchecked. Refused
/// when the admin is created (the first start on an empty database).
fn check_settings(email: &str, password: &str) -> Result<(), String> {
    let input = UserCreate {
        email: Some(email.to_string()),
        name: Some("Administrator".into()),
        role: Some(Input::Known(Role::Admin)),
        password: Some(password.to_string()),
        active: None,
    };
    let errors = match check(&input, Vec::new()) {
        Ok(()) => return Ok(()),
        Err(ApiError::Validation(errors)) => errors,
        Err(other) => return Err(other.to_string()),
    };
    let refusals: Vec<String> = errors
        .iter()
        .map(|e| match e.field.as_str() {
            "email" => format!("PATRON_ADMIN_EMAIL {email:?} {}", e.message),
            // Never the password itself: it would end up in the log.
            "password" => format!("PATRON_ADMIN_PASSWORD {}", e.message),
            other => format!("first admin: {other} {}", e.message),
        })
        .collect();
    Err(refusals.join("; "))
}

#[cfg(test)]
mod tests {
    use super::check_settings;

    #[test]
    fn the_first_admin_follows_the_rules_of_post_users() {
        assert_eq!(check_settings("admin@localhost", "ten chars!"), Ok(()));
        assert_eq!(
            check_settings("admin@localhost", "ten\u{7f}chars!"),
            Err(format!(
                "PATRON_ADMIN_PASSWORD {}",
                crate::http::validation::FORBIDDEN_CHAR_MESSAGE
            ))
        );
        assert_eq!(
            check_settings("admin@example.com", "x"),
            Err("PATRON_ADMIN_PASSWORD must be 10 to 128 characters long".into())
        );
        assert_eq!(
            check_settings("not an email", &"p".repeat(129)),
            Err(
                "PATRON_ADMIN_EMAIL \"not an email\" must be a valid email address; \
                 PATRON_ADMIN_PASSWORD must be 10 to 128 characters long"
                    .into()
            )
        );
    }
}
