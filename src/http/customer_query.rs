//! The query parameters of the customer list.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::common::clean;
use super::dates;
use crate::db::customer_list::{Filter, Sort};
use crate::db::customers::Full;
use crate::db::page::{self, Cursor, Page};
use crate::domain::birthdays::{Window, MAX_WINDOW_DAYS};
use crate::domain::codes::{
    AcquisitionSource, CprStage, CustomerKind, FunnelStage, LoyaltyType, PersonalityType,
    ProspectGrade, SocialStyle, Tier,
};
use crate::error::{ApiError, FieldError};

/// Filters, sort and page of the customer list. Filters combine with AND.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    /// Case-insensitive text search in name, company, email and phone: a
    /// substring, lower-cased by Unicode's rules, a word-final `ς` as `σ`.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Only cards of this kind.
    #[param(inline)]
    pub kind: Option<CustomerKind>,
    /// Only cards at this funnel stage.
    #[param(inline)]
    pub funnel_stage: Option<FunnelStage>,
    /// Only cards with this prospect grade (cards without one never match).
    #[param(inline)]
    pub prospect_grade: Option<ProspectGrade>,
    /// Only cards owned by this user (a user id; an unknown id lists none).
    pub owner_id: Option<i64>,
    /// Only the cards this customer referred: those whose
    /// `source_customer_id` is this id (at least 1; an unknown id lists
    /// none).
    #[param(minimum = 1)]
    pub source_customer_id: Option<i64>,
    /// Only cards whose birthday is celebrated from `birthday_from` (default
    /// today, the server's UTC date) to this many days later, both
    /// included: `0` is that day, `7` the coming week, `366` every card with
    /// a birthday (0 to 366). Matched on month and day, over the year end
    /// too; a 29 February birthday is celebrated on 28 February in a year
    /// without one. Cards without a birthday never match. Combines with
    /// every sort. Without `birthday_from`, the day the first page took as
    /// today holds for the pages its cursors lead to: paging across
    /// midnight UTC does not mix two days' windows.
    #[param(minimum = 0, maximum = 366)]
    pub birthday_within_days: Option<i64>,
    /// The first day of the `birthday_within_days` window (`YYYY-MM-DD`,
    /// 1900-01-01 to 9999-12-31): the client's local date, for a shop
    /// whose day does not begin at midnight UTC (a Beijing job at 07:30 runs
    /// at 23:30 UTC the day before). Only with `birthday_within_days`.
    #[serde(default, deserialize_with = "dates::optional")]
    #[param(value_type = Option<String>, format = Date, pattern = "^(19|[2-9][0-9])")]
    pub birthday_from: Option<NaiveDate>,
    /// The card with this ERP key (exact, as stored, after trimming the
    /// spaces around it; at most one card has it): how an integrator finds
    /// the card of a record it syncs. Blank is no filter (every card), not
    /// "the card without a key".
    pub external_id: Option<String>,
    /// Only cards in this region: equal to the stored value, case and
    /// accents included, after trimming the spaces around it (as stored
    /// values are); blank is no filter.
    pub region: Option<String>,
    /// Only cards in this industry, matched as `region` is (exact,
    /// case-sensitive, trimmed; blank is no filter).
    pub industry: Option<String>,
    /// Only cards acquired through this source.
    #[param(inline)]
    pub acquisition_source: Option<AcquisitionSource>,
    /// Only cards with this personality type.
    #[param(inline)]
    pub personality_type: Option<PersonalityType>,
    /// Only cards with this social style.
    #[param(inline)]
    pub social_style: Option<SocialStyle>,
    /// Customers carrying this tag.
    pub tag: Option<String>,
    /// Only cards whose own record changed at or after this instant (RFC 3339),
    /// for pull-based sync: a create, an edit, a churn or win-back, an archive
    /// or a restore (an archived card lists only with `include_archived=true`).
    /// What the card derives from other records moves without stamping it: its
    /// figures (on a write or delete of an interaction or transaction, and the
    /// hourly 12-month refresh), CPR stage, tier, loyalty type and
    /// satisfaction. The change feed (`GET /changes`) carries those records'
    /// changes and deletes, each stage move and each survey response (README,
    /// "Pull-based sync").
    /// Pair it with `sort=updated_at`: pages then follow the change time down its
    /// index, where the default order by id reads every card to find the few
    /// recent ones.
    /// A write is stamped when it starts and seen when it commits: poll again
    /// from a minute before your last mark, or follow `GET /changes` (README,
    /// "Pull-based sync").
    #[serde(default, deserialize_with = "dates::optional")]
    pub updated_since: Option<DateTime<Utc>>,
    /// Include archived cards (default false).
    pub include_archived: Option<bool>,
    /// true: customers never contacted; false: contacted at least once.
    pub never_contacted: Option<bool>,
    /// Last contact before this instant ("no contact since"); excludes never-contacted customers.
    #[serde(default, deserialize_with = "dates::optional")]
    pub last_contact_before: Option<DateTime<Utc>>,
    /// Last contact at or after this instant; with `last_contact_before`,
    /// before it (a 400 otherwise: the pair holds nothing).
    #[serde(default, deserialize_with = "dates::optional")]
    pub last_contact_after: Option<DateTime<Utc>>,
    /// `purchase_count` at least this: purchases, transactions with
    /// `amount_cents` above 0 (inclusive; at least 0, and not above
    /// `max_purchase_count`: a 400).
    #[param(minimum = 0)]
    pub min_purchase_count: Option<i64>,
    /// `purchase_count` at most this: purchases, transactions with
    /// `amount_cents` above 0 (inclusive; at least 0).
    #[param(minimum = 0)]
    pub max_purchase_count: Option<i64>,
    /// Last purchase (amount above 0) before this instant; excludes customers
    /// who never bought.
    #[serde(default, deserialize_with = "dates::optional")]
    pub last_purchase_before: Option<DateTime<Utc>>,
    /// Last purchase (amount above 0) at or after this instant; with
    /// `last_purchase_before`, before it (a 400 otherwise).
    #[serde(default, deserialize_with = "dates::optional")]
    pub last_purchase_after: Option<DateTime<Utc>>,
    /// `revenue_12m_cents` at least this (inclusive; minor units of each
    /// card's own currency, unconverted). Any integer: revenue is never
    /// below 0, so 0 or less lists every card.
    pub min_revenue_12m_cents: Option<i64>,
    /// `lifetime_revenue_cents` at least this (inclusive; minor units of each
    /// card's own currency, unconverted). Any integer: revenue is never
    /// below 0, so 0 or less lists every card.
    pub min_lifetime_revenue_cents: Option<i64>,
    /// true: with open complaints; false: without.
    pub has_open_complaints: Option<bool>,
    /// Only cards at this CPR stage (the card's `cpr_stage`).
    #[param(inline)]
    pub cpr_stage: Option<CprStage>,
    /// Only cards in this tier (the card's `tier`, from the last tier
    /// recompute; `small` also takes the cards no recompute has ranked).
    #[param(inline)]
    pub tier: Option<Tier>,
    /// true: customers churned now (not won back); false: the others.
    pub churned: Option<bool>,
    /// Latest overall satisfaction at least this (1–5, not above
    /// `satisfaction_max`: a 400); excludes customers without one.
    #[param(minimum = 1, maximum = 5)]
    pub satisfaction_min: Option<f64>,
    /// Latest overall satisfaction at most this (1–5); excludes customers without one.
    #[param(minimum = 1, maximum = 5)]
    pub satisfaction_max: Option<f64>,
    /// Only cards of this loyalty type (the card's `loyalty_type`).
    #[param(inline)]
    pub loyalty_type: Option<LoyaltyType>,
    /// One of `id`, `name`, `created_at`, `updated_at`, `last_contact_at`,
    /// `last_purchase_at`, `purchase_count`, `lifetime_revenue_cents`,
    /// `lifetime_profit_cents`, `revenue_12m_cents`, `profit_12m_cents`,
    /// `open_complaints`; prefix `-` for descending. Default `id`. Missing
    /// dates sort as the earliest. `name` follows the database's collation
    /// (SQLite: code point order; PostgreSQL: the database's locale).
    #[param(
        example = "-updated_at",
        pattern = "^-?(id|name|created_at|updated_at|last_contact_at|last_purchase_at|purchase_count|lifetime_revenue_cents|lifetime_profit_cents|revenue_12m_cents|profit_12m_cents|open_complaints)$"
    )]
    pub sort: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, read with the same filters
    /// (one of other filters is a 400 naming `cursor`).
    pub cursor: Option<String>,
}

/// The filter's instant as the bound of its `>=` (`…_after`,
/// `updated_since`) or `<` (`…_before`) comparison.
fn naive(t: Option<DateTime<Utc>>) -> Option<chrono::NaiveDateTime> {
    super::common::bound(t)
}

impl CustomerQuery {
    pub fn filter(&self) -> Result<Filter, ApiError> {
        let mut errors = Vec::new();
        if self.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
            errors.push(FieldError::new(
                "q",
                "length",
                "must be at most 200 characters",
            ));
        }
        for (name, value) in [
            ("min_purchase_count", self.min_purchase_count),
            ("max_purchase_count", self.max_purchase_count),
        ] {
            if value.is_some_and(|v| v < 0) {
                errors.push(FieldError::new(name, "range", "must be at least 0"));
            }
        }
        if self.source_customer_id.is_some_and(|v| v < 1) {
            errors.push(FieldError::new(
                "source_customer_id",
                "range",
                "must be a customer id (at least 1)",
            ));
        }
        if self
            .birthday_within_days
            .is_some_and(|v| !(0..=MAX_WINDOW_DAYS).contains(&v))
        {
            errors.push(FieldError::new(
                "birthday_within_days",
                "range",
                format!("must be between 0 (today) and {MAX_WINDOW_DAYS} (a year and a day)"),
            ));
        }
        errors.extend(self.birthday_from_errors());
        for (name, value) in [
            ("satisfaction_min", self.satisfaction_min),
            ("satisfaction_max", self.satisfaction_max),
        ] {
            if value.is_some_and(|v| !(1.0..=5.0).contains(&v)) {
                errors.push(FieldError::new(name, "range", "must be between 1 and 5"));
            }
        }
        errors.extend(super::common::instants_out_of_range(&[
            ("updated_since", self.updated_since),
            ("last_contact_before", self.last_contact_before),
            ("last_contact_after", self.last_contact_after),
            ("last_purchase_before", self.last_purchase_before),
            ("last_purchase_after", self.last_purchase_after),
        ]));
        // A pair no card can meet is a 400, not an empty page that reads as
        // "no such customers" to a client that swapped the two.
        if let (Some(low), Some(high)) = (self.satisfaction_min, self.satisfaction_max) {
            if low > high {
                errors.push(FieldError::new(
                    "satisfaction_min",
                    "range",
                    "must not be above satisfaction_max",
                ));
            }
        }
        if let (Some(low), Some(high)) = (self.min_purchase_count, self.max_purchase_count) {
            if low > high {
                errors.push(FieldError::new(
                    "min_purchase_count",
                    "range",
                    "must not be above max_purchase_count",
                ));
            }
        }
        for (low, high) in [
            (
                ("last_contact_after", self.last_contact_after),
                ("last_contact_before", self.last_contact_before),
            ),
            (
                ("last_purchase_after", self.last_purchase_after),
                ("last_purchase_before", self.last_purchase_before),
            ),
        ] {
            errors.extend(super::common::empty_period(low, high));
        }
        // A card never contacted has no last contact to compare, and one of
        // no purchases no last purchase: such a pair was an empty page too.
        let never = |field: &str, why: &str| {
            FieldError::new(
                field,
                "not_allowed",
                format!("cannot be combined with {why}"),
            )
        };
        if self.never_contacted == Some(true) {
            for (field, sent) in [
                ("last_contact_after", self.last_contact_after),
                ("last_contact_before", self.last_contact_before),
            ] {
                if sent.is_some() {
                    errors.push(never(field, "never_contacted=true: no card matches both"));
                }
            }
        }
        if self.max_purchase_count == Some(0) {
            for (field, sent) in [
                ("last_purchase_after", self.last_purchase_after),
                ("last_purchase_before", self.last_purchase_before),
            ] {
                if sent.is_some() {
                    errors.push(never(field, "max_purchase_count=0: no card matches both"));
                }
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::InvalidQuery(errors));
        }
        Ok(Filter {
            q: self
                .q
                .as_ref()
                .map(|q| q.trim().to_string())
                .filter(|q| !q.is_empty()),
            kind: self.kind.map(|v| v.as_str().to_string()),
            funnel_stage: self.funnel_stage.map(|v| v.as_str().to_string()),
            prospect_grade: self.prospect_grade.map(|v| v.as_str().to_string()),
            owner_id: self.owner_id,
            source_customer_id: self.source_customer_id,
            // The client's day when it names one; else today by the
            // server's clock, as every relative date of a rule.
            birthdays: self.birthday_within_days.map(|days| Window {
                today: self
                    .birthday_from
                    .unwrap_or_else(|| Utc::now().date_naive()),
                days,
            }),
            // Trimmed as the stored values were (a review: `?region=%20Ningbo`
            // found none of the cards written as " Ningbo "); blank is no
            // filter, as for `q` (a form's empty field; blank values are
            // stored as none, so it matched nothing).
            external_id: clean(self.external_id.clone()),
            region: clean(self.region.clone()),
            industry: clean(self.industry.clone()),
            acquisition_source: self.acquisition_source.map(|v| v.as_str().to_string()),
            personality_type: self.personality_type.map(|v| v.as_str().to_string()),
            social_style: self.social_style.map(|v| v.as_str().to_string()),
            tag: clean(self.tag.clone()),
            updated_since: naive(self.updated_since),
            include_archived: self.include_archived.unwrap_or(false),
            never_contacted: self.never_contacted,
            last_contact_before: naive(self.last_contact_before),
            last_contact_after: naive(self.last_contact_after),
            min_purchase_count: self.min_purchase_count,
            max_purchase_count: self.max_purchase_count,
            last_purchase_before: naive(self.last_purchase_before),
            last_purchase_after: naive(self.last_purchase_after),
            min_revenue_12m_cents: self.min_revenue_12m_cents,
            min_lifetime_revenue_cents: self.min_lifetime_revenue_cents,
            has_open_complaints: self.has_open_complaints,
            cpr_stage: self.cpr_stage.map(|v| v.as_str().to_string()),
            tier: self.tier.map(|v| v.as_str().to_string()),
            churned: self.churned,
            satisfaction_min: self.satisfaction_min,
            satisfaction_max: self.satisfaction_max,
            loyalty_type: self.loyalty_type.map(|v| v.as_str().to_string()),
            segment: None,
        })
    }
}

impl CustomerQuery {
    /// `birthday_from`'s 400s: a year outside 1900–9999 (as every date a
    /// request names), or no window to begin (it was no filter at all).
    fn birthday_from_errors(&self) -> Option<FieldError> {
        let from = self.birthday_from?;
        if !(1900..=9999).contains(&from.year()) {
            return Some(FieldError::new(
                "birthday_from",
                "range",
                "must be from 1900-01-01 to 9999-12-31",
            ));
        }
        if self.birthday_within_days.is_none() {
            return Some(FieldError::new(
                "birthday_from",
                "not_allowed",
                "is the first day of the birthday_within_days window: send both",
            ));
        }
        None
    }

    /// The name of the list these filters select: a cursor is one list's,
    /// so a cursor of `owner_id=7` taken by `owner_id=8` (or by the whole
    /// list, or the whole list's by a filtered one) is a 400, where it
    /// resumed at its position and silently skipped the other list's rows
    /// before it (a review). The unfiltered list keeps its plain name, so
    /// its cursors made before this rule still read. The birthday window
    /// (`birthday_within_days`, `birthday_from`) is the cursor's own: it
    /// carries the first page's day, which the following pages need not
    /// name again (a day named again wins). Every filter binds the cursor
    /// here, the time bounds too (`common::filtered_list_name`, whose
    /// hash needs every field an `Option`, as they are).
    fn list_name(&self, list: &str) -> String {
        let filters = CustomerQuery {
            sort: None,
            limit: None,
            cursor: None,
            birthday_from: None,
            birthday_within_days: None,
            ..self.clone()
        };
        super::common::filtered_list_name(list, &filters)
    }

    /// One page of a paged customer list (`list`: its cursors' name): the
    /// filter, then `sort`, `limit` and `cursor` checked in that order, as
    /// every list does.
    pub fn paged(&self, list: &str) -> Result<Paged, ApiError> {
        self.paged_within(list, None)
    }

    /// As `paged`, for the list `within` names inside `list`'s (a dynamic
    /// segment's members under one rule).
    pub fn paged_within(&self, list: &str, within: Option<&str>) -> Result<Paged, ApiError> {
        let mut filter = self.filter()?;
        let sort = Sort::parse(self.sort.as_deref())?;
        let limit = page::limit(self.limit)?;
        let list = match within {
            Some(name) => format!("{}:{name}", self.list_name(list)),
            None => self.list_name(list),
        };
        let (after, carried) = match self.cursor.as_deref() {
            Some(raw) => {
                let (cursor, day) = Cursor::decode_on(raw, &list, &sort.as_string())?;
                (Some(cursor), day)
            }
            None => (None, None),
        };
        // The first page's day holds for the following ones: read anew,
        // pages read after midnight UTC took the next day's window, skipping
        // and repeating cards. A day the client names wins.
        if let (None, Some(day), Some(window)) =
            (self.birthday_from, carried, filter.birthdays.as_mut())
        {
            window.today = day;
        }
        Ok(Paged {
            day: filter.birthdays.map(|w| w.today),
            carried,
            filter,
            sort,
            limit,
            after,
            list,
        })
    }
}

/// What one page of a paged customer list reads (see `CustomerQuery::paged`).
pub struct Paged {
    pub filter: Filter,
    pub sort: Sort,
    pub limit: i64,
    pub after: Option<Cursor>,
    list: String,
    /// The birthday window's first day, which the next cursor carries.
    day: Option<NaiveDate>,
    /// The day the cursor sent carries, if any.
    carried: Option<NaiveDate>,
}

impl Paged {
    /// The name of the list this page is of (its cursors').
    pub fn list(&self) -> &str {
        &self.list
    }

    /// The day a segment's birthday rule counts from on this page, which
    /// the next cursor carries: the list's own window's first day when it
    /// has one (`birthday_from`, else the cursor's, else today), else the
    /// cursor's day, else `today`. One day for the filter and the rule, and
    /// for every page of the list.
    pub fn hold_day(&mut self, today: NaiveDate) -> NaiveDate {
        let day = self.day.or(self.carried).unwrap_or(today);
        self.day = Some(day);
        day
    }

    /// The page of `rows` (read with one more than `limit`) and its cursor.
    pub fn finish(&self, rows: Vec<Full>) -> Page<Full> {
        page::finish_on(rows, self.limit, &self.list, self.day, |r| {
            self.sort.cursor_for(r)
        })
    }
}
