//! An item's optional `version` in a JSON bulk upsert: the version of the
//! record the client last read. Without it an upsert was last-writer-wins:
//! a salesperson edited card K (version 3), the ERP, which had not yet read
//! that from the change feed, sent K's old phone number, and the card went
//! to version 4 with the edit gone. The rules are the CSV import's
//! `version` cell (`customer_csv::Exported`): an item updating a record
//! whose version differs is its error `version`/`conflict`, unless it
//! changes nothing (`unchanged`, nothing undone); an item that creates
//! ignores it; every item of one record in a batch is checked against the
//! version the record had before the batch.

use std::collections::HashMap;

use serde_json::Value;

use super::bulk::Planned;
use crate::error::{ApiError, FieldError};

/// The items' versions, by position (`None`: no check), and the items whose
/// `version` is not a whole number, with their error. `version` is taken
/// out of every item: the single writes' bodies have no such field.
pub fn take(items: &mut [Value]) -> (Vec<Option<i64>>, HashMap<usize, ApiError>) {
    let mut versions = Vec::with_capacity(items.len());
    let mut errors = HashMap::new();
    for (pos, item) in items.iter_mut().enumerate() {
        let sent = item.as_object_mut().and_then(|o| o.remove("version"));
        versions.push(match sent.map(|v| read(&v)).transpose() {
            Ok(version) => version.flatten(),
            Err(e) => {
                errors.insert(pos, e);
                None
            }
        });
    }
    (versions, errors)
}

/// A `version` value: a whole number (an integral float too, as in any
/// integer field), or null for no check. Read as any integer field of a
/// body is: past 64 bits it is the range, not the type.
fn read(value: &Value) -> Result<Option<i64>, ApiError> {
    if value.is_null() {
        return Ok(None);
    }
    let mut whole = value.clone();
    super::extract::integral_floats_to_integers(&mut whole);
    serde_json::from_value::<i64>(whole).map(Some).map_err(|e| {
        match super::wording::plain(&e.to_string()) {
            ("range", message) => ApiError::invalid("version", "range", &message),
            _ => ApiError::invalid(
                "version",
                "invalid_type",
                "must be a whole number: the record's version as last read, or null (or absent) for no check",
            ),
        }
    })
}

/// Runs `plan` over the items whose `version` reads (with their versions,
/// in the same order); the others are their errors, unwritten.
pub fn plan_read<P>(
    items: Vec<Value>,
    mut errors: HashMap<usize, ApiError>,
    versions: &[Option<i64>],
    plan: P,
) -> Result<Vec<Planned<Value>>, ApiError>
where
    P: FnOnce(Vec<Value>, Vec<Option<i64>>) -> Result<Vec<Planned<Value>>, ApiError>,
{
    let mut out = Vec::with_capacity(items.len());
    let (mut good, mut good_versions) = (Vec::new(), Vec::new());
    for (pos, item) in items.into_iter().enumerate() {
        match errors.remove(&pos) {
            Some(e) => out.push(Some(Planned::Done(Err(e)))),
            None => {
                good.push(item);
                good_versions.push(versions.get(pos).copied().flatten());
                out.push(None);
            }
        }
    }
    let mut planned = plan(good, good_versions)?.into_iter();
    for slot in &mut out {
        if slot.is_none() {
            *slot = planned.next();
        }
    }
    super::bulk::settled(out)
}

/// The error of an item sent for a version its record has left, or never
/// had. `current` is the record's version when the batch began, against
/// which every item of the record is checked: "is at" was untrue beside an
/// earlier item's result of the same batch, and "changed since" for a
/// version ahead of the record (a QA review).
pub fn stale(record: &str, sent: i64, current: i64) -> ApiError {
    let message = if sent < 1 {
        format!(
            "the item was sent for version {sent}, which is no version: versions start at 1 \
             (the {record} was at {current} when this batch began)"
        )
    } else if sent < current {
        format!(
            "the item was sent for version {sent}; the {record} was at version {current} when \
             this batch began, changed since: read it (e.g. from the change feed), then send \
             the item again with that version, or without version to overwrite"
        )
    } else {
        format!(
            "the item was sent for version {sent}; the {record} was at version {current} when \
             this batch began, and every item of it is checked against that: send the version \
             read before the batch, or no version to overwrite"
        )
    };
    ApiError::FieldConflict(FieldError::new("version", "conflict", message))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn version_is_taken_out_of_each_item() {
        let mut items = vec![
            json!({"external_id": "A", "version": 3}),
            json!({"external_id": "B", "version": null}),
            json!({"external_id": "C"}),
            json!({"external_id": "D", "version": "3"}),
            json!({"external_id": "E", "version": 4.0}),
            json!({"external_id": "F", "version": 4.5}),
            json!("not an object"),
        ];
        let (versions, errors) = super::take(&mut items);
        assert_eq!(versions, [Some(3), None, None, None, Some(4), None, None]);
        let mut bad: Vec<usize> = errors.keys().copied().collect();
        bad.sort();
        assert_eq!(bad, [3, 5]);
        assert!(items.iter().all(|i| i.get("version").is_none()));
    }
}
