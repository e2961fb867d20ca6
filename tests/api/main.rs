//! Black-box HTTP tests: one binary, one module per resource.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod account_plans;
mod activity_figures;
mod activity_funnel;
mod activity_interactions;
mod activity_needs;
mod activity_timeline;
mod activity_transactions;
mod analytics;
mod auth;
mod changes;
mod changes_surveys;
mod churn;
mod churn_satisfaction;
mod contacts;
mod contract;
mod cpr;
mod crash;
mod customers_crud;
mod customers_list;
mod customers_validation;
mod errors;
mod health;
mod loyalty;
mod openapi;
mod outage;
mod reference;
mod roles;
mod segments;
mod segments_rules;
mod settings;
mod sqlite_checkpoint;
mod surveys;
mod sync_bulk;
mod sync_bulk_same;
mod sync_csv;
mod sync_idempotency;
mod sync_rate_limit;
mod tier_rules;
mod tiers;
mod updated_since;
mod users;
mod webhooks;
