//! `/reference/...`: the code lists of the domain.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::NoQuery;
use super::views::CodeEntryView;
use crate::auth::AuthUser;
use crate::domain::reference;
use crate::error::ApiError;

#[derive(Serialize, ToSchema)]
pub struct ReferenceIndex {
    /// The names of the lists, for `GET /api/v1/reference/{list}`.
    #[schema(example = json!(["personality-types", "funnel-stages"]))]
    pub lists: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReferenceList {
    #[schema(example = "personality-types")]
    pub list: String,
    pub items: Vec<CodeEntryView>,
}

/// The available code lists.
#[utoipa::path(tag = "reference", responses((status = 200, body = ReferenceIndex)))]
#[get("/reference")]
pub async fn index(_user: AuthUser, _query: NoQuery) -> HttpResponse {
    HttpResponse::Ok().json(ReferenceIndex {
        lists: reference::LIST_NAMES
            .iter()
            .map(|s| s.to_string())
            .collect(),
    })
}

/// One code list with English and Chinese labels and, where the domain has
/// one, the strategy for each code. The list comes whole (a few dozen codes
/// at most): `{list, items}`, with no `next_cursor`, and no query
/// parameter is taken.
#[utoipa::path(
    tag = "reference",
    params(("list" = String, Path, description = "The list name",
        example = "personality-types",
        pattern = "^(personality-types|social-styles|acquisition-sources|latent-need-types|funnel-stages|prospect-grades|cpr-stages|tiers|satisfaction-levels|satisfaction-dimensions|loyalty-types|churn-reasons|interaction-types|contact-roles|customer-kinds|account-plan-actions|genders)$")),
    responses((status = 200, body = ReferenceList))
)]
#[get("/reference/{list}")]
pub async fn list(
    _user: AuthUser,
    path: web::Path<String>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner();
    let entries = reference::list(&name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no reference list {name:?}; see GET /api/v1/reference for the names"
        ))
    })?;
    Ok(HttpResponse::Ok().json(ReferenceList {
        list: name,
        items: entries.iter().map(CodeEntryView::from).collect(),
    }))
}
