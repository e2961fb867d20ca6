//! Routes and handlers: parse, authorize, call the domain, map the result.

pub mod analytics_cpr;
pub mod auth;
pub mod bulk;
pub mod bulk_customers;
pub mod bulk_transactions;
pub mod common;
pub mod contacts;
pub mod cpr;
pub mod customer_csv;
pub mod customer_input;
pub mod customer_query;
pub mod customers;
pub mod extract;
pub mod fallback;
pub mod funnel;
pub mod health;
pub mod idempotency;
pub mod interactions;
pub mod needs;
pub mod precondition;
pub mod rate_limit;
pub mod reference;
pub mod segments;
pub mod settings;
pub mod tiers;
pub mod timeline;
pub mod transactions;
pub mod users;
pub mod validation;
pub mod views;

use actix_web::web;
use utoipa_actix_web::{scope, service_config::ServiceConfig};

/// Every route, in one list: the server and the OpenAPI spec both use it.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(
            scope::scope("/api/v1")
                .service(auth::token)
                .service(users::list)
                .service(users::create)
                .service(users::get)
                .service(users::patch)
                .service(bulk_customers::bulk_customers)
                .service(customer_csv::export)
                .service(customer_csv::import)
                .service(customers::list)
                .service(customers::create)
                .service(customers::get)
                .service(customers::patch)
                .service(customers::delete)
                .service(customers::restore)
                .service(contacts::list)
                .service(contacts::create)
                .service(contacts::get)
                .service(contacts::patch)
                .service(contacts::delete)
                .service(interactions::list_all)
                .service(interactions::list)
                .service(interactions::create)
                .service(interactions::get)
                .service(interactions::patch)
                .service(interactions::delete)
                .service(bulk_transactions::bulk_transactions)
                .service(transactions::list_all)
                .service(transactions::list)
                .service(transactions::create)
                .service(transactions::get)
                .service(transactions::patch)
                .service(transactions::delete)
                .service(needs::list)
                .service(needs::create)
                .service(needs::get)
                .service(needs::patch)
                .service(needs::delete)
                .service(timeline::timeline)
                .service(timeline::history)
                .service(settings::get_cpr)
                .service(settings::put_cpr)
                .service(settings::get_tiers)
                .service(settings::put_tiers)
                .service(cpr::get)
                .service(cpr::pin)
                .service(cpr::unpin)
                .service(cpr::recompute)
                .service(tiers::get)
                .service(tiers::recompute)
                .service(analytics_cpr::cpr_report)
                .service(analytics_cpr::pareto_report)
                .service(segments::list)
                .service(segments::create)
                .service(segments::preview)
                .service(segments::get)
                .service(segments::patch)
                .service(segments::delete)
                .service(segments::list_members)
                .service(segments::add_members)
                .service(segments::remove_member)
                .service(reference::index)
                .service(reference::list),
        );
}

/// Bad path ids become problems, not actix's plain-text default.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(extract::path_error)
}

/// The body limit of `JsonBody`.
pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(extract::JSON_LIMIT)
}
