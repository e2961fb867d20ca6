//! The type errors of serde, serde_urlencoded and chrono in the API's words:
//! `expected i64`, `invalid digit found in string` and `input is out of
//! range` name Rust types and parser states, which mean nothing to a form or
//! to a tester in Swagger UI. The field and the code stay as they were; a date
//! that is not in the calendar (`2026-02-30`) becomes an `invalid_value`.

/// The code and message of a type error's text.
pub fn plain(text: &str) -> (&'static str, String) {
    if let Some(message) = chrono_text(text) {
        return message;
    }
    if let Some(message) = number_text(text) {
        return ("invalid_type", message.to_string());
    }
    // An enum's: "unknown variant `x`, expected one of `a`, `b`".
    if let Some(rest) = text.strip_prefix("unknown variant ") {
        return ("invalid_value", format!("unknown value {rest}"));
    }
    // "invalid type: string \"abc\", expected i64"
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = text.strip_prefix(prefix) {
            if let Some((got, wanted)) = rest.rsplit_once(", expected ") {
                let code = if prefix == "invalid type: " {
                    "invalid_type"
                } else {
                    "invalid_value"
                };
                return (
                    code,
                    format!("expected {}, got {}", expected(wanted), given(got)),
                );
            }
        }
    }
    ("invalid_type", text.to_string())
}

/// chrono's parse errors, as its `Display` words them.
fn chrono_text(text: &str) -> Option<(&'static str, String)> {
    const FORMAT: &str =
        "expected an RFC 3339 date (2026-12-04) or date-time (2026-12-04T09:30:00Z), as the spec gives";
    match text {
        "input is out of range" => Some((
            "invalid_value",
            "not a date or time of the calendar (no such month, day, hour, minute, second or offset)"
                .to_string(),
        )),
        "input contains invalid characters"
        | "premature end of input"
        | "trailing input"
        | "no possible date and time matching input"
        | "input is not enough for unique date and time"
        | "bad or unsupported format string" => Some(("invalid_type", FORMAT.to_string())),
        _ => None,
    }
}

/// The standard library's number and boolean parse errors (query values).
fn number_text(text: &str) -> Option<&'static str> {
    Some(match text {
        "invalid digit found in string" => "expected an integer",
        "cannot parse integer from empty string" => "expected an integer, got an empty value",
        "number too large to fit in target type" | "number too small to fit in target type" => {
            "the integer is out of range"
        }
        "invalid float literal" => "expected a number",
        "cannot parse float from empty string" => "expected a number, got an empty value",
        "provided string was not `true` or `false`" => "expected true or false",
        _ => return None,
    })
}

/// serde's name of the expected type, for a reader of JSON.
fn expected(wanted: &str) -> String {
    let range = |min: i128, max: i128| format!("an integer from {min} to {max}");
    match wanted {
        "i64" | "isize" => "an integer".to_string(),
        "i8" => range(i8::MIN.into(), i8::MAX.into()),
        "i16" => range(i16::MIN.into(), i16::MAX.into()),
        "i32" => range(i32::MIN.into(), i32::MAX.into()),
        "u8" => range(0, u8::MAX.into()),
        "u16" => range(0, u16::MAX.into()),
        "u32" => range(0, u32::MAX.into()),
        "u64" | "usize" => range(0, u64::MAX.into()),
        "f32" | "f64" => "a number".to_string(),
        "a sequence" => "an array".to_string(),
        "a map" => "an object".to_string(),
        "unit" => "null".to_string(),
        other if other.starts_with("struct ") || other.starts_with("a map ") => {
            "an object".to_string()
        }
        other => other.to_string(),
    }
}

/// serde's name of what was given (`floating point `1.5``, `sequence`).
fn given(got: &str) -> String {
    if let Some(rest) = got.strip_prefix("floating point ") {
        return format!("number {rest}");
    }
    match got {
        "sequence" => "an array".to_string(),
        "map" => "an object".to_string(),
        "unit value" | "unit" => "null".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn rust_type_names_become_json_words() {
        assert_eq!(
            plain("invalid type: string \"abc\", expected i64"),
            (
                "invalid_type",
                "expected an integer, got string \"abc\"".to_string()
            )
        );
        assert_eq!(
            plain("invalid type: floating point `1.5`, expected i64").1,
            "expected an integer, got number `1.5`"
        );
        assert_eq!(
            plain("invalid type: string \"a\", expected a sequence").1,
            "expected an array, got string \"a\""
        );
        assert_eq!(
            plain("invalid type: sequence, expected struct CustomerCreate").1,
            "expected an object, got an array"
        );
        assert_eq!(
            plain("invalid value: integer `-1`, expected u32"),
            (
                "invalid_value",
                "expected an integer from 0 to 4294967295, got integer `-1`".to_string()
            )
        );
    }

    #[test]
    fn a_date_outside_the_calendar_is_a_bad_value() {
        let (code, message) = plain("input is out of range");
        assert_eq!(code, "invalid_value");
        assert!(message.starts_with("not a date or time of the calendar"));
        let (code, message) = plain("input contains invalid characters");
        assert_eq!(code, "invalid_type");
        assert!(message.contains("RFC 3339"), "{message}");
    }

    #[test]
    fn query_parse_errors_are_worded() {
        assert_eq!(
            plain("invalid digit found in string").1,
            "expected an integer"
        );
        assert_eq!(
            plain("provided string was not `true` or `false`").1,
            "expected true or false"
        );
        assert_eq!(
            plain("unknown variant `x`, expected `a` or `b`"),
            (
                "invalid_value",
                "unknown value `x`, expected `a` or `b`".to_string()
            )
        );
        // Anything else keeps its words.
        assert_eq!(
            plain("unknown value \"x\"; expected one of: a, b"),
            (
                "invalid_type",
                "unknown value \"x\"; expected one of: a, b".to_string()
            )
        );
    }
}
