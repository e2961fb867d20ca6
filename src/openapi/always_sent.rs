//! Nullable fields of the answers are always sent (`null` when empty), so
//! the spec lists them as `required`. utoipa leaves every `Option` field out
//! of `required`, and generated clients typed 136 fields of 38 answer
//! schemas "may be missing" (`from?: string | null`; a review). A field an
//! answer omits instead (`skip_serializing_if`) is declared
//! `#[schema(nullable = false)]`: not null, not required, left alone here.
//!
//! Only schemas no request reads: a request's `Option` field may be left
//! out, and a schema shared by a request and an answer keeps the request's
//! reading.

use std::collections::{BTreeSet, HashSet};

use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::{OpenApi, RefOr};

const PREFIX: &str = "#/components/schemas/";

pub fn mark(api: &mut OpenApi) {
    let read_by_requests = read_by_requests(api);
    let Some(components) = api.components.as_mut() else {
        return;
    };
    for (name, schema) in components.schemas.iter_mut() {
        if !read_by_requests.contains(name) {
            if let RefOr::T(schema) = schema {
                require_nullable(schema);
            }
        }
    }
}

/// Adds every nullable property of `schema` (and of the parts of an
/// `allOf`, as `#[serde(flatten)]` makes) to its `required`.
fn require_nullable(schema: &mut Schema) {
    match schema {
        Schema::Object(object) => {
            let nullable: Vec<String> = object
                .properties
                .iter()
                .filter(|(_, property)| is_nullable(property))
                .map(|(name, _)| name.clone())
                .collect();
            for name in nullable {
                if !object.required.contains(&name) {
                    object.required.push(name);
                }
            }
        }
        Schema::AllOf(all) => {
            for part in all.items.iter_mut() {
                if let RefOr::T(part) = part {
                    require_nullable(part);
                }
            }
        }
        _ => {}
    }
}

/// `type: [T, "null"]`, or `oneOf` with a `null` (an `Option` of a schema
/// of its own).
fn is_nullable(property: &RefOr<Schema>) -> bool {
    let is_null = |s: &SchemaType| match s {
        SchemaType::Type(t) => *t == Type::Null,
        SchemaType::Array(types) => types.contains(&Type::Null),
        SchemaType::AnyValue => false,
    };
    match property {
        RefOr::T(Schema::Object(o)) => is_null(&o.schema_type),
        RefOr::T(Schema::Array(a)) => is_null(&a.schema_type),
        RefOr::T(Schema::OneOf(one)) => one
            .items
            .iter()
            .any(|item| matches!(item, RefOr::T(Schema::Object(o)) if is_null(&o.schema_type))),
        _ => false,
    }
}

/// The schemas a request body or parameter names, and those they name in
/// turn.
fn read_by_requests(api: &OpenApi) -> HashSet<String> {
    let mut pending: BTreeSet<String> = BTreeSet::new();
    for item in api.paths.paths.values() {
        let ops = [
            &item.get,
            &item.put,
            &item.post,
            &item.delete,
            &item.patch,
            &item.head,
        ];
        for op in ops.into_iter().flatten() {
            refs_in(&op.request_body, &mut pending);
            refs_in(&op.parameters, &mut pending);
        }
        refs_in(&item.parameters, &mut pending);
    }
    let schemas = api.components.as_ref().map(|c| &c.schemas);
    let mut seen = HashSet::new();
    while let Some(name) = pending.pop_first() {
        if seen.insert(name.clone()) {
            if let Some(schema) = schemas.and_then(|s| s.get(&name)) {
                refs_in(schema, &mut pending);
            }
        }
    }
    seen
}

/// Adds the schema names `value` (a part of the spec) refers to.
fn refs_in(value: &impl serde::Serialize, out: &mut BTreeSet<String>) {
    fn walk(value: &serde_json::Value, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v.as_str()) {
                        ("$ref", Some(r)) => {
                            if let Some(name) = r.strip_prefix(PREFIX) {
                                out.insert(name.to_string());
                            }
                        }
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    if let Ok(value) = serde_json::to_value(value) {
        walk(&value, out);
    }
}
