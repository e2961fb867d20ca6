//! The CRM rules as plain Rust: no HTTP, no SQL.

pub mod codes;
pub mod cpr;
pub mod funnel;
pub mod reference;
pub mod segments;
pub mod tiers;
pub mod webhooks;
