//! The CRM rules as plain Rust: no HTTP, no SQL.

pub mod account_plans;
pub mod birthdays;
pub mod churn;
pub mod codes;
pub mod cpr;
pub mod cpr_moves;
pub mod email;
pub mod funnel;
pub mod funnel_conversion;
pub mod instants;
pub mod loyalty;
pub mod market;
pub mod pareto;
pub mod periods;
pub mod reference;
pub mod segments;
pub mod statistics;
pub mod surveys;
pub mod tiers;
pub mod webhooks;
