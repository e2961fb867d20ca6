//! The first admin, created when the database has no user at all.

use crate::auth::password;
use crate::config::{random_string, Config};
use crate::db::{self, users, Db};
use crate::domain::codes::Role;

/// Creates the first admin if there is no user; returns the email and
/// password when the password was generated (to be printed once).
pub async fn first_admin(db: &Db, config: &Config) -> Result<Option<(String, String)>, String> {
    let email = config.admin_email.trim().to_lowercase();
    let (password, generated) = match &config.admin_password {
        Some(p) => (p.clone(), false),
        None => (random_string(20), true),
    };
    let result = db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
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
