//! `/webhooks` (admin): subscriptions to the change feed, their delivery
//! log, and replay from a cursor. Delivery itself: `crate::webhook_worker`.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::common::versioned;
use super::customer_input::nullable;
use super::extract::{JsonBody, NoQuery, QueryParams};
use super::no_body::NoBody;
use super::precondition;
use super::views::utc;
use crate::auth::AuthUser;
use crate::db::changes::{self, Position};
use crate::db::page::{self, Cursor};
use crate::db::row_lock::{lock, Locked};
use crate::db::webhooks::{self, DeliveryRow, WebhookInput, WebhookRow};
use crate::db::{self, DbConn};
use crate::domain::webhooks as rules;
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

const MAX_URL: usize = 2000;
const MIN_SECRET: usize = 16;
const MAX_SECRET: usize = 200;
const MAX_DESCRIPTION: usize = 500;

/// Delivery attempts a subscription's delete forgets per write (as the
/// retention purge's batches).
const LOG_DELETE_BATCH: i64 = crate::db::changes::PURGE_BATCH;

/// A subscription. The secret is write-only and never returned.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": 1, "url": "https://erp.example.com/patron/hooks", "events": ["customer.*", "transaction.created"],
    "active": true, "description": "ERP sync", "cursor": "eyJzIjoiY2hhbmdlcyIsImsiOjEyLCJpZCI6MzR9",
    "consecutive_failures": 0, "next_attempt_at": null, "disabled_reason": null, "version": 1,
    "created_at": "2026-11-29T10:00:00Z", "updated_at": "2026-11-29T10:00:00Z"
}))]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub description: Option<String>,
    /// The change-feed cursor of the last change delivered or skipped (not
    /// selected by `events`): delivery continues after it.
    pub cursor: String,
    /// Failed attempts in a row on the current change (0 when healthy). A
    /// change of `events`, `url` or `secret` starts it again, and clears
    /// `next_attempt_at`.
    pub consecutive_failures: i64,
    /// When the next retry is due, while retrying.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the subscription was disabled automatically.
    pub disabled_reason: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<WebhookRow> for WebhookView {
    fn from(w: WebhookRow) -> Self {
        WebhookView {
            events: w.filters(),
            cursor: super::changes::encode(w.position()),
            id: w.id,
            url: w.url,
            active: w.active,
            description: w.description,
            consecutive_failures: w.failures,
            next_attempt_at: w.next_attempt_at.map(utc),
            disabled_reason: w.disabled_reason,
            version: w.version,
            created_at: utc(w.created_at),
            updated_at: utc(w.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookPage {
    pub items: Vec<WebhookView>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A new subscription. It receives the changes committed after its creation
/// (use replay to go back).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://erp.example.com/patron/hooks", "events": ["customer.*", "transaction.created"],
    "secret": "a-long-random-shared-secret", "description": "ERP sync"
}))]
pub struct WebhookCreate {
    /// `http` or `https` URL, at most 2000 characters as sent and as stored
    /// (the form deliveries call: non-ASCII in the path percent-encoded, in
    /// the host Punycode; use https outside a private network). Its host
    /// must be public: an IP address that is loopback, private, link-local
    /// (cloud metadata), shared or reserved, and `localhost`, are refused
    /// (422 `not_allowed`) unless the server's
    /// `PATRON_WEBHOOK_ALLOWED_NETWORKS` includes it; a host name is checked
    /// at each delivery, by the addresses it resolves to then.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 2000)]
    pub url: Option<String>,
    /// Event filters: `*`, `<type>.<operation>`, `<type>.*` or
    /// `*.<operation>`; types `customer`, `contact`, `interaction`,
    /// `transaction`, `need`, `stage_change`, `survey`, `survey_response`,
    /// `account_plan`, `segment`;
    /// operations `created`,
    /// `updated`, `deleted`, `restored`. 1 to 50 filters.
    #[schema(required = true, value_type = Vec<super::code_schemas::EventFilter>, min_items = 1, max_items = 50)]
    pub events: Option<Vec<String>>,
    /// The HMAC key for `Patron-Signature`, 16 to 200 characters, the first
    /// and last not white space. Write-only.
    // The pattern is `secret_error`'s rule (`str::trim`'s white space); two
    // characters at least, as the minimum length asks anyway.
    #[schema(required = true, value_type = String, write_only, min_length = 16, max_length = 200,
        pattern = r"^[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\s\S]*[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$")]
    pub secret: Option<String>,
    /// Defaults to true.
    pub active: Option<bool>,
    /// At most 500 characters.
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// Only the fields sent change. Setting `active` to true re-enables a
/// disabled subscription and clears its failure count.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"description": "ERP order sync"}))]
pub struct WebhookPatch {
    // Read as "sent null" apart from "not sent": a null for a field that
    // cannot be empty is a 422, as on the other PATCHes (it was a silent 200
    // that changed nothing).
    /// As on creation: an `http` or `https` URL whose host is public or in
    /// `PATRON_WEBHOOK_ALLOWED_NETWORKS` (422 `not_allowed` otherwise).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 2000)]
    pub url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Vec<super::code_schemas::EventFilter>, required = false, min_items = 1, max_items = 50)]
    pub events: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = String, required = false, write_only, min_length = 16, max_length = 200,
        pattern = r"^[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\s\S]*[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$")]
    pub secret: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = bool, required = false)]
    pub active: Option<Option<bool>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Option<String>>,
}

/// Where to restart delivery.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"after": "eyJzIjoiY2hhbmdlcyIsImsiOjEyLCJpZCI6MzR9"}))]
pub struct WebhookReplay {
    /// A change-feed cursor: changes after it are delivered again. `null`
    /// replays every retained change (up to `PATRON_CHANGES_RETENTION_DAYS`
    /// of them; those of them, through the feed's head at the replay, that
    /// are purged before they are delivered are passed over, not a reason
    /// to stop it). Required, `null` included: a client that left it out by
    /// mistake (many drop unset fields) replayed the whole feed.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(required = true, value_type = Option<String>)]
    pub after: Option<Option<String>>,
}

/// One attempt to deliver one change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    /// The feed's change id (within `Patron-Delivery`'s cursor).
    pub change_id: i64,
    #[schema(value_type = super::code_schemas::EventName)]
    pub event: String,
    /// 1 for the first attempt, counting up while it fails.
    pub attempt: i64,
    /// `delivered` (2xx) or `failed`.
    #[schema(value_type = super::code_schemas::DeliveryOutcome)]
    pub outcome: String,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub at: DateTime<Utc>,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(d: DeliveryRow) -> Self {
        DeliveryView {
            id: d.id,
            change_id: d.change_id,
            event: d.event,
            attempt: d.attempt,
            outcome: d.outcome,
            http_status: d.http_status,
            error: d.error,
            duration_ms: d.duration_ms,
            at: utc(d.at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryView>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WebhookPageQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// What is wrong with `url`, or None. A host that is an address outside
/// the allowed networks, or `localhost`, is refused here so the admin
/// learns it now; delivery checks again, at connect time, the addresses a
/// host name resolves to then (`webhook_target`).
fn url_error(url: &str, allowed: &[IpNet]) -> Option<FieldError> {
    let bad = |msg: &str| Some(FieldError::new("url", "invalid_url", msg));
    if url.chars().count() > MAX_URL {
        return Some(FieldError::new(
            "url",
            "length",
            format!("must be at most {MAX_URL} characters"),
        ));
    }
    match reqwest::Url::parse(url) {
        // Stored as called: percent-encoding made a URL of 1,924 characters
        // 17,000 long, which the GET returned and a PATCH of it refused (a
        // review).
        Ok(u) if u.as_str().len() > MAX_URL => Some(FieldError::new(
            "url",
            "length",
            format!(
                "must be at most {MAX_URL} characters as deliveries call it (non-ASCII characters are percent-encoded or Punycode: {} here)",
                u.as_str().len()
            ),
        )),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => bad("must be an http or https URL"),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => bad("must name a host"),
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            bad("must not carry credentials; use the secret to authenticate deliveries")
        }
        Ok(u) => u
            .host()
            .and_then(|host| rules::host_refusal(host, allowed))
            .map(|why| FieldError::new("url", "not_allowed", why)),
        Err(_) => bad("must be an absolute http or https URL"),
    }
}

/// A URL as deliveries will call it (`url_error` passed it): parsed and
/// written back, so that what is stored and shown is where the deliveries
/// go (`http:///hook` is `http://hook/`; surrounding spaces are dropped).
fn normalized(url: &str) -> String {
    reqwest::Url::parse(url.trim()).map_or_else(|_| url.trim().to_string(), String::from)
}

fn events_errors(events: &[String], out: &mut Vec<FieldError>) {
    if events.is_empty() || events.len() > rules::MAX_EVENT_FILTERS {
        out.push(FieldError::new(
            "events",
            "length",
            format!("must hold 1 to {} filters", rules::MAX_EVENT_FILTERS),
        ));
    }
    for (i, e) in events.iter().enumerate() {
        if let Some(msg) = rules::filter_error(e) {
            out.push(FieldError::new(
                format!("events[{i}]"),
                "invalid_value",
                msg,
            ));
        }
    }
}

fn secret_error(secret: &str) -> Option<FieldError> {
    let n = secret.chars().count();
    (!(MIN_SECRET..=MAX_SECRET).contains(&n) || secret.trim() != secret).then(|| {
        FieldError::new(
            "secret",
            "length",
            format!("must be {MIN_SECRET} to {MAX_SECRET} characters without surrounding spaces"),
        )
    })
}

fn description_error(d: Option<&str>) -> Option<FieldError> {
    d.filter(|d| d.chars().count() > MAX_DESCRIPTION).map(|_| {
        FieldError::new(
            "description",
            "length",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        )
    })
}

fn fail_on(mut errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        return Ok(());
    }
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    Err(ApiError::Validation(errors))
}

fn dedup(events: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in events {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

fn find_webhook(conn: &mut DbConn, id: i64) -> Result<WebhookRow, ApiError> {
    webhooks::find(conn, id)?.ok_or_else(|| ApiError::NotFound(format!("no webhook {id}")))
}

fn respond(status: StatusCode, row: WebhookRow) -> HttpResponse {
    let location = format!("/api/v1/webhooks/{}", row.id);
    versioned(status, row.version, Some(location), &WebhookView::from(row))
}

/// List webhook subscriptions (admin).
#[utoipa::path(tag = "webhooks", params(WebhookPageQuery), responses(
    (status = 200, body = WebhookPage),
    (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json")
))]
#[get("/webhooks")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: QueryParams<WebhookPageQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let limit = page::limit(query.0.limit)?;
    let after = query
        .0
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, "webhooks", "id"))
        .transpose()?
        .map(|c| c.id);
    let page = state
        .db
        .run(move |conn| {
            let rows = webhooks::page(conn, after, limit)?;
            Ok(page::finish(rows, limit, "webhooks", |r| Cursor {
                s: "id".into(),
                k: serde_json::Value::Null,
                id: r.id,
            }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(WebhookPage {
        items: page.items.into_iter().map(WebhookView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Subscribe a URL to change-feed events (admin). Each selected change is
/// POSTed as JSON `{"event", "attempt", "change"}` (`change` as in
/// `GET /changes`), one at a time and in feed order, with headers
/// `Patron-Event`, `Patron-Delivery` (the change's cursor: the same on every
/// retry) and
/// `Patron-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
/// To verify: take `t` and `v1` from the header, compute the HMAC of the
/// decimal `t`, a dot and the raw body with your secret, compare in constant
/// time, and reject old `t` (e.g. more than 5 minutes) against replays.
/// Any 2xx answer counts as delivered; anything else (or no answer within
/// `PATRON_WEBHOOK_TIMEOUT_SECS`) is retried after an exponential backoff
/// (`PATRON_WEBHOOK_BACKOFF_BASE_MS` doubling up to
/// `PATRON_WEBHOOK_BACKOFF_MAX_SECS`), and later changes wait behind it; after
/// `PATRON_WEBHOOK_MAX_FAILURES` failures in a row the subscription is
/// disabled (`active: false`, `disabled_reason`). Delivery is at least once,
/// and a replay sends older changes again after newer ones: apply a change
/// only if its `change.version` is above the version you hold of that entity,
/// so a repeat changes nothing and a replayed older change never overwrites
/// newer data.
#[utoipa::path(tag = "webhooks", request_body = WebhookCreate, responses(
    (status = 201, body = WebhookView, headers(("ETag" = String), ("Location" = String))),
    (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, description = "Bad url, events, secret or description", body = crate::error::Problem, content_type = "application/problem+json")
))]
#[post("/webhooks")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    _query: NoQuery,
    body: JsonBody<WebhookCreate>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let input = body.0;
    let mut errors = Vec::new();
    let required = |field: &str| FieldError::new(field, "required", "is required");
    match input.url.as_deref() {
        None => errors.push(required("url")),
        Some(url) => errors.extend(url_error(url, &state.webhook_allowed_networks)),
    }
    match input.events.as_deref() {
        None => errors.push(required("events")),
        Some(events) => events_errors(events, &mut errors),
    }
    match input.secret.as_deref() {
        None => errors.push(required("secret")),
        Some(secret) => errors.extend(secret_error(secret)),
    }
    errors.extend(description_error(input.description.as_deref()));
    fail_on(errors)?;
    let new = WebhookInput {
        url: normalized(input.url.as_deref().unwrap_or_default()),
        events: dedup(input.events.unwrap_or_default()),
        secret: input.secret.unwrap_or_default(),
        active: input.active.unwrap_or(true),
        description: super::common::clean(input.description),
    };
    let row = state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                let start = changes::head(conn)?;
                let row = webhooks::insert(conn, &new, start, db::now())?;
                user.unchanged_in(conn)?;
                Ok(row)
            })
        })
        .await?;
    Ok(respond(StatusCode::CREATED, row))
}

/// Read a subscription and its delivery state (admin).
#[utoipa::path(tag = "webhooks", params(("id" = i64, Path, description = "Webhook id")), responses(
    (status = 200, body = WebhookView, headers(("ETag" = String))),
    (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such webhook", body = crate::error::Problem, content_type = "application/problem+json")
))]
#[get("/webhooks/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let id = path.into_inner();
    let row = state.db.lookup(move |conn| find_webhook(conn, id)).await?;
    Ok(respond(StatusCode::OK, row))
}

/// Change a subscription (admin); `active: true` re-enables a disabled one.
#[utoipa::path(tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the webhook is no longer at that version")),
    request_body = WebhookPatch, responses(
    (status = 200, body = WebhookView, headers(("ETag" = String))),
    (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such webhook", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 412, description = "The webhook is not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, description = "Bad url, events, secret or description", body = crate::error::Problem, content_type = "application/problem+json")
))]
#[patch("/webhooks/{id}")]
pub async fn patch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<WebhookPatch>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let id = path.into_inner();
    let expected = precondition::if_match(&req)?;
    let input = body.0;
    let mut errors = super::validation::nulls(&[
        ("url", matches!(input.url, Some(None))),
        ("events", matches!(input.events, Some(None))),
        ("secret", matches!(input.secret, Some(None))),
        ("active", matches!(input.active, Some(None))),
    ]);
    let (url, events, secret, active) = (
        input.url.flatten(),
        input.events.flatten(),
        input.secret.flatten(),
        input.active.flatten(),
    );
    errors.extend(
        url.as_deref()
            .and_then(|u| url_error(u, &state.webhook_allowed_networks)),
    );
    if let Some(events) = events.as_deref() {
        events_errors(events, &mut errors);
    }
    errors.extend(secret.as_deref().and_then(secret_error));
    errors.extend(description_error(
        input.description.clone().flatten().as_deref(),
    ));
    fail_on(errors)?;
    let row = state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                lock(conn, Locked::Webhooks, id)?;
                let row = find_webhook(conn, id)?;
                precondition::check(expected.as_deref(), row.version)?;
                let reactivate = active == Some(true);
                let stored = WebhookInput {
                    events: row.filters(),
                    url: row.url.clone(),
                    secret: row.secret.clone(),
                    active: row.active,
                    description: row.description.clone(),
                };
                // The same filters in another order are no change: kept as
                // stored, the failure count and back-off stay.
                let events = events
                    .map(dedup)
                    .filter(|e| !rules::same_filters(e, &stored.events));
                let new = WebhookInput {
                    events: events.unwrap_or_else(|| row.filters()),
                    url: url.map_or_else(|| row.url.clone(), |u| normalized(&u)),
                    secret: secret.unwrap_or(row.secret.clone()),
                    active: active.unwrap_or(row.active),
                    description: match input.description {
                        Some(d) => super::common::clean(d),
                        None => row.description.clone(),
                    },
                };
                // Nothing differs and nothing to reset (`{"active": true}` on a
                // subscription with failures retries it now): no write.
                let nothing_to_reset = row.failures == 0
                    && row.disabled_reason.is_none()
                    && row.next_attempt_at.is_none();
                if new == stored && (!reactivate || nothing_to_reset) {
                    return Ok(row);
                }
                if !webhooks::save(conn, id, &new, row.version, reactivate, db::now())? {
                    return Err(ApiError::PreconditionFailed {
                        current: row.version + 1,
                    });
                }
                user.unchanged_in(conn)?;
                find_webhook(conn, id)
            })
        })
        .await?;
    Ok(respond(StatusCode::OK, row))
}

/// Delete a subscription and its delivery log (admin). The subscription is
/// switched off at once (the 404 and the 412 come before that), then its log
/// goes in batches (other writes go on between them), then the
/// subscription. A delete cut short (a 503) leaves it switched off
/// (`disabled_reason`: being deleted): send the delete again (its
/// `If-Match` is not judged then).
#[utoipa::path(tag = "webhooks", params(("id" = i64, Path, description = "Webhook id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if it is no longer at that version")), responses(
    (status = 204, description = "Deleted"),
    (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such webhook", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
))]
#[delete("/webhooks/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i64>,
    _query: NoQuery,
    _body: NoBody,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let id = path.into_inner();
    let expected = precondition::if_match(&req)?;
    // The 404 and the 412 before anything changes; then no delivery starts
    // or moves the position: checked last, a version moved by the worker (a
    // disable after failures) made a 412 after the log was gone (a review).
    state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                lock(conn, Locked::Webhooks, id)?;
                let row = find_webhook(conn, id)?;
                // A delete cut short is finished by the next, whatever
                // ETag it read before: the first moved the version (a
                // review found the documented retry a 412).
                if row.disabled_reason.as_deref() != Some(webhooks::BEING_DELETED) {
                    precondition::check(expected.as_deref(), row.version)?;
                }
                Ok(webhooks::stop_for_delete(conn, id)?)
            })
        })
        .await?;
    // The log, a batch per write: other writers take their turns between.
    loop {
        let n = state
            .db
            .write(move |conn| Ok(webhooks::delete_log_batch(conn, id, LOG_DELETE_BATCH)?))
            .await?;
        if i64::try_from(n).map_or(true, |n| n < LOG_DELETE_BATCH) {
            break;
        }
    }
    // Gone already (a delete sent twice at once): done all the same.
    state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                lock(conn, Locked::Webhooks, id)?;
                Ok(webhooks::delete(conn, id)?)
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The delivery log of a subscription, newest first (admin): every attempt
/// with its outcome, HTTP status or error, and duration.
#[utoipa::path(tag = "webhooks", params(("id" = i64, Path, description = "Webhook id"), WebhookPageQuery), responses(
    (status = 200, body = DeliveryPage),
    (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such webhook", body = crate::error::Problem, content_type = "application/problem+json")
))]
#[get("/webhooks/{id}/deliveries")]
pub async fn deliveries(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    query: QueryParams<WebhookPageQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let id = path.into_inner();
    let limit = page::limit(query.0.limit)?;
    let before = query
        .0
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &format!("webhook-deliveries:{id}"), "-id"))
        .transpose()?
        .map(|c| c.id);
    let page = state
        .db
        .run(move |conn| {
            find_webhook(conn, id)?;
            let rows = webhooks::deliveries(conn, id, before, limit)?;
            Ok(page::finish(
                rows,
                limit,
                &format!("webhook-deliveries:{id}"),
                |r| Cursor {
                    s: "-id".into(),
                    k: serde_json::Value::Null,
                    id: r.id,
                },
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(DeliveryPage {
        items: page.items.into_iter().map(DeliveryView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Deliver again every selected change after a cursor (admin): moves the
/// subscription's position back (or forward) to `after` and clears the
/// backoff: an active subscription retries at once (once the lease of a
/// process that was delivering, or was killed delivering, is released or
/// ends: `PATRON_WEBHOOK_LEASE_SECS`). A disabled one stays
/// disabled: `PATCH {"active": true}` re-enables it. The changes are sent with
/// the same `Patron-Delivery` ids as before (they are the same changes).
/// A delivery on the wire meanwhile is waited for: its answer no longer
/// counts, no other POST starts before it ends, and the replayed changes
/// follow in order. A cursor older than the feed's retention is 410.
///
/// Unconditional: `If-Match` is not read (a replay sets only the position
/// and the backoff, whatever else changed); the new `version` is the ETag.
#[utoipa::path(tag = "webhooks", params(("id" = i64, Path, description = "Webhook id")), request_body = WebhookReplay, responses(
    (status = 200, body = WebhookView, headers(("ETag" = String))),
    (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such webhook", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 410, description = "The cursor is older than the feed's retention", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, description = "`after` is not a change-feed cursor", body = crate::error::Problem, content_type = "application/problem+json")
))]
#[post("/webhooks/{id}/replay")]
pub async fn replay(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<WebhookReplay>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let id = path.into_inner();
    let Some(after) = body.0.after else {
        return Err(ApiError::invalid(
            "after",
            "required",
            "send a change-feed cursor, or null to replay every retained change",
        ));
    };
    // Empty is refused, not read as null as `GET /changes?after=` reads it:
    // here null replays every retained change to the receiver, more than a
    // blank form field should start (QA asked why the two differ).
    let after = after
        .as_deref()
        .map(|c| {
            super::changes::decode(c).map_err(|_| {
                let message = match c.is_empty() {
                    true => {
                        "empty: send a change-feed cursor, or null to replay every retained change"
                    }
                    false => "not a cursor returned by the change feed",
                };
                ApiError::invalid("after", "invalid_value", message)
            })
        })
        .transpose()?;
    let row = state
        .db
        .write(move |conn| {
            db::write_tx(conn, |conn| {
                let hook = find_webhook(conn, id)?;
                let purged = changes::purged_through(conn)?;
                let followed = crate::domain::webhooks::entity_types(&hook.filters());
                let head = changes::head(conn)?;
                let to = match after {
                    Some(p) if p < changes::purged_through_types(conn, &followed)? => {
                        return Err(ApiError::Gone(
                            "this cursor is older than the change feed's retention: the changes after it were purged".into(),
                        ))
                    }
                    Some(p) if p > head => {
                        return Err(ApiError::Validation(vec![
                            super::changes::past_the_end(),
                        ]))
                    }
                    Some(p) => p,
                    None => purged.max(Position::default()),
                };
                let through = after.is_none().then_some(head);
                webhooks::rewind(conn, id, to, through, db::now())?;
                user.unchanged_in(conn)?;
                find_webhook(conn, id)
            })
        })
        .await?;
    Ok(respond(StatusCode::OK, row))
}
