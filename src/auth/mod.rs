//! Authentication (JWT, passwords, login throttling) and role rules.

pub mod bootstrap;
pub mod extract;
pub mod jwt;
pub mod password;
pub mod reset;
pub mod roles;
pub mod stored_emails;
pub mod throttle;
pub mod user_cache;
mod verified_tokens;

pub use extract::AuthUser;
