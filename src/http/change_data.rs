//! The `data` of a change: the entity's API representation as the writing
//! transaction leaves it (called by `db::changes::seal` before COMMIT). One
//! match arm per entity type of the feed.

use diesel::prelude::*;
use serde_json::json;

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
pub fn render(conn: &mut DbConn, entity_type: &str, id: i64) -> Result<String, ApiError> {
    let value = match entity_type {
        changes::CUSTOMER => match super::customers::view_of(conn, id) {
            Ok(view) => Some(to_text(view)?),
            Err(ApiError::NotFound(_)) => None,
            Err(e) => return Err(e),
        },
        changes::CONTACT => schema::contacts::table
            .find(id)
            .first::<ContactRow>(conn)
            .optional()?
            .map(|r| to_text(super::contacts::ContactView::from(r)))
            .transpose()?,
        changes::INTERACTION => schema::interactions::table
            .find(id)
            .first::<InteractionRow>(conn)
            .optional()?
            .map(|r| to_text(super::interactions::InteractionView::from(r)))
            .transpose()?,
        changes::TRANSACTION => schema::transactions::table
            .find(id)
            .first::<TransactionRow>(conn)
            .optional()?
            .map(|r| to_text(super::transactions::TransactionView::from(r)))
            .transpose()?,
        changes::NEED => schema::needs::table
            .find(id)
            .first::<NeedRow>(conn)
            .optional()?
            .map(|r| to_text(super::needs::NeedView::from(r)))
            .transpose()?,
        changes::SURVEY => super::surveys::view_of(conn, id)?
            .map(to_text)
            .transpose()?,
        changes::SURVEY_RESPONSE => super::survey_responses::view_of(conn, id)?
            .map(to_text)
            .transpose()?,
        changes::ACCOUNT_PLAN => match crate::db::account_plans::find(conn, id)? {
            Some(row) => Some(to_text(super::account_plans::plan_view(conn, row)?)?),
            None => None,
        },
        changes::SEGMENT => crate::db::segments::find(conn, id)?
            .map(|row| to_text(super::segments::SegmentView::definition(row)))
            .transpose()?,
        other => {
            return Err(ApiError::Internal(format!(
                "no representation for change entity {other}"
            )))
        }
    };
    Ok(value.unwrap_or_else(|| tombstone(id)))
}

/// The representations of many entities of one type: customers in two
/// queries per 500 (a bulk write seals up to 1,000 at once), others one by
/// one. Entities gone by now get a tombstone.
pub fn render_many(
    conn: &mut DbConn,
    entity_type: &str,
    ids: &[i64],
) -> Result<Vec<(i64, String)>, ApiError> {
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
            out.push((view.id, to_text(view)?));
        }
    }
    let found: std::collections::HashSet<i64> = out.iter().map(|(id, _)| *id).collect();
    for id in ids.iter().filter(|id| !found.contains(id)) {
        out.push((*id, tombstone(*id)));
    }
    Ok(out)
}

/// Straight to the stored text: a bulk write seals up to 1,000 cards, and a
/// `Value` in between was a second serialisation of each.
pub fn to_text<T: serde::Serialize>(view: T) -> Result<String, ApiError> {
    serde_json::to_string(&view).map_err(|e| ApiError::Internal(e.to_string()))
}

fn tombstone(id: i64) -> String {
    json!({"id": id, "deleted": true}).to_string()
}
