//! The type errors of serde, serde_urlencoded and chrono in the API's words:
//! `expected i64`, `invalid digit found in string` and `input is out of
//! range` name Rust types and parser states, which mean nothing to a form or
//! to a tester in Swagger UI. The field and the code stay as they were; a date
//! that is not in the calendar (`2026-02-30`) becomes an `invalid_value`.

/// The first `n` characters of `text`, an ellipsis saying when there were
/// more: a refused value is echoed back (serde quotes it whole), and one of
/// megabytes (a CSV cell, a bulk item's code) made an error of megabytes,
/// stored with its idempotency key too (a review).
pub fn excerpt(text: &str, n: usize) -> String {
    let shown: String = text.chars().take(n).collect();
    if shown.len() < text.len() {
        shown + "…"
    } else {
        shown
    }
}

/// `value` quoted for an error message, cut after 60 characters (`excerpt`).
pub fn quoted(value: &str) -> String {
    let shown: String = value.chars().take(60).collect();
    let more = if shown.len() < value.len() { "…" } else { "" };
    format!("{shown:?}{more}")
}

/// An array where an object belongs (a struct serde would fill by position).
pub const ARRAY_FOR_OBJECT: &str = "expected an object, got an array";

/// The code and message of a type error's text.
pub fn plain(text: &str) -> (&'static str, String) {
    if let Some(message) = chrono_text(text) {
        return message;
    }
    if let Some(answer) = number_text(text) {
        return answer;
    }
    // A struct read from an array (by position) of the wrong length: the
    // body's scan names an array where an object belongs, whatever its length.
    if text.starts_with("invalid length ")
        && (text.contains(", expected struct ")
            || text.ends_with("expected fewer elements in array"))
    {
        return ("invalid_type", ARRAY_FOR_OBJECT.to_string());
    }
    // An enum's: "unknown variant `x`, expected one of `a`, `b`".
    if let Some(rest) = text.strip_prefix("unknown variant ") {
        let message = match rest.rsplit_once("`, expected ") {
            Some((value, wanted)) => {
                format!("unknown value {}`, expected {wanted}", excerpt(value, 60))
            }
            None => format!("unknown value {}", excerpt(rest, 60)),
        };
        return ("invalid_value", message);
    }
    // "invalid type: string \"abc\", expected i64"
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = text.strip_prefix(prefix) {
            if let Some((got, wanted)) = rest.rsplit_once(", expected ") {
                if too_large_integer(got, wanted) || beyond_i64(got, wanted) {
                    return ("range", OUT_OF_RANGE.to_string());
                }
                if inexact_integer(got, wanted) {
                    return ("invalid_type", INEXACT.to_string());
                }
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
    ("invalid_type", excerpt(text, 60))
}

/// chrono's parse errors, as its `Display` words them.
fn chrono_text(text: &str) -> Option<(&'static str, String)> {
    // The error does not say which of the two the field is; the spec does.
    const FORMAT: &str = "not in this field's RFC 3339 format (format `date`: 2026-12-04; \
         format `date-time`: 2026-12-04T09:30:00Z; the spec gives each field's)";
    match text {
        "input is out of range" => Some((
            "invalid_value",
            "not a date or time of the calendar (no such month, day, hour, minute, second or offset)"
                .to_string(),
        )),
        crate::domain::instants::PLUS_AS_SPACE_ERROR => Some((
            "invalid_type",
            crate::domain::instants::PLUS_AS_SPACE_ERROR.to_string(),
        )),
        crate::domain::instants::FORMAT_ERROR
        | "input contains invalid characters"
        | "premature end of input"
        | "trailing input"
        | "no possible date and time matching input"
        | "input is not enough for unique date and time"
        | "bad or unsupported format string" => Some(("invalid_type", FORMAT.to_string())),
        _ => None,
    }
}

/// The standard library's number and boolean parse errors (query values).
fn number_text(text: &str) -> Option<(&'static str, String)> {
    let (code, message) = match text {
        "invalid digit found in string" => ("invalid_type", "expected an integer"),
        "cannot parse integer from empty string" => {
            ("invalid_type", "expected an integer, got an empty value")
        }
        "number too large to fit in target type" | "number too small to fit in target type" => {
            ("range", OUT_OF_RANGE)
        }
        "invalid float literal" => ("invalid_type", "expected a number"),
        "cannot parse float from empty string" => {
            ("invalid_type", "expected a number, got an empty value")
        }
        "provided string was not `true` or `false`" => ("invalid_type", "expected true or false"),
        _ => return None,
    };
    Some((code, message.to_string()))
}

const OUT_OF_RANGE: &str =
    "the integer is out of range (-9223372036854775808 to 9223372036854775807)";

/// A whole number JSON gave beyond 64 bits (serde_json reads it as a float):
/// the client sent an integer, too large; `1e+20` was called "not an integer".
fn too_large_integer(got: &str, wanted: &str) -> bool {
    whole_float(got, wanted, INTEGERS).is_some_and(|f| f.abs() >= 2f64.powi(63))
}

const INTEGERS: &[&str] = &[
    "i8", "i16", "i32", "i64", "isize", "u8", "u16", "u32", "u64", "usize",
];

/// The whole number serde got as a float (`floating point `…``) for a field
/// of one of the types `wanted_in`.
fn whole_float(got: &str, wanted: &str, wanted_in: &[&str]) -> Option<f64> {
    if !wanted_in.contains(&wanted) {
        return None;
    }
    got.strip_prefix("floating point `")
        .and_then(|rest| rest.strip_suffix('`'))
        .and_then(|n| n.parse::<f64>().ok())
        .filter(|f| f.fract() == 0.0)
}

const INEXACT: &str = "expected an integer: past 2^53 an integer written with a fraction or \
     an exponent (`9007199254740993.0`) cannot be read exactly; write it without them";

/// A whole number from 2^53 to 2^63 written as a float (`.0`, an exponent)
/// for a 64-bit field: it may have been rounded when it was read, so it is
/// not taken (`extract::integral_floats_to_integers` takes the ones below).
/// A narrower field is told its range, as for any float.
fn inexact_integer(got: &str, wanted: &str) -> bool {
    whole_float(got, wanted, &["i64", "isize", "u64", "usize"])
        .is_some_and(|f| f.abs() >= 2f64.powi(53))
}

/// A whole number from 2^63 to 2^64 − 1 for a 64-bit field: serde_json
/// reads it as a `u64` (larger ones as floats, above), and serde said
/// "expected an integer, got integer" with code `invalid_value`. Any integer
/// an `i64` field is given and refuses is one of these.
fn beyond_i64(got: &str, wanted: &str) -> bool {
    matches!(wanted, "i64" | "isize") && got.starts_with("integer `")
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
        // chrono's words for its types.
        "a formatted date string" => "an RFC 3339 date string (2026-12-04)".to_string(),
        other if other.contains("formatted date and time string") => {
            "an RFC 3339 date-time string (2026-12-04T09:30:00Z)".to_string()
        }
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
    if got.starts_with("string ") {
        return excerpt(got, 60);
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

    /// A refused string is quoted up to 60 characters, whatever its length.
    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(10_000);
        let (_, message) = plain(&format!("invalid type: string \"{long}\", expected i64"));
        assert!(
            message.starts_with("expected an integer, got string \"xxx"),
            "{message}"
        );
        assert!(message.ends_with('…') && message.len() < 120, "{message}");
        let (_, message) = plain(&format!(
            "unknown variant `{long}`, expected one of `a`, `b`"
        ));
        assert!(
            message.ends_with("…`, expected one of `a`, `b`"),
            "{message}"
        );
        assert!(message.len() < 120, "{message}");
    }

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
    fn an_integer_beyond_64_bits_is_out_of_range() {
        let (code, message) = plain("invalid type: floating point `1e20`, expected i64");
        assert_eq!(code, "range");
        assert!(
            message.starts_with("the integer is out of range"),
            "{message}"
        );
        assert_eq!(plain("number too large to fit in target type").0, "range");
        // From 2^63 to 2^64 - 1 serde_json has a u64 (a review: it said
        // "expected an integer, got integer", code invalid_value).
        let (code, message) = plain("invalid value: integer `9223372036854775808`, expected i64");
        assert_eq!(code, "range");
        assert!(
            message.starts_with("the integer is out of range"),
            "{message}"
        );
        // A narrower field still names its own range.
        assert_eq!(
            plain("invalid value: integer `70000`, expected i16").0,
            "invalid_value"
        );
        // A fraction is still a type error.
        assert_eq!(
            plain("invalid type: floating point `1.5`, expected i64").0,
            "invalid_type"
        );
        assert_eq!(
            plain("invalid type: integer `19900101`, expected a formatted date string").1,
            "expected an RFC 3339 date string (2026-12-04), got integer `19900101`"
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
        // The strict readers' own (`domain::instants`).
        assert_eq!(
            plain(crate::domain::instants::FORMAT_ERROR),
            ("invalid_type", message)
        );
        assert_eq!(
            plain(crate::domain::instants::CALENDAR_ERROR).0,
            "invalid_value"
        );
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
        assert_eq!(
            plain("invalid length 1, expected struct AnswerInput with 2 elements").1,
            "expected an object, got an array"
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
