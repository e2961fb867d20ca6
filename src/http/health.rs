//! Liveness and readiness.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the check passed.
    #[schema(example = "ok")]
    pub status: String,
}

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

/// The database answers, with Patron's schema.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "The database is unreachable, has no Patron schema, or was migrated by a newer Patron (a rolling update: this process leaves the load balancer; its log says which migrations)", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds to wait before asking again (1)")))
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .db
        .run(|conn| {
            // A table's page: SQLite answers `SELECT 1` without opening the
            // file (a review: a database gone from under it stayed ready).
            let newer = crate::db::migrate::newer_applied(conn)
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            if newer.is_empty() {
                Ok(())
            } else {
                Err(ApiError::Unavailable(crate::db::migrate::newer_schema(
                    &newer,
                )))
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(Health {
        status: "ok".into(),
    }))
}

/// Prometheus metrics (text format): `patron_http_requests_total` and
/// `patron_http_requests_duration_seconds` by route pattern, method and
/// status; `patron_db_pool_connections`, `patron_db_pool_idle_connections`,
/// `patron_db_pool_max_connections`, `patron_db_pool_wait_seconds`,
/// `patron_db_pool_timeouts_total`; `patron_db_card_reads_total` and
/// `patron_db_card_read_statements_total` (PostgreSQL card reads and the
/// statements that served them: their ratio is the batching that
/// `PATRON_PG_CARD_READERS` tunes). Served by the metrics middleware; this
/// handler only documents it.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"))
)]
#[get("/metrics")]
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body("")
}
