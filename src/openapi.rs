//! The OpenAPI document: the base (info, security, tags) plus every path
//! registered through utoipa-actix-web. `patron openapi` prints it.

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Patron CRM API",
        description = "Customer development and maintenance: the profile card, contact history, \
transactions, the sales funnel, tiers, segments, surveys, loyalty, churn and the CPR cycle.\n\n\
Authenticate with `POST /api/v1/auth/token`, then send `Authorization: Bearer <access_token>` \
(in Swagger UI: the Authorize button). Errors are `application/problem+json` (RFC 9457).",
        license(name = "MIT")
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    tags(
        (name = "auth", description = "Log in and get an access token"),
        (name = "users", description = "User management (admin)"),
        (name = "customers", description = "The customer profile card"),
        (name = "contacts", description = "Contact people of a customer"),
        (name = "reference", description = "Code lists with English and Chinese labels and strategies"),
        (name = "operations", description = "Health and readiness")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from POST /api/v1/auth/token"))
                    .build(),
            ),
        );
    }
}

pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The full document, built from the same route list as the server.
pub fn spec() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(base())
        .configure(crate::http::routes)
        .split_for_parts();
    api
}

/// The spec as YAML, exactly what `openapi.yaml` holds.
pub fn yaml() -> Result<String, String> {
    spec().to_yaml().map_err(|e| e.to_string())
}
