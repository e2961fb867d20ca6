//! Every wrongly typed or unknown field of a body or query in one answer.
//!
//! serde stops at the first field it cannot read, so a form with three bad
//! fields would take three round trips to fix. When reading fails, the input
//! is read again without the field at fault, until it reads or nothing more
//! can be taken out; each failure names one field. Only the failure path pays
//! for this: a good input is read once, as before.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::{Path, Segment};

use super::validation::serde_field_error;
use crate::error::FieldError;

/// At most this many readings per input: each costs a pass over the input, and
/// a body of thousands of unknown keys must not cost thousands of passes.
const MAX_READINGS: usize = 50;

/// The fields of `value` that do not read as a `T`, each named by its path;
/// `Ok` when there are none.
pub fn from_value<T: DeserializeOwned>(mut value: Value) -> Result<T, Vec<FieldError>> {
    every_error(
        &mut value,
        |value| serde_path_to_error::deserialize::<_, T>(value),
        remove_from_value,
    )
}

/// The parameters of a query string that do not read as a `T`.
pub fn from_query<T: DeserializeOwned>(query: &str) -> Result<T, Vec<FieldError>> {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    every_error(
        &mut pairs,
        |pairs| {
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish();
            let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
            serde_path_to_error::deserialize::<_, T>(de)
        },
        |pairs, path| {
            // A query is flat: the parameter at fault is the path's first key.
            let Some(Segment::Map { key: name }) = path.iter().next() else {
                return false;
            };
            let before = pairs.len();
            pairs.retain(|(key, _)| key != name);
            pairs.len() < before
        },
    )
}

/// Reads `input` with `read`; after each failure takes the bad field out with
/// `remove` and reads again. A `required` error for a field taken out (or for
/// the member holding it) is the echo of taking it out, not a new error.
fn every_error<S, T, E: std::fmt::Display>(
    input: &mut S,
    read: impl Fn(&S) -> Result<T, serde_path_to_error::Error<E>>,
    remove: impl Fn(&mut S, &Path) -> bool,
) -> Result<T, Vec<FieldError>> {
    let mut errors: Vec<FieldError> = Vec::new();
    for _ in 0..MAX_READINGS {
        let e = match read(input) {
            Ok(value) if errors.is_empty() => return Ok(value),
            Ok(_) => break,
            Err(e) => e,
        };
        let error = serde_field_error(e.path(), e.inner());
        let echo =
            error.code == "required" && errors.iter().any(|seen| within(&seen.field, &error.field));
        if !echo {
            errors.push(error);
        }
        if !remove(input, e.path()) {
            break;
        }
    }
    Err(errors)
}

/// Whether `field` is `outer` or lies inside it (`lines[0].sku` in `lines`).
pub(super) fn within(field: &str, outer: &str) -> bool {
    field
        .strip_prefix(outer)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Takes out of `value` the object member nearest to the end of the error's
/// path: the field at fault, or the member holding it. An array element is
/// never taken out: the later elements would change index and be misnamed.
fn remove_from_value(value: &mut Value, path: &Path) -> bool {
    let segments: Vec<&Segment> = path.iter().collect();
    let Some(at) = segments
        .iter()
        .rposition(|s| matches!(s, Segment::Map { .. }))
    else {
        return false;
    };
    let Segment::Map { key } = segments[at] else {
        return false;
    };
    let mut node = value;
    for segment in &segments[..at] {
        let next = match (segment, node) {
            (Segment::Seq { index }, Value::Array(items)) => items.get_mut(*index),
            (Segment::Map { key } | Segment::Enum { variant: key }, Value::Object(map)) => {
                map.get_mut(key)
            }
            _ => None,
        };
        let Some(next) = next else {
            return false;
        };
        node = next;
    }
    match node {
        Value::Object(map) => map.remove(key).is_some(),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        sku: String,
        qty: i64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Order {
        name: String,
        note: Option<String>,
        amount: Option<i64>,
        lines: Option<Vec<Line>>,
        tags: Option<Vec<String>>,
    }

    fn named(errors: &[FieldError]) -> Vec<(String, String)> {
        let mut out: Vec<_> = errors
            .iter()
            .map(|e| (e.field.clone(), e.code.clone()))
            .collect();
        out.sort();
        out
    }

    fn pair(field: &str, code: &str) -> (String, String) {
        (field.to_string(), code.to_string())
    }

    #[test]
    fn a_good_value_reads_once() {
        let order: Order = from_value(json!({"name": "a", "amount": 3})).expect("reads");
        assert_eq!(order.amount, Some(3));
    }

    #[test]
    fn every_bad_and_unknown_member_is_named() {
        let errors = from_value::<Order>(json!({
            "name": 5,
            "note": [],
            "amount": "x",
            "color": "red",
            "lines": [{"sku": "a", "qty": 1}, {"sku": 2, "qty": "many", "size": 1}],
        }))
        .expect_err("bad");
        assert_eq!(
            named(&errors),
            vec![
                pair("amount", "invalid_type"),
                pair("color", "unknown_field"),
                pair("lines[1].qty", "invalid_type"),
                pair("lines[1].size", "unknown_field"),
                pair("lines[1].sku", "invalid_type"),
                pair("name", "invalid_type"),
                pair("note", "invalid_type"),
            ]
        );
    }

    #[test]
    fn a_missing_field_is_named_with_the_others() {
        let errors =
            from_value::<Order>(json!({"amount": "x", "lines": [{"qty": 1}]})).expect_err("bad");
        assert_eq!(
            named(&errors),
            vec![
                pair("amount", "invalid_type"),
                pair("lines[0].sku", "required"),
                pair("name", "required"),
            ]
        );
    }

    #[test]
    fn a_bad_array_element_names_the_element_once() {
        let errors =
            from_value::<Order>(json!({"name": "a", "tags": ["ok", 1, 2]})).expect_err("bad");
        assert_eq!(named(&errors), vec![pair("tags[1]", "invalid_type")]);
    }

    #[test]
    fn the_readings_are_bounded() {
        let mut body = serde_json::Map::new();
        body.insert("name".into(), json!("a"));
        for i in 0..1_000 {
            body.insert(format!("k{i}"), json!(i));
        }
        let errors = from_value::<Order>(Value::Object(body)).expect_err("bad");
        assert_eq!(errors.len(), MAX_READINGS);
        assert!(errors.iter().all(|e| e.code == "unknown_field"));
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Query {
        limit: Option<i64>,
        include_archived: Option<bool>,
        q: Option<String>,
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let errors = from_query::<Query>("limit=ten&include_archived=maybe&q=x&colour=red&limit=5")
            .expect_err("bad");
        assert_eq!(
            named(&errors),
            vec![
                pair("colour", "unknown_field"),
                pair("include_archived", "invalid_type"),
                pair("limit", "invalid_type"),
            ]
        );
        let query: Query = from_query("limit=5&q=a%20b").expect("reads");
        assert_eq!((query.limit, query.q.as_deref()), (Some(5), Some("a b")));
    }
}
