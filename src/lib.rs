//! Patron: a CRM backend for customer development and maintenance.

pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod logging;
pub mod metrics;
pub mod openapi;
pub mod startup;
pub mod webhook_target;
pub mod webhook_worker;
