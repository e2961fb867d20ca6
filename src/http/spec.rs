//! The OpenAPI document, as `/openapi.json`.

use actix_web::{http::header, web, HttpResponse};

/// The document serialized once at start-up (`startup.rs`) and shared by the
/// workers: a copy per worker, as `SwaggerUi::url` keeps it, cost ~10 MB of
/// idle RSS with two workers.
pub async fn openapi_json(spec: web::Data<web::Bytes>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .body(spec.get_ref().clone())
}
