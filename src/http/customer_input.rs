//! What clients send to create or change a customer card, its rules, and
//! how it is applied to a row.

use std::borrow::Cow;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use super::dates;
use super::validation::{
    calendar_date, check, currency_code, email_address, erp_key, known_code, length_errors,
    not_blank, phone_number, Input,
};
use crate::db::customers::{search_text, CustomerRow};
use crate::domain::codes::{
    AcquisitionSource, CustomerKind, FunnelStage, Gender, PersonalityType, ProspectGrade,
    SocialStyle,
};
use crate::error::{ApiError, FieldError};

/// Absent stays `None`; an explicit `null` becomes `Some(None)` (clear it).
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

pub const MAX_TAGS: usize = 50;

/// A tag, for the schema: 1 to 50 characters, not blank, without `|` (the
/// tag separator of the CSV export, which would split it on the way back in).
pub struct Tag;

impl utoipa::PartialSchema for Tag {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(50))
            .pattern(Some(
                r"^[^|]*[^|\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^|]*$",
            ))
            .examples([serde_json::json!("wholesale")])
            .into()
    }
}

impl utoipa::ToSchema for Tag {}

/// Tags: at most 50, each 1 to 50 characters, not blank, without `|`.
pub fn valid_tags(tags: &[String]) -> Result<(), ValidationError> {
    if tags.len() > MAX_TAGS {
        return Err(ValidationError::new("length")
            .with_message(Cow::Owned(format!("at most {MAX_TAGS} tags"))));
    }
    Ok(())
}

/// Each bad tag at its index (`tags[2]`): a validator rule on the list could
/// name only the list, and only its first bad tag (a review). Past the most
/// tags, the list's length error speaks for the rest: an error per tag of a
/// list of thousands is no help and a large answer.
pub fn tag_errors(tags: Option<&[String]>) -> Vec<FieldError> {
    tags.unwrap_or_default()
        .iter()
        .take(MAX_TAGS + 1)
        .enumerate()
        .filter(|(_, t)| t.trim().is_empty() || t.chars().count() > 50 || t.contains('|'))
        .map(|(i, t)| {
            // The 51st piece of a CSV tags cell holds the rest of the cell.
            FieldError::new(
                format!("tags[{i}]"),
                "tag",
                format!(
                    "tag {} must be 1 to 50 characters, not blank and without | \
                     (the tag separator of the CSV export)",
                    super::wording::quoted(t)
                ),
            )
        })
        .collect()
}

fn valid_birthday(date: &NaiveDate) -> Result<(), ValidationError> {
    calendar_date(date)?;
    // Today somewhere: the earth's latest date is UTC+14's. By the server's
    // UTC date, a shop in Beijing registering a baby born this morning (its
    // 07:00, UTC's yesterday) was told the birthday was in the future.
    let latest_today = (chrono::Utc::now() + chrono::Duration::hours(14)).date_naive();
    if *date > latest_today {
        Err(ValidationError::new("range").with_message(Cow::Borrowed("must not be in the future")))
    } else {
        Ok(())
    }
}

/// A new customer card. `kind` and `name` are required.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "organization", "name": "杭州华康贸易有限公司", "email": "purchasing@huakang.example",
    "phone": "+86 571 8888 1234", "region": "Hangzhou", "industry": "health products",
    "acquisition_source": "trade_show", "personality_type": "rational", "funnel_stage": "prospect",
    "prospect_grade": "B", "wallet_size_cents": 120000000, "currency": "CNY", "tags": ["health", "wholesale"],
    "external_id": "ERP-10042"
}))]
pub struct CustomerCreate {
    #[validate(required, custom(function = "known_code"))]
    #[schema(required = true, value_type = CustomerKind)]
    pub kind: Option<Input<CustomerKind>>,
    /// Person's name or organization's name.
    #[validate(required, length(max = 200), custom(function = "not_blank"))]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub name: Option<String>,
    /// Employer of an individual, or the legal name of an organization.
    #[validate(length(max = 200))]
    #[schema(max_length = 200)]
    pub company: Option<String>,
    #[validate(custom(function = "email_address"), length(max = 254))]
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    #[validate(length(max = 32), custom(function = "phone_number"))]
    #[schema(
        example = "+86 571 8888 1234",
        pattern = r"^[-+(). ]*(?:[0-9][-+(). ]*){5,20}$",
        max_length = 32
    )]
    pub phone: Option<String>,
    #[validate(length(max = 500))]
    #[schema(max_length = 500)]
    pub address: Option<String>,
    #[validate(length(max = 100))]
    #[schema(max_length = 100)]
    pub region: Option<String>,
    /// For care actions (birthday greetings); from 1900-01-01, not in the future.
    #[serde(default, deserialize_with = "dates::optional")]
    #[validate(custom(function = "valid_birthday"))]
    #[schema(pattern = "^(19|[2-9][0-9])")]
    pub birthday: Option<NaiveDate>,
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<Gender>)]
    pub gender: Option<Input<Gender>>,
    #[validate(length(max = 50))]
    #[schema(example = "45-54", max_length = 50)]
    pub age_band: Option<String>,
    #[validate(length(max = 50))]
    #[schema(max_length = 50)]
    pub income_band: Option<String>,
    #[validate(length(max = 100))]
    #[schema(max_length = 100)]
    pub occupation: Option<String>,
    #[validate(length(max = 100))]
    #[schema(max_length = 100)]
    pub education: Option<String>,
    #[validate(length(max = 100))]
    #[schema(max_length = 100)]
    pub industry: Option<String>,
    /// What the organization makes or sells.
    #[validate(length(max = 1000))]
    #[schema(max_length = 1000)]
    pub products: Option<String>,
    #[validate(range(min = 0, max = 100_000_000))]
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub employees: Option<i64>,
    #[validate(range(min = 0))]
    #[schema(minimum = 0)]
    pub annual_revenue_cents: Option<i64>,
    /// The responsible sales rep; defaults to the creator.
    pub owner_id: Option<i64>,
    /// The customer's key in the integrator's ERP; unique when present. No
    /// invisible characters (U+200B, U+FEFF, …: 422 `invalid_character`).
    #[validate(length(max = 100), custom(function = "erp_key"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub external_id: Option<String>,
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<AcquisitionSource>)]
    pub acquisition_source: Option<Input<AcquisitionSource>>,
    /// The referring or linked existing customer; required for `referral`
    /// and `chain_expansion`, not allowed for other sources.
    pub source_customer_id: Option<i64>,
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<PersonalityType>)]
    pub personality_type: Option<Input<PersonalityType>>,
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<SocialStyle>)]
    pub social_style: Option<Input<SocialStyle>>,
    /// Defaults to `lead`. Not `won`: a new card has no purchase yet, and
    /// `won` needs one (409 naming `funnel_stage`); record the card, then its
    /// transaction, then move it.
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<FunnelStage>)]
    pub funnel_stage: Option<Input<FunnelStage>>,
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<ProspectGrade>)]
    pub prospect_grade: Option<Input<ProspectGrade>>,
    /// The customer's estimated total annual spend on what we sell, in minor units.
    #[validate(range(min = 0))]
    #[schema(minimum = 0)]
    pub wallet_size_cents: Option<i64>,
    /// ISO 4217 currency of the money figures on the card; defaults to CNY.
    #[validate(custom(function = "currency_code"))]
    #[schema(example = "CNY", pattern = r"^[A-Z]{3}$")]
    pub currency: Option<String>,
    #[validate(length(max = 5000))]
    #[schema(max_length = 5000)]
    pub notes: Option<String>,
    #[validate(custom(function = "valid_tags"))]
    #[schema(value_type = Option<Vec<Tag>>, max_items = 50)]
    pub tags: Option<Vec<String>>,
    /// Why the card starts at its funnel stage (a card carried over from
    /// another system), kept in its first history event
    /// (`funnel_stage_changed`), as a bulk item creating a card keeps it.
    /// Not blank.
    #[validate(length(max = 500), custom(function = "not_blank"))]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub change_reason: Option<String>,
}

/// Changes to a card: only the fields sent change; `null` clears a field.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"notes": "Prefers calls in the morning"}))]
pub struct CustomerPatch {
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = CustomerKind, required = false)]
    pub kind: Option<Option<Input<CustomerKind>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 200), custom(function = "not_blank"))]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 200, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 200))]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub company: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "email_address"), length(max = 254))]
    #[schema(value_type = Option<String>, format = Email, max_length = 254)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 32), custom(function = "phone_number"))]
    #[schema(value_type = Option<String>, pattern = r"^[-+(). ]*(?:[0-9][-+(). ]*){5,20}$", max_length = 32)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 500))]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 100))]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub region: Option<Option<String>>,
    #[serde(default, deserialize_with = "dates::nullable")]
    #[validate(custom(function = "valid_birthday"))]
    #[schema(value_type = Option<NaiveDate>, pattern = "^(19|[2-9][0-9])")]
    pub birthday: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<Gender>)]
    pub gender: Option<Option<Input<Gender>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 50))]
    #[schema(value_type = Option<String>, max_length = 50)]
    pub age_band: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 50))]
    #[schema(value_type = Option<String>, max_length = 50)]
    pub income_band: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 100))]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub occupation: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 100))]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub education: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 100))]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub industry: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 1000))]
    #[schema(value_type = Option<String>, max_length = 1000)]
    pub products: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(range(min = 0, max = 100_000_000))]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 100_000_000)]
    pub employees: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(range(min = 0))]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub annual_revenue_cents: Option<Option<i64>>,
    /// Reassign the card (managers, admins and integrations only). A card
    /// always has an owner: `null` is a 422.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = i64, required = false)]
    pub owner_id: Option<Option<i64>>,
    /// The ERP's key; no invisible characters (422 `invalid_character`).
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 100), custom(function = "not_blank"))]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub external_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<AcquisitionSource>)]
    pub acquisition_source: Option<Option<Input<AcquisitionSource>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub source_customer_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<PersonalityType>)]
    pub personality_type: Option<Option<Input<PersonalityType>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<SocialStyle>)]
    pub social_style: Option<Option<Input<SocialStyle>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    /// A move back down needs `change_reason`, and `won` a recorded
    /// purchase: a move the rules refuse is a 409 naming `funnel_stage`.
    #[schema(value_type = FunnelStage, required = false)]
    pub funnel_stage: Option<Option<Input<FunnelStage>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "known_code"))]
    #[schema(value_type = Option<ProspectGrade>)]
    pub prospect_grade: Option<Option<Input<ProspectGrade>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(range(min = 0))]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub wallet_size_cents: Option<Option<i64>>,
    /// The currency of the card's money figures. Patron converts no amount,
    /// so it cannot change once the card has transactions, account plans
    /// or churn records (422 `immutable`), and a card with a wallet size or
    /// an annual revenue sends them again with the change, in the new
    /// currency (another figure: one sent unchanged is not restated, except
    /// 0) or `null` (422 `not_restated`).
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "currency_code"))]
    #[schema(value_type = String, required = false, pattern = r"^[A-Z]{3}$")]
    pub currency: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 5000))]
    #[schema(value_type = Option<String>, max_length = 5000)]
    pub notes: Option<Option<String>>,
    /// Replaces the whole tag list; `null` or `[]` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "valid_tags"))]
    #[schema(value_type = Option<Vec<Tag>>, max_items = 50)]
    pub tags: Option<Option<Vec<String>>>,
    /// Why `funnel_stage`, `prospect_grade` or `owner_id` changes; kept in
    /// the history.
    /// Needed to move back down the funnel: a move down without one is a 409
    /// naming `funnel_stage` (code `conflict`; the rule depends on the
    /// card's stage, so it is not a 422). Not blank (it was taken for none,
    /// and a move down answered that it needed one). With none of them
    /// changing it is not kept (an ERP resending a card with its reason is
    /// not refused).
    #[validate(length(max = 500), custom(function = "not_blank"))]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub change_reason: Option<String>,
}

fn code<T: crate::domain::codes::Code>(
    v: &Option<Input<T>>,
    field: &str,
) -> Result<Option<String>, ApiError> {
    v.as_ref()
        .map(|i| i.get(field).map(|c| c.as_code().to_string()))
        .transpose()
}

/// Tags trimmed, de-duplicated, in a stable order.
pub fn normalize_tags(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = tags
        .iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The source link must match the source: required for referral and chain
/// expansion, absent otherwise.
pub fn source_link_errors(
    source: Option<&str>,
    source_customer_id: Option<i64>,
) -> Vec<FieldError> {
    let needs = source
        .and_then(<AcquisitionSource as crate::domain::codes::Code>::parse)
        .is_some_and(AcquisitionSource::needs_source_customer);
    match (needs, source_customer_id) {
        (true, None) => vec![FieldError::new(
            "source_customer_id",
            "required",
            "is required when acquisition_source is referral or chain_expansion",
        )],
        (false, Some(_)) => vec![FieldError::new(
            "source_customer_id",
            "not_allowed",
            "only referral and chain_expansion customers link a source customer",
        )],
        _ => Vec::new(),
    }
}

/// Surrounding whitespace off a value that holds something else: a value
/// is stored trimmed, so its rules judge it trimmed, but for its length,
/// judged as sent too (`length_errors`: the spec's `maxLength`). A CSV
/// import's cells are trimmed before they become items. A blank value
/// stays as sent, for its own `not_blank` error.
pub fn trim(value: Option<&mut String>) {
    if let Some(v) = value {
        let t = v.trim();
        if !t.is_empty() && t.len() != v.len() {
            *v = t.to_string();
        }
    }
}

/// A card body trimmed and checked: its lengths as sent, every rule on the
/// trimmed text with the body's own `more` rules, one 422 naming every bad
/// field.
fn trimmed_and_checked<T: Validate>(
    raw: T,
    trimmed: fn(T) -> T,
    more: fn(&T) -> Vec<FieldError>,
) -> Result<T, ApiError> {
    let as_sent = length_errors(&raw);
    let input = trimmed(raw);
    let mut errors = more(&input);
    errors.extend(as_sent);
    check(&input, errors)?;
    Ok(input)
}

impl CustomerCreate {
    /// The body trimmed and checked (`trimmed_and_checked`).
    pub fn checked(self) -> Result<Self, ApiError> {
        trimmed_and_checked(self, Self::trimmed, Self::link_errors)
    }

    /// The body with its text trimmed (`trim`), before its checks. Tags
    /// are judged as sent (`tag_errors` counts them so; stored trimmed).
    fn trimmed(mut self) -> Self {
        trim(self.name.as_mut());
        trim(self.company.as_mut());
        trim(self.email.as_mut());
        trim(self.phone.as_mut());
        trim(self.address.as_mut());
        trim(self.region.as_mut());
        trim(self.age_band.as_mut());
        trim(self.income_band.as_mut());
        trim(self.occupation.as_mut());
        trim(self.education.as_mut());
        trim(self.industry.as_mut());
        trim(self.products.as_mut());
        trim(self.external_id.as_mut());
        trim(self.notes.as_mut());
        trim(self.change_reason.as_mut());
        self
    }

    /// The source link's rule, checked with each field's own rules so that
    /// one 422 names every bad field of the body; the rules that need the
    /// database (an active owner, an existing source) come once these pass.
    /// An unknown source is reported on its own field only.
    /// Each bad tag is named here too, at its index.
    pub fn link_errors(&self) -> Vec<FieldError> {
        let mut errors = match &self.acquisition_source {
            Some(Input::Unknown(_)) => Vec::new(),
            Some(Input::Known(source)) => {
                source_link_errors(Some(source.as_str()), self.source_customer_id)
            }
            None => source_link_errors(None, self.source_customer_id),
        };
        errors.extend(tag_errors(self.tags.as_deref()));
        errors
    }

    /// The new row; `owner_id` already resolved by the caller.
    pub fn into_row(
        self,
        owner_id: i64,
        now: chrono::NaiveDateTime,
    ) -> Result<CustomerRow, ApiError> {
        let mut row = CustomerRow {
            id: 0,
            kind: code(&self.kind, "kind")?
                .unwrap_or_else(|| CustomerKind::Individual.as_str().into()),
            name: self.name.unwrap_or_default().trim().to_string(),
            company: super::common::clean(self.company),
            email: super::common::clean(self.email).map(|e| e.to_lowercase()),
            phone: super::common::clean(self.phone),
            address: super::common::clean(self.address),
            region: super::common::clean(self.region),
            birthday: self.birthday,
            gender: code(&self.gender, "gender")?,
            age_band: super::common::clean(self.age_band),
            income_band: super::common::clean(self.income_band),
            occupation: super::common::clean(self.occupation),
            education: super::common::clean(self.education),
            industry: super::common::clean(self.industry),
            products: super::common::clean(self.products),
            employees: self.employees,
            annual_revenue_cents: self.annual_revenue_cents,
            owner_id,
            external_id: super::common::clean(self.external_id),
            acquisition_source: code(&self.acquisition_source, "acquisition_source")?,
            source_customer_id: self.source_customer_id,
            personality_type: code(&self.personality_type, "personality_type")?,
            social_style: code(&self.social_style, "social_style")?,
            funnel_stage: code(&self.funnel_stage, "funnel_stage")?
                .unwrap_or_else(|| FunnelStage::Lead.as_str().into()),
            prospect_grade: code(&self.prospect_grade, "prospect_grade")?,
            wallet_size_cents: self.wallet_size_cents,
            currency: self.currency.unwrap_or_else(|| "CNY".into()),
            notes: super::common::clean(self.notes),
            search_text: String::new(),
            version: 1,
            created_at: now,
            updated_at: now,
            archived_at: None,
        };
        row.search_text = search_text(&row);
        Ok(row)
    }
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *target = v;
    }
}

fn set_text(target: &mut Option<String>, value: Option<Option<String>>) {
    if let Some(v) = value {
        *target = super::common::clean(v);
    }
}

fn set_code<T: crate::domain::codes::Code>(
    target: &mut Option<String>,
    value: &Option<Option<Input<T>>>,
    field: &str,
) -> Result<(), ApiError> {
    if let Some(v) = value {
        *target = code(v, field)?;
    }
    Ok(())
}

impl CustomerPatch {
    /// The body trimmed and checked (`trimmed_and_checked`).
    pub fn checked(self) -> Result<Self, ApiError> {
        trimmed_and_checked(self, Self::trimmed, Self::null_errors)
    }

    /// The patch without the text fields and birthday that repeat `row`'s
    /// stored values: a bulk item or a CSV row sends every field, and a
    /// value stored under an older, looser rule (an email a later version
    /// refuses) failed a row exported and imported unchanged, and every
    /// edit of its other cells (a review). Only what changes is judged.
    pub fn without_stored(mut self, row: &CustomerRow) -> Self {
        let same = |sent: &Option<Option<String>>, stored: Option<&str>| matches!(sent, Some(Some(v)) if Some(v.trim()) == stored);
        for (sent, stored) in [
            (&mut self.company, &row.company),
            (&mut self.phone, &row.phone),
            (&mut self.address, &row.address),
            (&mut self.region, &row.region),
            (&mut self.age_band, &row.age_band),
            (&mut self.income_band, &row.income_band),
            (&mut self.occupation, &row.occupation),
            (&mut self.education, &row.education),
            (&mut self.industry, &row.industry),
            (&mut self.products, &row.products),
            (&mut self.external_id, &row.external_id),
            (&mut self.notes, &row.notes),
        ] {
            if same(sent, stored.as_deref()) {
                *sent = None;
            }
        }
        if same(&self.name, Some(&row.name)) {
            self.name = None;
        }
        // Stored lower-cased (`apply`).
        if matches!(&self.email, Some(Some(e)) if Some(e.trim().to_lowercase()) == row.email) {
            self.email = None;
        }
        if matches!(self.birthday, Some(Some(d)) if Some(d) == row.birthday) {
            self.birthday = None;
        }
        self
    }

    /// The body with its text trimmed (`trim`), before its checks. Tags
    /// are judged as sent (`tag_errors` counts them so; stored trimmed).
    fn trimmed(mut self) -> Self {
        trim(self.name.as_mut().and_then(Option::as_mut));
        trim(self.company.as_mut().and_then(Option::as_mut));
        trim(self.email.as_mut().and_then(Option::as_mut));
        trim(self.phone.as_mut().and_then(Option::as_mut));
        trim(self.address.as_mut().and_then(Option::as_mut));
        trim(self.region.as_mut().and_then(Option::as_mut));
        trim(self.age_band.as_mut().and_then(Option::as_mut));
        trim(self.income_band.as_mut().and_then(Option::as_mut));
        trim(self.occupation.as_mut().and_then(Option::as_mut));
        trim(self.education.as_mut().and_then(Option::as_mut));
        trim(self.industry.as_mut().and_then(Option::as_mut));
        trim(self.products.as_mut().and_then(Option::as_mut));
        trim(self.external_id.as_mut().and_then(Option::as_mut));
        trim(self.notes.as_mut().and_then(Option::as_mut));
        trim(self.change_reason.as_mut());
        self
    }

    /// Required fields sent as `null`: they cannot be cleared. Reported with
    /// the other rules so every bad field is named at once; so is each bad
    /// tag, at its index, and the source link's rule when the body sends
    /// both its halves (the stored card does not matter then: it came
    /// after the body's other faults were fixed, a second 422, a review).
    pub fn null_errors(&self) -> Vec<FieldError> {
        let mut errors = super::validation::nulls(&[
            ("kind", matches!(self.kind, Some(None))),
            ("name", matches!(self.name, Some(None))),
            ("funnel_stage", matches!(self.funnel_stage, Some(None))),
            ("currency", matches!(self.currency, Some(None))),
            ("owner_id", matches!(self.owner_id, Some(None))),
        ]);
        errors.extend(tag_errors(self.tags.as_ref().and_then(|t| t.as_deref())));
        match (&self.acquisition_source, self.source_customer_id) {
            (Some(Some(Input::Known(source))), Some(linked)) => {
                errors.extend(source_link_errors(Some(source.as_str()), linked));
            }
            (Some(None), Some(linked)) => errors.extend(source_link_errors(None, linked)),
            _ => {}
        }
        errors
    }

    /// Applies the sent fields to `row` (version and timestamps are the caller's).
    pub fn apply(self, row: &mut CustomerRow) -> Result<(), ApiError> {
        if let Some(kind) = code(&self.kind.flatten(), "kind")? {
            row.kind = kind;
        }
        set(
            &mut row.name,
            self.name.flatten().map(|n| n.trim().to_string()),
        );
        set_text(&mut row.company, self.company);
        set_text(
            &mut row.email,
            self.email.map(|e| e.map(|e| e.to_lowercase())),
        );
        set_text(&mut row.phone, self.phone);
        set_text(&mut row.address, self.address);
        set_text(&mut row.region, self.region);
        set(&mut row.birthday, self.birthday);
        set_code(&mut row.gender, &self.gender, "gender")?;
        set_text(&mut row.age_band, self.age_band);
        set_text(&mut row.income_band, self.income_band);
        set_text(&mut row.occupation, self.occupation);
        set_text(&mut row.education, self.education);
        set_text(&mut row.industry, self.industry);
        set_text(&mut row.products, self.products);
        set(&mut row.employees, self.employees);
        set(&mut row.annual_revenue_cents, self.annual_revenue_cents);
        set(&mut row.owner_id, self.owner_id.flatten());
        set_text(&mut row.external_id, self.external_id);
        set_code(
            &mut row.acquisition_source,
            &self.acquisition_source,
            "acquisition_source",
        )?;
        set(&mut row.source_customer_id, self.source_customer_id);
        set_code(
            &mut row.personality_type,
            &self.personality_type,
            "personality_type",
        )?;
        set_code(&mut row.social_style, &self.social_style, "social_style")?;
        if let Some(stage) = code(&self.funnel_stage.flatten(), "funnel_stage")? {
            row.funnel_stage = stage;
        }
        set_code(
            &mut row.prospect_grade,
            &self.prospect_grade,
            "prospect_grade",
        )?;
        set(&mut row.wallet_size_cents, self.wallet_size_cents);
        set(&mut row.currency, self.currency.flatten());
        set_text(&mut row.notes, self.notes);
        row.search_text = search_text(row);
        Ok(())
    }
}
