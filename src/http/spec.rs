//! The OpenAPI document, as `/openapi.json`, built on its first use.
//!
//! Not at start-up: building it runs every operation's and every schema's
//! code, which kept most of the binary's text resident in an idle server
//! (docs/BENCHMARKS.md, session 22). Built once, serialized once and shared
//! by the workers (a copy per worker, as `SwaggerUi::url` keeps it, cost
//! ~10 MB with two workers).

use std::sync::OnceLock;

use actix_web::{http::header, web, HttpResponse};

use crate::error::ApiError;
use crate::http::fallback::RouteTable;

struct Document {
    json: Result<web::Bytes, String>,
    routes: RouteTable,
}

static DOCUMENT: OnceLock<Document> = OnceLock::new();

fn document() -> &'static Document {
    DOCUMENT.get_or_init(|| {
        let spec = crate::openapi::spec();
        Document {
            json: serde_json::to_vec(&spec)
                .map(web::Bytes::from)
                .map_err(|e| format!("cannot serialize the OpenAPI document: {e}")),
            routes: RouteTable::from_spec(&spec),
        }
    })
}

/// Every documented path template and its methods (`fallback`).
pub fn routes() -> &'static RouteTable {
    &document().routes
}

pub async fn openapi_json() -> Result<HttpResponse, ApiError> {
    // The first request builds the document (milliseconds of CPU): off the
    // worker, like any other blocking work; later ones take it as it is.
    let doc = match DOCUMENT.get() {
        Some(doc) => doc,
        None => web::block(document)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    };
    let json = doc.json.clone().map_err(ApiError::Internal)?;
    Ok(HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .body(json))
}
