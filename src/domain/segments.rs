//! Segments (客户细分): the rule language of dynamic segments, as plain Rust.
//!
//! A rule is JSON:
//!
//! - `{"all": [rule, …]}` — every rule matches (1 to 100 rules);
//! - `{"any": [rule, …]}` — at least one matches (1 to 100 rules);
//! - `{"not": rule}` — the rule does not match;
//! - `{"field": "region", "op": "eq", "value": "Hangzhou"}` — a condition on
//!   one field of the card or one derived figure (see [`FIELDS`]).
//!
//! A rule is at most [`MAX_DEPTH`] levels deep, the rule itself being level 1.
//! Parsing reports every problem at once, each named by its path in the
//! request (`rule.all[2].value`).
//!
//! Missing values: a condition on a field without a value is false, except
//! `ne` (a missing value differs from every value) and `is_null`. So
//! `{"not": r}` always matches exactly the customers `r` does not match.

use chrono::{DateTime, Months, NaiveDate, NaiveDateTime, TimeDelta};
use serde_json::{Map, Value};

use super::birthdays::MAX_WINDOW_DAYS;
use super::codes::{
    AcquisitionSource, ChurnReason, Code, CprStage, CustomerKind, FunnelStage, Gender, LoyaltyType,
    PersonalityType, ProspectGrade, SocialStyle, Tier,
};
use super::instants;
use crate::error::FieldError;

/// `dynamic` (members are whoever matches the rule now) or `static` (an
/// explicit member list).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    Dynamic,
    Static,
}

impl SegmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentKind::Dynamic => "dynamic",
            SegmentKind::Static => "static",
        }
    }
}

impl Code for SegmentKind {
    const CODES: &'static [&'static str] = &["dynamic", "static"];
    fn parse(s: &str) -> Option<Self> {
        match s {
            "dynamic" => Some(SegmentKind::Dynamic),
            "static" => Some(SegmentKind::Static),
            _ => None,
        }
    }
    fn as_code(self) -> &'static str {
        self.as_str()
    }
}

/// Deepest nesting of a rule; the rule itself is level 1.
pub const MAX_DEPTH: usize = 8;
/// Most rules in one `all` or `any`.
pub const MAX_CHILDREN: usize = 100;
/// Most values in one `in`.
pub const MAX_IN_VALUES: usize = 500;
/// Most values (conditions and `in` items) in one rule, so its SQL stays
/// within every engine's limit on bound parameters.
pub const MAX_VALUES: usize = 10_000;
/// Longest text value.
pub const MAX_TEXT: usize = 200;
/// Longest tag (as on the card).
pub const MAX_TAG: usize = 50;

/// What kind of value a field holds, which decides its ops and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Free text: `eq`/`ne`/`in` compare exactly, `contains` is a
    /// case-insensitive substring test.
    Text,
    /// A code from a fixed list.
    Code(&'static [&'static str]),
    /// A whole number (counts, ids).
    Integer,
    /// An integer amount in minor units (cents).
    Money,
    /// A decimal number (e.g. a share between 0 and 1).
    Double,
    /// An instant: absolute (RFC 3339 or a date) or relative to now (`-90d`).
    Timestamp,
    /// The card's tags: `contains` = has this tag, `in` = has any of these,
    /// `is_null` = has no tag at all.
    Tags,
    /// A birthday, tested on its month and day alone: `within_days` = is
    /// celebrated from the day the rule is read to this many days later
    /// (`birthdays::Window`, 29 February on the 28th in a common year).
    Birthday,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Code(_) => "code",
            FieldType::Integer => "integer",
            FieldType::Money => "money",
            FieldType::Double => "number",
            FieldType::Timestamp => "timestamp",
            FieldType::Tags => "tags",
            FieldType::Birthday => "month-day",
        }
    }
}

/// One field a condition may test.
#[derive(Debug, PartialEq)]
pub struct Field {
    /// The name in rules; also the `customers` column unless the storage
    /// layer says otherwise.
    pub name: &'static str,
    pub ty: FieldType,
    /// Whether the field can be missing (then `is_null` applies).
    pub nullable: bool,
}

const fn field(name: &'static str, ty: FieldType, nullable: bool) -> Field {
    Field { name, ty, nullable }
}

use FieldType::{
    Birthday as B, Code as C, Double as D, Integer as I, Money as M, Tags as G, Text as T,
    Timestamp as S,
};

/// Every field a rule may use. To add one, add a line here (and, if it is
/// not a `customers` column of the same name, say where it lives in
/// `db::segments::source`).
pub static FIELDS: &[Field] = &[
    // The card.
    field("kind", C(CustomerKind::CODES), false),
    field("name", T, false),
    field("company", T, true),
    // How to reach the customer, and its ERP key: "has an email" for a
    // mailing, "not yet in the ERP" (a QA review found no rule for them).
    field("email", T, true),
    field("phone", T, true),
    field("address", T, true),
    field("external_id", T, true),
    field("region", T, true),
    field("industry", T, true),
    field("gender", C(Gender::CODES), true),
    field("age_band", T, true),
    field("income_band", T, true),
    field("occupation", T, true),
    field("education", T, true),
    field("employees", I, true),
    field("annual_revenue_cents", M, true),
    field("owner_id", I, false),
    field("acquisition_source", C(AcquisitionSource::CODES), true),
    // Who referred the card (`referral`, `chain_expansion`).
    field("source_customer_id", I, true),
    field("birthday", B, true),
    field("personality_type", C(PersonalityType::CODES), true),
    field("social_style", C(SocialStyle::CODES), true),
    field("funnel_stage", C(FunnelStage::CODES), false),
    field("prospect_grade", C(ProspectGrade::CODES), true),
    field("wallet_size_cents", M, true),
    field("currency", T, false),
    field("tags", G, false),
    field("created_at", S, false),
    field("updated_at", S, false),
    // Derived figures.
    field("last_contact_at", S, true),
    field("purchase_count", I, false),
    field("first_purchase_at", S, true),
    field("last_purchase_at", S, true),
    field("lifetime_revenue_cents", M, false),
    field("lifetime_profit_cents", M, false),
    field("revenue_12m_cents", M, false),
    field("profit_12m_cents", M, false),
    field("open_complaints", I, false),
    field("tier", C(Tier::CODES), false),
    field("cpr_stage", C(CprStage::CODES), false),
    field("share_of_wallet", D, true),
    field("satisfaction_overall", D, true),
    field("loyalty_type", C(LoyaltyType::CODES), false),
    // Set while the customer is churned, cleared by its win-back: a
    // win-back campaign's segment, or one that leaves the lost out (the
    // list's `churned` filter had no rule: a review).
    field("churned_at", S, true),
    field("churn_reason", C(ChurnReason::CODES), true),
];

pub fn find_field(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    In,
    Lt,
    Lte,
    Gt,
    Gte,
    Contains,
    IsNull,
    WithinDays,
}

impl Op {
    pub const ALL: &'static [Op] = &[
        Op::Eq,
        Op::Ne,
        Op::In,
        Op::Lt,
        Op::Lte,
        Op::Gt,
        Op::Gte,
        Op::Contains,
        Op::IsNull,
        Op::WithinDays,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::In => "in",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Contains => "contains",
            Op::IsNull => "is_null",
            Op::WithinDays => "within_days",
        }
    }

    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.iter().copied().find(|op| op.as_str() == s)
    }
}

impl Field {
    /// The ops this field accepts.
    pub fn ops(&self) -> Vec<Op> {
        use Op::*;
        let mut ops = match self.ty {
            FieldType::Text => vec![Eq, Ne, In, Contains],
            FieldType::Code(_) => vec![Eq, Ne, In],
            FieldType::Integer | FieldType::Money => vec![Eq, Ne, In, Lt, Lte, Gt, Gte],
            FieldType::Double => vec![Eq, Ne, Lt, Lte, Gt, Gte],
            FieldType::Timestamp => vec![Lt, Lte, Gt, Gte],
            FieldType::Tags => vec![Contains, In, IsNull],
            FieldType::Birthday => vec![WithinDays],
        };
        if self.nullable {
            ops.push(IsNull);
        }
        ops
    }
}

/// `eq`, `ne`, `lt`, `lte`, `gt`, `gte`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Cmp {
    fn of(op: Op) -> Option<Cmp> {
        Some(match op {
            Op::Eq => Cmp::Eq,
            Op::Ne => Cmp::Ne,
            Op::Lt => Cmp::Lt,
            Op::Lte => Cmp::Lte,
            Op::Gt => Cmp::Gt,
            Op::Gte => Cmp::Gte,
            _ => return None,
        })
    }

    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "<>",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
        }
    }
}

/// A time unit of relative dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

impl Unit {
    fn parse(c: char) -> Option<Unit> {
        Some(match c {
            'h' => Unit::Hours,
            'd' => Unit::Days,
            'w' => Unit::Weeks,
            'm' => Unit::Months,
            'y' => Unit::Years,
            _ => return None,
        })
    }

    /// The largest amount accepted: 100 years.
    fn max(self) -> i64 {
        match self {
            Unit::Hours => 876_600,
            Unit::Days => 36_525,
            Unit::Weeks => 5_218,
            Unit::Months => 1_200,
            Unit::Years => 100,
        }
    }
}

/// An instant in a rule: fixed, or relative to the moment the rule is
/// evaluated (so a saved segment "no contact for 90 days" stays current).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Absolute(NaiveDateTime),
    /// `amount` units from now (negative: in the past).
    Relative {
        amount: i64,
        unit: Unit,
    },
}

impl When {
    /// `"-90d"`, `"+7d"`, `"-12m"`, `"-1y"`, `"-6h"`, `"-2w"`, an RFC 3339
    /// instant or a date (midnight UTC), in the forms a request's dates and
    /// instants take (`instants::parse_date`, `parse_instant`): `2024-2-29`
    /// and ` 2026-01-05` are refused, as in a body.
    pub fn parse(s: &str) -> Option<When> {
        if s.starts_with(['-', '+']) {
            return Self::relative(s);
        }
        if let Ok(t) = super::instants::parse_instant(s) {
            return Some(When::Absolute(t.naive_utc()));
        }
        super::instants::parse_date(s)
            .ok()
            .map(|d| When::Absolute(d.and_time(chrono::NaiveTime::MIN)))
    }

    /// A stored rule's value, read as rules were before `parse` was made
    /// strict: trimmed, and a date or instant in chrono's relaxed forms.
    /// Stored rules are not refused (their segment would fail to read).
    fn parse_stored(s: &str) -> Option<When> {
        let s = s.trim();
        if s.starts_with(['-', '+']) {
            return Self::relative(s);
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(When::Absolute(t.naive_utc()));
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(When::Absolute)
    }

    /// `-90d` and the like: a sign, 1 to 7 digits and a unit.
    fn relative(s: &str) -> Option<When> {
        let sign = s.chars().next().filter(|c| *c == '-' || *c == '+')?;
        let body = &s[1..];
        let unit = Unit::parse(body.chars().last()?)?;
        let digits = &body[..body.len() - 1];
        if digits.is_empty() || digits.len() > 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: i64 = digits.parse().ok()?;
        if n > unit.max() {
            return None;
        }
        let amount = if sign == '-' { -n } else { n };
        Some(When::Relative { amount, unit })
    }

    /// The instant, for a rule evaluated at `now` (UTC), within the years
    /// both engines compare alike (`instants::comparable`).
    pub fn resolve(self, now: NaiveDateTime) -> NaiveDateTime {
        super::instants::comparable(self.unclamped(now))
    }

    fn unclamped(self, now: NaiveDateTime) -> NaiveDateTime {
        match self {
            When::Absolute(t) => t,
            When::Relative { amount, unit } => {
                let n = amount.unsigned_abs();
                let shifted = match unit {
                    Unit::Hours => shift(now, amount, TimeDelta::try_hours(n as i64)),
                    Unit::Days => shift(now, amount, TimeDelta::try_days(n as i64)),
                    Unit::Weeks => shift(now, amount, TimeDelta::try_weeks(n as i64)),
                    Unit::Months => months(now, amount, n),
                    Unit::Years => months(now, amount, n.saturating_mul(12)),
                };
                shifted.unwrap_or(now)
            }
        }
    }
}

fn shift(now: NaiveDateTime, amount: i64, delta: Option<TimeDelta>) -> Option<NaiveDateTime> {
    let delta = delta?;
    if amount < 0 {
        now.checked_sub_signed(delta)
    } else {
        now.checked_add_signed(delta)
    }
}

/// Calendar months; the day is clamped to the month's end (31 March − 1m = 28/29 February).
fn months(now: NaiveDateTime, amount: i64, n: u64) -> Option<NaiveDateTime> {
    let m = Months::new(u32::try_from(n).ok()?);
    if amount < 0 {
        now.checked_sub_months(m)
    } else {
        now.checked_add_months(m)
    }
}

/// A value a condition compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Text(String),
    Int(i64),
    Double(f64),
    Time(When),
}

/// What a condition tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Cmp(Cmp, Scalar),
    In(Vec<Scalar>),
    /// Text: case-insensitive substring; tags: has this tag.
    Contains(String),
    /// `true`: the value is missing; `false`: present. For tags: no tag at all.
    IsNull(bool),
    /// A birthday celebrated from the day the rule is read to this many
    /// days later, both included (0 to [`MAX_WINDOW_DAYS`]).
    WithinDays(i64),
}

/// One condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    pub field: &'static Field,
    pub test: Test,
}

/// A parsed rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    All(Vec<Rule>),
    Any(Vec<Rule>),
    Not(Box<Rule>),
    Cond(Cond),
}

/// Where a rule comes from, which decides how strictly its values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Sent in a request: every rule applies.
    Request,
    /// Stored by an earlier version: the values later rules refuse (a date
    /// such as `2024-2-29`, a leap second, a blank text) are read as they
    /// were then, so that its segment still reads. Text values are trimmed
    /// here too, as the card's text is.
    Stored,
}

impl Rule {
    /// Parses a rule sent at `path` (e.g. `rule`), reporting every problem.
    pub fn parse(value: &Value, path: &str) -> Result<Rule, Vec<FieldError>> {
        Self::read(value, path, Source::Request)
    }

    /// Parses a stored rule (its segment's `rule`): see [`Source::Stored`].
    pub fn parse_stored(value: &Value) -> Result<Rule, Vec<FieldError>> {
        Self::read(value, "rule", Source::Stored)
    }

    fn read(value: &Value, path: &str, source: Source) -> Result<Rule, Vec<FieldError>> {
        let mut errors = Vec::new();
        let rule = node(value, path, 1, &mut errors, source);
        match rule {
            Some(rule) if errors.is_empty() && rule.values() > MAX_VALUES => {
                Err(vec![FieldError::new(
                    path,
                    "too_large",
                    format!("a rule holds at most {MAX_VALUES} values"),
                )])
            }
            Some(rule) if errors.is_empty() => Ok(rule),
            _ => Err(errors),
        }
    }

    /// How many values the rule binds (one per condition, one per `in` item,
    /// four per birthday window: its days are one run, at most two ranges
    /// of month-day keys split at the year end, two bounds each).
    pub fn values(&self) -> usize {
        match self {
            Rule::All(rules) | Rule::Any(rules) => rules.iter().map(Rule::values).sum(),
            Rule::Not(rule) => rule.values(),
            Rule::Cond(Cond {
                test: Test::In(items),
                ..
            }) => items.len(),
            Rule::Cond(Cond {
                test: Test::WithinDays(_),
                ..
            }) => 4,
            Rule::Cond(_) => 1,
        }
    }

    /// Whether the rule tests a birthday window, whose members change with
    /// the date the rule is read on (not only with the time, as `-90d`).
    pub fn reads_birthdays(&self) -> bool {
        match self {
            Rule::All(rules) | Rule::Any(rules) => rules.iter().any(Rule::reads_birthdays),
            Rule::Not(rule) => rule.reads_birthdays(),
            Rule::Cond(c) => matches!(c.test, Test::WithinDays(_)),
        }
    }

    /// How many levels deep the rule is (the rule itself is level 1).
    pub fn depth(&self) -> usize {
        match self {
            Rule::All(rules) | Rule::Any(rules) => {
                1 + rules.iter().map(Rule::depth).max().unwrap_or(0)
            }
            Rule::Not(rule) => 1 + rule.depth(),
            Rule::Cond(_) => 1,
        }
    }
}

/// The errors one rule is answered with at most: each empty leaf of a rule
/// near the body's size limit is an error, and uncapped a 248 KB rule was
/// answered with 16 MB of them (a review).
const MAX_ERRORS: usize = 100;

fn err(errors: &mut Vec<FieldError>, path: &str, code: &str, message: impl Into<String>) {
    match errors.len() {
        n if n < MAX_ERRORS => errors.push(FieldError::new(path, code, message)),
        MAX_ERRORS => errors.push(FieldError::new(
            "rule",
            "too_many_errors",
            format!("the rule has more than {MAX_ERRORS} errors; fix these first"),
        )),
        _ => {}
    }
}

/// The scale of a number field: a share is 0 to 1, satisfaction 1 to 5.
fn scale(field: &str) -> Option<(f64, f64)> {
    match field {
        "share_of_wallet" => Some((0.0, 1.0)),
        "satisfaction_overall" => Some((1.0, 5.0)),
        _ => None,
    }
}

const SHAPE: &str = "a rule is an object: {\"all\": [rules]}, {\"any\": [rules]}, \
{\"not\": rule} or {\"field\": name, \"op\": op, \"value\": value}";

fn node(
    value: &Value,
    path: &str,
    depth: usize,
    errors: &mut Vec<FieldError>,
    source: Source,
) -> Option<Rule> {
    if depth > MAX_DEPTH {
        err(
            errors,
            path,
            "too_deep",
            format!("rule nesting deeper than {MAX_DEPTH}"),
        );
        return None;
    }
    let Some(map) = value.as_object() else {
        err(errors, path, "invalid_type", SHAPE);
        return None;
    };
    let combinator = ["all", "any", "not"]
        .into_iter()
        .find(|k| map.contains_key(*k));
    if let Some(key) = combinator {
        for other in map.keys().filter(|k| k.as_str() != key) {
            err(
                errors,
                &format!("{path}.{other}"),
                "unknown_key",
                format!("not allowed next to {key:?}; {SHAPE}"),
            );
        }
        let child_path = format!("{path}.{key}");
        let child = &map[key];
        if key == "not" {
            return node(child, &child_path, depth + 1, errors, source)
                .map(|r| Rule::Not(Box::new(r)));
        }
        let Some(items) = child.as_array() else {
            err(
                errors,
                &child_path,
                "invalid_type",
                format!("{key} takes an array of rules"),
            );
            return None;
        };
        if items.is_empty() || items.len() > MAX_CHILDREN {
            err(
                errors,
                &child_path,
                "length",
                format!("{key} takes 1 to {MAX_CHILDREN} rules"),
            );
            return None;
        }
        let rules: Vec<Option<Rule>> = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                node(
                    item,
                    &format!("{child_path}[{i}]"),
                    depth + 1,
                    errors,
                    source,
                )
            })
            .collect();
        let rules: Option<Vec<Rule>> = rules.into_iter().collect();
        return rules.map(|r| {
            if key == "all" {
                Rule::All(r)
            } else {
                Rule::Any(r)
            }
        });
    }
    if ["field", "op", "value"]
        .iter()
        .any(|k| map.contains_key(*k))
    {
        return condition(map, path, errors, source).map(Rule::Cond);
    }
    err(errors, path, "invalid_rule", SHAPE);
    None
}

fn condition(
    map: &Map<String, Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
    source: Source,
) -> Option<Cond> {
    for other in map
        .keys()
        .filter(|k| !["field", "op", "value"].contains(&k.as_str()))
    {
        err(
            errors,
            &format!("{path}.{other}"),
            "unknown_key",
            "a condition has only field, op and value",
        );
    }
    let field_path = format!("{path}.field");
    let field = match map.get("field") {
        None | Some(Value::Null) => {
            err(errors, &field_path, "required", "name the field to test");
            None
        }
        Some(Value::String(name)) => {
            let found = find_field(name);
            if found.is_none() {
                let names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
                err(
                    errors,
                    &field_path,
                    "unknown_field",
                    format!(
                        "unknown field {name:?}; expected one of: {}",
                        names.join(", ")
                    ),
                );
            }
            found
        }
        Some(_) => {
            err(
                errors,
                &field_path,
                "invalid_type",
                "must be a field name (a string)",
            );
            None
        }
    };
    let op_path = format!("{path}.op");
    let op = match map.get("op") {
        None | Some(Value::Null) => {
            err(errors, &op_path, "required", "name the op");
            None
        }
        Some(Value::String(name)) => {
            let found = Op::parse(name);
            if found.is_none() {
                err(
                    errors,
                    &op_path,
                    "unknown_op",
                    format!("unknown op {name:?}; expected one of: {}", op_list(Op::ALL)),
                );
            }
            found
        }
        Some(_) => {
            err(
                errors,
                &op_path,
                "invalid_type",
                "must be an op name (a string)",
            );
            None
        }
    };
    let (field, op) = (field?, op?);
    let ops = field.ops();
    if !ops.contains(&op) {
        err(
            errors,
            &op_path,
            "op_not_allowed",
            format!(
                "{} does not apply to the {} field {}{}; use one of: {}",
                op.as_str(),
                field.ty.name(),
                field.name,
                if op == Op::IsNull {
                    " (it is never missing)"
                } else {
                    ""
                },
                op_list(&ops)
            ),
        );
        return None;
    }
    let value_path = format!("{path}.value");
    let value = map.get("value");
    let test = match op {
        Op::IsNull => match value {
            None => Some(Test::IsNull(true)),
            Some(Value::Bool(b)) => Some(Test::IsNull(*b)),
            Some(_) => {
                err(
                    errors,
                    &value_path,
                    "invalid_type",
                    "is_null takes true (missing) or false (present)",
                );
                None
            }
        },
        Op::In => match value {
            None => {
                err(
                    errors,
                    &value_path,
                    "required",
                    "in takes an array of values",
                );
                None
            }
            Some(Value::Array(items)) => {
                if items.is_empty() || items.len() > MAX_IN_VALUES {
                    err(
                        errors,
                        &value_path,
                        "length",
                        format!("in takes 1 to {MAX_IN_VALUES} values"),
                    );
                    None
                } else {
                    let values: Vec<Option<Scalar>> = items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            scalar(field, v, &format!("{value_path}[{i}]"), errors, source)
                        })
                        .collect();
                    values.into_iter().collect::<Option<Vec<_>>>().map(Test::In)
                }
            }
            Some(_) => {
                err(
                    errors,
                    &value_path,
                    "invalid_type",
                    "in takes an array of values",
                );
                None
            }
        },
        Op::WithinDays => match value {
            None => {
                err(
                    errors,
                    &value_path,
                    "required",
                    format!("within_days takes a number of days, 0 to {MAX_WINDOW_DAYS}"),
                );
                None
            }
            Some(v) => match scalar(field, v, &value_path, errors, source) {
                Some(Scalar::Int(days)) => Some(Test::WithinDays(days)),
                _ => None,
            },
        },
        Op::Contains => match value {
            None => {
                err(errors, &value_path, "required", "contains takes a string");
                None
            }
            Some(v) => match scalar(field, v, &value_path, errors, source) {
                // `blank`, as a blank value of eq, ne and in is.
                Some(Scalar::Text(s)) if s.trim().is_empty() => {
                    err(errors, &value_path, "blank", "must not be blank");
                    None
                }
                Some(Scalar::Text(s)) => Some(Test::Contains(s)),
                _ => None,
            },
        },
        _ => {
            let cmp = Cmp::of(op)?;
            match value {
                None => {
                    err(
                        errors,
                        &value_path,
                        "required",
                        format!("{} takes a value", op.as_str()),
                    );
                    None
                }
                Some(v) => scalar(field, v, &value_path, errors, source).map(|s| Test::Cmp(cmp, s)),
            }
        }
    };
    let test = match field.ty {
        FieldType::Text => exact_text(field, test?, &value_path, errors, source),
        _ => test,
    };
    test.map(|test| Cond { field, test })
}

/// `eq`, `ne` and `in` on a text field compare the value trimmed: the card's
/// text is stored trimmed and the list's filters (`?region=`) trim theirs,
/// so `" East "` matched no card here while the list found the `East` ones
/// (a review). Blank, the value could match no card (blank text is stored
/// as none): refused in a request, where `is_null` is the test for a
/// missing value. `contains` keeps its spaces: they are part of the
/// substring. A card's `currency` is three upper-case letters, so `usd`
/// could match none: refused in a request as the card's own field is (a
/// review found it accepted, a segment silently empty).
fn exact_text(
    field: &Field,
    test: Test,
    path: &str,
    errors: &mut Vec<FieldError>,
    source: Source,
) -> Option<Test> {
    let currency = field.name == "currency";
    let mut trim = |value: Scalar, path: String| match value {
        Scalar::Text(s) if s.trim().is_empty() && source == Source::Request => {
            err(
                errors,
                &path,
                "blank",
                "must not be blank (blank text is stored as no value: test a missing value with op is_null)",
            );
            None
        }
        Scalar::Text(s)
            if currency
                && source == Source::Request
                && !super::codes::is_currency_code(s.trim()) =>
        {
            err(
                errors,
                &path,
                "currency",
                "must be an ISO 4217 code such as CNY or USD (three upper-case letters, as cards store it)",
            );
            None
        }
        Scalar::Text(s) => Some(Scalar::Text(s.trim().to_string())),
        other => Some(other),
    };
    match test {
        Test::Cmp(cmp, value) => trim(value, path.to_string()).map(|v| Test::Cmp(cmp, v)),
        Test::In(values) => {
            let values: Vec<Option<Scalar>> = values
                .into_iter()
                .enumerate()
                .map(|(i, v)| trim(v, format!("{path}[{i}]")))
                .collect();
            values.into_iter().collect::<Option<Vec<_>>>().map(Test::In)
        }
        other => Some(other),
    }
}

fn op_list(ops: &[Op]) -> String {
    ops.iter()
        .map(|o| o.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a timestamp value was refused.
enum Refused {
    Unreadable,
    LeapSecond,
    Years,
}

/// A timestamp value. A request's absolute instant is held to a list
/// filter's rules: no leap second (which chrono reads at any minute) and
/// years 0001–9999 in UTC (`0000-01-01` was taken and compared as the first
/// instant). A stored rule's is read as it was saved.
fn instant(s: &str, source: Source) -> Result<When, Refused> {
    use chrono::Datelike;
    let when = match source {
        Source::Request => When::parse(s),
        Source::Stored => When::parse_stored(s),
    };
    match when {
        None => Err(Refused::Unreadable),
        Some(When::Absolute(t)) if source == Source::Request => {
            if instants::is_leap_second(t) {
                Err(Refused::LeapSecond)
            } else if !instants::YEARS.contains(&t.year()) {
                Err(Refused::Years)
            } else {
                Ok(When::Absolute(t))
            }
        }
        Some(when) => Ok(when),
    }
}

/// One value for `field`, checked against its type.
/// An integer, also written as a whole float (`2.0`, `3e2`) as every other
/// integer field takes it (README): a rule is read as raw JSON, so the body
/// reader's own conversion reached it only when another field of the body
/// failed to read first (an outside review: `2.0` was refused alone and
/// accepted beside `"limit": 5.0`). Floats are exact up to 2^53 only.
fn whole_number(value: &Value) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    value.as_i64().or_else(|| {
        let f = value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT)?;
        #[allow(clippy::cast_possible_truncation)]
        let n = f as i64;
        Some(n)
    })
}

/// A whole number past 64 bits: above `i64::MAX` (serde_json's `u64`), or
/// a float of 2^63 or more (`1e300`).
fn beyond_i64(value: &Value) -> bool {
    match value {
        Value::Number(n) if n.is_u64() => n.as_i64().is_none(),
        // -2^63 itself is i64::MIN.
        Value::Number(n) if n.is_f64() => n
            .as_f64()
            .is_some_and(|f| f.fract() == 0.0 && (f < -(2f64.powi(63)) || f >= 2f64.powi(63))),
        _ => false,
    }
}

fn scalar(
    field: &Field,
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
    source: Source,
) -> Option<Scalar> {
    let null_hint = if value.is_null() {
        "; use op is_null to test for a missing value"
    } else {
        ""
    };
    let wrong = |errors: &mut Vec<FieldError>, expected: &str| {
        err(
            errors,
            path,
            "invalid_type",
            format!("{} takes {expected}{null_hint}", field.name),
        );
        None
    };
    match field.ty {
        FieldType::Text => match value {
            Value::String(s) if s.chars().count() > MAX_TEXT => {
                err(
                    errors,
                    path,
                    "length",
                    format!("must be at most {MAX_TEXT} characters"),
                );
                None
            }
            Value::String(s) => Some(Scalar::Text(s.clone())),
            _ => wrong(errors, "a string"),
        },
        FieldType::Tags => match value {
            Value::String(s) if s.trim().is_empty() || s.trim().chars().count() > MAX_TAG => {
                err(
                    errors,
                    path,
                    "invalid_value",
                    format!("a tag is 1 to {MAX_TAG} characters and not blank"),
                );
                None
            }
            Value::String(s) => Some(Scalar::Text(s.trim().to_string())),
            _ => wrong(errors, "a tag (a string)"),
        },
        FieldType::Code(codes) => match value {
            Value::String(s) if codes.contains(&s.as_str()) => Some(Scalar::Text(s.clone())),
            Value::String(s) => {
                err(
                    errors,
                    path,
                    "invalid_value",
                    format!(
                        "unknown {} {s:?}; expected one of: {}",
                        field.name,
                        codes.join(", ")
                    ),
                );
                None
            }
            _ => wrong(errors, &format!("one of the codes {}", codes.join(", "))),
        },
        // Past 64 bits: the range, as any integer field of a body says.
        FieldType::Integer | FieldType::Money | FieldType::Birthday if beyond_i64(value) => {
            let range = match field.ty {
                FieldType::Birthday => format!("0 to {MAX_WINDOW_DAYS}"),
                _ => "-9223372036854775808 to 9223372036854775807".to_string(),
            };
            err(
                errors,
                path,
                "range",
                format!("the integer is out of range ({range})"),
            );
            None
        }
        FieldType::Integer => match whole_number(value) {
            Some(n) => Some(Scalar::Int(n)),
            None => wrong(errors, "an integer"),
        },
        FieldType::Money => match whole_number(value) {
            Some(n) => Some(Scalar::Int(n)),
            None => wrong(errors, "an integer amount in minor units (cents)"),
        },
        // A number of days, as the list's `birthday_within_days`.
        FieldType::Birthday => match whole_number(value) {
            Some(n) if (0..=MAX_WINDOW_DAYS).contains(&n) => Some(Scalar::Int(n)),
            Some(_) => {
                err(
                    errors,
                    path,
                    "range",
                    format!("must be between 0 (today) and {MAX_WINDOW_DAYS} (a year and a day)"),
                );
                None
            }
            None => wrong(
                errors,
                &format!("a number of days (an integer, 0 to {MAX_WINDOW_DAYS})"),
            ),
        },
        FieldType::Double => match value.as_f64() {
            // Out of the field's scale, a rule sent now matches no one
            // (a share of 50 meant as percent): refused, as the list's
            // filters are; a stored one still reads.
            Some(n) if value.is_number() => match scale(field.name) {
                Some((low, high))
                    if matches!(source, Source::Request) && !(low..=high).contains(&n) =>
                {
                    err(
                        errors,
                        path,
                        "range",
                        format!("must be between {low} and {high}"),
                    );
                    None
                }
                _ => Some(Scalar::Double(n)),
            },
            _ => wrong(errors, "a number"),
        },
        FieldType::Timestamp => match value {
            Value::String(s) => match instant(s, source) {
                Ok(w) => Some(Scalar::Time(w)),
                // As a list filter's instant (`?last_purchase_before=`).
                Err(Refused::LeapSecond) => {
                    err(errors, path, "leap_second", instants::LEAP_SECOND_MESSAGE);
                    None
                }
                Err(Refused::Years) => {
                    err(errors, path, "range", instants::YEARS_MESSAGE);
                    None
                }
                Err(Refused::Unreadable) => {
                    err(
                        errors,
                        path,
                        "invalid_value",
                        "must be an RFC 3339 instant (2026-01-31T08:00:00Z), a date (2026-01-31) \
                         or a signed relative date such as -90d, +7d, -12m, -1y (units h, d, w, m, y; \
                         at most 100 years)",
                    );
                    None
                }
            },
            _ => wrong(
                errors,
                "a date: RFC 3339, YYYY-MM-DD or relative such as -90d",
            ),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Vec<(String, String)> {
        match Rule::parse(&v, "rule") {
            Ok(rule) => panic!("accepted: {rule:?}"),
            Err(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    fn one(v: Value) -> (String, String) {
        let mut all = fields(v);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }

    fn nested(depth: usize) -> Value {
        let mut v = json!({"field": "tier", "op": "eq", "value": "small"});
        for _ in 1..depth {
            v = json!({"all": [v]});
        }
        v
    }

    #[test]
    fn integer_fields_take_a_whole_float_as_every_integer_field_does() {
        for rule in [
            json!({"field": "purchase_count", "op": "gte", "value": 2.0}),
            json!({"field": "purchase_count", "op": "gte", "value": 3e2}),
            json!({"field": "owner_id", "op": "in", "value": [1.0, 2]}),
            json!({"field": "lifetime_revenue_cents", "op": "gt", "value": 100000.0}),
        ] {
            assert!(Rule::parse(&rule, "rule").is_ok(), "{rule}");
        }
        assert_eq!(
            one(json!({"field": "purchase_count", "op": "gte", "value": 2.5})),
            pair("rule.value", "invalid_type")
        );
        // Past 64 bits: the range, as for an integer field of a body.
        for value in [
            json!(1e300),
            json!(-1e19),
            json!(9_223_372_036_854_775_808u64),
        ] {
            for field in ["purchase_count", "lifetime_revenue_cents", "birthday"] {
                let op = if field == "birthday" {
                    "within_days"
                } else {
                    "gte"
                };
                let rule = json!({"field": field, "op": op, "value": value});
                assert_eq!(one(rule), pair("rule.value", "range"), "{field} {value}");
            }
        }
        // An integral float below 2^63 that is not exact stays a wrong type.
        assert_eq!(
            one(json!({"field": "purchase_count", "op": "gte", "value": 1e17})),
            pair("rule.value", "invalid_type")
        );
        assert!(Rule::parse(
            &json!({"field": "owner_id", "op": "gte", "value": i64::MIN}),
            "rule"
        )
        .is_ok());
        // i64::MIN written as a float is no range error either.
        let rule =
            json!({"field": "lifetime_revenue_cents", "op": "gte", "value": -(2f64.powi(63))});
        assert_ne!(one(rule), pair("rule.value", "range"));
    }

    #[test]
    fn exact_text_values_are_trimmed_and_not_blank() {
        let rule = Rule::parse(
            &json!({"all": [
                {"field": "region", "op": "eq", "value": " East "},
                {"field": "industry", "op": "in", "value": ["Tea\t", " Silk"]},
                {"field": "company", "op": "contains", "value": " Ltd"}
            ]}),
            "rule",
        )
        .unwrap();
        let Rule::All(conds) = rule else {
            panic!("{rule:?}")
        };
        let tests: Vec<&Test> = conds
            .iter()
            .map(|c| match c {
                Rule::Cond(c) => &c.test,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(tests[0], &Test::Cmp(Cmp::Eq, Scalar::Text("East".into())));
        assert_eq!(
            tests[1],
            &Test::In(vec![
                Scalar::Text("Tea".into()),
                Scalar::Text("Silk".into())
            ])
        );
        assert_eq!(
            tests[2],
            &Test::Contains(" Ltd".into()),
            "a substring keeps its spaces"
        );
        assert_eq!(
            one(json!({"field": "region", "op": "ne", "value": " "})),
            pair("rule.value", "blank")
        );
        assert_eq!(
            fields(json!({"field": "region", "op": "in", "value": ["a", "", "\t"]})),
            vec![
                pair("rule.value[1]", "blank"),
                pair("rule.value[2]", "blank")
            ]
        );
        // A stored rule keeps reading (a blank value matches no card).
        assert!(Rule::parse_stored(&json!({"field": "region", "op": "eq", "value": ""})).is_ok());
    }

    #[test]
    fn a_currency_is_tested_as_cards_store_it() {
        assert_eq!(
            one(json!({"field": "currency", "op": "eq", "value": "usd"})),
            pair("rule.value", "currency")
        );
        assert_eq!(
            fields(json!({"field": "currency", "op": "in", "value": ["CNY", "US", "EURO"]})),
            vec![
                pair("rule.value[1]", "currency"),
                pair("rule.value[2]", "currency")
            ]
        );
        for rule in [
            json!({"field": "currency", "op": "eq", "value": " USD "}),
            json!({"field": "currency", "op": "contains", "value": "us"}),
        ] {
            assert!(Rule::parse(&rule, "rule").is_ok(), "{rule}");
        }
        // A rule stored before keeps reading (it matches no card).
        assert!(
            Rule::parse_stored(&json!({"field": "currency", "op": "eq", "value": "usd"})).is_ok()
        );
    }

    #[test]
    fn absolute_instants_follow_the_filters_rules() {
        let at = |value: &str| json!({"field": "last_purchase_at", "op": "lt", "value": value});
        for (value, code) in [
            ("2026-01-01T23:59:60Z", "leap_second"),
            ("0000-01-01T00:00:00Z", "range"),
            ("0000-06-01", "range"),
            ("9999-12-31T23:00:00-01:00", "range"),
            ("2024-2-29", "invalid_value"),
            (" 2026-01-01", "invalid_value"),
            (" -90d", "invalid_value"),
        ] {
            assert_eq!(one(at(value)), pair("rule.value", code), "{value:?}");
            // Stored before these rules: read as then.
            assert!(Rule::parse_stored(&at(value)).is_ok(), "{value:?}");
        }
        for value in ["0001-01-01", "9999-12-31T23:59:59Z", "2026-01-01t00:00:00z"] {
            assert!(Rule::parse(&at(value), "rule").is_ok(), "{value:?}");
        }
    }

    #[test]
    fn parses_every_shape() {
        let rule = Rule::parse(
            &json!({"all": [
                {"field": "tier", "op": "in", "value": ["important", "secondary"]},
                {"any": [
                    {"field": "region", "op": "contains", "value": "hang"},
                    {"not": {"field": "tags", "op": "contains", "value": " vip "}}
                ]},
                {"field": "last_contact_at", "op": "lt", "value": "-90d"},
                {"field": "share_of_wallet", "op": "gte", "value": 1},
                {"field": "prospect_grade", "op": "is_null"},
                {"field": "purchase_count", "op": "gt", "value": 2}
            ]}),
            "rule",
        )
        .unwrap();
        let Rule::All(items) = &rule else { panic!() };
        assert_eq!(items.len(), 6);
        assert_eq!(rule.depth(), 4);
        let Rule::Any(any) = &items[1] else { panic!() };
        let Rule::Not(not) = &any[1] else { panic!() };
        let Rule::Cond(tag) = not.as_ref() else {
            panic!()
        };
        assert_eq!(tag.test, Test::Contains("vip".into()), "tags are trimmed");
        let Rule::Cond(c) = &items[3] else { panic!() };
        assert_eq!(c.test, Test::Cmp(Cmp::Gte, Scalar::Double(1.0)));
        let Rule::Cond(c) = &items[4] else { panic!() };
        assert_eq!(c.test, Test::IsNull(true), "is_null defaults to true");
    }

    #[test]
    fn builtin_rules_parse() {
        for v in [
            json!({"field": "tier", "op": "eq", "value": "important"}),
            json!({"field": "funnel_stage", "op": "eq", "value": "won"}),
            json!({"field": "cpr_stage", "op": "eq", "value": "not_started"}),
        ] {
            assert!(Rule::parse(&v, "rule").is_ok());
        }
    }

    #[test]
    fn shape_errors() {
        assert_eq!(one(json!([1])), pair("rule", "invalid_type"));
        assert_eq!(one(json!({})), pair("rule", "invalid_rule"));
        assert_eq!(one(json!({"x": 1})), pair("rule", "invalid_rule"));
        assert_eq!(one(json!({"all": []})), pair("rule.all", "length"));
        assert_eq!(one(json!({"any": {}})), pair("rule.any", "invalid_type"));
        let many: Vec<Value> = (0..101)
            .map(|_| json!({"field": "tier", "op": "eq", "value": "small"}))
            .collect();
        assert_eq!(one(json!({"any": many})), pair("rule.any", "length"));
        assert_eq!(
            fields(json!({"all": [nested(1)], "any": [nested(1)]})),
            vec![pair("rule.any", "unknown_key")]
        );
        assert_eq!(
            one(json!({"not": [nested(1)]})),
            pair("rule.not", "invalid_type")
        );
        assert_eq!(
            one(json!({"field": "tier", "op": "eq", "value": "small", "extra": 1})),
            pair("rule.extra", "unknown_key")
        );
    }

    /// A rule of many bad leaves is answered with the first hundred and a
    /// last entry saying there are more (a review: 16 MB for 248 KB).
    #[test]
    fn errors_stop_at_a_hundred() {
        let leaves: Vec<Value> = (0..100).map(|_| json!({})).collect();
        let rule = json!({"any": (0..3).map(|_| json!({"any": leaves})).collect::<Vec<_>>()});
        let errors = fields(rule);
        assert_eq!(errors.len(), 101);
        let codes = |code: &str| errors.iter().filter(|(_, c)| c == code).count();
        assert_eq!((codes("invalid_rule"), codes("too_many_errors")), (100, 1));
        assert!(errors.contains(&pair("rule", "too_many_errors")));
    }

    /// A share is 0 to 1 and satisfaction 1 to 5: a rule sent out of the
    /// scale (a share in percent) matched no one; a stored one still reads.
    #[test]
    fn numbers_out_of_their_fields_scale_are_refused_in_requests() {
        for (field, bad, good) in [
            ("share_of_wallet", 50.0, 0.5),
            ("satisfaction_overall", 0.5, 4.5),
        ] {
            let rule = |v: f64| json!({"field": field, "op": "gte", "value": v});
            assert_eq!(one(rule(bad)), pair("rule.value", "range"), "{field}");
            assert!(Rule::parse(&rule(good), "rule").is_ok(), "{field}");
            assert!(Rule::parse_stored(&rule(bad)).is_ok(), "{field}");
        }
    }

    #[test]
    fn condition_errors_name_their_path() {
        assert_eq!(
            one(json!({"all": [nested(1), {"field": "nope", "op": "eq", "value": 1}]})),
            pair("rule.all[1].field", "unknown_field")
        );
        assert_eq!(
            one(json!({"field": "tier", "op": "like", "value": "x"})),
            pair("rule.op", "unknown_op")
        );
        assert_eq!(
            fields(json!({"op": "eq", "value": 1})),
            vec![pair("rule.field", "required")]
        );
        assert_eq!(
            fields(json!({"field": 3, "op": 4})),
            vec![
                pair("rule.field", "invalid_type"),
                pair("rule.op", "invalid_type")
            ]
        );
        assert_eq!(
            one(json!({"field": "tier", "value": "small"})),
            pair("rule.op", "required")
        );
        assert_eq!(
            one(json!({"field": "tier", "op": "eq"})),
            pair("rule.value", "required")
        );
        assert_eq!(
            one(json!({"field": "region", "op": "lt", "value": "x"})),
            pair("rule.op", "op_not_allowed")
        );
        assert_eq!(
            one(json!({"field": "tier", "op": "is_null"})),
            pair("rule.op", "op_not_allowed")
        );
        assert_eq!(
            one(json!({"field": "last_contact_at", "op": "eq", "value": "-1d"})),
            pair("rule.op", "op_not_allowed")
        );
        assert_eq!(
            one(json!({"field": "tags", "op": "eq", "value": "vip"})),
            pair("rule.op", "op_not_allowed")
        );
    }

    #[test]
    fn value_errors() {
        let cases = [
            (
                json!({"field": "tier", "op": "eq", "value": "gold"}),
                "rule.value",
                "invalid_value",
            ),
            (
                json!({"field": "tier", "op": "eq", "value": 3}),
                "rule.value",
                "invalid_type",
            ),
            (
                json!({"field": "region", "op": "eq", "value": null}),
                "rule.value",
                "invalid_type",
            ),
            (
                json!({"field": "region", "op": "eq", "value": "x".repeat(201)}),
                "rule.value",
                "length",
            ),
            (
                json!({"field": "region", "op": "contains", "value": " "}),
                "rule.value",
                "blank",
            ),
            (
                json!({"field": "purchase_count", "op": "gt", "value": 1.5}),
                "rule.value",
                "invalid_type",
            ),
            (
                json!({"field": "purchase_count", "op": "gt", "value": "2"}),
                "rule.value",
                "invalid_type",
            ),
            (
                json!({"field": "revenue_12m_cents", "op": "gt", "value": true}),
                "rule.value",
                "invalid_type",
            ),
            (
                json!({"field": "share_of_wallet", "op": "gt", "value": "0.5"}),
                "rule.value",
                "invalid_type",
            ),
            (
                json!({"field": "last_contact_at", "op": "lt", "value": "-90x"}),
                "rule.value",
                "invalid_value",
            ),
            (
                json!({"field": "last_contact_at", "op": "lt", "value": "90d"}),
                "rule.value",
                "invalid_value",
            ),
            (
                json!({"field": "last_contact_at", "op": "lt", "value": "-101y"}),
                "rule.value",
                "invalid_value",
            ),
            (
                json!({"field": "last_contact_at", "op": "lt", "value": 90}),
                "rule.value",
                "invalid_type",
            ),
            (
                json!({"field": "last_contact_at", "op": "is_null", "value": "yes"}),
                "rule.value",
                "invalid_type",
            ),
            (
                json!({"field": "tags", "op": "contains", "value": ""}),
                "rule.value",
                "invalid_value",
            ),
            (
                json!({"field": "tags", "op": "contains", "value": 1}),
                "rule.value",
                "invalid_type",
            ),
            (
                json!({"field": "tier", "op": "in", "value": []}),
                "rule.value",
                "length",
            ),
            (
                json!({"field": "tier", "op": "in", "value": "small"}),
                "rule.value",
                "invalid_type",
            ),
            (
                json!({"field": "tier", "op": "in", "value": ["small", "gold"]}),
                "rule.value[1]",
                "invalid_value",
            ),
            (
                json!({"field": "owner_id", "op": "in", "value": [1, "2"]}),
                "rule.value[1]",
                "invalid_type",
            ),
        ];
        for (rule, path, code) in cases {
            assert_eq!(one(rule.clone()), pair(path, code), "{rule}");
        }
        let big: Vec<i64> = (0..501).collect();
        assert_eq!(
            one(json!({"field": "owner_id", "op": "in", "value": big})),
            pair("rule.value", "length")
        );
        let ok: Vec<i64> = (0..500).collect();
        assert!(Rule::parse(
            &json!({"field": "owner_id", "op": "in", "value": ok}),
            "rule"
        )
        .is_ok());
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let errors = fields(json!({"any": [
            {"field": "tier", "op": "eq", "value": "gold"},
            {"field": "nope", "op": "eq", "value": 1},
            {"not": {"field": "region", "op": "gt", "value": "x"}},
            {"field": "tier", "op": "in", "value": ["gold", "small", 7]}
        ]}));
        assert_eq!(
            errors,
            vec![
                pair("rule.any[0].value", "invalid_value"),
                pair("rule.any[1].field", "unknown_field"),
                pair("rule.any[2].not.op", "op_not_allowed"),
                pair("rule.any[3].value[0]", "invalid_value"),
                pair("rule.any[3].value[2]", "invalid_type"),
            ]
        );
    }

    #[test]
    fn too_many_values() {
        let items: Vec<i64> = (0..500).collect();
        let cond = json!({"field": "owner_id", "op": "in", "value": items});
        let ok: Vec<Value> = (0..20).map(|_| cond.clone()).collect();
        assert!(Rule::parse(&json!({"any": ok}), "rule").is_ok());
        let big: Vec<Value> = (0..21).map(|_| cond.clone()).collect();
        assert_eq!(one(json!({"any": big})), pair("rule", "too_large"));
    }

    #[test]
    fn depth_limit() {
        assert!(Rule::parse(&nested(MAX_DEPTH), "rule").is_ok());
        assert!(nested(MAX_DEPTH).pointer("/all/0").is_some());
        let path = format!("rule{}", ".all[0]".repeat(MAX_DEPTH));
        let (field, code) = one(nested(MAX_DEPTH + 1));
        assert_eq!((field.as_str(), code.as_str()), (path.as_str(), "too_deep"));
        let mut nots = json!({"field": "tier", "op": "eq", "value": "small"});
        for _ in 0..MAX_DEPTH {
            nots = json!({"not": nots});
        }
        let (field, _) = one(nots);
        assert_eq!(field, format!("rule{}", ".not".repeat(MAX_DEPTH)));
    }

    #[test]
    fn relative_and_absolute_dates() {
        let now = NaiveDate::from_ymd_opt(2026, 3, 31)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let at = |s: &str| When::parse(s).unwrap().resolve(now);
        let day = |y, m, d| {
            NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap()
        };
        assert_eq!(at("-90d"), day(2025, 12, 31));
        assert_eq!(at("+7d"), day(2026, 4, 7));
        assert_eq!(at("-2w"), day(2026, 3, 17));
        assert_eq!(at("-1m"), day(2026, 2, 28), "clamped to the month's end");
        assert_eq!(at("-12m"), day(2025, 3, 31));
        assert_eq!(at("-1y"), day(2025, 3, 31));
        assert_eq!(at("+0d"), now);
        assert_eq!(at("-6h"), now - TimeDelta::hours(6));
        assert_eq!(
            at("2026-01-31T08:00:00+08:00"),
            NaiveDate::from_ymd_opt(2026, 1, 31)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
        );
        assert_eq!(
            at("2026-01-31"),
            NaiveDate::from_ymd_opt(2026, 1, 31)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
        );
        for bad in [
            "",
            "-",
            "-d",
            "90d",
            "-9.5d",
            "-90D",
            "- 90d",
            "-1x",
            "2026-13-01",
            "yesterday",
            "-101y",
            "-99999999d",
        ] {
            assert_eq!(When::parse(bad), None, "{bad:?}");
        }
        assert!(When::parse("-100y").is_some());
        assert!(When::parse("-36525d").is_some());
        // An instant whose UTC falls in year 10000 compares as the last one
        // of 9999 (SQLite compared its text below 2026's: every card matched).
        let (_, last) = crate::domain::instants::range();
        assert_eq!(at("9999-12-31T23:59:59-23:59"), last);
    }

    #[test]
    fn a_birthday_takes_a_window_of_days_or_is_null() {
        let rule = Rule::parse(
            &json!({"all": [
                {"field": "birthday", "op": "within_days", "value": 30},
                {"field": "birthday", "op": "within_days", "value": 366.0},
                {"not": {"field": "birthday", "op": "is_null"}},
                {"field": "source_customer_id", "op": "eq", "value": 42},
                {"field": "source_customer_id", "op": "in", "value": [1, 2]},
                {"field": "source_customer_id", "op": "is_null", "value": false}
            ]}),
            "rule",
        )
        .unwrap();
        let Rule::All(items) = &rule else { panic!() };
        let test = |i: usize| match &items[i] {
            Rule::Cond(c) => c.test.clone(),
            Rule::Not(r) => match r.as_ref() {
                Rule::Cond(c) => c.test.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        assert_eq!(test(0), Test::WithinDays(30));
        assert_eq!(test(1), Test::WithinDays(366), "a whole float, as integers");
        assert_eq!(test(2), Test::IsNull(true));
        assert_eq!(test(3), Test::Cmp(Cmp::Eq, Scalar::Int(42)));
        assert_eq!(test(5), Test::IsNull(false));
        assert!(rule.reads_birthdays());
        assert!(!Rule::parse(
            &json!({"field": "source_customer_id", "op": "eq", "value": 1}),
            "rule"
        )
        .unwrap()
        .reads_birthdays());
        // Two ranges of keys (over the year end), two bounds each.
        assert_eq!(rule.values(), 4 + 4 + 1 + 1 + 2 + 1);
        assert!(Rule::parse(
            &json!({"field": "birthday", "op": "within_days", "value": 0}),
            "rule"
        )
        .is_ok());
    }

    #[test]
    fn birthday_errors_name_their_path() {
        let within = |value: Value| {
            json!({"all": [
                {"field": "tier", "op": "eq", "value": "small"},
                {"field": "birthday", "op": "within_days", "value": value}
            ]})
        };
        for (value, code) in [
            (json!(-1), "range"),
            (json!(367), "range"),
            (json!(1e300), "range"),
            (json!(7.5), "invalid_type"),
            (json!("30"), "invalid_type"),
            (json!("-30d"), "invalid_type"),
            (json!(null), "invalid_type"),
            (json!([30]), "invalid_type"),
        ] {
            assert_eq!(
                one(within(value.clone())),
                pair("rule.all[1].value", code),
                "{value}"
            );
        }
        assert_eq!(
            one(json!({"field": "birthday", "op": "within_days"})),
            pair("rule.value", "required")
        );
        for op in ["eq", "ne", "in", "lt", "gte", "contains"] {
            assert_eq!(
                one(json!({"field": "birthday", "op": op, "value": "2026-06-10"})),
                pair("rule.op", "op_not_allowed"),
                "{op}"
            );
        }
        // The window is a birthday's alone.
        for field in [
            "created_at",
            "last_contact_at",
            "source_customer_id",
            "name",
        ] {
            assert_eq!(
                one(json!({"field": field, "op": "within_days", "value": 7})),
                pair("rule.op", "op_not_allowed"),
                "{field}"
            );
        }
        assert_eq!(
            one(json!({"field": "source_customer_id", "op": "eq", "value": "42"})),
            pair("rule.value", "invalid_type")
        );
        let message = match Rule::parse(
            &json!({"field": "birthday", "op": "eq", "value": 1}),
            "rule",
        ) {
            Err(e) => e[0].message.clone(),
            Ok(r) => panic!("{r:?}"),
        };
        assert!(message.contains("within_days, is_null"), "{message}");
        // A stored rule is held to the same range (no earlier version
        // stored one).
        assert!(Rule::parse_stored(
            &json!({"field": "birthday", "op": "within_days", "value": 400})
        )
        .is_err());
    }

    #[test]
    fn field_table_is_consistent() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert!(
                FIELDS[i + 1..].iter().all(|g| g.name != f.name),
                "{} twice",
                f.name
            );
            assert!(!f.ops().is_empty());
        }
        assert_eq!(find_field("tier").map(|f| f.nullable), Some(false));
        assert!(find_field("share_of_wallet")
            .unwrap()
            .ops()
            .contains(&Op::IsNull));
    }
}
