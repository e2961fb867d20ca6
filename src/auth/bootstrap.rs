//! The first admin, created when the database has no user at all.

use crate::auth::password;
use crate::config::{random_string, Config};
use crate::db::{self, users, Db};
use crate::domain::codes::Role;
use crate::error::ApiError;
use crate::http::users::UserCreate;
use crate::http::validation::{check, Input};

/// Creates the first admin if there is no user; returns the email and
/// password when the password was generated (to be printed once).
pub async fn first_admin(db: &Db, config: &Config) -> Result<Option<(String, String)>, String> {
    let email = crate::domain::email::normalize(&config.admin_email);
    let (password, generated) = match &config.admin_password {
        Some(p) => (p.clone(), false),
        None => (random_string(20), true),
    };
    // Checked only when they are used: a deployment whose users exist keeps
    // starting whatever its environment still holds.
    let users_exist = db
        .run(|conn| Ok(users::count(conn)? > 0))
        .await
        .map_err(|e| format!("cannot count the users: {e}"))?;
    if users_exist {
        return Ok(None);
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
    Ok(if generated { result } else { None })
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
