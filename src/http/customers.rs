//! `/customers`: the customer profile card.

use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::change_data;
use super::common::changes_set_key;
use super::customer_currency::check_change;
use super::customer_input::{normalize_tags, source_link_errors, CustomerCreate, CustomerPatch};
use super::customer_query::{CustomerQuery, Paged};
use super::extract::{JsonBody, NoQuery, QueryParams};
use super::funnel;
use super::no_body::NoBody;
use super::precondition::{self, etag};
use super::users::owner_error;
use super::validation::check_changed_erp_key;
use super::views::{opt_rfc3339, rfc3339, utc, StrategyView};
use crate::auth::AuthUser;
use crate::db::customer_list::{self, Filter};
use crate::db::customers::{self, CustomerRow, Full, StatsRow};
use crate::db::row_lock::{lock, Locked};
use crate::db::{self, changes, users, DbConn};
use crate::domain::codes::{
    from_db, AcquisitionSource, ChurnReason, Code, CprStage, CustomerKind, FunnelStage, Gender,
    LoyaltyType, PersonalityType, ProspectGrade, SocialStyle, Tier,
};
use crate::domain::cpr::new_card_share;
use crate::domain::reference;
use crate::domain::tiers::stored_tier;
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

/// The customer profile card (客户资料卡).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CustomerView {
    #[schema(example = 42)]
    pub id: i64,
    pub kind: CustomerKind,
    #[schema(example = "杭州华康贸易有限公司")]
    pub name: String,
    pub company: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub region: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub gender: Option<Gender>,
    pub age_band: Option<String>,
    pub income_band: Option<String>,
    pub occupation: Option<String>,
    pub education: Option<String>,
    pub industry: Option<String>,
    pub products: Option<String>,
    pub employees: Option<i64>,
    pub annual_revenue_cents: Option<i64>,
    /// The responsible sales rep (a user id).
    pub owner_id: i64,
    pub external_id: Option<String>,
    pub acquisition_source: Option<AcquisitionSource>,
    /// The referring or linked customer for `referral` and `chain_expansion`.
    pub source_customer_id: Option<i64>,
    pub personality_type: Option<PersonalityType>,
    /// How to engage this personality type; null without a personality type.
    pub personality_strategy: Option<StrategyView>,
    pub social_style: Option<SocialStyle>,
    pub funnel_stage: FunnelStage,
    pub prospect_grade: Option<ProspectGrade>,
    pub wallet_size_cents: Option<i64>,
    #[schema(example = "CNY")]
    pub currency: String,
    pub notes: Option<String>,
    pub tags: Vec<String>,
    /// Increases on every write of the card itself; send it back in
    /// `If-Match`. The figures derived from its records (purchases,
    /// revenues, last contact, CPR stage, loyalty, tier) change without it,
    /// as does `updated_at` (so the list's `updated_since` does not find
    /// them): the `ETag` follows them, and `/changes` carries the stage moves.
    pub version: i64,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// Set when the card is archived (soft-deleted); restore it with POST /restore.
    #[serde(serialize_with = "opt_rfc3339")]
    pub archived_at: Option<DateTime<Utc>>,
    /// When the customer was last contacted (latest interaction); null if never.
    #[serde(serialize_with = "opt_rfc3339")]
    pub last_contact_at: Option<DateTime<Utc>>,
    /// Number of purchases: transactions with `amount_cents` above 0 (one of
    /// 0, a refunded order or a free service, is recorded but not counted).
    pub purchase_count: i64,
    /// When the first purchase (amount above 0) occurred; null before one.
    #[serde(serialize_with = "opt_rfc3339")]
    pub first_purchase_at: Option<DateTime<Utc>>,
    /// When the latest purchase (amount above 0) occurred; null before one.
    #[serde(serialize_with = "opt_rfc3339")]
    pub last_purchase_at: Option<DateTime<Utc>>,
    /// Sum of all transaction amounts.
    pub lifetime_revenue_cents: i64,
    /// Sum of all transaction amounts minus costs.
    pub lifetime_profit_cents: i64,
    /// Revenue from transactions in the last 12 calendar months, as of the
    /// last write of an order or the window's last move (hourly by default,
    /// `PATRON_STATS_REFRESH_SECS`): an order leaving the window still
    /// counts until then.
    pub revenue_12m_cents: i64,
    /// Profit from transactions in the last 12 calendar months (as
    /// `revenue_12m_cents`).
    pub profit_12m_cents: i64,
    /// Complaints with status `open`.
    pub open_complaints: i64,
    /// Stage of the CPR development cycle (see `/customers/{id}/cpr`).
    pub cpr_stage: CprStage,
    /// True when a manager pinned the CPR stage by hand.
    pub cpr_pinned: bool,
    /// Our share of the customer's wallet in the CPR window (0–1); null
    /// without a wallet size or with a wallet size of 0 (unknown).
    pub share_of_wallet: Option<f64>,
    /// Value tier of the customer pyramid (from the last `POST /tiers/recompute`).
    pub tier: Tier,
    /// When the customer was marked churned (`POST /customers/{id}/churn`); null unless churned now.
    #[serde(serialize_with = "opt_rfc3339")]
    pub churned_at: Option<DateTime<Utc>>,
    /// Why the customer churned; null unless churned now.
    pub churn_reason: Option<ChurnReason>,
    /// Overall satisfaction (1–5): the mean of the card's dimension values
    /// below that are set (each dimension weighs the same, two decimals,
    /// halves up), so it always summarises them; null before the first
    /// response with a rating.
    #[schema(example = 4.33)]
    pub satisfaction_overall: Option<f64>,
    /// Latest mean rating of the `product` dimension (1–5).
    pub satisfaction_product: Option<f64>,
    /// Latest mean rating of the `service` dimension (1–5).
    pub satisfaction_service: Option<f64>,
    /// Latest mean rating of the `social` dimension (1–5).
    pub satisfaction_social: Option<f64>,
    /// When a response with a rating last changed the satisfaction.
    #[serde(serialize_with = "opt_rfc3339")]
    pub satisfaction_at: Option<DateTime<Utc>>,
    /// Loyalty type from satisfaction and repeat purchase (see `/settings/loyalty`).
    pub loyalty_type: LoyaltyType,
}

fn parse_opt<T: Code>(v: &Option<String>) -> Option<T> {
    v.as_deref().and_then(T::parse)
}

impl CustomerView {
    /// `tier`: the customer's row in `customer_tiers`, if any.
    pub fn new(
        row: CustomerRow,
        stats: StatsRow,
        tags: Vec<String>,
        tier: Option<&str>,
    ) -> CustomerView {
        let personality_type: Option<PersonalityType> = parse_opt(&row.personality_type);
        CustomerView {
            id: row.id,
            kind: from_db(&row.kind, CustomerKind::Individual),
            name: row.name,
            company: row.company,
            email: row.email,
            phone: row.phone,
            address: row.address,
            region: row.region,
            birthday: row.birthday,
            gender: parse_opt(&row.gender),
            age_band: row.age_band,
            income_band: row.income_band,
            occupation: row.occupation,
            education: row.education,
            industry: row.industry,
            products: row.products,
            employees: row.employees,
            annual_revenue_cents: row.annual_revenue_cents,
            owner_id: row.owner_id,
            external_id: row.external_id,
            acquisition_source: parse_opt(&row.acquisition_source),
            source_customer_id: row.source_customer_id,
            personality_strategy: personality_type
                .and_then(|p| reference::personality_strategy(p.as_str()))
                .map(StrategyView::from),
            personality_type,
            social_style: parse_opt(&row.social_style),
            funnel_stage: from_db(&row.funnel_stage, FunnelStage::Lead),
            prospect_grade: parse_opt(&row.prospect_grade),
            wallet_size_cents: row.wallet_size_cents,
            currency: row.currency,
            notes: row.notes,
            tags,
            version: row.version,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            archived_at: row.archived_at.map(utc),
            last_contact_at: stats.last_contact_at.map(utc),
            purchase_count: stats.purchase_count,
            first_purchase_at: stats.first_purchase_at.map(utc),
            last_purchase_at: stats.last_purchase_at.map(utc),
            lifetime_revenue_cents: stats.lifetime_revenue_cents,
            lifetime_profit_cents: stats.lifetime_profit_cents,
            revenue_12m_cents: stats.revenue_12m_cents,
            profit_12m_cents: stats.profit_12m_cents,
            open_complaints: stats.open_complaints,
            cpr_stage: from_db(&stats.cpr_stage, CprStage::NotStarted),
            cpr_pinned: stats.cpr_pinned,
            share_of_wallet: stats.share_of_wallet,
            tier: stored_tier(tier),
            churned_at: stats.churned_at.map(utc),
            churn_reason: parse_opt(&stats.churn_reason),
            satisfaction_overall: stats.satisfaction_overall,
            satisfaction_product: stats.satisfaction_product,
            satisfaction_service: stats.satisfaction_service,
            satisfaction_social: stats.satisfaction_social,
            satisfaction_at: stats.satisfaction_at.map(utc),
            loyalty_type: from_db(&stats.loyalty_type, LoyaltyType::Unknown),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerPage {
    pub items: Vec<CustomerView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// One page of a customer list (`GET /customers`, a segment's members): its
/// rows under `filter`, then their views. `views` reads tags and tiers in
/// statements of their own: callers whose filter names them run this in
/// `db::snapshot`.
pub fn card_page(
    conn: &mut DbConn,
    paged: &Paged,
    filter: &Filter,
) -> Result<CustomerPage, ApiError> {
    let rows = customer_list::page(conn, filter, &paged.sort, paged.after.as_ref(), paged.limit)?;
    let page = paged.finish(rows);
    Ok(CustomerPage {
        items: views(conn, page.items)?,
        next_cursor: page.next_cursor,
    })
}

/// Loads the tags of `rows` and builds their views, in order.
pub fn views(conn: &mut DbConn, rows: Vec<Full>) -> Result<Vec<CustomerView>, ApiError> {
    let ids: Vec<i64> = rows.iter().map(|(r, _)| r.id).collect();
    let mut tags: HashMap<i64, Vec<String>> = Default::default();
    for (id, tag) in customers::tags_of(conn, &ids)? {
        tags.entry(id).or_default().push(tag);
    }
    let mut tiers: HashMap<i64, String> = db::tiers::of(conn, &ids)?.into_iter().collect();
    Ok(rows
        .into_iter()
        .map(|(row, stats)| {
            let mine = tags.remove(&row.id).unwrap_or_default();
            let tier = tiers.remove(&row.id);
            CustomerView::new(row, stats, mine, tier.as_deref())
        })
        .collect())
}

/// The view of a card this transaction has just created (`row` as inserted,
/// with its id; `tags` normalized), without reading it back: a new card has
/// no tier yet, no figures, the stage `not_started`, the loyalty `unknown`
/// and a share of wallet only of a known wallet (as `create_in_tx` stores).
pub fn new_card_view(row: CustomerRow, tags: Vec<String>) -> CustomerView {
    let stats = StatsRow {
        cpr_stage: CprStage::NotStarted.as_str().to_string(),
        loyalty_type: LoyaltyType::Unknown.as_str().to_string(),
        share_of_wallet: new_card_share(row.wallet_size_cents),
        ..StatsRow::default()
    };
    CustomerView::new(row, stats, tags, None)
}

/// The current view of one customer, derived figures included.
pub fn view_of(conn: &mut DbConn, id: i64) -> Result<CustomerView, ApiError> {
    found(id, customers::find_card(conn, id)?)
}

/// The view of card `id` as read; `None` is a 404.
fn found(id: i64, card: Option<customers::CardParts>) -> Result<CustomerView, ApiError> {
    let card = card.ok_or_else(|| ApiError::NotFound(format!("no customer {id}")))?;
    Ok(CustomerView::new(
        card.row,
        card.stats,
        card.tags,
        card.tier.as_deref(),
    ))
}

fn card_response(status: StatusCode, view: CustomerView) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.insert_header(etag(view.version));
    if status == StatusCode::CREATED {
        response.insert_header((header::LOCATION, format!("/api/v1/customers/{}", view.id)));
    }
    response.json(view)
}

pub fn find_customer(conn: &mut DbConn, id: i64) -> Result<CustomerRow, ApiError> {
    customers::find(conn, id)?.ok_or_else(|| ApiError::NotFound(format!("no customer {id}")))
}

/// For writes to a customer's sub-resources: the customer exists, is not
/// archived (an archived card is read-only until restored: it took contacts,
/// sales and complaints that moved its figures while it listed nowhere),
/// this user may change it, and its row is locked until the transaction ends.
pub fn writable_customer(
    conn: &mut DbConn,
    user: &AuthUser,
    id: i64,
) -> Result<CustomerRow, ApiError> {
    // Locked before it is read: a card read first could change (its
    // currency, its archiving) before the lock was granted, and the write
    // would go by the old state (PostgreSQL; SQLite writes one at a time).
    let customer = patchable_customer(conn, user, id)?;
    refuse_archived(&customer)?;
    Ok(customer)
}

/// Whether `user` may write to the card's activity: its own card for a
/// sales user, and not archived.
pub fn may_write(user: &AuthUser, customer: &CustomerRow) -> Result<(), ApiError> {
    user.require_customer_write(customer.owner_id)?;
    refuse_archived(customer)
}

/// The card of a record being changed (a contact, an interaction, a need, a
/// transaction), locked, for a user who may write it, archived or not: a
/// PATCH that changes nothing is a 200 on an archived card, as the card's
/// own is (it was a 409 for its records); `refuse_archived` before a write.
pub fn patchable_customer(
    conn: &mut DbConn,
    user: &AuthUser,
    id: i64,
) -> Result<CustomerRow, ApiError> {
    let customer = locked_customer(conn, id)?;
    user.require_customer_write(customer.owner_id)?;
    Ok(customer)
}

/// The card, locked, before any check of who writes: for a caller whose
/// rule is not the card's own (a plan action's owner).
pub fn locked_customer(conn: &mut DbConn, id: i64) -> Result<CustomerRow, ApiError> {
    customers::lock(conn, id)?;
    find_customer(conn, id)
}

/// Whether a PATCH of a card's record writes, once its body is applied and
/// checked (`changed`: the row differs from the stored one). In this order:
/// a change to an archived card's record is the 409, before the version
/// check, whose 412 would only lead to a resend that gets it; then the 412
/// (after the body's checks: a 412 says the body was valid, so that
/// re-reading and sending it again can succeed); then `false` when nothing
/// differs: no write, no new version, nothing in the feed.
pub fn record_patch_writes(
    customer: &CustomerRow,
    changed: bool,
    expected: Option<&[i64]>,
    version: i64,
) -> Result<bool, ApiError> {
    if changed {
        refuse_archived(customer)?;
    }
    precondition::check(expected, version)?;
    Ok(changed)
}

pub fn refuse_archived(customer: &CustomerRow) -> Result<(), ApiError> {
    match customer.archived_at {
        Some(_) => Err(archived(customer.id)),
        None => Ok(()),
    }
}

/// The 409 for a write to an archived card, naming `customer_id` with the
/// code `archived` (a bulk item's result says so, not a clash of its own
/// external id).
pub fn archived(id: i64) -> ApiError {
    ApiError::FieldConflict(FieldError::new(
        "customer_id",
        "archived",
        format!("customer {id} is archived; restore it first"),
    ))
}

/// The rules on a card's links, given what the database says: an active
/// owner, and a source customer that exists, is not the card itself and
/// fits the acquisition source. Shared by the single writes and the bulk
/// plan (which looks the owners and sources up for a whole batch).
pub fn link_errors(row: &CustomerRow, owner_active: bool, source_exists: bool) -> Vec<FieldError> {
    let mut errors = source_link_errors(row.acquisition_source.as_deref(), row.source_customer_id);
    if !owner_active {
        errors.push(owner_error("owner_id"));
    }
    // The card itself is `invalid_value`: it exists, and "unknown" sent a
    // client looking for a missing card (QA).
    if row.source_customer_id == Some(row.id) {
        errors.push(FieldError::new(
            "source_customer_id",
            "invalid_value",
            "is this card: a customer is not its own source; name another existing customer",
        ));
    } else if row.source_customer_id.is_some() && !source_exists {
        errors.push(FieldError::new(
            "source_customer_id",
            "unknown_customer",
            "must be the id of another existing customer",
        ));
    }
    errors
}

/// Rules that need the database: the owner is an active user, the linked
/// source customer exists, the external id is free. `new_owner`: the card
/// gets this owner now (a create, or a reassignment). Keeping an owner who
/// has since been deactivated is allowed: their cards stay editable until a
/// manager hands them over. A caller deactivated since its token was checked
/// who would own the card is a 401, not a bad `owner_id`.
fn reference_errors(
    conn: &mut DbConn,
    user: &AuthUser,
    row: &CustomerRow,
    new_owner: bool,
) -> Result<(Vec<FieldError>, Option<ApiError>), ApiError> {
    let owner_active = !new_owner || users::find(conn, row.owner_id)?.is_some_and(|u| u.active);
    user.still_active(row.owner_id, owner_active)?;
    let source_exists = match row.source_customer_id {
        Some(source) => customers::exists(conn, source)?,
        None => false,
    };
    let errors = link_errors(row, owner_active, source_exists);
    let mut conflict = None;
    if let Some(ext) = &row.external_id {
        if customers::find_by_external_id(conn, ext)?.is_some_and(|other| other.id != row.id) {
            conflict = Some(ApiError::field_conflict(
                "external_id",
                format!("another customer has external_id {ext:?}"),
            ));
        }
    }
    Ok((errors, conflict))
}

fn fail_on(errors: Vec<FieldError>, conflict: Option<ApiError>) -> Result<(), ApiError> {
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    conflict.map_or(Ok(()), Err)
}

/// Creates a card inside the caller's write transaction: the database rules,
/// the insert, its CPR stage, funnel history and tags. Used by `POST
/// /customers` and the bulk upsert, so both write the same way. Returns the
/// row as stored and the card's view.
pub fn create_in_tx(
    conn: &mut DbConn,
    user: &AuthUser,
    row: &CustomerRow,
    tags: &[String],
    reason: Option<&str>,
) -> Result<(CustomerRow, CustomerView), ApiError> {
    let (errors, conflict) = reference_errors(conn, user, row, true)?;
    fail_on(errors, conflict)?;
    let saved = customers::insert(conn, row)?;
    // A new card has no transactions and no survey responses, so its CPR
    // stage is `not_started` and its loyalty `unknown`: the column defaults.
    // Only a share of wallet is left to store: no revenue is 0 of a known
    // wallet, whatever the window. The set-based refreshes that a
    // transaction write runs were a third of a create's CPU here
    // (docs/BENCHMARKS.md). The bulk plan's new cards are written the same way.
    if let Some(share) = new_card_share(saved.wallet_size_cents) {
        customers::set_share_of_wallet(conn, saved.id, share)?;
    }
    funnel::apply(
        conn,
        &funnel::FunnelChange {
            customer_id: saved.id,
            user_id: user.id,
            stage_before: None,
            stage_after: &saved.funnel_stage,
            grade_before: None,
            grade_after: saved.prospect_grade.as_deref(),
            reason,
            purchase_count: 0,
        },
    )?;
    customers::add_tags(conn, saved.id, tags)?;
    // The feed's data from the row just written, as the bulk plan does: no
    // read-back of the card at the seal.
    let view = new_card_view(saved.clone(), tags.to_vec());
    let data = HashMap::from([(saved.id, change_data::to_text(&view)?)]);
    changes::set_data(changes::CUSTOMER, data);
    Ok((saved, view))
}

/// What `update_in_tx` did.
pub enum Updated {
    Saved(CustomerRow),
    /// Nothing differs (only when asked to skip no-op changes).
    Unchanged(CustomerRow),
}

/// The refusals `user`'s role earns for `input` on card `row`, whatever the
/// card's state: a card not theirs to write, an owner change, an ERP key
/// change. Shared by the update and a stale bulk item's answer, which must
/// not send a resend to meet them.
pub fn require_patch_rights(
    user: &AuthUser,
    row: &CustomerRow,
    input: &CustomerPatch,
) -> Result<(), ApiError> {
    user.require_customer_write(row.owner_id)?;
    if input.owner_id.flatten().is_some_and(|o| o != row.owner_id) {
        user.require_owner_change()?;
    }
    if changes_set_key(row.external_id.as_deref(), input.external_id.as_ref()) {
        user.require_key_change("external_id")?;
    }
    Ok(())
}

/// Applies a patch to card `row` (read in this transaction) inside the
/// caller's write transaction: permissions, `If-Match`, the database rules,
/// the save with a version bump, tags, CPR and funnel history. Used by `PATCH
/// /customers/{id}` and the bulk upsert. With `skip_unchanged`, a patch that
/// changes nothing (card and tags) writes nothing and keeps the version;
/// any other change of an archived card is a 409 `archived`.
pub fn update_in_tx(
    conn: &mut DbConn,
    user: &AuthUser,
    mut row: CustomerRow,
    input: CustomerPatch,
    expected: Option<Vec<i64>>,
    skip_unchanged: bool,
) -> Result<Updated, ApiError> {
    let id = row.id;
    require_patch_rights(user, &row, &input)?;
    let tags = input
        .tags
        .as_ref()
        .map(|t| normalize_tags(t.as_deref().unwrap_or_default()));
    let before = row.version;
    let original = row.clone();
    let (stage_before, grade_before) = (row.funnel_stage.clone(), row.prospect_grade.clone());
    let reason = input
        .change_reason
        .as_ref()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    input.apply(&mut row)?;
    check_changed_erp_key(row.external_id.as_deref(), original.external_id.as_deref())?;
    let unchanged = skip_unchanged
        && row == original
        && match &tags {
            None => true,
            Some(tags) => {
                let current: Vec<String> = customers::tags_of(conn, &[id])?
                    .into_iter()
                    .map(|(_, t)| t)
                    .collect();
                current == *tags
            }
        };
    // Read-only until restored, like its records (a review found archived
    // cards reassigned and moved down the funnel while hidden from every
    // list); a resend that changes nothing is answered below. Refused before
    // the version check, as a state the client must change first: a 412
    // would only lead to a resend that gets the 409.
    if !unchanged && original.archived_at.is_some() {
        return Err(archived(id));
    }
    // After the 409, as the currency rules below: a 422 on the owner, the
    // source customer or a 409 on the key, fixed and resent, only got the
    // archived 409 (a review).
    let (errors, conflict) = reference_errors(conn, user, &row, row.owner_id != original.owner_id)?;
    fail_on(errors, conflict)?;
    // A change of currency is checked against the card's records.
    if row.currency != original.currency {
        check_change(conn, &original, &row)?;
    }
    // The card's purchases as locked (the save below does not change them),
    // read only for a stage move: only `won` needs them.
    let purchase_count = if row.funnel_stage == stage_before {
        0
    } else {
        customers::find_full(conn, id)?
            .map(|(_, s)| s.purchase_count)
            .unwrap_or_default()
    };
    let (stage_after, grade_after) = (row.funnel_stage.clone(), row.prospect_grade.clone());
    let funnel_change = funnel::FunnelChange {
        customer_id: id,
        user_id: user.id,
        stage_before: Some(&stage_before),
        stage_after: &stage_after,
        grade_before: grade_before.as_deref(),
        grade_after: grade_after.as_deref(),
        reason: reason.as_deref(),
        purchase_count,
    };
    funnel::check(&funnel_change)?;
    // After the body's checks: a 412 says the body was valid.
    precondition::check(expected.as_deref(), before)?;
    if unchanged {
        return Ok(Updated::Unchanged(original));
    }
    row.version = before + 1;
    row.updated_at = db::now();
    precondition::require_saved(customers::save(conn, &row, before)?, before)?;
    if let Some(tags) = &tags {
        customers::replace_tags(conn, id, tags)?;
    }
    // Of the card's own fields only the wallet size feeds the CPR stage (the
    // share of wallet) and, through the share, the loyalty type. The share
    // is judged on the window as of now, so the card's 12-month figures
    // move to it too (review: they stayed on the last refresh's window).
    if row.wallet_size_cents != original.wallet_size_cents {
        crate::db::stats::stamp(conn, id, row.updated_at)?;
        crate::db::stats::refresh_card(conn, id, row.updated_at)?;
    }
    funnel::apply(conn, &funnel_change)?;
    // A handover is history too (a QA review: who owned the customer when
    // was nowhere), with the reason sent with it.
    if row.owner_id != original.owner_id {
        let (from, to) = (original.owner_id.to_string(), row.owner_id.to_string());
        crate::db::events::insert(
            conn,
            &crate::db::events::NewEvent {
                customer_id: id,
                kind: crate::db::events::OWNER_CHANGED,
                from_value: Some(&from),
                to_value: Some(&to),
                subject_id: None,
                reason: reason.as_deref(),
                user_id: Some(user.id),
                at: row.updated_at,
            },
        )?;
    }
    Ok(Updated::Saved(row))
}

/// List customers, filtered, sorted and paginated by cursor.
#[utoipa::path(tag = "customers", params(CustomerQuery), responses((status = 200, body = CustomerPage)))]
#[get("/customers")]
pub async fn list(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: QueryParams<CustomerQuery>,
) -> Result<HttpResponse, ApiError> {
    let paged = query.0.paged("customers")?;
    // `views` reads the tags and tiers in statements of their own: a write
    // committed between them listed a card under `?tag=vip` without the tag
    // (a review). A snapshot where a filter names them; else the rows alone
    // decide the page, and the transaction's round trips are saved.
    let snapshot = paged.filter.tag.is_some() || paged.filter.tier.is_some();
    let page = state
        .db
        .run(move |conn| {
            if snapshot {
                db::snapshot(conn, |conn| card_page(conn, &paged, &paged.filter))
            } else {
                card_page(conn, &paged, &paged.filter)
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Create a customer card. The owner defaults to the creator; a sales user
/// may only create cards they own.
#[utoipa::path(
    tag = "customers",
    request_body = CustomerCreate,
    responses(
        (status = 201, body = CustomerView, headers(("ETag" = String), ("Location" = String))),
        (status = 403, description = "A viewer; or a sales user naming another user as `owner_id` (a sales user creates cards only for itself)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The external_id is taken by another customer (`errors`: `[{field: external_id, code: conflict}]`)", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/customers")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    _query: NoQuery,
    body: JsonBody<CustomerCreate>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0.checked()?;
    let owner_id = input.owner_id.unwrap_or(user.id);
    user.require_card_create(owner_id)?;
    let tags = normalize_tags(input.tags.as_deref().unwrap_or_default());
    let reason = input.change_reason.clone();
    let row = input.into_row(owner_id, db::now())?;
    let key = row.external_id.clone();
    let view = state
        .db
        .write_grouped_insert(key, move |conn| {
            let (_, view) = create_in_tx(conn, &user, &row, &tags, reason.as_deref())?;
            Ok(view)
        })
        .await?;
    Ok(card_response(StatusCode::CREATED, view))
}

/// Read a customer card, with its personality type's engagement strategy.
#[utoipa::path(
    tag = "customers",
    params(("id" = i64, Path, description = "Customer id")),
    responses((status = 200, body = CustomerView, headers(("ETag" = String))))
)]
#[get("/customers/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    // The hot path: one read of the card, its figures, tier and tags.
    let view = found(id, state.db.card(id).await?)?;
    Ok(card_response(StatusCode::OK, view))
}

/// Change a customer card: only the fields sent change, `null` clears one.
/// Send `If-Match` with the ETag you read to avoid overwriting someone
/// else's change (412 if the card is no longer at that version). A PATCH that changes
/// nothing writes nothing: the same version, no change in the feed.
#[utoipa::path(
    tag = "customers",
    params(("id" = i64, Path, description = "Customer id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the card is no longer at that version")),
    request_body = CustomerPatch,
    responses(
        (status = 200, body = CustomerView, headers(("ETag" = String))),
        (status = 403, description = "A viewer; or a sales user changing a card owned by someone else, or changing `owner_id` (only managers, admins and integrations reassign owners); or a sales user changing or clearing an `external_id` the card already has (the ERP's key: only managers, admins and integrations change it, so the next sync does not create a second card)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The external_id is taken by another customer (`errors`: `[{field: external_id, code: conflict}]`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The card is not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[patch("/customers/{id}")]
pub async fn patch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<CustomerPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let expected = precondition::if_match(&req)?;
    let input = body.0.checked()?;
    let view = state
        .db
        .write_grouped(move |conn| {
            lock(conn, Locked::Customers, id)?;
            let row = find_customer(conn, id)?;
            update_in_tx(conn, &user, row, input, expected, true)?;
            view_of(conn, id)
        })
        .await?;
    Ok(card_response(StatusCode::OK, view))
}

/// Archive (soft-delete) a customer card. Nothing is lost: the card, its
/// contacts and history stay and can be restored. Deleting an archived card
/// again changes nothing.
#[utoipa::path(
    tag = "customers",
    params(("id" = i64, Path, description = "Customer id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the card is no longer at that version (not checked on a card already archived: the retry of a DELETE whose answer was lost is a 204)")),
    responses(
        (status = 204, description = "Archived"),
        (status = 412, description = "The card is not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[delete("/customers/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<i64>,
    _query: NoQuery,
    _body: NoBody,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let expected = precondition::if_match(&req)?;
    set_archived(&state, user, id, expected, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore an archived customer card.
///
/// Unconditional: `If-Match` is not read (restoring sets only
/// `archived_at` back, whatever else changed, and restoring a card that is
/// not archived changes nothing).
#[utoipa::path(
    tag = "customers",
    params(("id" = i64, Path, description = "Customer id")),
    responses((status = 200, body = CustomerView, headers(("ETag" = String))))
)]
#[post("/customers/{id}/restore")]
pub async fn restore(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
    _body: NoBody,
) -> Result<HttpResponse, ApiError> {
    let view = set_archived(&state, user, path.into_inner(), None, false).await?;
    Ok(card_response(StatusCode::OK, view))
}

async fn set_archived(
    state: &AppState,
    user: AuthUser,
    id: i64,
    expected: Option<Vec<i64>>,
    archive: bool,
) -> Result<CustomerView, ApiError> {
    state
        .db
        .write_grouped(move |conn| {
            lock(conn, Locked::Customers, id)?;
            let mut row = find_customer(conn, id)?;
            user.require_customer_write(row.owner_id)?;
            // A DELETE of an archived card is done: its retry (the first's
            // 204 lost) is a 204 too, not a 412 for the version the first
            // one made (RFC 9110 §13.1.1 allows it; a review).
            let done = archive && row.archived_at.is_some();
            if !done {
                precondition::check(expected.as_deref(), row.version)?;
            }
            if row.archived_at.is_some() != archive {
                let before = row.version;
                let now = db::now();
                row.archived_at = archive.then_some(now);
                row.version = before + 1;
                row.updated_at = now;
                precondition::require_saved(customers::save(conn, &row, before)?, before)?;
            }
            view_of(conn, row.id)
        })
        .await
}
