//! Bulk upsert machinery shared by `/customers/bulk`, `/transactions/bulk`
//! and the CSV import: the request body, per-item results, savepoints, the
//! atomic mode and the idempotent store of the response.

use actix_web::http::{header, StatusCode};
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::idempotency::{self, IdemKey};
use crate::auth::AuthUser;
use crate::db::idempotency::Stored;
use crate::db::{self, DbConn};
use crate::error::{ApiError, FieldError};

/// Most items in one bulk call (and rows in one CSV import).
pub const MAX_ITEMS: usize = 1000;
/// Body limit of the bulk endpoints and the import: it keeps one request's
/// memory bounded. About 8 KB per item at 1,000 items: typical ERP cards,
/// not cards at their field limits (~30 KB of Chinese each), so clients
/// split batches by size too (README, Limits).
pub const BULK_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// Most JSON values in a bulk body, counted before it is parsed
/// (`json_values`): 200 per item at the most items, over twice a card with
/// every field and 50 tags; the bytes alone let 8 MiB of tiny values take
/// 134 MB.
pub const MAX_JSON_VALUES: u64 = 200 * MAX_ITEMS as u64;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BulkQuery {
    /// `true`: all items are applied or none (every item's errors are still
    /// reported, the others are `skipped`). Default `false`: good items are
    /// applied even when others fail.
    pub all_or_none: Option<bool>,
}

/// What happened to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Created,
    Updated,
    /// Nothing differs: no write, no version bump, no history event.
    Unchanged,
    Error,
    /// Valid, but not applied because another item of an `all_or_none` batch failed.
    Skipped,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"index": 0, "status": "created", "id": 42, "version": 1, "errors": []}))]
pub struct ItemResult {
    /// Position of the item in the request (0-based); for the CSV import the
    /// data row number (1 = the first row after the header).
    pub index: usize,
    pub status: ItemStatus,
    /// The record's id; null when the item failed (or was skipped before creation).
    pub id: Option<i64>,
    /// The record's version after the call.
    pub version: Option<i64>,
    /// Field errors, with paths relative to the item (e.g. `name`); empty unless `error`.
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BulkResponse {
    /// One result per item, in request order.
    pub items: Vec<ItemResult>,
}

/// The outcome of one good item.
pub struct Applied {
    pub status: ItemStatus,
    pub id: i64,
    pub version: i64,
}

/// The 422 of a rejected `all_or_none` batch: a validation problem naming
/// every bad field as `items[i].field` (`items[i]` for the item as a
/// whole), plus the per-item results.
fn rejection(rejected: BulkResponse) -> HttpResponse {
    let errors: Vec<FieldError> = rejected
        .items
        .iter()
        .flat_map(|r| {
            r.errors.iter().map(move |e| FieldError {
                // The item as a whole is `items[i]` (`items[i].item` named
                // a field no item has; a review).
                field: match e.field.as_str() {
                    "item" | "" => format!("items[{}]", r.index),
                    field => format!("items[{}].{field}", r.index),
                },
                code: e.code.clone(),
                message: e.message.clone(),
            })
        })
        .collect();
    let failed = rejected
        .items
        .iter()
        .filter(|r| r.status == ItemStatus::Error)
        .count();
    let mut problem =
        serde_json::to_value(ApiError::Validation(errors).problem()).unwrap_or_default();
    if let Some(obj) = problem.as_object_mut() {
        obj.insert(
            "detail".into(),
            format!(
                "{failed} of {} items failed; nothing was applied (all_or_none)",
                rejected.items.len()
            )
            .into(),
        );
        obj.insert(
            "items".into(),
            serde_json::to_value(&rejected.items).unwrap_or_default(),
        );
    }
    HttpResponse::UnprocessableEntity()
        .content_type("application/problem+json")
        .body(problem.to_string())
}

/// Reads a body of at most `BULK_BODY_LIMIT` bytes, encoded and decoded
/// (an ERP compresses the large ones first).
pub async fn read_body(req: &HttpRequest, payload: web::Payload) -> Result<Bytes, ApiError> {
    let mut payload = payload.into_inner();
    super::body::read(req, &mut payload, BULK_BODY_LIMIT)
        .await
        .map_err(|e| match e {
            super::body::BodyError::TooLarge => too_large(),
            super::body::BodyError::Bad(e) => e,
        })
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the body is larger than {BULK_BODY_LIMIT} bytes (8 MiB): split the batch into smaller calls (at most {MAX_ITEMS} items each)"
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Items {
    items: Vec<super::unique_keys::UniqueKeys>,
}

/// The `items` of a JSON bulk body: 415 unless JSON in UTF-8, 413 over the
/// limits, 422 when empty. Parsed on the blocking pool: an 8 MiB body takes
/// tens of milliseconds, which the async worker's other requests would wait.
pub async fn read_json_items(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Vec<serde_json::Value>, ApiError> {
    super::charset::single_header(req)?;
    if !super::extract::is_json(req) {
        return Err(ApiError::UnsupportedMediaType(
            "the request body must be JSON (Content-Type: application/json)".into(),
        ));
    }
    super::charset::require_utf8(req)?;
    let body = read_body(req, payload).await?;
    off_the_worker(move || {
        if super::json_values::more_than(&body, MAX_JSON_VALUES) {
            return Err(ApiError::PayloadTooLarge(format!(
                "the body holds more than {MAX_JSON_VALUES} JSON values: split the batch into smaller calls (at most {MAX_ITEMS} items each)"
            )));
        }
        let parsed: Items = super::extract::parse_json_items(&body)?;
        count_ok(parsed.items.len(), "items")?;
        Ok(parsed.items.into_iter().map(|item| item.0).collect())
    })
    .await
}

/// `work` on the blocking pool (CPU-bound parsing of a large body).
pub async fn off_the_worker<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(work)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// Drops the nulls of `fields` from an item that updates a record. These
/// are the fields a create fills in when they are null (a card's currency,
/// an order's date, ...): on an existing record a null leaves the field as
/// it is, so that an ERP re-sending an item exactly as it first sent it,
/// nulls included, is `unchanged` (a PATCH refuses such a null: it could
/// only mean "remove" there, and these fields cannot be empty).
pub fn drop_defaulted_nulls(item: &mut serde_json::Value, fields: &[&str]) {
    if let Some(obj) = item.as_object_mut() {
        obj.retain(|key, value| !(value.is_null() && fields.contains(&key.as_str())));
    }
}

/// The text key `field` of a bulk item (an external id, a customer's
/// external id), trimmed; `None` when absent or null. Checked before the
/// item's lookups: a key with a control character names no stored record
/// (no stored text holds one), and PostgreSQL refuses a NUL in a bind, which
/// failed the whole batch with a 500.
pub fn key_of(item: &serde_json::Value, field: &str) -> Result<Option<String>, ApiError> {
    match item.get(field) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                Err(ApiError::invalid(field, "blank", "must not be blank"))
            } else if s.chars().any(super::validation::forbidden_char) {
                Err(ApiError::invalid(
                    field,
                    "invalid_character",
                    super::validation::FORBIDDEN_CHAR_MESSAGE,
                ))
            } else {
                Ok(Some(s.to_string()))
            }
        }
        // Worded as every other type error (it said "must be a string").
        Some(other) => {
            let text = serde_json::from_value::<String>(other.clone())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            let (code, message) = super::wording::plain(&text);
            Err(ApiError::invalid(field, code, &message))
        }
    }
}

/// An item's key errors (`keys`: its external id, an order's customer
/// reference) with the errors of its other fields, read by `rest` as a
/// change of a known record (types and rules; what only a create requires
/// cannot be told without the key): a bad key hid every other error of the
/// item, and an ERP needed a round per kind of mistake (QA).
pub fn with_other_errors(
    key_errors: impl IntoIterator<Item = ApiError>,
    item: &serde_json::Value,
    keys: &[&str],
    rest: impl FnOnce(serde_json::Value) -> Result<(), ApiError>,
) -> ApiError {
    let mut errors = Vec::new();
    for e in key_errors {
        match e {
            ApiError::Validation(e) => errors.extend(e),
            other => return other,
        }
    }
    let mut others = item.clone();
    if let Some(obj) = others.as_object_mut() {
        obj.retain(|name, _| !keys.contains(&name.as_str()));
        if let Err(ApiError::Validation(more)) = rest(others) {
            errors.extend(more);
        }
    }
    // By field, as every other 422 lists them.
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    errors.truncate(super::extract::MAX_NAMED);
    ApiError::Validation(errors)
}

pub fn count_ok(n: usize, field: &str) -> Result<(), ApiError> {
    if n > MAX_ITEMS {
        return Err(ApiError::PayloadTooLarge(format!(
            "{n} items; at most {MAX_ITEMS} per call"
        )));
    }
    if n == 0 {
        return Err(ApiError::invalid(
            field,
            "length",
            "must hold at least one item",
        ));
    }
    Ok(())
}

/// Parses one item, naming every bad field relative to the item: its type
/// errors and its `extract::content_errors` (control characters, nested
/// arrays: checked here, not on the whole body, so that they are this
/// item's errors). As in a single write's
/// body, an integral float (`53.0`) fills an integer field.
pub fn parse_item<T: DeserializeOwned>(mut value: serde_json::Value) -> Result<T, ApiError> {
    let controls = super::extract::content_errors(&value);
    if controls.is_empty() {
        if let Ok(parsed) = T::deserialize(&value) {
            return Ok(parsed);
        }
    }
    super::extract::integral_floats_to_integers(&mut value);
    let mut errors = match super::type_errors::from_value::<T>(value) {
        Ok(parsed) if controls.is_empty() => return Ok(parsed),
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    };
    for error in &mut errors {
        if error.field.is_empty() || error.field == "." {
            error.field = "item".into();
        }
    }
    errors.extend(controls);
    errors.truncate(super::extract::MAX_NAMED);
    Err(ApiError::Validation(errors))
}

/// `e` with `fields` among those an unknown field's message lists: serde
/// names the fields of the item's struct, and an item takes more (its
/// `version`, taken out before; an order's customer reference): an ERP
/// developer read "expected one of" as the whole list (a QA review).
pub fn naming_also(e: ApiError, fields: &str) -> ApiError {
    match e {
        ApiError::Validation(mut errors) => {
            for error in &mut errors {
                if error.code == "unknown_field" && error.message.contains("expected one of ") {
                    error.message.push_str(", ");
                    error.message.push_str(fields);
                }
            }
            ApiError::Validation(errors)
        }
        other => other,
    }
}

/// An item's failure as field errors; None for failures that are not the
/// item's fault (they fail the whole call).
fn item_errors(e: ApiError) -> Result<Vec<FieldError>, ApiError> {
    Ok(match e {
        ApiError::Validation(errors) | ApiError::InvalidQuery(errors) => errors,
        ApiError::Conflict(m) => vec![FieldError::new("external_id", "conflict", m)],
        ApiError::FieldConflict(error) => vec![error],
        ApiError::Forbidden(m) => vec![FieldError::new("item", "forbidden", m)],
        ApiError::NotFound(m) => vec![FieldError::new("item", "not_found", m)],
        ApiError::PreconditionFailed { .. } => vec![FieldError::new(
            "item",
            "conflict",
            "the record changed during the call: send the item again in a new request, \
             with a new Idempotency-Key (this response is what the key replays)",
        )],
        ApiError::BadRequest(m) => vec![FieldError::new("item", "invalid_value", m)],
        other => return Err(other),
    })
}

enum Abort {
    Api(ApiError),
    /// An `all_or_none` batch with failed items: everything rolled back.
    Atomic(Vec<ItemResult>),
    Replay(Stored),
}

/// What a batch came to (sendable back from the blocking pool).
pub enum Outcome {
    /// Applied (200), the response body.
    Done(String),
    /// The stored response of the same earlier call.
    Replay(Stored),
    /// `all_or_none` with failures: nothing applied (422).
    Rejected(BulkResponse),
}

impl Outcome {
    pub fn respond(self) -> HttpResponse {
        match self {
            Outcome::Done(body) => HttpResponse::Ok()
                .content_type("application/json")
                .body(body),
            Outcome::Replay(stored) => idempotency::replay(&stored),
            Outcome::Rejected(rejected) => rejection(rejected),
        }
    }
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Abort::Api(e.into())
    }
}

impl From<ApiError> for Abort {
    fn from(e: ApiError) -> Self {
        Abort::Api(e)
    }
}

/// What the batch-wide pass (`plan`) made of an item.
pub enum Planned<I> {
    /// Settled set-based for the whole batch: applied, or failed.
    Done(Result<Applied, ApiError>),
    /// Left to the per-item path, in its own savepoint.
    Each(I),
    /// As `Each`, and its changes rendered for the feed when it commits: a
    /// later item of the batch writes the same record. The feed renders
    /// each record once, at commit, so both items' changes showed the last
    /// one's state (a `created` at version 1 with version 2's amount).
    Repeated(I),
}

/// A set-based pass's results, once it has given every item its `Planned`.
pub fn settled<I>(out: Vec<Option<Planned<I>>>) -> Result<Vec<Planned<I>>, ApiError> {
    out.into_iter()
        .map(|p| p.ok_or_else(|| ApiError::Internal("bulk plan left an item".into())))
        .collect()
}

/// Every item left to the per-item path, in order (a batch naming one
/// record twice), by its key (`None`: names no record); the items whose
/// key a later item repeats are `Repeated`.
pub fn in_order<I>(items: Vec<I>, keys: &[Option<String>]) -> Vec<Planned<I>> {
    let mut later = std::collections::HashSet::new();
    let mut repeated = vec![false; items.len()];
    for (i, key) in keys.iter().enumerate().rev() {
        if let Some(key) = key {
            repeated[i] = !later.insert(key.as_str());
        }
    }
    items
        .into_iter()
        .zip(repeated.into_iter().chain(std::iter::repeat(false)))
        .map(|(item, r)| {
            if r {
                Planned::Repeated(item)
            } else {
                Planned::Each(item)
            }
        })
        .collect()
}

/// Runs one write transaction for the batch: first `plan` over all items
/// (the set-based fast path: it settles what it can in a few statements and
/// returns one `Planned` per item, in order), then `apply` for every item
/// it left (numbered from `first_index`), each in its own savepoint (a
/// failed item leaves no trace), in the order of their `run_key` (one key's
/// items in batch order; `None` first), then `finish` once for the whole batch
/// (set-based refreshes); all as `caller`, whose account must still be
/// active with the same role once the items are written (else 401 or 403,
/// and nothing is). With `all_or_none`, any failed item rolls
/// everything back and the answer is 422 with every item's result. With an
/// idempotency key, the 200 response is stored in the same transaction.
/// Call on the blocking pool (inside `Db::run`).
#[allow(clippy::too_many_arguments)]
pub fn run_batch<I, P, K, F, G>(
    conn: &mut DbConn,
    caller: &AuthUser,
    items: Vec<I>,
    first_index: usize,
    all_or_none: bool,
    key: Option<&IdemKey>,
    plan: P,
    run_key: K,
    mut apply: F,
    finish: G,
) -> Result<Outcome, ApiError>
where
    P: FnOnce(&mut DbConn, Vec<I>) -> Result<Vec<Planned<I>>, ApiError>,
    K: Fn(&I) -> Option<String>,
    F: FnMut(&mut DbConn, usize, I) -> Result<Applied, ApiError>,
    G: FnOnce(&mut DbConn) -> Result<(), ApiError>,
{
    let outcome = db::write_tx(conn, |conn| {
        if let Some(key) = key {
            crate::db::idempotency::wait_for_same_key(conn, key.user_id, &key.key)?;
            if let Some(replay) = idempotency::check_in_tx(conn, key)? {
                return Err(Abort::Replay(replay));
            }
        }
        let count = items.len();
        let planned = plan(conn, items)?;
        if planned.len() != count {
            return Err(Abort::Api(ApiError::Internal(
                "bulk plan lost items".into(),
            )));
        }
        let mut steps: Vec<(usize, Planned<I>)> = planned.into_iter().enumerate().collect();
        steps.sort_by_cached_key(|(i, step)| match step {
            Planned::Done(_) => (None, *i),
            Planned::Each(item) | Planned::Repeated(item) => (run_key(item), *i),
        });
        let mut results: Vec<Option<ItemResult>> = (0..count).map(|_| None).collect();
        let mut failed = false;
        for (i, step) in steps {
            let index = first_index + i;
            let done = match step {
                Planned::Done(done) => done,
                Planned::Each(item) => db::savepoint(conn, |conn| apply(conn, index, item)),
                Planned::Repeated(item) => {
                    db::savepoint_rendered(conn, |conn| apply(conn, index, item))
                }
            };
            results[i] = Some(match done {
                Ok(a) => ItemResult {
                    index,
                    status: a.status,
                    id: Some(a.id),
                    version: Some(a.version),
                    errors: Vec::new(),
                },
                Err(e) => {
                    failed = true;
                    ItemResult {
                        index,
                        status: ItemStatus::Error,
                        id: None,
                        version: None,
                        errors: item_errors(e)?,
                    }
                }
            });
        }
        let mut results: Vec<ItemResult> = results
            .into_iter()
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::Internal("bulk batch left an item".into()))?;
        // After the items' waits for their cards, and the body's upload
        // before them (minutes, for a big batch).
        caller.unchanged_in(conn)?;
        if all_or_none && failed {
            for r in &mut results {
                if r.status != ItemStatus::Error {
                    if r.status == ItemStatus::Created {
                        // Created in the rolled-back batch: it does not exist.
                        r.id = None;
                    }
                    r.version = None;
                    r.status = ItemStatus::Skipped;
                }
            }
            return Err(Abort::Atomic(results));
        }
        finish(conn)?;
        let body = serde_json::to_string(&BulkResponse { items: results })
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        if let Some(key) = key {
            let stored = idempotency::stored(
                StatusCode::OK,
                &[(header::CONTENT_TYPE, "application/json".into())],
                body.clone(),
            );
            idempotency::store_in_tx(conn, key, &stored)?;
        }
        Ok(body)
    });
    match outcome {
        Ok(body) => Ok(Outcome::Done(body)),
        Err(Abort::Replay(stored)) => Ok(Outcome::Replay(stored)),
        Err(Abort::Atomic(items)) => Ok(Outcome::Rejected(BulkResponse { items })),
        Err(Abort::Api(e)) => Err(e),
    }
}

/// A rejected `all_or_none` batch (documentation of the 422 body).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/validation", "title": "Validation failed", "status": 422,
    "detail": "1 of 2 items failed; nothing was applied (all_or_none)",
    "errors": [{"field": "items[1].name", "code": "required", "message": "is required"}],
    "items": [
        {"index": 0, "status": "skipped", "id": null, "version": null, "errors": []},
        {"index": 1, "status": "error", "id": null, "version": null,
         "errors": [{"field": "name", "code": "required", "message": "is required"}]}
    ]
}))]
pub struct BulkRejection {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Every bad field of every item, as `items[i].field` (`items[i]` for an item wrong as a whole).
    pub errors: Vec<FieldError>,
    /// One result per item, `error` or `skipped`: only when an `all_or_none`
    /// batch was rejected. A 422 for the request as a whole (a body of the
    /// wrong shape, a reused `Idempotency-Key`) has no `items`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub items: Option<Vec<ItemResult>>,
}
