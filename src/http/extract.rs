//! Request extractors that turn every malformed input into a precise problem:
//! JSON bodies, query strings and path ids.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};
use serde::de::{DeserializeOwned, IgnoredAny};

use super::body::BodyError;
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
        let single = super::charset::single_header(req);
        let content_type_ok = is_json(req);
        let charset_ok = super::charset::require_utf8(req);
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            single?;
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "the request body must be JSON (Content-Type: application/json)".into(),
                ));
            }
            charset_ok?;
            let body = super::body::read(&req, &mut payload, JSON_LIMIT)
                .await
                .map_err(|e| match e {
                    BodyError::TooLarge => ApiError::PayloadTooLarge(format!(
                        "the body is larger than {JSON_LIMIT} bytes"
                    )),
                    BodyError::Bad(e) => e,
                })?;
            parse_json(&body).map(JsonBody)
        })
    }
}

/// The 400 for a body that could not be read or decoded. actix's own text
/// for these quotes Rust's debug form of the I/O error
/// (`Some(Custom { kind: UnexpectedEof, … })`).
pub(crate) fn unreadable(e: &PayloadError) -> ApiError {
    let detail = match e {
        PayloadError::Incomplete(_) => {
            "the body ended early, or does not decode as its Content-Encoding says".to_string()
        }
        PayloadError::Io(io) => format!(
            "cannot read the request body, or it does not decode as its Content-Encoding says ({})",
            io.kind()
        ),
        other => format!("cannot read the request body: {other}"),
    };
    ApiError::BadRequest(detail)
}

pub(crate) fn is_json(req: &HttpRequest) -> bool {
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

/// Syntax errors (anywhere in the body, trailing garbage included) are 400;
/// well-formed JSON of the wrong shape is 422 naming the field. Every body
/// is an object: serde fills a struct from an array too, by position
/// (`["admin@localhost", "secret"]` logged in), which the spec never offers.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    parse_body(body, true)
}

/// `parse_json` without the content scan (`content_errors`), for a bulk body: its
/// items are checked one by one (`bulk::parse_item`), so that one bad item
/// is that item's error and not a refusal of the whole call.
pub fn parse_json_items<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    parse_body(body, false)
}

/// A JSON body without the UTF-8 byte order mark before the document
/// (Windows tools write one: PowerShell's files, .NET's default encoder): it
/// is not part of it, RFC 8259 lets a parser ignore it, and a 400 for an
/// invisible character helps no one. The CSV import ignores it too. Every
/// reading of a JSON body goes through here, so that each reads the same
/// document (a value count and a request hash that kept it read none).
pub fn json_document(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

fn parse_body<T: DeserializeOwned>(body: &[u8], scan_content: bool) -> Result<T, ApiError> {
    let body = json_document(body);
    if body.trim_ascii_start().starts_with(b"[") {
        serde_json::from_slice::<IgnoredAny>(body).map_err(|_| malformed(body))?;
        return Err(ApiError::Validation(vec![FieldError::new(
            "",
            "invalid_type",
            "the body must be a JSON object, not an array",
        )]));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let parsed = match serde_path_to_error::deserialize::<_, T>(&mut *de) {
        Ok(value) => de.end().map(|()| value).map_err(|_| malformed(body))?,
        Err(e) => wrong_shape(&e, body)?,
    };
    let content_errors = if scan_content {
        body_content_errors(body)
    } else {
        Vec::new()
    };
    if content_errors.is_empty() {
        Ok(parsed)
    } else {
        Err(ApiError::Validation(content_errors))
    }
}

/// The first key given twice in one of the body's objects, at its path.
fn repeated_key(body: &[u8]) -> Option<FieldError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize::<_, super::unique_keys::UniqueKeys>(&mut de)
        .err()
        .map(|e| serde_field_error(e.path(), e.inner()))
        .filter(|e| e.code == "duplicate")
}

/// The body did not read as a `T`: a 400 unless it is one well-formed JSON
/// document (a type error may come before a syntax error further on), else a
/// second reading through a `Value` that names every field at fault (the first
/// stopped at one). That reading takes every integral float below 2^53 as
/// an integer: JSON has one number type, and `53.0` is the integer 53 to JSON
/// Schema and to most clients' encoders (JavaScript, some ERP exports), but
/// serde refuses it for an integer field; such a body then reads. A `Value`
/// keeps the last of duplicate keys, so the body is checked for them apart
/// (a float before a repeated key in a segment rule let the repeat pass: a
/// review).
fn wrong_shape<T: DeserializeOwned>(
    first: &serde_path_to_error::Error<serde_json::Error>,
    body: &[u8],
) -> Result<T, ApiError> {
    if !first.inner().is_data() && !out_of_range(first.inner()) {
        return Err(malformed(body));
    }
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Err(beyond_f64(first, body));
    };
    // `null`, a number or a string: serde's message named Patron's own type
    // (`expected struct CustomerPatch`).
    if !value.is_object() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "",
            "invalid_type",
            "the body must be a JSON object",
        )]));
    }
    let first = serde_field_error(first.path(), first.inner());
    // The only error the `Value` cannot show again: it holds one of the keys.
    let duplicate = (first.code == "duplicate")
        .then_some(first)
        .or_else(|| repeated_key(body));
    integral_floats_to_integers(&mut value);
    let mut errors = match super::type_errors::from_value::<T>(value) {
        Ok(parsed) => match duplicate {
            None => return Ok(parsed),
            Some(_) => Vec::new(),
        },
        Err(errors) => errors,
    };
    errors.extend(duplicate);
    errors.extend(body_content_errors(body));
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    errors.dedup_by(|a, b| a.field == b.field);
    // Inside an array named as one, the positions serde read it by are noise.
    let arrays: Vec<String> = errors
        .iter()
        .filter(|e| e.message == super::wording::ARRAY_FOR_OBJECT)
        .map(|e| e.field.clone())
        .collect();
    errors.retain(|e| {
        !arrays
            .iter()
            .any(|a| e.field != *a && super::type_errors::within(&e.field, a))
    });
    errors.truncate(MAX_NAMED);
    Err(ApiError::Validation(errors))
}

pub(crate) fn integral_floats_to_integers(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            // Below 2^53 a float holds every integer exactly; past it the
            // literal may have been rounded as it was read (`9007199254740993.0`
            // was stored as ...992): left a float, to be refused as one.
            Some(f) if f.fract() == 0.0 && f.abs() < 2f64.powi(53) => {
                // The range check above makes the cast exact.
                #[allow(clippy::cast_possible_truncation)]
                let int = f as i64;
                *value = Value::from(int);
                true
            }
            _ => false,
        },
        // Every element is visited (no short circuit): all of them change.
        Value::Array(items) => {
            items
                .iter_mut()
                .map(integral_floats_to_integers)
                .filter(|changed| *changed)
                .count()
                > 0
        }
        Value::Object(map) => {
            map.values_mut()
                .map(integral_floats_to_integers)
                .filter(|changed| *changed)
                .count()
                > 0
        }
        _ => false,
    }
}

/// The 400 for a body that is not one well-formed JSON document.
fn malformed(body: &[u8]) -> ApiError {
    match serde_json::from_slice::<IgnoredAny>(body) {
        Err(e) if e.is_eof() => ApiError::BadRequest(format!("the JSON body is incomplete: {e}")),
        Err(e) => ApiError::BadRequest(format!("the body is not valid JSON: {e}")),
        // Skipping checks neither the text of strings (UTF-8, surrogate
        // pairs) nor depth: read as values, the body names which it was.
        Ok(_) => match serde_json::from_slice::<serde_json::Value>(body) {
            // serde_json reads at most 127 nested arrays and objects, and
            // "not valid JSON" sent the client looking for a syntax error.
            Err(e) if !e.to_string().starts_with("recursion limit exceeded") => {
                ApiError::BadRequest(format!("the body is not valid JSON: its strings must be UTF-8 without a lone surrogate ({e})"))
            }
            _ => ApiError::BadRequest(
                "the body nests arrays and objects 128 levels deep or more: at most 127 are read"
                    .into(),
            ),
        },
    }
}

fn out_of_range(e: &serde_json::Error) -> bool {
    e.to_string().starts_with("number out of range")
}

/// Valid JSON that no `Value` holds: a number beyond f64 (RFC 8259 sets no
/// limit). A 422 naming it, with serde's first error when that was another
/// (an unknown key or a wrong type before it); a 400 if the body is not JSON
/// or nests deeper than serde_json reads.
fn beyond_f64(first: &serde_path_to_error::Error<serde_json::Error>, body: &[u8]) -> ApiError {
    if serde_json::from_slice::<IgnoredAny>(body).is_err() {
        return malformed(body);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let Err(at) = serde_path_to_error::deserialize::<_, serde_json::Value>(&mut *de) else {
        return malformed(body);
    };
    // The `Value` also stops at serde_json's nesting limit: that body is not
    // read at all (a 400 saying so), and calling its depth a number too
    // large to represent, beside a shallow error, sent the client looking
    // for a number.
    if !out_of_range(at.inner()) {
        return malformed(body);
    }
    let mut errors = Vec::new();
    if !out_of_range(first.inner()) {
        errors.push(serde_field_error(first.path(), first.inner()));
    }
    errors.push(FieldError::new(
        serde_field_error(at.path(), at.inner()).field,
        "range",
        "is a number too large to represent",
    ));
    ApiError::Validation(errors)
}

/// `content_errors` of a body, which is parsed a second time only when a
/// cheap scan of its bytes finds one may be there.
fn body_content_errors(body: &[u8]) -> Vec<FieldError> {
    if !may_hold_controls(body) && !nests_arrays(body) {
        return Vec::new();
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    content_errors(&value)
}

/// Whether a valid JSON text may hold a control character: C0 ones can only
/// be written as escapes (`\u001b`, `\b`, `\f`; tab, LF and CR are allowed),
/// DEL and C1 ones also raw. A body of plain text (Chinese as `\u4e2d`
/// escapes included) is not parsed a second time.
fn may_hold_controls(body: &[u8]) -> bool {
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\\' => {
                match body.get(i + 1) {
                    Some(b'b' | b'f') => return true,
                    Some(b'u') => {
                        let hex = body.get(i + 2..i + 6).unwrap_or_default();
                        if hex.len() == 4 && control_escape(hex) {
                            return true;
                        }
                    }
                    _ => {}
                }
                // The escaped character is not the start of another escape.
                i += 2;
            }
            0x7F => return true,
            0xC2 if matches!(body.get(i + 1), Some(0x80..=0x9F)) => return true,
            _ => i += 1,
        }
    }
    false
}

/// Whether a valid JSON text holds an array right inside an array (`[[`,
/// spaces between allowed), outside strings.
fn nests_arrays(body: &[u8]) -> bool {
    let mut in_string = false;
    let mut i = 0;
    while i < body.len() {
        match (in_string, body[i]) {
            (true, b'\\') => i += 1,
            (_, b'"') => in_string = !in_string,
            (false, b'[') => {
                let next = body[i + 1..].iter().find(|b| !b.is_ascii_whitespace());
                if next == Some(&b'[') {
                    return true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// The 4 hex digits of a `\u` escape name a forbidden control character.
fn control_escape(hex: &[u8]) -> bool {
    std::str::from_utf8(hex)
        .ok()
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .and_then(char::from_u32)
        .is_some_and(super::validation::forbidden_char)
}

/// What no schema can say for a body, each by its path: a string (or key)
/// holding a control character (`validation::forbidden_char`), which no text
/// field may contain, and an array right inside an array. No field of the API is a list of lists,
/// and serde fills a struct from an array by position: `"answers": [[1, 4]]`
/// was stored as an answer, `[[1]]` named a Rust struct in its error.
/// At most [`MAX_NAMED`] of them: a body of 87,000 `[]` in an array (300
/// bytes gzipped, sent without a token) named each, and the filter of
/// `wrong_shape` compared them pairwise, 28 s of a worker's thread.
pub fn content_errors(value: &serde_json::Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    find_content_errors(value, String::new(), &mut out);
    out
}

/// The most fields a 422 of a body that does not read names (README).
pub const MAX_NAMED: usize = 50;

fn find_content_errors(value: &serde_json::Value, path: String, out: &mut Vec<FieldError>) {
    use serde_json::Value;
    if out.len() >= MAX_NAMED {
        return;
    }
    let holds = |s: &str| s.chars().any(super::validation::forbidden_char);
    match value {
        Value::String(s) if holds(s) => out.push(FieldError::new(
            path,
            "invalid_character",
            super::validation::FORBIDDEN_CHAR_MESSAGE,
        )),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if out.len() >= MAX_NAMED {
                    return;
                }
                let at = format!("{path}[{i}]");
                if item.is_array() {
                    out.push(FieldError::new(
                        at,
                        "invalid_type",
                        super::wording::ARRAY_FOR_OBJECT,
                    ));
                } else {
                    find_content_errors(item, at, out);
                }
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                if out.len() >= MAX_NAMED {
                    return;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if holds(key) {
                    // Written as JSON would escape them, as `unknown_field`
                    // and the query's errors name such a key.
                    let escaped: String = child
                        .chars()
                        .map(|c| match c {
                            c if super::validation::forbidden_char(c) => {
                                format!("\\u{:04x}", c as u32)
                            }
                            c => c.to_string(),
                        })
                        .collect();
                    out.push(FieldError::new(
                        escaped,
                        "invalid_character",
                        "field names must not contain control characters",
                    ));
                } else {
                    find_content_errors(item, child, out);
                }
            }
        }
        _ => {}
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

/// For an operation without query parameters: any parameter is a 400 naming
/// it, as on the operations that take some (a typo such as `?fields=name`
/// was silently ignored here and refused there).
pub struct NoQuery;

impl FromRequest for NoQuery {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(no_query(req.query_string()).map(|()| NoQuery))
    }
}

fn no_query(query: &str) -> Result<(), ApiError> {
    // A name that is not UTF-8 is named as sent, as by the operations with
    // parameters: decoded leniently it was `\u{FFFD}`, a name no one sent.
    check_query_text(query)?;
    // Each name once, and at most 50 of them (a query of thousands of
    // names is answered in a few lines, like a body's type errors).
    let mut names: Vec<String> = Vec::new();
    for (key, _) in url_pairs(query) {
        if names.len() == 50 {
            break;
        }
        if !names.iter().any(|n| *n == key) {
            names.push(key.into_owned());
        }
    }
    let errors: Vec<FieldError> = names
        .into_iter()
        .map(|key| {
            let field = if key.is_empty() {
                "query".to_string()
            } else {
                key.replace('\0', "\\u0000")
            };
            FieldError::new(
                field,
                "unknown_field",
                "this operation takes no query parameters",
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(bad_query(errors))
    }
}

/// The parameters whose name or value, percent-decoded, is not UTF-8, or
/// holds U+0000 (PostgreSQL cannot compare text with it). Decoded leniently,
/// a value in another encoding (GBK `%D6%D0` for 中) became U+FFFD and was
/// looked up as such: an `external_id` search found nothing, and the client
/// made a second card (a review).
pub fn check_query_text(query: &str) -> Result<(), ApiError> {
    // A `+` is a space once decoded: neither changes UTF-8 nor NUL, so the
    // raw parts are checked as they are, and nothing is copied unless bad.
    fn decode(s: &str) -> Result<std::borrow::Cow<'_, str>, std::str::Utf8Error> {
        percent_encoding::percent_decode_str(s).decode_utf8()
    }
    let mut errors: Vec<FieldError> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (decode(raw_key), decode(raw_value));
        let problem = if key.is_err() || value.is_err() {
            "must be UTF-8, percent-encoded (another encoding, such as GBK, is not read)"
        } else if key.iter().chain(value.iter()).any(|s| s.contains('\0')) {
            "must not contain NUL (%00) characters"
        } else {
            continue;
        };
        let name = match &key {
            Ok(k) => k.replace('+', " ").replace('\0', "\\u0000"),
            Err(_) => raw_key.to_string(),
        };
        // Each name once, and at most 50 (as `no_query`): a head of
        // repeated bad pairs was a 2.5 MB answer.
        if errors.len() < 50 && !errors.iter().any(|e| e.field == name) {
            errors.push(FieldError::new(name, "invalid_character", problem));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(bad_query(errors))
    }
}

pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    check_query_text(query)?;
    let query = without_empty_cursor(query);
    let de = serde_urlencoded::Deserializer::new(url_pairs(&query));
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(parsed) => Ok(parsed),
        // Again, to name every bad parameter, not only the first.
        Err(_) => super::type_errors::from_query::<T>(&query).map_err(|mut errors| {
            for error in &mut errors {
                if error.field.is_empty() {
                    error.field = "query".into();
                }
            }
            bad_query(errors)
        }),
    }
}

/// The query's `names` parameters apart from the rest, each as a query
/// string: for a handler that takes a shared parameter set (the list's
/// filters) and parameters of its own, each parsed with unknown names refused.
pub fn split_query(query: &str, names: &[&str]) -> (String, String) {
    let mut own = form_urlencoded::Serializer::new(String::new());
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (key, value) in url_pairs(query) {
        let out = if names.contains(&key.as_ref()) {
            &mut own
        } else {
            &mut rest
        };
        out.append_pair(&key, &value);
    }
    (own.finish(), rest.finish())
}

/// Two parsed parameter sets, or every bad parameter of both.
pub fn both_queries<A, B>(
    a: Result<A, ApiError>,
    b: Result<B, ApiError>,
) -> Result<(A, B), ApiError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(ApiError::InvalidQuery(mut first)), Err(ApiError::InvalidQuery(second))) => {
            first.extend(second);
            Err(ApiError::InvalidQuery(first))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

fn url_pairs(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// The query without an empty `cursor=`: a client that passes the previous
/// page's `next_cursor` through as-is sends that for the first page.
fn without_empty_cursor(query: &str) -> Cow<'_, str> {
    let empty_cursor = |(k, v): &(Cow<'_, str>, Cow<'_, str>)| k == "cursor" && v.is_empty();
    if !url_pairs(query).any(|pair| empty_cursor(&pair)) {
        return Cow::Borrowed(query);
    }
    let mut out = form_urlencoded::Serializer::new(String::new());
    for pair in url_pairs(query).filter(|pair| !empty_cursor(pair)) {
        out.append_pair(&pair.0, &pair.1);
    }
    Cow::Owned(out.finish())
}

pub fn bad_query(errors: Vec<FieldError>) -> ApiError {
    ApiError::InvalidQuery(errors)
}

/// A numeric path id; anything else is a 404 naming the parameter.
pub fn path_error(err: actix_web::error::PathError, req: &HttpRequest) -> actix_web::Error {
    if let Some(refusal) = super::fallback::literal_route_refusal(req) {
        return actix_web::error::InternalError::from_response(err, refusal).into();
    }
    ApiError::NotFound(not_an_id(req.match_info().iter().map(|(_, value)| value))).into()
}

/// Longest path value repeated in a detail; a longer one is cut with `…`.
const MAX_ECHOED_CHARS: usize = 40;

/// The detail of a path id that does not read: the first path value that is
/// not a 64-bit integer, named as the client sent it. (actix's own text,
/// `Path deserialize error: can not parse "abc" to a i64`, spoke Rust to
/// JSON clients.) Every path parameter but the reference list's name is an
/// id, and that one is a string, which always reads.
fn not_an_id<'a>(mut values: impl Iterator<Item = &'a str>) -> String {
    let Some(value) = values.find(|v| v.parse::<i64>().is_err()) else {
        return "no such resource".into();
    };
    let shown = super::wording::excerpt(value, MAX_ECHOED_CHARS);
    format!("no such resource: `{shown}` is not an id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Named {
        name: String,
        tags: Option<Vec<String>>,
    }

    fn fields(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn a_path_value_that_is_no_id_is_named() {
        assert_eq!(
            not_an_id(["7", "abc", "x"].into_iter()),
            "no such resource: `abc` is not an id"
        );
        assert_eq!(
            not_an_id(["99999999999999999999"].into_iter()),
            "no such resource: `99999999999999999999` is not an id"
        );
        let long = "é".repeat(41);
        assert_eq!(
            not_an_id([long.as_str()].into_iter()),
            format!("no such resource: `{}…` is not an id", "é".repeat(40))
        );
        assert_eq!(not_an_id(["1"].into_iter()), "no such resource");
    }

    #[test]
    fn a_number_beyond_f64_is_named() {
        for (body, field) in [
            (r#"{"name": 1e400}"#, "name"),
            (r#"{"name": "x", "tags": ["a", -1E+999]}"#, "tags[1]"),
        ] {
            match parse_json::<Named>(body.as_bytes()) {
                Err(ApiError::Validation(errors)) => {
                    assert_eq!(errors.len(), 1, "{body}");
                    assert_eq!(errors[0].field, field, "{body}");
                    assert_eq!(errors[0].code, "range", "{body}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        // Behind another error, both are named.
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            name: String,
            tags: Option<Vec<String>>,
        }
        let r = parse_json::<Strict>(br#"{"name": 5, "tags": ["a", 1e400]}"#);
        assert_eq!(
            r.err().map(fields),
            Some(vec!["name".to_string(), "tags[1]".to_string()])
        );
        let r = parse_json::<Strict>(br#"{"name": "x", "zzz": {"a": 1e400}}"#);
        assert_eq!(
            r.err().map(fields),
            Some(vec!["zzz".to_string(), "zzz.a".to_string()])
        );
        // Invalid JSON further on is still the 400.
        let r = parse_json::<Named>(br#"{"name": 1e400,"#);
        assert!(matches!(r, Err(ApiError::BadRequest(_))), "{r:?}");
    }

    #[test]
    fn syntax_errors_anywhere_are_400() {
        for body in [
            "",
            "{",
            "{\"name\": \"x\"} garbage",
            "{\"name\": \"x\"}{}",
            "[1, 2",
            "{\"name\": 5,",
        ] {
            let r = parse_json::<Named>(body.as_bytes());
            assert!(matches!(r, Err(ApiError::BadRequest(_))), "{body:?}: {r:?}");
        }
        assert!(parse_json::<Named>(b"{\"name\": \"x\"} \n").is_ok());
    }

    #[test]
    fn wrong_shapes_are_422() {
        let r = parse_json::<Named>(b"{\"name\": 5}");
        assert_eq!(r.err().map(fields), Some(vec!["name".to_string()]));
        let r = parse_json::<Named>(b"[1, 2]");
        assert!(matches!(r, Err(ApiError::Validation(_))), "{r:?}");
        // An array that would fill the struct by position is refused too.
        let r = parse_json::<Named>(br#" ["x", ["a"]]"#);
        assert_eq!(r.err().map(fields), Some(vec![String::new()]));
        // Not an object: said so, without serde's name of the struct.
        for body in ["null", "5", "\"text\"", "true"] {
            match parse_json::<Named>(body.as_bytes()) {
                Err(ApiError::Validation(errors)) => {
                    assert_eq!(errors.len(), 1, "{body}");
                    assert_eq!(
                        errors[0].message, "the body must be a JSON object",
                        "{body}"
                    );
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn integral_floats_fill_integer_fields() {
        #[derive(Debug, serde::Deserialize)]
        struct Counted {
            n: i64,
            items: Vec<i64>,
            ratio: f64,
        }
        let ok = parse_json::<Counted>(br#"{"n": 53.0, "items": [1, 2.0, -3e2], "ratio": 2.0}"#);
        let ok = ok.map(|c| (c.n, c.items, c.ratio)).ok();
        assert_eq!(ok, Some((53, vec![1, 2, -300], 2.0)));
        // A fraction, or a value outside i64, is still a 422 naming the field.
        for body in [
            r#"{"n": 53.5, "items": [], "ratio": 1}"#,
            r#"{"n": 1e19, "items": [], "ratio": 1}"#,
        ] {
            let r = parse_json::<Counted>(body.as_bytes());
            assert_eq!(r.err().map(fields), Some(vec!["n".to_string()]), "{body}");
        }
        let r = parse_json::<Counted>(br#"{"n": 1, "items": [1.5], "ratio": 1}"#);
        assert_eq!(r.err().map(fields), Some(vec!["items[0]".to_string()]));
        // A float read as an integer does not let a repeated key inside free
        // JSON through (the re-read `Value` keeps the last one silently).
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Ruled {
            n: i64,
            #[serde(deserialize_with = "crate::http::unique_keys::optional")]
            rule: Option<serde_json::Value>,
        }
        let r = parse_json::<Ruled>(br#"{"n": 20.0, "rule": {"v": 1, "v": 2}}"#);
        assert_eq!(r.err().map(fields), Some(vec!["rule.v".to_string()]));
        let r = parse_json::<Ruled>(br#"{"n": 20.0, "rule": {"v": 1}}"#);
        assert_eq!(r.ok().map(|r| r.n), Some(20));
        // Past 2^53 the float may have been rounded as it was read (...993.0
        // reads as ...992): refused, not stored changed; an integer literal
        // there is exact.
        let r = parse_json::<Counted>(br#"{"n": 9007199254740993.0, "items": [], "ratio": 1}"#);
        match r {
            Err(ApiError::Validation(errors)) => {
                assert_eq!(errors[0].field, "n");
                assert_eq!(errors[0].code, "invalid_type");
                assert!(errors[0].message.contains("2^53"), "{}", errors[0].message);
            }
            other => panic!("{other:?}"),
        }
        // Just below -2^63 reads as the float -2^63: out of range, not i64::MIN.
        let r = parse_json::<Counted>(br#"{"n": -9223372036854775809, "items": [], "ratio": 1}"#);
        match r {
            Err(ApiError::Validation(errors)) => assert_eq!(errors[0].code, "range"),
            other => panic!("{other:?}"),
        }
        let ok = parse_json::<Counted>(
            br#"{"n": 9007199254740993, "items": [9007199254740991.0], "ratio": 1}"#,
        );
        let ok = ok.map(|c| (c.n, c.items)).ok();
        assert_eq!(
            ok,
            Some((9_007_199_254_740_993, vec![9_007_199_254_740_991]))
        );
    }

    #[test]
    fn nul_characters_are_named() {
        let r = parse_json::<Named>(br#"{"name": "a\u0000", "tags": ["ok", "\u0000"]}"#);
        assert_eq!(
            r.err().map(fields),
            Some(vec!["name".to_string(), "tags[1]".to_string()])
        );
        let ok = parse_json::<Named>(br#"{"name": "C:\\u0000"}"#);
        assert_eq!(ok.ok().map(|n| n.name), Some("C:\\u0000".to_string()));
    }

    #[test]
    fn an_array_inside_an_array_is_named() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Answer {
            question_id: i64,
            value: i64,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Response {
            answers: Vec<Answer>,
        }
        for (body, field) in [
            (r#"{"answers": [[1, 4]]}"#, "answers[0]"),
            (
                r#"{"answers": [{"question_id": 1, "value": 4}, [ [2, 5] ]]}"#,
                "answers[1]",
            ),
            (r#"{"answers": [[1]]}"#, "answers[0]"),
        ] {
            let errors = parse_json::<Response>(body.as_bytes())
                .err()
                .map(|e| match e {
                    ApiError::Validation(errors) => errors
                        .into_iter()
                        .map(|e| (e.field, e.message))
                        .collect::<Vec<_>>(),
                    other => vec![(String::new(), other.to_string())],
                });
            assert_eq!(
                errors,
                Some(vec![(
                    field.to_string(),
                    "expected an object, got an array".to_string()
                )]),
                "{body}"
            );
        }
        // Brackets in text are not arrays.
        assert!(!nests_arrays(br#"{"name": "[[x]]", "tags": ["[", "["]}"#));
        assert!(nests_arrays(br#"{"a": [ [1]]}"#));
        assert!(!nests_arrays(br#"{"a": "\"[[", "b": [1]}"#));
    }

    #[test]
    fn control_characters_are_named_wherever_they_are_written() {
        for (body, field) in [
            (r#"{"name": "bell\u0007"}"#, "name"),
            (r#"{"name": "esc\u001B[31m"}"#, "name"),
            (r#"{"name": "form\ffeed"}"#, "name"),
            (r#"{"name": "back\bspace"}"#, "name"),
            (r#"{"name": "del\u007f"}"#, "name"),
            ("{\"name\": \"raw del\u{7f}\"}", "name"),
            ("{\"name\": \"raw c1 \u{85}\"}", "name"),
            (r#"{"name": "x", "tags": ["\u009b"]}"#, "tags[0]"),
        ] {
            assert_eq!(
                parse_json::<Named>(body.as_bytes()).err().map(fields),
                Some(vec![field.to_string()]),
                "{body}"
            );
        }
        // A key is named as JSON escapes it.
        assert_eq!(
            parse_json::<Named>(br#"{"name": "x", "na\u0001me": 1}"#)
                .err()
                .map(fields),
            Some(vec!["na\\u0001me".to_string()])
        );
        // Tab, line feed and carriage return are text; so are escaped
        // backslashes before a `b`, an `f` or a `u`, and every other escape.
        for body in [
            r#"{"name": "a\tb\nc\r"}"#,
            r#"{"name": "C:\\bin\\fonts\\u0007"}"#,
            r#"{"name": "\u4e2d\u6587 \u00e9 \u00a0"}"#,
            "{\"name\": \"caf\u{e9} \u{a0} \u{4e2d}\"}",
        ] {
            assert!(parse_json::<Named>(body.as_bytes()).is_ok(), "{body}");
            assert!(!may_hold_controls(body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn nul_in_query_is_named() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Q {
            q: Option<String>,
        }
        match parse_query::<Q>("q=a%00") {
            Err(ApiError::InvalidQuery(errors)) => assert_eq!(errors[0].field, "q"),
            other => panic!("{other:?}"),
        }
        assert!(parse_query::<Q>("q=abc").is_ok());
    }
}
