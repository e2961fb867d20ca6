//! The OpenAPI document: the base (info, security, tags) plus every path
//! registered through utoipa-actix-web. `patron openapi` prints it.

use actix_web::App;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::ApiError;

mod always_sent;
mod own_problems;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Patron CRM API",
        description = "Customer development and maintenance: the profile card, contact history, \
transactions, the sales funnel, tiers, segments, surveys, loyalty, churn and the CPR cycle.\n\n\
Authenticate with `POST /api/v1/auth/token`, then send `Authorization: Bearer <access_token>` \
(in Swagger UI: the Authorize button). Errors are `application/problem+json` (RFC 9457).\n\n\
No string in a request body may contain a control character other than tab, line feed and \
carriage return (U+0000 to U+001F, U+007F to U+009F): such a value is a 422 naming it \
(`invalid_character`), on every operation (in a bulk item or a CSV row: that item's error). \
No query parameter may \
contain U+0000 (a 400 naming it), since PostgreSQL cannot store or compare it.",
        license(name = "MIT")
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    tags(
        (name = "auth", description = "Log in and get an access token"),
        (name = "users", description = "User management (admin), and the directory of users for every role"),
        (name = "customers", description = "The customer profile card"),
        (name = "contacts", description = "Contact people of a customer"),
        (name = "interactions", description = "Contact history: visits, calls, complaints, follow-ups"),
        (name = "transactions", description = "Orders and services delivered"),
        (name = "needs", description = "Actual and latent needs"),
        (name = "timeline", description = "A customer's timeline and history of changes"),
        (name = "cpr", description = "The CPR development cycle: conversion, penetration, retention"),
        (name = "tiers", description = "The customer pyramid"),
        (name = "segments", description = "Dynamic and static segments of customers"),
        (name = "churn", description = "Churned customers, win-backs and the at-risk list"),
        (name = "account-plans", description = "Key-account plans, their actions and their return"),
        (name = "surveys", description = "Satisfaction surveys: questions, responses and results (CSAT, NPS)"),
        (name = "settings", description = "Thresholds and cut-offs"),
        (name = "analytics", description = "Reports"),
        (name = "reference", description = "Code lists with English and Chinese labels and strategies"),
        (name = "changes", description = "The change feed: every change in commit order, resumable from a cursor"),
        (name = "webhooks", description = "Webhook subscriptions (admin): signed, ordered, retried delivery of the change feed"),
        (name = "sync", description = "ERP sync: bulk upsert by external_id, CSV export and import"),
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

/// The problem responses every operation can give, by component name:
/// (name, status, description).
const PROBLEMS: &[(&str, &str, &str)] = &[
    (
        "BadRequest",
        "400",
        "Malformed body, invalid or unknown query parameters (each named in `errors`; an operation without query parameters refuses any), or `If-None-Match` on a write (evaluated on GET and HEAD only)",
    ),
    (
        "Unauthorized",
        "401",
        "Missing, invalid, expired or revoked bearer token",
    ),
    ("Forbidden", "403", "The user's role does not allow this"),
    (
        "ForbiddenOwner",
        "403",
        "The user's role does not allow this, or, for a sales user, the customer is owned by someone else (a sales user writes only the cards it owns, with their records and account plans)",
    ),
    ("NotFound", "404", "No such resource (or a malformed id)"),
    (
        "PayloadTooLarge",
        "413",
        "The body is larger than the limit",
    ),
    (
        "RequestTimeout",
        "408",
        "No part of the body arrived for 15 s, or the whole body did not within 60 s (600 s for the bulk and import bodies); the connection is closed",
    ),
    (
        "UnsupportedMediaType",
        "415",
        "The body is not application/json, names a charset other than UTF-8, or has a Content-Encoding Patron does not decode",
    ),
    (
        "ValidationFailed",
        "422",
        "Validation failed; `errors` names every bad field",
    ),
    (
        "TooManyRequests",
        "429",
        "Rate limited (per user and minute; integration users have a higher limit), or, on a write that hashes a password, too many password checks waiting (`Retry-After: 2`; the RateLimit headers still show the user's own allowance, which may have requests left); retry after Retry-After seconds",
    ),
    ("Archived", "409", ARCHIVED_409),
    ("ArchivedOrInFlight", "409", ARCHIVED_409),
    (
        "ConflictOrInFlight",
        "409",
        "No conflict of its own: a 409 here comes from the Idempotency-Key.",
    ),
    (
        "InternalError",
        "500",
        "Unexpected error (logged; no details are sent)",
    ),
    (
        "Unavailable",
        "503",
        "The database is busy or unreachable; retry later",
    ),
    (
        "UnavailableOrSaved",
        "503",
        "`/problems/unavailable`: the database is busy or unreachable, nothing was saved; retry \
         later. `/problems/stored-not-applied` (as in the example): the settings were saved (the \
         detail names the version, the new ETag) but recomputing the cards failed; do not send \
         them again, the detail says what completes the recompute",
    ),
];

/// The 409 of a write to an archived card or to its records (`http::customers::
/// archived`), on each operation that can give it (`shared_conflicts`).
const ARCHIVED_409: &str = "The customer is archived (`errors`: `[{field: customer_id, code: \
archived}]`, however the request names the customer): the card and its records are read-only \
until `POST /customers/{id}/restore`; resending the write will not succeed.";

/// The 409 of a funnel move the rules refuse (`http::funnel::move_refused`).
const FUNNEL_409: &str = "A funnel move the rules refuse (`errors`: `[{field: funnel_stage, code: \
conflict}]`): `won` needs a recorded purchase (a transaction above 0), and moving back down \
the funnel needs a `change_reason`.";

/// The causes of a 409 that several operations share, each listed only on
/// the operations that can give it: a write to a card's records, its
/// account plans or a survey response for it meets an archived card (a
/// review found an operation's own 409, `The external_id was already
/// recorded`, hiding it: an ERP sync that skips that 409 would drop real
/// orders); a card's create or change moves it in the funnel. Archiving
/// an archived card and restoring one never conflict.
fn shared_conflicts(method: &str, path: &str) -> Vec<&'static str> {
    let mut causes = Vec::new();
    let card_change = method == "patch" && path == "/api/v1/customers/{id}";
    let record =
        path.starts_with("/api/v1/customers/{id}/") && path != "/api/v1/customers/{id}/restore";
    let for_a_card =
        path.starts_with("/api/v1/account-plans") || path == "/api/v1/surveys/{id}/responses";
    if method != "get" && (card_change || record || for_a_card) {
        causes.push(ARCHIVED_409);
    }
    if card_change || (method == "post" && path == "/api/v1/customers") {
        causes.push(FUNNEL_409);
    }
    causes
}

/// The 409 an operation lists: its own (if it describes one) followed by
/// the shared causes that apply and, on a keyed POST, what the key adds; a
/// shared response where it has none of its own; none where no 409 can
/// happen.
fn conflicts(op: &mut Operation, causes: &[&str], keyed: bool) {
    if let Some(RefOr::T(response)) = op.responses.responses.get_mut("409") {
        for cause in causes {
            response.description = format!("{}\n\n{cause}", response.description);
        }
        if keyed {
            keyed_409(op);
        }
        return;
    }
    let shared = match (causes, keyed) {
        ([], false) => return,
        ([], true) => "ConflictOrInFlight",
        ([only], true) if *only == ARCHIVED_409 => "ArchivedOrInFlight",
        ([only], false) if *only == ARCHIVED_409 => "Archived",
        // No operation without a 409 of its own has another mix.
        _ => return,
    };
    op.responses.responses.insert(
        "409".to_string(),
        RefOr::Ref(Ref::new(format!("#/components/responses/{shared}"))),
    );
}

/// What a keyed POST's 409 can also be, appended to the operation's own
/// 409 (the one shared, or one an operation describes): the three are told
/// apart by type, so that a client retrying the first stops at the second.
const KEYED_409: &str = "With an Idempotency-Key: `/problems/conflict` with `Retry-After`: a request with this key is still being processed, retry later. \
`/problems/idempotency-applied`, no `Retry-After`: the first request with this key was applied \
but its response was not kept; do not send it again with this key (the answer stays this \
409): read the resource to see the outcome, and use a new key for a new request. \
`/problems/idempotency-overtaken`: this request waited past the key's 60 s lease and a retry \
with the same key took it over; nothing of it was written and the retry's answer is the \
outcome: send the key again (after `Retry-After`): a retry that succeeded answers with its \
stored response if it was the same request (a retry may carry another body: then a 422, the \
key being the retry's), one still running with the in-flight 409, and one that failed \
(nothing kept) runs the request anew.";

/// The `Retry-After` of a keyed POST's 409.
fn keyed_retry_after() -> utoipa::openapi::Header {
    integer_header(
        "On the 409 for a request still running under the same Idempotency-Key, and on \
         `/problems/idempotency-overtaken`: seconds to wait before sending the key again (never \
         on `/problems/idempotency-applied`)",
    )
}

/// A keyed POST that describes its own 409 says what the key adds to it.
fn keyed_409(op: &mut Operation) {
    if let Some(RefOr::T(response)) = op.responses.responses.get_mut("409") {
        response.description = format!("{}\n\n{KEYED_409}", response.description);
        response
            .headers
            .insert("Retry-After".to_string(), keyed_retry_after());
    }
}

/// An error as a handler returns it, for the example of the response named
/// `name` in `PROBLEMS`: the example is then the server's own problem
/// document (type, title, status), not a paraphrase of it.
fn example_error(name: &str) -> ApiError {
    use crate::error::FieldError;
    match name {
        "BadRequest" => ApiError::BadRequest(
            "the body is not valid JSON: EOF while parsing an object at line 1 column 17".into(),
        ),
        "Unauthorized" => {
            ApiError::Unauthorized("missing Authorization: Bearer <token> header".into())
        }
        "Forbidden" => ApiError::Forbidden("viewers have read-only access".into()),
        "ForbiddenOwner" => {
            ApiError::Forbidden("sales users may change only the customers they own".into())
        }
        "NotFound" => ApiError::NotFound("no customer 42".into()),
        "PayloadTooLarge" => {
            ApiError::PayloadTooLarge("the body is larger than 262144 bytes".into())
        }
        "UnsupportedMediaType" => ApiError::UnsupportedMediaType(
            "the request body must be JSON (Content-Type: application/json)".into(),
        ),
        "RequestTimeout" => ApiError::RequestTimeout(format!(
            "no part of the body arrived for {} s; the connection is closed",
            crate::http::body::BODY_IDLE_LIMIT.as_secs()
        )),
        "ValidationFailed" => ApiError::Validation(vec![
            FieldError::new("email", "email", "must be a valid email address"),
            FieldError::new(
                "kind",
                "invalid_value",
                "unknown value \"robot\"; expected one of: individual, organization",
            ),
        ]),
        "TooManyRequests" => ApiError::TooManyRequests {
            detail: "more than 1200 requests per minute; retry in 12 s".into(),
            retry_after_secs: 12,
        },
        "Archived" | "ArchivedOrInFlight" => crate::http::customers::archived(42),
        "ConflictOrInFlight" => ApiError::InProgress(
            "a request with this Idempotency-Key is still being processed; retry later".into(),
        ),
        "Unavailable" => ApiError::Unavailable("the database did not answer".into()),
        "UnavailableOrSaved" => ApiError::StoredNotApplied(
            "the settings were saved (version 4), but recomputing the cards failed \
             (the database is busy or not reachable); the next hourly job recomputes them, or \
             POST /cpr/recompute now"
                .into(),
        ),
        _ => ApiError::Internal("an example".into()),
    }
}

/// The description's note on an operation that takes no body.
const NO_BODY_NOTE: &str = "Takes no request body: send none, or `{}` as application/json. \
Any other body is refused: 415 if it is not JSON, 400 if it does not parse, 422 naming each \
field of an object (`unknown_field`).";

/// Adds what the handlers share instead of repeating it on each: the bearer
/// requirement under /api/v1 and the problem responses each operation can
/// give (401/429 when authenticated, 403 where a role can get one, 404 with
/// a path id, 400/408/413/415/422 with a body, and on a POST, PUT or DELETE
/// without one since a body sent there is refused, 400 on every API
/// operation (unknown query parameters), 500 always, 503 wherever the database is read).
pub fn complete(api: &mut utoipa::openapi::OpenApi) {
    always_sent::mark(api);
    let components = api.components.get_or_insert_with(Default::default);
    bulk_transaction_item(components);
    for (name, _, description) in PROBLEMS {
        let example = serde_json::to_value(example_error(name).problem()).unwrap_or_default();
        let response = ResponseBuilder::new()
            .description(*description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .example(Some(example))
                    .build(),
            )
            .build();
        let mut response = if *name == "TooManyRequests" {
            rate_limit_headers(response)
        } else {
            response
        };
        if *name == "UnsupportedMediaType" {
            response
                .headers
                .insert("Accept-Encoding".to_string(), accept_encoding_header());
        }
        if *name == "Unauthorized" {
            use utoipa::openapi::schema::{ObjectBuilder, Type};
            response.headers.insert(
                "WWW-Authenticate".to_string(),
                utoipa::openapi::HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String).build())
                    .description(Some(
                        "`Bearer` when no bearer token was sent; `Bearer error=\"invalid_token\", \
                         error_description=\"<the detail>\"` when the token sent is invalid, expired, \
                         revoked or its user disabled (RFC 6750 §3.1): log in again",
                    ))
                    .build(),
            );
        }
        if *name == "Unavailable" {
            response.headers.insert(
                "Retry-After".to_string(),
                integer_header("Seconds to wait before retrying (always sent; `/readyz` says whether the database answers)"),
            );
        }
        if *name == "UnavailableOrSaved" {
            response.headers.insert(
                "Retry-After".to_string(),
                integer_header(
                    "With `/problems/unavailable` only: seconds to wait before retrying",
                ),
            );
        }
        if matches!(*name, "ConflictOrInFlight" | "ArchivedOrInFlight") {
            response.description = format!("{}\n\n{KEYED_409}", response.description);
            response
                .headers
                .insert("Retry-After".to_string(), keyed_retry_after());
        }
        components
            .responses
            .insert(name.to_string(), RefOr::T(response));
    }
    for (path, item) in api.paths.paths.iter_mut() {
        let secured = path.starts_with("/api/v1/") && path != "/api/v1/auth/token";
        let has_id = path.contains('{');
        let ops = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ];
        for (method, op) in ops
            .into_iter()
            .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
        {
            op.operation_id = Some(operation_id(method, path));
            if path == "/api/v1/auth/token" {
                op.security = Some(Vec::new());
            }
            if_match_is_a_string(op);
            etag_headers(op);
            if method == "get" {
                if_none_match(op);
            }
            let method_upper = method.to_ascii_uppercase();
            let route = actix_web::http::Method::from_bytes(method_upper.as_bytes())
                .ok()
                .and_then(|m| crate::http::closed_routes::allowed(&m, path));
            if let Some(roles) = route {
                add_note(op, crate::http::closed_routes::spec_note(roles));
            }
            if op.request_body.is_none() && method != "get" {
                add_note(op, NO_BODY_NOTE.to_string());
            }
            // The settings whose PUT recomputes every card after saving
            // (`http::settings::saved_but_not_applied`).
            let recomputes = method == "put"
                && matches!(
                    path.as_str(),
                    "/api/v1/settings/cpr" | "/api/v1/settings/loyalty"
                );
            let unavailable = if recomputes {
                "UnavailableOrSaved"
            } else {
                "Unavailable"
            };
            let mut wanted: Vec<&str> = vec!["InternalError"];
            // Liveness and the metrics read no database: a probe set up from
            // the spec expected "database busy" 503s of them (a review).
            if !matches!(path.as_str(), "/healthz" | "/metrics") {
                wanted.push(unavailable);
            }
            if secured {
                wanted.extend(["Unauthorized", "TooManyRequests"]);
                wanted.extend(forbidden(&method_upper, path, route.is_some()));
                if op.security.is_none() {
                    op.security = Some(vec![SecurityRequirement::new(
                        "bearer",
                        Vec::<String>::new(),
                    )]);
                }
            }
            if has_id {
                wanted.push("NotFound");
            }
            // An operation without a body refuses one (`http::no_body`)
            // with the same answers as those that take one.
            if op.request_body.is_some() || method != "get" {
                wanted.extend([
                    "BadRequest",
                    "RequestTimeout",
                    "PayloadTooLarge",
                    "UnsupportedMediaType",
                    "ValidationFailed",
                ]);
            }
            // Every API operation refuses query parameters it does not take.
            if path.starts_with("/api/v1/") || has_query(op) || has_if_match(op) {
                wanted.push("BadRequest");
            }
            if secured {
                // No replay where the key is ignored (read-only POSTs, reruns)
                // or not read at all (one's own password: its answer, a token,
                // is never stored).
                let replays = method == "post"
                    && path != crate::http::auth_password::PATH
                    && !crate::http::idempotency::ignores_key(&actix_web::http::Method::POST, path);
                success_headers(op, replays);
            }
            let reads_only =
                crate::http::read_only::reads_only(&actix_web::http::Method::POST, path);
            let rerun = !reads_only
                && crate::http::idempotency::ignores_key(&actix_web::http::Method::POST, path);
            let own_password = path == crate::http::auth_password::PATH;
            // What the Idempotency-Key can add to a 422: nothing where it is
            // not read, a malformed key where it is ignored, and a key reused
            // with another request where it is stored.
            let key_422 = if !secured || method != "post" || own_password {
                None
            } else if reads_only || rerun {
                Some(MALFORMED_KEY_422)
            } else {
                Some(KEYED_422)
            };
            if own_password {
                // Its answer is a token, never stored: the key is not read
                // (`http::idempotency`), so none is documented.
            } else if secured && method == "post" && (reads_only || rerun) {
                idempotency_key(op, if rerun { RERUN_KEY } else { IGNORED_KEY });
                // A malformed key is still refused.
                wanted.push("ValidationFailed");
            } else if secured && method == "post" {
                idempotency_key(op, KEY);
                conflicts(op, &shared_conflicts(method, path), true);
                // With a key, the body is read (and hashed) before the
                // handler runs, even where the operation takes none.
                wanted.extend(["ValidationFailed", "RequestTimeout", "PayloadTooLarge"]);
            } else if secured && method != "get" {
                conflicts(op, &shared_conflicts(method, path), false);
            }
            add_responses(op, &wanted);
            keep_shared_causes(op, key_422, secured);
            own_problems::add_examples(op);
        }
    }
}

/// The 422 of a malformed Idempotency-Key (`http::idempotency::key_error`).
const MALFORMED_KEY_422: &str = "Also a 422 naming `Idempotency-Key`: a malformed key (not 1 to \
255 visible ASCII characters, or two headers).";

/// The 422s of a stored Idempotency-Key (`key_error`, `mismatch`).
const KEYED_422: &str = "Also a 422 naming `Idempotency-Key`: a malformed key (not 1 to 255 \
visible ASCII characters, or two headers), or a key already used with another request.";

/// The shared cause of a 415 that an operation's own 415 keeps.
const ENCODING_415: &str = "Also a 415: a Content-Encoding Patron does not decode \
(`Accept-Encoding` lists the ones it does).";

/// The shared cause of a 429 that an operation's own 429 keeps.
const RATE_429: &str = "Also a 429: the per-user request limit (per minute; integration users \
have a higher one), with the `RateLimit-*` headers.";

/// An operation that describes its own 415, 422 or 429 keeps the shared
/// causes that apply there (a review found the import's 415 without the
/// unknown Content-Encoding, the keyed POSTs' 422s without the key's, the
/// password change's 429 without the request limit): the shared answer is
/// listed only where the operation has none of its own.
fn keep_shared_causes(op: &mut Operation, key_422: Option<&str>, secured: bool) {
    if let Some(response) = own(op, "415") {
        response.description = sentence(&response.description, ENCODING_415);
        response
            .headers
            .entry("Accept-Encoding".to_string())
            .or_insert_with(accept_encoding_header);
    }
    if let (Some(response), Some(key)) = (own(op, "422"), key_422) {
        response.description = sentence(&response.description, key);
    }
    if let (Some(response), true) = (own(op, "429"), secured) {
        response.description = sentence(&response.description, RATE_429);
        for (name, header) in rate_limit_state() {
            response.headers.entry(name).or_insert(header);
        }
    }
}

/// `text` followed by the sentence `more`.
fn sentence(text: &str, more: &str) -> String {
    format!("{}. {more}", text.trim_end().trim_end_matches('.'))
}

/// The operation's own response for `status`, if it describes one.
fn own<'a>(op: &'a mut Operation, status: &str) -> Option<&'a mut utoipa::openapi::Response> {
    match op.responses.responses.get_mut(status) {
        Some(RefOr::T(response)) => Some(response),
        _ => None,
    }
}

/// The `Accept-Encoding` of a 415 for an unknown Content-Encoding.
fn accept_encoding_header() -> utoipa::openapi::Header {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    utoipa::openapi::HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String).build())
        .description(Some(
            "On the 415 for a Content-Encoding Patron does not decode: the ones it does",
        ))
        .build()
}

/// The 403 an authenticated operation lists, if a role can get one (a
/// review found it on every read, where no role is refused): on a route
/// closed to some roles; on every write, refused to viewers
/// (`http::read_only`; the two read-only POSTs are open to every role); on
/// the writes a sales user may make only on the cards it owns (the card's
/// routes, the account plans', and a card's create, for its `owner_id`),
/// which say so. An operation that describes its own 403 keeps it (`GET
/// /users/{id}`: a user reads only itself unless an admin).
fn forbidden(method: &str, path: &str, closed: bool) -> Option<&'static str> {
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).ok()?;
    if closed {
        return Some("Forbidden");
    }
    if !crate::http::read_only::writes(&method, path) {
        return None;
    }
    let owned = (method == actix_web::http::Method::POST && path == "/api/v1/customers")
        || path.starts_with("/api/v1/customers/{id}")
        || path.starts_with("/api/v1/account-plans");
    Some(if owned { "ForbiddenOwner" } else { "Forbidden" })
}

/// Appends a paragraph to the operation's description.
fn add_note(op: &mut Operation, note: String) {
    op.description = Some(match op.description.take() {
        Some(text) if !text.is_empty() => format!("{text}\n\n{note}"),
        _ => note,
    });
}

/// The item of `POST /transactions/bulk` as one object: `TransactionCreate`'s
/// properties (one definition of their rules) and the customer reference.
/// Derived with `#[serde(flatten)]` it was an `allOf` whose first part's
/// `additionalProperties: false` refused `customer_id` and
/// `customer_external_id`, so no item that names its customer passed the
/// schema (a review). Only `external_id` is required: an item for a known
/// order updates it as a PATCH, and the create's own fields are required
/// only to create (the per-item error says so).
fn bulk_transaction_item(components: &mut utoipa::openapi::Components) {
    use utoipa::openapi::schema::Schema;
    let object = |name: &str| match components.schemas.get(name) {
        Some(RefOr::T(Schema::Object(o))) => Some(o.clone()),
        Some(RefOr::T(Schema::AllOf(all))) => all.items.iter().find_map(|part| match part {
            RefOr::T(Schema::Object(o)) => Some(o.clone()),
            _ => None,
        }),
        _ => None,
    };
    let (Some(mut item), Some(reference)) =
        (object("TransactionCreate"), object("TransactionBulkItem"))
    else {
        return;
    };
    for (name, schema) in reference.properties {
        item.properties.insert(name, schema);
    }
    item.required = vec!["external_id".to_string()];
    if let Some(RefOr::T(Schema::Object(key))) = item.properties.get_mut("external_id") {
        key.schema_type = utoipa::openapi::schema::SchemaType::Type(utoipa::openapi::Type::String);
        key.description = Some(
            "The ERP's key of the order: an order already recorded under it is updated, not \
             counted twice."
                .to_string(),
        );
    }
    item.description = Some(
        "One order of `POST /transactions/bulk`: the fields of `TransactionCreate`, a required \
         `external_id`, and the customer named by `customer_id` or `customer_external_id`. \
         To create, the customer, `amount_cents` and `product` are required; an `external_id` \
         already recorded updates that order as a PATCH would."
            .to_string(),
    );
    if let Some(serde_json::Value::Object(example)) = item.example.as_mut() {
        example.insert("customer_external_id".into(), "ERP-10042".into());
    }
    components.schemas.insert(
        "TransactionBulkItem".to_string(),
        RefOr::T(Schema::Object(item)),
    );
}

/// A unique, predictable operationId: the method and the path's words, e.g.
/// `get_customers_id_contacts` for `GET /api/v1/customers/{id}/contacts`
/// (handler names repeat across resources; generated clients need unique ids).
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<String> = path
        .trim_start_matches("/api/v1")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_matches(|c| c == '{' || c == '}').replace('-', "_"))
        .collect();
    if words.is_empty() {
        method.to_string()
    } else {
        format!("{method}_{}", words.join("_"))
    }
}

/// What `Idempotency-Key` does on a POST that writes.
const KEY: &str = "Makes the POST safe to retry: a retry with the same key and the same request \
(method, path, query, the body's bytes once decoded from its Content-Encoding, and a \
Content-Type other than plain `application/json` or `text/csv`: the same bytes in another \
charset are another request) returns the stored first success (status, body, Location, \
ETag; marked `Idempotent-Replayed: true`) and writes nothing. The same key with another \
request is a 422; while the first request still runs, a 409 `/problems/conflict` with \
`Retry-After`; once the first was applied but its response was lost (the server stopped), a \
409 `/problems/idempotency-applied` for good: do not resend with this key. Keys are per user, 1 to 255 \
visible ASCII characters, kept at least 24 h (PATRON_IDEMPOTENCY_TTL_SECS). Only successes \
are stored: a refused request wrote nothing, and its retry (the request corrected) runs again. Bulk writes and the CSV import store their response in the same \
database transaction as the writes: a retry sent while the first runs waits for it and \
gets the replay rather than a 409 (a 409 there is the key in use on another endpoint).";

/// What it does on a POST that only reads.
const IGNORED_KEY: &str = "Accepted, as on every POST, and ignored: this POST only reads, so a \
retry runs it again and nothing is stored (no replay, no 409). A malformed key (not 1 to 255 \
visible ASCII characters, or two headers) is still a 422.";

/// What it does on a recompute of every card.
const RERUN_KEY: &str = "Accepted, as on every POST, and ignored: a recompute run again gives \
the same cards, so a retry (after a timeout or a 503 half-way) runs it again and nothing is \
stored (no replay, no 409). A malformed key (not 1 to 255 visible ASCII characters, or two \
headers) is still a 422.";

/// The `Idempotency-Key` header every authenticated POST accepts, with
/// what it does there.
fn idempotency_key(op: &mut Operation, description: &str) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn as In};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::Required;
    let parameter = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(In::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                // Visible ASCII (0x21-0x7E), as the server checks it.
                .pattern(Some("^[!-~]{1,255}$"))
                .examples([serde_json::json!("erp-sync-2026-11-29-batch-0042")]),
        ))
        .build();
    op.parameters.get_or_insert_with(Vec::new).push(parameter);
}

/// The rate-limit headers of a 429.
fn rate_limit_headers(response: utoipa::openapi::Response) -> utoipa::openapi::Response {
    let mut response = response;
    response.headers.insert(
        "Retry-After".to_string(),
        integer_header("Seconds until the next request is allowed"),
    );
    for (name, header) in rate_limit_state() {
        response.headers.insert(name, header);
    }
    response
}

/// What the rate limiter tells every request it counted (when a limit is set).
fn rate_limit_state() -> [(String, utoipa::openapi::Header); 3] {
    [
        (
            "RateLimit-Limit",
            "Requests allowed per minute for this user; sent on every counted response \
(PATRON_RATE_LIMIT_PER_MIN, PATRON_RATE_LIMIT_INTEGRATION_PER_MIN for integration users; \
0 turns the limit and these headers off)",
        ),
        ("RateLimit-Remaining", "Requests left right now"),
        (
            "RateLimit-Reset",
            "Seconds until the full allowance is back",
        ),
    ]
    .map(|(name, description)| (name.to_string(), integer_header(description)))
}

fn integer_header(description: &str) -> utoipa::openapi::Header {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    utoipa::openapi::HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::Integer).build())
        .description(Some(description))
        .build()
}

/// The headers every success of an authenticated operation may carry: the
/// rate limiter's state and `Cache-Control` (`http::cache_control`; both
/// also on a 304), and on a POST that stores its answer the mark of a replayed one.
fn success_headers(op: &mut Operation, post: bool) {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if status == "304" || status.starts_with('2') {
            let cache_control = utoipa::openapi::HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([crate::http::cache_control::DEFAULT])),
                )
                .description(Some(
                    "On every answer under /api/v1 (errors too; `POST /auth/token` sends \
                     `no-store`), with `Authorization` in `Vary`: a client may keep a copy \
                     only to revalidate it (`If-None-Match`), never reuse it unasked or for \
                     another user",
                ))
                .build();
            response
                .headers
                .entry("Cache-Control".to_string())
                .or_insert(cache_control);
        }
        if !status.starts_with('2') && status != "304" {
            continue;
        }
        // A 304 keeps the 200's headers but its body's (`http::conditional`).
        for (name, header) in rate_limit_state() {
            response.headers.entry(name).or_insert(header);
        }
        if post {
            let replayed = utoipa::openapi::HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["true"])),
                )
                .description(Some(
                    "`true` on the stored answer to a retry with the same Idempotency-Key",
                ))
                .build();
            response
                .headers
                .entry("Idempotent-Replayed".to_string())
                .or_insert(replayed);
        }
    }
}

/// `If-Match` is optional but, when sent, `*` or a list of our ETags (never null).
fn if_match_is_a_string(op: &mut Operation) {
    use utoipa::openapi::path::ParameterIn as In;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::Required;
    for p in op.parameters.iter_mut().flatten() {
        if p.parameter_in == In::Header && p.name == "If-Match" {
            p.required = Required::False;
            p.schema = Some(RefOr::T(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(
                        r#"^(\*|([ \t]*,)*[ \t]*(W/)?"(0|[1-9][0-9]{0,17})(\.[0-9a-f]{8})?"[ \t]*(,[ \t]*((W/)?"(0|[1-9][0-9]{0,17})(\.[0-9a-f]{8})?"[ \t]*)?)*)$"#,
                    ))
                    .examples([serde_json::json!("\"3.1c2d3e4f\"")])
                    .into(),
            ));
        }
    }
}

/// What an ETag holds (`http::conditional`), on every answer that sends one.
fn etag_headers(op: &mut Operation) {
    for response in op.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            if let Some(etag) = response.headers.get_mut("ETag") {
                etag.description = Some(
                    "`\"<version>.<digest>\"`: the record's version (what `If-Match` compares; \
                     `\"<version>\"` alone is taken there too) and a digest of this answer's body \
                     (what `If-None-Match` compares: it changes with derived figures too)"
                        .to_string(),
                );
            }
        }
    }
}

/// A read whose 200 carries an ETag answers `If-None-Match` holding it with
/// a 304 (`http::conditional`).
fn if_none_match(op: &mut Operation) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn as In};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::Required;
    let Some(RefOr::T(ok)) = op.responses.responses.get("200") else {
        return;
    };
    let Some(etag) = ok.headers.get("ETag").cloned() else {
        return;
    };
    let parameter = ParameterBuilder::new()
        .name("If-None-Match")
        .parameter_in(In::Header)
        .required(Required::False)
        .description(Some(
            "The ETag of the copy the client holds (or a list, or `*`): when it is still \
             current, the answer is a 304 without a body.",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build();
    op.parameters.get_or_insert_with(Vec::new).push(parameter);
    let not_modified = ResponseBuilder::new()
        .description("Not modified: the client's copy (`If-None-Match`) is current")
        .header("ETag", etag)
        .build();
    op.responses
        .responses
        .insert("304".to_string(), RefOr::T(not_modified));
}

fn has_query(op: &Operation) -> bool {
    op.parameters
        .as_ref()
        .is_some_and(|ps| ps.iter().any(|p| p.parameter_in == ParameterIn::Query))
}

fn has_if_match(op: &Operation) -> bool {
    op.parameters.as_ref().is_some_and(|ps| {
        ps.iter()
            .any(|p| p.parameter_in == ParameterIn::Header && p.name == "If-Match")
    })
}

fn add_responses(op: &mut Operation, names: &[&str]) {
    for (name, status, _) in PROBLEMS {
        if names.contains(name) && !op.responses.responses.contains_key(*status) {
            op.responses.responses.insert(
                status.to_string(),
                RefOr::Ref(Ref::new(format!("#/components/responses/{name}"))),
            );
        }
    }
}

/// The full document, built from the same route list as the server.
pub fn spec() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(base())
        .configure(crate::http::documented_routes)
        .split_for_parts();
    let mut api = api;
    complete(&mut api);
    api
}

/// The spec as YAML, exactly what `openapi.yaml` holds.
pub fn yaml() -> Result<String, String> {
    spec()
        .to_yaml()
        .map(|y| quote_timestamps(&y))
        .map_err(|e| e.to_string())
}

/// The YAML writer follows YAML 1.2, where `2026-11-23` and
/// `2026-11-23T08:00:00Z` are strings and need no quotes; YAML 1.1 loaders
/// (PyYAML, js-yaml's default schema, SnakeYAML) read them as dates, so an
/// example's instant reached a tool as another type than `/openapi.json`'s
/// string. Such plain values are single-quoted: the same string in both.
fn quote_timestamps(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len() + 64);
    for line in yaml.lines() {
        let split = line.rfind(": ").map(|i| i + 2).or_else(|| {
            line.trim_start()
                .starts_with("- ")
                .then(|| line.find("- ").map_or(0, |i| i + 2))
        });
        match split {
            Some(at) if looks_like_timestamp(&line[at..]) => {
                out.push_str(&line[..at]);
                out.push('\'');
                out.push_str(&line[at..]);
                out.push('\'');
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// `YYYY-MM-DD`, alone or followed by a time: what YAML 1.1 takes for a
/// timestamp.
fn looks_like_timestamp(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
        && b[10..]
            .iter()
            .all(|c| c.is_ascii_digit() || b":.TtZz+- ".contains(c))
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::path::ParameterIn;

    /// The YAML read back is the JSON document, instants quoted where a
    /// YAML 1.1 loader would have read a date.
    #[test]
    fn yaml_is_the_json_document_with_instants_quoted() {
        let yaml = super::yaml().unwrap_or_default();
        let read: serde_json::Value = serde_norway::from_str(&yaml).unwrap_or_default();
        let json: serde_json::Value = serde_json::to_value(super::spec()).unwrap_or_default();
        assert!(json.is_object());
        assert!(
            read == json,
            "openapi.yaml read back differs from /openapi.json"
        );
        assert!(yaml.contains("created_at: '2026-11-23T08:00:00Z'"));
        assert!(!yaml.lines().any(|l| l
            .rsplit(": ")
            .next()
            .is_some_and(super::looks_like_timestamp)));
        assert!(super::looks_like_timestamp("2026-02-15"));
        assert!(!super::looks_like_timestamp("2026-02-15 was a Sunday"));
    }

    /// Each shared problem response's example is the server's own document
    /// for that status (titles were paraphrased from the descriptions).
    #[test]
    fn problem_examples_are_what_the_server_sends() {
        for (name, status, _) in super::PROBLEMS {
            let problem = super::example_error(name).problem();
            assert_eq!(problem.status.to_string(), *status, "{name}");
            assert!(!problem.title.is_empty(), "{name}");
        }
    }

    /// Every error response shows a problem document of its own status:
    /// those an operation describes itself showed the `Problem` schema's
    /// example, a 422, under their 412 or 404.
    #[test]
    fn every_error_response_shows_an_example_of_its_status() {
        let spec = super::spec();
        let components = spec.components.clone().unwrap_or_default();
        let mut checked = 0;
        for (path, item) in &spec.paths.paths {
            let ops = [&item.get, &item.put, &item.post, &item.patch, &item.delete];
            for (i, op) in ops.into_iter().enumerate() {
                let Some(op) = op else { continue };
                for (status, response) in &op.responses.responses {
                    if !status.starts_with('4') && !status.starts_with('5') {
                        continue;
                    }
                    // A GET's own 400 is about its query, as the server's.
                    if let (0, "400", super::RefOr::T(own)) = (i, status.as_str(), response) {
                        let example = own
                            .content
                            .get("application/problem+json")
                            .and_then(|c| c.example.as_ref());
                        assert_eq!(
                            example.map(|e| e["type"].clone()),
                            Some(serde_json::json!("/problems/invalid-query")),
                            "{path} 400"
                        );
                    }
                    let response = match response {
                        super::RefOr::T(r) => r,
                        super::RefOr::Ref(r) => {
                            let name = r.ref_location.rsplit('/').next().unwrap_or_default();
                            match components.responses.get(name) {
                                Some(super::RefOr::T(r)) => r,
                                _ => panic!("{path} {status}: no component {name}"),
                            }
                        }
                    };
                    let Some(content) = response.content.get("application/problem+json") else {
                        continue;
                    };
                    let example = content.example.as_ref();
                    if status == "422" && example.is_none() {
                        continue; // the Problem schema's example is a 422
                    }
                    let shown = example.and_then(|e| e["status"].as_u64());
                    assert_eq!(
                        shown.map(|s| s.to_string()).as_deref(),
                        Some(status.as_str()),
                        "{path} {status}: {example:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 500, "{checked}");
    }

    /// The 408's description states the server's own limits.
    #[test]
    fn the_request_timeout_states_the_limits() {
        use crate::http::body::{body_deadline, BODY_IDLE_LIMIT};
        let described = super::PROBLEMS
            .iter()
            .find(|(name, _, _)| *name == "RequestTimeout")
            .map(|(_, _, description)| *description)
            .unwrap_or_default();
        for secs in [
            BODY_IDLE_LIMIT.as_secs(),
            body_deadline(crate::http::extract::JSON_LIMIT).as_secs(),
            body_deadline(crate::http::bulk::BULK_BODY_LIMIT).as_secs(),
        ] {
            assert!(
                described.contains(&format!("{secs} s")),
                "{secs}: {described}"
            );
        }
    }

    /// The history's `kind` pattern is written out in an attribute; it must
    /// name every kind the server takes (`churned` and `reactivated` were
    /// missing: a client validating against the spec could not ask for them).
    #[test]
    fn the_history_kind_pattern_names_every_event_kind() {
        let spec = super::spec();
        let pattern = spec
            .paths
            .paths
            .get("/api/v1/customers/{id}/history")
            .and_then(|item| item.get.as_ref())
            .and_then(|op| op.parameters.as_ref())
            .and_then(|params| {
                params
                    .iter()
                    .find(|p| p.name == "kind" && p.parameter_in == ParameterIn::Query)
            })
            .and_then(|p| serde_json::to_value(&p.schema).ok())
            .and_then(|schema| schema["pattern"].as_str().map(String::from))
            .unwrap_or_default();
        let listed: Vec<&str> = pattern
            .trim_start_matches("^(")
            .trim_end_matches(")$")
            .split('|')
            .collect();
        assert_eq!(listed, crate::db::events::KINDS, "{pattern}");
    }
}
