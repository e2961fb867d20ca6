//! Webhook rules: event names and filters, the signature, the retry delay.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Entity types and operations of the change feed (`db::changes` holds the
/// same lists for storage; a test keeps them equal).
pub const ENTITY_TYPES: &[&str] = &[
    "customer",
    "contact",
    "interaction",
    "transaction",
    "need",
    "stage_change",
    "survey",
    "survey_response",
    "account_plan",
    "segment",
];
pub const OPERATIONS: &[&str] = &["created", "updated", "deleted", "restored"];
pub const MAX_EVENT_FILTERS: usize = 50;

/// The event name of a change: `<entity_type>.<operation>`.
pub fn event_name(entity_type: &str, operation: &str) -> String {
    format!("{entity_type}.{operation}")
}

/// Why a filter is not valid, or None: `*`, `<type>.<operation>`, and either
/// half may be `*` (`transaction.*`, `*.deleted`).
pub fn filter_error(filter: &str) -> Option<String> {
    if filter == "*" {
        return None;
    }
    let Some((entity, op)) = filter.split_once('.') else {
        return Some(format!(
            "{filter:?} is not an event filter: use `*`, `<type>.<operation>`, `<type>.*` or `*.<operation>`"
        ));
    };
    if entity != "*" && !ENTITY_TYPES.contains(&entity) {
        return Some(format!(
            "unknown entity type {entity:?}; one of: {}",
            ENTITY_TYPES.join(", ")
        ));
    }
    if op != "*" && !OPERATIONS.contains(&op) {
        return Some(format!(
            "unknown operation {op:?}; one of: {}",
            OPERATIONS.join(", ")
        ));
    }
    None
}

/// Does any of `filters` select the event `<entity_type>.<operation>`?
pub fn matches(filters: &[String], entity_type: &str, operation: &str) -> bool {
    filters.iter().any(|f| {
        if f == "*" {
            return true;
        }
        match f.split_once('.') {
            Some((e, o)) => (e == "*" || e == entity_type) && (o == "*" || o == operation),
            None => false,
        }
    })
}

/// The entity types `filters` can select, or none when one of them selects
/// every type (`*`, `*.<operation>`): a subscription's position is expired
/// only when a change of these types after it was purged.
pub fn entity_types(filters: &[String]) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for f in filters {
        let entity = f.split_once('.').map_or(f.as_str(), |(e, _)| e);
        if entity == "*" {
            return Vec::new();
        }
        if !types.iter().any(|t| t == entity) {
            types.push(entity.to_string());
        }
    }
    types
}

/// `Patron-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// What a receiver does: recompute and compare in constant time.
pub fn verify(secret: &str, header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.verify_slice(&v1).is_ok()
}

/// The delay before the next attempt after `failures` consecutive failures:
/// base, 2×base, 4×base, … capped at `max_ms`.
pub fn backoff_ms(failures: i64, base_ms: u64, max_ms: u64) -> u64 {
    let exp = failures.clamp(1, 40) as u32 - 1;
    base_ms.saturating_mul(1u64 << exp.min(40)).min(max_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_validated() {
        for ok in [
            "*",
            "customer.created",
            "transaction.*",
            "*.deleted",
            "*.*",
            "stage_change.created",
        ] {
            assert_eq!(filter_error(ok), None, "{ok}");
        }
        for bad in [
            "",
            "customer",
            "customers.created",
            "customer.made",
            "customer.",
            ".created",
            "a.b.c",
        ] {
            assert!(filter_error(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn the_types_a_subscription_follows() {
        let of = |f: &[&str]| entity_types(&f.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            of(&["need.created", "need.*", "segment.deleted"]),
            ["need", "segment"]
        );
        assert!(of(&["need.created", "*.deleted"]).is_empty(), "every type");
        assert!(of(&["*"]).is_empty(), "every type");
    }

    #[test]
    fn filters_select_events() {
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches(&f(&["*"]), "need", "deleted"));
        assert!(matches(&f(&["transaction.*"]), "transaction", "updated"));
        assert!(!matches(&f(&["transaction.*"]), "customer", "updated"));
        assert!(matches(&f(&["customer.created"]), "customer", "created"));
        assert!(!matches(&f(&["customer.created"]), "customer", "updated"));
        assert!(matches(&f(&["*.deleted"]), "contact", "deleted"));
        assert!(!matches(&f(&[]), "contact", "deleted"));
    }

    #[test]
    fn signature_round_trip_and_known_value() {
        let header = signature("s3cret-s3cret-s3cret", 1_700_000_000, "{\"a\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        assert!(verify("s3cret-s3cret-s3cret", &header, "{\"a\":1}"));
        assert!(!verify("other-secret-other", &header, "{\"a\":1}"));
        assert!(!verify("s3cret-s3cret-s3cret", &header, "{\"a\":2}"));
        assert!(!verify("s3cret-s3cret-s3cret", "t=1,v1=zz", "{}"));
        // RFC 4231 test case 2 with our "<t>.<body>" message layout.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap_or_else(|e| panic!("{e}"));
        mac.update(b"1.x");
        assert_eq!(
            sign("Jefe", 1, "x"),
            hex::encode(mac.finalize().into_bytes())
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1, 1000, 60_000), 1000);
        assert_eq!(backoff_ms(2, 1000, 60_000), 2000);
        assert_eq!(backoff_ms(3, 1000, 60_000), 4000);
        assert_eq!(backoff_ms(7, 1000, 60_000), 60_000);
        assert_eq!(backoff_ms(0, 1000, 60_000), 1000);
        assert_eq!(backoff_ms(1000, u64::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn lists_match_the_feed() {
        assert_eq!(ENTITY_TYPES, crate::db::changes::ENTITY_TYPES);
        assert_eq!(OPERATIONS, crate::db::changes::OPERATIONS);
    }
}
