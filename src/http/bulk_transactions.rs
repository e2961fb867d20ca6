//! `POST /transactions/bulk`: upsert up to 1,000 orders by `external_id`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::bulk::{self, Applied, BulkQuery, ItemStatus};
use super::bulk_customers::external_id_taken;
use super::bulk_transactions_plan as plan;
use super::bulk_version;
use super::extract::QueryParams;
use super::idempotency::IdemKey;
use super::transactions::{
    create_in_tx, update_in_tx, TransactionCreate, TransactionPatch, Updated,
};
use super::validation::check;
use crate::auth::AuthUser;
use crate::db::row_lock::{self, Locked};
use crate::db::transactions::{self, TransactionRow};
use crate::db::{self, cpr, customers, stats, DbConn};
use crate::domain::codes::Role;
use crate::error::{ApiError, FieldError};
use crate::startup::AppState;

// For the spec only: the body is read as items of JSON, each parsed on its own.
/// Up to 1,000 transactions keyed by `external_id`.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"items": [
    {"external_id": "SO-2026-0042", "customer_external_id": "ERP-10042", "amount_cents": 1280000,
     "cost_cents": 910000, "product": "Ginseng tea, 12 boxes", "occurred_at": "2026-11-20T10:30:00Z"},
    {"external_id": "SO-2026-0043", "customer_id": 42, "amount_cents": 56000, "product": "Gift set"}
]}))]
// Read with unknown keys refused (`bulk::Items`).
#[serde(deny_unknown_fields)]
pub struct TransactionBulkRequest {
    /// Each item is a transaction as in `POST /customers/{id}/transactions`
    /// with a required `external_id`, naming its customer by `customer_id`
    /// (Patron id) or `customer_external_id` (the card's ERP key; one of the
    /// two, required to create). An existing `external_id` updates that
    /// transaction as `PATCH` would; it cannot move to another customer. A
    /// `null` for `cost_cents`, `currency` or `occurred_at` leaves a known
    /// transaction's value as it is. An item may hold the `version` of the
    /// order it was based on: an order changed since is then that item's
    /// error (`version`, code `conflict`) instead of being overwritten. 1 to
    /// 1,000 items (more is a 413).
    #[schema(min_items = 1, max_items = 1000)]
    pub items: Vec<TransactionBulkItem>,
}

/// One bulk transaction (documentation: the fields of `TransactionCreate`
/// plus the customer reference).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TransactionBulkItem {
    /// The customer's Patron id.
    pub customer_id: Option<i64>,
    /// The customer's `external_id`.
    pub customer_external_id: Option<String>,
    /// The order's version as the client last read it (from the change
    /// feed, say). On a known order that has another version the item is
    /// refused, error `version`/`conflict`, unless it changes nothing
    /// (`unchanged`): the order changed since, and the item would undo that
    /// change. Read it and send the item again. Absent or `null`: no check
    /// (last writer wins). Ignored when the item creates an order. Every
    /// item of one order in a batch is checked against the version it had
    /// before the batch.
    #[schema(example = 3)]
    pub version: Option<i64>,
    #[serde(flatten)]
    pub transaction: TransactionCreate,
}

fn invalid(field: &str, code: &str, message: &str) -> ApiError {
    ApiError::invalid(field, code, message)
}

/// The fields a new order takes a default for when they are null (see
/// `bulk::drop_defaulted_nulls`).
pub(super) const DEFAULTED_ON_CREATE: &[&str] = &["cost_cents", "currency", "occurred_at"];

/// Splits the customer reference off an item (the rest is a transaction).
pub(super) fn customer_ref(item: &mut Value) -> Result<(Option<i64>, Option<String>), ApiError> {
    if !item.is_object() {
        return Err(invalid("item", "invalid_type", "must be a JSON object"));
    }
    // Both read, so that a bad one does not hide the other (QA).
    let (id, ext) = match (
        customer_id_of(item),
        bulk::key_of(item, "customer_external_id"),
    ) {
        (Ok(id), Ok(ext)) => (id, ext),
        (id, ext) => {
            let mut errors = Vec::new();
            for e in [id.err(), ext.err()].into_iter().flatten() {
                match e {
                    ApiError::Validation(e) => errors.extend(e),
                    other => return Err(other),
                }
            }
            return Err(ApiError::Validation(errors));
        }
    };
    if let Some(obj) = item.as_object_mut() {
        obj.remove("customer_id");
        obj.remove("customer_external_id");
    }
    if id.is_some() && ext.is_some() {
        return Err(invalid(
            "customer_external_id",
            "not_allowed",
            "name the customer by customer_id or customer_external_id, not both",
        ));
    }
    Ok((id, ext))
}

/// An item's `customer_id`, read by the rules of every integer field of a
/// body (`bulk::parse_item`): `42.0` and `4.2e1` are 42, past the 64-bit
/// range is `range`. It was read as the raw JSON's integer, so an ERP that
/// writes every number as a float had its items refused as `invalid_type`.
pub(super) fn customer_id_of(item: &Value) -> Result<Option<i64>, ApiError> {
    #[derive(Deserialize)]
    struct CustomerId {
        customer_id: Option<i64>,
    }
    let Some(id) = item.get("customer_id") else {
        return Ok(None);
    };
    let parsed: CustomerId = bulk::parse_item(serde_json::json!({ "customer_id": id }))?;
    Ok(parsed.customer_id)
}

/// An item's transaction, once its customer reference is split off: serde's
/// "unknown field" message lists the transaction's fields only, so a typo
/// of `customer_id` was told every field but the one it meant (a review).
fn parse_transaction<T: serde::de::DeserializeOwned>(item: Value) -> Result<T, ApiError> {
    bulk::parse_item(item)
        .map_err(|e| bulk::naming_also(e, "`customer_id`, `customer_external_id`, `version`"))
}

/// An item's customer reference and external id, taken off it; or their
/// errors with those of its other fields (`bulk::with_other_errors`).
fn references(item: &mut Value) -> Result<(Option<i64>, Option<String>, String), ApiError> {
    if !item.is_object() {
        return Err(invalid("item", "invalid_type", "must be a JSON object"));
    }
    let sent = item.clone();
    match (customer_ref(item), external_id_of(item)) {
        (Ok((id, ext)), Ok(key)) => Ok((id, ext, key)),
        (customer, key) => {
            let errors = [customer.err(), key.err()].into_iter().flatten();
            let keys = ["customer_id", "customer_external_id", "external_id"];
            Err(bulk::with_other_errors(errors, &sent, &keys, |mut rest| {
                bulk::drop_defaulted_nulls(&mut rest, DEFAULTED_ON_CREATE);
                let input: TransactionPatch = parse_transaction(rest)?;
                check(&input, input.null_errors())
            }))
        }
    }
}

pub(super) fn external_id_of(item: &Value) -> Result<String, ApiError> {
    bulk::key_of(item, "external_id")?.ok_or_else(|| {
        invalid(
            "external_id",
            "required",
            "is required: bulk items are matched by external_id",
        )
    })
}

/// Locks every card the batch writes to, in id order, before any item runs
/// (PostgreSQL). Each item locks its card as it goes; two batches naming the
/// same cards in other orders then deadlocked, and PostgreSQL failed one of
/// them (a concurrency probe: 7–11 of 20 batches of two parallel syncs).
/// Cards an item names in a malformed way are left to the item's own lock.
fn lock_cards(conn: &mut DbConn, items: &[Value], external_ids: &[String]) -> Result<(), ApiError> {
    if !matches!(conn, DbConn::Postgresql(_)) {
        return Ok(());
    }
    let mut ids: Vec<i64> = items
        .iter()
        .filter_map(|i| customer_id_of(i).ok().flatten())
        .collect();
    let named: Vec<String> = items
        .iter()
        .filter_map(|i| bulk::key_of(i, "customer_external_id").ok().flatten())
        .collect();
    if !named.is_empty() {
        ids.extend(
            db::batch::external_ids(conn, "customers", &named)?
                .into_iter()
                .map(|(_, id)| id),
        );
    }
    ids.extend(
        transactions::by_external_ids(conn, external_ids)?
            .into_iter()
            .map(|t| t.customer_id),
    );
    row_lock::lock_all(conn, Locked::Customers, &ids)?;
    Ok(())
}

/// The customer an item names, as a Patron id.
fn resolve_customer(
    conn: &mut DbConn,
    id: Option<i64>,
    ext: Option<&str>,
) -> Result<Option<i64>, ApiError> {
    match (id, ext) {
        (Some(id), _) => {
            if customers::exists(conn, id)? {
                Ok(Some(id))
            } else {
                Err(invalid(
                    "customer_id",
                    "unknown_customer",
                    "no such customer",
                ))
            }
        }
        (None, Some(ext)) => match customers::find_by_external_id(conn, ext)? {
            Some(c) => Ok(Some(c.id)),
            None => Err(invalid(
                "customer_external_id",
                "unknown_customer",
                &unknown_external_id(ext),
            )),
        },
        (None, None) => Ok(None),
    }
}

/// The message for a customer reference no card has. One with an invisible
/// character (a BOM a spreadsheet left, a zero-width space) says so: the
/// card looked there, the key did not find it (QA). Such a key is looked up
/// all the same, as a key stored before the rule on keys may hold one.
fn unknown_external_id(ext: &str) -> String {
    match ext.chars().find(|c| super::validation::invisible(*c)) {
        Some(c) => format!(
            "no customer has this external_id, which holds an invisible character (U+{:04X}): \
             the card's own key probably has none",
            u32::from(c)
        ),
        None => "no customer has this external_id".to_string(),
    }
}

/// What a batch wrote: the cards whose figures it refreshes at its end, and
/// each order it wrote as its last item left it, a purchase or not
/// (`purchases`, for `churn::win_back_buyers`).
#[derive(Default)]
pub struct Touched {
    pub cards: BTreeSet<i64>,
    /// By transaction id. An order written and then corrected in one batch
    /// counts as corrected: kept as first written, an order created and
    /// then zeroed won the customer back, and the batch's end undid the
    /// win-back at once (`churn::reopen_unbought`), leaving both in the
    /// card's history and in the change feed.
    orders: BTreeMap<i64, Option<db::churn::Purchase>>,
    /// The updated orders as they were before the batch, by transaction id
    /// (`churn::win_back_buyers`' `was`).
    was: BTreeMap<i64, Option<db::churn::Purchase>>,
}

impl Touched {
    /// A created order, or an updated one as it is now.
    pub fn add(&mut self, row: &TransactionRow) {
        self.cards.insert(row.customer_id);
        let purchase = db::churn::purchases_in(std::iter::once(row)).pop();
        self.orders.insert(row.id, purchase);
    }

    /// An updated order: `before` as the batch found it, `after` as it is now.
    pub fn add_update(&mut self, before: &TransactionRow, after: &TransactionRow) {
        let was = db::churn::purchases_in(std::iter::once(before)).pop();
        self.keep_was(before.id, was);
        self.add(after);
    }

    /// `was` for order `id`, unless the batch wrote it before: then it keeps
    /// what it had, and an order the batch created has none (created and
    /// then corrected in one batch, it is judged as created: with its state
    /// before the correction as `was`, a purchase created and updated in a
    /// batch won nothing back; a review).
    fn keep_was(&mut self, id: i64, was: Option<db::churn::Purchase>) {
        if !self.orders.contains_key(&id) {
            self.was.entry(id).or_insert(was);
        }
    }

    fn extend(&mut self, other: Touched) {
        self.cards.extend(other.cards);
        for (id, was) in other.was {
            self.keep_was(id, was);
        }
        self.orders.extend(other.orders);
    }

    /// The purchases among the orders as the batch leaves them.
    pub fn purchases(&self) -> Vec<db::churn::Purchase> {
        self.orders.values().flatten().copied().collect()
    }

    /// The purchases among the updated orders as they were before the batch.
    pub fn was(&self) -> Vec<db::churn::Purchase> {
        self.was.values().flatten().copied().collect()
    }
}

/// Creates or updates one transaction; `touched` collects what it wrote.
///
/// As in `bulk_customers::upsert_one`: when the create finds the external
/// id taken by a writer that committed after the batch read `known`, the
/// transaction is read again and the item updates it (or is refused as a
/// move to another card), as it would have been had the batch seen it.
fn upsert_one(
    conn: &mut DbConn,
    user: &AuthUser,
    known: &mut HashMap<String, TransactionRow>,
    touched: &mut Touched,
    item: Value,
) -> Result<Applied, ApiError> {
    let given = |field: &str| item.get(field).is_some_and(|v| !v.is_null());
    let by_external_id = given("customer_external_id") && !given("customer_id");
    upsert_item(conn, user, known, touched, item).map_err(|e| match e {
        e if !by_external_id => e,
        ApiError::FieldConflict(error) => ApiError::FieldConflict(card_named(error)),
        ApiError::Validation(errors) => {
            ApiError::Validation(errors.into_iter().map(card_named).collect())
        }
        e => e,
    })
}

/// An error about the card of an item that named it by
/// `customer_external_id`, at that field: the single writes' `customer_id`
/// (an archived card's, say) named a field the item did not send.
fn card_named(mut error: FieldError) -> FieldError {
    if error.field == "customer_id" {
        error.field = "customer_external_id".into();
    }
    error
}

/// `upsert_one`, with the single writes' field names.
fn upsert_item(
    conn: &mut DbConn,
    user: &AuthUser,
    known: &mut HashMap<String, TransactionRow>,
    touched: &mut Touched,
    mut item: Value,
) -> Result<Applied, ApiError> {
    let (customer_id, customer_ext, external_id) = references(&mut item)?;
    let customer = resolve_customer(conn, customer_id, customer_ext.as_deref())?;
    let named = Named {
        customer,
        by_id: customer_id.is_some(),
    };
    if let Some(row) = known.get(&external_id).cloned() {
        return update_one(conn, user, known, touched, external_id, row, named, item);
    }
    let created = db::savepoint(conn, |conn| {
        let input: TransactionCreate = parse_transaction(item.clone())?;
        check(&input, Vec::new())?;
        let customer = customer.ok_or_else(|| {
            invalid(
                "customer_id",
                "required",
                "name the customer by customer_id or customer_external_id",
            )
        })?;
        create_in_tx(conn, user, customer, input)
    });
    match created {
        Ok(saved) => {
            touched.add(&saved);
            let applied = Applied {
                status: ItemStatus::Created,
                id: saved.id,
                version: saved.version,
            };
            known.insert(external_id, saved);
            Ok(applied)
        }
        Err(e) if external_id_taken(&e) => {
            match transactions::find_by_external_id(conn, &external_id)? {
                Some(row) => update_one(conn, user, known, touched, external_id, row, named, item),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The customer an item names (if any), and whether by `customer_id`.
#[derive(Clone, Copy)]
struct Named {
    customer: Option<i64>,
    by_id: bool,
}

/// Updates the known transaction `row` as the item says (`upsert_one`).
#[allow(clippy::too_many_arguments)]
fn update_one(
    conn: &mut DbConn,
    user: &AuthUser,
    known: &mut HashMap<String, TransactionRow>,
    touched: &mut Touched,
    external_id: String,
    row: TransactionRow,
    named: Named,
    mut item: Value,
) -> Result<Applied, ApiError> {
    if named.customer.is_some_and(|c| c != row.customer_id) {
        return Err(invalid(
            if named.by_id {
                "customer_id"
            } else {
                "customer_external_id"
            },
            "immutable",
            "a transaction cannot move to another customer",
        ));
    }
    bulk::drop_defaulted_nulls(&mut item, DEFAULTED_ON_CREATE);
    let input: TransactionPatch = parse_transaction(item)?;
    check(&input, input.null_errors())?;
    let before = row.clone();
    let (status, row) = match update_in_tx(conn, user, row, input, None, true)? {
        Updated::Unchanged(row) => (ItemStatus::Unchanged, row),
        Updated::Saved(row) => {
            touched.add_update(&before, &row);
            (ItemStatus::Updated, row)
        }
    };
    let applied = Applied {
        status,
        id: row.id,
        version: row.version,
    };
    known.insert(external_id, row);
    Ok(applied)
}

/// The `version` check of an item (`bulk_version`): `sent` is its version,
/// `before` the versions of the known orders before the batch (an item that
/// creates ignores it). `Some` settles a stale item: `unchanged` when it
/// changes nothing, else its `version` error. Whether it changes nothing is
/// answered by applying it to a scratch copy of the order (every rule of the
/// update, the card's currency included) and, when it would write, by
/// refusing it: the item's savepoint then rolls the write back.
fn version_check(
    conn: &mut DbConn,
    user: &AuthUser,
    known: &HashMap<String, TransactionRow>,
    before: &HashMap<String, i64>,
    sent: Option<i64>,
    item: &Value,
) -> Option<Result<Applied, ApiError>> {
    let key = external_id_of(item).ok()?;
    let (sent, at) = (sent?, *before.get(&key)?);
    if sent == at {
        return None;
    }
    let mut scratch: HashMap<String, TransactionRow> = known
        .get(&key)
        .map(|row| (key.clone(), row.clone()))
        .into_iter()
        .collect();
    let mut unused = Touched::default();
    Some(
        match upsert_one(conn, user, &mut scratch, &mut unused, item.clone()) {
            Ok(applied) if applied.status == ItemStatus::Unchanged => Ok(applied),
            Ok(_) => Err(bulk_version::stale("transaction", sent, at)),
            // The item's own error (a bad amount, a move of its customer, a
            // timeout), not "read it and send it again" (review).
            Err(e) => Err(e),
        },
    )
}

/// Upsert up to 1,000 transactions by `external_id` (ERP sync).
///
/// Results, modes, limits and idempotency as `POST /customers/bulk`. Each
/// item names its customer by `customer_id` or `customer_external_id`; the
/// rules are those of the single writes (the card's currency, a `sales`
/// user only on cards it owns, `external_id` never counted twice). The
/// figures of every card the batch touched (purchase count, revenue,
/// profit, CPR stage) are refreshed once at the end of the batch, in the
/// same transaction; a churned customer with a purchase dated after its
/// churn is won back there, as by a single write. An item's `version`
/// works as in `POST /customers/bulk`: an order at another version is the
/// item's error `version`/`conflict` unless the item changes nothing.
#[utoipa::path(
    tag = "sync",
    params(BulkQuery),
    request_body = TransactionBulkRequest,
    responses(
        (status = 200, description = "Per-item results", body = bulk::BulkResponse),
        (status = 413, description = "More than 1,000 items, more than 200,000 JSON values or a body over 8 MiB", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "With `all_or_none`, an item failed and nothing was applied: a validation problem naming every bad field as `items[i].field` (`items[i]` for an item wrong as a whole), with the per-item results in `items`; also no item (`items`, code `length`), or a malformed request", body = bulk::BulkRejection, content_type = "application/problem+json")
    )
)]
#[post("/transactions/bulk")]
pub async fn bulk_transactions(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    query: QueryParams<BulkQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    user.require_any(&[Role::Admin, Role::Manager, Role::Sales, Role::Integration])?;
    let all_or_none = query.0.all_or_none.unwrap_or(false);
    let mut items = bulk::read_json_items(&req, payload).await?;
    let (versions, bad_versions) = bulk_version::take(&mut items);
    let key = IdemKey::of(&req);
    state
        .db
        .write(move |conn| {
            let ids: Vec<String> = items
                .iter()
                .filter_map(|i| external_id_of(i).ok())
                .collect();
            // The batch's transactions already recorded, by external id:
            // read by the set-based pass once their cards are locked, and
            // kept up to date by the per-item path.
            let known = std::cell::RefCell::new(HashMap::new());
            // Their versions before any item wrote (`version_check`).
            let before = std::cell::RefCell::new(HashMap::new());
            // Cards whose figures the batch refreshes at its end.
            let touched = std::cell::RefCell::new(Touched::default());
            bulk::run_batch(
                conn,
                &user,
                items,
                0,
                all_or_none,
                key.as_ref(),
                |conn, items| {
                    bulk_version::plan_read(items, bad_versions, &versions, |items, versions| {
                        lock_cards(conn, &items, &ids)?;
                        let found: HashMap<String, TransactionRow> =
                            transactions::by_external_ids(conn, &ids)?
                                .into_iter()
                                .filter_map(|r| r.external_id.clone().map(|e| (e, r)))
                                .collect();
                        let mut touched = touched.borrow_mut();
                        let planned =
                            plan::plan(conn, &user, items, &versions, &found, &mut touched)?;
                        *before.borrow_mut() =
                            found.iter().map(|(e, r)| (e.clone(), r.version)).collect();
                        *known.borrow_mut() = found;
                        Ok(planned)
                    })
                },
                // In batch order: each item locks its own card, in id order
                // with the cards `lock_cards` took.
                |_| None,
                |conn, index, item| {
                    let sent = versions.get(index).copied().flatten();
                    if let Some(result) =
                        version_check(conn, &user, &known.borrow(), &before.borrow(), sent, &item)
                    {
                        return result;
                    }
                    let mut mine = Touched::default();
                    let result = upsert_one(conn, &user, &mut known.borrow_mut(), &mut mine, item);
                    // Only an applied item's card needs its figures refreshed.
                    if result.is_ok() {
                        touched.borrow_mut().extend(mine);
                    }
                    result
                },
                |conn| {
                    let now = db::now();
                    let touched = touched.borrow();
                    let ids: Vec<i64> = touched.cards.iter().copied().collect();
                    let (bought, was) = (touched.purchases(), touched.was());
                    db::churn::win_back_buyers(conn, &bought, &was, user.id, now)?;
                    // A correction can take away the purchase that won a card back.
                    db::churn::reopen_unbought(conn, &ids, user.id, now)?;
                    let settings = cpr::settings_kept(conn)?;
                    stats::refresh_many(conn, &ids, now, &settings)?;
                    cpr::refresh_ids(conn, &ids, &settings, now)?;
                    crate::db::loyalty::refresh_ids_current(conn, &ids, now)?;
                    Ok(())
                },
            )
        })
        .await
        .map(bulk::Outcome::respond)
}
