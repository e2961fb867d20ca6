//! An error response an operation describes itself (its annotation's
//! `description`, `body = Problem`) carries no example, so Swagger UI and
//! mock servers showed the `Problem` schema's example, a 422 validation
//! problem, under a 412, a 404 or a 410 (a review counted 94). Each gets the
//! server's own problem document for its status, its detail the
//! description's first clause.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::RefOr;

use crate::error::{ApiError, FieldError};

pub fn add_examples(op: &mut Operation) {
    // An operation's own 400, where it takes query parameters, is about its
    // query (those that describe one are GETs): the server's `invalid-query`
    // problem, naming a parameter.
    let query_param = op
        .parameters
        .iter()
        .flatten()
        .find_map(|p| (p.parameter_in == ParameterIn::Query).then(|| p.name.clone()));
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let Some(content) = response.content.get_mut("application/problem+json") else {
            continue;
        };
        if content.example.is_some() || !content.examples.is_empty() {
            continue;
        }
        let detail = first_clause(&response.description);
        let error = match (status.as_str(), &query_param) {
            ("400", Some(name)) => Some(ApiError::InvalidQuery(vec![FieldError::new(
                name.clone(),
                "invalid_value",
                detail,
            )])),
            ("409", _) => Some(conflict(&response.description, detail)),
            _ => error_of(status, detail),
        };
        if let Some(error) = error {
            content.example = serde_json::to_value(error.problem()).ok();
        }
    }
}

/// A 409 whose first cause names its field (`field: email, code: conflict`
/// or `` (`customer_id`, code `archived`) ``) carries it in `errors`, as the
/// server's does; the others have none.
fn conflict(description: &str, detail: String) -> ApiError {
    let first = cause(description);
    let named = first
        .split_once("field: ")
        .and_then(|(_, rest)| rest.split_once(", code: "))
        .map(|(field, rest)| (field, rest.split(['}', ']', '`', ')']).next()))
        .or_else(|| {
            first
                .split_once("(`")
                .and_then(|(_, rest)| rest.split_once("`, code `"))
                .map(|(field, rest)| (field, rest.split('`').next()))
        });
    match named {
        Some((field, Some(code))) if !field.is_empty() && !code.is_empty() => {
            ApiError::FieldConflict(FieldError::new(field, code, detail))
        }
        _ => ApiError::Conflict(detail),
    }
}

/// The description up to its second cause ("…; or …", "…, or …").
fn cause(description: &str) -> &str {
    up_to(description, &["; ", ", or ", "\n"])
}

/// `text` up to the first of `stops`, or whole.
fn up_to<'a>(text: &'a str, stops: &[&str]) -> &'a str {
    let end = stops
        .iter()
        .filter_map(|stop| text.find(stop))
        .min()
        .unwrap_or(text.len());
    &text[..end]
}

/// The error a handler returns with this status. A 422 keeps the schema's
/// example, which is one.
fn error_of(status: &str, detail: String) -> Option<ApiError> {
    Some(match status {
        "400" => ApiError::BadRequest(detail),
        "401" => ApiError::Unauthorized(detail),
        "403" => ApiError::Forbidden(detail),
        "404" => ApiError::NotFound(detail),
        "410" => ApiError::Gone(detail),
        // The server's own detail, which names the current version.
        "412" => ApiError::PreconditionFailed { current: 4 },
        "413" => ApiError::PayloadTooLarge(detail),
        "415" => ApiError::UnsupportedMediaType(detail),
        "429" => ApiError::TooManyRequests {
            detail,
            retry_after_secs: 2,
        },
        "503" => ApiError::Unavailable(detail),
        _ => return None,
    })
}

/// "No such webhook" → "no such webhook"; "The email is taken (`errors`: …)"
/// → "the email is taken": a detail reads as the server's, lower case, one
/// clause.
fn first_clause(description: &str) -> String {
    // A cause's first sentence, before its parenthesis.
    let clause = up_to(cause(description), &[". ", " ("])
        .trim()
        .trim_end_matches('.');
    let mut chars = clause.chars();
    match (chars.next(), chars.next()) {
        // "PATCH …", "ERP …": an acronym keeps its case.
        (Some(first), Some(second)) if !second.is_uppercase() => first
            .to_lowercase()
            .chain(clause[first.len_utf8()..].chars())
            .collect(),
        _ => clause.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{conflict, first_clause};

    #[test]
    fn a_conflict_names_the_field_its_first_cause_names() {
        let problem = |d: &str| conflict(d, "x".into()).problem();
        let taken = problem("The email is taken (`errors`: `[{field: email, code: conflict}]`)");
        let errors = taken.errors;
        assert_eq!(
            (errors[0].field.as_str(), errors[0].code.as_str()),
            ("email", "conflict")
        );
        let archived = problem("The card is archived (`customer_id`, code `archived`); or closed");
        let errors = archived.errors;
        assert_eq!(
            (errors[0].field.as_str(), errors[0].code.as_str()),
            ("customer_id", "archived")
        );
        let plain = problem("Ready-made segment (no `errors`), or the name is taken (`errors`: `[{field: name, code: conflict}]`)");
        assert!(plain.errors.is_empty());
    }

    #[test]
    fn a_detail_is_the_descriptions_first_clause_in_lower_case() {
        assert_eq!(first_clause("No such webhook"), "no such webhook");
        assert_eq!(
            first_clause("The email is taken (`errors`: `[…]`), or the last admin"),
            "the email is taken"
        );
        assert_eq!(
            first_clause("It changed since you read it. Send it again"),
            "it changed since you read it"
        );
        assert_eq!(first_clause("ERP key taken; or x"), "ERP key taken");
        assert_eq!(first_clause(""), "");
    }
}
