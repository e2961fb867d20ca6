//! A bound on the JSON values of a bulk body, counted before the body is
//! parsed into memory. The 8 MiB body limit bounds the bytes, not what they
//! parse into: `{"items": [0, 0, 0, …]}` is 4 million values, 134 MB as
//! `serde_json::Value`s, built before the 1,000-item cap could answer (a
//! review); a few such requests at once took gigabytes.

use std::cell::Cell;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Whether `body` holds more than `limit` JSON values (objects, arrays,
/// strings, numbers, booleans and nulls, at any depth). Counting allocates
/// nothing and stops at the first value past the limit. A body that is not
/// JSON, or nested too deep, is not judged here: the parse that follows
/// names its fault.
pub fn more_than(body: &[u8], limit: u64) -> bool {
    // Counted with a byte order mark, the count stopped at byte 0 and let
    // any body through (a review).
    let body = super::extract::json_document(body);
    let seen = Cell::new(0);
    let over = Cell::new(false);
    let counter = Counter {
        seen: &seen,
        over: &over,
        limit,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    // Its error is either the limit (in `over`) or the body's own fault.
    let _ = counter.deserialize(&mut de);
    over.get()
}

#[derive(Clone, Copy)]
struct Counter<'a> {
    seen: &'a Cell<u64>,
    over: &'a Cell<bool>,
    limit: u64,
}

impl Counter<'_> {
    fn bump<E: de::Error>(self) -> Result<(), E> {
        self.seen.set(self.seen.get() + 1);
        if self.seen.get() > self.limit {
            self.over.set(true);
            return Err(E::custom("too many values"));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Counter<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Counter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.bump()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.bump()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.bump()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.bump()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.bump()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.bump()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.bump()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.bump()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::more_than;

    #[test]
    fn every_value_at_any_depth_counts() {
        // The object, the array, 1, "a", null, the inner object, true.
        let body = br#"{"items": [1, "a", null, {"x": true}]}"#;
        assert!(!more_than(body, 7));
        assert!(more_than(body, 6));
    }

    #[test]
    fn a_long_array_of_tiny_items_is_over_at_the_limit() {
        let mut body = b"{\"items\": [".to_vec();
        body.extend(std::iter::repeat_n(b"0,".as_slice(), 100_000).flatten());
        body.extend(b"0]}");
        assert!(more_than(&body, 100_000));
        assert!(!more_than(&body, 100_003));
    }

    #[test]
    fn a_byte_order_mark_is_skipped_as_the_parse_skips_it() {
        assert!(more_than(b"\xEF\xBB\xBF[1, 2, 3]", 3));
        assert!(!more_than(b"\xEF\xBB\xBF[1, 2, 3]", 4));
    }

    #[test]
    fn a_body_that_is_not_json_is_left_to_the_parse() {
        assert!(!more_than(b"{\"items\": [1, 2", 1_000));
        assert!(!more_than(b"not json", 1_000));
        assert!(more_than(b"[1, 2, 3, oops", 2), "over before the fault");
    }
}
