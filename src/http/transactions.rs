//! `/customers/{id}/transactions` and `/transactions`: orders and services
//! delivered (成交服务记录). They feed every value figure of the card.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::common::{clean, not_future, versioned};
use super::customer_input::nullable;
use super::customers::{find_customer, patchable_customer, record_patch_writes, writable_customer};
use super::dates;
use super::extract::{JsonBody, NoQuery, QueryParams};
use super::no_body::NoBody;
use super::precondition;
use super::validation::{check, check_changed_erp_key, currency_code, erp_key, not_blank};
use super::views::utc;
use crate::auth::AuthUser;
use crate::db::page::{self, Cursor};
use crate::db::transactions::{self, Filter, TransactionRow};
use crate::db::{self, churn, customers, stats, DbConn};
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransactionView {
    pub id: i64,
    pub customer_id: i64,
    pub occurred_at: DateTime<Utc>,
    #[schema(example = 1280000)]
    pub amount_cents: i64,
    #[schema(example = 910000)]
    pub cost_cents: i64,
    /// amount − cost.
    pub profit_cents: i64,
    #[schema(example = "CNY")]
    pub currency: String,
    #[schema(example = "Ginseng tea, 12 boxes")]
    pub product: String,
    /// The ERP's order key; unique among transactions.
    pub external_id: Option<String>,
    pub notes: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<TransactionRow> for TransactionView {
    fn from(r: TransactionRow) -> Self {
        TransactionView {
            id: r.id,
            customer_id: r.customer_id,
            occurred_at: utc(r.occurred_at),
            amount_cents: r.amount_cents,
            cost_cents: r.cost_cents,
            profit_cents: r.amount_cents - r.cost_cents,
            currency: r.currency,
            product: r.product,
            external_id: r.external_id,
            notes: r.notes,
            version: r.version,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionPage {
    pub items: Vec<TransactionView>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Largest amount accepted: a trillion in major units keeps every sum far
/// from overflowing 64 bits.
const MAX_CENTS: i64 = 100_000_000_000_000;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount_cents": 1280000, "cost_cents": 910000, "product": "Ginseng tea, 12 boxes",
    "occurred_at": "2026-11-20T10:30:00Z", "external_id": "SO-2026-0042"}))]
pub struct TransactionCreate {
    /// Above 0 for a purchase; 0 (a free service, a refunded order) is
    /// recorded but counts in no purchase figure.
    #[validate(required, range(min = 0, max = 100_000_000_000_000i64))]
    #[schema(required = true, value_type = i64, minimum = 0, maximum = 100_000_000_000_000.0)]
    pub amount_cents: Option<i64>,
    /// Defaults to 0.
    #[validate(range(min = 0, max = 100_000_000_000_000i64))]
    #[schema(minimum = 0, maximum = 100_000_000_000_000.0)]
    pub cost_cents: Option<i64>,
    /// Must be the card's currency (default: the card's).
    #[validate(custom(function = "currency_code"))]
    #[schema(pattern = r"^[A-Z]{3}$")]
    pub currency: Option<String>,
    #[validate(required, length(max = 200), custom(function = "not_blank"))]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub product: Option<String>,
    /// When it happened; defaults to now; not in the future, not before 1900.
    #[serde(default, deserialize_with = "dates::optional")]
    #[validate(custom(function = "not_future"))]
    #[schema(pattern = "^(19|[2-9][0-9])")]
    pub occurred_at: Option<DateTime<Utc>>,
    /// The ERP's key: a second transaction with the same key is a 409. No
    /// invisible characters (U+200B, U+FEFF, …: 422 `invalid_character`).
    #[validate(length(max = 100), custom(function = "erp_key"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub external_id: Option<String>,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
}

/// Only the fields sent change; `null` clears an optional field.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"notes": "Delivered in two shipments"}))]
pub struct TransactionPatch {
    #[serde(default, deserialize_with = "nullable")]
    #[validate(range(min = 0, max = 100_000_000_000_000i64))]
    #[schema(value_type = i64, required = false, minimum = 0, maximum = 100_000_000_000_000.0)]
    pub amount_cents: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(range(min = 0, max = 100_000_000_000_000i64))]
    #[schema(value_type = i64, required = false, minimum = 0, maximum = 100_000_000_000_000.0)]
    pub cost_cents: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(custom(function = "currency_code"))]
    #[schema(value_type = String, required = false, pattern = r"^[A-Z]{3}$")]
    pub currency: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 200), custom(function = "not_blank"))]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 200, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub product: Option<Option<String>>,
    #[serde(default, deserialize_with = "dates::nullable")]
    #[validate(custom(function = "not_future"))]
    #[schema(value_type = DateTime<Utc>, required = false, pattern = "^(19|[2-9][0-9])")]
    pub occurred_at: Option<Option<DateTime<Utc>>>,
    /// The ERP's key; no invisible characters (422 `invalid_character`).
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 100), custom(function = "not_blank"))]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100, pattern = r"[^\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub external_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[validate(length(max = 2000))]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub notes: Option<Option<String>>,
}

impl TransactionPatch {
    /// Required fields sent as `null`: they cannot be cleared.
    pub fn null_errors(&self) -> Vec<FieldError> {
        super::validation::nulls(&[
            ("amount_cents", matches!(self.amount_cents, Some(None))),
            ("cost_cents", matches!(self.cost_cents, Some(None))),
            ("currency", matches!(self.currency, Some(None))),
            ("occurred_at", matches!(self.occurred_at, Some(None))),
            ("product", matches!(self.product, Some(None))),
        ])
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TransactionQuery {
    /// Only this customer (on `/transactions`; on `/customers/{id}/transactions`
    /// the path names it, and another id here is a 400). On the list across
    /// customers a filter: no customer with this id is an empty page.
    pub customer_id: Option<i64>,
    /// Only customers owned by this user.
    pub owner_id: Option<i64>,
    /// The transaction with this ERP key (exact, as stored, after trimming
    /// the spaces around it). Blank is no filter, as on `/customers`.
    pub external_id: Option<String>,
    /// Exact product name (trimmed, as products are stored; blank is no filter).
    pub product: Option<String>,
    /// Occurred at or after this instant; with `to`, before it (a 400
    /// otherwise: the pair holds nothing).
    #[serde(default, deserialize_with = "dates::optional")]
    pub from: Option<DateTime<Utc>>,
    /// Occurred before this instant.
    #[serde(default, deserialize_with = "dates::optional")]
    pub to: Option<DateTime<Utc>>,
    /// Changed at or after this instant.
    /// A write is stamped when it starts and seen when it commits: poll again
    /// from a minute before your last mark, or follow `GET /changes` (README,
    /// "Pull-based sync").
    #[serde(default, deserialize_with = "dates::optional")]
    pub updated_since: Option<DateTime<Utc>>,
    /// `-occurred_at` (default), `occurred_at`, `updated_at`, `-updated_at`,
    /// `id`, `-id`. Poll with `updated_since` and `sort=updated_at`: the pages
    /// follow an index, and an order edited while you page moves to the end
    /// and is read there.
    #[param(pattern = "^(-?occurred_at|-?updated_at|-?id)$")]
    pub sort: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, read with the same filters.
    pub cursor: Option<String>,
}

async fn list_page(
    state: &AppState,
    q: TransactionQuery,
    customer_id: Option<i64>,
) -> Result<TransactionPage, ApiError> {
    // The query's errors first, together, as on interactions: one request
    // answers the same whichever list it names.
    let mut errors = super::common::instants_out_of_range(&[
        ("from", q.from),
        ("to", q.to),
        ("updated_since", q.updated_since),
    ]);
    errors.extend(super::common::empty_period(("from", q.from), ("to", q.to)));
    errors.extend(super::common::customer_mismatch(customer_id, q.customer_id));
    super::common::query_errors(errors)?;
    let sort = transactions::parse_sort(q.sort.as_deref())?;
    let limit = page::limit(q.limit)?;
    // Named by the customer listed, however it is named (path or
    // `?customer_id=`): one list, one cursor. Two customers named is a
    // query error, reported with the others above.
    let listed = customer_id.or(q.customer_id);
    let filter = Filter {
        customer_id: listed,
        owner_id: q.owner_id,
        // Trimmed as stored; blank is no filter (a form's empty field: a
        // product is never stored blank, so `?product=` matched nothing).
        external_id: super::common::clean(q.external_id),
        product: super::common::clean(q.product),
        from: super::common::bound(q.from),
        to: super::common::bound(q.to),
        updated_since: super::common::bound(q.updated_since),
    };
    // And by its filters (another tab's cursor skipped rows).
    let list_name = super::common::filtered_list_name(
        &super::common::list_name("transactions", listed),
        &(filter.owner_id, &filter.external_id, &filter.product),
    );
    let after = q
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &list_name, sort))
        .transpose()?;
    state
        .db
        .run(move |conn| {
            if let Some(id) = customer_id {
                find_customer(conn, id)?;
            }
            let rows = transactions::page(conn, &filter, sort, after.as_ref(), limit)?;
            let page = page::finish(rows, limit, &list_name, |r| {
                transactions::cursor_for(sort, r)
            });
            Ok(TransactionPage {
                items: page.items.into_iter().map(TransactionView::from).collect(),
                next_cursor: page.next_cursor,
            })
        })
        .await
}

/// Transactions across customers, by period, customer, owner and product.
#[utoipa::path(tag = "transactions", params(TransactionQuery), responses((status = 200, body = TransactionPage)))]
#[get("/transactions")]
pub async fn list_all(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: QueryParams<TransactionQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(list_page(&state, query.0, None).await?))
}

/// A customer's transactions.
#[utoipa::path(tag = "transactions", params(("id" = i64, Path, description = "Customer id"), TransactionQuery), responses((status = 200, body = TransactionPage)))]
#[get("/customers/{id}/transactions")]
pub async fn list(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<i64>,
    query: QueryParams<TransactionQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(list_page(&state, query.0, Some(path.into_inner())).await?))
}

fn respond(status: StatusCode, row: TransactionRow) -> HttpResponse {
    let loc = format!(
        "/api/v1/customers/{}/transactions/{}",
        row.customer_id, row.id
    );
    versioned(status, row.version, Some(loc), &TransactionView::from(row))
}

fn external_id_free(
    conn: &mut DbConn,
    external_id: Option<&str>,
    own_id: i64,
) -> Result<(), ApiError> {
    if let Some(ext) = external_id {
        if transactions::find_by_external_id(conn, ext)?.is_some_and(|t| t.id != own_id) {
            return Err(ApiError::field_conflict(
                "external_id",
                format!("a transaction with external_id {ext:?} exists; it is never counted twice"),
            ));
        }
    }
    Ok(())
}

fn currency_matches(card_currency: &str, currency: &str) -> Result<(), ApiError> {
    if card_currency == currency {
        Ok(())
    } else {
        Err(ApiError::Validation(vec![FieldError::new(
            "currency",
            "currency_mismatch",
            format!("must be the customer's currency {card_currency}, so that its figures add up"),
        )]))
    }
}

/// A new transaction of `customer_id` as sent (currency empty: the card's).
pub fn new_row(
    customer_id: i64,
    input: TransactionCreate,
    now: chrono::NaiveDateTime,
) -> TransactionRow {
    TransactionRow {
        id: 0,
        customer_id,
        occurred_at: input
            .occurred_at
            .map(|t| db::micros(t.naive_utc()))
            .unwrap_or(now),
        amount_cents: input.amount_cents.unwrap_or_default().min(MAX_CENTS),
        cost_cents: input.cost_cents.unwrap_or_default().min(MAX_CENTS),
        currency: input.currency.unwrap_or_default(),
        product: input.product.unwrap_or_default().trim().to_string(),
        external_id: clean(input.external_id),
        notes: clean(input.notes),
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// Records a transaction inside the caller's write transaction: the card
/// is writable by `user` and locked, the currency matches, the external id
/// is free. The caller refreshes the card's figures (once per customer).
/// Used by `POST /customers/{id}/transactions` and the bulk upsert.
/// Stamped (and, without `occurred_at`, dated) once the card is locked: read
/// before a wait for the lock, a purchase recorded after a churn committed
/// during the wait was dated before it, and did not win the customer back.
pub fn create_in_tx(
    conn: &mut DbConn,
    user: &AuthUser,
    customer_id: i64,
    input: TransactionCreate,
) -> Result<TransactionRow, ApiError> {
    let customer = writable_customer(conn, user, customer_id)?;
    let mut row = new_row(customer_id, input, db::now());
    fill_currency(&mut row, &customer.currency)?;
    external_id_free(conn, row.external_id.as_deref(), 0)?;
    Ok(transactions::insert(conn, &row)?)
}

/// A new transaction's currency: the card's when none was sent, and it
/// must be the card's.
pub fn fill_currency(row: &mut TransactionRow, card_currency: &str) -> Result<(), ApiError> {
    if row.currency.is_empty() {
        row.currency = card_currency.to_string();
    }
    currency_matches(card_currency, &row.currency)
}

/// What `update_in_tx` did.
pub enum Updated {
    Saved(TransactionRow),
    /// Nothing differs: nothing was written.
    Unchanged(TransactionRow),
}

/// The fields a patch sets, on `row` (the currency must stay the card's).
pub fn patch_row(
    row: &mut TransactionRow,
    input: TransactionPatch,
    card_currency: &str,
) -> Result<(), ApiError> {
    if let Some(v) = input.amount_cents.flatten() {
        row.amount_cents = v;
    }
    if let Some(v) = input.cost_cents.flatten() {
        row.cost_cents = v;
    }
    if let Some(v) = input.currency.flatten() {
        currency_matches(card_currency, &v)?;
        row.currency = v;
    }
    if let Some(v) = input.product.flatten() {
        row.product = v.trim().to_string();
    }
    if let Some(t) = input.occurred_at.flatten() {
        row.occurred_at = db::micros(t.naive_utc());
    }
    if let Some(v) = input.external_id {
        row.external_id = clean(v);
    }
    if let Some(v) = input.notes {
        row.notes = clean(v);
    }
    Ok(())
}

/// Applies a patch to transaction `row` inside the caller's write
/// transaction (permissions, `If-Match`, currency, external id, the save
/// with a version bump). The caller refreshes the card's figures. A patch
/// that changes nothing writes nothing. With `resend` (the bulk sync) that
/// holds on an archived card, and on a card the user may not write, too: an
/// ERP re-sends its orders on every sync, and a card archived since (or a
/// colleague's, in a sales user's file) must not fail each of them; a real
/// change of its orders is still refused.
pub fn update_in_tx(
    conn: &mut DbConn,
    user: &AuthUser,
    mut row: TransactionRow,
    input: TransactionPatch,
    expected: Option<Vec<i64>>,
    resend: bool,
) -> Result<Updated, ApiError> {
    // A change that changes nothing is answered even on an archived card
    // (below, once it is known), as the card's own PATCH is; a resend of an
    // unchanged order even to a user who may not write the card.
    customers::lock(conn, row.customer_id)?;
    let customer = find_customer(conn, row.customer_id)?;
    if !resend {
        user.require_customer_write(customer.owner_id)?;
    }
    if super::common::changes_set_key(row.external_id.as_deref(), input.external_id.as_ref()) {
        user.require_key_change("external_id")?;
    }
    let original = row.clone();
    let before = row.version;
    let checked = patch_row(&mut row, input, &customer.currency).and_then(|()| {
        check_changed_erp_key(row.external_id.as_deref(), original.external_id.as_deref())
    });
    if let Err(refused) = checked {
        // The archived card's 409 first: this 422, fixed and resent, only
        // met it (a review; as interactions and needs do).
        super::customers::refuse_archived(&customer)?;
        return Err(refused);
    }
    external_id_free(conn, row.external_id.as_deref(), row.id)?;
    // A sales user's refusal of a change comes first, as for any request
    // of theirs (a resend skipped it above).
    if row != original {
        user.require_customer_write(customer.owner_id)?;
    }
    if !record_patch_writes(&customer, row != original, expected.as_deref(), before)? {
        return Ok(Updated::Unchanged(original));
    }
    row.version = before + 1;
    row.updated_at = db::now();
    precondition::require_saved(transactions::save(conn, &row, before)?, before)?;
    Ok(Updated::Saved(row))
}

/// Record an order or service. The card's purchase count, revenue and
/// profit figures are updated in the same transaction; a transaction of
/// `amount_cents` 0 (a free service, or an order later corrected to 0 as a
/// refund) is not a purchase: it counts in no purchase figure. A purchase
/// dated after the customer's churn wins it back, as
/// `POST /customers/{id}/reactivate` does (note `purchase on <date>`).
#[utoipa::path(
    tag = "transactions",
    params(("id" = i64, Path, description = "Customer id")),
    request_body = TransactionCreate,
    responses(
        (status = 201, body = TransactionView, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "The external_id was already recorded (`errors`: `[{field: external_id, code: conflict}]`)", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/customers/{id}/transactions")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _query: NoQuery,
    body: JsonBody<TransactionCreate>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let input = body.0;
    check(&input, Vec::new())?;

    let saved = state
        .db
        .write_grouped(move |conn| {
            let saved = create_in_tx(conn, &user, customer_id, input)?;
            // Read once the card is locked (as update and delete do): a stage
            // change stamped before this write waited for another would be
            // dated before the change it follows.
            let now = db::now();
            churn::win_back_buyers(conn, &churn::purchases_in([&saved]), &[], user.id, now)?;
            stats::refresh_card(conn, customer_id, now)?;
            Ok(saved)
        })
        .await?;
    Ok(respond(StatusCode::CREATED, saved))
}

fn find_transaction(
    conn: &mut DbConn,
    customer_id: i64,
    id: i64,
) -> Result<TransactionRow, ApiError> {
    transactions::find(conn, id)?
        .filter(|r| r.customer_id == customer_id)
        .ok_or_else(|| {
            ApiError::NotFound(format!("customer {customer_id} has no transaction {id}"))
        })
}

/// Read one transaction.
#[utoipa::path(
    tag = "transactions",
    params(("id" = i64, Path, description = "Customer id"), ("transaction_id" = i64, Path, description = "Transaction id")),
    responses((status = 200, body = TransactionView, headers(("ETag" = String))))
)]
#[get("/customers/{id}/transactions/{transaction_id}")]
pub async fn get(
    state: web::Data<AppState>,
    _user: AuthUser,
    path: web::Path<(i64, i64)>,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let (customer_id, id) = path.into_inner();
    let row = state
        .db
        .lookup(move |conn| find_transaction(conn, customer_id, id))
        .await?;
    Ok(respond(StatusCode::OK, row))
}

/// Correct a transaction. The card's figures follow, the churn too: a
/// purchase after the churn wins the customer back, and one that won it back
/// corrected to 0 or to before the churn, with no other purchase after it
/// left, opens the churn again. A PATCH that changes nothing writes nothing:
/// the same version, no change in the feed.
#[utoipa::path(
    tag = "transactions",
    params(("id" = i64, Path, description = "Customer id"), ("transaction_id" = i64, Path, description = "Transaction id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if it is no longer at that version")),
    request_body = TransactionPatch,
    responses(
        (status = 200, body = TransactionView, headers(("ETag" = String))),
        (status = 403, description = "A viewer; a sales user on a card owned by someone else; or a sales user changing or clearing an `external_id` the transaction already has (the ERP's order key: only managers, admins and integrations change it, so the next sync does not record the order again)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The external_id is taken by another transaction (`errors`: `[{field: external_id, code: conflict}]`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[patch("/customers/{id}/transactions/{transaction_id}")]
pub async fn patch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    _query: NoQuery,
    body: JsonBody<TransactionPatch>,
) -> Result<HttpResponse, ApiError> {
    let (customer_id, id) = path.into_inner();
    let expected = precondition::if_match(&req)?;
    let input = body.0;
    check(&input, input.null_errors())?;
    let saved = state
        .db
        .write_grouped(move |conn| {
            // The card first: a 403 or a missing card before the transaction's 404.
            patchable_customer(conn, &user, customer_id)?;
            let row = find_transaction(conn, customer_id, id)?;
            let was = churn::purchases_in([&row]);
            let now = db::now();
            let row = match update_in_tx(conn, &user, row, input, expected, false)? {
                Updated::Saved(row) => row,
                // Nothing written, nothing to refresh (an archived card's
                // figures included).
                Updated::Unchanged(row) => return Ok(row),
            };
            // A correction can make an order a purchase after the churn too.
            churn::win_back_buyers(conn, &churn::purchases_in([&row]), &was, user.id, now)?;
            // Or take away the purchase that won it back (0, or dated before the churn).
            churn::reopen_unbought(conn, &[customer_id], user.id, now)?;
            stats::refresh_card(conn, customer_id, now)?;
            Ok(row)
        })
        .await?;
    Ok(respond(StatusCode::OK, saved))
}

/// Delete a transaction recorded by mistake. The card's figures follow; if
/// the purchase had won a churned customer back and no purchase after the
/// churn is left, the churn is open again.
#[utoipa::path(
    tag = "transactions",
    params(("id" = i64, Path, description = "Customer id"), ("transaction_id" = i64, Path, description = "Transaction id"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if it is no longer at that version")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 412, description = "Not at the version `If-Match` named", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[delete("/customers/{id}/transactions/{transaction_id}")]
pub async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    _query: NoQuery,
    _body: NoBody,
) -> Result<HttpResponse, ApiError> {
    let (customer_id, id) = path.into_inner();
    let expected = precondition::if_match(&req)?;
    state
        .db
        .write_grouped(move |conn| {
            // Found before the archived card's 409: a record that is not
            // there is a 404 on an archived card too (as its PATCH answers).
            let customer = patchable_customer(conn, &user, customer_id)?;
            let found = find_transaction(conn, customer_id, id)?;
            super::customers::refuse_archived(&customer)?;
            precondition::check(expected.as_deref(), found.version)?;
            transactions::delete(conn, id)?;
            let now = db::now();
            churn::reopen_unbought(conn, &[customer_id], user.id, now)?;
            stats::refresh_card(conn, customer_id, now)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
