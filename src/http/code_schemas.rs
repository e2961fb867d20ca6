//! Schemas of fields that hold codes kept as text, built from the constants
//! the server writes and checks them with. A response field lists its codes,
//! so that a client can switch on them and a response-schema check refuses a
//! code the spec does not name; a webhook's event filter has the pattern its
//! check accepts. They were only in the fields' prose (an outside audit).

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// A string schema that allows exactly `codes`.
fn codes(description: &str, codes: &[&str]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(codes.iter().copied()))
        .into()
}

macro_rules! code_schema {
    ($name:ident, $description:literal, $codes:expr) => {
        #[doc = $description]
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                codes($description, $codes)
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

code_schema!(
    TimelineItemType,
    "What a timeline entry is: the one of its fields that is set.",
    &super::timeline::SOURCES
);
code_schema!(
    EventKind,
    "The kind of a customer history event.",
    crate::db::events::KINDS
);
code_schema!(
    ChangeEntityType,
    "The type of entity a change of the feed is about.",
    crate::domain::webhooks::ENTITY_TYPES
);
code_schema!(
    ChangeOperation,
    "What a change of the feed did to its entity.",
    crate::domain::webhooks::OPERATIONS
);
code_schema!(
    SatisfactionLevel,
    "A satisfaction level, 1 to 5 (`/reference/satisfaction-levels`).",
    &super::loyalty::LEVEL_CODES
);
code_schema!(
    DeliveryOutcome,
    "How an attempt to deliver a change ended.",
    crate::domain::webhooks::DELIVERY_OUTCOMES
);

/// A webhook event filter: `*`, `<type>.<operation>`, `<type>.*`, `*.<operation>`
/// (and `*.*`), exactly what `domain::webhooks::filter_error` accepts.
pub struct EventFilter;

impl utoipa::PartialSchema for EventFilter {
    fn schema() -> RefOr<Schema> {
        use crate::domain::webhooks::{operations_of, ENTITY_TYPES, OPERATIONS};
        // The names are lower case letters and `_`: nothing to escape. Each
        // type with the operations the feed records for it.
        let typed: Vec<String> = ENTITY_TYPES
            .iter()
            .map(|t| format!(r"{t}\.(\*|{})", operations_of(t).join("|")))
            .collect();
        let pattern = format!(
            r"^(\*|\*\.(\*|{})|{})$",
            OPERATIONS.join("|"),
            typed.join("|")
        );
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An event filter: `*`, `<type>.<operation>`, `<type>.*` or `*.<operation>`. \
                 A type's filter names an operation the feed records for it: \
                 `stage_change` and `survey_response` are only `created`, only \
                 `customer` is also `restored`; the others are `created`, \
                 `updated` and `deleted`.",
            ))
            .pattern(Some(pattern))
            .examples([serde_json::json!("customer.*")])
            .into()
    }
}

impl utoipa::ToSchema for EventFilter {}

/// A delivery's event name, `<type>.<operation>` (`domain::webhooks::event_name`).
pub struct EventName;

impl utoipa::PartialSchema for EventName {
    fn schema() -> RefOr<Schema> {
        use crate::domain::webhooks::{ENTITY_TYPES, OPERATIONS};
        let pattern = format!(
            r"^({})\.({})$",
            ENTITY_TYPES.join("|"),
            OPERATIONS.join("|")
        );
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "The event delivered: `<type>.<operation>` of the change.",
            ))
            .pattern(Some(pattern))
            .examples([serde_json::json!("customer.updated")])
            .into()
    }
}

impl utoipa::ToSchema for EventName {}

/// One option of a `single_choice` question: what `surveys::choice_options`
/// accepts (1 to 200 characters, not blank).
pub struct ChoiceOption;

impl utoipa::PartialSchema for ChoiceOption {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An option of a `single_choice` question: 1 to 200 characters, not blank.",
            ))
            .min_length(Some(1))
            .max_length(Some(crate::http::surveys::MAX_OPTION))
            .pattern(Some(
                r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
            ))
            .examples([serde_json::json!("delivery")])
            .into()
    }
}

impl utoipa::ToSchema for ChoiceOption {}

#[cfg(test)]
mod tests {
    use crate::domain::webhooks::{filter_error, ENTITY_TYPES, OPERATIONS};

    fn spec() -> serde_json::Value {
        serde_json::to_value(crate::openapi::spec()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn regex(pattern: &serde_json::Value) -> regex::Regex {
        let pattern = pattern.as_str().unwrap_or_else(|| panic!("no pattern"));
        regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
    }

    /// Each code field lists the codes the server writes (they were only in
    /// prose). The timeline's types are those it reads from, events' kinds
    /// those `db::events` writes, the feed's those `db::changes` records.
    #[test]
    fn code_fields_list_the_codes_written() {
        let spec = spec();
        let schemas = &spec["components"]["schemas"];
        let timeline: &[&str] = &super::super::timeline::SOURCES;
        for (schema, field, codes) in [
            ("TimelineItem", "type", timeline),
            ("EventView", "kind", crate::db::events::KINDS),
            (
                "ChangeItem",
                "entity_type",
                crate::db::changes::ENTITY_TYPES,
            ),
            ("ChangeItem", "operation", crate::db::changes::OPERATIONS),
            (
                "DeliveryView",
                "outcome",
                crate::domain::webhooks::DELIVERY_OUTCOMES,
            ),
        ] {
            let property = &schemas[schema]["properties"][field];
            let name = property["$ref"].as_str().unwrap_or_default();
            let name = name.trim_start_matches("#/components/schemas/");
            assert_eq!(
                schemas[name]["enum"],
                serde_json::json!(codes),
                "{schema}.{field}: {property}"
            );
        }
    }

    /// The filter pattern takes exactly the filters the server takes.
    #[test]
    fn the_event_filter_pattern_is_the_filter_rule() {
        let pattern = regex(&spec()["components"]["schemas"]["EventFilter"]["pattern"]);
        let types = ENTITY_TYPES
            .iter()
            .chain(&["*", "", "customers", "Customer", "*customer"]);
        let mut candidates: Vec<String> = ["*", "", "**", "customer", ".", "*.", ".*", " *"]
            .map(String::from)
            .to_vec();
        for t in types {
            for op in OPERATIONS
                .iter()
                .chain(&["*", "", "eaten", "created.x", "created "])
            {
                candidates.push(format!("{t}.{op}"));
            }
        }
        for c in candidates {
            assert_eq!(pattern.is_match(&c), filter_error(&c).is_none(), "{c:?}");
        }
    }

    /// Every event name a delivery can carry matches the delivery's schema;
    /// filters (with `*`) do not.
    #[test]
    fn the_event_name_pattern_takes_every_event() {
        let spec = spec();
        let schemas = &spec["components"]["schemas"];
        let pattern = regex(&schemas["EventName"]["pattern"]);
        for t in ENTITY_TYPES {
            for op in OPERATIONS {
                let name = crate::domain::webhooks::event_name(t, op);
                assert!(pattern.is_match(&name), "{name}");
            }
        }
        for not in [
            "*",
            "customer.*",
            "*.created",
            "customer",
            "customer.created ",
        ] {
            assert!(!pattern.is_match(not), "{not}");
        }
        assert_eq!(
            schemas["DeliveryView"]["properties"]["event"]["$ref"],
            "#/components/schemas/EventName"
        );
    }

    /// The secret pattern takes exactly the secrets of a valid length the
    /// server takes: no white space (`str::trim`'s) first or last.
    #[test]
    fn the_secret_pattern_is_the_secret_rule() {
        let spec = spec();
        let schemas = &spec["components"]["schemas"];
        let spaces = "\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}\u{2005}\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}";
        // Not white space to `trim`, though some regex dialects call them so.
        let others = "x\u{feff}\u{200b}\u{180e}中";
        for schema in ["WebhookCreate", "WebhookPatch"] {
            let pattern = regex(&schemas[schema]["properties"]["secret"]["pattern"]);
            for edge in spaces.chars().chain(others.chars()) {
                for inner in ["a-long-random-secret", "a long\nrandom secret"] {
                    for s in [
                        format!("{edge}{inner}"),
                        format!("{inner}{edge}"),
                        format!("{edge}{inner}{edge}"),
                    ] {
                        assert_eq!(pattern.is_match(&s), s.trim() == s, "{schema}: {s:?}");
                    }
                }
            }
        }
    }
}
