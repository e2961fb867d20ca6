//! Black-box HTTP tests: one binary, one module per resource.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod auth;
mod contacts;
mod customers_crud;
mod customers_list;
mod customers_validation;
mod errors;
mod health;
mod openapi;
mod reference;
mod roles;
mod users;
