//! Request extractors that turn every malformed input into a precise problem:
//! JSON bodies, query strings and path ids.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use super::validation::serde_field_error;
use crate::error::{ApiError, FieldError};

/// Largest JSON body accepted (the bulk endpoints set their own).
pub const JSON_LIMIT: usize = 256 * 1024;

/// A JSON body, parsed with the path of any type error. Rules are checked by
/// the handler (`validation::check`) so cross-field rules join the same report.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = is_json(req);
        let bytes = Bytes::from_request(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "the request body must be JSON (Content-Type: application/json)".into(),
                ));
            }
            let body = bytes
                .await
                .map_err(|e| match e.as_error::<PayloadError>() {
                    Some(PayloadError::Overflow) => ApiError::PayloadTooLarge(format!(
                        "the body is larger than {JSON_LIMIT} bytes"
                    )),
                    _ => ApiError::BadRequest(format!("cannot read the request body: {e}")),
                })?;
            parse_json(&body).map(JsonBody)
        })
    }
}

fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Syntax errors are 400; well-formed JSON of the wrong shape is 422 naming the field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(value) => Ok(value),
        Err(e) => {
            let inner = e.inner();
            if inner.is_data() {
                Err(ApiError::Validation(vec![serde_field_error(
                    e.path(),
                    inner,
                )]))
            } else {
                let what = if inner.is_eof() {
                    "the JSON body is incomplete"
                } else {
                    "the body is not valid JSON"
                };
                Err(ApiError::BadRequest(format!("{what}: {inner}")))
            }
        }
    }
}

/// Query parameters, parsed with the name of any bad one.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned> FromRequest for QueryParams<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(QueryParams))
    }
}

pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(url_pairs(query));
    serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
        let mut error = serde_field_error(e.path(), e.inner());
        if error.field.is_empty() {
            error.field = "query".into();
        }
        bad_query(vec![error])
    })
}

fn url_pairs(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

pub fn bad_query(errors: Vec<FieldError>) -> ApiError {
    ApiError::InvalidQuery(errors)
}

/// A numeric path id; anything else is a 404 naming the parameter.
pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound(format!("no such resource: {err}")).into()
}

pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    ApiError::InvalidQuery(vec![FieldError::new(
        "query",
        "invalid_type",
        err.to_string(),
    )])
    .into()
}

pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => {
            ApiError::PayloadTooLarge(err.to_string()).into()
        }
        E::ContentType => ApiError::UnsupportedMediaType(err.to_string()).into(),
        other => ApiError::BadRequest(other.to_string()).into(),
    }
}
