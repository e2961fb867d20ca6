//! A JSON value read with each object's keys checked: a key given twice is
//! an error naming it (`duplicate field`), which `validation` reports as
//! `duplicate` at its path. serde_json's own `Value` keeps the last of the
//! two silently; a derived struct refuses the second, so single writes
//! already said so, but a bulk item (read as a `Value`, then parsed item by
//! item) with `external_id` twice upserted the card of the second key.

use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A `Value` whose objects had no key twice.
pub struct UniqueKeys(pub Value);

/// `deserialize_with` for an optional field holding free JSON (a segment's
/// rule): a key given twice in it is refused, not the last one kept.
pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Option::<UniqueKeys>::deserialize(d).map(|v| v.map(|u| u.0))
}

/// `optional` for a PATCH field, where `null` is sent (`Some(None)`) and
/// absence is `None` (with `#[serde(default)]`).
pub fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Value>>, D::Error> {
    optional(d).map(Some)
}

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Checked).map(UniqueKeys)
    }
}

struct Checked;

impl<'de> Visitor<'de> for Checked {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: Error>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E: Error>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_f64<E: Error>(self, f: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity: every parsed float is finite.
        Ok(Number::from_f64(f).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E: Error>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E: Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(Checked)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(UniqueKeys(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
            }
            let UniqueKeys(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_serde_json_does_without_duplicates() {
        let text = r#"{"a": [1, -2, 3.5, 1e300, 18446744073709551615, null, true, "x\u00e9"], "b": {"c": {}}}"#;
        let ours = serde_json::from_str::<UniqueKeys>(text).map(|u| u.0).ok();
        assert_eq!(ours, serde_json::from_str::<Value>(text).ok());
    }

    #[test]
    fn a_key_twice_at_any_depth_is_named() {
        for (text, key) in [
            (r#"{"a": 1, "a": 2}"#, "a"),
            (r#"[{"b": {"c": 1, "c": 1}}]"#, "c"),
            (r#"{"d\u0065": 1, "de": 2}"#, "de"),
        ] {
            let err = serde_json::from_str::<UniqueKeys>(text)
                .err()
                .map(|e| e.to_string());
            assert!(
                err.as_deref()
                    .is_some_and(|e| e.starts_with(&format!("duplicate field `{key}`"))),
                "{text}: {err:?}"
            );
        }
    }
}
