//! Routes and handlers: parse, authorize, call the domain, map the result.

pub mod account_plan_actions;
pub mod account_plan_evaluation;
pub mod account_plans;
pub mod analytics_churn;
pub mod analytics_cpr;
pub mod analytics_funnel;
pub mod analytics_overview;
pub mod analytics_sales;
pub mod auth;
pub mod auth_password;
pub mod body;
pub mod bulk;
pub mod bulk_customers;
pub mod bulk_customers_plan;
pub mod bulk_transactions;
pub mod bulk_transactions_plan;
pub mod bulk_version;
pub mod cache_control;
pub mod change_data;
pub mod changes;
pub mod charset;
pub mod churn;
pub mod churn_risk;
pub mod churn_settings;
pub mod client_address;
pub mod closed_routes;
pub mod code_schemas;
pub mod common;
pub mod conditional;
pub mod contacts;
pub mod cpr;
pub mod customer_csv;
mod customer_csv_target;
pub mod customer_currency;
pub mod customer_input;
pub mod customer_query;
pub mod customers;
pub mod dates;
pub mod extract;
pub mod fallback;
pub mod funnel;
pub mod head;
pub mod health;
pub mod idempotency;
pub mod idempotency_settle;
pub mod interactions;
pub mod json_values;
pub mod loyalty;
pub mod market;
pub mod needs;
pub mod no_body;
pub mod precondition;
pub mod rate_limit;
pub mod read_only;
pub mod reference;
pub mod report_period;
pub mod segment_totals;
pub mod segments;
pub mod settings;
pub mod spec;
pub mod survey_responses;
pub mod survey_results;
pub mod surveys;
pub mod tiers;
pub mod timeline;
pub mod transactions;
pub mod type_errors;
pub mod unique_keys;
pub mod users;
pub mod users_directory;
pub mod validation;
pub mod views;
pub mod webhooks;
pub mod wording;

use actix_web::web;

/// Every route, in one list, expanded twice: for the server with plain actix
/// (`routes`) and for the OpenAPI document with utoipa-actix-web
/// (`documented_routes`). utoipa-actix-web builds each operation's spec and
/// collects its schemas as the route is registered; the server did that once
/// per worker at start-up, and that code touched, with the page faults around
/// it, most of the binary's text into the idle process (docs/BENCHMARKS.md,
/// session 22). The document is now built on its first request (`spec`).
macro_rules! every_route {
    ($cfg:expr, $scope:path) => {
        $cfg.service(health::healthz)
            .service(health::readyz)
            .service(health::metrics)
            .service(
                $scope("/api/v1")
                    .service(auth::token)
                    .service(auth_password::change)
                    .service(changes::list)
                    .service(changes::head)
                    .service(webhooks::list)
                    .service(webhooks::create)
                    .service(webhooks::get)
                    .service(webhooks::patch)
                    .service(webhooks::remove)
                    .service(webhooks::deliveries)
                    .service(webhooks::replay)
                    .service(users::list)
                    // Before `/users/{id}`, which would take `directory` as an id.
                    .service(users_directory::list)
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
                    .service(surveys::list)
                    .service(surveys::create)
                    .service(surveys::get)
                    .service(surveys::patch)
                    .service(surveys::delete)
                    .service(survey_responses::create)
                    .service(survey_responses::list)
                    .service(survey_responses::get)
                    .service(survey_results::get)
                    .service(loyalty::get_settings)
                    .service(loyalty::put_settings)
                    .service(loyalty::report)
                    .service(reference::index)
                    .service(reference::list)
                    .service(churn::churn)
                    .service(churn::reactivate)
                    .service(churn::history)
                    .service(churn_risk::at_risk)
                    .service(churn_settings::get_churn)
                    .service(churn_settings::put_churn)
                    .service(analytics_churn::churn_report)
                    .service(analytics_sales::sales_report)
                    .service(analytics_overview::overview)
                    .service(analytics_funnel::funnel_report)
                    .service(market::customer_share)
                    .service(account_plans::list)
                    .service(account_plans::create)
                    .service(account_plans::get)
                    .service(account_plans::patch)
                    .service(account_plans::delete)
                    .service(account_plan_actions::list)
                    .service(account_plan_actions::create)
                    .service(account_plan_actions::get)
                    .service(account_plan_actions::patch)
                    .service(account_plan_actions::delete)
                    .service(account_plan_evaluation::evaluation),
            )
    };
}

/// The path as the router matches it: percent-escapes of characters other
/// than `/`, `%` and `+` decoded (`/api/v%31/customers` is routed as
/// `/api/v1/customers`). The middlewares that classify requests by path use
/// it, or an encoded letter walked past them to the handler.
pub fn routed_path(req: &actix_web::HttpRequest) -> &str {
    req.match_info().as_str()
}

/// The server's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    every_route!(cfg, web::scope);
}

/// The same routes with their OpenAPI operations, for `openapi::spec`.
pub fn documented_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    every_route!(cfg, utoipa_actix_web::scope::scope);
}

/// Bad path ids become problems, not actix's plain-text default.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(extract::path_error)
}
