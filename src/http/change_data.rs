//! The `data` of a change: the entity's API representation as the writing
//! transaction leaves it (called by `db::changes::seal` before COMMIT). One
//! match arm per entity type of the feed.

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::db::changes;
use crate::db::contacts::ContactRow;
use crate::db::interactions::InteractionRow;
use crate::db::needs::NeedRow;
use crate::db::schema;
use crate::db::transactions::TransactionRow;
use crate::db::DbConn;
use crate::error::ApiError;

/// The representation, or a tombstone when the entity is gone by the end of
/// the transaction (created and deleted in one go).
pub fn render(conn: &mut DbConn, entity_type: &str, id: i64) -> Result<Value, ApiError> {
    let value = match entity_type {
        changes::CUSTOMER => match super::customers::view_of(conn, id) {
            Ok(view) => Some(to_value(view)?),
            Err(ApiError::NotFound(_)) => None,
            Err(e) => return Err(e),
        },
        changes::CONTACT => schema::contacts::table
            .find(id)
            .first::<ContactRow>(conn)
            .optional()?
            .map(|r| to_value(super::contacts::ContactView::from(r)))
            .transpose()?,
        changes::INTERACTION => schema::interactions::table
            .find(id)
            .first::<InteractionRow>(conn)
            .optional()?
            .map(|r| to_value(super::interactions::InteractionView::from(r)))
            .transpose()?,
        changes::TRANSACTION => schema::transactions::table
            .find(id)
            .first::<TransactionRow>(conn)
            .optional()?
            .map(|r| to_value(super::transactions::TransactionView::from(r)))
            .transpose()?,
        changes::NEED => schema::needs::table
            .find(id)
            .first::<NeedRow>(conn)
            .optional()?
            .map(|r| to_value(super::needs::NeedView::from(r)))
            .transpose()?,
        changes::SURVEY => super::surveys::view_of(conn, id)?
            .map(to_value)
            .transpose()?,
        changes::SURVEY_RESPONSE => super::survey_responses::view_of(conn, id)?
            .map(to_value)
            .transpose()?,
        other => {
            return Err(ApiError::Internal(format!(
                "no representation for change entity {other}"
            )))
        }
    };
    Ok(value.unwrap_or_else(|| json!({"id": id, "deleted": true})))
}

/// The representations of many entities of one type: customers in two
/// queries per 500 (a bulk write seals up to 1,000 at once), others one by
/// one. Entities gone by now get a tombstone.
pub fn render_many(
    conn: &mut DbConn,
    entity_type: &str,
    ids: &[i64],
) -> Result<Vec<(i64, Value)>, ApiError> {
    if entity_type != changes::CUSTOMER {
        return ids
            .iter()
            .map(|id| Ok((*id, render(conn, entity_type, *id)?)))
            .collect();
    }
    use crate::db::customers::{Full, CARD, STATS};
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<Full> = schema::customers::table
            .filter(schema::customers::id.eq_any(chunk))
            .select((CARD, STATS))
            .load(conn)?;
        for view in super::customers::views(conn, rows)? {
            out.push((view.id, to_value(view)?));
        }
    }
    let found: std::collections::HashSet<i64> = out.iter().map(|(id, _)| *id).collect();
    for id in ids.iter().filter(|id| !found.contains(id)) {
        out.push((*id, json!({"id": id, "deleted": true})));
    }
    Ok(out)
}

fn to_value<T: serde::Serialize>(view: T) -> Result<Value, ApiError> {
    serde_json::to_value(view).map_err(|e| ApiError::Internal(e.to_string()))
}
