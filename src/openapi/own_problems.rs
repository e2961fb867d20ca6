//! An error response an operation describes itself (its annotation's
//! `description`, `body = Problem`) carries no example, so Swagger UI and
//! mock servers showed the `Problem` schema's example, a 422 validation
//! problem, under a 412, a 404 or a 410 (a review counted 94). Each gets the
//! server's own problem document for its status, its detail the
//! description's first clause.

use utoipa::openapi::path::Operation;
use utoipa::openapi::RefOr;

use crate::error::ApiError;

pub fn add_examples(op: &mut Operation) {
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
        if let Some(error) = error_of(status, first_clause(&response.description)) {
            content.example = serde_json::to_value(error.problem()).ok();
        }
    }
}

/// The error a handler returns with this status. A 422 keeps the schema's
/// example, which is one.
fn error_of(status: &str, detail: String) -> Option<ApiError> {
    Some(match status {
        "400" => ApiError::BadRequest(detail),
        "401" => ApiError::Unauthorized(detail),
        "403" => ApiError::Forbidden(detail),
        "404" => ApiError::NotFound(detail),
        "409" => ApiError::Conflict(detail),
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
    let end = [". ", " (", "; ", ", or ", "\n"]
        .iter()
        .filter_map(|stop| description.find(stop))
        .min()
        .unwrap_or(description.len());
    let clause = description[..end].trim().trim_end_matches('.');
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
    use super::first_clause;

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
