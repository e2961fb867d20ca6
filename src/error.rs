//! The one error type. Every failure leaves the service as
//! `application/problem+json` (RFC 9457); causes of 500s are logged, never sent.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One bad field of a request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[schema(example = json!({"field": "email", "code": "email", "message": "must be a valid email address"}))]
pub struct FieldError {
    /// Path of the field in the body (`email`, `tags[2]`, `lines[0].sku`), the
    /// name of the query parameter (`limit`) or CSV column, or `customer_id`
    /// for the customer a request writes to (the 409 `archived`, whether the
    /// customer is named by the path or the body); `""` for the body as a
    /// whole.
    pub field: String,
    /// Machine-readable rule that failed, e.g. `required`, `length`, `email`, `invalid_value`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/validation",
    "title": "Validation failed",
    "status": 422,
    "detail": "2 fields are invalid",
    "errors": [
        {"field": "email", "code": "email", "message": "must be a valid email address"},
        {"field": "kind", "code": "invalid_value", "message": "unknown value \"robot\"; expected one of: individual, organization"}
    ]
}))]
pub struct Problem {
    /// A URI reference naming the kind of problem (see the README's error table).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Every bad field, for validation failures; the one field at fault for a
    /// 409 that one field causes (`external_id` taken, `funnel_stage` move
    /// refused, `customer_id` archived), which tells those cases apart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("invalid query parameters")]
    InvalidQuery(Vec<FieldError>),
    /// No credentials (no `Authorization`, another scheme, an empty
    /// token) or a wrong login: a 401 with a bare `Bearer` challenge.
    #[error("{0}")]
    Unauthorized(String),
    /// A bearer token sent and refused (invalid, expired, revoked, or its
    /// user disabled): a 401 whose challenge says `error="invalid_token"`
    /// (RFC 6750 §3.1), so a client can tell a token to renew from none sent.
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The same request (an Idempotency-Key) is still being answered: a 409
    /// with `Retry-After`, as the first one is usually done within a second.
    #[error("{0}")]
    InProgress(String),
    /// An Idempotency-Key whose first request was applied but whose response
    /// was not kept: a 409 of its own type and without `Retry-After`, since
    /// resending the key gets this answer for the key's whole retention (a
    /// client that retries 409s could not tell it from the one above).
    #[error("{0}")]
    IdempotencyApplied(String),
    /// A keyed request whose claim its retry took over (it was slow past the
    /// lease): nothing of it was written, the retry's answer is the outcome,
    /// and resending the key reads it (`Retry-After`, as for `InProgress`).
    #[error("{0}")]
    IdempotencyOvertaken(String),
    /// A conflict caused by one field's value (a funnel move the rules do not
    /// allow): a 409 whose `errors` names the field, and in a bulk item that
    /// field's error.
    #[error("{}", .0.message)]
    FieldConflict(FieldError),
    // Not "changed since you read it": an If-Match ahead of the resource
    // (a version from another database) was told so too (a QA review). Nor
    // "is at": a compare-and-set that lost a race knows only a lower bound.
    #[error(
        "the resource is not at the version this request was based on (it is at {current} or \
         later): read it again, then resend"
    )]
    PreconditionFailed { current: i64 },
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body stopped arriving: a 408, and the connection is closed.
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A `Content-Encoding` Patron does not decode: a 415 that lists the
    /// ones it does in `Accept-Encoding` (RFC 9110 §15.5.16).
    #[error("Content-Encoding must be gzip, deflate, br, zstd or identity")]
    UnsupportedEncoding,
    #[error("{} invalid", .0.len())]
    Validation(Vec<FieldError>),
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A change that was stored, whose follow-up work (recomputing the
    /// cards) then failed: a 503 whose detail says what was kept, and no
    /// `Retry-After` (sending the request again is not the remedy).
    #[error("{0}")]
    StoredNotApplied(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 409 naming the field whose value conflicts with the stored data
    /// (held by another record, or a move the record's state forbids).
    pub fn field_conflict(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::FieldConflict(FieldError::new(field, "conflict", message))
    }

    pub fn invalid(field: &str, code: &str, message: &str) -> ApiError {
        ApiError::Validation(vec![FieldError::new(field, code, message)])
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => ("bad-request", "Malformed request"),
            ApiError::InvalidQuery(_) => ("invalid-query", "Invalid query parameters"),
            ApiError::Unauthorized(_) | ApiError::InvalidToken(_) => {
                ("unauthorized", "Authentication required")
            }
            ApiError::Forbidden(_) => ("forbidden", "Not allowed"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::Conflict(_) | ApiError::FieldConflict(_) | ApiError::InProgress(_) => {
                ("conflict", "Conflict")
            }
            ApiError::IdempotencyApplied(_) => {
                ("idempotency-applied", "Applied, response not kept")
            }
            ApiError::IdempotencyOvertaken(_) => ("idempotency-overtaken", "Taken over by a retry"),
            ApiError::PreconditionFailed { .. } => ("precondition-failed", "Version mismatch"),
            ApiError::Gone(_) => ("gone", "No longer available"),
            ApiError::PayloadTooLarge(_) => ("payload-too-large", "Request body too large"),
            ApiError::RequestTimeout(_) => ("request-timeout", "Request timeout"),
            ApiError::UnsupportedMediaType(_) | ApiError::UnsupportedEncoding => {
                ("unsupported-media-type", "Unsupported media type")
            }
            ApiError::Validation(_) => ("validation", "Validation failed"),
            ApiError::TooManyRequests { .. } => ("rate-limited", "Too many requests"),
            ApiError::Unavailable(_) => ("unavailable", "Service unavailable"),
            ApiError::StoredNotApplied(_) => ("stored-not-applied", "Saved, not applied"),
            ApiError::Internal(_) => ("internal", "Internal error"),
        }
    }

    pub fn problem(&self) -> Problem {
        let (slug, title) = self.slug_and_title();
        let detail = match self {
            ApiError::Validation(errors) | ApiError::InvalidQuery(errors) => {
                // A field can break several rules (a name both too short and
                // blank): the detail counts fields, `errors` lists each rule.
                let fields: std::collections::BTreeSet<&str> =
                    errors.iter().map(|e| e.field.as_str()).collect();
                // The field `""` is the body as a whole (an array, `null`):
                // the detail read " is invalid: …".
                let first = match errors.first().map(|e| e.field.as_str()) {
                    Some("") | None => "the body",
                    Some(field) => field,
                };
                match (errors.len(), fields.len()) {
                    (1, _) => format!("{first} is invalid: {}", errors[0].message),
                    (_, 1) => format!("{first} is invalid ({} rules broken)", errors.len()),
                    (_, n) => format!("{n} fields are invalid"),
                }
            }
            ApiError::Unavailable(_) => {
                "the database is busy or not reachable; retry later".to_string()
            }
            ApiError::Internal(_) => "an unexpected error occurred; it has been logged".to_string(),
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::Validation(errors) | ApiError::InvalidQuery(errors) => errors.clone(),
            ApiError::FieldConflict(error) => vec![error.clone()],
            _ => Vec::new(),
        };
        Problem {
            kind: format!("/problems/{slug}"),
            title: title.to_string(),
            status: self.status_code().as_u16(),
            detail,
            errors,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_)
            | ApiError::FieldConflict(_)
            | ApiError::InProgress(_)
            | ApiError::IdempotencyApplied(_)
            | ApiError::IdempotencyOvertaken(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) | ApiError::UnsupportedEncoding => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::StoredNotApplied(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => log::error!("internal error: {cause}"),
            ApiError::Unavailable(cause) => log::warn!("database unavailable: {cause}"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        match self {
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::InvalidToken(why) => {
                response.insert_header((header::WWW_AUTHENTICATE, invalid_token_challenge(why)));
            }
            ApiError::Unavailable(_)
            | ApiError::InProgress(_)
            | ApiError::IdempotencyOvertaken(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::UnsupportedEncoding => {
                response.insert_header((header::ACCEPT_ENCODING, "gzip, deflate, br, zstd"));
            }
            // The rest of the body may still come: the connection cannot be
            // read for another request.
            ApiError::RequestTimeout(_) | ApiError::PayloadTooLarge(_) => {
                response.force_close();
            }
            _ => {}
        }
        response.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

/// `Bearer error="invalid_token", error_description="…"`. The description
/// is a quoted-string of the characters RFC 6750 §3 allows (printable ASCII
/// but `"` and `\`); the others are left out.
fn invalid_token_challenge(why: &str) -> String {
    let description: String = why
        .chars()
        .filter(|c| matches!(c, ' '..='~') && *c != '"' && *c != '\\')
        .collect();
    format!("Bearer error=\"invalid_token\", error_description=\"{description}\"")
}

/// The request field a unique constraint guards, by PostgreSQL's constraint
/// name or SQLite's `table.column`: a race lost to another request's insert
/// (two `POST /segments` of one name at once) is then the same 409 naming
/// the field as the handler's own check gives (a review found it naming
/// none, so a form had nothing to highlight).
fn unique_field(info: &dyn diesel::result::DatabaseErrorInformation) -> Option<&'static str> {
    const GUARDED: [(&str, &str, &str); 4] = [
        ("users_email_key", "users.email", "email"),
        (
            "customers_external_id_key",
            "customers.external_id",
            "external_id",
        ),
        (
            "transactions_external_id_key",
            "transactions.external_id",
            "external_id",
        ),
        ("segments_name_key", "segments.name", "name"),
    ];
    GUARDED.iter().find_map(|(constraint, column, field)| {
        let named = info.constraint_name() == Some(constraint)
            || info
                .message()
                .strip_prefix("UNIQUE constraint failed: ")
                .is_some_and(|columns| columns == *column);
        named.then_some(*field)
    })
}

impl ApiError {
    /// This error as a diesel error, for code that must return diesel's
    /// type (a transaction's callback, the change feed's seal); `From`
    /// gives it back unchanged. Made into diesel's text instead, a database
    /// out of reach while the feed rendered a write's records was a 500
    /// "bug" where it is a 503 to retry (a review).
    pub fn into_diesel(self) -> diesel::result::Error {
        diesel::result::Error::QueryBuilderError(Box::new(self))
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as Kind, Error};
        match e {
            Error::NotFound => ApiError::NotFound("not found".into()),
            Error::QueryBuilderError(cause) => match cause.downcast::<ApiError>() {
                // Carried through diesel by `into_diesel`: the error as it was.
                Ok(carried) => *carried,
                Err(cause) if cause.is::<crate::db::idempotency::Overtaken>() => {
                    ApiError::IdempotencyOvertaken(cause.to_string())
                }
                Err(cause) => ApiError::Internal(Error::QueryBuilderError(cause).to_string()),
            },
            // The engine's text names tables and indexes (`UNIQUE
            // constraint failed: customers.external_id`): logged, not sent.
            // Handlers check uniqueness first, so this is a race lost to
            // another request's insert.
            Error::DatabaseError(Kind::UniqueViolation, info) => {
                // Not "answered 409": a bulk pass that meets it goes item by
                // item, and its items may all succeed (a QA review read a
                // failed request into the log).
                log::info!(
                    "unique violation (a conflict, unless retried): {}",
                    info.message()
                );
                // The field named, as the handlers' own check names it (QA:
                // one of three racing creates got the vaguer text).
                match unique_field(info.as_ref()) {
                    Some(field) => ApiError::field_conflict(
                        field,
                        format!(
                            "another record already has this {field} (another request may \
                             have just created it)"
                        ),
                    ),
                    None => ApiError::Conflict(
                        "a record with the same unique value exists (another request may \
                         have just created it)"
                            .into(),
                    ),
                }
            }
            Error::DatabaseError(Kind::ForeignKeyViolation, _) => ApiError::Conflict(
                "a referenced record does not exist or is still referenced".into(),
            ),
            Error::DatabaseError(Kind::ClosedConnection, info) => {
                ApiError::Unavailable(info.message().to_string())
            }
            Error::DatabaseError(_, ref info) if is_connection_loss(info.message()) => {
                ApiError::Unavailable(info.message().to_string())
            }
            // Another transaction won a race for the same rows (PostgreSQL
            // broke a deadlock, or a serialization conflict): nothing of
            // this write was kept, and a retry may succeed (the other
            // transaction may still hold the rows for a while).
            Error::DatabaseError(Kind::SerializationFailure, info) => {
                ApiError::Unavailable(info.message().to_string())
            }
            Error::DatabaseError(_, ref info) if info.message().contains("deadlock detected") => {
                ApiError::Unavailable(info.message().to_string())
            }
            Error::DatabaseError(_, ref info) if is_busy(info.message()) => {
                ApiError::Unavailable(info.message().to_string())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// PostgreSQL's answers to a statement it gave up on or a server that
/// cannot write now, which diesel reports as unknown errors: a
/// `statement_timeout` or `lock_timeout` the operator set (the README
/// suggests one), a server turned read-only (a managed server whose disk
/// filled), a full disk; and SQLite's for a full disk, a read-only file or
/// an I/O error. Each was a 500 "bug"; the database cannot do it now, and a
/// retry later may pass.
fn is_busy(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "canceling statement due to statement timeout",
        "canceling statement due to lock timeout",
        "could not obtain lock",
        "in a read-only transaction",
        "no space left on device",
        "could not extend file",
        // SQLite's, for the same states of its file.
        "database or disk is full",
        "attempt to write a readonly database",
        "disk i/o error",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

/// libpq reports a dead server as an unknown error with one of these texts.
fn is_connection_loss(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "server closed the connection",
        "connection refused",
        "no connection to the server",
        "terminating connection",
        "could not connect",
        "database is locked",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

impl From<validator::ValidationErrors> for ApiError {
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut out = Vec::new();
        crate::http::validation::flatten("", &errors, &mut out);
        out.sort_by(|a, b| a.field.cmp(&b.field));
        ApiError::Validation(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outside review: the engine's message (table and index names)
    /// reached the client in the 409's detail.
    #[test]
    fn a_lost_unique_race_names_no_table() {
        let info: Box<dyn diesel::result::DatabaseErrorInformation + Send + Sync> =
            Box::new("UNIQUE constraint failed: customers.external_id".to_string());
        let e = ApiError::from(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        ));
        assert_eq!(e.status_code(), StatusCode::CONFLICT);
        let detail = e.problem().detail;
        assert!(!detail.contains("customers"), "{detail}");
        assert!(
            detail.contains("another record already has this external_id"),
            "{detail}"
        );
        assert_eq!(e.problem().errors[0].field, "external_id");
    }

    /// A lost race names the field its constraint guards, on either engine's
    /// wording; a constraint of no request field names none.
    #[test]
    fn a_lost_unique_race_names_its_field() {
        struct Pg(&'static str);
        impl diesel::result::DatabaseErrorInformation for Pg {
            fn message(&self) -> &str {
                "duplicate key value violates unique constraint"
            }
            fn details(&self) -> Option<&str> {
                None
            }
            fn hint(&self) -> Option<&str> {
                None
            }
            fn table_name(&self) -> Option<&str> {
                None
            }
            fn column_name(&self) -> Option<&str> {
                None
            }
            fn constraint_name(&self) -> Option<&str> {
                Some(self.0)
            }
            fn statement_position(&self) -> Option<i32> {
                None
            }
        }
        let field = |info: Box<dyn diesel::result::DatabaseErrorInformation + Send + Sync>| {
            let e = ApiError::from(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                info,
            ));
            assert_eq!(e.status_code(), StatusCode::CONFLICT);
            e.problem().errors.first().map(|f| f.field.clone())
        };
        assert_eq!(
            field(Box::new(Pg("segments_name_key"))).as_deref(),
            Some("name")
        );
        assert_eq!(
            field(Box::new(Pg("users_email_key"))).as_deref(),
            Some("email")
        );
        assert_eq!(
            field(Box::new(
                "UNIQUE constraint failed: segments.name".to_string()
            ))
            .as_deref(),
            Some("name")
        );
        assert_eq!(field(Box::new(Pg("idempotency_keys_pkey"))), None);
        assert_eq!(
            field(Box::new(
                "UNIQUE constraint failed: idempotency_keys.key".to_string()
            )),
            None
        );
    }

    /// A review: a database gone while the feed rendered a write's records
    /// was answered 500 (the error made into diesel's text on the way).
    #[test]
    fn an_error_carried_through_diesel_comes_back_as_it_was() {
        let gone = ApiError::Unavailable("server closed the connection".into()).into_diesel();
        let e = ApiError::from(gone);
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.problem().kind, "/problems/unavailable");
        let unknown = ApiError::from(ApiError::Validation(vec![]).into_diesel());
        assert_eq!(unknown.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        let other = diesel::result::Error::QueryBuilderError("mixed column types".into());
        assert_eq!(
            ApiError::from(other).status_code(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    /// A review: a `statement_timeout` the README suggests answered 500.
    #[test]
    fn a_statement_the_server_gave_up_on_is_a_503() {
        // diesel reads a `String` as an error's message.
        let unknown = |text: &str| {
            ApiError::from(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::Unknown,
                Box::new(text.to_string()),
            ))
        };
        for text in [
            "canceling statement due to statement timeout",
            "canceling statement due to lock timeout",
            "could not obtain lock on row in relation \"customers\"",
            "cannot execute UPDATE in a read-only transaction",
            "could not extend file \"base/16384/16385\": No space left on device",
            "database or disk is full",
            "attempt to write a readonly database",
            "disk I/O error",
        ] {
            assert_eq!(
                unknown(text).status_code(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{text}"
            );
        }
        assert_eq!(
            unknown("column \"nope\" does not exist").status_code(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    /// A review: the three Idempotency-Key 409s and a duplicate key shared
    /// `/problems/conflict`, told apart only by `Retry-After`.
    #[test]
    fn an_overtaken_keyed_write_is_its_own_problem() {
        let overtaken =
            diesel::result::Error::QueryBuilderError(Box::new(crate::db::idempotency::Overtaken));
        let e = ApiError::from(overtaken);
        assert_eq!(e.problem().kind, "/problems/idempotency-overtaken");
        assert_eq!(e.status_code(), StatusCode::CONFLICT);
        let response = e.error_response();
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        let applied = ApiError::IdempotencyApplied("applied".into());
        assert_eq!(applied.problem().kind, "/problems/idempotency-applied");
        assert!(!applied
            .error_response()
            .headers()
            .contains_key(header::RETRY_AFTER));
    }
}
