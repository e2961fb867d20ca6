//! `NoBody`: the extractor of an operation that takes no request body (a
//! DELETE, `POST /tiers/recompute`, `POST /customers/{id}/restore`, …).
//!
//! Such a body was read by no one, so `{"window_months": 6}` to a recompute
//! or a note to a restore was a 200 that used none of it, and so was `{` or
//! plain text. Now the operation takes no body, or `{}` (some clients send a
//! JSON object with every POST); anything else is refused as the operations
//! that take a body refuse theirs: 415 for a body that is not JSON, 400 for
//! JSON that does not parse, 422 naming each field of an object.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::Deserialize;

use super::body::BodyError;
use super::extract::{is_json, parse_json, JSON_LIMIT};
use crate::error::ApiError;

/// Why a field is refused.
pub const NO_FIELDS: &str = "this operation takes no body: send none, or `{}`";

pub struct NoBody;

/// The only object accepted: `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

impl FromRequest for NoBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            // Read first: a client may send a Content-Type (even text/plain)
            // with an empty body, which is no body.
            let body = super::body::read(&req, &mut payload, JSON_LIMIT)
                .await
                .map_err(|e| match e {
                    BodyError::TooLarge => ApiError::PayloadTooLarge(format!(
                        "this operation takes no body, and this one is larger than {JSON_LIMIT} bytes"
                    )),
                    BodyError::Bad(e) => e,
                })?;
            if body.is_empty() {
                return Ok(NoBody);
            }
            super::charset::single_header(&req)?;
            if !is_json(&req) {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "{NO_FIELDS} (as application/json)"
                )));
            }
            super::charset::require_utf8(&req)?;
            parse_json::<Empty>(&body).map_err(reworded)?;
            Ok(NoBody)
        })
    }
}

/// serde's "unknown field `x`, there are no fields" said in the API's words.
fn reworded(e: ApiError) -> ApiError {
    match e {
        ApiError::Validation(mut errors) => {
            for error in &mut errors {
                if error.code == "unknown_field" {
                    error.message = NO_FIELDS.into();
                }
            }
            ApiError::Validation(errors)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: &str) -> Result<(), ApiError> {
        parse_json::<Empty>(body.as_bytes())
            .map(|_| ())
            .map_err(reworded)
    }

    #[test]
    fn only_an_empty_object_reads() {
        assert!(parsed("{}").is_ok());
        assert!(parsed(" { } \n").is_ok());
        assert!(matches!(parsed("{"), Err(ApiError::BadRequest(_))));
        assert!(matches!(parsed("{} x"), Err(ApiError::BadRequest(_))));
        for body in ["[]", "null", "0", "\"\""] {
            assert!(
                matches!(parsed(body), Err(ApiError::Validation(_))),
                "{body}"
            );
        }
        match parsed(r#"{"window_months": 6, "note": "x"}"#) {
            Err(ApiError::Validation(errors)) => {
                let named: Vec<(&str, &str, &str)> = errors
                    .iter()
                    .map(|e| (e.field.as_str(), e.code.as_str(), e.message.as_str()))
                    .collect();
                assert_eq!(
                    named,
                    [
                        ("note", "unknown_field", NO_FIELDS),
                        ("window_months", "unknown_field", NO_FIELDS)
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
