//! Turning bad input into field errors: validator's errors, unknown codes and
//! serde's type errors all end up as `FieldError`s naming the field.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

use crate::domain::codes::Code;
use crate::error::{ApiError, FieldError};

/// A code as sent by a client: kept even when unknown, so that validation can
/// report it together with every other bad field instead of failing alone.
#[derive(Debug, Clone, PartialEq)]
pub enum Input<T> {
    Known(T),
    Unknown(String),
}

impl<'de, T: Code> Deserialize<'de> for Input<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(T::parse(&s).map(Input::Known).unwrap_or(Input::Unknown(s)))
    }
}

/// Validator records the value with each error, so inputs serialize as sent.
impl<T: Code> serde::Serialize for Input<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Input::Known(v) => s.serialize_str(v.as_code()),
            Input::Unknown(raw) => s.serialize_str(raw),
        }
    }
}

impl<T: Code> Input<T> {
    /// The value; only `Unknown` after a skipped validation, reported as such.
    pub fn get(&self, field: &str) -> Result<T, ApiError> {
        match self {
            Input::Known(v) => Ok(*v),
            Input::Unknown(s) => Err(ApiError::invalid(
                field,
                "invalid_value",
                &unknown_message::<T>(s),
            )),
        }
    }
}

fn unknown_message<T: Code>(s: &str) -> String {
    format!(
        "unknown value {}; expected one of: {}",
        super::wording::quoted(s),
        T::CODES.join(", ")
    )
}

/// Validator rule for `Input<T>` fields.
pub fn known_code<T: Code>(value: &Input<T>) -> Result<(), ValidationError> {
    match value {
        Input::Known(_) => Ok(()),
        Input::Unknown(s) => {
            Err(ValidationError::new("invalid_value")
                .with_message(Cow::Owned(unknown_message::<T>(s))))
        }
    }
}

/// Validator rule for free-text fields that must not be blank.
pub fn not_blank(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        Err(ValidationError::new("blank").with_message(Cow::Borrowed("must not be blank")))
    } else {
        Ok(())
    }
}

/// Validator rule for an ERP key (`external_id`): not blank, and no
/// invisible character (`invisible`, as in an email address): `\u{FEFF}ERP-1`
/// or `ERP-1\u{200B}`, pasted from a spreadsheet, was stored as another key
/// that looks like `ERP-1`, so the next sync of `ERP-1` created a second card
/// and `?external_id=ERP-1` found none (a review).
///
/// This rule is a new card's or order's key's; a PATCH or an update is held
/// to it by [`check_changed_erp_key`], only for a key it sets or changes.
pub fn erp_key(value: &str) -> Result<(), ValidationError> {
    not_blank(value)?;
    if value.chars().any(invisible) {
        return Err(
            ValidationError::new("invalid_character").with_message(Cow::Borrowed(INVISIBLE_IN_KEY))
        );
    }
    Ok(())
}

const INVISIBLE_IN_KEY: &str = "must not contain invisible characters (Unicode format characters such as U+200B or U+FEFF, variation selectors): a key that looks like another would not match it";

/// `erp_key`'s rule for a write to a stored card or order: only a key it
/// sets or changes. A key stored before the rule and kept (a bulk resync
/// matched by it, an import row by id, which fills in the card's own key)
/// still writes: refused, such a card could take no sync at all.
pub fn check_changed_erp_key(key: Option<&str>, stored: Option<&str>) -> Result<(), ApiError> {
    match key.filter(|k| Some(*k) != stored) {
        Some(key) if key.chars().any(invisible) => {
            Err(ApiError::Validation(vec![FieldError::new(
                "external_id",
                "invalid_character",
                INVISIBLE_IN_KEY,
            )]))
        }
        _ => Ok(()),
    }
}

/// Characters no stored text may hold: the control characters (Unicode Cc)
/// but tab, line feed and carriage return. NUL cannot be stored by
/// PostgreSQL at all; the others are invisible in every UI and export, and
/// break CSV, logs and terminals downstream (an ERP pasting a form feed or an
/// escape sequence into a name).
pub fn forbidden_char(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// The message of a text holding a `forbidden_char`.
pub const FORBIDDEN_CHAR_MESSAGE: &str =
    "must not contain control characters (U+0000 to U+001F but tab, line feed and carriage return; U+007F to U+009F)";

/// The body's content check (`extract`) as a rule of its own, for the
/// values that come from elsewhere held to a body's rules: a password set
/// by `reset-admin-password` or `PATRON_ADMIN_PASSWORD` with a DEL in it
/// was taken, and every login with it was a 422 (a review).
pub fn no_control_characters(value: &str) -> Result<(), ValidationError> {
    if value.chars().any(forbidden_char) {
        return Err(ValidationError::new("invalid_character")
            .with_message(Cow::Borrowed(FORBIDDEN_CHAR_MESSAGE)));
    }
    Ok(())
}

/// ISO 4217 shape: three upper-case letters.
pub fn currency_code(value: &str) -> Result<(), ValidationError> {
    if crate::domain::codes::is_currency_code(value) {
        Ok(())
    } else {
        Err(ValidationError::new("currency")
            .with_message(Cow::Borrowed("must be an ISO 4217 code such as CNY or USD")))
    }
}

/// Phone numbers: digits with the usual separators, 5 to 32 characters.
/// Dates are taken from 1900-01-01 to 9999-12-31. Earlier years are typing
/// errors in a CRM, and periods derived from them (a plan's period before)
/// would leave the four-digit years of the spec's `date` format. Schemas state
/// it as `pattern = "^(19|[2-9][0-9])"` next to `format: date`.
pub fn calendar_date(date: &chrono::NaiveDate) -> Result<(), ValidationError> {
    use chrono::Datelike;
    if (1900..=9999).contains(&date.year()) {
        Ok(())
    } else {
        Err(ValidationError::new("range")
            .with_message(Cow::Borrowed("must be from 1900-01-01 to 9999-12-31")))
    }
}

/// An email address once trimmed (it is stored trimmed, as every text value
/// is): `" a@b.example "` was refused in JSON and taken from a CSV cell,
/// which is trimmed. No invisible format character either: the domain check
/// maps the domain through IDNA first, which drops a zero-width space, so
/// `a@b.com\u{200b}` passed and was stored as sent (it looks like `a@b.com`
/// and never matches it).
///
/// The validator crate checks the local part (before the last `@`) against
/// the HTML form rule: the allowed ASCII characters, dots anywhere. RFC 5322's
/// dot-atom has no dot at either end and no two in a row (`.a@x.com`,
/// `a.@x.com`, `a..b@x.com`): mail servers refuse those, so a user or a card
/// holding one could never be mailed. Quoted local parts (`"a..b"@x.com`)
/// are refused by the crate already, and stay so.
pub fn email_address(value: &str) -> Result<(), ValidationError> {
    use validator::ValidateEmail;
    let value = value.trim();
    if !value.validate_email() || value.chars().any(invisible) {
        return Err(ValidationError::new("email"));
    }
    let (local, domain) = value.rsplit_once('@').unwrap_or((value, ""));
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(ValidationError::new("email").with_message(Cow::Borrowed(
            "must be a valid email address: the part before @ cannot begin or end with a dot or hold two in a row",
        )));
    }
    if !address_literal_alone(domain) {
        return Err(ValidationError::new("email").with_message(Cow::Borrowed(
            "must be a valid email address: a domain in brackets is an IP address alone, as in a@[192.0.2.1]",
        )));
    }
    Ok(())
}

/// The crate takes a domain that fails the host name rule when it merely
/// ends in `[<IP address>]` (its pattern is anchored at the end only), so
/// `a@x"><img src=x>[1.1.1.1]` or a domain with spaces passed and was
/// stored. A domain with a bracket is the address literal, whole.
fn address_literal_alone(domain: &str) -> bool {
    if !domain.contains(['[', ']']) {
        return true;
    }
    domain
        .strip_prefix('[')
        .and_then(|d| d.strip_suffix(']'))
        .is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_ok())
}

/// Unicode's format characters (category Cf) and the invisible marks IDNA
/// maps to nothing (variation selectors, the combining grapheme joiner, the
/// Mongolian free variation selectors, shorthand format controls): they
/// change no glyph, so a text holding one looks the same as one without it.
pub fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}'
        | '\u{070F}' | '\u{0890}'..='\u{0891}' | '\u{08E2}' | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{E0001}'
        | '\u{E0020}'..='\u{E007F}' | '\u{E0100}'..='\u{E01EF}')
}

pub fn phone_number(value: &str) -> Result<(), ValidationError> {
    let ok_chars = value
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let digits = value.chars().filter(char::is_ascii_digit).count();
    if ok_chars && (5..=20).contains(&digits) && value.len() <= 32 {
        Ok(())
    } else {
        Err(ValidationError::new("phone").with_message(Cow::Borrowed(
            "must be a phone number: 5 to 20 digits, optionally with + - ( ) . and spaces",
        )))
    }
}

/// Flattens validator's nested errors into `field.path[index]` entries.
pub fn flatten(prefix: &str, errors: &ValidationErrors, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    out.push(FieldError::new(
                        path.clone(),
                        e.code.to_string(),
                        message(e),
                    ));
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten(&path, inner, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    flatten(&format!("{path}[{index}]"), inner, out);
                }
            }
        }
    }
}

fn message(e: &ValidationError) -> String {
    if let Some(m) = &e.message {
        return m.to_string();
    }
    let param = |name: &str| e.params.get(name).map(|v| v.to_string());
    match e.code.as_ref() {
        "required" => "is required".into(),
        "email" => "must be a valid email address".into(),
        "url" => "must be a valid URL".into(),
        "length" => match (param("min"), param("max"), param("equal")) {
            (_, _, Some(n)) => format!("must be exactly {n} characters long"),
            (Some(min), Some(max), _) => format!("must be {min} to {max} characters long"),
            (Some(min), None, _) => format!("must be at least {min} characters long"),
            (None, Some(max), _) => format!("must be at most {max} characters long"),
            _ => "has an invalid length".into(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            _ => "is out of range".into(),
        },
        other => format!("is invalid ({other})"),
    }
}

/// Runs the derived rules and adds the cross-field ones in one report.
pub fn check<T: validator::Validate>(input: &T, extra: Vec<FieldError>) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Err(e) = input.validate() {
        flatten("", &e, &mut errors);
    }
    // A rule found twice (a length judged as sent and trimmed) is named once.
    for e in extra {
        if !errors
            .iter()
            .any(|x| x.field == e.field && x.code == e.code)
        {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        Err(ApiError::Validation(errors))
    }
}

/// The length errors of a body as sent, for a body whose text is trimmed
/// before its other checks: the spec's `maxLength` counts the JSON string,
/// so a value padded past its limit is refused though it would fit trimmed,
/// as clients and fuzzers that validate against the spec expect (review).
pub fn length_errors<T: validator::Validate>(raw: &T) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Err(e) = raw.validate() {
        flatten("", &e, &mut errors);
    }
    errors.retain(|e| e.code == "length");
    errors
}

/// The fields of a PATCH that cannot be cleared but were sent as `null`
/// (`(name, sent_null)` pairs): one `required` error each, reported with the
/// body's other rules so every bad field is named at once.
pub fn nulls(fields: &[(&str, bool)]) -> Vec<FieldError> {
    fields
        .iter()
        .filter(|(_, null)| *null)
        .map(|(field, _)| FieldError::new(*field, "required", "must not be null"))
        .collect()
}

/// A serde error with the path where it happened.
pub fn serde_field_error<E: std::fmt::Display>(
    path: &serde_path_to_error::Path,
    inner: &E,
) -> FieldError {
    let text = inner.to_string();
    let mut field = path.to_string();
    // "missing field `x`" and "duplicate field `x`" (a key sent twice) are
    // reported at the parent; name the field itself.
    let child = |name: &str| {
        if field == "." || field.is_empty() {
            name.to_string()
        } else {
            format!("{field}.{name}")
        }
    };
    for (prefix, code, message) in [
        ("missing field `", "required", "is required"),
        ("duplicate field `", "duplicate", "is given more than once"),
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let name = rest.split('`').next().unwrap_or_default();
            return FieldError::new(child(name), code, message);
        }
    }
    if field == "." {
        field = String::new();
    }
    let text = strip_position(text);
    // The path of an unknown field ends with its key.
    if text.starts_with("unknown field") {
        return FieldError::new(field, "unknown_field", text);
    }
    let (code, message) = super::wording::plain(&text);
    FieldError::new(field, code, message)
}

/// serde_json appends " at line L column C", which means nothing to a form.
fn strip_position(text: String) -> String {
    match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_rules() {
        assert!(phone_number("+86 138-0013-8000").is_ok());
        assert!(phone_number("12ab5").is_err());
        assert!(phone_number("1234").is_err());
    }

    #[test]
    fn email_local_part_dots() {
        for good in [
            "a.b@x.com",
            "a.b.c@x.com",
            "a@x.com",
            "a_.b@x.com",
            "a+tag@x.com",
            "a@[192.0.2.1]",
            "a@[2001:db8::1]",
        ] {
            assert!(email_address(good).is_ok(), "{good}");
        }
        for bad in [
            ".a@x.com",
            "a.@x.com",
            "a..b@x.com",
            ".@x.com",
            " .a@x.com ",
            "\"a..b\"@x.com",
            "a@ex..ample.com",
            "a@x\"><img src=x onerror=alert(1)>[1.1.1.1]",
            "a@huakang example[10.0.0.1]",
            "a@[x][1.1.1.1]",
            "a@x.com[1.1.1.1]",
            "a@[999.1.1.1]",
        ] {
            assert!(email_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn calendar_date_bounds() {
        let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap_or_default();
        assert!(calendar_date(&day("1900-01-01")).is_ok());
        assert!(calendar_date(&day("9999-12-31")).is_ok());
        assert!(calendar_date(&day("1899-12-31")).is_err());
        assert!(calendar_date(&day("+10000-01-01")).is_err());
    }

    #[test]
    fn currency_rules() {
        assert!(currency_code("CNY").is_ok());
        assert!(currency_code("cny").is_err());
        assert!(currency_code("CNYY").is_err());
    }

    #[test]
    fn unknown_codes_are_kept_and_reported() {
        let v: Input<crate::domain::codes::FunnelStage> =
            serde_json::from_str("\"nope\"").unwrap_or(Input::Unknown(String::new()));
        assert_eq!(v, Input::Unknown("nope".into()));
        let err = known_code(&v).err().map(|e| e.code.to_string());
        assert_eq!(err.as_deref(), Some("invalid_value"));
    }
}
