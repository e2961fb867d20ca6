//! `POST /customers/bulk`: upsert up to 1,000 cards by `external_id`.

use std::collections::HashMap;

use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde_json::Value;
use utoipa::ToSchema;

use super::bulk::{self, Applied, BulkQuery, BulkResponse, ItemStatus};
use super::bulk_customers_plan;
use super::bulk_version;
use super::customer_input::{normalize_tags, CustomerCreate, CustomerPatch};
use super::customers::{create_in_tx, update_in_tx, Updated};
use super::extract::QueryParams;
use super::idempotency::IdemKey;
use crate::auth::AuthUser;
use crate::db::customers::{self, CustomerRow};
use crate::db::row_lock::{self, Locked};
use crate::db::{self, DbConn};
use crate::domain::codes::{Code, FunnelStage, Role};
use crate::domain::funnel;
use crate::error::ApiError;
use crate::startup::AppState;

// For the spec only: the body is read as items of JSON, each parsed as a
// create or as a patch.
/// Up to 1,000 customer cards keyed by `external_id`.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"items": [
    {"external_id": "ERP-10042", "kind": "organization", "name": "杭州华康贸易有限公司", "region": "Hangzhou"},
    {"external_id": "ERP-10043", "kind": "individual", "name": "王芳", "phone": "+86 138 0000 0001"}
]}))]
// Read with unknown keys refused (`bulk::Items`).
#[serde(deny_unknown_fields)]
pub struct CustomerBulkRequest {
    /// Each item is a card with a required `external_id`. When a card with
    /// that `external_id` exists, the item updates it as `PATCH` would (only
    /// the fields sent change; `null` clears; `change_reason` for a funnel
    /// move backwards); otherwise it creates one as `POST /customers` would
    /// (`kind` and `name` required then; a `change_reason` is kept as the
    /// reason of its first history event). A `null` for `currency`,
    /// `funnel_stage` or `owner_id` leaves a known card's value as it is.
    /// An item may hold the `version` of the card it was based on: a card
    /// changed since is then that item's error (`version`, code `conflict`)
    /// instead of being overwritten. 1 to 1,000 items (more is a 413).
    #[schema(min_items = 1, max_items = 1000)]
    pub items: Vec<CustomerBulkItem>,
}

/// One bulk card, for the spec (items are parsed one by one, as a create
/// or as a patch): the fields of `CustomerPatch`, `external_id` required,
/// and `null` taken for the fields in `DEFAULTED_ON_CREATE`. It was typed
/// `CustomerCreate`, which requires `kind` and `name` and then had no
/// `change_reason` (a generated client could send neither a partial update
/// nor a move backwards), then `allOf` `CustomerPatch`, whose non-null
/// `owner_id`, `funnel_stage` and `currency` made a schema-checking client
/// refuse the nulls bulk documents.
#[derive(Debug)]
pub struct CustomerBulkItem;

impl utoipa::PartialSchema for CustomerBulkItem {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
        use utoipa::openapi::RefOr;
        let RefOr::T(Schema::Object(mut item)) = CustomerPatch::schema() else {
            // CustomerPatch is a struct: always an object schema.
            return CustomerPatch::schema();
        };
        item.description = Some(
            "A card keyed by `external_id`: created as `POST /customers` would, or updated as \
             `PATCH` would (`null` clears), except that a `null` for `currency`, `funnel_stage` \
             or `owner_id` leaves a known card's value as it is (a new card takes the default). \
             `version`, when given, must be the known card's version (see the property)."
                .into(),
        );
        item.properties.insert("version".into(), version_schema());
        item.required = vec!["external_id".into()];
        item.example = Some(serde_json::json!({
            "external_id": "ERP-10023", "kind": "organization", "name": "Hangzhou Tea Co.",
            "funnel_stage": "ordinary", "owner_id": null, "version": 3
        }));
        if let Some(RefOr::T(Schema::Object(id))) = item.properties.get_mut("external_id") {
            id.schema_type = SchemaType::Type(Type::String);
        }
        for field in DEFAULTED_ON_CREATE {
            let Some(property) = item.properties.get_mut(*field) else {
                continue;
            };
            let description = format!(
                "`null` (or absent) leaves a known card's {field} as it is; a new card takes the default."
            );
            *property = match property.clone() {
                RefOr::T(Schema::Object(mut o)) => {
                    if let SchemaType::Type(t) = o.schema_type.clone() {
                        o.schema_type = SchemaType::from_iter([t, Type::Null]);
                    }
                    o.description = Some(description);
                    RefOr::T(Schema::Object(o))
                }
                other => OneOfBuilder::new()
                    .item(ObjectBuilder::new().schema_type(Type::Null))
                    .item(other)
                    .description(Some(description))
                    .into(),
            };
        }
        RefOr::T(Schema::Object(item))
    }
}

/// The optional `version` of a bulk card (`bulk_version`).
fn version_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .description(Some(
            "The card's version as the client last read it (from the change feed, say). On a \
             known card that has another version the item is refused, error `version`/`conflict`, \
             unless it changes nothing (`unchanged`): the card changed since, and the item would \
             undo that change. Read the card and send the item again. Absent or `null`: no check \
             (last writer wins). Ignored when the item creates a card. Every item of one card in \
             a batch is checked against the version it had before the batch.",
        ))
        .examples([serde_json::json!(3)])
        .into()
}

impl ToSchema for CustomerBulkItem {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push(("CustomerPatch".into(), CustomerPatch::schema()));
        <CustomerPatch as ToSchema>::schemas(schemas);
    }
}

/// The fields a new card takes a default for when they are null (see
/// `bulk::drop_defaulted_nulls`).
pub const DEFAULTED_ON_CREATE: &[&str] = &["funnel_stage", "currency", "owner_id"];

/// The external id of an item, if it has a good one: for the batch's
/// lookups, where a bad one is reported by [`external_id_of`].
pub fn external_id_key(item: &Value) -> Option<String> {
    if !item.is_object() {
        return None;
    }
    bulk::key_of(item, "external_id").ok().flatten()
}

/// The external id of an item, or the item's error: its key's, with the
/// errors of its other fields.
pub fn external_id_of(item: &Value) -> Result<String, ApiError> {
    if !item.is_object() {
        return Err(ApiError::invalid(
            "item",
            "invalid_type",
            "must be a JSON object",
        ));
    }
    let key = bulk::key_of(item, "external_id").and_then(|key| {
        key.ok_or_else(|| {
            ApiError::invalid(
                "external_id",
                "required",
                "is required: bulk items are matched by external_id (import rows by it or by id)",
            )
        })
    });
    key.map_err(|e| with_other_errors(e, item))
}

/// A card item's key error `e` with the errors of its other fields, read
/// as a change of a card (`bulk::with_other_errors`).
pub fn with_other_errors(e: ApiError, item: &Value) -> ApiError {
    bulk::with_other_errors([e], item, &["external_id"], |mut rest| {
        bulk::drop_defaulted_nulls(&mut rest, DEFAULTED_ON_CREATE);
        bulk::parse_item::<CustomerPatch>(rest)
            .map_err(|e| bulk::naming_also(e, "`version`"))?
            .checked()
            .map(drop)
    })
}

pub fn external_ids(items: &[Value]) -> Vec<String> {
    items.iter().filter_map(external_id_key).collect()
}

/// The cards these external ids name, locked for the batch (in id order, so
/// that batches naming the same cards in other orders do not deadlock) and
/// read under the lock: an item then never finds its card changed since it
/// was read, which answered it `conflict` under concurrent writes.
pub fn existing(
    conn: &mut DbConn,
    ids: &[String],
) -> Result<HashMap<String, CustomerRow>, ApiError> {
    let mut rows = customers::by_external_ids(conn, ids)?;
    if matches!(conn, DbConn::Postgresql(_)) && !rows.is_empty() {
        let found: Vec<i64> = rows.iter().map(|r| r.id).collect();
        row_lock::lock_all(conn, Locked::Customers, &found)?;
        rows = customers::by_external_ids(conn, ids)?;
    }
    Ok(rows
        .into_iter()
        .filter_map(|r| r.external_id.clone().map(|e| (e, r)))
        .collect())
}

/// Creates or updates one card; the rules are those of the single writes.
///
/// `known` was read once for the batch: another writer may have created the
/// card since (PostgreSQL: its insert is still uncommitted, so ours waits on
/// the unique index, then fails once it commits). The create then runs in a
/// savepoint of its own and, when it fails because the external id is
/// taken, the card is read again (committed by then) and the item updates
/// it, as it would have had the batch seen it: an ERP syncing from two
/// workers got `conflict` for an item that was only late.
pub fn upsert_one(
    conn: &mut DbConn,
    user: &AuthUser,
    known: &mut HashMap<String, CustomerRow>,
    item: Value,
) -> Result<Applied, ApiError> {
    let external_id = external_id_of(&item)?;
    if let Some(row) = known.get(&external_id).cloned() {
        return update_one(conn, user, known, external_id, row, item);
    }
    let created = db::savepoint(conn, |conn| {
        let (row, tags, reason) = new_card(user, item.clone(), db::now())?;
        create_in_tx(conn, user, &row, &tags, reason.as_deref()).map(|(saved, _)| saved)
    });
    match created {
        Ok(saved) => {
            let applied = Applied {
                status: ItemStatus::Created,
                id: saved.id,
                version: saved.version,
            };
            known.insert(external_id, saved);
            Ok(applied)
        }
        Err(e) if external_id_taken(&e) => {
            let mut found = existing(conn, std::slice::from_ref(&external_id))?;
            match found.remove(&external_id) {
                Some(row) => update_one(conn, user, known, external_id, row, item),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// A create refused because the external id is taken: by a card committed
/// since the batch read it (the check before the insert), or by one whose
/// insert committed while ours waited (the unique index).
pub fn external_id_taken(e: &ApiError) -> bool {
    match e {
        ApiError::Conflict(_) => true,
        ApiError::FieldConflict(error) => error.field == "external_id",
        _ => false,
    }
}

/// Updates the known card `row` as the item says (`upsert_one`).
fn update_one(
    conn: &mut DbConn,
    user: &AuthUser,
    known: &mut HashMap<String, CustomerRow>,
    external_id: String,
    row: CustomerRow,
    item: Value,
) -> Result<Applied, ApiError> {
    let (applied, row) = update_card(conn, user, row, item)?;
    known.insert(external_id, row);
    Ok(applied)
}

/// Updates the card `row` as the item says, and the card as it then is.
pub fn update_card(
    conn: &mut DbConn,
    user: &AuthUser,
    row: CustomerRow,
    item: Value,
) -> Result<(Applied, CustomerRow), ApiError> {
    // As the set-based pass answers it (`bulk_customers_plan::unchanged`).
    if user.require_customer_write(row.owner_id).is_err() && leaves_as_is(conn, &row, &item)? {
        let applied = Applied {
            status: ItemStatus::Unchanged,
            id: row.id,
            version: row.version,
        };
        return Ok((applied, row));
    }
    let input = item_patch(item, &row)?;
    let (status, row) = match update_in_tx(conn, user, row, input, None, true)? {
        Updated::Unchanged(row) => (ItemStatus::Unchanged, row),
        Updated::Saved(row) => (ItemStatus::Updated, row),
    };
    let applied = Applied {
        status,
        id: row.id,
        version: row.version,
    };
    Ok((applied, row))
}

/// The `version` check of an item (`bulk_version`): `sent` is the item's
/// version, `before` the card's before the batch (`None` for a card the
/// batch had not found: the item creates, and the version is ignored), `row`
/// the card as it is now. `Some` settles the item: `unchanged` when it
/// changes nothing, nothing being undone; `None` lets it apply.
pub fn version_check(
    conn: &mut DbConn,
    user: &AuthUser,
    sent: Option<i64>,
    before: Option<i64>,
    row: Option<&CustomerRow>,
    item: &Value,
) -> Result<Option<Applied>, ApiError> {
    let (Some(sent), Some(before), Some(row)) = (sent, before, row) else {
        return Ok(None);
    };
    if sent == before {
        return Ok(None);
    }
    stale_item(conn, user, row, item, || {
        bulk_version::stale("card", sent, before)
    })
    .map(Some)
}

/// The answer to an item (a bulk item, an import's row) sent with a version
/// other than the card's: `unchanged` when it changes nothing, nothing
/// being undone; a change to an archived card is its 409 before the
/// version's, as a PATCH answers (a re-read and resend would only get it),
/// after a sales user's 403 (a card not theirs, which they could not
/// restore either); an item wrong in itself (a bad field, then a card the user
/// may not change) gets its own error, as a stale order does; any other
/// change is `stale`, also one a rule would refuse against the card as it
/// is now: that refusal may come from what another writer stored since (a
/// move back from a funnel stage set meanwhile, a currency its new orders
/// fix), and the item may pass once re-read (a review).
pub fn stale_item(
    conn: &mut DbConn,
    user: &AuthUser,
    row: &CustomerRow,
    item: &Value,
    stale: impl FnOnce() -> ApiError,
) -> Result<Applied, ApiError> {
    if leaves_as_is(conn, row, item)? {
        return Ok(Applied {
            status: ItemStatus::Unchanged,
            id: row.id,
            version: row.version,
        });
    }
    if row.archived_at.is_some() {
        user.require_customer_write(row.owner_id)?;
        return Err(super::customers::archived(row.id));
    }
    // "Read it and send it again" not for an item a resend could not pass
    // either (a review: a bad email got the version's error, then its own).
    // Its fields before the sender's rights, as a PATCH reads the request
    // before the record (QA: a rep's bad email on another's card was the
    // email's error without `version`, `forbidden` with a stale one).
    let patch = item_patch(item.clone(), row)?;
    user.require_customer_write(row.owner_id)?;
    // Nor one its sender's role refuses, or a key it could not set (a
    // review: a rep's owner change got the version's error, then the 403).
    super::customers::require_patch_rights(user, row, &patch)?;
    let key = patch.external_id.as_ref().and_then(Option::as_deref);
    super::validation::check_changed_erp_key(key, row.external_id.as_deref())?;
    Err(stale())
}

/// An item read as a change of a known card, as `update_card`, a stale item
/// and the set-based pass (`bulk_customers_plan::unchanged`) all judge it:
/// the defaulted nulls dropped, the values it repeats of the card left out
/// (`CustomerPatch::without_stored`), the text trimmed, the rules checked.
pub fn item_patch(mut item: Value, row: &CustomerRow) -> Result<CustomerPatch, ApiError> {
    bulk::drop_defaulted_nulls(&mut item, DEFAULTED_ON_CREATE);
    bulk::parse_item::<CustomerPatch>(item)
        .map_err(|e| bulk::naming_also(e, "`version`"))?
        .without_stored(row)
        .checked()
}

/// True when `item` would change nothing on the known card `row`
/// (`bulk_customers_plan::unchanged`, with the card's tags read).
pub fn leaves_as_is(conn: &mut DbConn, row: &CustomerRow, item: &Value) -> Result<bool, ApiError> {
    let tags: Vec<String> = customers::tags_of(conn, &[row.id])?
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    Ok(bulk_customers_plan::unchanged(row, &tags, item.clone()))
}

/// The row, tags and `change_reason` of a new card, by the rules of
/// `POST /customers`. The reason is taken as on an update (a client of an
/// upsert cannot know which its item will be; a CSV with the column failed
/// every new row as an unknown field) and kept in the first history event.
pub fn new_card(
    user: &AuthUser,
    item: Value,
    now: NaiveDateTime,
) -> Result<(CustomerRow, Vec<String>, Option<String>), ApiError> {
    let input = bulk::parse_item::<CustomerCreate>(item)
        .map_err(|e| bulk::naming_also(e, "`version`"))?
        .checked()?;
    let reason = input.change_reason.clone();
    let owner_id = input.owner_id.unwrap_or(user.id);
    user.require_card_create(owner_id)?;
    let tags = normalize_tags(input.tags.as_deref().unwrap_or_default());
    let row = input.into_row(owner_id, now)?;
    let to = FunnelStage::parse(&row.funnel_stage)
        .ok_or_else(|| ApiError::Internal(format!("unknown stage {}", row.funnel_stage)))?;
    funnel::check_move(None, to, 0, false).map_err(super::funnel::move_refused)?;
    Ok((row, tags, reason))
}

/// Upsert up to 1,000 customer cards by `external_id` (ERP sync).
///
/// One result per item, in order: `created`, `updated`, `unchanged` (nothing
/// differs: no write, no version bump, no history event) or `error` with
/// the same field errors as the single writes (paths relative to the item).
/// Without `all_or_none` good items are applied even when others fail (200);
/// with `all_or_none=true` any failure applies nothing (422, every item's
/// errors, the others `skipped`). Items apply in order, so a later item with
/// the same `external_id` updates the card an earlier one created. The
/// rules and permissions are those of `POST /customers` and `PATCH
/// /customers/{id}` (a `sales` user writes only cards it owns). Over 1,000
/// items or over 8 MiB is a 413. Honours `Idempotency-Key`: the response is
/// stored in the same transaction as the writes.
///
/// Without `version` an item overwrites whatever the card holds (last
/// writer wins). With it, as a `PATCH` with `If-Match`: a known card at
/// another version is the item's error `version`/`conflict` (the card
/// changed since the client read it: read it, e.g. from the change feed,
/// and send the item again), unless the item changes nothing
/// (`unchanged`); a `version` that is not a whole number is
/// `version`/`invalid_type`; an item that creates a card ignores it (as the
/// CSV import's `version` cell).
#[utoipa::path(
    tag = "sync",
    params(BulkQuery),
    request_body = CustomerBulkRequest,
    responses(
        (status = 200, description = "Per-item results", body = BulkResponse),
        (status = 413, description = "More than 1,000 items, more than 200,000 JSON values or a body over 8 MiB", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "With `all_or_none`, an item failed and nothing was applied: a validation problem naming every bad field as `items[i].field` (`items[i]` for an item wrong as a whole), with the per-item results in `items` (the others `skipped`); also no item (`items`, code `length`), or a malformed request", body = crate::http::bulk::BulkRejection, content_type = "application/problem+json")
    )
)]
#[post("/customers/bulk")]
pub async fn bulk_customers(
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
            // The cards already known, read once inside the batch transaction.
            let ids = external_ids(&items);
            let mut known: Option<HashMap<String, CustomerRow>> = None;
            // Their versions before any item wrote (`version_check`).
            let mut before = HashMap::new();
            bulk::run_batch(
                conn,
                &user,
                items,
                0,
                all_or_none,
                key.as_ref(),
                // A changed card goes to the per-item path, which checks the
                // version; an unchanged one is `unchanged` whatever its version.
                |conn, items| {
                    bulk_version::plan_read(items, bad_versions, &versions, |items, _| {
                        bulk_customers_plan::plan(conn, &user, items)
                    })
                },
                // In key order, as the set-based pass creates: a batch naming
                // a key twice goes item by item, and inserting its new keys in
                // item order deadlocked on PostgreSQL with a batch inserting
                // them in key order (a review). Items of different keys touch
                // different cards, so only one key's items keep their order.
                external_id_key,
                |conn, index, item| {
                    // Read again inside the first per-item savepoint, but the
                    // plan locked these cards outside it: a rollback of that
                    // savepoint keeps the locks.
                    let known = match &mut known {
                        Some(k) => k,
                        None => {
                            let read = existing(conn, &ids)?;
                            before = read.iter().map(|(e, r)| (e.clone(), r.version)).collect();
                            known.insert(read)
                        }
                    };
                    let key = external_id_key(&item);
                    let at = key.as_ref().and_then(|k| before.get(k).copied());
                    let row = key.as_ref().and_then(|k| known.get(k));
                    let sent = versions.get(index).copied().flatten();
                    if let Some(done) = version_check(conn, &user, sent, at, row, &item)? {
                        return Ok(done);
                    }
                    // `known` changes only when the item's savepoint commits.
                    upsert_one(conn, &user, known, item)
                },
                |_| Ok(()),
            )
        })
        .await
        .map(bulk::Outcome::respond)
}
